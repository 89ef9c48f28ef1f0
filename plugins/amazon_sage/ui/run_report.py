"""The run report in the Airflow UI: Zynk's History tab, rebuilt on Airflow's own data.

For each run of the product's DAGs it shows the state, the times and every phase's counts
(in, out, failed, skipped) as the tasks pushed them to XCom under the key ``counts``, plus
the archive the run was zipped to. The DAGs and phases come from Airflow's own records: the
product's DAGs are those whose tasks have the product's owner, and each phase is a task
instance of the run, named by its display name (the Zynk phase), in the order the DAG runs
them. It is a FastAPI app served by Airflow's API server (see :mod:`amazon_sage_plugin`),
behind Airflow's own login, and it reads only counts and ids, never the files' contents.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse

from amazon_sage.core.counts import IMPORT_FILE_KEY, STANDARD_KEYS, XCOM_KEY
from amazon_sage.dag_factories import OWNER

ARCHIVE_TASK = "archive_workflow_data"  # its return value is the archive's URI
SHOWN_DETAILS = ("duplicates", "attention", "awaiting_import", "overdue")


def runs_with_counts(dag_id: str | None = None, run_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Recent runs of the product's DAGs with each phase's state and counts."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        product_dags = select(DagModel.dag_id).where(DagModel.owners == OWNER)
        query = select(DagRun).where(DagRun.dag_id.in_(product_dags))
        if dag_id:
            query = query.where(DagRun.dag_id == dag_id)
        if run_id:
            query = query.where(DagRun.run_id == run_id)
        runs = session.scalars(query.order_by(DagRun.run_after.desc()).limit(limit)).all()
        if not runs:
            return []
        wanted_runs = [run.run_id for run in runs]
        # Upstream tasks weigh more (Airflow's default downstream weight rule), so this is the DAG's order.
        instances: dict[tuple[str, str], list[Any]] = {}
        for ti in session.scalars(select(TaskInstance).where(TaskInstance.run_id.in_(wanted_runs))
                                  .order_by(TaskInstance.priority_weight.desc(), TaskInstance.task_id)):
            instances.setdefault((ti.dag_id, ti.run_id), []).append(ti)
        xcoms = session.scalars(select(XComModel).where(XComModel.run_id.in_(wanted_runs),
                                                        XComModel.key.in_([XCOM_KEY, "return_value",
                                                                            IMPORT_FILE_KEY]))).all()
        values: dict[tuple[str, str, str, str], Any] = {
            (x.dag_id, x.run_id, x.task_id, x.key): XComModel.deserialize_value(x) for x in xcoms}
        report = []
        for run in runs:
            phases = [{"task_id": ti.task_id, "phase": ti.task_display_name, "state": str(ti.state),
                       "counts": values.get((run.dag_id, run.run_id, ti.task_id, XCOM_KEY)) or {},
                       "import_file": values.get((run.dag_id, run.run_id, ti.task_id, IMPORT_FILE_KEY))}
                      for ti in instances.get((run.dag_id, run.run_id), [])]
            archive = values.get((run.dag_id, run.run_id, ARCHIVE_TASK, "return_value"))
            report.append({"dag_id": run.dag_id, "run_id": run.run_id, "state": str(run.state),
                           "run_type": str(run.run_type), "start": str(run.start_date or ""),
                           "end": str(run.end_date or ""), "phases": phases, "archive": archive})
        return report


def render_html(report: list[dict[str, Any]]) -> str:
    rows = []
    for run in report:
        cells = "".join(
            f"<td class='{html.escape(p['state'])}'><b>{html.escape(p['phase'])}</b><br>{html.escape(p['state'])}"
            + "".join(f"<br>{html.escape(str(k))}: {html.escape(str(v))}" for k, v in p["counts"].items()
                      if k in STANDARD_KEYS or k in SHOWN_DETAILS)
            + (f"<br>Sage import file: {html.escape(p['import_file'].rsplit('/', 1)[-1])}" if p["import_file"] else "")
            + "</td>" for p in run["phases"])
        rows.append(f"<tr><td>{html.escape(run['dag_id'])}<br><small>{html.escape(run['run_id'])}</small></td>"
                    f"<td class='{html.escape(run['state'])}'>{html.escape(run['state'])}</td>"
                    f"<td><small>{html.escape(run['start'][:19])}<br>{html.escape(run['end'][:19])}</small></td>"
                    f"{cells}<td><small>{html.escape(str(run['archive'] or ''))}</small></td></tr>")
    body = "".join(rows) or "<tr><td colspan='9'>No runs yet.</td></tr>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Amazon-Sage run report</title>
<style>body{{font-family:sans-serif;margin:1em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}} .success{{background:#e6f4ea}}
.failed,.upstream_failed{{background:#fde7e9}} .skipped{{background:#eee}}
.running,.queued{{background:#e8f0fe}}</style>
</head><body><h2>Amazon ⇄ Sage 50: run report</h2>
<p>Each run with every phase's state and counts (in, out, failed, skipped), like Zynk's History tab.
Failed records are listed by id in the task logs and the run's fail files.</p>
<table><tr><th>DAG / run</th><th>State</th><th>Start / end (UTC)</th><th colspan="4">Phases</th><th>Archive</th></tr>
{body}</table></body></html>"""


def create_app() -> FastAPI:
    from airflow.api_fastapi.core_api.security import get_user

    app = FastAPI(title="Amazon-Sage run report", dependencies=[Depends(get_user)])  # Airflow's login

    @app.get("/", response_class=HTMLResponse)
    def report_page(dag_id: Annotated[str | None, Query()] = None,
                    run_id: Annotated[str | None, Query()] = None) -> str:
        return render_html(runs_with_counts(dag_id, run_id))

    @app.get("/api/runs")
    def report_json(dag_id: Annotated[str | None, Query()] = None,
                    run_id: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
        return runs_with_counts(dag_id, run_id)

    return app
