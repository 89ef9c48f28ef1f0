"""A Sage price for each marketplace of a region, in its currency, rounded once to its minor unit.

Sage holds one net price (``STOCK.SALES_PRICE``, in the company's base currency). For a marketplace
the price is that net, plus the marketplace's VAT (MARKETPLACE_TAX, else TAX_RATE), converted at the
company's own rate for the marketplace's currency (``CURRENCY.RATE``: units per unit of the base
currency), and only then rounded, half up, to the currency's minor unit: one rounding, in Decimal.
When Sage's price already includes VAT (SALE_PRICE_INCLUDES_TAX) it is first netted at the base
rate. A price that cannot be computed (no price, no rate for the currency) is never sent: it comes
back as an error for the fail file.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ZERO_DECIMAL_CURRENCIES = {"JPY"}  # ISO 4217 minor units: 0 for yen; the region's others have 2


@dataclass(frozen=True)
class PriceMarket:
    """A marketplace the prices feed offers in: its id, currency, VAT rate and Sage's rate (None: no rate)."""

    marketplace_id: str
    currency: str
    vat_rate: Decimal
    exchange_rate: Decimal | None


def minor_unit(currency: str) -> Decimal:
    return Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")


def marketplace_price(sale_price: str | None, market: PriceMarket, *, base_vat_rate: Decimal,
                      includes_tax: bool) -> tuple[Decimal | None, str | None]:
    """``(price, None)`` for the marketplace, or ``(None, reason)`` when it cannot be computed."""
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
    rounded = gross.quantize(minor_unit(market.currency), rounding=ROUND_HALF_UP)
    if rounded <= 0:
        return None, f"Price {sale_price} rounds to {rounded} {market.currency}: not sent to Amazon."
    return rounded, None
