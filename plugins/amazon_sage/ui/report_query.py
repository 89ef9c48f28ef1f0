"""The run report's data: which runs match a filter, what each one did, and the day-by-day totals.

Contract:

* :func:`report_page` answers a :class:`RunFilter` with one :class:`RunRow` per run (newest first,
  :data:`PAGE_SIZE` to a page unless it says ``per_page``), the number of matching runs, and the
  daily totals for the charts.
* The DAG, the Airflow state and the date range are filtered in SQL. Whether a successful run is
  *ok* or *completed with errors*, and whether it is *empty* (nothing in, nothing out, no failures:
  an empty 15-minute poll), is only known from the phases' XCom, so those are decided in Python
  over the newest :data:`WINDOW` runs that match the SQL filter; paging is over that filtered list,
  so page *n* always holds the *n*-th 25 of what the filter shows. ``truncated`` says when runs
  older than the window were left out (narrow the dates to see them).
* Counts are what the phases pushed (XCom ``counts``, see :mod:`amazon_sage.core.counts`) and the
  failed record ids what they published (XCom ``failed_records``, :mod:`amazon_sage.core.run_notes`):
  ids and numbers only. The reasons live in the run's fail file (:mod:`amazon_sage.ui.run_files`).
* Days are the UTC dates of the runs' *run after* (the date Airflow's grid shows a run under).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from amazon_sage.core.counts import IMPORT_FILE_KEY, STANDARD_KEYS, XCOM_KEY
from amazon_sage.core.run_notes import FAILED_RECORDS_KEY
from amazon_sage.dag_factories import OWNER

ARCHIVE_TASK = "archive_workflow_data"  # its return value is the archive's URI
PAGE_SIZE = 25
MAX_PER_PAGE = 100
WINDOW = 5000  # the newest runs matching the SQL filter that are classified in Python (see the module doc)
CHART_DAYS = 14  # the charts' days when the filter names no dates
MAX_CHART_DAYS = 62
CHUNK = 500  # ids per IN (...) clause: well inside every database's limit

# A run's outcome: its badge and the state filter's values. Airflow's states behind each, for the SQL filter.
OUTCOMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ok": ("ok", ("success",)),
    "errors": ("completed with errors", ("success",)),
    "failed": ("failed", ("failed",)),
    "running": ("running", ("running", "queued")),
}


@dataclass(frozen=True)
class DagColumns:
    """What a DAG's numbers are called: ``read`` by its first phase, ``done`` by the phase that posts them."""

    records: str
    read_label: str
    read_tasks: tuple[str, ...]
    done_label: str
    done_tasks: tuple[str, ...]
    chart: str = ""  # "orders" or "feeds": which daily chart the DAG's runs add to


ORDERS_POSTING = ("import_sales_orders", "export_audit_trail")  # SAGE_POSTING chooses one
DAG_COLUMNS: dict[str, DagColumns] = {
    "amazon_orders_to_sage": DagColumns("orders", "Downloaded", ("download_orders",), "Imported", ORDERS_POSTING,
                                        "orders"),
    "amazon_order_events_to_sage": DagColumns("orders", "Downloaded", ("download_order_events",), "Imported",
                                              ORDERS_POSTING, "orders"),
    "sage_stock_to_amazon_inventory": DagColumns("SKUs", "Exported", ("export_stock_records",), "SKUs sent",
                                                 ("upload_inventory_feed",), "feeds"),
    "sage_stock_to_amazon_prices": DagColumns("SKUs", "Exported", ("export_stock_records",), "SKUs sent",
                                              ("upload_prices_feed",), "feeds"),
    "sage_despatches_to_amazon": DagColumns("shipments", "Exported", ("export_despatches",), "Confirmed",
                                            ("confirm_shipments",)),
    "amazon_sage_buyer_data": DagColumns("archives", "Checked", ("remove_expired_buyer_data",), "Rewritten",
                                         ("remove_expired_buyer_data",)),
}
GENERIC_COLUMNS = DagColumns("records", "Read", (), "Done", ())  # e.g. amazon_order_events_setup: no counts


def columns_of(dag_id: str) -> DagColumns:
    return DAG_COLUMNS.get(dag_id, GENERIC_COLUMNS)


@dataclass(frozen=True)
class RunFilter:
    """What the seller asked for; every field is optional. ``date_to`` is inclusive."""

    dag_id: str | None = None
    run_id: str | None = None
    state: str | None = None  # a key of OUTCOMES
    date_from: date | None = None
    date_to: date | None = None
    show_empty: bool = False
    page: int = 1
    per_page: int = PAGE_SIZE
    readable_dags: frozenset[str] | None = None  # the DAGs whose runs the viewer may see (None: all)

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in OUTCOMES:
            raise ValueError(f"state {self.state!r}: use one of {', '.join(OUTCOMES)}")


@dataclass
class Totals:
    """The run's numbers for the report's columns."""

    read: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    duplicates: int = 0


@dataclass
class RunRow:
    """One run: its outcome, its totals, and (for the rows of the page) its phases and archive."""

    dag_id: str
    run_id: str
    state: str
    run_type: str
    run_after: datetime | None
    start: datetime | None
    end: datetime | None
    outcome: str
    totals: Totals
    empty: bool
    counts: dict[str, dict[str, Any]]  # task id -> the counts it pushed
    failed_records: dict[str, dict[str, Any]]  # task id -> {"kind", "count", "ids"}
    phases: list[dict[str, Any]] = field(default_factory=list)
    archive_uri: str | None = None
    import_file: str | None = None  # the audit-trail CSV's name (never its folder)

    @property
    def columns(self) -> DagColumns:
        return columns_of(self.dag_id)

    @property
    def day(self) -> date | None:
        when = self.run_after or self.start
        return when.astimezone(timezone.utc).date() if when else None


@dataclass
class DailyTotals:
    """The charts' numbers: per day, orders imported and failed; feeds sent and SKUs failed."""

    days: list[date]
    orders_imported: dict[date, int] = field(default_factory=dict)
    orders_failed: dict[date, int] = field(default_factory=dict)
    feeds_sent: dict[date, int] = field(default_factory=dict)
    skus_failed: dict[date, int] = field(default_factory=dict)


@dataclass
class ReportPage:
    rows: list[RunRow]
    total: int  # runs matching the filter (within the window)
    page: int
    pages: int
    truncated: bool  # more runs matched the SQL filter than the window holds
    daily: DailyTotals


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _day_bounds(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """``[first 00:00, last+1 00:00)`` in UTC: ``last`` is inclusive."""
    start = datetime.combine(first, time(), timezone.utc) if first else None
    end = datetime.combine(last + timedelta(days=1), time(), timezone.utc) if last else None
    return start, end


def _select_runs(session: Any, wanted: RunFilter, *, with_state: bool) -> tuple[list[Any], bool]:
    """The newest WINDOW runs of the product's DAGs matching the SQL part of ``wanted``; and whether more matched."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    product_dags = select(DagModel.dag_id).where(DagModel.owners == OWNER)
    query = select(DagRun.id, DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.run_type, DagRun.run_after,
                   DagRun.start_date, DagRun.end_date).where(DagRun.dag_id.in_(product_dags))
    if wanted.dag_id:
        query = query.where(DagRun.dag_id == wanted.dag_id)
    if wanted.readable_dags is not None:
        query = query.where(DagRun.dag_id.in_(sorted(wanted.readable_dags)))
    if wanted.run_id:
        query = query.where(DagRun.run_id == wanted.run_id)
    if with_state and wanted.state:
        query = query.where(DagRun.state.in_(OUTCOMES[wanted.state][1]))
    start, end = _day_bounds(wanted.date_from, wanted.date_to)
    if start:
        query = query.where(DagRun.run_after >= start)
    if end:
        query = query.where(DagRun.run_after < end)
    rows = session.execute(query.order_by(DagRun.run_after.desc(), DagRun.id.desc()).limit(WINDOW + 1)).all()
    return list(rows[:WINDOW]), len(rows) > WINDOW


def _xcoms(session: Any, run_ids: list[int], keys: tuple[str, ...],
           task_id: str | None = None) -> dict[tuple[int, str, str], Any]:
    """``(dag run id, task id, key) -> value`` for the runs' XComs of ``keys``."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    values: dict[tuple[int, str, str], Any] = {}
    for chunk in _chunks(run_ids):
        query = select(XComModel).where(XComModel.dag_run_id.in_(chunk), XComModel.key.in_(keys))
        if task_id:
            query = query.where(XComModel.task_id == task_id)
        for xcom in session.scalars(query):
            values[(xcom.dag_run_id, xcom.task_id, xcom.key)] = XComModel.deserialize_value(xcom)
    return values


def _first(counts: Mapping[str, Mapping[str, Any]], tasks: tuple[str, ...]) -> Mapping[str, Any]:
    return next((counts[task] for task in tasks if task in counts), {})


def summarise(dag_id: str, state: str, counts: dict[str, dict[str, Any]],
              failed_records: dict[str, dict[str, Any]]) -> tuple[str, Totals, bool]:
    """The run's outcome (a key of OUTCOMES), its totals, and whether it was empty."""
    columns = columns_of(dag_id)
    phases = {task: value for task, value in counts.items() if task != ARCHIVE_TASK}  # its "in" is files, not records
    totals = Totals(read=int(_first(phases, columns.read_tasks).get("out", 0)),
                    done=int(_first(phases, columns.done_tasks).get("out", 0)),
                    failed=sum(int(value.get("failed", 0)) for value in phases.values()),
                    skipped=sum(int(value.get("skipped", 0)) for value in phases.values()),
                    duplicates=sum(int(value.get("duplicates", 0)) for value in phases.values()))
    failures = totals.failed or sum(int(value.get("count", 0)) for value in failed_records.values())
    if state in OUTCOMES["running"][1]:
        outcome = "running"
    elif state == "success":
        outcome = "errors" if failures else "ok"
    else:
        outcome = "failed"
    # A run with no counts at all (the set-up DAG) is not known to be empty: it is shown.
    empty = (outcome == "ok" and bool(phases)
             and not any(int(value.get(key, 0)) for value in phases.values() for key in STANDARD_KEYS))
    return outcome, totals, empty


def _rows(session: Any, runs: list[Any]) -> list[RunRow]:
    ids = [run.id for run in runs]
    xcoms = _xcoms(session, ids, (XCOM_KEY, FAILED_RECORDS_KEY))
    counts: dict[int, dict[str, dict[str, Any]]] = {}
    failed: dict[int, dict[str, dict[str, Any]]] = {}
    for (run_id, task_id, key), value in xcoms.items():
        if not isinstance(value, dict):
            continue
        (counts if key == XCOM_KEY else failed).setdefault(run_id, {})[task_id] = value
    rows = []
    for run in runs:
        run_counts, run_failed = counts.get(run.id, {}), failed.get(run.id, {})
        outcome, totals, empty = summarise(run.dag_id, str(run.state), run_counts, run_failed)
        rows.append(RunRow(run.dag_id, run.run_id, str(run.state), str(run.run_type), run.run_after,
                           run.start_date, run.end_date, outcome, totals, empty, run_counts,
                           {task: value for task, value in run_failed.items() if int(value.get("count", 0))}))
    return rows


def _add_details(session: Any, runs: list[Any], rows: list[RunRow]) -> None:
    """Fill in the phases (task instances in the DAG's order), the archive URI and the import file of ``rows``."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    by_key = {(row.dag_id, row.run_id): row for row in rows}
    db_ids = {(run.dag_id, run.run_id): run.id for run in runs}
    wanted = [db_ids[key] for key in by_key]
    if not wanted:
        return
    # Upstream tasks weigh more (Airflow's default downstream weight rule), so this is the DAG's order.
    instances = session.scalars(select(TaskInstance).where(
        TaskInstance.run_id.in_([row.run_id for row in rows]),
        TaskInstance.dag_id.in_({row.dag_id for row in rows})).order_by(TaskInstance.priority_weight.desc(),
                                                                         TaskInstance.task_id))
    extra = _xcoms(session, wanted, ("return_value", IMPORT_FILE_KEY))
    for ti in instances:
        row = by_key.get((ti.dag_id, ti.run_id))
        if row is None:
            continue
        import_file = extra.get((db_ids[(ti.dag_id, ti.run_id)], ti.task_id, IMPORT_FILE_KEY))
        if import_file:
            row.import_file = str(import_file).replace("\\", "/").rsplit("/", 1)[-1]  # its name, never the path
        row.phases.append({"task_id": ti.task_id, "phase": ti.task_display_name, "state": str(ti.state),
                           "try_number": ti.try_number, "counts": row.counts.get(ti.task_id, {}),
                           "failed_records": row.failed_records.get(ti.task_id)})
    for key, row in by_key.items():
        uri = extra.get((db_ids[key], ARCHIVE_TASK, "return_value"))
        row.archive_uri = str(uri) if uri else None


def _chart_days(wanted: RunFilter, today: date) -> list[date]:
    """The filter's days (at most MAX_CHART_DAYS, the latest), or the last CHART_DAYS up to today."""
    last = wanted.date_to or today
    first = min(wanted.date_from or last - timedelta(days=CHART_DAYS - 1), last)
    first = max(first, last - timedelta(days=MAX_CHART_DAYS - 1))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def daily_totals(rows: Iterable[RunRow], days: list[date]) -> DailyTotals:
    """Orders imported and failed, feeds sent and SKUs failed, per day of ``days``, from ``rows``."""
    daily = DailyTotals(days)
    wanted = set(days)
    for row in rows:
        if row.day not in wanted or row.outcome == "running":
            continue
        day = row.day
        if row.columns.chart == "orders":
            daily.orders_imported[day] = daily.orders_imported.get(day, 0) + row.totals.done
            daily.orders_failed[day] = daily.orders_failed.get(day, 0) + row.totals.failed
        elif row.columns.chart == "feeds":
            upload = _first(row.counts, row.columns.done_tasks)
            sent = int(upload.get("in", 0)) - int(upload.get("skipped", 0))  # SKUs that went to Amazon or failed
            daily.feeds_sent[day] = daily.feeds_sent.get(day, 0) + int(sent > 0)
            daily.skus_failed[day] = daily.skus_failed.get(day, 0) + row.totals.failed
    return daily


def report_page(wanted: RunFilter, today: date | None = None) -> ReportPage:
    """The runs ``wanted`` asks for, one page of them in full, and the charts' daily totals (module doc)."""
    from airflow.utils.session import create_session

    today = today or datetime.now(timezone.utc).date()
    with create_session() as session:
        runs, truncated = _select_runs(session, wanted, with_state=True)
        rows = [row for row in _rows(session, runs)
                if (not wanted.state or row.outcome == wanted.state)
                and (wanted.show_empty or wanted.run_id or not row.empty)]
        size = min(max(1, wanted.per_page), MAX_PER_PAGE)
        pages = max(1, -(-len(rows) // size))
        page = min(max(1, wanted.page), pages)
        shown = rows[(page - 1) * size:page * size]
        _add_details(session, runs, shown)
        # The charts follow the DAG and the dates, not the state or paging: a day's bars are the whole day.
        days = _chart_days(wanted, today)
        chart_filter = RunFilter(dag_id=wanted.dag_id, date_from=days[0], date_to=days[-1])
        chart_runs, _ = _select_runs(session, chart_filter, with_state=False)
        daily = daily_totals(_rows(session, chart_runs), days)
    return ReportPage(shown, len(rows), page, pages, truncated, daily)
