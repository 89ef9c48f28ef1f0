"""Part 5's proof: the DAGs run in real Airflow, and no buyer value is left in Airflow or the work folders.

The orders, despatches, inventory, prices and buyer-data DAGs run with ``dag.test()`` (SQLite metadata
database, the sandbox over HTTP, the sample company through pyodbc). One order carries a gift message and
delivery instructions. Then every distinctive buyer value of the sandbox's orders
(:func:`tests.pii_scan.buyer_values`: names, e-mails, company names, phones, address lines, postcodes,
delivery instructions, gift messages; not towns or country codes, which are no one buyer's) is looked
for in:

* Airflow's metadata database: every text and blob cell of every table read back (XComs, rendered
  task fields, run conf, notes, the audit log, serialized DAGs decompressed) and the raw bytes of the
  database file and its journal, which keep deleted rows;
* every file under ``$AIRFLOW_HOME/logs`` and everything the tasks printed (``dag.test()`` writes the task
  logs to the console, where they are captured; a log file it wrote would be scanned too);
* the work root.

Positive controls show the same scan finds them where they are meant to be: in Sage's sales orders
(a tax record), in the run's decrypted archive, and in a copy of the metadata database with one value
written into a Variable.
"""

from __future__ import annotations

import copy
import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sandbox.sample_company import despatch_order
from tests.helpers import latest_versions, parse_dags, run_dag, sage_rows
from tests.pii_scan import buyer_values, found_in_bytes, found_in_files, found_in_sqlite

WINDOW = {"download_from": "2026-11-15T00:00:00Z", "download_to": "2026-11-19T12:00:00Z"}
DESPATCHED = {"despatched_from": "2026-11-20T00:00:00Z", "despatched_to": "2026-11-21T00:00:00Z"}
GIFT = "Happy birthday Auntie Philippa, love from the Okonkwo-Bellweather twins"
INSTRUCTION = "Leave behind the green water butt at the side gate of Rosehip Cottage"


@pytest.fixture
def dags(product_env, airflow_db, monkeypatch):
    monkeypatch.setenv("AMAZON_SAGE_ORDERS_SCHEDULE", "0 0 * * *")
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    monkeypatch.setenv("AMAZON_SAGE_FEED_POLL_SECONDS", "0.1")
    return parse_dags()


def _gift_version(order: dict) -> dict:
    """``order`` changed a minute later: a gift message on its first line and delivery instructions."""
    later = copy.deepcopy(order)
    later["lastUpdatedTime"] = (datetime.fromisoformat(order["lastUpdatedTime"].replace("Z", "+00:00"))
                                + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later["orderItems"][0].setdefault("fulfillment", {})["packing"] = {
        "giftOption": {"giftMessage": GIFT, "giftWrapLevel": "Classic"}}
    later["recipient"]["deliveryPreference"] = {"addressInstruction": INSTRUCTION}
    return later


def _in_sage(company: Path) -> set[str]:
    return {r["CUST_ORDER_NUMBER"] for r in sage_rows(company, "SELECT CUST_ORDER_NUMBER FROM SALES_ORDER")}


def test_no_buyer_value_reaches_airflow_its_logs_or_the_work_root(dags, sandbox_server, company, product_env,
                                                                 tmp_path, capfd) -> None:
    sandbox = sandbox_server.sandbox
    orders = latest_versions([v for h in sandbox.state.versions.values() for v in h])
    gifted = next(o for o in orders if o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED" and "recipient" in o
                  and WINDOW["download_from"] <= o["lastUpdatedTime"] < "2026-11-19T00:00:00Z")
    sandbox.add_versions([_gift_version(gifted)])

    run, states = run_dag(dags["amazon_orders_to_sage"], run_conf=WINDOW)
    assert run.state == "success", states
    imported = _in_sage(company)
    assert gifted["orderId"] in imported
    unshipped = [o for o in orders if o["orderId"] in imported and o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"]
    for hour, order in enumerate(unshipped[:2], start=9):
        despatch_order(company, order["orderId"], courier="Royal Mail Tracked 48", consignment=f"RM{hour}",
                       when=datetime(2026, 11, 20, hour))
    run, states = run_dag(dags["sage_despatches_to_amazon"], run_conf=DESPATCHED)
    assert run.state == "success", states
    assert len(sandbox.confirmations) == 2
    for dag_id in ("sage_stock_to_amazon_inventory", "sage_stock_to_amazon_prices"):
        run, states = run_dag(dags[dag_id], run_conf={"export_mode": "All"})
        assert run.state in ("success", "failed"), states  # the prices feed fails the sample's free products
    assert sandbox.state.calls["createFeed"] == 2
    run, states = run_dag(dags["amazon_sage_buyer_data"])
    assert run.state == "success", states

    values = buyer_values(latest_versions([v for h in sandbox.state.versions.values() for v in h]))
    assert {GIFT, INSTRUCTION} <= values and len(values) > 100
    home = Path(product_env["AIRFLOW_HOME"])
    printed = capfd.readouterr()
    assert "Import Sales Orders" in printed.out + printed.err + "".join(
        p.read_text(errors="replace") for p in (home / "logs").rglob("*") if p.is_file())  # the logs are the tasks'

    assert found_in_sqlite(home / "airflow.db", values) == {}
    assert found_in_files(home / "logs", values) == {}
    assert found_in_bytes((printed.out + printed.err).encode(), values) == set()
    assert found_in_files(Path(product_env["AMAZON_SAGE_WORK_ROOT"]), values) == {}

    # Positive controls: the scan finds the values where they are kept on purpose.
    names = {o["buyer"]["buyerName"] for o in orders if o["orderId"] in imported}
    lines = {o["recipient"]["deliveryAddress"]["addressLine1"] for o in orders if o["orderId"] in imported
             and len(o["recipient"]["deliveryAddress"]["addressLine1"]) <= 60}  # Sage's lines are 60 long
    in_sage = found_in_sqlite(company, values)
    assert names | lines <= set().union(*in_sage.values())
    assert {"SALES_ORDER.NAME", "SALES_ORDER.DEL_ADDRESS_1"} <= set(in_sage) and "file:company.db" in in_sage
    from amazon_sage.core.archive.run_archive import restore_archive
    from amazon_sage.hooks.archive_destination import archive_keyring, open_archive_store

    store = open_archive_store()
    archive = store.list("amazon_orders_to_sage")[-1]
    restored = restore_archive(store, "amazon_orders_to_sage", archive.name, tmp_path / "restored", archive_keyring)
    archived = set().union(*found_in_files(restored, values).values())
    assert {GIFT, INSTRUCTION, gifted["buyer"]["buyerEmail"]} <= archived
    copied = shutil.copyfile(home / "airflow.db", tmp_path / "airflow-copy.db")
    with sqlite3.connect(copied) as connection:
        connection.execute("INSERT INTO variable (key, val, is_encrypted) VALUES ('leak', ?, 0)",
                           (gifted["buyer"]["buyerEmail"],))
    leaked = found_in_sqlite(copied, values)
    assert leaked.pop("variable.val") == {gifted["buyer"]["buyerEmail"]}
    assert set(leaked) & {"file:airflow-copy.db", "file:airflow-copy.db-wal"}  # the bytes scan sees it, WAL or not
    shutil.rmtree(restored)
