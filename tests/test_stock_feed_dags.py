"""The two stock DAGs in real Airflow against the sandbox's Feeds API and the sample company."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyodbc
import pytest
from lxml import etree

from amazon_sage.hooks.selling_partner import SellingPartnerHook
from amazon_sage.triggers.listings_feed import ListingsFeedTrigger
from sandbox.catalogue import BY_SKU, NOT_ON_AMAZON
from sandbox.sample_company import odbc_connection_string
from tests.helpers import archived_zip, parse_dags, run_dag, sage_rows


@pytest.fixture
def stock_dags(product_env, airflow_db, monkeypatch):
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    monkeypatch.setenv("AMAZON_SAGE_FEED_POLL_SECONDS", "0.1")
    return parse_dags()


def _sql(company: Path, sql: str) -> None:
    connection = pyodbc.connect(odbc_connection_string(company), autocommit=True)
    try:
        connection.execute(sql)
    finally:
        connection.close()


def _records(path: Path) -> dict[str, str]:
    root = etree.parse(str(path)).getroot()
    return {p.findtext("Sku"): (p.findtext("Errors/Error/Description") or "") for p in root.iter("Product")}


def _work_file(env: dict, dag_id: str, name: str) -> Path:
    return next(Path(env["AMAZON_SAGE_WORK_ROOT"], dag_id).glob(f"*/{name}"))


def test_inventory_dag_sets_amazon_quantities_per_sku(stock_dags, sandbox_server, company, product_env,
                                                      monkeypatch) -> None:
    monkeypatch.setenv("AMAZON_SAGE_ARCHIVE_DESTINATION", str(Path(product_env["AMAZON_SAGE_WORK_ROOT"]).parent / "a"))
    _sql(company, "UPDATE STOCK SET QTY_ALLOCATED = 3 WHERE STOCK_CODE = 'MUG-RED-01'")
    _sql(company, "UPDATE STOCK SET QTY_IN_STOCK = -2 WHERE STOCK_CODE = 'CADDY-TIN-S'")
    run, states = run_dag(stock_dags["sage_stock_to_amazon_inventory"], run_conf={"export_mode": "All"})
    assert run.state == "success", states
    listings = sandbox_server.sandbox.feeds_state.listings
    for row in sage_rows(company, "SELECT STOCK_CODE, QTY_IN_STOCK, QTY_ALLOCATED FROM STOCK"):
        if row["STOCK_CODE"] in listings:
            # Sage's doubles as the decimals Sage shows, so the reference itself has no float trap.
            free = Decimal(str(row["QTY_IN_STOCK"])) - Decimal(str(row["QTY_ALLOCATED"]))
            assert listings[row["STOCK_CODE"]].quantity == max(0, int(free)), row
    assert listings["MUG-RED-01"].quantity == 37 and listings["CADDY-TIN-S"].quantity == 0
    # The sample's float traps: 2.3 - 0.3 and 3.3 - 1.3 are 1.9999999999999998 in doubles.
    assert listings["INFUSER-STEEL"].quantity == 2 and listings["KETTLE-GOOSENECK-08"].quantity == 2
    counts = run.get_task_instance("upload_inventory_feed").xcom_pull(task_ids="upload_inventory_feed", key="counts")
    assert counts["failed"] == len(NOT_ON_AMAZON) and counts["out"] == counts["in"] - counts["failed"]
    archive = next(Path(product_env["AMAZON_SAGE_WORK_ROOT"]).parent.joinpath("a").rglob("*.zip.enc"))
    with archived_zip(archive) as opened:
        fail = etree.fromstring(opened.read("amazon_inventory_fail.xml"))
    failed = {p.findtext("Sku"): p.findtext("Errors/Error/Description") for p in fail.iter("Product")}
    assert set(failed) == set(NOT_ON_AMAZON)
    assert "not found for this seller" in failed[NOT_ON_AMAZON[0]]


def test_prices_dag_sets_vat_inclusive_prices_and_fails_free_products(stock_dags, sandbox_server, company,
                                                                      product_env, monkeypatch) -> None:
    monkeypatch.setenv("AMAZON_SAGE_ARCHIVE_RETENTION", "count")
    _sql(company, "UPDATE STOCK SET SALES_PRICE = 0 WHERE STOCK_CODE = 'CADDY-TIN-S'")
    _sql(company, "UPDATE STOCK SET SALES_PRICE = 6.24 WHERE STOCK_CODE = 'TEA-EARLGREY-250'")
    sandbox_server.sandbox.configure({"processing_delay": 0.3})
    run, states = run_dag(stock_dags["sage_stock_to_amazon_prices"], run_conf={"export_mode": "All"})
    assert run.state == "success", states
    listings = sandbox_server.sandbox.feeds_state.listings
    for row in sage_rows(company, "SELECT STOCK_CODE, SALES_PRICE FROM STOCK"):
        sku = row["STOCK_CODE"]
        if sku in listings and row["SALES_PRICE"] > 0:
            net = Decimal(str(row["SALES_PRICE"]))
            assert listings[sku].price == (net * Decimal("1.2")).quantize(Decimal("0.01"), ROUND_HALF_UP), sku
    assert listings["TEA-EARLGREY-250"].price == Decimal("7.49")
    # Sub-penny nets in the sample: 10.825 and 8.325 (a double just below it) plus 20% VAT.
    assert listings["TOWEL-LINEN-2"].price == Decimal("12.99") and listings["COASTER-SLATE-4"].price == Decimal("9.99")
    assert listings["CADDY-TIN-S"].price == BY_SKU["CADDY-TIN-S"].price  # the free one was never sent
    uri = run.get_task_instance("archive_workflow_data").xcom_pull(task_ids="archive_workflow_data")
    with archived_zip(Path(uri)) as opened:
        failed = {p.findtext("Sku"): p.findtext("Errors/Error/Description")
                  for p in etree.fromstring(opened.read("amazon_prices_fail.xml")).iter("Product")}
        manifest = json.loads(opened.read("manifest.json"))
    assert set(failed) == {"CADDY-TIN-S", *NOT_ON_AMAZON}
    assert "not above zero" in failed["CADDY-TIN-S"]
    assert manifest["counts"]["upload_prices_feed"]["failed"] == 2


def test_no_changes_skips_the_feed(stock_dags, sandbox_server, company) -> None:
    run, states = run_dag(stock_dags["sage_stock_to_amazon_inventory"])  # Modified: nothing changed lately
    assert run.state == "success"
    # The FBA SKUs are still refreshed (the report's cache serves the next runs); no feed is sent.
    assert states == {"export_stock_records": "success", "refresh_fba_skus": "success", "map_inventory": "skipped",
                      "upload_inventory_feed": "skipped", "archive_workflow_data": "success"}
    assert sandbox_server.sandbox.feeds_state.feeds == {}


@pytest.mark.parametrize("outcome", ["FATAL", "CANCELLED"])
def test_fatal_and_cancelled_feeds_fail_with_amazons_reason(stock_dags, sandbox_server, company, outcome,
                                                            capfd) -> None:
    sandbox_server.sandbox.configure({"feed_outcomes": [outcome]})
    _, states = run_dag(stock_dags["sage_stock_to_amazon_inventory"], run_conf={"export_mode": "All"})
    assert states["upload_inventory_feed"] == "failed" and states["archive_workflow_data"] == "upstream_failed"
    output = capfd.readouterr()
    assert f"ended {outcome}" in output.out + output.err
    if outcome == "FATAL":
        assert "internal error" in output.out + output.err


def test_a_retry_after_submission_waits_on_the_same_feed(stock_dags, sandbox_server, company, monkeypatch,
                                                         product_env) -> None:
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "1")
    monkeypatch.setenv("AMAZON_SAGE_RETRY_DELAY_SECONDS", "0")
    monkeypatch.setenv("AMAZON_SAGE_SP_API_MAX_ATTEMPTS", "2")
    dag = parse_dags()["sage_stock_to_amazon_inventory"]
    # The first try's wait dies on a 503 storm while polling; the retry must not send the feed again.
    sandbox_server.sandbox.configure({"faults": [{"operation": "getFeed", "kind": "status", "status": 503,
                                                  "count": 2}]})
    run, states = run_dag(dag, run_conf={"export_mode": "All"})
    assert run.state == "success", states
    assert run.get_task_instance("upload_inventory_feed").try_number == 2
    sandbox = sandbox_server.sandbox
    assert sandbox.state.calls["createFeed"] == 1 and len(sandbox.feeds_state.feeds) == 1


def test_polling_survives_5xx_and_a_triggerer_restart(sandbox_server, product_env, company, tmp_path) -> None:
    hook = SellingPartnerHook()
    sandbox = sandbox_server.sandbox
    sandbox.configure({"processing_delay": 1.5,
                       "faults": [{"operation": "getFeed", "kind": "status", "status": 500, "count": 2, "after": 1}]})
    document = {"header": {"sellerId": "A1EXAMPLESELLER", "version": "2.0"},
                "messages": [{"messageId": 1, "sku": "MUG-RED-01", "operationType": "PATCH", "productType": "PRODUCT",
                              "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                                           "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5}]}]}]}
    feed_id = hook.submit_listings_feed(json.dumps(document).encode())
    trigger = ListingsFeedTrigger([feed_id], hook.sp_api_conn_id, poll_interval=0.1)

    async def first_event(trigger_: ListingsFeedTrigger, limit: float):
        return await asyncio.wait_for(trigger_.run().__anext__(), timeout=limit)

    with pytest.raises(TimeoutError):
        asyncio.run(first_event(trigger, 0.5))  # the triggerer dies while the feed is in progress
    classpath, kwargs = trigger.serialize()
    assert classpath == "amazon_sage.triggers.listings_feed.ListingsFeedTrigger"
    restarted = ListingsFeedTrigger(**kwargs)
    event = asyncio.run(first_event(restarted, 20))
    assert event.payload["status"] == "done"
    assert event.payload["feeds"][feed_id]["processingStatus"] == "DONE"
    assert sandbox.feeds_state.listings["MUG-RED-01"].quantity == 5
    assert sandbox.state.calls["createFeed"] == 1


def test_a_429_on_create_feed_is_retried(sandbox_server, product_env, company) -> None:
    sandbox = sandbox_server.sandbox
    sandbox.configure({"faults": [{"operation": "createFeed", "kind": "throttle", "count": 2}],
                       "rate_limits": {"createFeed": [50, 15]}})
    hook = SellingPartnerHook()
    hook.bucket("createFeed").rate = 50.0  # the test's own plan: waits of 1/50 s, not Amazon's 2 minutes
    document = {"header": {"sellerId": "S", "version": "2.0"},
                "messages": [{"messageId": 1, "sku": "MUG-RED-01", "operationType": "DELETE"}]}
    feed_id = hook.submit_listings_feed(json.dumps(document).encode())
    assert sandbox.state.calls["createFeed"] == 3 and list(sandbox.feeds_state.feeds) == [feed_id]


# -- A feed is submitted once, whatever happens between createFeed and recording its id ------------------------

RUN_DATE = datetime(2026, 11, 26, 10, tzinfo=UTC)


def _archived(product_env: dict, dag_id: str) -> zipfile.ZipFile:
    return archived_zip(next(Path(product_env["AMAZON_SAGE_ARCHIVE_DESTINATION"], dag_id).glob("*.zip.enc")))


@pytest.mark.parametrize("kind", ["status_after_processing", "drop_after_processing"])
def test_a_lost_create_feed_answer_makes_one_feed_and_reads_its_report(stock_dags, sandbox_server, company,
                                                                      product_env, kind) -> None:
    sandbox = sandbox_server.sandbox
    # Amazon creates the feed, then its answer is lost: a 500, or the connection drops.
    sandbox.configure({"faults": [{"operation": "createFeed", "kind": kind, "status": 500}]})
    run, states = run_dag(stock_dags["sage_stock_to_amazon_inventory"], run_conf={"export_mode": "All"})
    assert run.state == "success", states
    assert sandbox.state.calls["createFeed"] == 1 and len(sandbox.feeds_state.feeds) == 1
    (feed_id,) = sandbox.feeds_state.feeds
    with _archived(product_env, "sage_stock_to_amazon_inventory") as archive:
        report = json.loads(archive.read(f"amazon_inventory_report_{feed_id}.json"))
        failed = _records_in(archive.read("amazon_inventory_fail.xml"))
    assert report["header"]["feedId"] == feed_id
    assert set(failed) == set(NOT_ON_AMAZON)  # the report of the feed that was found was read onto the SKUs


def _records_in(xml: bytes) -> dict[str, str]:
    return {p.findtext("Sku"): (p.findtext("Errors/Error/Description") or "")
            for p in etree.fromstring(xml).iter("Product")}


def test_a_worker_killed_during_create_feed_is_resumed_without_a_second_feed(stock_dags, sandbox_server, company,
                                                                             product_env, tmp_path) -> None:
    sandbox = sandbox_server.sandbox
    # createFeed takes 3 s to answer: the worker is killed (SIGKILL) while Amazon is creating the feed.
    sandbox.configure({"faults": [{"operation": "createFeed", "kind": "slow", "seconds": 3}]})
    project = Path(__file__).resolve().parents[1]
    script = (f"import sys; sys.path[:0] = [{str(project / 'plugins')!r}, {str(project)!r}]\n"
              "from datetime import datetime\n"
              "from tests.helpers import parse_dags\n"
              f"when = datetime.fromisoformat({RUN_DATE.isoformat()!r})\n"
              "parse_dags()['sage_stock_to_amazon_inventory'].test(logical_date=when, run_after=when,"
              " run_conf={'export_mode': 'All'})\n")
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ), stdout=log, stderr=log,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while sandbox.state.calls.get("createFeed", 0) == 0:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker never called createFeed"
            time.sleep(0.02)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker's own process group: it and anything it started
        worker.wait()
    assert worker.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while not sandbox.feeds_state.feeds:  # Amazon finishes creating the feed the dead worker asked for
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (feed_id,) = sandbox.feeds_state.feeds
    # The rerun has the same run id, so the same run folder: it must find that feed, not send another.
    run, states = run_dag(stock_dags["sage_stock_to_amazon_inventory"], logical_date=RUN_DATE, run_after=RUN_DATE,
                       run_conf={"export_mode": "All"})
    assert run.state == "success", states
    assert sandbox.state.calls["createFeed"] == 1 and list(sandbox.feeds_state.feeds) == [feed_id]
    assert sandbox.state.calls.get("getFeeds", 0) >= 1
    with _archived(product_env, "sage_stock_to_amazon_inventory") as archive:
        assert f"amazon_inventory_report_{feed_id}.json" in archive.namelist()
        assert set(_records_in(archive.read("amazon_inventory_fail.xml"))) == set(NOT_ON_AMAZON)


def _same_document_sent_by_someone_else(company: Path, folder: Path) -> str:
    """Send, outside any run, the very document the inventory DAG will build (so the same message count)."""
    from amazon_sage import settings
    from amazon_sage.core.feeds.feed_documents import build_feed_documents
    from amazon_sage.core.mapping.xslt import apply_mapping
    from amazon_sage.core.sage.stock_export import export_stock, stock_query

    folder.mkdir()
    connection = pyodbc.connect(odbc_connection_string(company))
    try:
        export_stock(connection, stock_query("All", start=RUN_DATE, end=RUN_DATE), folder / "stock.xml")
    finally:
        connection.close()
    mapped = apply_mapping(folder / "stock.xml", settings.mapping_path("INVENTORY_MAPPING"), folder / "inv.xml",
                           settings.inventory_mapping_parameters())
    build = build_feed_documents(mapped, seller_id="A1EXAMPLESELLER", out_dir=folder, stem="feed")
    return SellingPartnerHook().submit_listings_feed(build.documents[0].read_bytes())


def test_two_feeds_that_could_be_the_run_s_fail_the_upload_and_send_nothing_more(stock_dags, sandbox_server, company,
                                                                                product_env, tmp_path,
                                                                                capfd) -> None:
    sandbox = sandbox_server.sandbox
    sandbox.configure({"rate_limits": {"createFeed": [50, 15]}})
    other = _same_document_sent_by_someone_else(company, tmp_path / "elsewhere")
    sandbox.configure({"faults": [{"operation": "createFeed", "kind": "status_after_processing", "status": 500}]})
    dag = stock_dags["sage_stock_to_amazon_inventory"]
    _, states = run_dag(dag, logical_date=RUN_DATE, run_after=RUN_DATE, run_conf={"export_mode": "All"})
    assert states["upload_inventory_feed"] == "failed"
    assert sandbox.state.calls["createFeed"] == 2 and len(sandbox.feeds_state.feeds) == 2  # nothing sent again
    (ours,) = set(sandbox.feeds_state.feeds) - {other}
    output = capfd.readouterr()
    message = next(line for line in (output.out + output.err).splitlines() if "candidate" in line)
    assert other in message and ours in message
    assert "getFeed" in message and "Seller Central" in message
    assert "amazon_sage.cli.feed_submissions adopt" in message and "release" in message
    # How to proceed, as the message says: adopt the feed that is this run's, then run again (same run folder).
    folder = next(Path(product_env["AMAZON_SAGE_WORK_ROOT"], dag.dag_id).iterdir())
    subprocess.run([sys.executable, "-m", "amazon_sage.cli.feed_submissions", "adopt",
                    str(folder / "amazon_inventory_feed_submissions.json"), "amazon_inventory_feed_001.json", ours],
                   env=dict(os.environ), check=True)
    run, states = run_dag(dag, logical_date=RUN_DATE, run_after=RUN_DATE, run_conf={"export_mode": "All"})
    assert run.state == "success", states
    assert sandbox.state.calls["createFeed"] == 2
    with _archived(product_env, dag.dag_id) as archive:
        assert f"amazon_inventory_report_{ours}.json" in archive.namelist()


def test_every_file_the_upload_writes_is_private(stock_dags, sandbox_server, company, product_env) -> None:
    previous = os.umask(0o022)  # the usual umask: files must be private because the product makes them so
    try:
        sandbox_server.sandbox.configure({"feed_outcomes": ["FATAL"]})  # a failed run keeps its folder
        _, states = run_dag(stock_dags["sage_stock_to_amazon_inventory"], run_conf={"export_mode": "All"})
    finally:
        os.umask(previous)
    assert states["upload_inventory_feed"] == "failed"
    folder = next(Path(product_env["AMAZON_SAGE_WORK_ROOT"], "sage_stock_to_amazon_inventory").iterdir())
    written = {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}
    (feed_id,) = sandbox_server.sandbox.feeds_state.feeds
    assert {"amazon_inventory_rejected.json", f"amazon_inventory_report_{feed_id}.json"} <= set(written)
    assert {name: mode for name, mode in written.items() if mode != 0o600} == {}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_feed_wait_whose_task_has_finished_ends_at_once_and_a_deferred_one_still_waits(
        stock_dags, sandbox_server, company) -> None:
    """A triggerer that picks up the wait of a finished upload (left over by ``dag.test``) asks Amazon nothing."""
    from uuid import UUID

    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.api.datamodels._generated import TaskInstance as TaskInstanceSDK
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor
    from airflow.utils.session import create_session

    run, states = run_dag(stock_dags["sage_stock_to_amazon_inventory"], run_conf={"export_mode": "All"})
    assert states["upload_inventory_feed"] == "success"
    [feed_id] = sandbox_server.sandbox.feeds_state.feeds
    upload = run.get_task_instance("upload_inventory_feed")
    sdk_ti = TaskInstanceSDK(id=UUID(str(upload.id)), task_id=upload.task_id, dag_id=upload.dag_id,
                             run_id=upload.run_id, try_number=upload.try_number, map_index=upload.map_index,
                             dag_version_id=UUID(str(upload.dag_version_id)))

    def wait(state: str) -> dict:
        with create_session() as session:
            session.get(TaskInstance, upload.id).state = state
        trigger = ListingsFeedTrigger([feed_id], SellingPartnerHook().sp_api_conn_id, poll_interval=0.1)
        trigger.task_instance, trigger.trigger_id = sdk_ti, 1  # as the triggerer sets them
        return InProcessTestSupervisor.run_trigger_in_process(trigger=trigger, ti=sdk_ti).payload

    polls = sandbox_server.sandbox.state.calls["getFeed"]
    assert wait("success") == {"status": "stale", "state": "success"}
    assert sandbox_server.sandbox.state.calls["getFeed"] == polls  # Amazon was not asked
    event = wait("deferred")  # a genuinely deferred upload after a triggerer restart: it waits and resumes
    assert event["status"] == "done" and event["feeds"][feed_id]["processingStatus"] == "DONE"
    assert sandbox_server.sandbox.state.calls["getFeed"] > polls
