"""Amazon's marketplaces: code, marketplace id, region and currency, and the seller's choice of them.

The ids and regions are Amazon's (SP-API "Marketplace IDs"; python-amazon-sp-api's ``Marketplaces``
holds the same). One SP-API connection reaches one region's endpoint, so every marketplace of a
connection must be in the same region; :func:`parse_marketplaces` refuses a mix, and a list longer
than the 50 marketplace ids one ``searchOrders`` call takes.
"""

from __future__ import annotations

from dataclasses import dataclass

EUROPE, NORTH_AMERICA, FAR_EAST = "Europe", "North America", "Far East"
MAX_PER_CALL = 50  # marketplaceIds one searchOrders call takes


@dataclass(frozen=True)
class Marketplace:
    code: str
    marketplace_id: str
    region: str
    currency: str
    name: str


MARKETPLACES: dict[str, Marketplace] = {m.code: m for m in (
    Marketplace("UK", "A1F83G8C2ARO7P", EUROPE, "GBP", "Amazon.co.uk"),
    Marketplace("DE", "A1PA6795UKMFR9", EUROPE, "EUR", "Amazon.de"),
    Marketplace("FR", "A13V1IB3VIYZZH", EUROPE, "EUR", "Amazon.fr"),
    Marketplace("IT", "APJ6JRA9NG5V4", EUROPE, "EUR", "Amazon.it"),
    Marketplace("ES", "A1RKKUPIHCS9HS", EUROPE, "EUR", "Amazon.es"),
    Marketplace("NL", "A1805IZSGTT6HS", EUROPE, "EUR", "Amazon.nl"),
    Marketplace("BE", "AMEN7PMS3EDWL", EUROPE, "EUR", "Amazon.com.be"),
    Marketplace("IE", "A28R8C7NBKEWEA", EUROPE, "EUR", "Amazon.ie"),
    Marketplace("SE", "A2NODRKZP88ZB9", EUROPE, "SEK", "Amazon.se"),
    Marketplace("PL", "A1C3SOZRARQ6R3", EUROPE, "PLN", "Amazon.pl"),
    Marketplace("TR", "A33AVAJ2PDY3EV", EUROPE, "TRY", "Amazon.com.tr"),
    Marketplace("AE", "A2VIGQ35RCS4UG", EUROPE, "AED", "Amazon.ae"),
    Marketplace("SA", "A17E79C6D8DWNP", EUROPE, "SAR", "Amazon.sa"),
    Marketplace("EG", "ARBP9OOSHTCHU", EUROPE, "EGP", "Amazon.eg"),
    Marketplace("IN", "A21TJRUUN4KGV", EUROPE, "INR", "Amazon.in"),
    Marketplace("ZA", "AE08WJ6YKNBMC", EUROPE, "ZAR", "Amazon.co.za"),
    Marketplace("US", "ATVPDKIKX0DER", NORTH_AMERICA, "USD", "Amazon.com"),
    Marketplace("CA", "A2EUQ1WTGCTBG2", NORTH_AMERICA, "CAD", "Amazon.ca"),
    Marketplace("MX", "A1AM78C64UM0Y8", NORTH_AMERICA, "MXN", "Amazon.com.mx"),
    Marketplace("BR", "A2Q3Y263D00KWC", NORTH_AMERICA, "BRL", "Amazon.com.br"),
    Marketplace("JP", "A1VC38T7YXB528", FAR_EAST, "JPY", "Amazon.co.jp"),
    Marketplace("AU", "A39IBJ37TRP1C6", FAR_EAST, "AUD", "Amazon.com.au"),
    Marketplace("SG", "A19VAU5U5O7RUS", FAR_EAST, "SGD", "Amazon.sg"),
)}
BY_ID = {m.marketplace_id: m for m in MARKETPLACES.values()}


class MarketplaceError(ValueError):
    """A marketplace list the product cannot serve, with what to change."""


def marketplace(code_or_id: str) -> Marketplace:
    """The marketplace for a country code (``UK``, ``GB``, ``DE``) or a marketplace id."""
    text = code_or_id.strip().upper()
    text = "UK" if text == "GB" else text
    found = MARKETPLACES.get(text) or BY_ID.get(code_or_id.strip())
    if found is None:
        raise MarketplaceError(f"unknown marketplace {code_or_id.strip()!r}: use country codes such as "
                               f"{', '.join(list(MARKETPLACES)[:10])}")
    return found


def parse_marketplaces(value: str) -> list[Marketplace]:
    """The marketplaces of a comma-separated list (``UK,DE,FR``), in order, each once; all in one region."""
    chosen: list[Marketplace] = []
    for part in value.split(","):
        if part.strip() and (found := marketplace(part)) not in chosen:
            chosen.append(found)
    if not chosen:
        raise MarketplaceError("no marketplace given: name at least one, such as UK")
    regions = {m.region for m in chosen}
    if len(regions) > 1:
        listed = ", ".join(f"{m.code} ({m.region})" for m in chosen)
        raise MarketplaceError(f"marketplaces of different regions ({listed}): one connection reaches one region's "
                               "endpoint, so use a connection per region")
    if len(chosen) > MAX_PER_CALL:
        raise MarketplaceError(f"{len(chosen)} marketplaces: one searchOrders call takes at most {MAX_PER_CALL}")
    return chosen


def form_label(found: Marketplace) -> str:
    """How a trigger form names a marketplace: ``Amazon.de (DE, EUR)``."""
    return f"{found.name} ({found.code}, {found.currency})"


def chosen_marketplaces(configured: list[Marketplace], wanted: list[str]) -> list[Marketplace]:
    """The run's marketplaces: those of ``wanted`` (codes or ids), or all ``configured`` when none is wanted.

    Raises :class:`MarketplaceError` for one the connection does not serve, naming those it does.
    """
    if not wanted:
        return list(configured)
    chosen: list[Marketplace] = []
    for code in wanted:
        found = marketplace(code)
        if found not in configured:
            raise MarketplaceError(f"{found.code} is not one of the connection's marketplaces "
                                   f"({', '.join(m.code for m in configured)}): choose from those, or add it to the "
                                   "connection's marketplace extra")
        if found not in chosen:
            chosen.append(found)
    return chosen


def _pairs(value: str, what: str) -> list[tuple[str, str]]:
    pairs = []
    for part in value.split(","):
        if not part.strip():
            continue
        key, sep, item = part.partition("=")
        if not sep or not key.strip() or not item.strip():
            raise MarketplaceError(f"{what}: {part.strip()!r} is not KEY=VALUE")
        pairs.append((key.strip().upper(), item.strip()))
    return pairs


def account_table(value: str) -> dict[str, str]:
    """``DE=AMAZONDE,EUR=AMAZONEU`` -> ``{marketplace id or currency code: Sage account}``.

    A key is a marketplace's country code (looked up by the order's marketplace) or a three-letter
    currency code (by the order's currency, for a marketplace not listed).
    """
    table: dict[str, str] = {}
    for key, account in _pairs(value, "marketplace accounts"):
        if len(account) > 8:
            raise MarketplaceError(f"marketplace accounts: {account!r} is longer than Sage's 8 characters")
        currencies = {m.currency for m in MARKETPLACES.values()}
        table[key if key in currencies and key not in MARKETPLACES else marketplace(key).marketplace_id] = \
            account.upper()
    return table


def price_list_table(value: str) -> dict[str, str]:
    """``DE=AMZDE,FR=AMZFR`` -> ``{marketplace id: Sage price list reference (PRICING_REF)}``."""
    table: dict[str, str] = {}
    for key, reference in _pairs(value, "marketplace price lists"):
        if len(reference) > 8:
            raise MarketplaceError(f"marketplace price lists: {reference!r} is longer than Sage's 8 characters")
        table[marketplace(key).marketplace_id] = reference.upper()
    return table


def tax_table(value: str) -> dict[str, tuple[int, str]]:
    """``DE=T20:19,FR=T21:20`` -> ``{marketplace id: (tax code number, VAT rate)}``."""
    from decimal import Decimal, InvalidOperation

    table: dict[str, tuple[int, str]] = {}
    for key, item in _pairs(value, "marketplace tax codes"):
        code, sep, rate = item.partition(":")
        code = code.strip().upper().removeprefix("T")
        try:
            number, percent = int(code), Decimal(rate.strip())
        except (ValueError, InvalidOperation):
            raise MarketplaceError(f"marketplace tax codes: {item!r} for {key} is not TAX_CODE:RATE, "
                                   "such as T20:19") from None
        if not sep or not 0 <= number <= 99 or not 0 <= percent < 100:
            raise MarketplaceError(f"marketplace tax codes: {item!r} for {key} needs a tax code T0-T99 and a rate "
                                   "below 100, such as T20:19")
        table[marketplace(key).marketplace_id] = (number, f"{percent.normalize():f}")
    return table


def xslt_table(table: dict[str, str]) -> str:
    """A table as the orders mapping reads it: ``;key=value;key=value;``."""
    return "".join(f";{key}={value}" for key, value in table.items()) + ";" if table else ""
