"""Money arithmetic in Decimal with the rounding Sage and HMRC use (half up, to the penny)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

PENNY = Decimal("0.01")
ZERO = Decimal("0.00")


def pennies(value: Decimal | float | int | str) -> Decimal:
    """Round to the penny, half up. Floats (Sage's DOUBLE columns) go through their repr."""
    if type(value) is not Decimal:
        value = Decimal(str(value))
    return value.quantize(PENNY, rounding=ROUND_HALF_UP)


def vat_on_net(net: Decimal, rate: Decimal) -> Decimal:
    return pennies(net * rate / 100)
