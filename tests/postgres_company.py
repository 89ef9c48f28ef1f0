"""The sample Sage company on PostgreSQL through psqlODBC: a server-backed target with real concurrency.

Sage's layout comes from ``include/sample_company/schema.sql`` with its types spelt as
PostgreSQL spells them (DOUBLE -> DOUBLE PRECISION, TINYINT -> SMALLINT, LONG VARCHAR -> TEXT);
its rows are copied from a freshly built SQLite sample company, so both targets hold the same
stock, tax codes and account. Each use gets its own database, dropped afterwards. Nothing is
skipped when PostgreSQL or psqlODBC is missing: the connection error fails the test, as CI has both.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyodbc

from sandbox import PROJECT
from sandbox.sample_company import create_company, odbc_connection_string

SCHEMA = PROJECT / "include" / "sample_company" / "schema.sql"
SERVER = os.environ.get("AMAZON_SAGE_TEST_PG", "Server=127.0.0.1;Port=5432;UID=postgres;")
DRIVER = "PostgreSQL Unicode"
COPIED_TABLES = ("TAX_CODE", "CURRENCY", "SALES_LEDGER", "STOCK", "NOMINAL_LEDGER")
TYPES = ((r"\bDOUBLE\b", "DOUBLE PRECISION"), (r"\bTINYINT\b", "SMALLINT"), (r"\bLONG VARCHAR\b", "TEXT"))


def postgres_connection_string(database: str) -> str:
    return f"Driver={{{DRIVER}}};{SERVER}Database={database};"


def postgres_schema() -> list[str]:
    """The sample company's CREATE statements with PostgreSQL's type names."""
    sql = "\n".join(line for line in SCHEMA.read_text().splitlines() if not line.strip().startswith("--"))
    for pattern, replacement in TYPES:
        sql = re.sub(pattern, replacement, sql)
    return [statement for statement in sql.split(";") if statement.strip()]


def _copy_rows(source: pyodbc.Connection, target: pyodbc.Connection, table: str) -> None:
    cursor = source.execute(f"SELECT * FROM {table}")
    columns = [d[0] for d in cursor.description]
    rows = [tuple(row) for row in cursor.fetchall()]
    if rows:
        target.cursor().executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                                    f"VALUES ({', '.join('?' * len(columns))})", rows)


@contextmanager
def postgres_company(scratch: Path) -> Iterator[str]:
    """Yield the ODBC connection string of a new PostgreSQL database holding the sample company."""
    name = f"sage_test_{uuid.uuid4().hex[:12]}"
    admin = pyodbc.connect(postgres_connection_string("postgres"), autocommit=True)
    try:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            sqlite = pyodbc.connect(odbc_connection_string(create_company(scratch / "seed.db")))
            target = pyodbc.connect(postgres_connection_string(name), autocommit=False)
            try:
                for statement in postgres_schema():
                    target.execute(statement)
                for table in COPIED_TABLES:
                    _copy_rows(sqlite, target, table)
                target.commit()
            finally:
                target.close()
                sqlite.close()
            yield postgres_connection_string(name)
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        admin.close()
