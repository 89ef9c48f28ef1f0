"""The operating scenario on a running Airflow (api-server, scheduler, dag-processor, triggerer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCENARIO = Path(__file__).resolve().parent / "operate" / "airflow_scenario.py"


def test_trigger_backfill_and_per_phase_retry_on_a_running_airflow() -> None:
    done = subprocess.run([sys.executable, str(SCENARIO)], capture_output=True, text=True, timeout=900)
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "All checks passed" in done.stdout
