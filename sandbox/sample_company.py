"""Build the sample Sage 50 company: a SQLite file with Sage's ODBC tables, through pyodbc.

The schema lives in ``include/sample_company/schema.sql``. Stock matches the sandbox
catalogue except the SKUs marked ``in_sage=False``; tax codes are Sage's UK defaults.

    python -m sandbox.sample_company /path/to/company.db
"""

from __future__ import annotations

import argparse
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyodbc

from sandbox import PROJECT
from sandbox.catalogue import CATALOGUE

SCHEMA = PROJECT / "include" / "sample_company" / "schema.sql"
TAX_CODES = [("T0", 0, "Zero rated", 0.0), ("T1", 1, "Standard rated", 20.0), ("T2", 2, "Exempt", 0.0),
             ("T4", 4, "Sales to VAT registered customers in EC", 0.0), ("T5", 5, "Reduced rate", 5.0),
             ("T9", 9, "Transactions not involving VAT", 0.0),
             # Codes the company set up for its EU sales under the One Stop Shop, at each country's rate.
             ("T20", 20, "OSS Germany", 19.0), ("T21", 21, "OSS France", 20.0), ("T22", 22, "OSS Sweden", 25.0),
             ("T23", 23, "OSS Poland", 23.0)]
ACCOUNT = ("AMAZON", "Amazon UK customers")
# (number, code, symbol, name, EMU member, base, rate: units per £1, major unit, minor unit)
CURRENCIES = [(1, "GBP", "£", "Pound Sterling", 0, 1, 1.0, "Pounds", "Pence"),
              (2, "EUR", "€", "Euro", 1, 0, 1.17, "Euros", "Cents"),
              (3, "USD", "$", "US Dollar", 0, 0, 1.27, "Dollars", "Cents"),
              (4, "SEK", "kr", "Swedish Krona", 0, 0, 13.25, "Kronor", "Ore"),
              (5, "PLN", "zł", "Polish Zloty", 0, 0, 5.0, "Zlotys", "Groszy")]
# Price lists a seller might keep for Amazon: Germany's with static prices in EUR (net), France's recalculated by Sage.
PRICE_LISTS = [("AMZDE", "Amazon.de prices (EUR)", 2, 1), ("AMZFR", "Amazon.fr prices (EUR, calculated)", 2, 0)]
LIST_PRICES = [("AMZDE", "MUG-RED-01", 11.5), ("AMZDE", "TEAPOT-CAST-1L", 33.6134),
               ("AMZDE", "KETTLE-GOOSENECK-08", 0.0), ("AMZFR", "MUG-RED-01", 11.0)]
# A Sage customer account has one currency, so each currency sold in has its own Amazon account.
FOREIGN_ACCOUNTS = [("AMAZONEU", "Amazon EU customers (EUR)", 2), ("AMAZONSE", "Amazon Sweden customers (SEK)", 4),
                    ("AMAZONPL", "Amazon Poland customers (PLN)", 5)]
# The nominal codes the mappings and settings use, named as in Sage 50's default UK chart of accounts.
NOMINAL_CODES = [("1100", "Debtors Control Account"), ("1200", "Bank Current Account"),
                 ("2200", "Sales Tax Control Account"), ("4000", "Sales Type A"), ("4009", "Discounts Allowed"),
                 ("4905", "Distribution and Carriage")]
CREATED = datetime(2026, 1, 1, 9, 0, 0)
NET_PLACES = Decimal("0.0001")  # the company's unit decimal places: net prices to four decimals


# WAL lets readers work while an import writes, and NORMAL syncs at checkpoints rather than at
# every commit: still atomic per transaction and safe against a killed process.
SQLITE_OPTIONS = {"Timeout": "5000", "JournalMode": "WAL", "SyncPragma": "NORMAL"}


def odbc_connection_string(path: Path, *, create: bool = False) -> str:
    options = "".join(f"{key}={value};" for key, value in SQLITE_OPTIONS.items())
    return f"Driver={{SQLite3}};Database={path};{options}{'' if create else 'NoCreat=1;'}"


def create_company(path: Path) -> Path:
    """Create (or replace) the sample company at ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
                     path.with_name(path.name + "-journal")):
        leftover.unlink(missing_ok=True)
    connection = pyodbc.connect(odbc_connection_string(path, create=True))
    try:
        cursor = connection.cursor()
        sql = "\n".join(line for line in SCHEMA.read_text().splitlines() if not line.strip().startswith("--"))
        for statement in sql.split(";"):
            if statement.strip():
                cursor.execute(statement)
        cursor.executemany("INSERT INTO TAX_CODE (TAX_CODE, TAX_CODE_ID, DESCRIPTION, TAX_RATE, VAT_INCLUDE) "
                           "VALUES (?, ?, ?, ?, 1)", TAX_CODES)
        cursor.executemany("INSERT INTO CURRENCY (NUMBER, CODE, SYMBOL, NAME, EMU_MEMBER, BASE_CURRENCY, RATE, "
                           "MAJOR_CURRENCY_UNIT, MINOR_CURRENCY_UNIT, RECORD_CREATE_DATE, RECORD_MODIFY_DATE, "
                           "RECORD_DELETED) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                           [(*currency, CREATED, CREATED) for currency in CURRENCIES])
        cursor.executemany("INSERT INTO SALES_LEDGER (ACCOUNT_REF, NAME, COUNTRY_CODE, CURRENCY, DEF_TAX_CODE, "
                           "DEF_NOM_CODE, RECORD_CREATE_DATE, RECORD_MODIFY_DATE, RECORD_DELETED) "
                           "VALUES (?, ?, ?, ?, 'T1', '4000', ?, ?, 0)",
                           [(*ACCOUNT, "GB", 1, CREATED, CREATED)]
                           + [(ref, name, "", number, CREATED, CREATED) for ref, name, number in FOREIGN_ACCOUNTS])
        cursor.executemany("INSERT INTO NOMINAL_LEDGER (ACCOUNT_REF, NAME, ACCOUNT_TYPE, BALANCE, INACTIVE_FLAG, "
                           "RECORD_CREATE_DATE, RECORD_MODIFY_DATE, RECORD_DELETED) VALUES (?, ?, 0, 0, 0, ?, ?, 0)",
                           [(code, name, CREATED, CREATED) for code, name in NOMINAL_CODES])
        cursor.executemany("INSERT INTO PRICE_LIST (TYPE, PRICING_REF, NAME, CURRENCY, HAS_STATIC_PRICES, "
                           "RECORD_CREATE_DATE, RECORD_MODIFY_DATE, RECORD_DELETED) VALUES ('P', ?, ?, ?, ?, ?, ?, 0)",
                           [(*price_list, CREATED, CREATED) for price_list in PRICE_LISTS])
        cursor.executemany("INSERT INTO PRICE (TYPE, PRICING_REF, STOCK_CODE, CALC_METHOD, CALC_VALUE, STORED_PRICE, "
                           "RECORD_CREATE_DATE, RECORD_MODIFY_DATE, RECORD_DELETED) "
                           "VALUES ('P', ?, ?, 0, ?, ?, ?, ?, 0)",
                           [(ref, code, price, price, CREATED, CREATED) for ref, code, price in LIST_PRICES])
        for number, product in enumerate((p for p in CATALOGUE if p.in_sage), 1):
            net = float((product.price / Decimal("1.2")).quantize(NET_PLACES, rounding=ROUND_HALF_UP))
            cursor.execute(
                "INSERT INTO STOCK (STOCK_CODE, DESCRIPTION, UNIT_OF_SALE, NOMINAL_CODE, SALES_PRICE, QTY_IN_STOCK, "
                "QTY_ALLOCATED, QTY_ON_ORDER, TAX_CODE, WEB_PUBLISH, WEB_SPECIAL, INACTIVE_FLAG, THIS_RECORD, "
                "RECORD_CREATE_DATE, RECORD_MODIFY_DATE, RECORD_DELETED) "
                "VALUES (?, ?, 'Each', '4000', ?, ?, ?, 0, 'T1', 1, 0, 0, ?, ?, ?, 0)",
                (product.sku, product.title[:60], net, float(product.quantity), float(product.allocated), number,
                 CREATED, CREATED))
        connection.commit()
    finally:
        connection.close()
    path.chmod(0o600)
    return path


def despatch_order(path: Path, cust_order_number: str, quantities: dict[str, float] | None = None, *,
                   courier: str, consignment: str, when: datetime, courier_number: int = 1) -> dict[str, float]:
    """Despatch Sage sales order ``cust_order_number`` as Sage's *Despatch* does; return each SKU's units despatched.

    ``quantities`` maps a line's STOCK_CODE to the units despatched now (None: everything not yet
    despatched). Each line's ``QTY_DELIVERED`` grows by its units, ``QTY_LAST_DESPATCH`` holds them
    and ``QTY_DESPATCH`` is cleared; the order gets ``DESPATCH_STATUS`` ``Part`` or ``Complete``,
    ``DESPATCH_DATE``, the courier and the consignment (tracking) number of this despatch, and
    ``when`` as ``RECORD_MODIFY_DATE``, in one transaction.
    """
    connection = pyodbc.connect(odbc_connection_string(path))
    try:
        cursor = connection.cursor()
        [order_number] = cursor.execute("SELECT ORDER_NUMBER FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ?",
                                        cust_order_number).fetchone()
        lines = cursor.execute("SELECT ITEM_NUMBER, STOCK_CODE, QTY_ORDER, QTY_DELIVERED FROM SOP_ITEM "
                               "WHERE ORDER_NUMBER = ? ORDER BY ITEM_NUMBER", order_number).fetchall()
        despatched: dict[str, float] = {}
        for item_number, sku, ordered, delivered in lines:
            delivered = delivered or 0.0
            units = ordered - delivered if quantities is None else quantities.get(sku, 0.0)
            if units < 0 or delivered + units > ordered:
                raise ValueError(f"{sku}: cannot despatch {units} of {ordered} with {delivered} delivered")
            cursor.execute("UPDATE SOP_ITEM SET QTY_DELIVERED = ?, QTY_LAST_DESPATCH = ?, QTY_DESPATCH = 0, "
                           "RECORD_MODIFY_DATE = ? WHERE ORDER_NUMBER = ? AND ITEM_NUMBER = ?",
                           delivered + units, units, when, order_number, item_number)
            despatched[sku] = despatched.get(sku, 0.0) + units
        [(ordered, delivered)] = cursor.execute("SELECT SUM(QTY_ORDER), SUM(QTY_DELIVERED) FROM SOP_ITEM "
                                                "WHERE ORDER_NUMBER = ?", order_number).fetchall()
        complete = float(delivered) >= float(ordered)
        cursor.execute("UPDATE SALES_ORDER SET DESPATCH_STATUS = ?, DESPATCH_STATUS_CODE = ?, DESPATCH_DATE = ?, "
                       "COURIER_NAME = ?, COURIER_NUMBER = ?, CONSIGNMENT = ?, RECORD_MODIFY_DATE = ? "
                       "WHERE ORDER_NUMBER = ?", "Complete" if complete else "Part", 2 if complete else 1,
                       when.date(), courier, courier_number, consignment, when, order_number)
        connection.commit()
        return despatched
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    print(create_company(parser.parse_args().path.resolve()))


if __name__ == "__main__":
    main()
