"""Run the orders DAG end to end on the embedded default and say where the results are.

It prepares ``var/`` in the project: an Airflow home on SQLite, the sample Sage company and
the archive folder; starts the SP-API sandbox with generated orders from the last few days;
runs ``airflow dags test amazon_orders_to_sage`` over that window; then prints the archive,
the success and fail files (copied out of the archive) and what landed in Sage.

    python -m embedded.run_default [--orders 60] [--port 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyodbc

from embedded.airflow_env import PROJECT, airflow_environment
from embedded.order_generator import generate_orders
from embedded.sample_company import create_company, odbc_connection_string
from embedded.spapi_sandbox import Sandbox, SandboxServer

VAR = Path(os.environ.get("AMAZON_SAGE_VAR", PROJECT / "var"))
DAG_ID = "amazon_orders_to_sage"


def airflow(env: dict[str, str], *args: str, log: Path) -> None:
    """Run an ``airflow`` CLI command; on failure show the end of its output and stop."""
    command = [str(Path(sys.executable).with_name("airflow")), *args]
    with log.open("a") as handle:
        handle.write(f"\n$ {shlex.join(command)}\n")
        handle.flush()
        done = subprocess.run(command, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"`airflow {' '.join(args[:2])}` failed (exit {done.returncode}). End of {log}:\n{tail}")


def sage_summary(company: Path) -> str:
    connection = pyodbc.connect(odbc_connection_string(company))
    try:
        orders, gross = connection.execute("SELECT COUNT(*), SUM(INVOICE_GROSS) FROM SALES_ORDER").fetchone()
        lines = connection.execute("SELECT COUNT(*) FROM SOP_ITEM").fetchone()[0]
    finally:
        connection.close()
    return f"{orders} sales orders, {lines} lines, gross £{float(gross or 0):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=60, help="orders the sandbox generates")
    parser.add_argument("--port", type=int, default=0, help="sandbox port (0 = any free port)")
    parser.add_argument("--fresh-company", action="store_true", help="recreate the sample Sage company first")
    args = parser.parse_args()

    home, results = VAR / "airflow", VAR / "results"
    for folder in (home, results, VAR / "sage"):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    company = VAR / "sage" / "company.db"
    if args.fresh_company or not company.exists():
        create_company(company)
    log = VAR / "run-embedded-default.log"
    start = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    sandbox = Sandbox(generate_orders(args.orders, start, days=2.5))

    with SandboxServer(sandbox, args.port) as server:
        env = airflow_environment(home, sandbox_url=server.url, company=company)
        (VAR / "embedded.env").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
        print(f"SP-API sandbox: {server.url} ({args.orders} orders since {start:%Y-%m-%d %H:%M} UTC)")
        print(f"Airflow home:   {home} (log: {log})")
        airflow(env, "db", "migrate", log=log)
        conf = json.dumps({"download_from": (start - timedelta(hours=1)).isoformat()})
        print("Running DAG amazon_orders_to_sage (download -> map -> import -> archive) ...", flush=True)
        airflow(env, "dags", "test", DAG_ID, "--conf", conf, log=log)
        state = sandbox.state.calls

    archive_dir = Path(env["AMAZON_SAGE_ARCHIVE_DESTINATION"])
    archive = max((archive_dir / DAG_ID).glob("*.zip"), key=lambda p: p.stat().st_mtime)
    target = results / archive.stem
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(target)
        members = zipped.namelist()
    for path in target.rglob("*"):
        path.chmod(0o600 if path.is_file() else 0o700)
    print(f"\nDone. SP-API calls: {state}")
    print(f"Archive of the run:  {archive}")
    print(f"  holds: {', '.join(sorted(members))}")
    print(f"Success file:        {target / 'zynk_orders_success.xml'}")
    print(f"Fail file:           {target / 'zynk_orders_fail.xml'}")
    print(f"Skipped file:        {target / 'zynk_orders_skipped.xml'}")
    print(f"Sage company:        {company}: {sage_summary(company)}")
    print(f"Open the UI on the same home: source {VAR / 'embedded.env'} && .venv/bin/airflow standalone")


if __name__ == "__main__":
    main()
