"""Free stock and VAT-inclusive prices are exact, whatever binary doubles Sage keeps them in.

Sage 50 stores QTY_IN_STOCK, QTY_ALLOCATED and SALES_PRICE as doubles. Every case goes the whole
way a seller's data goes: a double in the sample company's STOCK table, the export over ODBC, the
customisable mapping and the JSON feed document. Its result is compared with a ``Decimal``
reference worked out from the decimal text that Sage displays for that double.
"""

from __future__ import annotations

import json
import random
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path

import pyodbc
import pytest

from amazon_sage import settings
from amazon_sage.core.feeds.feed_documents import build_feed_documents
from amazon_sage.core.mapping.xslt import apply_mapping
from amazon_sage.core.sage.stock_export import export_stock, stock_query
from sandbox.sample_company import odbc_connection_string

PENNY = Decimal("0.01")
DRAWS = 3000
# Named cases: (in stock, allocated, net price). Each float trap is a difference that IEEE doubles put just
# below a whole number (2.3 - 0.3 = 1.9999999999999998), or a net price stored as 8.32499999...
NAMED = {
    "issue example 3.3 - 0.3": ("3.3", "0.3", "12.00"),
    "2.3 - 0.3 is 1.9999999999999998 in doubles": ("2.3", "0.3", "1.00"),
    "3.3 - 1.3 is 1.9999999999999998 in doubles": ("3.3", "1.3", "1.00"),
    "2.01 - 0.01": ("2.01", "0.01", "1.00"),
    "1.4 - 0.4": ("1.4", "0.4", "1.00"),
    "allocated above in stock": ("2", "5.5", "1.00"),
    "net 10.825 is 12.99 gross at 20%": ("1", "0", "10.825"),
    "net 8.325 (a double of 8.32499...) is 9.99 gross at 20%": ("1", "0", "8.325"),
    "net 6.2417 is 7.49 gross at 20%": ("1", "0", "6.2417"),
    "a whole-pound net": ("40", "0", "10"),
}


def _draw(rng: random.Random, places: int, top: int) -> str:
    """A decimal string with exactly ``places`` decimals (0..places chosen by the caller), below ``top``."""
    whole = rng.randrange(top)
    if places == 0:
        return str(whole)
    return f"{whole}.{rng.randrange(10 ** places):0{places}d}"


def _cases() -> list[tuple[str, str, str]]:
    rng = random.Random(20261201)
    drawn = []
    for _ in range(DRAWS):
        in_stock = _draw(rng, rng.randrange(4), 60)
        # Allocated is drawn around in stock, so that free stock lands above, at and below zero.
        allocated = _draw(rng, rng.randrange(4), 70) if rng.random() < 0.3 else \
            str(max(Decimal(0), Decimal(in_stock) - Decimal(_draw(rng, rng.randrange(4), 4))))
        drawn.append((in_stock, allocated, _draw(rng, rng.randrange(5), 500)))
    return [*NAMED.values(), *drawn]


CASES = _cases()


def _sku(index: int) -> str:
    return f"P{index:05d}"


@pytest.fixture
def stock_records(tmp_path: Path, company: Path) -> Path:
    """The sample company's STOCK holding only CASES, as doubles, exported to Zynk XML."""
    connection = pyodbc.connect(odbc_connection_string(company))
    try:
        connection.execute("DELETE FROM STOCK")
        connection.cursor().executemany(
            "INSERT INTO STOCK (STOCK_CODE, DESCRIPTION, SALES_PRICE, QTY_IN_STOCK, QTY_ALLOCATED, TAX_CODE, "
            "WEB_PUBLISH, RECORD_DELETED) VALUES (?, 'Case', ?, ?, ?, 'T1', 1, 0)",
            [(_sku(n), float(price), float(in_stock), float(allocated))
             for n, (in_stock, allocated, price) in enumerate(CASES)])
        connection.commit()
        output = tmp_path / "zynk_stock_records.xml"
        assert export_stock(connection, stock_query("All", start=None, end=None), output) == len(CASES)
    finally:
        connection.close()
    return output


def _feed_values(records: Path, folder: Path, kind: str, parameters: dict[str, str]) -> tuple[dict, set[str]]:
    """``sku -> the message's patch value`` from the real feed documents, numbers as Decimal, and rejected SKUs."""
    mapped = apply_mapping(records, settings.mapping_path(f"{kind.upper()}_MAPPING"), folder / f"amazon_{kind}.xml",
                           parameters)
    build = build_feed_documents(mapped, seller_id="A1EXAMPLESELLER", out_dir=folder, stem=f"amazon_{kind}_feed")
    values = {}
    for document in build.documents:
        for message in json.loads(document.read_text(), parse_float=Decimal)["messages"]:
            values[message["sku"]] = message["patches"][0]["value"][0]
    return values, {sku for sku, _ in build.rejected}


def free_stock(in_stock: str, allocated: str) -> int:
    return max(0, int((Decimal(in_stock) - Decimal(allocated)).to_integral_value(rounding=ROUND_FLOOR)))


def gross_price(net: str, rate: int, includes_tax: bool) -> Decimal:
    exact = Decimal(net) if includes_tax else Decimal(net) * (100 + rate) / 100
    return exact.quantize(PENNY, rounding=ROUND_HALF_UP)


def test_free_stock_is_exact_for_every_drawn_quantity(stock_records: Path, tmp_path: Path) -> None:
    values, rejected = _feed_values(stock_records, tmp_path, "inventory", settings.inventory_mapping_parameters())
    assert not rejected
    wrong = [(in_stock, allocated, values[_sku(n)]["quantity"]) for n, (in_stock, allocated, _) in enumerate(CASES)
             if values[_sku(n)]["quantity"] != free_stock(in_stock, allocated)]
    assert not wrong, f"{len(wrong)} quantities differ from the Decimal reference, e.g. {wrong[:5]}"


def test_the_named_quantity_cases(stock_records: Path, tmp_path: Path) -> None:
    values, _ = _feed_values(stock_records, tmp_path, "inventory", settings.inventory_mapping_parameters())
    quantities = {name: values[_sku(n)]["quantity"] for n, name in enumerate(NAMED)}
    assert quantities["issue example 3.3 - 0.3"] == 3
    assert quantities["2.3 - 0.3 is 1.9999999999999998 in doubles"] == 2
    assert quantities["3.3 - 1.3 is 1.9999999999999998 in doubles"] == 2
    assert quantities["2.01 - 0.01"] == 2 and quantities["1.4 - 0.4"] == 1
    assert quantities["allocated above in stock"] == 0


@pytest.mark.parametrize("includes_tax", [False, True], ids=["net price", "price includes VAT"])
@pytest.mark.parametrize("rate", [0, 5, 20])
def test_prices_are_exact_for_every_drawn_net(stock_records: Path, tmp_path: Path, rate: int,
                                              includes_tax: bool) -> None:
    parameters = {**settings.prices_mapping_parameters(), "TaxRate": str(rate),
                  "SalePriceIncludesTax": str(includes_tax).lower()}
    values, rejected = _feed_values(stock_records, tmp_path, "prices", parameters)
    wrong = []
    for n, (_, _, net) in enumerate(CASES):
        expected = gross_price(net, rate, includes_tax)
        if expected <= 0:
            if _sku(n) not in rejected:
                wrong.append((net, "sent, though not above zero"))
            continue
        sent = values[_sku(n)]["our_price"][0]["schedule"][0]["value_with_tax"]
        if sent != expected:
            wrong.append((net, sent, expected))
    assert not wrong, f"{len(wrong)} prices differ from the Decimal reference, e.g. {wrong[:5]}"


def test_the_named_price_cases(stock_records: Path, tmp_path: Path) -> None:
    values, _ = _feed_values(stock_records, tmp_path, "prices", {**settings.prices_mapping_parameters(),
                                                                 "TaxRate": "20", "SalePriceIncludesTax": "false"})
    prices = {name: values[_sku(n)]["our_price"][0]["schedule"][0]["value_with_tax"] for n, name in enumerate(NAMED)}
    assert prices["net 10.825 is 12.99 gross at 20%"] == Decimal("12.99")
    assert prices["net 8.325 (a double of 8.32499...) is 9.99 gross at 20%"] == Decimal("9.99")
    assert prices["net 6.2417 is 7.49 gross at 20%"] == Decimal("7.49")
    assert prices["a whole-pound net"] == Decimal("12.00")


def test_a_price_with_vat_already_in_is_rounded_half_up_once(stock_records: Path, tmp_path: Path) -> None:
    values, _ = _feed_values(stock_records, tmp_path, "prices", {**settings.prices_mapping_parameters(),
                                                                 "SalePriceIncludesTax": "true"})
    name = list(NAMED).index("net 8.325 (a double of 8.32499...) is 9.99 gross at 20%")
    assert values[_sku(name)]["our_price"][0]["schedule"][0]["value_with_tax"] == Decimal("8.33")
