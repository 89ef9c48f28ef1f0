"""The amazon_orders_to_sage DAG in real Airflow (dag.test on SQLite) against the sandbox and sample company."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox.order_generator import cancel_items
from tests.helpers import (
    IMPORTED,
    archived_zip,
    assert_sage_matches_amazon,
    latest_versions,
    parse_dags,
    run_dag,
    sage_rows,
)

DAG_ID = "amazon_orders_to_sage"


@pytest.fixture
def orders_dag(product_env, airflow_db, monkeypatch):
    """The DAG parsed fresh from the dags folder, with daily intervals and no retry delays."""
    monkeypatch.setenv("AMAZON_SAGE_ORDERS_SCHEDULE", "0 0 * * *")
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    return parse_dags()[DAG_ID]


def _window_orders(sandbox, after: str, before: str) -> list[dict]:
    """The latest version of each order updated in [after, before], as the sandbox has them now."""
    return [o for o in latest_versions([v for h in sandbox.state.versions.values() for v in h])
            if after <= o["lastUpdatedTime"] <= before]


def _ids(company: Path) -> list[str]:
    return [r["CUST_ORDER_NUMBER"] for r in sage_rows(company, "SELECT CUST_ORDER_NUMBER FROM SALES_ORDER")]


def test_whole_run_then_overlapping_run(orders_dag, sandbox_server, company, product_env, capfd) -> None:
    sandbox = sandbox_server.sandbox
    run, states = run_dag(orders_dag, run_conf={"download_from": "2026-11-15T00:00:00Z",
                                             "download_to": "2026-11-17T12:00:00Z"})
    assert run.state == "success", states
    first = _window_orders(sandbox, "2026-11-15T00:00:00Z", "2026-11-17T12:00:00Z")
    assert_sage_matches_amazon(company, first)
    archives = list(Path(product_env["AMAZON_SAGE_ARCHIVE_DESTINATION"], DAG_ID).glob("*.zip*"))
    assert len(archives) == 1 and archives[0].name.endswith(".zip.enc")
    with archived_zip(archives[0]) as archive:
        assert {"amazon_orders.xml", "zynk_orders.xml", "zynk_orders_success.xml",
                "zynk_orders_fail.xml", "zynk_orders_skipped.xml"} <= set(archive.namelist())
    assert not any(Path(product_env["AMAZON_SAGE_WORK_ROOT"], DAG_ID).iterdir())  # removed after archiving

    run, states = run_dag(orders_dag, run_conf={"download_from": "2026-11-16T12:00:00Z",
                                             "download_to": "2026-11-19T12:00:00Z"})
    assert run.state == "success", states
    union = _window_orders(sandbox, "2026-11-15T00:00:00Z", "2026-11-19T12:00:00Z")
    assert_sage_matches_amazon(company, union)
    ids = _ids(company)
    assert len(ids) == len(set(ids))

    logs = capfd.readouterr()
    text = logs.out + logs.err + "".join(p.read_text(errors="replace") for p in
                                         Path(product_env["AIRFLOW_HOME"], "logs").rglob("*") if p.is_file())
    assert "Import Sales Orders summary" in text
    for order in union:
        for secret in (order.get("buyer", {}).get("buyerName"), order.get("buyer", {}).get("buyerEmail"),
                       order.get("recipient", {}).get("deliveryAddress", {}).get("addressLine1"),
                       order.get("recipient", {}).get("deliveryAddress", {}).get("phone")):
            assert not secret or secret not in text
    assert "Atzr|" not in text and "Atza|" not in text and "sandbox-client-secret" not in text


def test_consecutive_windows_import_the_union_once(orders_dag, sandbox_server, company) -> None:
    """Daily windows, each started 5 minutes early as a scheduled run's is; one order changes between two runs.

    ``dag.test()`` makes manual runs, so each names its window (the scheduler's own intervals are run by the
    running-Airflow scenario's backfill).
    """
    sandbox = sandbox_server.sandbox
    twice = next(h for h in sandbox.state.versions.values() if len(h) == 2)
    assert twice[0]["lastUpdatedTime"][:10] != twice[1]["lastUpdatedTime"][:10]
    duplicates = []
    for day in (17, 18, 19, 20):
        sandbox.configure({"clock": f"2026-11-{day}T01:00:00Z"})  # Amazon as it was just after the interval
        run, states = run_dag(orders_dag, run_conf={"download_from": f"2026-11-{day - 2}T23:55:00Z",
                                                 "download_to": f"2026-11-{day}T00:00:00Z"})
        assert run.state == "success", states
        counts = run.get_task_instance("import_sales_orders").xcom_pull(task_ids="import_sales_orders", key="counts")
        duplicates.append(counts["duplicates"])
    # The order updated on two days came twice, the second time as a duplicate of its first import.
    first_day = int(twice[0]["lastUpdatedTime"][8:10]) + 1
    assert duplicates[first_day - 17] == 0 and duplicates[first_day - 16] >= 1
    assert twice[0]["orderId"] in _ids(company)
    assert_sage_matches_amazon(company, _window_orders(sandbox, "2026-11-16T00:00:00Z", "2026-11-20T00:00:00Z"))
    assert sandbox.state.calls["searchOrders"] == 4


def _notes(run_id: str) -> tuple[str | None, dict[str, str | None]]:
    """The run's note and its task instances' notes, read back from Airflow's database."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id))
        return run.note, {ti.task_id: ti.note for ti in run.get_task_instances(session=session)}


def _variable(key: str) -> str | None:
    from airflow.models.variable import Variable

    return Variable.get(key, default_var=None)


def test_failed_orders_complete_the_run_with_a_note_naming_them(orders_dag, sandbox_server, company,
                                                                product_env) -> None:
    window = ("2026-11-15T00:00:00Z", "2026-11-20T00:00:00Z")
    run, states = run_dag(orders_dag, run_conf={"download_from": window[0], "download_to": window[1]})
    assert run.state == "success" and states["archive_workflow_data"] == "success", states  # retries, archive
    gift_sets = sorted(o["orderId"] for o in _window_orders(sandbox_server.sandbox, *window)
                       if o["fulfillment"]["fulfillmentStatus"] in IMPORTED
                       and any(i["product"]["sellerSku"] == "GIFTSET-AFTERNOON-TEA" for i in o["orderItems"]))
    assert gift_sets, "the sandbox's orders include the gift set, which is not in Sage"
    run_note, ti_notes = _notes(run.run_id)
    noun = "order" if len(gift_sets) == 1 else "orders"
    assert run_note.startswith(f"Completed with errors: {len(gift_sets)} {noun} failed: ")
    assert "(Import Sales Orders)" in run_note
    named = run_note.split("failed: ")[1].split(" (Import")[0].split(" and ")[0].split(", ")
    assert set(named) <= set(gift_sets) and len(named) == min(5, len(gift_sets))
    assert ti_notes["import_sales_orders"].startswith(f"{len(gift_sets)} {noun} failed: {named[0]}")
    assert ti_notes["download_orders"] is None and ti_notes["archive_workflow_data"] is None


def test_a_note_a_person_wrote_is_kept(orders_dag, sandbox_server, company) -> None:
    """The listener rewrites only the product's own notes: a seller's remark on the run stays."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from amazon_sage.listeners.run_outcome import record_outcome

    run, _ = run_dag(orders_dag, run_conf={"download_from": "2026-11-15T00:00:00Z",
                                        "download_to": "2026-11-20T00:00:00Z"})
    product_note = _notes(run.run_id)[0]
    assert product_note.startswith("Completed with errors")
    for person, expected in (("Sam: gift sets are keyed by hand", "Sam: gift sets are keyed by hand"),
                             (None, product_note)):
        with create_session() as session:
            stored = session.scalar(select(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run.run_id))
            stored.note = person
            session.flush()
            record_outcome(stored, succeeded=True)  # as when the run finishes again after a cleared task
        assert _notes(run.run_id)[0] == expected


def test_a_manual_run_without_a_window_imports_the_orders_since_the_last_window(orders_dag, company, product_env,
                                                                                 monkeypatch) -> None:
    """Zynk's rolling Download From: each manual run carries on where the last successful one's window ended."""
    from datetime import timedelta

    from airflow.models.variable import Variable

    from amazon_sage.core.orders.last_window import VARIABLE
    from sandbox.airflow_env import sp_api_connection
    from sandbox.order_generator import generate_orders
    from sandbox.sp_api_server import Sandbox, SandboxServer

    now = datetime.now(UTC).replace(microsecond=0)
    recent = latest_versions(generate_orders(12, now - timedelta(days=2), days=1.5, seed=7))
    Variable.delete(VARIABLE)  # earlier tests' runs in this Airflow home moved it
    with SandboxServer(Sandbox(recent)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT", sp_api_connection(server.url, "Atzr|rolling"))
        run, states = run_dag(orders_dag)  # no window: from DOWNLOAD_FROM, the first time
        assert run.state == "success", states
        mark = _variable(VARIABLE)
        window = run.get_task_instance("download_orders").xcom_pull(task_ids="download_orders", key="window")
        assert mark == window["lastUpdatedBefore"] and window["lastUpdatedAfter"] == "2026-01-01T00:00:00Z"
        first = set(_ids(company))
        assert first == {o["orderId"] for o in recent if o["fulfillment"]["fulfillmentStatus"] in IMPORTED
                         and all(i["product"]["sellerSku"] != "GIFTSET-AFTERNOON-TEA" for i in o["orderItems"])}

        # A new order is placed just after that window ended; the next manual run takes it, and only it.
        [new] = latest_versions(generate_orders(1, now, days=0.0001, seed=99))
        new["orderId"] = "202-9999999-0000001"
        new["lastUpdatedTime"] = new["createdTime"] = mark
        new["fulfillment"]["fulfillmentStatus"] = "UNSHIPPED"
        for item in new["orderItems"]:
            item["product"]["sellerSku"] = "MUG-RED-01"
        server.sandbox.add_versions([new])
        calls = server.sandbox.state.calls["searchOrders"]
        run, states = run_dag(orders_dag)
        assert run.state == "success", states
        window = run.get_task_instance("download_orders").xcom_pull(task_ids="download_orders", key="window")
        assert window["lastUpdatedAfter"] == mark and _variable(VARIABLE) == window["lastUpdatedBefore"] > mark
        assert set(_ids(company)) == first | {new["orderId"]}
        assert server.sandbox.state.calls["searchOrders"] > calls
        counts = run.get_task_instance("import_sales_orders").xcom_pull(task_ids="import_sales_orders", key="counts")
        assert counts["in"] == 1 and counts["out"] == 1


def test_rerunning_the_same_window_is_harmless(orders_dag, sandbox_server, company) -> None:
    conf = {"download_from": "2026-11-15T00:00:00Z", "download_to": "2026-11-20T00:00:00Z"}
    run_dag(orders_dag, run_conf=conf)
    before = sage_rows(company, "SELECT * FROM SALES_ORDER ORDER BY ORDER_NUMBER")
    run, states = run_dag(orders_dag, run_conf=conf)
    assert run.state == "success", states
    assert sage_rows(company, "SELECT * FROM SALES_ORDER ORDER BY ORDER_NUMBER") == before
    counts = run.get_task_instance("import_sales_orders").xcom_pull(task_ids="import_sales_orders", key="counts")
    assert counts["out"] == 0 and counts["duplicates"] == len(before)


def test_a_failed_import_keeps_its_files_and_retries_alone(orders_dag, sandbox_server, company, product_env,
                                                           monkeypatch) -> None:
    import sqlite3

    monkeypatch.setenv("AIRFLOW_CONN_SAGE50_DEFAULT",
                       product_env["AIRFLOW_CONN_SAGE50_DEFAULT"].replace('"Timeout": "5000"', '"Timeout": "200"'))
    other_user = sqlite3.connect(company)
    other_user.execute("BEGIN EXCLUSIVE")
    try:
        run, states = run_dag(orders_dag, run_conf={"download_from": "2026-11-15T00:00:00Z",
                                                 "download_to": "2026-11-20T00:00:00Z"})
    finally:
        other_user.rollback()
        other_user.close()
    assert run.state == "failed"
    assert states == {"download_orders": "success", "map_orders": "success", "import_sales_orders": "failed",
                      "archive_workflow_data": "upstream_failed"}
    folder = next(Path(product_env["AMAZON_SAGE_WORK_ROOT"], DAG_ID).iterdir())
    assert {p.name for p in folder.iterdir()} >= {"amazon_orders.xml", "zynk_orders.xml"}
    calls = dict(sandbox_server.sandbox.state.calls)

    # Retry only the import, in the same run: it reads the mapped file through XCom.
    done = subprocess.run([str(Path(sys.executable).with_name("airflow")), "tasks", "test", DAG_ID,
                           "import_sales_orders", run.run_id], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sandbox_server.sandbox.state.calls == calls  # nothing downloaded again
    imported = set(_ids(company))
    assert imported and all(o["fulfillment"]["fulfillmentStatus"] in IMPORTED for o in
                            _window_orders(sandbox_server.sandbox, "2026-11-15", "2026-11-20T00:00:00Z")
                            if o["orderId"] in imported)


def test_archive_to_s3_through_the_aws_connection(orders_dag, sandbox_server, company, product_env,
                                                  monkeypatch, tmp_path) -> None:
    """moto's server on loopback stands in for S3; the task reads aws_default like any S3Hook user."""
    import json
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": endpoint, "region_name": "eu-west-2"}}))
        monkeypatch.setenv("AMAZON_SAGE_ARCHIVE_DESTINATION", "s3://seller-archive/amazon-sage")
        client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_bucket(Bucket="seller-archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        run, states = run_dag(orders_dag, run_conf={"download_from": "2026-11-15T00:00:00Z",
                                                 "download_to": "2026-11-17T00:00:00Z"})
        assert run.state == "success", states
        uri = run.get_task_instance("archive_workflow_data").xcom_pull(task_ids="archive_workflow_data")
        key = uri.removeprefix("s3://seller-archive/")
        assert key.startswith(f"amazon-sage/{DAG_ID}/") and key.endswith(".zip.enc")
        # SSE-KMS by default, on top of the archive's own encryption.
        assert client.head_object(Bucket="seller-archive", Key=key)["ServerSideEncryption"] == "aws:kms"
        sealed = tmp_path / "fetched.zip.enc"
        sealed.write_bytes(client.get_object(Bucket="seller-archive", Key=key)["Body"].read())
        with archived_zip(sealed) as archive:
            assert "zynk_orders_success.xml" in archive.namelist()
        manifest = json.loads(client.get_object(Bucket="seller-archive",
                                                Key=key.replace(".zip.enc", ".manifest.json"))["Body"].read())
        assert manifest["counts"]["import_sales_orders"]["out"] == len(_ids(company))
        assert set(_ids(company)) <= set(manifest["records"])
        assert not any(Path(product_env["AMAZON_SAGE_WORK_ROOT"], DAG_ID).iterdir())
    finally:
        server.stop()


def test_an_order_cancelled_on_amazon_before_despatch_is_marked_in_sage(orders_dag, sandbox_server, company) -> None:
    window = {"download_from": "2026-11-15T00:00:00Z", "download_to": "2026-11-20T00:00:00Z"}
    assert run_dag(orders_dag, run_conf=window)[0].state == "success"
    [(order_id, number)] = [(r["CUST_ORDER_NUMBER"], r["ORDER_NUMBER"]) for r in sage_rows(
        company, "SELECT CUST_ORDER_NUMBER, ORDER_NUMBER FROM SALES_ORDER ORDER BY ORDER_NUMBER LIMIT 1")]
    sandbox = sandbox_server.sandbox
    latest = sandbox.state.versions[order_id][-1]
    # And one item of another open order, the order going on.
    part_id, part_number, sku = next(
        (r["CUST_ORDER_NUMBER"], r["ORDER_NUMBER"], r["STOCK_CODE"]) for r in sage_rows(
            company, "SELECT o.CUST_ORDER_NUMBER, o.ORDER_NUMBER, MIN(i.STOCK_CODE) AS STOCK_CODE FROM SALES_ORDER o "
                     "JOIN SOP_ITEM i ON i.ORDER_NUMBER = o.ORDER_NUMBER WHERE o.ORDER_NUMBER > ? "
                     "GROUP BY o.ORDER_NUMBER HAVING COUNT(*) > 1 ORDER BY o.ORDER_NUMBER", number)
        if sandbox.state.versions[r["CUST_ORDER_NUMBER"]][-1]["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED")
    sandbox.add_versions([{**latest, "lastUpdatedTime": "2026-11-21T10:00:00Z",
                           "fulfillment": {**latest["fulfillment"], "fulfillmentStatus": "CANCELLED"}},
                          cancel_items(sandbox.state.versions[part_id][-1], {sku},
                                       datetime(2026, 11, 21, 11, tzinfo=UTC))])
    run, states = run_dag(orders_dag, run_conf={"download_from": "2026-11-21T00:00:00Z",
                                                "download_to": "2026-11-22T00:00:00Z"})
    assert run.state == "success", states
    [row] = sage_rows(company, "SELECT NOTES_1, DESPATCH_STATUS FROM SALES_ORDER WHERE ORDER_NUMBER = ?", number)
    assert row["NOTES_1"].startswith("CANCELLED ON AMAZON ") and row["NOTES_1"].endswith(": DO NOT SHIP")
    assert row["DESPATCH_STATUS"] == "Not Despatched"  # what Sage computes is left alone
    [part] = sage_rows(company, "SELECT NOTES_1 FROM SALES_ORDER WHERE ORDER_NUMBER = ?", part_number)
    assert part["NOTES_1"].startswith("ITEMS CANCELLED ON AMAZON ")
    [line] = sage_rows(company, "SELECT COMMENT_1 FROM SOP_ITEM WHERE ORDER_NUMBER = ? AND STOCK_CODE = ?",
                       part_number, sku)
    assert line["COMMENT_1"].endswith(": DO NOT SHIP")
    counts = run.get_task_instance("import_sales_orders").xcom_pull(task_ids="import_sales_orders", key="counts")
    assert counts["cancelled_marked"] == 2 and counts["failed"] == 0
