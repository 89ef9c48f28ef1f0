"""Amazon's FBA inventory report: the parser, the hook against the sandbox, and the inventory DAG that uses it.

FBA SKUs must get no seller-fulfilled (DEFAULT) quantity: such a quantity can switch an FBA offer to
seller-fulfilled. The DAG knows them from FBA_SKUS and from the report, cached for FBA_SKUS_REPORT_HOURS.
"""

from __future__ import annotations

import gzip
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from amazon_sage.core.feeds.fba_inventory import REPORT_TYPE, FbaReportError, parse_fba_inventory
from amazon_sage.core.feeds.fba_sku_cache import (
    FbaSkuCache,
    cache_path,
    failure_path,
    last_failure,
    note_failure,
    read_cache,
    retry_after,
    write_cache,
)

HEADER = ("sku\tfnsku\tasin\tproduct-name\tcondition\tyour-price\tmfn-listing-exists\tmfn-fulfillable-quantity\t"
          "afn-listing-exists\tafn-warehouse-quantity\tafn-fulfillable-quantity")


# -- the parser ----------------------------------------------------------------------------------


def test_parses_by_header_names_whatever_their_order_and_extra_columns() -> None:
    report = (b"afn-listing-exists\tproduct-name\tbrand-new-column\tSKU \n"
              b"Yes\tRed mug \"350ml\tx\tMUG-RED-01\n"
              b"No\tTeapot\tx\tTEAPOT-CAST-1L\n"
              b"\n"
              b"yes\tTowels\tx\tTOWEL-LINEN-2\n"
              b"Yes\tNo SKU\tx\t\n")
    inventory = parse_fba_inventory(report)
    assert inventory.skus == {"MUG-RED-01", "TOWEL-LINEN-2"}
    assert (inventory.rows, inventory.encoding) == (3, "utf-8")


def test_reads_cp1252_when_the_report_is_not_utf8() -> None:
    row = "TOWEL-LINEN-2\tX001\tB0EXAMPLE6\tLinen tea towels (pair) – natural, Café ×2\tNew\t12.99\tNo\t\tYes\t3\t3"
    inventory = parse_fba_inventory(f"{HEADER}\r\n{row}\r\n".encode("cp1252"))
    assert inventory.skus == {"TOWEL-LINEN-2"} and inventory.encoding == "cp1252"
    assert parse_fba_inventory(f"\ufeff{HEADER}\n{row}\n".encode()).encoding == "utf-8"  # with a BOM


@pytest.mark.parametrize("header, missing", [("sku\tasin\tproduct-name", "'afn-listing-exists'"),
                                             ("fnsku\tafn-listing-exists", "'sku'"),
                                             ("", "'sku' or 'afn-listing-exists'")])
def test_a_report_without_the_sku_or_afn_column_is_a_clear_error(header: str, missing: str) -> None:
    with pytest.raises(FbaReportError, match=f"has no {missing} column"):
        parse_fba_inventory(f"{header}\nMUG-RED-01\tYes\n".encode())
    with pytest.raises(FbaReportError, match="no header row"):
        parse_fba_inventory(b"")


def test_the_cache_is_private_and_holds_skus_only(tmp_path: Path) -> None:
    path = cache_path(tmp_path / "work")
    when = datetime(2026, 12, 2, 4, 40, tzinfo=UTC)
    write_cache(path, FbaSkuCache(frozenset({"B", "A"}), when, "600"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cache = read_cache(path)
    assert cache == FbaSkuCache(frozenset({"A", "B"}), when, "600") and cache.as_of() == "2026-12-02 04:40 UTC"
    assert cache.is_fresh(when + timedelta(hours=23), 24) and not cache.is_fresh(when + timedelta(hours=24), 24)
    path.write_text("{broken")
    assert read_cache(path) is None
    assert retry_after(24) == timedelta(hours=1) and retry_after(0.5) == timedelta(minutes=30)


def test_the_report_hours_setting_is_checked(monkeypatch) -> None:
    from amazon_sage import settings

    assert settings.fba_skus_report_hours() == 24
    for bad in ("-1", "soon", "nan", "inf"):
        monkeypatch.setenv("AMAZON_SAGE_FBA_SKUS_REPORT_HOURS", bad)
        with pytest.raises(ValueError, match="AMAZON_SAGE_FBA_SKUS_REPORT_HOURS"):
            settings.fba_skus_report_hours()


def test_the_sandbox_checks_create_report_against_the_model_and_moves_reports_along() -> None:
    import time

    from sandbox.sp_api_reports import ReportsError
    from sandbox.sp_api_server import Sandbox

    sandbox = Sandbox()
    uk = "A1F83G8C2ARO7P"
    for body, problem in (({"reportType": REPORT_TYPE}, "'marketplaceIds' is a required property"),
                          ({"reportType": REPORT_TYPE, "marketplaceIds": []}, "non-empty at marketplaceIds"),
                          ({"reportType": REPORT_TYPE, "marketplaceIds": [uk], "MarketplaceIds": [uk]},
                           "Unknown field(s): MarketplaceIds"),
                          ({"reportType": REPORT_TYPE, "marketplaceIds": ["XX"]}, "Invalid marketplaceIds: XX")):
        with pytest.raises(ReportsError, match=problem.replace("(", r"\(").replace(")", r"\)")):
            sandbox.create_report(body)
    sandbox.configure({"report_processing_delay": 0.2, "fba_skus": ["MUG-RED-01"]})
    report_id = sandbox.create_report({"reportType": REPORT_TYPE, "marketplaceIds": [uk]})["reportId"]
    assert sandbox.get_report(report_id)["processingStatus"] == "IN_QUEUE"
    time.sleep(0.25)
    done = sandbox.get_report(report_id)
    assert done["processingStatus"] == "DONE" and "processingEndTime" in done
    document = sandbox.get_report_document(done["reportDocumentId"], "http://sandbox")
    assert "compressionAlgorithm" not in document and document["url"].startswith("http://sandbox/_report_downloads/")
    with pytest.raises(ReportsError, match="not found"):
        sandbox.get_report("404")


# -- the hook against the sandbox ----------------------------------------------------------------


def _wait_done(hook, report_id: str) -> dict:
    import time

    for _ in range(100):
        report = hook.get_report(report_id)
        if report["processingStatus"] in {"DONE", "CANCELLED", "FATAL"}:
            return report
        time.sleep(0.05)
    raise AssertionError(f"report {report_id} never finished")


@pytest.mark.parametrize("gzipped", [False, True])
def test_hook_round_trip_through_the_sandbox(product_env, sandbox_server, gzipped: bool) -> None:
    from amazon_sage.hooks.selling_partner import SellingPartnerHook

    sandbox = sandbox_server.sandbox
    sandbox.configure({"fba_skus": ["MUG-RED-01", "TOWEL-LINEN-2", "FBA-ONLY-9"], "report_gzip": gzipped})
    hook = SellingPartnerHook()
    report = _wait_done(hook, hook.create_report(REPORT_TYPE))
    assert report["processingStatus"] == "DONE"
    data = hook.download_report(report["reportDocumentId"])
    assert not data.startswith(b"\x1f\x8b")  # the hook gunzipped what Amazon said was GZIP
    inventory = parse_fba_inventory(data)
    assert inventory.skus == {"MUG-RED-01", "TOWEL-LINEN-2", "FBA-ONLY-9"}
    assert inventory.encoding == "cp1252"  # "Linen tea towels (pair) – natural" is not UTF-8 in Amazon's file
    stored = sandbox.reports_state.documents[report["reportDocumentId"]][0]
    assert stored.startswith(b"\x1f\x8b") == gzipped and (gzip.decompress(stored) if gzipped else stored) == data
    assert sandbox.state.calls["createReport"] == 1 and sandbox.state.calls["getReportDocument"] == 1


def test_hook_sees_a_cancelled_report_and_a_refused_request(product_env, sandbox_server) -> None:
    from airflow.sdk.exceptions import AirflowException

    from amazon_sage.hooks.selling_partner import SellingPartnerHook

    hook = SellingPartnerHook()
    report = _wait_done(hook, hook.create_report(REPORT_TYPE))  # no FBA SKUs: Amazon has no data, cancels
    assert report["processingStatus"] == "CANCELLED" and "reportDocumentId" not in report
    with pytest.raises(AirflowException, match="Amazon rejected createReport: Report type GET_NOTHING"):
        hook.create_report("GET_NOTHING")


def test_the_report_trigger_gives_up_after_its_timeout_and_fires_done_when_amazon_is(product_env,
                                                                                    sandbox_server) -> None:
    import asyncio

    from amazon_sage.hooks.selling_partner import SellingPartnerHook
    from amazon_sage.triggers.amazon_report import AmazonReportTrigger

    async def first_event(trigger: AmazonReportTrigger) -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    sandbox = sandbox_server.sandbox
    sandbox.configure({"report_processing_delay": 60})
    slow = SellingPartnerHook().create_report(REPORT_TYPE)
    event = asyncio.run(first_event(AmazonReportTrigger(slow, "amazon_sp_api_default", 0.1, timeout=0.3)))
    assert event["status"] == "timeout" and f"report {slow} was still IN_QUEUE" in event["message"]
    sandbox.configure({"report_processing_delay": 0, "report_outcomes": ["FATAL"]})
    fatal = SellingPartnerHook().create_report(REPORT_TYPE)
    event = asyncio.run(first_event(AmazonReportTrigger(fatal, "amazon_sp_api_default", 0.1)))
    assert event["status"] == "done" and event["report"]["processingStatus"] == "FATAL"
    assert AmazonReportTrigger(fatal, "c", 5, 9).serialize() == (
        "amazon_sage.triggers.amazon_report.AmazonReportTrigger",
        {"report_id": fatal, "sp_api_conn_id": "c", "poll_interval": 5, "timeout": 9})


# -- the inventory DAG ---------------------------------------------------------------------------


@pytest.fixture
def inventory_run(product_env, airflow_db, company, sandbox_server, monkeypatch):
    """Run sage_stock_to_amazon_inventory (export All, every product 7 in stock); return (run, sandbox)."""
    from tests.helpers import parse_dags

    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    monkeypatch.setenv("AMAZON_SAGE_FEED_POLL_SECONDS", "0.1")
    monkeypatch.setenv("AMAZON_SAGE_SP_API_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AMAZON_SAGE_SP_API_BACKOFF_CAP_SECONDS", "0.1")
    with sqlite3.connect(company) as db:
        db.execute("UPDATE STOCK SET QTY_IN_STOCK = 7, QTY_ALLOCATED = 0")
    sandbox = sandbox_server.sandbox

    def run():
        for listing in sandbox.feeds_state.listings.values():
            listing.quantity = 1
        result = parse_dags()["sage_stock_to_amazon_inventory"].test(run_conf={"export_mode": "All"})
        assert result.state == "success"
        return result

    return run, sandbox


def _skipped(run) -> dict[str, str]:
    from tests.helpers import archived_zip

    uri = run.get_task_instance("archive_workflow_data").xcom_pull(task_ids="archive_workflow_data")
    with archived_zip(Path(uri)) as opened:
        if "amazon_inventory_skipped.xml" not in opened.namelist():
            return {}
        return {p.findtext("Sku"): p.findtext("Warnings/Warning/Description")
                for p in etree.fromstring(opened.read("amazon_inventory_skipped.xml")).iter("Product")}


def test_report_fba_skus_are_skipped_with_the_reason_and_the_cache_is_kept_a_day(inventory_run, monkeypatch,
                                                                                  product_env) -> None:
    run, sandbox = inventory_run
    monkeypatch.setenv("AMAZON_SAGE_FBA_SKUS", "COASTER-SLATE-4")
    sandbox.configure({"fba_skus": ["MUG-RED-01", "TOWEL-LINEN-2"], "report_gzip": True})
    first = run()
    listings = sandbox.feeds_state.listings
    assert listings["MUG-RED-01"].quantity == listings["TOWEL-LINEN-2"].quantity == 1  # no DEFAULT quantity sent
    assert listings["COASTER-SLATE-4"].quantity == 1 and listings["TEAPOT-CAST-1L"].quantity == 7
    skipped = _skipped(first)
    assert set(skipped) == {"MUG-RED-01", "TOWEL-LINEN-2", "COASTER-SLATE-4"}
    assert skipped["MUG-RED-01"].startswith("FBA SKU (Amazon's FBA inventory report of 20")
    assert "switch it to seller-fulfilled" in skipped["TOWEL-LINEN-2"]
    assert skipped["COASTER-SLATE-4"].startswith("FBA SKU (FBA_SKUS)")
    cache = cache_path(Path(product_env["AMAZON_SAGE_WORK_ROOT"]))
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert read_cache(cache).skus == {"MUG-RED-01", "TOWEL-LINEN-2"}
    assert sandbox.state.calls["createReport"] == 1
    # Within FBA_SKUS_REPORT_HOURS: no second report, the cached SKUs still skipped.
    sandbox.configure({"fba_skus": ["TEAPOT-CAST-1L"]})
    second = run()
    assert sandbox.state.calls["createReport"] == 1
    assert {"MUG-RED-01", "TOWEL-LINEN-2"} <= set(_skipped(second)) and listings["TEAPOT-CAST-1L"].quantity == 7


def test_a_failed_report_falls_back_to_the_last_good_one(inventory_run, product_env, capfd) -> None:
    run, sandbox = inventory_run
    work_root = Path(product_env["AMAZON_SAGE_WORK_ROOT"])
    two_days_ago = datetime.now(UTC) - timedelta(hours=49)
    write_cache(cache_path(work_root), FbaSkuCache(frozenset({"MUG-RED-01"}), two_days_ago, "6000"))
    # A 429 storm past the retries (a fast announced rate, so that the retries do not wait a minute).
    sandbox.configure({"faults": [{"operation": "createReport", "kind": "throttle", "count": None}],
                       "rate_limits": {"createReport": [50, 15]}})
    first = run()
    assert sandbox.state.calls["createReport"] == 2  # asked (the cache was too old), throttled past the retries
    assert sandbox.feeds_state.listings["MUG-RED-01"].quantity == 1
    assert "MUG-RED-01" in _skipped(first)
    output = capfd.readouterr()
    assert "using the last good one" in output.out + output.err and "49.0 h old" in output.out + output.err
    # Within the hour after a failure, the runs do not ask Amazon again: the last good cache serves.
    sandbox.configure({"faults": [], "report_outcomes": ["FATAL"], "fba_skus": ["TEAPOT-CAST-1L"]})
    run()
    assert sandbox.state.calls["createReport"] == 2 and sandbox.feeds_state.listings["MUG-RED-01"].quantity == 1
    output = capfd.readouterr()
    assert "failed; Amazon is asked again from" in output.out + output.err
    # An hour on, it asks; Amazon ends that report FATAL: still the last good cache, unchanged.
    note_failure(failure_path(work_root), datetime.now(UTC) - timedelta(minutes=61), "throttled")
    run()
    assert sandbox.state.calls["createReport"] == 3
    assert sandbox.feeds_state.listings["MUG-RED-01"].quantity == 1
    assert read_cache(cache_path(work_root)).report_id == "6000"
    assert last_failure(failure_path(work_root)) > datetime.now(UTC) - timedelta(minutes=5)  # noted again


def test_without_a_good_report_ever_only_fba_skus_and_a_cancelled_report_means_none(inventory_run, monkeypatch,
                                                                                    product_env, capfd) -> None:
    run, sandbox = inventory_run
    monkeypatch.setenv("AMAZON_SAGE_FBA_SKUS", "COASTER-SLATE-4")
    sandbox.configure({"fba_skus": ["MUG-RED-01"], "report_body": "sku\tasin\nMUG-RED-01\tB0EXAMPLE1\n"})
    first = run()  # a report without afn-listing-exists: not read, and there is no earlier one
    assert set(_skipped(first)) == {"COASTER-SLATE-4"}
    output = capfd.readouterr()
    assert "never been a good one: only the SKUs of FBA_SKUS" in output.out + output.err
    assert read_cache(cache_path(Path(product_env["AMAZON_SAGE_WORK_ROOT"]))) is None
    work_root = Path(product_env["AMAZON_SAGE_WORK_ROOT"])
    note_failure(failure_path(work_root), datetime.now(UTC) - timedelta(hours=2), "no afn-listing-exists column")
    sandbox.configure({"fba_skus": [], "report_body": None})
    run()  # CANCELLED: no FBA inventory, a good (empty) report, which clears the note of the failure
    assert read_cache(cache_path(work_root)).skus == frozenset() and last_failure(failure_path(work_root)) is None
    assert sandbox.feeds_state.listings["MUG-RED-01"].quantity == 7
    monkeypatch.setenv("AMAZON_SAGE_FBA_SKUS_REPORT_HOURS", "0")
    calls = sandbox.state.calls["createReport"]
    run()
    assert sandbox.state.calls["createReport"] == calls == 2
