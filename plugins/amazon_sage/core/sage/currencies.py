"""Sage 50's currencies: the company's ``CURRENCY`` table, and amounts converted as Sage converts them.

Sage keeps one base currency (``BASE_CURRENCY = 1``, number 1 in a UK company: GBP) and, for each
other currency, ``RATE``: how many units of it one unit of the base currency buys (a rate of 1.17
for EUR means £1 = €1.17). A foreign-currency document holds its amounts in its own currency in
the ``FOREIGN_*`` columns and in the base currency in the plain ones, with the rate it used in
``FOREIGN_RATE``; the base amount is the foreign amount divided by the rate, to the penny.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from amazon_sage.core.money import pennies


@dataclass(frozen=True)
class Currency:
    number: int
    code: str
    rate: Decimal
    base: bool


def base_currency(currencies: dict[str, Currency]) -> Currency | None:
    """The company's base currency: the one flagged, else number 1 (Sage's first currency is the base)."""
    flagged = [c for c in currencies.values() if c.base]
    if flagged:
        return flagged[0]
    return next((c for c in currencies.values() if c.number == 1), None)


def to_base(amount: Decimal, rate: Decimal) -> Decimal:
    """``amount`` in a currency of ``rate`` (units per base unit), in the base currency to the penny."""
    return amount if rate == 1 else pennies(amount / rate)


def read_currencies(cursor: Any) -> dict[str, Currency]:
    """The company's ``CURRENCY`` table by code (deleted rows and rows without a code left out)."""
    return {str(code).strip().upper(): Currency(int(number), str(code).strip().upper(), Decimal(str(rate or 0)),
                                                bool(base))
            for number, code, rate, base in cursor.execute(
                "SELECT NUMBER, CODE, RATE, BASE_CURRENCY FROM CURRENCY "
                "WHERE (RECORD_DELETED = 0 OR RECORD_DELETED IS NULL) AND CODE IS NOT NULL").fetchall()
            if str(code).strip()}
