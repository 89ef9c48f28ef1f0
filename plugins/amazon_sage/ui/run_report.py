"""The run report in the Airflow UI: Zynk's History tab, rebuilt on Airflow's own data. The app's wiring.

A FastAPI app that Airflow's API server mounts at :data:`URL_PREFIX` (see :mod:`amazon_sage_plugin`):

* ``GET /``: the HTML report (:mod:`~amazon_sage.ui.report_page`): one row per run with its badge
  (ok, completed with errors, failed, running), its counts in columns, its failed records with their
  reasons, links to the run and each task's log in Airflow, and downloads of its files; a filter by
  DAG, state and dates, 25 runs a page, empty runs hidden unless asked for, and two daily charts.
* ``GET /api/runs``: the same runs as JSON (a list; ``X-Total-Count`` and ``X-Pages`` headers).
* ``GET /download/file?dag_id=&run_id=&name=`` and ``GET /download/archive?dag_id=&run_id=``: a
  file of the run's archive, or the whole archive as a zip, decrypted and streamed
  (:mod:`~amazon_sage.ui.run_files`: names are checked against the archive's manifest).

Everything is behind Airflow's own login (``get_user``) and its auth manager's per-DAG rights: the
report lists only runs of the DAGs the viewer may read (``get_authorized_dag_ids``), and a run's
files and failure reasons, which come from its archive and can hold buyer data, only for viewers
the auth manager lets read that DAG's task results (``is_authorized_dag``, ``GET`` on
``DagAccessEntity.XCOM``); anyone else gets 403 on a download and no links on the page.

The JSON API answers 401 without a login; the HTML page and the downloads, which people open in a
browser, redirect to Airflow's login (``/api/v2/auth/login?next=…``, which sends on to whatever the
auth manager's login page is) and come back to the page after it. Which data it reads, and where
failure reasons come from, is described in :mod:`~amazon_sage.ui.report_query` and
:mod:`~amazon_sage.ui.run_files`.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from amazon_sage.ui.report_page import RunFiles, render_page
from amazon_sage.ui.report_query import (
    DAG_COLUMNS,
    MAX_PER_PAGE,
    OUTCOMES,
    PAGE_SIZE,
    ReportPage,
    RunFilter,
    RunRow,
    report_page,
)
from amazon_sage.ui.run_files import (
    RunFileNotFound,
    RunFileUnavailable,
    archive_of,
    archived_run,
    failure_reasons,
    file_role,
    manifest_files,
    prepare_download,
)

URL_PREFIX = "/amazon-sage"
LOGIN = "/api/v2/auth/login"  # Airflow's public login route: it redirects to the auth manager's own page
ROLE_ORDER = ("success", "fail", "skipped", "audit trail")
NOT_ARCHIVED = {"failed": "Not archived: a phase failed, so the run's files wait in its working folder for a retry.",
                "running": "", "ok": "Not archived.", "errors": "Not archived."}


class LoginRequired(Exception):
    """A browser request without a valid login: answered with a redirect to Airflow's login."""

    def __init__(self, next_url: str):
        self.next_url = next_url


def airflow_root(request: Request) -> str:
    """The path Airflow's UI is served under ('' at the site's root), from the mount's root path."""
    return str(request.scope.get("root_path", "")).removesuffix(URL_PREFIX)


async def browser_user(request: Request) -> Any:
    """``get_user`` for pages a person opens: a missing or expired login raises :class:`LoginRequired`.

    Calls ``get_user`` itself (a sub-dependency's HTTPException could not be caught here) and
    honours an override of ``get_user`` as FastAPI would, so tests can log in the same way for
    every route.
    """
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    override = request.app.dependency_overrides.get(get_user)
    try:
        if override is not None:
            return override()
        return await get_user(request, None, await bearer_scheme(request))
    except HTTPException as exc:
        if exc.status_code in (401, 403):
            raise LoginRequired(str(request.url)) from None
        raise


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name} must be a date, YYYY-MM-DD") from None


def run_filter(dag_id: Annotated[str | None, Query()] = None, run_id: Annotated[str | None, Query()] = None,
               state: Annotated[str | None, Query(description=", ".join(OUTCOMES))] = None,
               date_from: Annotated[str | None, Query()] = None, date_to: Annotated[str | None, Query()] = None,
               show_empty: Annotated[bool, Query()] = False, page: Annotated[int, Query(ge=1)] = 1,
               per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = PAGE_SIZE) -> RunFilter:
    """The filter from the query string; the form sends empty strings for "all"."""
    if state and state not in OUTCOMES:
        raise HTTPException(400, f"state must be one of {', '.join(OUTCOMES)}")
    return RunFilter(dag_id=dag_id or None, run_id=run_id or None, state=state or None,
                     date_from=_date(date_from, "date_from"), date_to=_date(date_to, "date_to"),
                     show_empty=show_empty, page=page, per_page=per_page)


FILES_FORBIDDEN = ("Your Airflow role may not read this DAG's task results, which its files and failure reasons "
                   "are: an Airflow admin can grant it.")


def readable_dags(user: Any) -> frozenset[str]:
    """The DAGs whose runs ``user`` may see, as the auth manager says."""
    from airflow.api_fastapi.app import get_auth_manager

    return frozenset(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


def may_read_files(user: Any, dag_id: str) -> bool:
    """Whether ``user`` may read the task results (XCom) of ``dag_id``: the rights a run's files need."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(method="GET", access_entity=DagAccessEntity.XCOM,
                                                details=DagDetails(id=dag_id), user=user)


def run_files(row: RunRow, allowed: bool = True) -> RunFiles:
    """The row's downloadable files and failure reasons, from its archive; never raises for a bad archive."""
    if not allowed:
        return RunFiles(problem=FILES_FORBIDDEN)
    run = archive_of(row.dag_id, row.run_id, row.archive_uri)
    if run is None:
        return RunFiles(problem=NOT_ARCHIVED[row.outcome])
    found = RunFiles(archived=True)
    try:
        roles = [(file_role(name, row.import_file), name) for name in manifest_files(run)]
        found.files = sorted(((role, name) for role, name in roles if role),
                             key=lambda item: (ROLE_ORDER.index(item[0]), item[1]))
        if row.failed_records or row.totals.failed:
            found.reasons = failure_reasons(run)
    except RunFileUnavailable as exc:
        found.problem = str(exc)
    return found


def _as_json(row: RunRow, files: RunFiles, airflow: str) -> dict[str, Any]:
    download = f"{URL_PREFIX}/download/file?"
    archived = archive_of(row.dag_id, row.run_id, row.archive_uri)
    return {
        "dag_id": row.dag_id, "run_id": row.run_id, "state": row.state, "outcome": row.outcome,
        "outcome_label": OUTCOMES[row.outcome][0], "run_type": row.run_type,
        "run_after": row.run_after.isoformat() if row.run_after else None,
        "start": str(row.start or ""), "end": str(row.end or ""), "empty": row.empty,
        "columns": {"read": row.columns.read_label, "done": row.columns.done_label},
        "totals": vars(row.totals), "phases": row.phases,
        "failed_records": [{"task_id": task, **value} for task, value in row.failed_records.items()],
        "failures": [{"id": record, "reason": reason} for record, reason in files.reasons],
        "files": [{"role": role, "name": name, "url": download + urlencode({"dag_id": row.dag_id,
                                                                              "run_id": row.run_id, "name": name})}
                  for role, name in files.files],
        "archive": archived.archive if archived else None,  # its name, never its path on the server
        "problem": files.problem,
        "run_url": f"{airflow}/dags/{quote(row.dag_id, safe='')}/runs/{quote(row.run_id, safe='')}",
    }


def _product_dags() -> list[str]:
    """The product's DAGs that Airflow knows, for the filter's list."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from amazon_sage.dag_factories import OWNER

    with create_session() as session:
        known = list(session.scalars(select(DagModel.dag_id).where(DagModel.owners == OWNER).order_by(DagModel.dag_id)))
    return known or sorted(DAG_COLUMNS)


def _streamed(run_id: str, dag_id: str, name: str | None) -> FileResponse:
    try:
        ready = prepare_download(archived_run(dag_id, run_id), name)
    except RunFileNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except RunFileUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    # The decrypted copy lives only while it streams: the task runs after the last byte was sent.
    return FileResponse(ready.path, media_type=ready.media_type, filename=ready.filename,
                        background=BackgroundTask(shutil.rmtree, ready.scratch, ignore_errors=True))


def create_app() -> FastAPI:
    """The report's app; Airflow mounts it at URL_PREFIX."""
    from airflow.api_fastapi.core_api.security import get_user

    app = FastAPI(title="Amazon-Sage run report")

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"{airflow_root(request)}{LOGIN}?{urlencode({'next': exc.next_url})}", 303)

    def rows_with_files(user: Any, wanted: RunFilter) -> tuple[ReportPage, RunFilter, dict[tuple[str, str], RunFiles]]:
        wanted = replace(wanted, readable_dags=readable_dags(user))
        report: ReportPage = report_page(wanted)
        allowed = {dag_id: may_read_files(user, dag_id) for dag_id in {row.dag_id for row in report.rows}}
        return report, wanted, {(row.dag_id, row.run_id): run_files(row, allowed[row.dag_id]) for row in report.rows}

    @app.get("/", response_class=HTMLResponse)
    def report_html(request: Request, wanted: Annotated[RunFilter, Depends(run_filter)],
                    user: Annotated[Any, Depends(browser_user)]) -> str:
        report, wanted, files = rows_with_files(user, wanted)
        root = airflow_root(request)
        return render_page(report, wanted, files, [d for d in _product_dags() if d in wanted.readable_dags], root,
                           root + URL_PREFIX)

    @app.get("/api/runs")
    def report_json(request: Request, wanted: Annotated[RunFilter, Depends(run_filter)],
                    # A default, not Annotated: the local get_user is out of a string annotation's reach.
                    user: Any = Depends(get_user)) -> JSONResponse:  # noqa: B008
        report, _, files = rows_with_files(user, wanted)
        body = [_as_json(row, files[row.dag_id, row.run_id], airflow_root(request)) for row in report.rows]
        return JSONResponse(body, headers={"X-Total-Count": str(report.total), "X-Pages": str(report.pages)})

    def checked(user: Any, dag_id: str) -> None:
        if not may_read_files(user, dag_id):
            raise HTTPException(403, FILES_FORBIDDEN)

    @app.get("/download/file")
    def download_file(dag_id: str, run_id: str, name: str,
                      user: Annotated[Any, Depends(browser_user)]) -> FileResponse:
        checked(user, dag_id)
        return _streamed(run_id, dag_id, name)

    @app.get("/download/archive")
    def download_archive(dag_id: str, run_id: str, user: Annotated[Any, Depends(browser_user)]) -> FileResponse:
        checked(user, dag_id)
        return _streamed(run_id, dag_id, None)

    return app
