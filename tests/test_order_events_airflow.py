"""Orders within a minute, through a real Airflow (api-server, scheduler, dag-processor, triggerer).

One Airflow start, on SQLite with the LocalExecutor; the sandbox sends ORDER_CHANGE to a queue on a moto
server, and the triggerer watches it with the providers' SQS message-queue trigger:

1. an order changes: its message becomes an asset event, the event a run, the run imports that order;
2. bad messages (not JSON, another notification type, another seller) and duplicate deliveries arrive with a
   good one: the order is imported once, the bad ones are dropped and counted by message id, the triggerer
   lives on and the queue is left empty;
3. (with 2.) a burst of 40 changes makes a few runs, not 40, and every order is in Sage once;
4. after the triggerer restarts, events resume; the polling DAG over every order, then the same orders'
   notifications again: every order is in Sage once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.airflow_env import airflow_environment
from sandbox.order_generator import generate_orders
from sandbox.sample_company import create_company
from sandbox.sp_api_server import Sandbox, SandboxServer
from tests.helpers import assert_sage_matches_amazon, latest_versions, sage_rows
from tests.moto_sqs import events_airflow_env, moto_sqs
from tests.operate.airflow_scenario import RunningAirflow, free_port

EVENTS_DAG = "amazon_order_events_to_sage"
POLLING_DAG = "amazon_orders_to_sage"
ASSET = "amazon_order_change_events"
pytestmark = pytest.mark.timeout(900)


def changed_orders(count: int, seed: int, hours_ago: float = 8) -> list[dict[str, Any]]:
    """``count`` orders as they stand now, last changed hours ago (so polling's 2-minute rule lets it see them)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours_ago)
    return [v for v in latest_versions(generate_orders(count, start, days=0.05, seed=seed))
            if v["lastUpdatedTime"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")]


class EventsAirflow(RunningAirflow):
    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        answer = self.client.get(f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "run_after"})
        return answer.json()["dag_runs"]

    def wait_idle(self, dag_id: str, at_least: int, timeout: float = 240) -> list[dict[str, Any]]:
        """Wait until ``dag_id`` has ``at_least`` runs, all finished, and no new one for a few seconds."""
        deadline = time.monotonic() + timeout
        quiet_since, last = None, None
        while time.monotonic() < deadline:
            runs = self.runs(dag_id)
            done = len(runs) >= at_least and all(run["state"] in {"success", "failed"} for run in runs)
            snapshot = [(run["dag_run_id"], run["state"]) for run in runs]
            if done and snapshot == last:
                if time.monotonic() - (quiet_since or time.monotonic()) >= 3:
                    return runs
                quiet_since = quiet_since or time.monotonic()
            else:
                quiet_since = None
            last = snapshot
            time.sleep(1)
        raise RuntimeError(f"{dag_id} did not settle: {[(r['dag_run_id'], r['state']) for r in self.runs(dag_id)]}")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        answer = self.client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
                                 params={"deserialize": True})
        return answer.json()["value"] if answer.status_code == 200 else None

    def asset_events(self) -> list[dict[str, Any]]:
        [asset] = [a for a in self.client.get("/api/v2/assets", params={"limit": 100}).json()["assets"]
                   if a["name"] == ASSET]
        return self.client.get("/api/v2/assets/events", params={"asset_id": asset["id"], "limit": 1000}
                               ).json()["asset_events"]

    def restart(self, component: str) -> None:
        index = self.components.index(component)
        process = self.processes[index]
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        log = (self.home / f"{component}-restarted.log").open("w")
        self.processes[index] = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), component],
                                                 env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                 start_new_session=True)


def sage_ids(company: Path) -> list[str]:
    return [row["CUST_ORDER_NUMBER"] for row in sage_rows(company, "SELECT CUST_ORDER_NUMBER FROM SALES_ORDER")]


def new_runs(airflow: EventsAirflow, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    known = {run["dag_run_id"] for run in before}
    return [run for run in airflow.runs(EVENTS_DAG) if run["dag_run_id"] not in known]


def counts_of(airflow: EventsAirflow, runs: list[dict[str, Any]]) -> list[dict[str, int]]:
    return [airflow.xcom(EVENTS_DAG, run["dag_run_id"], "download_order_events", "counts") or {} for run in runs]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("events-airflow")
    company = create_company(home / "sage" / "company.db")
    sandbox = Sandbox(generate_orders(6, datetime.now(UTC) - timedelta(days=2), days=0.5, seed=1))
    port = free_port()
    with moto_sqs() as queue, SandboxServer(sandbox) as server:
        sandbox.configure({"sqs_endpoint_url": queue.endpoint})
        env = {**os.environ, **airflow_environment(home, sandbox_url=server.url, company=company)}
        env.update(events_airflow_env(home, port, queue, server.url, company, "Atzr|events-airflow"))
        env.update({"AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                    "AMAZON_SAGE_ORDER_EVENTS_WAIT_SECONDS": "5", "AMAZON_SAGE_TASK_RETRIES": "0"})
        env.pop("SP_API_DEFAULT_MARKETPLACE", None)
        airflow = EventsAirflow(home, env, port)
        try:
            airflow.cli("db", "migrate")
            subprocess.run([sys.executable, "-m", "amazon_sage.cli.pools"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            done = subprocess.run([sys.executable, "-m", "amazon_sage.cli.order_events", "subscribe"], env=env,
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
            airflow.start()
            deadline = time.monotonic() + 180
            while airflow.client.get(f"/api/v2/dags/{EVENTS_DAG}").status_code != 200:
                assert time.monotonic() < deadline, "the dag-processor did not parse the event DAG"
                time.sleep(2)
            airflow.unpause(EVENTS_DAG)
            yield airflow, sandbox, queue, company
        except Exception:
            print(f"Logs: {home}/*.log and {home}/logs")
            raise
        finally:
            airflow.stop()


def test_a_message_becomes_an_asset_event_a_run_and_the_order_in_sage(running) -> None:
    airflow, sandbox, queue, company = running
    [order] = changed_orders(1, seed=101)
    sandbox.add_versions([order])
    [run] = airflow.wait_idle(EVENTS_DAG, 1)
    assert run["state"] == "success" and run["run_type"] == "asset_triggered"
    [event] = airflow.asset_events()
    [message] = event["extra"]["payload"]["message_batch"]
    assert message["MessageId"] == sandbox.notifications_state.sent[0]["message_id"]
    assert sage_ids(company) == [order["orderId"]]
    assert queue.waiting() == 0  # the watcher took it


def test_a_burst_with_bad_and_duplicate_messages_is_batched_into_few_runs(running) -> None:
    """40 changes at once, with three bad messages and two more copies of one notification among them."""
    airflow, sandbox, queue, company = running
    before = airflow.runs(EVENTS_DAG)
    orders = changed_orders(40, seed=103)
    sandbox.add_versions(orders[:20])
    body = sandbox.notifications_state.sent[-1]["body"]
    other_seller = json.loads(body)
    other_seller["Payload"]["OrderChangeNotification"]["SellerId"] = "A0THERSELLER"
    other_seller["NotificationMetadata"]["NotificationId"] = "other-seller"
    entries = [("garbage", "{not json"), ("offer", json.dumps({"NotificationType": "ANY_OFFER_CHANGED"})),
               ("seller", json.dumps(other_seller)), ("again", body), ("again2", body)]
    sent = queue.client().send_message_batch(QueueUrl=queue.url, Entries=[
        {"Id": name, "MessageBody": text} for name, text in entries])
    bad_ids = {entry["MessageId"] for entry in sent["Successful"] if entry["Id"] in {"garbage", "offer", "seller"}}
    sandbox.add_versions(orders[20:])
    airflow.wait_idle(EVENTS_DAG, len(before) + 1)
    runs = new_runs(airflow, before)
    assert 1 <= len(runs) <= 6 < len(orders), f"{len(runs)} runs for {len(orders)} changes"
    assert all(run["state"] == "success" for run in runs)
    dropped = {entry["message_id"]: entry["reason"] for run in runs for entry in
               airflow.xcom(EVENTS_DAG, run["dag_run_id"], "download_order_events", "dropped_messages") or []}
    assert set(dropped) == bad_ids, dropped
    counts = counts_of(airflow, runs)
    # Each message is read by one run (the read mark): 40 changes, 3 bad, 2 copies.
    assert sum(c.get("in", 0) for c in counts) == len(orders) + len(entries)
    assert sum(c.get("bad_messages", 0) for c in counts) == 3
    assert sum(c.get("duplicates", 0) for c in counts) >= 1  # the copies read in one run with their original
    in_sage = sage_ids(company)
    assert len(in_sage) == len(set(in_sage))
    importable = {o["orderId"] for o in orders if o["fulfillment"]["fulfillmentStatus"] not in {"PENDING", "CANCELLED"}}
    assert importable - set(in_sage) <= _unknown_sku_orders(orders), "an event's order is not in Sage"
    assert airflow.processes[airflow.components.index("triggerer")].poll() is None
    assert queue.waiting() == 0


def _unknown_sku_orders(orders: list[dict[str, Any]]) -> set[str]:
    from sandbox.catalogue import CATALOGUE

    known = {p.sku for p in CATALOGUE if p.in_sage}
    return {o["orderId"] for o in orders if any(i["product"]["sellerSku"] not in known for i in o["orderItems"])}


def test_after_a_triggerer_restart_events_resume_and_with_polling_every_order_is_in_sage_once(running) -> None:
    airflow, sandbox, _, company = running
    airflow.restart("triggerer")
    airflow.unpause(POLLING_DAG)
    run_id = airflow.trigger(POLLING_DAG, {"download_from": "2020-01-01T00:00:00Z"})
    assert airflow.wait(POLLING_DAG, run_id, {"success", "failed"}) == "success"
    assert_sage_matches_amazon(company, sandbox.state.current())  # polling took the orders events never saw
    before = airflow.runs(EVENTS_DAG)
    again = [o for o in sandbox.state.current() if o["orderId"] in set(sage_ids(company))][:10]
    sandbox.notify_order_changes(again, datetime.now(UTC))  # imported orders change again...
    [new] = [o for o in changed_orders(3, seed=104) if o["fulfillment"]["fulfillmentStatus"] != "PENDING"][:1]
    sandbox.add_versions([new])  # ...and a new one, after the restart
    airflow.wait_idle(EVENTS_DAG, len(before) + 1)
    runs = new_runs(airflow, before)
    assert runs and all(run["state"] == "success" for run in runs)
    assert new["orderId"] in sage_ids(company)
    assert_sage_matches_amazon(company, sandbox.state.current())
    imports = [airflow.xcom(EVENTS_DAG, run["dag_run_id"], "import_sales_orders", "counts") or {} for run in runs]
    assert sum(c.get("out", 0) for c in imports) == 1  # the new order; the ten were in Sage: skipped, not doubled
    assert sum(c.get("duplicates", 0) for c in imports) == len(again)
