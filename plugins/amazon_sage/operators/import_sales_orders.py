"""Import Sales Orders: Zynk XML sales orders -> Sage 50 SALES_ORDER and SOP_ITEM."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings
from amazon_sage.operators.run_context import as_list, push_counts, push_failed_records, run_folder_of

MAX_LISTED = 50


class Sage50ImportSalesOrdersOperator(BaseOperator):
    """Import each order in one transaction; write success, fail and skipped files.

    Orders already in Sage (by ``CUST_ORDER_NUMBER``) are skipped, not failed. Orders with
    problems go to the fail file and the rest are imported. The task fails only when the
    phase cannot work (unreadable input, Sage unreachable or locked). Returns the success
    file's path; XCom keys ``fail_file``, ``skipped_file`` and ``counts`` carry the rest.
    """

    template_fields: Sequence[str] = ("input_file", "import_statuses")
    ui_color = "#00b050"

    def __init__(self, *, input_file: str, sage_conn_id: str | None = None, import_statuses: Any = None,
                 unknown_sku_action: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_file = input_file
        self.sage_conn_id = sage_conn_id
        self.import_statuses = import_statuses
        self.unknown_sku_action = unknown_sku_action

    def execute(self, context: Any) -> str:
        import pyodbc

        from amazon_sage.core.sage.order_import import ImportInterrupted, import_sales_orders
        from amazon_sage.core.sage.order_sql import ImportLockError
        from amazon_sage.core.xml_files import XmlFileError
        from amazon_sage.hooks.sage50 import Sage50Hook
        from amazon_sage.notifiers.seller_alert import notify_failed_records

        hook = Sage50Hook(self.sage_conn_id)
        statuses = set(as_list(self.import_statuses) or settings.get_list("ORDER_STATUSES"))
        action = self.unknown_sku_action or settings.get("UNKNOWN_SKU_ACTION")
        try:
            result = import_sales_orders(Path(self.input_file), run_folder_of(context), hook.connect,
                                         import_statuses=statuses, unknown_sku_action=action,
                                         helper_processes=settings.get_int("IMPORT_HELPER_PROCESSES"),
                                         mark_cancellations=settings.get_bool("MARK_CANCELLATIONS"))
        except (XmlFileError, ImportLockError) as exc:
            raise AirflowException(str(exc)) from None
        except pyodbc.Error as exc:
            raise hook.explain(exc) from None
        except ImportInterrupted as exc:
            push_counts(context, exc.result.counts())  # the run report shows what did get in
            cause = hook.explain(exc.cause) if isinstance(exc.cause, pyodbc.Error) else exc.cause
            raise AirflowException(f"{cause} {exc.what_happened()}.") from None
        ti = context["ti"]
        ti.xcom_push(key="fail_file", value=str(result.fail_file))
        ti.xcom_push(key="skipped_file", value=str(result.skipped_file))
        counts = result.counts()
        push_counts(context, counts)
        push_failed_records(context, "orders", result.failures)  # the run's note in Airflow
        for order_id, error in result.failures[:MAX_LISTED]:
            self.log.warning("Failed order %s: %s", order_id, error)
        for order_id, number in result.attention_orders:
            self.log.warning("NEEDS ATTENTION: order %s was cancelled on Amazon after import as Sage order %d; "
                             "review it in Sage (nothing was changed)", order_id, number)
        for order_id, number, reason in result.cancellation_requests:
            self.log.warning("NEEDS ATTENTION: the buyer asked Amazon to cancel order %s (%s); check Sage order %d "
                             "before shipping", order_id, reason, number)
        for order_id, message in result.cancelled_after_despatch:
            self.log.warning("CANCELLED AFTER DESPATCH: order %s: %s", order_id, message)
        notify_failed_records(context, "orders", result.failures, counts)
        notify_failed_records(context, "orders cancelled on Amazon after despatch", result.cancelled_after_despatch,
                              counts)
        self.log.info("Import Sales Orders summary: %d in, %d imported, %d failed, %d skipped (%d already in Sage), "
                      "%d cancellations marked in Sage, %d need attention", counts.records_in, counts.records_out,
                      counts.failed, counts.skipped, result.duplicates, result.cancelled_marked, result.attention)
        return str(result.success_file)
