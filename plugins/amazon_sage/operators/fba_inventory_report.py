"""Read FBA Inventory Report: which SKUs Amazon stocks, from its FBA inventory report, at most every N hours."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings

if TYPE_CHECKING:
    from amazon_sage.core.feeds.fba_sku_cache import FbaSkuCache

# How long Amazon may take to make the report before this run goes on with the last good one. Reports usually
# take minutes; the run's quantities wait for it, so the wait is bounded well inside the task's timeout.
REPORT_WAIT_SECONDS = 30 * 60


def _mapping_values(cache: FbaSkuCache | None) -> dict[str, str]:
    """What the inventory mapping takes: ``skus`` as ``;SKU;SKU;`` and ``as_of``, the report's time."""
    from amazon_sage.core.feeds.fba_sku_cache import xslt_sku_list

    return {"skus": xslt_sku_list(cache.skus) if cache else "", "as_of": cache.as_of() if cache else ""}


def _created(report: dict[str, Any]) -> datetime:
    """When Amazon made the report (its ``createdTime``), which is when its data is from; now if unreadable."""
    try:
        return datetime.fromisoformat(str(report["createdTime"]).replace("Z", "+00:00")).astimezone(UTC)
    except (KeyError, ValueError):
        return datetime.now(UTC)


class AmazonFbaInventoryReportOperator(BaseOperator):
    """Know the FBA SKUs from Amazon's ``GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA`` report, cached in the work root.

    Returns ``{"skus": ";SKU;SKU;", "as_of": "2026-12-02 04:40 UTC"}`` for the inventory mapping, whose SKUs get no
    seller-fulfilled quantity (besides those of ``FBA_SKUS``, which the mapping takes from the setting).

    * A cached report younger than ``FBA_SKUS_REPORT_HOURS`` is used as it is: no call to Amazon.
    * Otherwise createReport, then the wait for it is deferred to :class:`AmazonReportTrigger` (no worker slot);
      DONE: the report is downloaded, parsed and becomes the cache; CANCELLED, which for this report means Amazon
      had no data, is an empty set (the seller has no FBA inventory) and becomes the cache too.
    * Any failure (Amazon's errors past the hook's retries, FATAL, a report that cannot be read, the wait
      timing out) never fails the task: the last good cache is used, with a warning naming its age, so SKUs that
      were FBA then still get no seller-fulfilled quantity; with no good report ever, ``FBA_SKUS`` alone (said).
      The failure is noted, and the runs of the next hour (or of FBA_SKUS_REPORT_HOURS if shorter) do the same
      without asking Amazon; a good report clears the note.
    * ``FBA_SKUS_REPORT_HOURS=0``: the report is neither asked for nor used.
    """

    ui_color = "#ff9900"

    def __init__(self, *, sp_api_conn_id: str | None = None, poll_interval: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sp_api_conn_id = sp_api_conn_id
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> dict[str, str] | None:
        from amazon_sage.core.feeds.fba_inventory import REPORT_TYPE
        from amazon_sage.core.feeds.fba_sku_cache import cache_path, failure_path, last_failure, read_cache, retry_after
        from amazon_sage.hooks.selling_partner import SellingPartnerHook
        from amazon_sage.triggers.amazon_report import AmazonReportTrigger

        hours = settings.fba_skus_report_hours()
        if hours == 0:
            self.log.info("FBA_SKUS_REPORT_HOURS=0: Amazon's FBA inventory report is not read; only FBA_SKUS are "
                          "kept from seller-fulfilled quantities")
            return _mapping_values(None)
        cache = read_cache(cache_path(settings.work_root()))
        now = datetime.now(UTC)
        if cache is not None and cache.is_fresh(now, hours):
            self.log.info("FBA inventory report of %s (%.1f h old, report %s) is fresh (FBA_SKUS_REPORT_HOURS=%g): "
                          "%d FBA SKUs, no new report asked for", cache.as_of(),
                          cache.age(now).total_seconds() / 3600, cache.report_id, hours, len(cache.skus))
            return _mapping_values(cache)
        failed_at = last_failure(failure_path(settings.work_root()))
        if failed_at is not None and now - failed_at < retry_after(hours):
            return self._fall_back(cache, f"the last try, at {failed_at:%Y-%m-%d %H:%M} UTC, failed; Amazon is asked "
                                          f"again from {failed_at + retry_after(hours):%H:%M} UTC", note=False)
        hook = SellingPartnerHook(self.sp_api_conn_id)
        try:
            report_id = hook.create_report(REPORT_TYPE)
        except AirflowException as exc:
            return self._fall_back(cache, f"createReport failed: {exc}")
        self.log.info("Asked Amazon for its FBA inventory report (%s): report %s", REPORT_TYPE, report_id)
        poll = self.poll_interval if self.poll_interval is not None else float(settings.get("FEED_POLL_SECONDS"))
        self.defer(trigger=AmazonReportTrigger(report_id, hook.sp_api_conn_id, poll_interval=poll,
                                               timeout=REPORT_WAIT_SECONDS),
                   method_name="execute_complete")
        return None  # not reached: defer() raises

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, str]:
        from amazon_sage.core.feeds.fba_sku_cache import (
            FbaSkuCache,
            cache_path,
            clear_failure,
            failure_path,
            read_cache,
            write_cache,
        )

        path = cache_path(settings.work_root())
        if event.get("status") != "done":
            return self._fall_back(read_cache(path), f"waiting for the report failed: {event.get('message', event)}")
        report = event["report"]
        status, report_id = report.get("processingStatus"), str(report.get("reportId", "?"))
        if status == "CANCELLED":
            # Amazon cancels a report that has no data: for the FBA inventory report, no FBA inventory at all.
            skus: frozenset[str] = frozenset()
            self.log.info("Amazon cancelled FBA inventory report %s, which means it had no data to report: the "
                          "seller has no FBA inventory (no FBA SKUs from the report)", report_id)
        elif status == "DONE":
            try:
                skus = self._read(report)
            except (AirflowException, ValueError, OSError, EOFError, KeyError) as exc:  # OSError, EOFError: gzip
                return self._fall_back(read_cache(path), f"report {report_id} could not be read: {exc}")
        else:
            return self._fall_back(read_cache(path), f"Amazon ended report {report_id} {status}")
        cache = FbaSkuCache(skus, _created(report), report_id)
        write_cache(path, cache)
        clear_failure(failure_path(settings.work_root()))
        return _mapping_values(cache)

    def _read(self, report: dict[str, Any]) -> frozenset[str]:
        from amazon_sage.core.feeds.fba_inventory import parse_fba_inventory
        from amazon_sage.hooks.selling_partner import SellingPartnerHook

        data = SellingPartnerHook(self.sp_api_conn_id).download_report(str(report["reportDocumentId"]))
        inventory = parse_fba_inventory(data)
        if inventory.encoding != "utf-8":
            self.log.info("FBA inventory report %s is not UTF-8: read it as %s, as Amazon writes EU flat files",
                          report.get("reportId"), inventory.encoding)
        self.log.info("FBA inventory report %s: %d rows, %d FBA SKUs (afn-listing-exists Yes)",
                      report.get("reportId"), inventory.rows, len(inventory.skus))
        return inventory.skus

    def _fall_back(self, cache: FbaSkuCache | None, problem: str, *, note: bool = True) -> dict[str, str]:
        """Go on without a new report: with the last good one if any, else FBA_SKUS alone; say which.

        With ``note``, the failure is noted, so that the next runs wait before asking Amazon again.
        """
        if note:
            from amazon_sage.core.feeds.fba_sku_cache import failure_path, note_failure

            note_failure(failure_path(settings.work_root()), datetime.now(UTC), problem)
        if cache is None:
            self.log.warning("Amazon's FBA inventory report could not be had (%s), and there has never been a good "
                             "one: only the SKUs of FBA_SKUS are kept from seller-fulfilled quantities this run",
                             problem)
            return _mapping_values(None)
        age = cache.age(datetime.now(UTC)).total_seconds() / 3600
        self.log.warning("Amazon's FBA inventory report could not be had (%s): using the last good one, of %s "
                         "(%.1f h old, report %s): its %d FBA SKUs still get no seller-fulfilled quantity",
                         problem, cache.as_of(), age, cache.report_id, len(cache.skus))
        return _mapping_values(cache)
