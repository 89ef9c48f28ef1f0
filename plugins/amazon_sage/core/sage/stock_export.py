"""Export Stock Records: Sage 50 STOCK rows -> Zynk XML ``Company/Products/Product``.

Modes (Zynk's "Export Modified, New or All Records"): ``Modified`` takes records whose
``RECORD_MODIFY_DATE`` is in the window, ``New`` those whose ``RECORD_CREATE_DATE`` is, ``All``
every record. Deleted records are never exported. ``published_only`` keeps WEB_PUBLISH = 1,
and ``where`` is STOCK_WHERE, an extra condition from the settings (never from run input): it is
parsed by ``stock_filter``'s strict grammar and only the SQL rebuilt from it runs, its literals
as ``?`` parameters, so it can filter STOCK but never reach another table.
Rows are streamed from the cursor into the file, so memory stays flat at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from amazon_sage.core.sage.stock_filter import StockFilterError, parse_stock_filter
from amazon_sage.core.sage.tax_codes import tax_code_id
from amazon_sage.core.sage.zynk_export import record_element, sage_number, sage_time, zynk_document

MODES = ("Modified", "New", "All")
COLUMNS = ("STOCK_CODE", "DESCRIPTION", "SALES_PRICE", "QTY_IN_STOCK", "QTY_ALLOCATED", "QTY_ON_ORDER",
           "TAX_CODE", "WEB_PUBLISH", "RECORD_MODIFY_DATE", "RECORD_CREATE_DATE", "BARCODE", "UNIT_OF_SALE",
           "NOMINAL_CODE")
FETCH = 2000


class StockExportError(Exception):
    pass


@dataclass(frozen=True)
class StockQuery:
    sql: str
    params: tuple[Any, ...]


def stock_query(mode: str, *, start: datetime | None, end: datetime | None, published_only: bool = False,
                where: str = "") -> StockQuery:
    """The SELECT for a mode and window; plain SQL with ``?`` markers.

    Raises :class:`StockExportError` for an unknown mode, a missing window, or a ``where`` the
    STOCK_WHERE grammar refuses (the message says what and where).
    """
    if mode not in MODES:
        raise StockExportError(f"Unknown export mode {mode!r}: use Modified, New or All")
    conditions = ["(RECORD_DELETED = 0 OR RECORD_DELETED IS NULL)"]
    params: list[Any] = []
    if mode != "All":
        if start is None or end is None:
            raise StockExportError(f"Export mode {mode} needs a window (the run's data interval)")
        column = "RECORD_MODIFY_DATE" if mode == "Modified" else "RECORD_CREATE_DATE"
        conditions.append(f"{column} >= ? AND {column} < ?")
        params += [start.replace(tzinfo=None), end.replace(tzinfo=None)]
    if published_only:
        conditions.append("WEB_PUBLISH = 1")
    try:
        extra = parse_stock_filter(where)
    except StockFilterError as exc:
        raise StockExportError(str(exc)) from None
    if extra is not None:
        conditions.append(f"({extra.sql})")
        params += extra.params
    sql = f"SELECT {', '.join(COLUMNS)} FROM STOCK WHERE {' AND '.join(conditions)} ORDER BY STOCK_CODE"
    return StockQuery(sql, tuple(params))


def _product(record: dict[str, Any]) -> etree._Element:
    """One STOCK row as a Zynk ``Product``; a NULL number is ``xsi:nil``."""
    code = record["STOCK_CODE"] or ""
    tax = record["TAX_CODE"]
    return record_element("Product", (
        ("UniqueId", code), ("Sku", code), ("Barcode", record["BARCODE"] or ""),
        ("Name", record["DESCRIPTION"] or ""), ("SalePrice", sage_number(record["SALES_PRICE"])),
        ("QtyInStock", sage_number(record["QTY_IN_STOCK"])),
        ("QtyOnOrder", sage_number(record["QTY_ON_ORDER"])),
        ("TaxCode", str(tax_code_id(tax)) if tax else None),
        ("UnitOfSale", record["UNIT_OF_SALE"] or ""),
        ("NominalCode", record["NOMINAL_CODE"] or ""),
        ("Publish", "true" if record["WEB_PUBLISH"] == 1 else "false"),
        ("QtyAllocated", sage_number(record["QTY_ALLOCATED"])),
        ("DateModified", sage_time(record["RECORD_MODIFY_DATE"])),
    ))


@dataclass(frozen=True)
class MarketplacePricing:
    """Prices per marketplace: each product gets ``MarketplacePrices/Price`` per market (or its reason)."""

    markets: list[Any]  # core.feeds.marketplace_prices.PriceMarket
    base_vat_rate: Decimal
    includes_tax: bool


def _marketplace_prices(product: etree._Element, pricing: MarketplacePricing) -> None:
    from amazon_sage.core.feeds.marketplace_prices import marketplace_price

    sale_price = product.findtext("SalePrice")
    prices = etree.SubElement(product, "MarketplacePrices")
    for market in pricing.markets:
        price, error = marketplace_price(sale_price, market, base_vat_rate=pricing.base_vat_rate,
                                         includes_tax=pricing.includes_tax, sku=product.findtext("Sku") or "")
        element = etree.SubElement(prices, "Price", MarketplaceId=market.marketplace_id, Currency=market.currency)
        if error:
            element.set("Error", error)
        else:
            element.text = format(price, "f")


def read_exchange_rates(connection: Any) -> dict[str, Decimal]:
    """``CURRENCY.RATE`` by code, the base currency at 1; ends the read transaction."""
    from amazon_sage.core.sage.currencies import read_currencies

    cursor = connection.cursor()
    try:
        return {code: Decimal(1) if currency.base else currency.rate
                for code, currency in read_currencies(cursor).items()}
    finally:
        cursor.close()
        connection.rollback()


def export_stock(connection: Any, query: StockQuery, output: Path, *,
                 pricing: MarketplacePricing | None = None) -> int:
    """Write the products of ``query`` to ``output`` and return how many were written.

    With ``pricing``, each product also carries its price for every marketplace (see
    :mod:`amazon_sage.core.feeds.marketplace_prices`), which the prices mapping sends.
    """
    cursor = connection.cursor()
    count = 0
    try:
        cursor.execute(query.sql, *query.params)
        with zynk_document(output, "Products") as xf:
            while rows := cursor.fetchmany(FETCH):
                for row in rows:
                    product = _product(dict(zip(COLUMNS, row, strict=True)))
                    if pricing is not None:
                        _marketplace_prices(product, pricing)
                    xf.write(product)  # one write per product
                    count += 1
    finally:
        cursor.close()
        connection.rollback()  # end the read transaction: it would block Sage's writers
    return count
