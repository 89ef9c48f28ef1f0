"""When a product run finishes, show its outcome where Airflow shows runs, and move the rolling Download From.

An Airflow listener (registered by ``plugins/amazon_sage_plugin.py``). Airflow 3's Task SDK gives a
task no way to change its DagRun's note: the execution API a task talks to has no note route and
the task has no database session. The note is therefore written where the run's state is decided,
from what the phases published in XCom:

* with a real scheduler, in the scheduler, inside the ``DagRun.update_state`` that finishes the
  run (``on_dag_run_success`` / ``on_dag_run_failed``), in the scheduler's own session, so the note
  is committed with the run's final state;
* under ``dag.test()`` / ``airflow dags test``, in the same call of ``update_state`` in the test's
  process;
* when a person marks a run success or failed in the UI or REST API, in the API server.

For each phase that published failed records (:mod:`amazon_sage.core.run_notes`) it sets the
task instance's note ("2 orders failed: 202-…") and the run's note ("Completed with errors: …");
a phase that now has none clears the product's earlier note; a note a person wrote is kept. When
an orders run succeeds, it advances the Variable of the rolling Download From
(:mod:`amazon_sage.core.orders.last_window`). Nothing here can fail or delay the run: any error is
logged and the run's state stands.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.listeners import hookimpl

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


@hookimpl
def on_dag_run_success(dag_run: DagRun, msg: str) -> None:
    record_outcome(dag_run, succeeded=True)


@hookimpl
def on_dag_run_failed(dag_run: DagRun, msg: str) -> None:
    record_outcome(dag_run, succeeded=False)


def _published(session: Session, dag_run: DagRun, keys: list[str]) -> list[tuple[str, str, Any]]:
    """``(task_id, key, value)`` for the run's XComs with one of ``keys``."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    rows = session.execute(select(XComModel.task_id, XComModel.key, XComModel.value).where(
        XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id, XComModel.map_index == -1,
        XComModel.key.in_(keys))).all()
    return [(row.task_id, row.key, XComModel.deserialize_value(row)) for row in rows]


def _write_notes(session: Session, dag_run: DagRun, published: dict[str, Any]) -> None:
    from amazon_sage.core.run_notes import phase_note, run_note

    phases = []
    for task_id, value in sorted(published.items()):
        ti = dag_run.get_task_instance(task_id, session=session)
        if ti is None or not isinstance(value, dict):
            continue
        title = ti.task_display_name or task_id
        phases.append((title, value))
        _set_note(ti, phase_note(value))
    _set_note(dag_run, run_note(phases))


def _set_note(holder: Any, text: str | None) -> None:
    """Set a run's or task instance's note to ``text``, unless a person wrote the one it has."""
    from amazon_sage.core.run_notes import is_product_note

    current = holder.note
    if current == text or not is_product_note(current) or (text is None and current is None):
        return
    holder.note = text


def _advance_last_window(session: Session, window: Any) -> None:
    from airflow.models.variable import Variable
    from sqlalchemy import select

    from amazon_sage.core.orders.last_window import DESCRIPTION, VARIABLE, advanced

    variable = session.scalar(select(Variable).where(Variable.key == VARIABLE))
    value = advanced(variable.val if variable else None, window if isinstance(window, dict) else None)
    if value is None:
        return
    if variable is None:
        session.add(Variable(key=VARIABLE, val=value, description=DESCRIPTION))
    else:
        variable.set_val(value)
    log.info("The rolling Download From (Variable %s) is now %s", VARIABLE, value)


def record_outcome(dag_run: DagRun, *, succeeded: bool) -> None:
    """Write the notes of a finished run and, when it succeeded, advance the rolling Download From.

    The scheduler and the API server hand over a run attached to their session: the changes go into
    that session and are committed with the run's state. ``dag.test()`` hands over a detached run
    (it merges it back afterwards): the changes then go through a session of their own, committed here.
    """
    from sqlalchemy.orm import object_session

    session = object_session(dag_run)
    try:
        if session is not None:
            _record(session, dag_run, succeeded)
            return
        from airflow.utils.session import create_session

        with create_session() as own:
            attached = own.get(type(dag_run), dag_run.id)
            if attached is not None:
                _record(own, attached, succeeded)
    except Exception:  # the run's outcome stands whatever happens here
        log.exception("Could not record the outcome of run %s of %s", dag_run.run_id, dag_run.dag_id)


def _record(session: Session, dag_run: DagRun, succeeded: bool) -> None:
    # Only reads, attribute changes and one added Variable, flushed with the caller's own changes. No SAVEPOINT,
    # which SQLite through pysqlite does not keep reliably.
    from amazon_sage.core.orders.last_window import WINDOW_KEY
    from amazon_sage.core.run_notes import FAILED_RECORDS_KEY

    published = _published(session, dag_run, [FAILED_RECORDS_KEY, WINDOW_KEY])
    failed = {task_id: value for task_id, key, value in published if key == FAILED_RECORDS_KEY}
    if failed:
        _write_notes(session, dag_run, failed)
    windows = [value for _, key, value in published if key == WINDOW_KEY]
    if succeeded and windows:
        _advance_last_window(session, windows[0])
