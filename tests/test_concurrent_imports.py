"""Two imports of the same orders at once, on PostgreSQL through psqlODBC and on SQLite: each order lands once.

Only the import's own lock (``order_sql.take_import_lock``) keeps them apart here, not Airflow's
one-slot pool. Without it, on PostgreSQL under READ COMMITTED both imports passed the duplicate
check (orders doubled) or took the same next ORDER_NUMBER (an import failed on the key); on
SQLite, where both read before writing, one import failed with "database is locked".
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pyodbc
import pytest
from lxml import etree

from amazon_sage.core.sage import order_import
from amazon_sage.core.sage.order_import import ImportResult, import_sales_orders
from sandbox.sample_company import create_company, odbc_connection_string
from tests.helpers import IMPORTED, mapped_orders
from tests.postgres_company import postgres_company

ORDERS = 100  # orders per round
ROUNDS = 6  # before the lock, about one round in five doubled an order
ROUND_SEED = 7100


@pytest.fixture(params=["postgresql", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The ODBC connection string of a fresh sample company: on PostgreSQL (psqlODBC), or SQLite."""
    if request.param == "sqlite":
        yield odbc_connection_string(create_company(tmp_path / "sage" / "company.db"))
        return
    with postgres_company(tmp_path) as connection_string:
        yield connection_string


def _rows(connection_string: str, sql: str) -> list[tuple]:
    connection = pyodbc.connect(connection_string, autocommit=True)
    try:
        return [tuple(row) for row in connection.execute(sql).fetchall()]
    finally:
        connection.close()


def _numbers(path: Path) -> dict[str, int]:
    """Amazon order id -> Sage order number, from a success or skipped file."""
    root = etree.parse(str(path)).getroot()
    return {order.findtext("CustomerOrderNumber"): int(order.findtext("SalesOrderNumber"))
            for order in root.iter("SalesOrder") if order.findtext("SalesOrderNumber")}


def _two_imports_at_once(zynk: Path, scratch: Path, connection_string: str) -> list[ImportResult | BaseException]:
    """Run two whole imports of ``zynk`` in two threads, each on its own connection, released together.

    Returns each import's result, or the exception that ended it.
    """
    scratch.mkdir()
    start = threading.Barrier(2, timeout=30)
    results: list[Any] = [None, None]

    def connect() -> Any:
        connection = pyodbc.connect(connection_string, autocommit=False)
        start.wait()  # both are connected: the imports begin at the same moment
        return connection

    def run(slot: int) -> None:
        folder = scratch / f"import{slot}"
        folder.mkdir()
        try:
            results[slot] = import_sales_orders(zynk, folder, connect, import_statuses=IMPORTED)
        except BaseException as exc:  # reported by the main thread
            results[slot] = exc

    threads = [threading.Thread(target=run, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "an import hung"
    return results


def test_two_imports_at_once_write_each_order_exactly_once(tmp_path: Path, target: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Rounds of two racing imports, each round on new orders; every order ends in Sage once."""
    monkeypatch.setattr(order_import, "BATCH", 1)  # a transaction per order: the most chances to interleave
    rounds = [mapped_orders(tmp_path / f"in{n}", count=ORDERS, seed=ROUND_SEED + n) for n in range(ROUNDS)]
    outcomes = [_two_imports_at_once(zynk, tmp_path / f"round{n}", target) for n, (zynk, _) in enumerate(rounds)]

    in_sage = Counter(number for (number,) in _rows(target, "SELECT CUST_ORDER_NUMBER FROM SALES_ORDER"))
    doubled = sorted(number for number, times in in_sage.items() if times > 1)
    failed = [outcome for pair in outcomes for outcome in pair if isinstance(outcome, BaseException)]
    assert not doubled, (f"{len(doubled)} orders are in Sage more than once, e.g. {doubled[:3]} "
                         f"({len(failed)} imports failed)")
    assert not failed, f"{len(failed)} imports failed, e.g. {failed[0]!r}"

    numbers = {cust: number for number, cust in
               _rows(target, "SELECT ORDER_NUMBER, CUST_ORDER_NUMBER FROM SALES_ORDER")}
    for (_, orders), (first, second) in zip(rounds, outcomes, strict=True):
        importable = first.imported + first.duplicates
        assert importable > ORDERS // 2 and second.imported + second.duplicates == importable
        # Each order was imported by exactly one of the two, and the other reports it as a duplicate
        # with the same Sage order number; failures and status skips are the same in both.
        imported = [_numbers(result.success_file) for result in (first, second)]
        skipped = [_numbers(result.skipped_file) for result in (first, second)]
        assert not imported[0].keys() & imported[1].keys()
        assert imported[0] | imported[1] == {o["orderId"]: numbers[o["orderId"]] for o in orders
                                             if o["orderId"] in numbers}
        assert len(imported[0] | imported[1]) == importable
        for mine, theirs in ((0, 1), (1, 0)):
            assert all(skipped[theirs][cust] == number for cust, number in imported[mine].items())
        assert first.duplicates == second.imported and second.duplicates == first.imported
        assert (first.failed, first.skipped - first.duplicates) == (second.failed, second.skipped - second.duplicates)
    assert sorted(numbers.values()) == list(range(1, len(numbers) + 1))  # Sage's next numbers, none lost

    # Whole orders: every line belongs to an order, and each order has as many lines as Amazon's.
    lines = Counter(cust for (cust,) in _rows(target, "SELECT o.CUST_ORDER_NUMBER FROM SOP_ITEM i JOIN "
                                                      "SALES_ORDER o ON o.ORDER_NUMBER = i.ORDER_NUMBER"))
    assert lines == {o["orderId"]: len(o["orderItems"]) for _, orders in rounds for o in orders
                     if o["orderId"] in in_sage}
