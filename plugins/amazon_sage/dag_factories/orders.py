"""The orders DAG: Amazon orders -> Sage 50 sales orders (Phase 1 of the Amazon to Sage integration)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param

from amazon_sage import settings
from amazon_sage.core.marketplaces import MARKETPLACES, form_label
from amazon_sage.dag_factories.defaults import dag_arguments
from amazon_sage.operators.archive import ArchiveWorkflowDataOperator
from amazon_sage.operators.auto_mapper import AutoMapperOperator
from amazon_sage.operators.download_orders import AmazonDownloadOrdersOperator
from amazon_sage.operators.export_audit_trail import Sage50ExportAuditTrailOperator
from amazon_sage.operators.import_sales_orders import Sage50ImportSalesOrdersOperator

STATUSES = ["PENDING", "UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED", "CANCELLED", "UNFULFILLABLE"]
# What Seller Central calls each status, for the trigger form's multi-select (the values stay Amazon's).
STATUS_LABELS = {"PENDING": "Pending (not yet paid)", "UNSHIPPED": "Unshipped",
                 "PARTIALLY_SHIPPED": "Partially shipped", "SHIPPED": "Shipped", "CANCELLED": "Cancelled",
                 "UNFULFILLABLE": "Unfulfillable"}

DOC = """
### Amazon orders to Sage 50

**Download Orders → Auto Mapper → Import Sales Orders → Archive**, every 15 minutes by default.

* Each run downloads the orders **updated** in its data interval (Orders API v2026-01-01), started a few
  minutes early and capped at now − 2 minutes, maps them with `amazon_orders_to_zynk_sales_orders.xslt`, and
  imports each into Sage in its own transaction. Orders already in Sage (by Amazon order id in
  `CUST_ORDER_NUMBER`) are **skipped**, never doubled.
* With `SAGE_POSTING=audit_trail` (a plain Sage 50, whose ODBC driver only reads), **Export Audit Trail**
  replaces Import Sales Orders: each new order becomes one sales invoice (SI) in
  `amazon_orders_<run id>.csv` in the drop folder, for Sage's *File → Import → Audit trail transactions*.
  Orders already in Sage's audit trail, or exported before and not yet imported, are skipped.
* Files of the run are in `<work root>/amazon_orders_to_sage/<run id>/`: `amazon_orders.xml`,
  `zynk_orders.xml`, `zynk_orders_success.xml`, `zynk_orders_fail.xml` (each order with its errors) and
  `zynk_orders_skipped.xml` (duplicates, statuses not imported, cancellations that need attention).
  The archive task zips them.
* **Backfill** from a Download From date: *Trigger → Backfill*, or
  `airflow backfill create --dag-id amazon_orders_to_sage --from-date 2026-11-01 --to-date 2026-11-02`.
* **Trigger** with nothing filled in to download every order updated since the last successful run's window
  ended, up to now − 2 minutes (Zynk's rolling Download From; the Variable
  `amazon_sage_orders_last_window_end` holds it). **One-off window:** fill in *Download from* / *Download to*.
* **Failed orders** (unknown SKU, wrong account, totals) do not fail the run: it completes, and its **note**
  says *Completed with errors: 2 orders failed: 202-…*, as does the note on *Import Sales Orders*.
* **Retry one phase:** clear the failed task only; it reuses the earlier phases' files. Rerunning any window is
  harmless. Failed orders (e.g. unknown SKU): fix Sage, then clear the run's `import_sales_orders`.
* **Settings** (environment variables `AMAZON_SAGE_*`, listed with their Zynk names in the README):
  `ORDERS_SCHEDULE`, `DOWNLOAD_FROM`, `EXPORT_DATE`, `ORDER_STATUSES`, `WATCH_CANCELLATIONS`,
  `WINDOW_OVERLAP_MINUTES`, the mapping's `ACCOUNT_REFERENCE`, `TAX_CODE`, `TAX_RATE`, `NOMINAL_CODE`,
  `CARRIAGE_CODE`, `TAKEN_BY`, `VAT_INCLUSIVE_ITEM`, `VAT_INCLUSIVE_CARRIAGE`, and `UNKNOWN_SKU_ACTION`.
  Connections: `amazon_sp_api_default`, `sage50_default`.
"""


def orders_into_sage(download_task_id: str) -> AutoMapperOperator:
    """Auto Mapper -> post to Sage -> Archive for the orders ``download_task_id`` wrote; returns the first task.

    The polling DAG and the event DAG share these phases, so both map, post and archive alike.
    """
    map_orders = AutoMapperOperator(
        task_id="map_orders",
        task_display_name="Auto Mapper",
        doc="Map Amazon orders to Zynk XML sales orders with the XSLT mapping.",
        input_file=f"{{{{ ti.xcom_pull(task_ids='{download_task_id}') }}}}",
        mapping=str(settings.mapping_path("ORDERS_MAPPING")),
        output_name="zynk_orders.xml",
        records=("Order", "SalesOrder"),
        parameters=settings.orders_mapping_parameters(),
    )
    post = _sage_posting_task()
    archive = ArchiveWorkflowDataOperator(
        task_id="archive_workflow_data",
        task_display_name="Archive Workflow Data",
        doc="Zip the run's files into the archive, verify, and remove the working folder.",
        trigger_rule="none_failed",
    )
    map_orders >> post >> archive
    return map_orders


def _sage_posting_task() -> Sage50ImportSalesOrdersOperator | Sage50ExportAuditTrailOperator:
    """The phase that posts the mapped orders to Sage, as SAGE_POSTING chooses."""
    posting = settings.get("SAGE_POSTING").strip().lower()
    shared = {"pool": settings.get("SAGE_POOL"), "input_file": "{{ ti.xcom_pull(task_ids='map_orders') }}",
              "import_statuses": "{{ params.order_statuses }}"}
    if posting == "audit_trail":
        return Sage50ExportAuditTrailOperator(
            task_id="export_audit_trail", task_display_name="Export Audit Trail",
            doc="Write each new order once, as a sales invoice, to an audit-trail import file for Sage's "
                "File > Import; write success, fail and skipped files. Sage is only read.", **shared)
    if posting != "sales_orders":
        raise ValueError(f"{settings.SETTINGS['SAGE_POSTING'].env_var}={posting!r}: use sales_orders or audit_trail")
    return Sage50ImportSalesOrdersOperator(
        task_id="import_sales_orders", task_display_name="Import Sales Orders",
        doc="Import each order into Sage 50 in its own transaction; write success, fail and skipped files.", **shared)


def orders_dag() -> DAG:
    """``amazon_orders_to_sage``: download -> map -> import (or export an audit-trail file) -> archive."""
    with DAG(
        dag_id="amazon_orders_to_sage",
        description="Download Amazon orders and import them into Sage 50 as sales orders",
        doc_md=DOC,
        **dag_arguments(schedule_setting="ORDERS_SCHEDULE", tags=["orders"], run_timeout=timedelta(hours=6),
                        task_timeout=timedelta(hours=2)),
        params={
            # Multi-selects allow null: the UI sends null when every choice is cleared, and a type without null
            # would make the field required.
            "download_from": Param(
                None, type=["null", "string"], format="date-time", title="Download from",
                description="Download the orders Amazon updated from this time (UTC). Leave it empty to carry on "
                            "where the last successful run stopped (Zynk's rolling Download From): a manual run "
                            "then downloads everything since, up to now − 2 minutes."),
            "download_to": Param(
                None, type=["null", "string"], format="date-time", title="Download to",
                description="...up to this time (UTC). Leave it empty for now − 2 minutes (Amazon's latest). "
                            "It must be later than 'Download from'."),
            "order_statuses": Param(
                settings.get_list("ORDER_STATUSES"), type=["null", "array"], title="Order statuses to import",
                description="Import orders in these statuses into Sage (none chosen: the ORDER_STATUSES setting). "
                            "Pending orders have no prices yet; "
                            "with WATCH_CANCELLATIONS on, cancelled ones are downloaded anyway, so a cancellation "
                            "of an order already in Sage is reported.",
                items={"type": "string", "enum": STATUSES}, examples=STATUSES, values_display=STATUS_LABELS),
            "marketplaces": Param(
                None, type=["null", "array"], title="Marketplaces",
                description="Download orders from these marketplaces only. None chosen: every marketplace of the "
                            "Amazon connection (its marketplace extra), as scheduled runs do. A run for only some "
                            "of them leaves the rolling Download From where it is, so the next run still covers "
                            "the others.",
                items={"type": "string", "enum": list(MARKETPLACES)}, examples=list(MARKETPLACES),
                values_display={code: form_label(m) for code, m in MARKETPLACES.items()}),
        },
    ) as dag:
        download = AmazonDownloadOrdersOperator(
            task_id="download_orders",
            task_display_name="Download Orders",
            pool=settings.get("SP_API_POOL"),
            doc="Download orders updated in the window from Amazon into amazon_orders.xml.",
            download_from="{{ params.download_from }}",
            download_to="{{ params.download_to }}",
            order_statuses="{{ params.order_statuses }}",
            marketplaces="{{ params.marketplaces }}",
        )
        download >> orders_into_sage("download_orders")
    return dag
