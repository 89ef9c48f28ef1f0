"""Export Stock Records: Sage 50 STOCK -> ``zynk_stock_records.xml`` in the run folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings
from amazon_sage.core.counts import PhaseCounts
from amazon_sage.operators.run_context import push_counts, run_folder_of

OUTPUT_FILE = "zynk_stock_records.xml"


class Sage50ExportStockRecordsOperator(BaseOperator):
    """Write the STOCK records of the run (mode Modified, New or All) as Zynk XML products.

    Zero records is a success with an empty document; the mappers downstream then skip.
    Returns the file's path; XCom key ``counts`` has ``out``, the number of products.
    """

    template_fields: Sequence[str] = ("export_mode",)
    ui_color = "#00b050"

    def __init__(self, *, export_mode: str | None = None, sage_conn_id: str | None = None,
                 published_only: bool | None = None, marketplace_prices: bool = False,
                 sp_api_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.export_mode = export_mode
        self.sage_conn_id = sage_conn_id
        self.published_only = published_only
        self.marketplace_prices = marketplace_prices  # price every marketplace of the SP-API connection
        self.sp_api_conn_id = sp_api_conn_id

    def _pricing(self, connection: Any) -> Any:
        """Prices per marketplace when the Amazon connection lists several marketplaces, or a marketplace takes
        its prices from a Sage price list; else None (the prices mapping prices the one marketplace itself)."""
        from decimal import Decimal

        from amazon_sage.core.feeds.marketplace_prices import PriceMarket
        from amazon_sage.core.marketplaces import MarketplaceError, price_list_table, tax_table
        from amazon_sage.core.sage.price_lists import PriceListError, read_price_lists
        from amazon_sage.core.sage.stock_export import MarketplacePricing, read_exchange_rates
        from amazon_sage.hooks.selling_partner import SellingPartnerHook

        if not self.marketplace_prices:
            return None
        markets = SellingPartnerHook(self.sp_api_conn_id).marketplaces
        try:
            list_refs = price_list_table(settings.get("MARKETPLACE_PRICE_LISTS"))
        except MarketplaceError as exc:
            raise AirflowException(f"{settings.SETTINGS['MARKETPLACE_PRICE_LISTS'].env_var}: {exc}.") from None
        if len(markets) < 2 and not list_refs:
            return None
        try:
            price_lists = read_price_lists(connection, list_refs.values())
        except PriceListError as exc:
            raise AirflowException(f"{exc}.") from None
        rates = read_exchange_rates(connection)
        taxes = tax_table(settings.get("MARKETPLACE_TAX"))
        base_vat = Decimal(settings.get("TAX_RATE"))
        priced = []
        for m in markets:
            price_list = price_lists.get(list_refs.get(m.marketplace_id, ""))
            priced.append(PriceMarket(
                m.marketplace_id, m.currency,
                Decimal(taxes[m.marketplace_id][1]) if m.marketplace_id in taxes else base_vat,
                rates.get(m.currency), price_list=price_list,
                list_rate=rates.get(price_list.currency) if price_list else None))
        return MarketplacePricing(markets=priced, base_vat_rate=base_vat,
                                  includes_tax=settings.get_bool("SALE_PRICE_INCLUDES_TAX"))

    def execute(self, context: Any) -> str:
        import pyodbc

        from amazon_sage.core.sage.stock_export import StockExportError, export_stock, stock_query
        from amazon_sage.hooks.sage50 import Sage50Hook

        mode = str(self.export_mode or settings.get("STOCK_EXPORT_MODE")).strip().capitalize()
        published = self.published_only
        if published is None:
            published = settings.get_bool("STOCK_PUBLISHED_ONLY")
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        try:
            query = stock_query(mode, start=start, end=end, published_only=published, where=settings.get("STOCK_WHERE"))
        except StockExportError as exc:
            raise AirflowException(str(exc)) from None
        hook = Sage50Hook(self.sage_conn_id)
        output = run_folder_of(context) / OUTPUT_FILE
        connection = hook.connect()
        try:
            pricing = self._pricing(connection)
            count = export_stock(connection, query, output, pricing=pricing)
        except pyodbc.Error as exc:
            raise hook.explain(exc) from None
        finally:
            connection.close()
        push_counts(context, PhaseCounts(count, count))
        window = "" if mode == "All" else f" changed from {start} to {end}"
        priced = f", priced for {len(pricing.markets)} marketplaces" if pricing else ""
        self.log.info("Export Stock Records summary: %d products (mode %s%s)%s", count, mode, window, priced)
        return str(output)
