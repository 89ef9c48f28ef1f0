"""Sage 50 price lists, read for the marketplaces that take their prices from one (MARKETPLACE_PRICE_LISTS).

Sage keeps a customer price list in ``PRICE_LIST`` (``PRICING_REF``, ``NAME``, ``CURRENCY``: the
currency's number in ``CURRENCY``, and ``HAS_STATIC_PRICES``: Sage's "Prices remain static") and its
products in ``PRICE`` (``TYPE`` 'P' for a price-list price, ``PRICING_REF``, ``STOCK_CODE``, and
``STORED_PRICE``, the price Sage stored for the product). Column names are those of Sage's ODBC
tables as Webxel's exporter and Making I.T. Happen's field lists publish them.

Only a static list's ``STORED_PRICE`` is a price as Sage shows it. A list whose prices Sage
recalculates (from ``CALC_METHOD``/``CALC_VALUE`` and its rounder, on the product's current price
or cost) stores no settled figure, and Sage publishes no table of those methods to compute from,
so such a list is read but each of its prices is refused with the reason (see
:func:`amazon_sage.core.feeds.marketplace_prices.marketplace_price`). Like Sage, a product the
list does not hold takes the product's own sales price. Price-list prices are net of VAT, as
Sage's prices are; the marketplace's VAT is added to them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from amazon_sage.core.sage.currencies import read_currencies

PRICE_LIST_PRICE = "P"  # PRICE.TYPE of a customer price-list price (S: a customer's special price)


class PriceListError(Exception):
    """A configured price list Sage does not have, or one in a currency the company does not have."""


@dataclass(frozen=True)
class PriceList:
    """One of Sage's price lists: its reference, currency code, whether its prices are static, and its prices."""

    reference: str
    name: str
    currency: str
    static: bool
    prices: dict[str, Decimal] = field(default_factory=dict, compare=False)  # by STOCK_CODE


def read_price_lists(connection: Any, references: Collection[str]) -> dict[str, PriceList]:
    """The price lists named by ``references`` with their prices, by reference; ends the read transaction.

    Raises :class:`PriceListError` naming a reference Sage does not hold (or holds as deleted), or a
    list whose currency number is not in the company's ``CURRENCY`` table.
    """
    wanted = sorted({reference.strip().upper() for reference in references if reference.strip()})
    if not wanted:
        return {}
    cursor = connection.cursor()
    try:
        by_number = {currency.number: currency.code for currency in read_currencies(cursor).values()}
        marks = ", ".join("?" for _ in wanted)
        lists: dict[str, PriceList] = {}
        for reference, name, number, static in cursor.execute(
                f"SELECT PRICING_REF, NAME, CURRENCY, HAS_STATIC_PRICES FROM PRICE_LIST WHERE PRICING_REF IN ({marks}) "
                "AND (RECORD_DELETED = 0 OR RECORD_DELETED IS NULL)", *wanted).fetchall():
            code = by_number.get(int(number or 1))
            if code is None:
                raise PriceListError(f"Sage's price list {reference} is in currency number {number}, which is not in "
                                     "the company's currency table (Settings > Currencies)")
            lists[str(reference).strip().upper()] = PriceList(str(reference).strip().upper(), str(name or ""), code,
                                                              bool(static))
        missing = [reference for reference in wanted if reference not in lists]
        if missing:
            raise PriceListError(f"Sage has no price list {', '.join(missing)} (PRICE_LIST.PRICING_REF): create it in "
                                 "Sage, or correct MARKETPLACE_PRICE_LISTS")
        for reference, stock_code, stored in cursor.execute(
                f"SELECT PRICING_REF, STOCK_CODE, STORED_PRICE FROM PRICE WHERE TYPE = ? AND PRICING_REF IN ({marks}) "
                "AND (RECORD_DELETED = 0 OR RECORD_DELETED IS NULL)", PRICE_LIST_PRICE, *wanted).fetchall():
            if stored is not None:
                # repr gives the shortest text that reads back as the same double: Sage's figure, not its binary tail
                lists[str(reference).strip().upper()].prices[str(stock_code)] = Decimal(repr(float(stored)))
        return lists
    finally:
        cursor.close()
        connection.rollback()
