"""Files that name orders or hold secrets are 0600 whatever the umask: the import's journal, var/embedded.env."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from amazon_sage.core.sage.order_import import JOURNAL_FILE, import_sales_orders
from amazon_sage.hooks.sage50 import Sage50Hook
from sandbox.airflow_env import airflow_environment
from sandbox.run_default import write_shell_env
from tests.helpers import IMPORTED, mapped_orders


def _mode(path: Path) -> str:
    """The permission bits in octal ("0o600"), so a failure reads as modes do."""
    return oct(stat.S_IMODE(path.stat().st_mode))


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets group and others read (022, Debian's default), so only the code's own mode protects."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_the_import_journal_is_created_0600(tmp_path: Path, product_env, company, open_umask) -> None:
    zynk, _ = mapped_orders(tmp_path / "in", count=10)
    run = tmp_path / "run"
    run.mkdir()
    result = import_sales_orders(zynk, run, Sage50Hook().connect, import_statuses=IMPORTED)
    journal = run / JOURNAL_FILE
    assert result.imported > 0 and len(journal.read_text().splitlines()) == result.imported
    assert _mode(journal) == "0o600"


def test_a_journal_left_0644_by_an_earlier_attempt_becomes_0600(tmp_path: Path, product_env, company,
                                                               open_umask) -> None:
    zynk, _ = mapped_orders(tmp_path / "in", count=10)
    run = tmp_path / "run"
    run.mkdir()
    journal = run / JOURNAL_FILE
    journal.write_text("")
    journal.chmod(0o644)
    import_sales_orders(zynk, run, Sage50Hook().connect, import_statuses=IMPORTED)  # the task's retry
    assert _mode(journal) == "0o600"


def test_the_set_up_commands_env_file_is_0600_and_sources(tmp_path: Path, open_umask) -> None:
    env = airflow_environment(tmp_path / "airflow", sandbox_url="http://127.0.0.1:8765", company=tmp_path / "c.db")
    target = tmp_path / "embedded.env"
    write_shell_env(target, env)
    assert _mode(target) == "0o600"
    assert "sandbox-client-secret" in target.read_text()  # what makes it private
    target.chmod(0o644)  # as the earlier set-up left it: running the set-up again fixes it
    write_shell_env(target, env)
    assert _mode(target) == "0o600"
    sourced = subprocess.run(["bash", "-c", f"source {target} && echo \"$AIRFLOW_HOME\""], capture_output=True,
                             text=True, check=True)
    assert sourced.stdout.strip() == env["AIRFLOW_HOME"]
    assert not list(tmp_path.glob(".*partial"))
