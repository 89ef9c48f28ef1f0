"""Run DAGs as the set-up command does, with each task's log where the Airflow UI reads it.

``airflow dags test`` alone runs every task inside its own process (Airflow's in-process test
supervisor): the task logs go to that process's output and no per-try log file
(``logs/dag_id=…/run_id=…/task_id=…/attempt=N.log``) is ever written, so the UI, which reads
those files, shows the set-up command's runs with empty logs. Its deferred feed waits also run
inline, and leave their trigger rows behind for the next triggerer.

Here ``airflow dags test --use-executor`` hands each task to the LocalExecutor instead: a
supervised task process like any scheduled task's, which writes its log file and talks to a
real API server, and whose feed waits a real triggerer runs. Both are started for the duration
and stopped afterwards; nothing else is left running, and the DAGs stay paused (no scheduled run
is made).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

COMPONENTS = ("api-server", "triggerer")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def services_environment(env: dict[str, str], port: int) -> dict[str, str]:
    """``env`` plus what the executor's task processes need to reach the API server on ``port``.

    Kept out of ``var/embedded.env``: a later ``airflow standalone`` on that home runs its own API server.
    """
    return {**env, "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__API_AUTH__JWT_SECRET": env.get("AIRFLOW__API_AUTH__JWT_SECRET") or secrets.token_urlsafe(32),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/"}


@contextmanager
def airflow_services(env: dict[str, str], home: Path, timeout: float = 180) -> Iterator[dict[str, str]]:
    """Start an API server and a triggerer on ``home``; yield the environment to run ``dags test`` in."""
    port = _free_port()
    full = services_environment({**os.environ, **env}, port)
    airflow = str(Path(sys.executable).with_name("airflow"))
    processes = []
    try:
        for component in COMPONENTS:
            args = [airflow, component, *(["--port", str(port)] if component == "api-server" else [])]
            with (home / f"setup-{component}.log").open("w") as log:
                processes.append(subprocess.Popen(args, env=full, stdout=log, stderr=subprocess.STDOUT,
                                                  start_new_session=True))
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5):
                    break
            except (URLError, OSError):
                if time.monotonic() > deadline or processes[0].poll() is not None:
                    raise SystemExit(f"Airflow's API server did not start; see {home}/setup-api-server.log") from None
                time.sleep(1)
        yield full
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run_logged(airflow: Callable[..., None], env: dict[str, str], dag_id: str, conf: str, log: Path) -> None:
    """One run of ``dag_id`` with ``conf`` (JSON) through the executor, so its task logs are in the UI."""
    airflow(env, "dags", "test", dag_id, "--conf", conf, "--use-executor", log=log)
