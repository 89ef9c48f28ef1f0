"""STOCK_WHERE: only a condition on STOCK's own columns, through the real export over ODBC and in a DAG run."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pyodbc
import pytest
from lxml import etree

from amazon_sage.core.sage.stock_export import StockExportError, export_stock, stock_query
from amazon_sage.core.sage.stock_filter import STOCK_COLUMNS, parse_stock_filter
from sandbox.sample_company import SCHEMA, odbc_connection_string
from tests.helpers import parse_dags, sage_rows

# The attack of issue 13: close the condition, UNION the buyers' orders in as "products", comment out the rest.
UNION_ATTACK = ("1=1) UNION SELECT CUST_ORDER_NUMBER, NAME, INVOICE_GROSS, 0, 0, 0, NULL, 1, NULL, NULL, "
                "DEL_ADDRESS_1, NULL, NULL FROM SALES_ORDER --")
BUYER = "Secret Buyer-Name"

REFUSED = [
    (UNION_ATTACK, r"at character 6: UNION is not allowed"),
    ("WEB_PUBLISH = 1) UNION SELECT NAME, NAME, 0, 0, 0, 0, NULL, 1, NULL, NULL, NULL, NULL, NULL FROM "
     "SALES_ORDER WHERE (1 = 1", r"UNION is not allowed"),
    ("STOCK_CODE IN (SELECT CUST_ORDER_NUMBER FROM SALES_ORDER)", r"at character 16: SELECT is not allowed"),
    ("EXISTS (SELECT 1 FROM SALES_ORDER WHERE NAME LIKE 'S%')", r"at character 1: EXISTS is not allowed"),
    ("STOCK_CODE = 'x' || (SELECT NAME FROM SALES_LEDGER)", r"SELECT is not allowed"),
    ("WEB_PUBLISH = 1; DELETE FROM SALES_ORDER", r"DELETE is not allowed"),
    ("WEB_PUBLISH = 1;", r"at character 16: a semicolon is not allowed"),
    ("WEB_PUBLISH = 1 -- and the rest", r"at character 17: comments \(--, /\* \*/, #\) are not allowed"),
    ("WEB_PUBLISH = 1 /* x */", r"comments .* are not allowed"),
    ("UPPER(STOCK_CODE) = 'MUG'", r"at character 1: function calls are not allowed \(UPPER\(...\)\)"),
    ("load_extension('/tmp/evil.so') = 1", r"function calls are not allowed \(load_extension"),
    ("SALES_ORDER.NAME = 'x'", r"qualified names \(TABLE.COLUMN\) are not allowed"),
    ("NAME LIKE 'S%'", r"NAME is not a column of STOCK"),
    ("STOCK_COD = 'MUG-RED-01'", r"STOCK_COD is not a column of STOCK \(did you mean STOCK_CODE\?\)"),
    ("1=1", r"a comparison must name a STOCK column"),
    ("'a' = 'a' OR WEB_PUBLISH = 1", r"a comparison must name a STOCK column"),
    ("QTY_IN_STOCK - QTY_ALLOCATED > 0", r"arithmetic is not allowed"),
    ("QTY_IN_STOCK * 2 > 0", r"arithmetic or operator '\*' is not allowed"),
    ("\"STOCK_CODE\" = 'A'", r"quoted names"),
    ("STOCK_CODE = 'unclosed", r"a string is not closed"),
    ("WEB_PUBLISH = 1) OR (1 = 1", r"this '\)' closes a parenthesis the condition never opened"),
    ("(WEB_PUBLISH = 1", r"a '\(' is never closed"),
    ("QTY_IN_STOCK > 0x10", r"0x10 is not a number this filter accepts"),
    ("STOCK_CODE IN (STOCK_CODE, 'A')", r"an IN list holds numbers and 'strings' only"),
    ("WEB_PUBLISH = 1 OR", r"expected a STOCK column, a number or a 'string', found the end of the condition"),
    ("WEB_PUBLISH", r"expected a comparison, BETWEEN, IN, LIKE or IS \[NOT\] NULL"),
    ("STOCK_CODE = NULL", r"NULL is not a value here: write column IS NULL"),
]


def _sql(company: Path, sql: str, *params: object) -> None:
    connection = pyodbc.connect(odbc_connection_string(company), autocommit=True)
    try:
        connection.execute(sql, *params)
    finally:
        connection.close()


def _export(company: Path, folder: Path, where: str) -> tuple[list[str], Path]:
    """Export mode All with ``where`` through the real export; the SKUs written, and the file."""
    connection = pyodbc.connect(odbc_connection_string(company))
    output = folder / "zynk_stock_records.xml"
    try:
        export_stock(connection, stock_query("All", start=None, end=None, where=where), output)
    finally:
        connection.close()
    return etree.parse(str(output)).getroot().xpath("//Product/Sku/text()"), output


def _with_a_sales_order(company: Path) -> None:
    _sql(company, "INSERT INTO SALES_ORDER (ORDER_NUMBER, CUST_ORDER_NUMBER, NAME, DEL_ADDRESS_1, INVOICE_GROSS, "
                  "RECORD_DELETED) VALUES (1, '202-1111111-2222222', ?, '1 Private Road', 12.0, 0)", BUYER)


@pytest.mark.parametrize("where, message", REFUSED, ids=[f"refused{n}" for n in range(len(REFUSED))])
def test_injections_are_refused_with_a_message_naming_the_problem(tmp_path: Path, company: Path, where: str,
                                                                   message: str) -> None:
    _with_a_sales_order(company)
    with pytest.raises(StockExportError, match=message) as refused:
        _export(company, tmp_path, where)
    assert str(refused.value).startswith("STOCK_WHERE is refused")
    assert "one condition on STOCK's own columns" in str(refused.value)
    assert not (tmp_path / "zynk_stock_records.xml").exists()  # refused before Sage was asked anything
    assert len(sage_rows(company, "SELECT * FROM SALES_ORDER")) == 1


LEGITIMATE = [
    ("WEB_PUBLISH = 1 AND STOCK_CODE LIKE 'MUG%'",
     lambda r: r["WEB_PUBLISH"] == 1 and r["STOCK_CODE"].startswith("MUG")),
    ("QTY_IN_STOCK > 0 OR STOCK_CODE IN ('MUG-BLU-01','NO-SUCH-SKU')",
     lambda r: (r["QTY_IN_STOCK"] or 0) > 0 or r["STOCK_CODE"] in {"MUG-BLU-01", "NO-SUCH-SKU"}),
    ("not (stock_cat between 2 and 3) and barcode is not null",
     lambda r: not (2 <= (r["STOCK_CAT"] or 0) <= 3) and r["BARCODE"] is not None and r["STOCK_CAT"] is not None),
    ("SALES_PRICE >= 10.5 AND QTY_ALLOCATED <> 0 OR STOCK_CODE NOT LIKE '%-%'",
     lambda r: (r["SALES_PRICE"] >= 10.5 and r["QTY_ALLOCATED"] != 0) or "-" not in r["STOCK_CODE"]),
    ("DESCRIPTION LIKE '%O''Brien%' OR QTY_IN_STOCK BETWEEN -10 AND 2.5",
     lambda r: "O'Brien" in (r["DESCRIPTION"] or "") or (r["QTY_IN_STOCK"] is not None
                                                          and -10 <= r["QTY_IN_STOCK"] <= 2.5)),
    ("STOCK_CAT IS NULL AND NOT WEB_PUBLISH = 0", lambda r: r["STOCK_CAT"] is None and r["WEB_PUBLISH"] != 0),
    ("RECORD_MODIFY_DATE >= '2026-11-26'", lambda r: r["RECORD_MODIFY_DATE"] >= datetime(2026, 11, 26)),
    # A quoting trick stays one string value: it matches no product rather than every one.
    ("STOCK_CODE = 'x'' OR ''1''=''1'", lambda r: False),
]


@pytest.mark.parametrize("where, wanted", LEGITIMATE, ids=[f"condition{n}" for n in range(len(LEGITIMATE))])
def test_conditions_on_stock_export_exactly_their_rows(tmp_path: Path, company: Path, where: str, wanted) -> None:
    _with_a_sales_order(company)
    _sql(company, "UPDATE STOCK SET STOCK_CAT = 2, BARCODE = '5012345678900' WHERE STOCK_CODE LIKE 'TEA%'")
    _sql(company, "UPDATE STOCK SET STOCK_CAT = 7, BARCODE = '5012345678901' WHERE STOCK_CODE LIKE 'MUG%'")
    _sql(company, "UPDATE STOCK SET QTY_ALLOCATED = 1 WHERE STOCK_CODE = 'TOWEL-LINEN-2'")
    _sql(company, "UPDATE STOCK SET WEB_PUBLISH = 0 WHERE STOCK_CODE = 'MUG-RED-01'")
    _sql(company, "UPDATE STOCK SET RECORD_MODIFY_DATE = ? WHERE STOCK_CODE = 'TRAY-OAK-LARGE'",
         datetime(2026, 11, 26, 9, 30))
    _sql(company, "UPDATE STOCK SET DESCRIPTION = 'Mr O''Brien''s spoon' WHERE STOCK_CODE = 'SPOON-BRASS-6'")
    _sql(company, "INSERT INTO STOCK (STOCK_CODE, DESCRIPTION, SALES_PRICE, QTY_IN_STOCK, QTY_ALLOCATED, "
                  "WEB_PUBLISH, RECORD_MODIFY_DATE, RECORD_DELETED) VALUES ('PLAINCODE', 'No dash', 1.5, 0, 0, 1, "
                  "?, 0)", datetime(2026, 1, 2))
    rows = sage_rows(company, "SELECT * FROM STOCK")
    expected = sorted(row["STOCK_CODE"] for row in rows if wanted(row))
    assert len(expected) < len(rows) and (expected or "x''" in where)  # each case really filters
    exported, _ = _export(company, tmp_path, where)
    assert exported == expected
    assert BUYER not in (tmp_path / "zynk_stock_records.xml").read_text()


def test_literals_are_parameters_and_columns_canonical() -> None:
    parsed = parse_stock_filter("web_publish = 1 and (Stock_Code like 'MUG%' or QTY_IN_STOCK != -2.5)")
    assert parsed is not None
    assert parsed.sql == "(WEB_PUBLISH = ? AND (STOCK_CODE LIKE ? OR QTY_IN_STOCK <> ?))"
    assert parsed.params == (1, "MUG%", -2.5)
    assert parse_stock_filter("   ") is None
    query = stock_query("All", start=None, end=None, published_only=True, where="STOCK_CODE IN ('A', 'B')")
    assert query.sql.endswith("WHERE (RECORD_DELETED = 0 OR RECORD_DELETED IS NULL) AND WEB_PUBLISH = 1 AND "
                              "(STOCK_CODE IN (?, ?)) ORDER BY STOCK_CODE")
    assert query.params == ("A", "B")


def test_the_accepted_columns_are_the_sample_companys_stock_columns() -> None:
    table = re.search(r"CREATE TABLE STOCK \((.*?)\n\);", SCHEMA.read_text(), re.S).group(1)
    columns = {line.split()[0] for line in table.strip().splitlines()}
    assert columns == STOCK_COLUMNS


def test_a_refused_stock_where_fails_the_export_task_before_anything_is_sent(product_env, airflow_db, company,
                                                                             sandbox_server, monkeypatch,
                                                                             capfd) -> None:
    _with_a_sales_order(company)
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    monkeypatch.setenv("AMAZON_SAGE_STOCK_WHERE", UNION_ATTACK)
    run = parse_dags()["sage_stock_to_amazon_inventory"].test(run_conf={"export_mode": "All"})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    # The FBA SKUs' refresh beside the export only reads Amazon's report; nothing is sent.
    assert states == {"export_stock_records": "failed", "refresh_fba_skus": "success",
                      "map_inventory": "upstream_failed", "upload_inventory_feed": "upstream_failed",
                      "archive_workflow_data": "upstream_failed"}
    assert sandbox_server.sandbox.feeds_state.feeds == {}
    output = capfd.readouterr()
    assert "STOCK_WHERE is refused at character 6: UNION is not allowed" in output.out + output.err
    assert BUYER not in output.out + output.err



COLUMNS = ["STOCK_CODE", "qty_in_stock", "WEB_PUBLISH", "Sales_Price", "RECORD_MODIFY_DATE"]
VALUES = ["'MUG%'", "'it''s'", "1", "-2.5", "0", "'2026-11-26'"]
INTRUDERS = ["SELECT", "UNION", "FROM", "SALES_ORDER", "NAME", "(", ")", ";", "--", "/*", "'", "0x1", "UPPER(", ".",
             "\"", "||", "*", "-", ",", "=", "NULL", "IS", "1=1", "OR 1=1"]


def _condition(chooser, depth: int = 0) -> str:
    """A random condition of the grammar (so that mutating it yields near misses)."""
    if depth < 2 and chooser.random() < 0.4:
        joined = f" {chooser.choice(['AND', 'OR'])} ".join(_condition(chooser, depth + 1) for _ in range(2))
        return f"({joined})" if chooser.random() < 0.5 else joined
    column, value = chooser.choice(COLUMNS), chooser.choice(VALUES)
    return chooser.choice([
        f"{column} {chooser.choice(['=', '<>', '!=', '<', '<=', '>', '>='])} {value}", f"{value} = {column}",
        f"{column} {chooser.choice(['', 'NOT '])}IN ({value}, {chooser.choice(VALUES)})",
        f"{column} {chooser.choice(['', 'NOT '])}LIKE 'A%'", f"{column} IS {chooser.choice(['', 'NOT '])}NULL",
        f"{column} {chooser.choice(['', 'NOT '])}BETWEEN {value} AND {chooser.choice(VALUES)}",
        f"NOT {column} = {value}", f"{column} = {chooser.choice(COLUMNS)}"])


def test_whatever_is_accepted_is_valid_sql_naming_only_stock_columns(company: Path) -> None:
    """Random conditions, most with a token added or replaced by an intruder: each is refused, or becomes SQL
    of STOCK's columns, keywords and markers only, which SQLite runs."""
    import random

    chooser = random.Random(20261201)
    outcomes = {"accepted": 0, "refused": 0}
    connection = pyodbc.connect(odbc_connection_string(company), autocommit=True)
    try:
        for _ in range(3000):
            tokens = _condition(chooser).split(" ")
            mutation = chooser.random()
            if mutation < 0.3:
                tokens.insert(chooser.randrange(len(tokens) + 1), chooser.choice(INTRUDERS))
            elif mutation < 0.6:
                tokens[chooser.randrange(len(tokens))] = chooser.choice(INTRUDERS)
            text = " ".join(tokens)
            try:
                parsed = parse_stock_filter(text)
            except ValueError:
                outcomes["refused"] += 1
                continue
            outcomes["accepted"] += 1
            words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", parsed.sql))
            assert words <= STOCK_COLUMNS | {"AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "BETWEEN"}, text
            assert set(re.sub(r"[A-Za-z0-9_ ]", "", parsed.sql)) <= set("()?,=<>"), text
            assert parsed.sql.count("?") == len(parsed.params), text
            connection.execute(f"SELECT COUNT(*) FROM STOCK WHERE {parsed.sql}", *parsed.params).fetchone()
    finally:
        connection.close()
    assert outcomes["accepted"] > 800 and outcomes["refused"] > 800, outcomes
