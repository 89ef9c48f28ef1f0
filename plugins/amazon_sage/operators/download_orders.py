"""Download Orders: Amazon orders updated in the run's window -> ``amazon_orders.xml``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from amazon_sage import settings
from amazon_sage.core.counts import PhaseCounts
from amazon_sage.core.marketplaces import MarketplaceError, chosen_marketplaces
from amazon_sage.core.orders.last_window import VARIABLE, WINDOW_KEY
from amazon_sage.operators.run_context import as_list, push_counts, run_folder_of

OUTPUT_FILE = "amazon_orders.xml"


def _is_manual(context: Any) -> bool:
    """A run a person triggered (UI, REST API, CLI, ``dag.test``), as opposed to a scheduled or backfill run."""
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return str(getattr(run_type, "value", run_type)) == "manual"


def _last_window_end() -> datetime | None:
    """The rolling Download From (an Airflow Variable the listener advances); None before any success."""
    from airflow.sdk import Variable

    from amazon_sage.core.orders.download_window import parse_instant

    try:
        return parse_instant(Variable.get(VARIABLE, default=None))
    except ValueError as exc:
        raise AirflowException(f"Airflow Variable {VARIABLE} (the rolling Download From) is not a date-time: "
                               f"{exc}. Correct it in Admin → Variables, or delete it to start from "
                               "DOWNLOAD_FROM.") from None


class AmazonDownloadOrdersOperator(BaseOperator):
    """Download orders with searchOrders (Orders API v2026-01-01) into the run folder.

    The window is the run's data interval (started ``overlap_minutes`` early) for a scheduled or
    backfill run; a manual run downloads from the end of the last successful window to now - 2
    minutes (:mod:`amazon_sage.core.orders.download_window`); ``download_from``/``download_to``
    win over both. The window goes to XCom key ``window``. Statuses are the ones imported, plus
    CANCELLED when ``watch_cancellations`` so that a later cancellation is reported.
    ``marketplaces`` (codes) narrows the download to some of the connection's marketplaces; such a
    run's window says so (``allMarketplaces`` false), and the rolling Download From does not move
    on for it, so the next run without a window still covers the others.
    Returns the path of ``amazon_orders.xml``; counts go to XCom key ``counts``.
    """

    template_fields: Sequence[str] = ("download_from", "download_to", "order_statuses", "marketplaces")
    ui_color = "#ff9900"

    def __init__(self, *, sp_api_conn_id: str | None = None, download_from: Any = None, download_to: Any = None,
                 order_statuses: Any = None, watch_cancellations: bool | None = None,
                 export_date: str | None = None, overlap_minutes: int | None = None, marketplaces: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.marketplaces = marketplaces
        self.sp_api_conn_id = sp_api_conn_id
        self.download_from = download_from
        self.download_to = download_to
        self.order_statuses = order_statuses
        self.watch_cancellations = watch_cancellations
        self.export_date = export_date
        self.overlap_minutes = overlap_minutes

    def execute(self, context: Any) -> str:
        from amazon_sage.core.orders.amazon_orders_xml import write_orders_xml
        from amazon_sage.core.orders.download_window import download_window, parse_instant
        from amazon_sage.hooks.selling_partner import SellingPartnerHook

        statuses = as_list(self.order_statuses) or settings.get_list("ORDER_STATUSES")
        watch = self.watch_cancellations
        if watch is None:
            watch = settings.get_bool("WATCH_CANCELLATIONS")
        if watch and "CANCELLED" not in statuses:
            statuses.append("CANCELLED")
        overlap = self.overlap_minutes
        if overlap is None:
            overlap = settings.get_int("WINDOW_OVERLAP_MINUTES")
        manual = _is_manual(context)
        try:
            window = download_window(
                interval_start=context.get("data_interval_start"), interval_end=context.get("data_interval_end"),
                download_from=parse_instant(self.download_from), download_to=parse_instant(self.download_to),
                overlap=timedelta(minutes=overlap), manual=manual,
                last_window_end=_last_window_end() if manual else None,
                first_from=parse_instant(settings.get("DOWNLOAD_FROM")))
        except ValueError as exc:
            raise AirflowException(str(exc)) from None
        if window.empty:
            self.log.info("Download Orders summary: nothing to download, the window %s to %s is empty (its end is "
                          "capped at now - 2 minutes)", *window.iso().values())
            raise AirflowSkipException(f"Nothing to download: window {window.iso()} is empty "
                                       "(its end is capped at now - 2 minutes).")
        self.log.info("Downloading orders updated %s to %s (from %s) with statuses %s", *window.iso().values(),
                      window.basis, statuses)
        hook = SellingPartnerHook(self.sp_api_conn_id)
        configured = hook.marketplaces
        try:
            chosen = chosen_marketplaces(configured, as_list(self.marketplaces))
        except MarketplaceError as exc:
            raise AirflowException(f"Marketplaces to download: {exc}.") from None
        everywhere = len(chosen) == len(configured)
        if not everywhere:
            self.log.info("This run downloads %s only, of the connection's %s: the rolling Download From stays "
                          "where it is, so the next run without a window still covers the others",
                          ", ".join(m.code for m in chosen), ", ".join(m.code for m in configured))
        output = run_folder_of(context) / OUTPUT_FILE
        export_date = parse_instant(self.export_date if self.export_date is not None else settings.get("EXPORT_DATE"))
        pages = hook.search_orders(last_updated_after=window.iso()["lastUpdatedAfter"],
                                   last_updated_before=window.iso()["lastUpdatedBefore"],
                                   fulfillment_statuses=statuses, fulfilled_by=settings.orders_fulfilled_by(),
                                   marketplace_ids=[m.marketplace_id for m in chosen])
        counts = write_orders_xml(pages, output, window={**window.iso(), "sellerId": hook.seller_id},
                                  export_date=export_date,
                                  fba_only_when_shipped=settings.get_bool("FBA_ONLY_WHEN_SHIPPED"))
        context["ti"].xcom_push(key=WINDOW_KEY, value={  # the run's window, for the next manual run
            **window.iso(), "marketplaces": [m.code for m in chosen], "allMarketplaces": everywhere})
        push_counts(context, PhaseCounts(counts.received, counts.written,
                                         skipped=counts.before_export_date + counts.repeated + counts.fba_not_shipped,
                                         details={"pages": counts.pages, "fba_not_shipped": counts.fba_not_shipped}))
        self.log.info("Download Orders summary: %d pages, %d orders received, %d written, %d before Export Date, "
                      "%d repeated while paging, %d FBA not shipped yet (taken once shipped); by status %s",
                      counts.pages, counts.received, counts.written, counts.before_export_date, counts.repeated,
                      counts.fba_not_shipped, counts.statuses)
        return str(output)
