"""The sage_despatches_to_amazon DAG in real Airflow (dag.test on SQLite) against the sandbox and the sample company."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from sandbox.sample_company import despatch_order
from tests.helpers import archived_zip, assert_confirmed_exactly_once, import_unshipped_orders, parse_dags, run_dag

DAG_ID = "sage_despatches_to_amazon"
WINDOW = {"despatched_from": "2026-11-20T00:00:00Z", "despatched_to": "2026-11-21T00:00:00Z"}
RUN_DATE = datetime(2026, 11, 21, 0, 15, tzinfo=UTC)
PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def despatch_dag(product_env, airflow_db, monkeypatch):
    """The DAG parsed fresh, whose tasks retry once at once (a lost answer's retry is part of the design)."""
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "1")
    monkeypatch.setenv("AMAZON_SAGE_RETRY_DELAY_SECONDS", "0")
    return parse_dags()[DAG_ID]


def _counts(run, task_id: str) -> dict:
    return run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key="counts")


def _archived(env: dict, name: str) -> etree._Element:
    archive = max(Path(env["AMAZON_SAGE_ARCHIVE_DESTINATION"], DAG_ID).glob("*.zip.enc"),
                  key=lambda p: p.stat().st_mtime)
    with archived_zip(archive) as opened:
        return etree.fromstring(opened.read(name))


def test_despatches_are_confirmed_once_across_part_despatches_reruns_and_a_lost_answer(
        despatch_dag, sandbox_server, company, product_env, tmp_path) -> None:
    sandbox = sandbox_server.sandbox
    orders = import_unshipped_orders(sandbox, tmp_path / "import")

    # Nothing despatched in the window: a success that sends nothing.
    run, states = run_dag(despatch_dag, run_conf=WINDOW)
    assert run.state == "success", states
    assert states["map_shipments"] == states["confirm_shipments"] == "skipped"
    assert states["archive_workflow_data"] == "success" and "confirmShipment" not in sandbox.state.calls

    part = next(o for o in orders if sum(i["quantityOrdered"] for i in o["orderItems"]) >= 3)
    full, van, fba = [o for o in orders if o is not part][:3]
    fba_version = copy.deepcopy(fba)
    fba_version["fulfillment"]["fulfilledBy"] = "AMAZON"
    sandbox.add_versions([fba_version])
    despatch_order(company, full["orderId"], courier="Royal Mail Tracked 48", consignment="RM1",
                   when=datetime(2026, 11, 20, 9))
    despatch_order(company, part["orderId"], {part["orderItems"][0]["product"]["sellerSku"]: 1}, courier="Parcelforce",
                   consignment="PF1", when=datetime(2026, 11, 20, 10))
    despatch_order(company, van["orderId"], courier="Bob's Vans", consignment="BV1", when=datetime(2026, 11, 20, 11))
    despatch_order(company, fba["orderId"], courier="DPD", consignment="D1", when=datetime(2026, 11, 20, 12))
    # The second confirmation never reaches Amazon: the first try fails unsettled, its retry reads Amazon and sends it.
    sandbox.configure({"faults": [{"operation": "confirmShipment", "kind": "drop", "after": 1, "count": 1}]})
    run, states = run_dag(despatch_dag, run_conf=WINDOW)
    assert run.state == "success", states
    assert run.get_task_instance("confirm_shipments").try_number == 2
    assert _counts(run, "confirm_shipments") == {"in": 4, "out": 3, "failed": 0, "skipped": 1,
                                                 "units": 1 + sum(i["quantityOrdered"] for o in (full, van)
                                                                  for i in o["orderItems"]), "unsettled": 0}
    assert_confirmed_exactly_once(company, sandbox, [full, part, van])
    assert sandbox.confirmed_quantities(fba["orderId"]) == {}
    carriers = {c["orderId"]: (c["carrierCode"], c.get("carrierName"), c.get("shippingMethod"))
                for c in sandbox.confirmations}
    assert carriers == {full["orderId"]: ("Royal Mail", None, "Royal Mail Tracked 48"),
                        part["orderId"]: ("Parcelforce", None, "Parcelforce"),
                        van["orderId"]: ("Other", "Bob's Vans", "Bob's Vans")}
    skipped = _archived(product_env, "amazon_shipments_skipped.xml")
    assert "FBA" in skipped.findtext("Shipments/Shipment/Warnings/Warning/Description")
    success = _archived(product_env, "amazon_shipments_success.xml")
    assert {s.findtext("orderId") for s in success.iter("Shipment")} == {full["orderId"], part["orderId"],
                                                                         van["orderId"]}

    # The rest of the part order goes later; the same window is run again (a rerun, or a backfill of it).
    despatch_order(company, part["orderId"], courier="Parcelforce", consignment="PF2", when=datetime(2026, 11, 20, 16))
    run, states = run_dag(despatch_dag, run_conf=WINDOW)
    assert run.state == "success", states
    assert _counts(run, "confirm_shipments")["out"] == 1
    assert_confirmed_exactly_once(company, sandbox, [full, part, van])
    assert [c["trackingNumber"] for c in sandbox.confirmations if c["orderId"] == part["orderId"]] == ["PF1", "PF2"]

    # And once more: Amazon counts everything, nothing is sent.
    calls = sandbox.state.calls["confirmShipment"]
    run, states = run_dag(despatch_dag, run_conf=WINDOW)
    assert run.state == "success", states
    assert _counts(run, "confirm_shipments")["out"] == 0 and sandbox.state.calls["confirmShipment"] == calls
    assert_confirmed_exactly_once(company, sandbox, [full, part, van])


def test_a_worker_killed_between_confirming_and_recording_confirms_nothing_twice(
        despatch_dag, sandbox_server, company, product_env, tmp_path) -> None:
    sandbox = sandbox_server.sandbox
    order = next(o for o in import_unshipped_orders(sandbox, tmp_path / "import")
                 if sum(i["quantityOrdered"] for i in o["orderItems"]) >= 3)
    despatch_order(company, order["orderId"], courier="DHL Express", consignment="DHL7", when=datetime(2026, 11, 20, 9))
    # Amazon takes the package, then holds its answer back while the worker running the DAG is killed.
    sandbox.configure({"faults": [{"operation": "confirmShipment", "kind": "slow_after_processing", "seconds": 120}]})
    script = (f"import sys; sys.path[:0] = [{str(PROJECT / 'plugins')!r}, {str(PROJECT)!r}]\n"
              "from datetime import datetime\n"
              "from tests.helpers import parse_dags\n"
              f"when = datetime.fromisoformat({RUN_DATE.isoformat()!r})\n"
              f"parse_dags()[{DAG_ID!r}].test(logical_date=when, run_after=when, run_conf={WINDOW!r})\n")
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ), stdout=log, stderr=log,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not sandbox.confirmations:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker never confirmed"
            time.sleep(0.05)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker's process group: it and the task it runs
        worker.wait()
    folder = next(Path(product_env["AMAZON_SAGE_WORK_ROOT"], DAG_ID).iterdir())
    assert not (folder / "amazon_shipments_success.xml").exists()  # killed before anything was recorded
    sandbox.configure({"faults": []})

    # The rerun has the same run id, so the same run folder: Amazon shows the package, nothing is sent again.
    run, states = run_dag(despatch_dag, logical_date=RUN_DATE, run_after=RUN_DATE, run_conf=WINDOW)
    assert run.state == "success", states
    assert len(sandbox.confirmations) == 1 and sandbox.state.calls["confirmShipment"] == 1
    assert_confirmed_exactly_once(company, sandbox, [order])
    success = _archived(product_env, "amazon_shipments_success.xml")
    assert "earlier try" in success.findtext("Shipments/Shipment/confirmation/note")
    assert _counts(run, "confirm_shipments")["units"] == sum(i["quantityOrdered"] for i in order["orderItems"])
