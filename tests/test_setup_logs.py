"""The set-up command's runs have their task logs where the Airflow UI reads them, each ending with its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from amazon_sage.core.archive.encryption import new_key_entry
from sandbox.airflow_env import airflow_environment
from sandbox.logged_runs import airflow_services, run_logged
from sandbox.order_generator import generate_orders
from sandbox.run_default import airflow
from sandbox.sample_company import create_company
from sandbox.sp_api_server import Sandbox, SandboxServer

SUMMARIES = {"download_orders": "Download Orders summary: ", "map_orders": "Auto Mapper summary: ",
             "import_sales_orders": "Import Sales Orders summary: ",
             "archive_workflow_data": "Archive Workflow Data summary: "}


def test_the_set_up_runs_write_each_task_s_log_file_with_its_summary(tmp_path: Path) -> None:
    home, company = tmp_path / "airflow", create_company(tmp_path / "sage" / "company.db")
    home.mkdir()
    start = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    log = tmp_path / "setup.log"
    with SandboxServer(Sandbox(generate_orders(10, start, days=2.5))) as server:
        env = airflow_environment(home, sandbox_url=server.url, company=company,
                                  archive_key=new_key_entry("setup-logs"))
        airflow(env, "db", "migrate", log=log)
        subprocess.run([sys.executable, "-m", "amazon_sage.cli.pools"], env={**os.environ, **env}, check=True,
                       stdout=subprocess.DEVNULL)
        with airflow_services(env, home) as services:
            run_logged(airflow, services, "amazon_orders_to_sage",
                       json.dumps({"download_from": (start - timedelta(hours=1)).isoformat()}), log)
    files = {path.parent.name.removeprefix("task_id="): path
             for path in (home / "logs" / "dag_id=amazon_orders_to_sage").glob("run_id=*/task_id=*/attempt=1.log")}
    assert set(files) == set(SUMMARIES), sorted(files)
    for task_id, summary in SUMMARIES.items():
        lines = [json.loads(line) for line in files[task_id].read_text().splitlines() if line.startswith("{")]
        ours = [line["event"] for line in lines if line.get("logger", "").startswith("airflow.task.operators")]
        assert ours and ours[-1].startswith(summary), (task_id, ours[-3:])
