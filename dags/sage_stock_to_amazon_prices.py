"""Phase 3 of the Amazon to Sage integration (an Airflow DAG): Sage 50 sales prices -> Amazon prices."""

from __future__ import annotations

from amazon_sage import settings
from amazon_sage.dag_factories.stock_feed import stock_feed_dag

dag = stock_feed_dag(
    feed_name="prices",
    title="Prices",
    upload_title="Price",
    schedule_setting="PRICES_SCHEDULE",
    mapping_setting="PRICES_MAPPING",
    parameters={**settings.prices_mapping_parameters(), "MarketplaceID": "{{ marketplace_id() }}"},
    attribute="purchasable_offer",
    rule="Sage's unrounded net SALES_PRICE plus VAT at TAX_RATE, rounded once, half up, to the penny; a price of "
         "zero or less goes to the fail file.",
)
