"""A Sage price for each marketplace of a region, in its currency, rounded once to its minor unit.

Sage holds one net price (``STOCK.SALES_PRICE``, in the company's base currency). For a marketplace
the price is that net, plus the marketplace's VAT (MARKETPLACE_TAX, else TAX_RATE), converted at the
company's own rate for the marketplace's currency (``CURRENCY.RATE``: units per unit of the base
currency), and only then rounded, half up, to the currency's minor unit: one rounding, in Decimal.
When Sage's price already includes VAT (SALE_PRICE_INCLUDES_TAX) it is first netted at the base
rate. A price that cannot be computed (no price, no rate for the currency) is never sent: it comes
back as an error for the fail file.

A marketplace may take its prices from one of Sage's price lists (MARKETPLACE_PRICE_LISTS; see
:mod:`amazon_sage.core.sage.price_lists`): a product the list holds takes the list's net price, in
the list's currency, plus the marketplace's VAT, converted from the list's currency to the
marketplace's through the company's rates (no conversion when they are the same), rounded once. A
product the list does not hold takes its own sales price, as Sage does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from amazon_sage.core.sage.price_lists import PriceList

ZERO_DECIMAL_CURRENCIES = {"JPY"}  # ISO 4217 minor units: 0 for yen; the region's others have 2


@dataclass(frozen=True)
class PriceMarket:
    """A marketplace the prices feed offers in: its id, currency, VAT rate and Sage's rate (None: no rate)."""

    marketplace_id: str
    currency: str
    vat_rate: Decimal
    exchange_rate: Decimal | None
    price_list: PriceList | None = None
    list_rate: Decimal | None = None  # Sage's rate for the price list's currency


def minor_unit(currency: str) -> Decimal:
    return Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")


def _list_price(sku: str, market: PriceMarket, price_list: PriceList) -> tuple[Decimal | None, str | None]:
    """The marketplace's price from its price list; ``(None, None)`` when the list does not hold the product."""
    net = price_list.prices.get(sku)
    if net is None:
        return None, None
    where = f"price list {price_list.reference}"
    if not price_list.static:
        return None, (f"Sage recalculates the prices of {where} when it shows them, so it stores no settled price: "
                      f"the price for {market.marketplace_id} is not sent. Tick 'Prices remain static' on the list "
                      "in Sage, or take that marketplace out of MARKETPLACE_PRICE_LISTS.")
    if net <= 0:
        return None, f"Price {net} in {where} is not above zero: not sent to Amazon. Correct it in Sage."
    gross = net * (1 + market.vat_rate / 100)
    if price_list.currency != market.currency:
        if not (market.exchange_rate and market.exchange_rate > 0 and market.list_rate and market.list_rate > 0):
            return None, (f"No exchange rate between {price_list.currency} ({where}) and {market.currency} in "
                          f"Sage's currency table: the price for {market.marketplace_id} is not sent.")
        gross = gross * market.exchange_rate / market.list_rate
    return _rounded(gross, market, f"Price {net} {price_list.currency} in {where}")


def _rounded(gross: Decimal, market: PriceMarket, what: str) -> tuple[Decimal | None, str | None]:
    rounded = gross.quantize(minor_unit(market.currency), rounding=ROUND_HALF_UP)
    if rounded <= 0:
        return None, f"{what} rounds to {rounded} {market.currency}: not sent to Amazon."
    return rounded, None


def marketplace_price(sale_price: str | None, market: PriceMarket, *, base_vat_rate: Decimal,
                      includes_tax: bool, sku: str = "") -> tuple[Decimal | None, str | None]:
    """``(price, None)`` for the marketplace, or ``(None, reason)`` when it cannot be computed."""
    if market.price_list is not None:
        price, error = _list_price(sku, market, market.price_list)
        if price is not None or error is not None:
            return price, error
    try:
        price = Decimal(sale_price) if sale_price is not None else None
    except InvalidOperation:
        price = None
    if price is None or price <= 0:
        return None, f"Price {sale_price} is not above zero: not sent to Amazon. Set a sales price in Sage."
    if market.exchange_rate is None or market.exchange_rate <= 0:
        return None, (f"No exchange rate for {market.currency} in Sage's currency table: the price for "
                      f"{market.marketplace_id} is not sent. Add {market.currency} in Sage (Settings > Currencies).")
    net = price / (1 + base_vat_rate / 100) if includes_tax else price
    gross = net * (1 + market.vat_rate / 100) * market.exchange_rate
    return _rounded(gross, market, f"Price {sale_price}")
