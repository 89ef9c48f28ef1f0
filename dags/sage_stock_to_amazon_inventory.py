"""Phase 2 of the Amazon to Sage integration (an Airflow DAG): Sage 50 free stock -> Amazon quantities."""

from __future__ import annotations

from amazon_sage import settings
from amazon_sage.dag_factories.stock_feed import stock_feed_dag

dag = stock_feed_dag(
    feed_name="inventory",
    title="Inventory",
    upload_title="Inventory",
    schedule_setting="INVENTORY_SCHEDULE",
    mapping_setting="INVENTORY_MAPPING",
    parameters=settings.inventory_mapping_parameters(),
    attribute="fulfillment_availability",
    rule="Quantity = free stock = max(0, floor(QTY_IN_STOCK − QTY_ALLOCATED)), exact although Sage keeps doubles. "
         "FBA SKUs (`FBA_SKUS`, and Amazon's FBA inventory report, read at most every `FBA_SKUS_REPORT_HOURS` by "
         "*Read FBA Inventory Report*) get no seller-fulfilled quantity: they are listed in the skipped file.",
    fba_report=True,
)
