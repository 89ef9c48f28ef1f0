"""Import Sales Orders into the sample company through pyodbc and unixODBC's SQLite3 driver."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException
from lxml import etree

from amazon_sage.core.sage.order_import import ImportInterrupted, import_sales_orders
from amazon_sage.core.xml_files import XmlFileError
from amazon_sage.hooks.sage50 import Sage50Hook
from sandbox.airflow_env import sage_connection
from sandbox.order_generator import cancel_items, generate_orders
from tests.helpers import (
    IMPORTED,
    ORDERS_START,
    assert_sage_matches_amazon,
    helper_pids,
    latest_versions,
    mapped_orders,
    sage_rows,
)


def _import(zynk: Path, folder: Path, **kwargs):
    folder.mkdir(parents=True, exist_ok=True)
    return import_sales_orders(zynk, folder, Sage50Hook().connect, import_statuses=IMPORTED, **kwargs)


def test_orders_land_in_sage_row_by_row_to_the_penny(tmp_path, product_env, company) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=60)
    result = _import(zynk, tmp_path / "run1")
    assert_sage_matches_amazon(company, orders)
    importable = len(sage_rows(company, "SELECT ORDER_NUMBER FROM SALES_ORDER"))
    assert result.counts().as_dict() == {"in": 60, "out": importable, "failed": 1, "skipped": 60 - importable - 1,
                                         "duplicates": 0, "attention": 0, "cancelled_marked": 0}
    numbers = [r["ORDER_NUMBER"] for r in sage_rows(company, "SELECT ORDER_NUMBER FROM SALES_ORDER ORDER BY 1")]
    assert numbers == list(range(1, importable + 1))  # Sage's next numbers, in order
    success = etree.parse(str(result.success_file)).getroot()
    assert [int(n) for n in success.xpath("//SalesOrder/SalesOrderNumber/text()")] == numbers


def test_rerun_skips_duplicates_and_reports_them_as_skipped(tmp_path, product_env, company) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=30)
    first = _import(zynk, tmp_path / "run1")
    second = _import(zynk, tmp_path / "run2")
    assert second.imported == 0 and second.failed == first.failed
    assert second.duplicates == first.imported
    skipped = etree.parse(str(second.skipped_file)).getroot()
    warnings = skipped.xpath("//SalesOrder/Warnings/Warning/Description/text()")
    assert sum("Already in Sage as order" in w for w in warnings) == first.imported
    assert_sage_matches_amazon(company, orders)


def test_unknown_sku_fails_that_order_only_with_a_zynk_errors_block(tmp_path, product_env, company) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=10)
    result = _import(zynk, tmp_path / "run")
    failed = etree.parse(str(result.fail_file)).getroot().findall("SalesOrders/SalesOrder")
    assert len(failed) == 1 and failed[0][0].tag == "Errors"
    assert "GIFTSET-AFTERNOON-TEA' is not in Sage's stock list" in failed[0].findtext("Errors/Error/Description")
    assert failed[0].findtext("Id") == orders[5]["orderId"]
    assert result.imported == 7  # 10 less PENDING, CANCELLED and the unknown SKU


def test_unknown_sku_may_be_imported_as_a_special_line(tmp_path, product_env, company) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=10)
    result = _import(zynk, tmp_path / "run", unknown_sku_action="special")
    assert result.failed == 0
    rows = sage_rows(company, "SELECT i.STOCK_CODE, i.DESCRIPTION FROM SOP_ITEM i JOIN SALES_ORDER o "
                              "ON o.ORDER_NUMBER = i.ORDER_NUMBER WHERE o.CUST_ORDER_NUMBER = ?", orders[5]["orderId"])
    assert rows[0]["STOCK_CODE"] == "S1" and rows[0]["DESCRIPTION"] == "Afternoon tea gift set"


def _cancel_after_import(tmp_path, orders):
    """Import ``orders``, then import the first of them again as cancelled; return (Sage row before, result)."""
    zynk, _ = mapped_orders(tmp_path / "in1", versions=orders)
    _import(zynk, tmp_path / "run1")
    cancelled = dict(orders[0], fulfillment={**orders[0]["fulfillment"], "fulfillmentStatus": "CANCELLED"})
    zynk2, _ = mapped_orders(tmp_path / "in2", versions=[cancelled])
    return cancelled, zynk2


def test_cancellation_after_import_can_leave_sage_unchanged(tmp_path, product_env, company) -> None:
    orders = latest_versions(generate_orders(10, ORDERS_START))
    cancelled, zynk2 = _cancel_after_import(tmp_path, orders)
    before = sage_rows(company, "SELECT * FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ?", cancelled["orderId"])
    result = _import(zynk2, tmp_path / "run2", mark_cancellations=False)
    assert result.attention == 1 and result.attention_orders == [(cancelled["orderId"], before[0]["ORDER_NUMBER"])]
    after = sage_rows(company, "SELECT * FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ?", cancelled["orderId"])
    assert after == before
    note = etree.parse(str(result.skipped_file)).getroot().findtext(".//Warnings/Warning/Description")
    assert "Cancelled on Amazon after it was imported" in note


def test_a_cancellation_before_despatch_is_marked_in_the_orders_notes_once(tmp_path, product_env, company) -> None:
    orders = latest_versions(generate_orders(10, ORDERS_START))
    cancelled, zynk2 = _cancel_after_import(tmp_path, orders)
    query = "SELECT * FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ?"
    [before] = sage_rows(company, query, cancelled["orderId"])
    items_before = sage_rows(company, "SELECT * FROM SOP_ITEM WHERE ORDER_NUMBER = ?", before["ORDER_NUMBER"])
    result = _import(zynk2, tmp_path / "run2")
    [after] = sage_rows(company, query, cancelled["orderId"])
    assert result.cancelled_marked == 1 and result.failed == 0 and result.attention == 0
    assert after["NOTES_1"].startswith("CANCELLED ON AMAZON ") and after["NOTES_1"].endswith(": DO NOT SHIP")
    assert (after["NOTES_2"], after["NOTES_3"]) == (before["NOTES_1"] or "", before["NOTES_2"] or "")
    changed = {column for column in before if before[column] != after[column]}
    assert changed <= {"NOTES_1", "NOTES_2", "NOTES_3", "RECORD_MODIFY_DATE"}  # nothing Sage computes
    assert sage_rows(company, "SELECT * FROM SOP_ITEM WHERE ORDER_NUMBER = ?", before["ORDER_NUMBER"]) == items_before
    again = _import(zynk2, tmp_path / "run3")
    assert again.cancelled_marked == 0 and sage_rows(company, query, cancelled["orderId"]) == [after]
    note = etree.parse(str(again.skipped_file)).getroot().findtext(".//Warnings/Warning/Description")
    assert f"Sage order {before['ORDER_NUMBER']} was already marked" in note


def test_a_cancellation_after_despatch_fails_its_record(tmp_path, product_env, company) -> None:
    orders = latest_versions(generate_orders(10, ORDERS_START))
    cancelled, zynk2 = _cancel_after_import(tmp_path, orders)
    [row] = sage_rows(company, "SELECT ORDER_NUMBER FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ?",
                      cancelled["orderId"])
    with sqlite3.connect(company) as db:  # despatched in Sage, in part
        db.execute("UPDATE SOP_ITEM SET QTY_DELIVERED = 1 WHERE ORDER_NUMBER = ? AND ITEM_NUMBER = 1",
                   (row["ORDER_NUMBER"],))
    before = sage_rows(company, "SELECT * FROM SALES_ORDER WHERE ORDER_NUMBER = ?", row["ORDER_NUMBER"])
    result = _import(zynk2, tmp_path / "run2")
    assert result.failed == 1 and result.cancelled_marked == 0
    assert result.cancelled_after_despatch[0][0] == cancelled["orderId"]
    error = etree.parse(str(result.fail_file)).getroot().findtext(".//Errors/Error/Description")
    assert error.startswith("Cancelled on Amazon after despatch: refund or recover.") and "1 delivered" in error
    assert sage_rows(company, "SELECT * FROM SALES_ORDER WHERE ORDER_NUMBER = ?", row["ORDER_NUMBER"]) == before


def test_pending_orders_are_never_imported(tmp_path, product_env, company) -> None:
    orders = latest_versions(generate_orders(10, ORDERS_START))
    pending = orders[2]
    assert pending["fulfillment"]["fulfillmentStatus"] == "PENDING"
    zynk, _ = mapped_orders(tmp_path / "in", versions=[pending])
    result = _import(zynk, tmp_path / "run")
    assert (result.skipped, result.imported, result.failed) == (1, 0, 0)
    assert sage_rows(company, "SELECT COUNT(*) AS N FROM SALES_ORDER")[0]["N"] == 0


def test_long_and_unicode_addresses_fit_sage_lines(tmp_path, product_env, company) -> None:
    orders = latest_versions(generate_orders(10, ORDERS_START))
    zynk, _ = mapped_orders(tmp_path / "in", versions=[orders[1]])
    result = _import(zynk, tmp_path / "run")
    row = sage_rows(company, "SELECT * FROM SALES_ORDER")[0]
    assert row["NAME"] == "Zoë Ní Bhriain-Łukasiewicz 山田"
    lines = [row[f"DEL_ADDRESS_{n}"] for n in range(1, 6)]
    assert all(len(line) <= 60 for line in lines)
    assert lines[0].startswith("Flat 14b, The Old Tannery Buildings")
    assert lines[2].endswith(orders[1]["recipient"]["deliveryAddress"]["city"])
    success = etree.parse(str(result.success_file)).getroot()
    assert "cut to Sage's 60 characters" in success.findtext(".//Warnings/Warning/Description")


def test_missing_company_gives_a_clear_error(tmp_path, product_env, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SAGE50_DEFAULT", sage_connection(tmp_path / "nowhere" / "company.db"))
    with pytest.raises(AirflowException, match="Cannot open the Sage company of connection 'sage50_default'"):
        Sage50Hook().connect()
    assert not (tmp_path / "nowhere" / "company.db").exists()


def test_locked_company_fails_clearly_and_writes_nothing(tmp_path, product_env, company, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SAGE50_DEFAULT",
                       sage_connection(company).replace('"Timeout": "5000"', '"Timeout": "300"'))
    zynk, _ = mapped_orders(tmp_path / "in", count=10)
    other_user = sqlite3.connect(company)
    other_user.execute("BEGIN EXCLUSIVE")
    try:
        hook = Sage50Hook()
        with pytest.raises(Exception) as caught:
            import_sales_orders(zynk, tmp_path / "run", hook.connect, import_statuses=IMPORTED)
        assert "is locked by another user or program" in str(hook.explain(caught.value))
    finally:
        other_user.rollback()
        other_user.close()
    assert sage_rows(company, "SELECT COUNT(*) AS N FROM SALES_ORDER")[0]["N"] == 0
    assert not (tmp_path / "run" / "zynk_orders_success.xml").exists()


KILLABLE_IMPORT = """
import sys
from pathlib import Path
sys.path[:0] = {paths!r}
import pyodbc
from amazon_sage.core.sage.order_import import ImportInterrupted, import_sales_orders
from amazon_sage.core.xml_files import XmlFileError
from sandbox.sample_company import odbc_connection_string
import_sales_orders(Path({zynk!r}), Path({folder!r}),
                    lambda: pyodbc.connect(odbc_connection_string(Path({company!r})), autocommit=False),
                    import_statuses={statuses!r}, helper_processes=1)
"""


def test_killed_import_resumes_exactly_once(tmp_path, product_env, company) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=1500, seed=3)
    run = tmp_path / "run"
    run.mkdir()
    script = KILLABLE_IMPORT.format(paths=sys.path[:2], zynk=str(zynk), folder=str(run), company=str(company),
                                    statuses=IMPORTED)
    child = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        count = sage_rows(company, "SELECT COUNT(*) AS N FROM SALES_ORDER")[0]["N"]
        if count >= 20:
            break
        time.sleep(0.02)
    assert helper_pids(zynk), "the import had no helper process to outlive it"
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 30
    while helper_pids(zynk) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not helper_pids(zynk), "the helper process outlived the killed import"
    partial = sage_rows(company, "SELECT COUNT(*) AS N FROM SALES_ORDER")[0]["N"]
    assert 0 < partial < 1200, "the import was not interrupted in the middle"
    orphans = sage_rows(company, "SELECT COUNT(*) AS N FROM SOP_ITEM WHERE ORDER_NUMBER NOT IN "
                                 "(SELECT ORDER_NUMBER FROM SALES_ORDER)")
    assert orphans[0]["N"] == 0
    result = _import(zynk, run)  # the task's retry, in the same run folder
    assert_sage_matches_amazon(company, orders)
    assert result.imported + result.duplicates == len(sage_rows(company, "SELECT ORDER_NUMBER FROM SALES_ORDER"))


def test_a_file_cut_short_is_refused_before_anything_reaches_sage(tmp_path, product_env, company) -> None:
    """Cut at 60% of its orders, the file fails naming its line, with no order in Sage and no result file."""
    zynk, _ = mapped_orders(tmp_path / "in", count=600, seed=21)
    text = zynk.read_bytes()
    ends = [m.end() for m in re.finditer(rb"</SalesOrder>", text)]
    cut = tmp_path / "cut.xml"
    cut.write_bytes(text[:ends[len(ends) * 6 // 10]])
    with pytest.raises(XmlFileError, match=rf"{cut}:\d+ is not well-formed XML"):
        _import(cut, tmp_path / "run")
    assert sage_rows(company, "SELECT COUNT(*) AS N FROM SALES_ORDER")[0]["N"] == 0
    assert not list((tmp_path / "run").glob("zynk_orders_*.xml"))


def test_a_connection_lost_after_some_orders_lists_them_and_a_retry_finishes_once(tmp_path, product_env, company,
                                                                                  monkeypatch) -> None:
    """Sage goes away mid-import (another program locks it): the success file lists what is in Sage."""
    monkeypatch.setenv("AIRFLOW_CONN_SAGE50_DEFAULT",
                       sage_connection(company).replace('"Timeout": "5000"', '"Timeout": "200"'))
    zynk, orders = mapped_orders(tmp_path / "in", count=1500, seed=22)
    run = tmp_path / "run"
    outcome: dict[str, BaseException] = {}

    def run_import() -> None:
        try:
            _import(zynk, run)
        except BaseException as exc:
            outcome["error"] = exc

    importer = threading.Thread(target=run_import)
    importer.start()
    other_program = sqlite3.connect(company, timeout=30)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not other_program.execute(
                "SELECT COUNT(*) FROM SALES_ORDER").fetchone()[0]:
            time.sleep(0.005)
        other_program.execute("BEGIN EXCLUSIVE")  # holds Sage until the import has given up
        importer.join(60)
    finally:
        other_program.rollback()
        other_program.close()
    error = outcome.get("error")
    assert isinstance(error, ImportInterrupted), error
    partial = sage_rows(company, "SELECT COUNT(*) AS N FROM SALES_ORDER")[0]["N"]
    assert 0 < partial < 1200, "the import was not interrupted in the middle"
    listed = etree.parse(str(run / "zynk_orders_success.xml")).getroot().findall("SalesOrders/SalesOrder")
    assert len(listed) == partial == error.result.imported
    assert f"{partial} orders were committed to Sage" in str(error) and "exactly once" in str(error)
    assert "is locked by another user or program" in str(Sage50Hook().explain(error.cause))

    retried = _import(zynk, run)  # the task's retry, in the same run folder
    assert_sage_matches_amazon(company, orders)
    assert retried.imported == len(sage_rows(company, "SELECT ORDER_NUMBER FROM SALES_ORDER"))
    assert retried.duplicates == 0


@pytest.mark.parametrize(("text", "found"), [
    ("<Orders><SalesOrder><Id>1</Id></SalesOrder></Orders>", "root element is <Orders>"),
    ("<Company><Orders><SalesOrder><Id>1</Id></SalesOrder></Orders></Company>", "<SalesOrder> is inside <Orders>"),
])
def test_orders_where_zynk_does_not_put_them_are_an_error_not_an_empty_import(tmp_path, product_env, company,
                                                                              text, found) -> None:
    zynk = tmp_path / "zynk_orders.xml"
    zynk.write_text(text)
    with pytest.raises(XmlFileError, match=f"{zynk}.*{re.escape(found)}"):
        _import(zynk, tmp_path / "run")
    empty = tmp_path / "empty.xml"
    empty.write_text("<Company><SalesOrders/></Company>")  # a genuinely empty window stays a success
    assert _import(empty, tmp_path / "run2").read == 0


def test_an_entity_reference_fails_its_order_instead_of_emptying_a_field(tmp_path, product_env, company) -> None:
    zynk, _ = mapped_orders(tmp_path / "in", count=10, seed=23)
    text = zynk.read_text(encoding="utf-8")
    first_name = re.search(r"<Forename>([^<]+)</Forename>", text).group(0)
    doctyped = text.replace("<Company", '<!DOCTYPE Company [<!ENTITY who "Mallory">]>\n<Company', 1)
    doctyped = doctyped.replace(first_name, "<Forename>&who;</Forename>", 1)
    zynk.write_text(doctyped, encoding="utf-8")
    first_order = re.search(r"<SalesOrder>\s*<Id>([^<]+)</Id>", text).group(1)
    result = _import(zynk, tmp_path / "run")
    failures = dict(result.failures)
    assert "<Forename> holds the entity reference &who;" in failures[first_order]
    assert sage_rows(company, "SELECT COUNT(*) AS N FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ?",
                     first_order)[0]["N"] == 0


def test_a_buyers_cancellation_request_on_an_open_order_needs_attention(tmp_path, product_env, company) -> None:
    orders = latest_versions(generate_orders(10, ORDERS_START))
    open_order = next(o for o in orders if o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
                      and all(i["product"]["sellerSku"] != "GIFTSET-AFTERNOON-TEA" for i in o["orderItems"]))
    asked = dict(open_order, orderItems=[
        {**item, "cancellation": {"cancellationRequest": {"requester": "BUYER", "cancelReason": "ORDERED_BY_MISTAKE"}}}
        if n == 0 else item for n, item in enumerate(open_order["orderItems"])])
    zynk, _ = mapped_orders(tmp_path / "in", versions=[asked])
    result = _import(zynk, tmp_path / "run")
    [row] = sage_rows(company, "SELECT ORDER_NUMBER FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ?", asked["orderId"])
    assert result.imported == 1 and result.attention == 1
    assert result.cancellation_requests == [(asked["orderId"], row["ORDER_NUMBER"], "BUYER: ORDERED_BY_MISTAKE")]
    warnings = etree.parse(str(result.success_file)).getroot().xpath("//Warning/Description/text()")
    assert any("the buyer asked Amazon to cancel this order (BUYER: ORDERED_BY_MISTAKE)" in w for w in warnings)
    again = _import(zynk, tmp_path / "run2")  # still listed while it stays open and asked
    assert again.duplicates == 1 and again.attention == 1


def _open_order_with_lines(orders, count: int = 2):
    """An unshipped order of at least ``count`` lines, all of products Sage stocks."""
    return next(o for o in orders if o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
                and len(o["orderItems"]) >= count
                and all(i["product"]["sellerSku"] != "GIFTSET-AFTERNOON-TEA" for i in o["orderItems"]))


def _skus(order) -> list[str]:
    return [item["product"]["sellerSku"] for item in order["orderItems"]]


def test_items_cancelled_before_import_are_left_out_of_the_sage_order(tmp_path, product_env, company) -> None:
    orders = latest_versions(generate_orders(60, ORDERS_START))
    order = _open_order_with_lines(orders)
    dropped = _skus(order)[0]
    later = cancel_items(order, {dropped}, ORDERS_START)
    zynk, _ = mapped_orders(tmp_path / "in", versions=[later])
    result = _import(zynk, tmp_path / "run")
    assert result.imported == 1 and result.failed == 0  # lines + carriage still equal what Amazon charged
    [row] = sage_rows(company, "SELECT ORDER_NUMBER FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ?", order["orderId"])
    lines = sage_rows(company, "SELECT STOCK_CODE FROM SOP_ITEM WHERE ORDER_NUMBER = ? ORDER BY ITEM_NUMBER",
                      row["ORDER_NUMBER"])
    assert [line["STOCK_CODE"] for line in lines] == _skus(order)[1:]
    warnings = etree.parse(str(result.success_file)).getroot().xpath("//Warning/Description/text()")
    assert any(w.startswith(f"Cancelled on Amazon before import, so not a line of Sage order {row['ORDER_NUMBER']}: "
                            f"{dropped} x") and "(by BUYER: NO_LONGER_NEEDED)" in w for w in warnings)
    again = _import(zynk, tmp_path / "run2")  # Sage's order has no line of the item: a plain duplicate
    assert again.duplicates == 1 and again.cancelled_marked == 0


def test_items_cancelled_after_import_are_marked_on_their_lines_once(tmp_path, product_env, company) -> None:
    orders = latest_versions(generate_orders(60, ORDERS_START))
    order = _open_order_with_lines(orders)
    zynk, _ = mapped_orders(tmp_path / "in1", versions=[order])
    _import(zynk, tmp_path / "run1")
    [before] = sage_rows(company, "SELECT * FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ?", order["orderId"])
    number = before["ORDER_NUMBER"]
    items_query = "SELECT * FROM SOP_ITEM WHERE ORDER_NUMBER = ? ORDER BY ITEM_NUMBER"
    lines_before = sage_rows(company, items_query, number)
    cancelled = _skus(order)[0]
    zynk2, _ = mapped_orders(tmp_path / "in2", versions=[cancel_items(order, {cancelled}, ORDERS_START)])
    result = _import(zynk2, tmp_path / "run2")
    assert result.cancelled_marked == 1 and result.failed == 0 and result.duplicates == 0
    [after] = sage_rows(company, "SELECT * FROM SALES_ORDER WHERE ORDER_NUMBER = ?", number)
    assert after["NOTES_1"].startswith("ITEMS CANCELLED ON AMAZON ") and len(after["NOTES_1"]) <= 60
    assert (after["NOTES_2"], after["NOTES_3"]) == (before["NOTES_1"] or "", before["NOTES_2"] or "")
    assert {c for c in before if before[c] != after[c]} <= {"NOTES_1", "NOTES_2", "NOTES_3", "RECORD_MODIFY_DATE"}
    lines_after = sage_rows(company, items_query, number)
    for old, new in zip(lines_before, lines_after, strict=True):
        changed = {c for c in old if old[c] != new[c]}
        if old["STOCK_CODE"] == cancelled:
            assert new["COMMENT_1"].startswith("CANCELLED ON AMAZON ") and new["COMMENT_1"].endswith(": DO NOT SHIP")
            assert new["COMMENT_2"] == " / ".join(t for t in (old["COMMENT_1"], old["COMMENT_2"]) if t)
            assert changed <= {"COMMENT_1", "COMMENT_2", "RECORD_MODIFY_DATE"}  # quantities, allocation: Sage's
        else:
            assert not changed
    assert "are now marked" in etree.tostring(etree.parse(str(result.skipped_file)), encoding="unicode")
    again = _import(zynk2, tmp_path / "run3")
    assert again.cancelled_marked == 0 and sage_rows(company, items_query, number) == lines_after
    assert "were already marked" in etree.tostring(etree.parse(str(again.skipped_file)), encoding="unicode")
    # Then Amazon cancels the whole order: its own mark goes on top, the items mark moves down.
    whole = dict(order, fulfillment={**order["fulfillment"], "fulfillmentStatus": "CANCELLED"})
    zynk3, _ = mapped_orders(tmp_path / "in3", versions=[whole])
    assert _import(zynk3, tmp_path / "run4").cancelled_marked == 1
    [last] = sage_rows(company, "SELECT NOTES_1, NOTES_2 FROM SALES_ORDER WHERE ORDER_NUMBER = ?", number)
    assert last["NOTES_1"].startswith("CANCELLED ON AMAZON ") and last["NOTES_2"] == after["NOTES_1"]


def test_an_item_cancelled_after_its_despatch_fails_and_the_rest_are_marked(tmp_path, product_env,
                                                                          company) -> None:
    orders = latest_versions(generate_orders(80, ORDERS_START))
    order = _open_order_with_lines(orders, count=3)
    zynk, _ = mapped_orders(tmp_path / "in1", versions=[order])
    _import(zynk, tmp_path / "run1")
    [row] = sage_rows(company, "SELECT ORDER_NUMBER FROM SALES_ORDER WHERE CUST_ORDER_NUMBER = ?", order["orderId"])
    shipped, still_open = _skus(order)[:2]
    with sqlite3.connect(company) as db:  # Sage has despatched the first line
        db.execute("UPDATE SOP_ITEM SET QTY_DELIVERED = 1 WHERE ORDER_NUMBER = ? AND STOCK_CODE = ?",
                   (row["ORDER_NUMBER"], shipped))
    zynk2, _ = mapped_orders(tmp_path / "in2", versions=[cancel_items(order, {shipped, still_open}, ORDERS_START)])
    result = _import(zynk2, tmp_path / "run2")
    assert result.failed == 1 and [i for i, _ in result.cancelled_after_despatch] == [order["orderId"]]
    error = etree.parse(str(result.fail_file)).getroot().findtext(".//Errors/Error/Description")
    assert error.startswith(f"Cancelled on Amazon after despatch: refund or recover. {shipped} x")
    assert "1 delivered" in error
    comments = {r["STOCK_CODE"]: r["COMMENT_1"] or "" for r in sage_rows(
        company, "SELECT STOCK_CODE, COMMENT_1 FROM SOP_ITEM WHERE ORDER_NUMBER = ?", row["ORDER_NUMBER"])}
    assert comments[still_open].startswith("CANCELLED ON AMAZON ")  # not to be picked
    assert not comments[shipped].startswith("CANCELLED") and result.cancelled_marked == 1
