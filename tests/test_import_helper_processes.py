"""The import with helper processes reading and checking orders: the same outcome, the same safety."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pyodbc
import pytest
from lxml import etree

from amazon_sage.core.sage.check_helpers import PreparationWorkerError
from amazon_sage.core.sage.order_import import ImportInterrupted, import_sales_orders
from amazon_sage.core.xml_files import XmlFileError
from sandbox.sample_company import create_company, odbc_connection_string
from tests.helpers import IMPORTED, assert_sage_matches_amazon, helper_pids, mapped_orders, sage_rows

TIMESTAMPS = ("RECORD_CREATE_DATE", "RECORD_MODIFY_DATE")


def _import(zynk: Path, folder: Path, company: Path, helpers: int, **kwargs):
    folder.mkdir(parents=True, exist_ok=True)
    return import_sales_orders(zynk, folder, lambda: pyodbc.connect(odbc_connection_string(company), autocommit=False),
                               import_statuses=IMPORTED, helper_processes=helpers, **kwargs)


def _sage(company: Path) -> dict[str, list[dict]]:
    """Every written row of both tables, without the time they were written."""
    return {table: [{k: v for k, v in row.items() if k not in TIMESTAMPS}
                    for row in sage_rows(company, f"SELECT * FROM {table} ORDER BY {order}")]
            for table, order in (("SALES_ORDER", "ORDER_NUMBER"), ("SOP_ITEM", "ORDER_NUMBER, ITEM_NUMBER"))}


def _file_without_dates(path: Path) -> bytes:
    return re.sub(rb"<Date>[^<]*</Date>", b"<Date/>", path.read_bytes())


def test_helpers_import_exactly_what_the_import_alone_does(tmp_path, product_env, company) -> None:
    # 450 orders are chunks of 200, 200 and 50: helper 0, helper 1, then helper 0 again.
    zynk, orders = mapped_orders(tmp_path / "in", count=450, seed=11)
    alone = _import(zynk, tmp_path / "alone", company, helpers=0)
    other = create_company(tmp_path / "sage2" / "company.db")
    helped = _import(zynk, tmp_path / "helped", other, helpers=2)

    assert helped.counts() == alone.counts()
    assert alone.imported > 300 and alone.failed > 0 and alone.skipped > 0  # every outcome is exercised
    assert helped.failures == alone.failures
    assert _sage(other) == _sage(company)
    assert_sage_matches_amazon(other, orders)
    for name in ("success_file", "fail_file", "skipped_file"):
        assert _file_without_dates(getattr(helped, name)) == _file_without_dates(getattr(alone, name)), name


def test_a_file_broken_halfway_fails_the_same_way_with_helpers(tmp_path, product_env, company) -> None:
    zynk, _ = mapped_orders(tmp_path / "in", count=450, seed=12)
    text = zynk.read_bytes()
    cut = [m.start() for m in re.finditer(rb"</SalesOrder>", text)][300]
    broken = tmp_path / "broken.xml"
    broken.write_bytes(text[:cut] + b"</SalesOrdr>" + text[cut + len(b"</SalesOrder>"):])
    line = text[:cut].count(b"\n") + 1

    with pytest.raises(XmlFileError) as alone:
        _import(broken, tmp_path / "alone", company, helpers=0)
    other = create_company(tmp_path / "sage2" / "company.db")
    with pytest.raises(XmlFileError) as helped:
        _import(broken, tmp_path / "helped", other, helpers=1)

    assert str(helped.value) == str(alone.value)
    assert f"{broken}:{line}" in str(helped.value)
    # The whole file is checked before the first write: nothing of it is in Sage, with or without helpers.
    assert _sage(other) == _sage(company) and len(_sage(other)["SALES_ORDER"]) == 0
    assert not (tmp_path / "helped" / "zynk_orders_success.xml").exists()


def test_a_helper_that_dies_fails_the_import_clearly_and_a_retry_finishes_it(tmp_path, product_env, company) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=1500, seed=13)
    run = tmp_path / "run"
    outcome: dict[str, BaseException] = {}

    def run_import() -> None:
        try:
            _import(zynk, run, company, helpers=1)
        except BaseException as exc:
            outcome["error"] = exc

    importer = threading.Thread(target=run_import)
    importer.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
            helper_pids(zynk) and sage_rows(company, "SELECT COUNT(*) AS N FROM SALES_ORDER")[0]["N"]):
        time.sleep(0.01)
    for pid in helper_pids(zynk):
        os.kill(pid, signal.SIGKILL)
    importer.join(60)

    error = outcome.get("error")
    assert isinstance(error, ImportInterrupted) and isinstance(error.cause, PreparationWorkerError), error
    assert "stopped without finishing its orders" in str(error) and "exit code -9" in str(error)
    assert "clear the task to retry" in str(error)
    partial = sage_rows(company, "SELECT COUNT(*) AS N FROM SALES_ORDER")[0]["N"]
    assert 0 < partial < 1200, "the helper was not stopped in the middle"
    # What did get in is listed, and the message says how many and that a retry finishes exactly once.
    assert f"{partial} orders were committed to Sage" in str(error) and "exactly once" in str(error)
    listed = etree.parse(str(run / "zynk_orders_success.xml")).getroot().findall("SalesOrders/SalesOrder")
    assert len(listed) == partial == error.result.imported

    retried = _import(zynk, run, company, helpers=1)  # the task's retry, in the same run folder
    assert_sage_matches_amazon(company, orders)
    assert retried.imported == len(sage_rows(company, "SELECT ORDER_NUMBER FROM SALES_ORDER"))
    assert retried.duplicates == 0  # its own first attempt's orders count as imported, not skipped
    success = etree.parse(str(retried.success_file)).getroot()
    assert len(success.findall("SalesOrders/SalesOrder")) == retried.imported
