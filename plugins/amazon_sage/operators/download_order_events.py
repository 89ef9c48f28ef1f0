"""Download Orders, event-driven: the orders this run's ORDER_CHANGE messages name -> ``amazon_orders.xml``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from amazon_sage import settings
from amazon_sage.core.counts import PhaseCounts
from amazon_sage.operators.download_orders import OUTPUT_FILE
from amazon_sage.operators.run_context import as_list, push_counts, run_folder_of

DROPPED_KEY = "dropped_messages"
READ_MARK_VARIABLE = "amazon_sage_order_events_read_mark"


class AmazonDownloadOrderEventsOperator(BaseOperator):
    """Read the run's asset events (SQS messages), fetch each changed order with getOrder, write the orders file.

    The messages are those of the inlet asset's events after the read mark (the Airflow Variable
    ``amazon_sage_order_events_read_mark``, see :class:`~amazon_sage.core.events.collect.ReadMark`): the
    run's ``triggering_asset_events`` and those the scheduler left to a later event. The mark moves once the
    orders are written, so a download that fails leaves its events to the next run. Bad messages are
    logged by message id and dropped, duplicates dropped, statuses that are
    not imported skipped (:mod:`amazon_sage.core.events.collect`); the rest are fetched with getOrder
    within its rate limit. ``order_ids`` (a manual run's Param) adds orders by id. The output is the same
    ``amazon_orders.xml`` as the polling download, so the same mapping and import follow. Counts go to XCom
    key ``counts``: ``in`` messages, ``out`` orders written, ``failed`` orders Amazon did not return,
    ``skipped`` the rest, with ``bad_messages``, ``duplicates`` and ``not_imported``; the dropped messages'
    ids and reasons go to XCom key ``dropped_messages``.
    """

    template_fields: Sequence[str] = ("order_statuses", "order_ids")
    ui_color = "#ff9900"

    def __init__(self, *, sp_api_conn_id: str | None = None, order_statuses: Any = None, order_ids: Any = None,
                 watch_cancellations: bool | None = None, export_date: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sp_api_conn_id = sp_api_conn_id
        self.order_statuses = order_statuses
        self.order_ids = order_ids
        self.watch_cancellations = watch_cancellations
        self.export_date = export_date

    def _statuses(self) -> list[str]:
        statuses = as_list(self.order_statuses) or settings.get_list("ORDER_STATUSES")
        watch = self.watch_cancellations
        if watch is None:
            watch = settings.get_bool("WATCH_CANCELLATIONS")
        if watch and "CANCELLED" not in statuses:
            statuses.append("CANCELLED")  # so that an imported order cancelled later is reported, as polling does
        return statuses

    def _unread_events(self, context: Any) -> tuple[list[Any], Any]:
        """The inlet asset's events after the read mark (the first run: from its first triggering event)."""
        from airflow.sdk import Variable

        from amazon_sage.core.events.collect import ReadMark, unread

        mark = ReadMark.from_dict(Variable.get(READ_MARK_VARIABLE, default=None, deserialize_json=True))
        if mark is not None:
            after = mark.after
        else:
            triggering = [event for events in context["triggering_asset_events"].values() for event in events]
            after = min((event.timestamp for event in triggering), default=context["dag_run"].run_after).isoformat()
        events = [event for inlet in self.inlets for event in context["inlet_events"][inlet].after(after)]
        return unread(events, mark)

    def execute(self, context: Any) -> str:
        from amazon_sage.core.events.collect import collect
        from amazon_sage.core.orders.amazon_orders_xml import write_orders_xml
        from amazon_sage.core.orders.download_window import parse_instant
        from amazon_sage.hooks.selling_partner import SellingPartnerHook

        hook = SellingPartnerHook(self.sp_api_conn_id)
        statuses = self._statuses()
        events, mark = self._unread_events(context)
        found = collect([event.extra for event in events], seller_id=hook.seller_id,
                        marketplace_id=hook.marketplace.marketplace_id, imported_statuses=statuses)
        for bad in found.bad:
            self.log.warning("Dropped SQS message %s: %s", bad.message_id, bad.reason)
        # Which messages were dropped and why (never their bodies): the run report and the archive's counts
        # say how many; this says which, for a seller looking for a message in the queue's history.
        context["ti"].xcom_push(key=DROPPED_KEY, value=[{"message_id": bad.message_id, "reason": bad.reason}
                                                        for bad in found.bad])
        for change in found.not_imported:
            self.log.info("Skipped order %s: notified status %s is not imported", change.order_id,
                          change.fulfillment_status)
        wanted = sorted(set(found.order_ids) | set(as_list(self.order_ids)))
        self.log.info("%d SQS messages: %d orders to fetch, %d bad messages dropped, %d duplicates, "
                      "%d not imported", found.messages, len(wanted), len(found.bad), found.duplicates,
                      len(found.not_imported))
        orders, missing, other_status = [], [], 0
        for order_id in wanted:
            order = hook.get_order(order_id)
            if order is None:
                missing.append(order_id)
                self.log.warning("Order %s: Amazon has no such order (getOrder 404)", order_id)
            elif (order.get("fulfillment") or {}).get("fulfillmentStatus") not in statuses:
                other_status += 1  # changed again since the notification, to a status that is not imported
            else:
                orders.append(order)
        output = run_folder_of(context) / OUTPUT_FILE
        export_date = parse_instant(self.export_date if self.export_date is not None else settings.get("EXPORT_DATE"))
        counts = write_orders_xml([{"orders": orders}], output, window={"sellerId": hook.seller_id},
                                  export_date=export_date)
        push_counts(context, PhaseCounts(
            found.messages, counts.written, failed=len(missing),
            skipped=len(found.bad) + found.duplicates + len(found.not_imported) + other_status
            + counts.before_export_date,
            details={"bad_messages": len(found.bad), "duplicates": found.duplicates,
                     "not_imported": len(found.not_imported) + other_status, "orders_fetched": len(wanted)}))
        self.log.info("Download Orders summary: %d fetched with getOrder, %d written, %d not found, "
                      "%d in a status not imported, %d before Export Date", len(wanted), counts.written,
                      len(missing), other_status, counts.before_export_date)
        if mark is not None:  # every order of these events is fetched and written: the next run reads on
            from airflow.sdk import Variable

            Variable.set(READ_MARK_VARIABLE, mark.as_dict(), description="How far amazon_order_events_to_sage has "
                         "read its asset's events (last event time and id).", serialize_json=True)
        if not counts.written:
            raise AirflowSkipException("No order to import from this run's ORDER_CHANGE messages.")
        return str(output)
