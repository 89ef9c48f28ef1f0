"""Operate the product on a running Airflow, as a seller would, and check the outcome.

    python tests/operate/airflow_scenario.py [--keep] [--topology local|celery|both]

It starts api-server, scheduler, dag-processor and triggerer in a temporary AIRFLOW_HOME,
with the SP-API sandbox and a sample Sage company. The ``local`` topology is LocalExecutor
on SQLite; the ``celery`` topology is what users grow into: CeleryExecutor with a separate
``airflow celery worker`` process, the machine's Redis (a fresh db number) as broker and its
PostgreSQL (a fresh database, dropped afterwards) as metadata database and result backend.
On the local topology it:

1. triggers each of the three DAGs through the REST API v2 and waits for success;
2. runs ``airflow backfill create`` for the orders DAG over three daily intervals from a
   Download From date, and checks Sage holds the union of those orders exactly once;
3. locks the Sage company so that an orders run's import fails, releases the lock, clears
   only that task through the REST API, and checks it succeeds without downloading again;
4. checks the run report's JSON API answers with real counts behind the login;
5. checks that the run with failed (gift-set) orders succeeded with a note naming them, on the run
   and on its Import Sales Orders, written by the product's listener in the scheduler;
6. adds orders placed after the last successful window, triggers a manual run with the form left
   as it is (a logical date of now, as the UI's button sends), and checks it imports exactly those,
   moves the rolling Download From on and says so in its log, and that the archive's log ends with
   its summary line;
7. in headless Chromium: takes screenshots of each DAG's grid; opens the run report, where the run
   with failed orders is *completed with errors* with its failed orders and reasons, downloads its
   fail file from the report's link and checks it holds those orders, filters by state, pages on with
   the filter kept, and shows empty runs only when asked; screenshots the run list with the failed
   run's note opened, that run's and its import's pages with their notes, and the trigger form with
   its statuses list open, into ``.ci/artifacts/``;
8. adds an Amazon SP-API connection through the UI's Admin > Connections form, checks the form's
   labelled fields, and reads the saved connection back through ``SellingPartnerHook``, down to a
   download from the sandbox with it (screenshots of the form too);
9. logs the browser out and checks that the report then sends it to Airflow's login page.

On the celery topology it runs only what the executor changes: steps 1, 3 and 5 (tasks queued to
a worker, a cleared task's retry, the listener's note from the scheduler). Backfill, the report, the
rolling run and the UI do not depend on the executor, and repeating them doubled the suite's time.

Airflow knows connection type ``amazon_sp_api`` from the project's provider entry point, so each
pass first pip-installs the project into its AIRFLOW_HOME and puts that on ``PYTHONPATH`` (after
``plugins/``, whose code still runs).

Every assertion is on the sample company, the sandbox or Airflow's API. Exit code 0 means
all passed. It prints where the logs are.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

PROJECT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(PROJECT / "plugins"), str(PROJECT)]

from amazon_sage.connection_form import EXTRA_FIELDS, UI_FIELD_BEHAVIOUR  # noqa: E402
from amazon_sage.core.archive.encryption import new_key_entry  # noqa: E402
from amazon_sage.core.orders.last_window import VARIABLE as LAST_WINDOW_VARIABLE  # noqa: E402
from sandbox.airflow_env import airflow_environment  # noqa: E402
from sandbox.order_generator import generate_orders  # noqa: E402
from sandbox.sample_company import create_company, odbc_connection_string  # noqa: E402
from sandbox.sp_api_server import Sandbox, SandboxServer  # noqa: E402
from tests.helpers import latest_versions  # noqa: E402
from tests.operate.browser import logged_in_chromium  # noqa: E402
from tests.operate.connection_form_ui import add_connection_in_the_form, read_through_the_hook  # noqa: E402
from tests.operate.provider_install import install_provider  # noqa: E402

ORDERS_START = datetime(2026, 11, 16, tzinfo=timezone.utc)
RETRIED = ("2026-11-19T12:00:00Z", "2026-11-21T00:00:00Z")  # the window of the run whose import is retried
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DAG_IDS = ("amazon_orders_to_sage", "sage_stock_to_amazon_inventory", "sage_stock_to_amazon_prices")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)
    print(f"  ok: {message}", flush=True)


class RunningAirflow:
    """Airflow's components as subprocesses, and a REST client logged in as admin."""

    def __init__(self, home: Path, env: dict[str, str], port: int, extra: list[str] | None = None):
        self.home, self.env, self.port = home, env, port
        self.components = list(COMPONENTS) + (extra or [])
        self.processes: list[subprocess.Popen] = []
        self.api = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.api, timeout=30)

    def cli(self, *args: str, check_rc: bool = True) -> subprocess.CompletedProcess:
        for _ in range(3):
            done = subprocess.run([str(Path(sys.executable).with_name("airflow")), *args], env=self.env,
                                  capture_output=True, text=True)
            # SQLite metadata: a command whose read transaction must become a write while the scheduler writes
            # gets "database is locked" at once (no busy wait). Its one session rolled back, so run it again.
            if not (done.returncode and "database is locked" in done.stdout + done.stderr):
                break
            time.sleep(1)
        if check_rc and done.returncode:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return done

    def start(self) -> None:
        for component in self.components:
            args = component.split()
            if args[0] == "api-server":
                args += ["--port", str(self.port)]
            log = (self.home / f"{component.replace(' ', '-')}.log").open("w")
            self.processes.append(subprocess.Popen([str(Path(sys.executable).with_name("airflow")), *args],
                                                   env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if self.client.get("/api/v2/monitor/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        else:
            raise RuntimeError(f"the API server did not answer; see {self.home}/api-server.log")
        token = self.client.post("/auth/token", json={"username": "admin", "password": "admin"}).json()
        self.client.headers["Authorization"] = f"Bearer {token['access_token']}"
        self.token = token["access_token"]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def wait_for_dags(self) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if all(self.client.get(f"/api/v2/dags/{dag_id}").status_code == 200 for dag_id in DAG_IDS):
                return
            time.sleep(2)
        raise RuntimeError("the dag-processor did not parse the DAGs; see dag-processor.log")

    def unpause(self, dag_id: str) -> None:
        answer = self.client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        answer.raise_for_status()

    def trigger(self, dag_id: str, conf: dict, logical_date: str | None = None) -> str:
        answer = self.client.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": logical_date, "conf": conf})
        answer.raise_for_status()
        return answer.json()["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        answer = self.client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()
        return {ti["task_id"]: ti["state"] for ti in answer["task_instances"]}

    def wait(self, dag_id: str, run_id: str, until: set[str], timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in until:
                return state
            time.sleep(1)
        raise RuntimeError(f"{dag_id} {run_id} still {state} after {timeout}s: {self.task_states(dag_id, run_id)}")

    def wait_task(self, dag_id: str, run_id: str, task_id: str, until: set[str], timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.task_states(dag_id, run_id).get(task_id)
            if state in until:
                return state
            time.sleep(1)
        raise RuntimeError(f"{task_id} of {run_id} not in {until}: {self.task_states(dag_id, run_id)}")


def sage_order_ids(company: Path) -> list[str]:
    import pyodbc

    connection = pyodbc.connect(odbc_connection_string(company), autocommit=True)
    try:
        return [row[0] for row in connection.execute("SELECT CUST_ORDER_NUMBER FROM SALES_ORDER").fetchall()]
    finally:
        connection.close()


def downloadable_orders(sandbox: Sandbox, after: str, before: str) -> list[dict[str, Any]]:
    """The latest version of each order updated in [after, before) with an imported status."""
    latest = {}
    for history in sandbox.state.versions.values():
        latest[history[-1]["orderId"]] = history[-1]
    return [o for o in latest.values() if after <= o["lastUpdatedTime"] < before
            and o["fulfillment"]["fulfillmentStatus"] in {"UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"}]


def expected_ids(sandbox: Sandbox, after: str, before: str) -> set[str]:
    """The orders of the window that the import takes into Sage (the gift set's SKU is unknown to Sage)."""
    return {o["orderId"] for o in downloadable_orders(sandbox, after, before)
            if all(i["product"]["sellerSku"] != "GIFTSET-AFTERNOON-TEA" for i in o["orderItems"])}


def zulu(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def gift_set_ids(sandbox: Sandbox, after: str, before: str) -> set[str]:
    """The orders of the window that fail in the import: the gift set's SKU is not in Sage."""
    return {o["orderId"] for o in downloadable_orders(sandbox, after, before)} - expected_ids(sandbox, after, before)


def task_log(airflow: RunningAirflow, dag_id: str, run_id: str, task_id: str) -> str:
    """The task's log as the UI shows it (REST API v2, first try)."""
    answer = airflow.client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1",
                                headers={"Accept": "application/json"})
    answer.raise_for_status()
    return json.dumps(answer.json()["content"])


def scenario(airflow: RunningAirflow, sandbox: Sandbox, company: Path, *, full: bool = True) -> str:
    """Run the steps; return the id of the orders run with failed orders (for the screenshots).

    ``full`` runs all six; without it only what the executor changes: triggering (1), a cleared task's
    retry (3) and the listener's note (5). Backfill, the report and the rolling run are executor-agnostic.
    """
    airflow.wait_for_dags()
    runs = trigger_each_dag(airflow, sandbox, company)
    imported = expected_ids(sandbox, "2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z")
    if full:
        imported = backfill(airflow, sandbox, company)
    run_id, everything = retry_one_task(airflow, sandbox, company, imported)
    if full:
        report_api(airflow, run_id, everything - imported)
    run_with_failed_orders(airflow, sandbox, runs[DAG_IDS[0]], run_id)
    if full:
        rolling_manual_run(airflow, sandbox, company)
    return runs[DAG_IDS[0]]


def trigger_each_dag(airflow: RunningAirflow, sandbox: Sandbox, company: Path) -> dict[str, str]:
    print("1. Trigger each DAG through the REST API v2", flush=True)
    runs = {
        "amazon_orders_to_sage": airflow.trigger("amazon_orders_to_sage", {
            "download_from": "2026-11-16T00:00:00Z", "download_to": "2026-11-17T00:00:00Z"}),
        "sage_stock_to_amazon_inventory": airflow.trigger("sage_stock_to_amazon_inventory", {"export_mode": "All"}),
        "sage_stock_to_amazon_prices": airflow.trigger("sage_stock_to_amazon_prices", {"export_mode": "All"}),
    }
    for dag_id in DAG_IDS:
        airflow.unpause(dag_id)
    for dag_id, run_id in runs.items():
        check(airflow.wait(dag_id, run_id, {"success", "failed"}) == "success", f"{dag_id} run {run_id} succeeded")
    first_day = expected_ids(sandbox, "2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z")
    check(set(sage_order_ids(company)) == first_day, f"Sage holds the {len(first_day)} orders of the first day")
    check(sandbox.feeds_state.listings["MUG-RED-01"].quantity == 40, "the inventory feed reached the sandbox")
    return runs


def backfill(airflow: RunningAirflow, sandbox: Sandbox, company: Path) -> set[str]:
    """Step 2; returns the orders Sage then holds (the first day's and the backfilled days')."""
    print("2. Backfill the orders DAG over three days from a Download From date", flush=True)
    airflow.cli("backfill", "create", "--dag-id", "amazon_orders_to_sage", "--from-date", "2026-11-17",
                "--to-date", "2026-11-19", "--max-active-runs", "1")
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        backfill_runs = [r for r in airflow.client.get("/api/v2/dags/amazon_orders_to_sage/dagRuns",
                                                       params={"run_type": "backfill"}).json()["dag_runs"]]
        if len(backfill_runs) == 3 and all(r["state"] in {"success", "failed"} for r in backfill_runs):
            break
        time.sleep(2)
    check(len(backfill_runs) == 3 and all(r["state"] == "success" for r in backfill_runs),
          "three backfill runs succeeded")
    ids = sage_order_ids(company)
    # Backfill logical dates are interval starts: 17, 18 and 19 cover [17th, 20th).
    union = expected_ids(sandbox, "2026-11-16T00:00:00Z", "2026-11-20T00:00:00Z")
    check(len(ids) == len(set(ids)), "no order is in Sage twice")
    check(set(ids) == union, f"Sage holds exactly the union of the first and backfilled days ({len(union)} orders)")

    return union


def retry_one_task(airflow: RunningAirflow, sandbox: Sandbox, company: Path, before: set[str]) -> tuple[str, set[str]]:
    """Step 3; returns the retried run's id and the orders Sage then holds (``before`` and the run's window)."""
    print("3. Fail the import with a locked company, then clear only that task", flush=True)
    locker = sqlite3.connect(company)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        run_id = airflow.trigger("amazon_orders_to_sage", {"download_from": RETRIED[0], "download_to": RETRIED[1]})
        check(airflow.wait_task("amazon_orders_to_sage", run_id, "import_sales_orders", {"failed"}) == "failed",
              "the import failed while Sage was locked")
    finally:
        locker.rollback()
        locker.close()
    airflow.wait(DAG_IDS[0], run_id, {"failed"})
    downloads = sandbox.state.calls["searchOrders"]
    answer = airflow.client.post(f"/api/v2/dags/{DAG_IDS[0]}/clearTaskInstances", json={
        "dry_run": False, "dag_run_id": run_id, "task_ids": ["import_sales_orders"], "only_failed": True,
        "reset_dag_runs": True, "include_downstream": True})
    answer.raise_for_status()
    check(airflow.wait(DAG_IDS[0], run_id, {"success", "failed"}) == "success", "the cleared import succeeded")
    check(sandbox.state.calls["searchOrders"] == downloads, "nothing was downloaded again")
    everything = before | expected_ids(sandbox, *RETRIED)
    ids = sage_order_ids(company)
    check(set(ids) == everything and len(ids) == len(set(ids)), f"Sage holds all {len(everything)} orders once")
    return run_id, everything


def report_api(airflow: RunningAirflow, run_id: str, new_in_retry: set[str]) -> None:
    """Step 4: the report's JSON API, behind the login, with the retried import's counts."""
    print("4. The run report answers behind the login", flush=True)
    check(httpx.get(f"{airflow.api}/amazon-sage/api/runs").status_code in (401, 403), "the report needs a login")
    report = airflow.client.get("/amazon-sage/api/runs", params={"dag_id": DAG_IDS[0], "run_id": run_id}).json()
    phases = {p["task_id"]: p for p in report[0]["phases"]}
    counts = phases["import_sales_orders"]["counts"]
    check(counts["out"] == len(new_in_retry) and counts["duplicates"] > 0,
          f"the report shows the retried import's counts ({counts['out']} imported, "
          f"{counts['duplicates']} already in Sage from the overlap)")


def run_with_failed_orders(airflow: RunningAirflow, sandbox: Sandbox, first_run: str, run_id: str) -> None:
    """Step 5: the listener's notes on the run with failed orders and on the retried run."""
    print("5. A run with failed orders completes with errors, and its note names them", flush=True)
    failed = gift_set_ids(sandbox, "2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z")
    noun = "order" if len(failed) == 1 else "orders"
    run = airflow.client.get(f"/api/v2/dags/{DAG_IDS[0]}/dagRuns/{first_run}").json()
    check(bool(failed) and run["state"] == "success"
          and run["note"].startswith(f"Completed with errors: {len(failed)} {noun} failed: ")
          and set(run["note"].split("failed: ")[1].split(" (")[0].split(" and ")[0].split(", ")) <= failed,
          f"the first run succeeded with the note {run['note'][:80]!r}…, naming its failed gift-set orders")
    ti = airflow.client.get(f"/api/v2/dags/{DAG_IDS[0]}/dagRuns/{first_run}/taskInstances/import_sales_orders").json()
    check(ti["state"] == "success" and ti["note"].startswith(f"{len(failed)} {noun} failed: "),
          f"Import Sales Orders succeeded with the note {ti['note']!r}")
    retried, retried_failed = airflow.client.get(f"/api/v2/dags/{DAG_IDS[0]}/dagRuns/{run_id}").json(), \
        gift_set_ids(sandbox, *RETRIED)
    check(retried["note"].startswith(f"Completed with errors: {len(retried_failed)} ") if retried_failed
          else retried["note"] is None, "the run whose import was cleared and retried carries its own note")



def rolling_manual_run(airflow: RunningAirflow, sandbox: Sandbox, company: Path) -> None:
    """Step 6: a manual run with the form left as it is carries on from the last successful window."""
    print("6. A manual run with no window imports the orders placed since the last window", flush=True)
    # Every successful window counts: the retried run's, and the scheduled run the unpaused DAG made for the last day.
    scheduled = [r["data_interval_end"] for r in airflow.client.get(f"/api/v2/dags/{DAG_IDS[0]}/dagRuns", params={
        "run_type": "scheduled", "state": "success"}).json()["dag_runs"]]
    mark = max([RETRIED[1]] + [zulu(datetime.fromisoformat(end.replace("Z", "+00:00"))) for end in scheduled])
    variable = airflow.client.get(f"/api/v2/variables/{LAST_WINDOW_VARIABLE}").json()
    check(variable["value"] == mark, f"the rolling Download From is where the last successful window ended ({mark})")
    start = datetime.fromisoformat(mark.replace("Z", "+00:00"))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    placed = latest_versions(generate_orders(8, start, days=1, seed=2311))
    for number, order in enumerate(placed, 1):  # placed between that end and now − 3 minutes, with new ids
        order["orderId"] = "203-" + order["orderId"][4:]
        order["createdTime"] = order["lastUpdatedTime"] = zulu(start + (now - timedelta(minutes=3) - start) * number
                                                               / (len(placed) + 1))
    sandbox.add_versions(placed)
    before = set(sage_order_ids(company))
    new = expected_ids(sandbox, mark, "2099-01-01T00:00:00Z")
    placed_ids = new & {o["orderId"] for o in placed}
    check(bool(placed_ids) and not placed_ids & before,
          f"{len(placed_ids)} importable orders were placed since the last window, none in Sage yet")
    # As the UI's trigger button sends it: a logical date of now, and the form left as it is.
    rolling = airflow.trigger(DAG_IDS[0], {}, logical_date=now.isoformat())
    check(airflow.wait(DAG_IDS[0], rolling, {"success", "failed"}) == "success", "the manual run succeeded")
    ids = sage_order_ids(company)
    check(set(ids) == before | new and len(ids) == len(set(ids)),
          f"it imported the {len(placed_ids)} orders placed since the last window (and nothing older), each once")
    moved = airflow.client.get(f"/api/v2/variables/{LAST_WINDOW_VARIABLE}").json()["value"]
    check(moved > mark and moved >= zulu(now - timedelta(minutes=2, seconds=10)),
          f"the rolling Download From moved on to now − 2 minutes ({moved})")
    log = task_log(airflow, DAG_IDS[0], rolling, "download_orders")
    check("from the end of the last successful window" in log and mark in log,
          "the download's log says where the window started")
    check("Archive Workflow Data summary: " in task_log(airflow, DAG_IDS[0], rolling, "archive_workflow_data"),
          "the archive's log, as the UI shows it, ends with its summary line")


def screenshots(airflow: RunningAirflow, driver: Any, sandbox: Sandbox, folder: Path, first_run: str) -> list[Path]:
    """Grid views of the three DAGs and the run report, through the logged-in headless Chromium ``driver``."""
    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    for dag_id in DAG_IDS:
        driver.get(f"{airflow.api}/dags/{dag_id}")
        time.sleep(6)  # the React UI loads its data after the page
        shots.append(folder / f"grid_{dag_id}.png")
        driver.save_screenshot(str(shots[-1]))
    shots += report_in_the_browser(airflow, driver, sandbox, folder, first_run)
    shots += run_with_errors(airflow, driver, folder, first_run)
    shots += trigger_form(airflow, driver, folder)
    return shots


def report_in_the_browser(airflow: RunningAirflow, driver: Any, sandbox: Sandbox, folder: Path,
                          first_run: str) -> list[Path]:
    """The run report as a seller uses it: the run with failed orders, its fail file, the filter and paging."""
    from lxml import etree
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    print("   The run report in the browser", flush=True)
    driver.get(f"{airflow.api}/plugin/amazon-sage-runs")  # Browse > Amazon-Sage runs: the report inside the UI
    WebDriverWait(driver, 30).until(expected_conditions.frame_to_be_available_and_switch_to_it((By.TAG_NAME,
                                                                                                "iframe")))
    WebDriverWait(driver, 30).until(lambda page: page.find_elements(By.CSS_SELECTOR, "tr[data-run-id]"))
    check("run report" in driver.page_source, "Browse > Amazon-Sage runs shows the report inside Airflow's UI")
    driver.switch_to.default_content()
    paths = [folder / "run_report_in_airflow.png"]
    driver.save_screenshot(str(paths[-1]))
    report = f"{airflow.api}/amazon-sage/"
    driver.get(report)
    time.sleep(1)
    paths.append(folder / "run_report.png")
    driver.save_screenshot(str(paths[-1]))
    [row] = driver.find_elements(By.CSS_SELECTOR, f"tr[data-run-id='{first_run}']")
    failed = gift_set_ids(sandbox, "2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z")
    check(row.find_element(By.CSS_SELECTOR, ".badge").text == "completed with errors",
          "the run with failed orders shows as 'completed with errors' in the report")
    summary = row.find_element(By.CSS_SELECTOR, "details summary")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", summary)
    summary.click()  # open the failed records
    time.sleep(0.5)
    listed = row.find_elements(By.CSS_SELECTOR, "details li b")
    check({item.text for item in listed} == failed, f"its failed records list the {len(failed)} gift-set orders")
    check("GIFTSET-AFTERNOON-TEA" in row.find_element(By.CSS_SELECTOR, "details").text,
          "each with its reason (the gift set's SKU is not in Sage)")
    paths.append(folder / "run_report_failed_records.png")
    driver.save_screenshot(str(paths[-1]))
    [link] = [a for a in row.find_elements(By.CSS_SELECTOR, ".files a") if a.text == "fail file"]
    href = link.get_attribute("href")
    check(href.startswith(f"{airflow.api}/amazon-sage/download/file?") and "/tmp" not in href,
          "the fail file's link names the run and the file, not a server path")
    download = airflow.client.get(href.removeprefix(airflow.api))
    download.raise_for_status()
    records = etree.fromstring(download.content).xpath("//SalesOrder")
    check({record.findtext("CustomerOrderNumber") for record in records} == failed,
          "the fail file downloaded from the report holds exactly the failed orders")
    check(httpx.get(href).status_code == 303, "the download needs the login too")

    driver.get(f"{report}?dag_id={DAG_IDS[0]}&state=errors")
    outcomes = [tr.get_attribute("data-outcome") for tr in driver.find_elements(By.CSS_SELECTOR, "tr[data-run-id]")]
    check(bool(outcomes) and set(outcomes) == {"errors"}, f"filtered by state, the report lists {len(outcomes)} runs, "
          "all completed with errors")
    driver.get(f"{report}?dag_id={DAG_IDS[0]}&per_page=2")
    first_page = [tr.get_attribute("data-run-id") for tr in driver.find_elements(By.CSS_SELECTOR, "tr[data-run-id]")]
    driver.find_element(By.CSS_SELECTOR, "a[rel='next']").click()
    time.sleep(0.5)
    second_page = [tr.get_attribute("data-run-id") for tr in driver.find_elements(By.CSS_SELECTOR, "tr[data-run-id]")]
    check(len(first_page) == 2 and second_page and not set(first_page) & set(second_page)
          and f"dag_id={DAG_IDS[0]}" in driver.current_url and "per_page=2" in driver.current_url,
          "the next page holds the next runs and keeps the filter")
    dag_ids = {tr.get_attribute("data-run-id"): tr.find_element(By.TAG_NAME, "a").text
               for tr in driver.find_elements(By.CSS_SELECTOR, "tr[data-run-id]")}
    check(set(dag_ids.values()) == {DAG_IDS[0]}, "and only the chosen DAG's runs")
    empty = [r["run_id"] for r in airflow.client.get("/amazon-sage/api/runs", params={
        "show_empty": True, "per_page": 100}).json() if r["empty"]]
    driver.get(report)
    shown = {tr.get_attribute("data-run-id") for tr in driver.find_elements(By.CSS_SELECTOR, "tr[data-run-id]")}
    driver.find_element(By.NAME, "show_empty").click()
    driver.find_element(By.CSS_SELECTOR, "form.filter button").click()
    time.sleep(0.5)
    with_empty = {tr.get_attribute("data-run-id") for tr in driver.find_elements(By.CSS_SELECTOR, "tr[data-run-id]")}
    check(bool(empty) and not shown & set(empty) and set(empty) <= with_empty,
          f"empty runs ({len(empty)}, e.g. the scheduled run of a day with no orders) show only when asked for")
    return paths


def logged_out(airflow: RunningAirflow, driver: Any, folder: Path) -> list[Path]:
    """A visit to the report without a login lands on Airflow's login page."""
    driver.delete_all_cookies()
    driver.get(f"{airflow.api}/amazon-sage/?state=errors")
    time.sleep(3)
    path = folder / "run_report_logged_out.png"
    driver.save_screenshot(str(path))
    check("/auth/login" in driver.current_url and "next=" in driver.current_url
          and "password" in driver.page_source.lower(),
          f"logged out, the report sends the browser to Airflow's login ({driver.current_url.split('?')[0]})")
    return [path]


def run_with_errors(airflow: RunningAirflow, driver: Any, folder: Path, run_id: str) -> list[Path]:
    """The run list (all green; the run's Note button opens its note), the run's page and its import's page.

    Airflow 3.3's run list has no note column: a run with a note has a filled Note icon in its row.
    """
    from urllib.parse import quote, unquote

    from selenium.webdriver.common.by import By

    driver.get(f"{airflow.api}/dags/{DAG_IDS[0]}/runs")
    time.sleep(6)
    paths = [folder / "runs_amazon_orders_to_sage.png"]
    driver.save_screenshot(str(paths[-1]))  # every run green
    driver.execute_script("for (const e of document.querySelectorAll('div')) {"  # to the actions column
                          "  if (e.scrollWidth > e.clientWidth + 5) e.scrollLeft = e.scrollWidth; }")
    [row] = [tr for tr in driver.find_elements(By.TAG_NAME, "tr")
             if any(unquote(a.get_attribute("href") or "").endswith(f"/runs/{run_id}")
                    for a in tr.find_elements(By.TAG_NAME, "a"))]
    [note] = [b for b in row.find_elements(By.TAG_NAME, "button") if b.get_attribute("aria-label") == "Note"]
    note.click()  # its Note icon is filled; it opens the note
    time.sleep(2)
    paths.append(folder / "runs_note_of_the_run_with_failed_orders.png")
    driver.save_screenshot(str(paths[-1]))
    check("Completed with errors: " in driver.page_source, "in the run list, the run's Note button shows its note")
    pages = {"run_with_failed_orders": (f"{airflow.api}/dags/{DAG_IDS[0]}/runs/{quote(run_id)}",
                                        "Completed with errors: "),
             "import_with_failed_orders": (f"{airflow.api}/dags/{DAG_IDS[0]}/runs/{quote(run_id)}/tasks/"
                                           "import_sales_orders", " failed: 202-")}
    for name, (url, expected) in pages.items():
        driver.get(url)
        time.sleep(6)
        paths.append(folder / f"{name}.png")
        driver.save_screenshot(str(paths[-1]))
        if expected:
            check(expected in driver.page_source, f"the page {name} shows the note {expected!r}…")
    return paths


def trigger_form(airflow: RunningAirflow, driver: Any, folder: Path) -> list[Path]:
    """The orders DAG's trigger form: titles in the seller's words, the statuses and marketplaces as multi-selects."""
    from selenium.webdriver.common.by import By

    driver.get(f"{airflow.api}/dags/{DAG_IDS[0]}")
    time.sleep(5)
    [button] = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Trigger"][:1]
    button.click()
    time.sleep(3)
    paths = [folder / "trigger_form_amazon_orders_to_sage.png"]
    driver.save_screenshot(str(paths[0]))
    page = driver.page_source
    for text in ("Download from", "Download to", "Order statuses to import", "rolling Download From"):
        check(text in page, f"the trigger form shows {text!r}")
    check(all(label in page for label in ("Unshipped", "Partially shipped", "Shipped")),
          "the form's multi-select holds the default statuses by their Seller Central names")
    statuses, _ = driver.find_elements(By.CSS_SELECTOR, "input[role='combobox']")  # statuses, then marketplaces
    check("Marketplaces" in page and "every marketplace of the Amazon connection" in page,
          "the trigger form offers the marketplaces, none chosen meaning all of the connection's")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", statuses)
    statuses.click()  # open its list
    time.sleep(1)
    paths.append(folder / "trigger_form_order_statuses.png")
    driver.save_screenshot(str(paths[-1]))
    check(all(label in driver.page_source for label in ("Pending (not yet paid)", "Cancelled", "Unfulfillable")),
          "the multi-select offers the other statuses")
    # A click on the next field's title closes the statuses list (Escape would close the whole form).
    title = driver.find_element(By.XPATH, "//*[normalize-space(text())='Marketplaces']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", title)
    title.click()
    time.sleep(1)
    marketplaces = driver.find_elements(By.CSS_SELECTOR, "input[role='combobox']")[1]  # the form redrew them
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", marketplaces)
    marketplaces.click()
    time.sleep(1)
    paths.append(folder / "trigger_form_marketplaces.png")
    driver.save_screenshot(str(paths[-1]))
    check(all(label in driver.page_source for label in ("Amazon.co.uk (UK, GBP)", "Amazon.de (DE, EUR)")),
          "the marketplaces multi-select names each marketplace with its currency")
    return paths


FORM_CONN_ID = "amazon_sp_api_form"


def connection_form(airflow: RunningAirflow, driver: Any, sandbox: Sandbox, sandbox_url: str,
                    folder: Path) -> list[Path]:
    """Add an Amazon SP-API connection in the UI's form; the hook reads it back and downloads with it."""
    print("7. Add an Amazon SP-API connection through the UI form and use it through the hook", flush=True)
    [meta] = [m for m in airflow.client.get("/ui/connections/hook_meta").json()
              if m["connection_type"] == "amazon_sp_api"]
    check(meta["hook_name"] == "Amazon Selling Partner API" and set(meta["extra_fields"]) == set(EXTRA_FIELDS),
          "the API server serves the provider's connection type with its extra fields")
    extra = {"refresh_token": "Atzr|typed-in-the-form", "seller_id": "A2FORMSELLER", "marketplace": "uk",
             "endpoint": sandbox_url, "lwa_endpoint": sandbox_url}
    seen = add_connection_in_the_form(driver, airflow.api, FORM_CONN_ID, "amzn1.application-oa2-client.form",
                                      "secret-typed-in-the-form", extra, folder)
    relabelled = list(UI_FIELD_BEHAVIOUR["relabeling"].values())
    check(all(label in seen.standard_text for label in relabelled), f"the form labels login and password {relabelled}")
    labels = [field["label"] for field in EXTRA_FIELDS.values()]
    check(all(label in seen.extra_text for label in labels), f"the form shows the extra fields {labels}")
    check(not {"host", "port", "schema"} & seen.input_names and {"login", "password"} <= seen.input_names,
          "the form hides host, schema and port")
    window = ("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z")
    read = read_through_the_hook(airflow.env, FORM_CONN_ID, *window)
    check(read["seller_id"] == "A2FORMSELLER" and read["marketplace_id"] == "A1F83G8C2ARO7P",
          "the hook reads the seller id and the marketplace (uk is the UK's A1F83G8C2ARO7P) saved by the form")
    check(read["credentials"] == {"lwa_app_id": "amzn1.application-oa2-client.form",
                                  "lwa_client_secret": "secret-typed-in-the-form",
                                  "refresh_token": "Atzr|typed-in-the-form"}, "the hook reads the LWA credentials")
    check(read["endpoint"] == read["lwa_endpoint"] == sandbox_url, "the hook reads both endpoints")
    downloaded = {o["orderId"] for o in downloadable_orders(sandbox, *window)}
    check(len(read["orders"]) == len(downloaded) and set(read["orders"]) == downloaded,
          f"with that connection the hook downloads the window's {len(downloaded)} orders from the sandbox")
    return list(seen.screenshots)


def celery_environment(env: dict[str, str], run: str) -> tuple[dict[str, str], Any]:
    """A fresh PostgreSQL database and Redis db for one pass; returns the env and a clean-up function."""
    import psycopg2
    import redis

    database = f"amazon_sage_{run}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    number = 1 + int(run, 16) % 15
    broker = redis.Redis(host="127.0.0.1", port=6379, db=number)
    broker.flushdb()
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"
    celery_env = {**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url, "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                  "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{number}",
                  "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
                  "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4"}

    def clean_up() -> None:
        broker.flushdb()
        admin.cursor().execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.close()

    return celery_env, clean_up


def run_pass(topology: str, keep: bool) -> Path:
    home = Path(tempfile.mkdtemp(prefix=f"amazon-sage-operate-{topology}-"))
    company = create_company(home / "sage" / "company.db")
    sandbox = Sandbox(generate_orders(120, ORDERS_START, days=5))
    # Amazon takes minutes; a feed DONE within a second races Airflow 3.3 itself on a loaded machine: the worker's
    # "success" for the try that deferred can reach the scheduler after the trigger fired and the task was queued
    # to resume, and the scheduler then fails the task ("state changed externally"). Seconds are enough.
    sandbox.configure({"processing_delay": 8})
    port = free_port()
    clean_up = None
    print(f"== {topology} topology, AIRFLOW_HOME {home}", flush=True)
    with SandboxServer(sandbox) as server:
        env = {**os.environ, **airflow_environment(home, sandbox_url=server.url, company=company,
                                                   archive_key=new_key_entry(f"operate-{topology}"))}
        provider = install_provider(home / "provider")
        env["PYTHONPATH"] += os.pathsep + str(provider)
        env.update({
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API_AUTH__JWT_SECRET": "operate-scenario-secret",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AMAZON_SAGE_ORDERS_SCHEDULE": "0 0 * * *",
            "AMAZON_SAGE_TASK_RETRIES": "0",
            "AIRFLOW_CONN_SAGE50_DEFAULT": json.dumps({"conn_type": "odbc", "schema": str(company),
                                                       "extra": {"driver": "SQLite3", "NoCreat": "1",
                                                                 "Timeout": "500"}}),
        })
        extra: list[str] = []
        if topology == "celery":
            env, clean_up = celery_environment(env, os.urandom(4).hex())
            extra = ["celery worker"]
        (home / "passwords.json").write_text(json.dumps({"admin": "admin"}))
        airflow = RunningAirflow(home, env, port, extra)
        try:
            airflow.cli("db", "migrate")
            subprocess.run([sys.executable, "-m", "amazon_sage.cli.pools"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            airflow.start()
            first_run = scenario(airflow, sandbox, company, full=topology == "local")
            if topology == "local":
                artifacts = PROJECT / ".ci" / "artifacts"
                with logged_in_chromium(airflow.api, airflow.token) as driver:
                    shots = screenshots(airflow, driver, sandbox, artifacts, first_run)
                    shots += connection_form(airflow, driver, sandbox, server.url, artifacts)
                    shots += logged_out(airflow, driver, artifacts)
                for shot in shots:
                    print(f"  screenshot: {shot}", flush=True)
        except Exception:
            print(f"FAILED on {topology}. Logs: {home}/*.log and {home}/logs", flush=True)
            keep = True
            raise
        finally:
            airflow.stop()
            if clean_up:
                clean_up()
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return home


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOMEs")
    parser.add_argument("--topology", choices=("local", "celery", "both"), default="both")
    args = parser.parse_args()
    for topology in ("local", "celery") if args.topology == "both" else (args.topology,):
        started = time.monotonic()
        run_pass(topology, args.keep)
        print(f"== {topology} topology passed in {time.monotonic() - started:.0f} s", flush=True)
    print("All checks passed.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
