"""The Sage 50 SQL of the sales-order import, over any DB-API connection (pyodbc in production).

The SQL is kept to plain SELECT/INSERT/UPDATE with ``?`` markers so the same statements run on
a write-capable Sage ODBC target and on the sample company. Orders are written in transactions
of whole orders that first take the import lock, then check ``CUST_ORDER_NUMBER`` for the
Amazon order ids, so an order is never half-written and never doubled: not on retry, not after
a crash, not without any state file of ours, and not when two imports run at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from amazon_sage.core.money import pennies
from amazon_sage.core.sage.currencies import read_currencies
from amazon_sage.core.sage.order_rows import CompanyFacts, SageOrderRows, StockItem
from amazon_sage.core.sage.tax_codes import tax_code_id

# The import lock: a no-op UPDATE of tax code T0, a row every Sage company has (its tax codes are
# the fixed list T0-T99) and every import reads. An UPDATE locks its row until the transaction
# ends on every SQL target (PostgreSQL, SQL Server, MySQL, Oracle row locks; SQLite's database
# write lock), so a second import's transaction waits here, before its duplicate check and its
# MAX(ORDER_NUMBER), until the first commits; then it sees the first's orders. Plain SQL, no
# FOR UPDATE or table-lock dialect, and no value changes.
IMPORT_LOCK_SQL = "UPDATE TAX_CODE SET DESCRIPTION = DESCRIPTION WHERE TAX_CODE_ID = 0"
IN_LIMIT = 500  # markers per IN list, well under every driver's parameter limit
MAX_MARKERS = 999  # markers per INSERT: SQLite's historic limit, so any ODBC target takes it


class ImportLockError(Exception):
    """The target has no row to take the import lock on, so the duplicate check could not hold."""


def take_import_lock(cursor: Any) -> None:
    """Lock the company for this transaction's writes (held until commit or rollback).

    Imports wait for each other here, so the duplicate check and the next order number read
    after it see every order a concurrent import committed. Raises :class:`ImportLockError`
    when tax code T0 is missing, rather than writing without the lock.
    """
    cursor.execute(IMPORT_LOCK_SQL)
    if cursor.rowcount == 0:
        raise ImportLockError("Sage's TAX_CODE table has no tax code T0 (TAX_CODE_ID 0), which the import locks so "
                              "that two imports never write the same order twice. Every Sage 50 company has it: "
                              "check that the connection points at a Sage company.")


def read_company_facts(connection: Any) -> CompanyFacts:
    """Read stock codes, tax rates, accounts with their currencies and the currency table; end the read transaction.

    Ending it matters: an open read transaction on SQLite blocks other writers.
    """
    cursor = connection.cursor()
    try:
        stock = {}
        for code, description, tax_code, nominal, unit in cursor.execute(
                "SELECT STOCK_CODE, DESCRIPTION, TAX_CODE, NOMINAL_CODE, UNIT_OF_SALE FROM STOCK "
                "WHERE RECORD_DELETED = 0 OR RECORD_DELETED IS NULL").fetchall():
            stock[code] = StockItem(code, description or "", tax_code_id(tax_code) if tax_code else None,
                                    nominal or "", unit or "")
        rates = {int(code_id): pennies(rate) for code_id, rate in
                 cursor.execute("SELECT TAX_CODE_ID, TAX_RATE FROM TAX_CODE").fetchall()}
        account_currencies = {ref.upper(): int(number) if number is not None else None for ref, number in
                              cursor.execute("SELECT ACCOUNT_REF, CURRENCY FROM SALES_LEDGER "
                                             "WHERE RECORD_DELETED = 0 OR RECORD_DELETED IS NULL").fetchall()}
        currencies = read_currencies(cursor)
    finally:
        cursor.close()
        connection.rollback()
    return CompanyFacts(stock=stock, tax_rates=rates, accounts=set(account_currencies), currencies=currencies,
                        account_currencies={ref: n for ref, n in account_currencies.items() if n is not None})


def find_order_number(cursor: Any, customer_order_number: str) -> int | None:
    row = cursor.execute("SELECT ORDER_NUMBER FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ? "
                         "AND (RECORD_DELETED = 0 OR RECORD_DELETED IS NULL) ORDER BY ORDER_NUMBER",
                         customer_order_number).fetchone()
    return int(row[0]) if row else None


def find_order_numbers(connection: Any, customer_order_numbers: list[str]) -> dict[str, int]:
    """Sage order numbers of the given Amazon order ids that are already in Sage."""
    cursor = connection.cursor()
    try:
        return {number: found for number in customer_order_numbers
                if (found := find_order_number(cursor, number)) is not None}
    finally:
        cursor.close()
        connection.rollback()


def _insert_rows(cursor: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` with few statements: multi-row VALUES, one statement per column set and size.

    Per-statement overhead dominates single-row inserts through ODBC, so rows go in groups of
    up to ``MAX_MARKERS`` parameters.
    """
    groups: dict[tuple[str, ...], list[Any]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row.values())
    for columns, values in groups.items():
        per_statement = max(1, MAX_MARKERS // len(columns))
        marker_row = f"({', '.join('?' * len(columns))})"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        for offset in range(0, len(values), per_statement):
            part = values[offset:offset + per_statement]
            cursor.execute(head + ", ".join([marker_row] * len(part)), [v for row in part for v in row])


def _existing(cursor: Any, customer_order_numbers: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for offset in range(0, len(customer_order_numbers), IN_LIMIT):
        part = customer_order_numbers[offset:offset + IN_LIMIT]
        for number, order in cursor.execute(
                f"SELECT CUST_ORDER_NUMBER, ORDER_NUMBER FROM SALES_ORDER WHERE CUST_ORDER_NUMBER IN "
                f"({', '.join('?' * len(part))}) AND (RECORD_DELETED = 0 OR RECORD_DELETED IS NULL) "
                "ORDER BY ORDER_NUMBER DESC", part).fetchall():
            found[number] = int(order)  # descending, so the lowest (first imported) number wins
    return found


def insert_sales_orders(connection: Any, batch: list[SageOrderRows], *,
                        now: datetime | None = None) -> list[tuple[int, bool]]:
    """Write a batch of orders in one transaction; return ``(order number, inserted)`` for each.

    The rows' values must be column values (``order_rows.column_values``). The transaction first
    takes the import lock (:func:`take_import_lock`), so a concurrent import's transaction waits
    until this one ends. Then every order's ``CUST_ORDER_NUMBER`` is checked; orders already in
    Sage (or earlier in the batch) are not written and come back with the existing number and
    ``inserted=False``. Sage's next order numbers are taken inside the same transaction. The
    transaction holds whole orders only, so a crash or an error rolls back whole orders and
    never leaves half of one; the caller records them only after this returns (after the
    commit).
    """
    stamp = (now or datetime.now()).replace(microsecond=0)
    audit = {"RECORD_CREATE_DATE": stamp, "RECORD_MODIFY_DATE": stamp, "RECORD_DELETED": 0}
    cursor = connection.cursor()
    try:
        take_import_lock(cursor)  # before the check: the check holds only if no other import writes meanwhile
        existing = _existing(cursor, [rows.header["CUST_ORDER_NUMBER"] for rows in batch])
        last = cursor.execute("SELECT MAX(ORDER_NUMBER) FROM SALES_ORDER").fetchone()[0]
        number = int(last or 0)
        outcome: list[tuple[int, bool]] = []
        headers: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        for rows in batch:
            key = rows.header["CUST_ORDER_NUMBER"]
            if key in existing:
                outcome.append((existing[key], False))
                continue
            number += 1
            headers.append({"ORDER_NUMBER": number, **rows.header, **audit})
            items.extend({"ORDER_NUMBER": number, **item, **audit} for item in rows.items)
            existing[key] = number
            outcome.append((number, True))
        _insert_rows(cursor, "SALES_ORDER", headers)
        _insert_rows(cursor, "SOP_ITEM", items)
        connection.commit()
        return outcome
    except BaseException:
        connection.rollback()
        raise
    finally:
        cursor.close()
