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


def _not_private(root: Path) -> list[str]:
    """Every file under ``root`` that is not 0600 and every folder (``root`` too) that is not 0700."""
    wrong = [] if _mode(root) == "0o700" else [f"{root}/ {_mode(root)}"]
    for path in root.rglob("*"):
        if _mode(path) != ("0o700" if path.is_dir() else "0o600"):
            wrong.append(f"{path.relative_to(root)}{'/' if path.is_dir() else ''} {_mode(path)}")
    return wrong


def test_every_file_and_folder_that_runs_leave_is_private(product_env, airflow_db, company, sandbox_server,
                                                          monkeypatch, open_umask, capfd) -> None:
    """Two whole runs under umask 022 whose archive cannot run (no archive key), so every working file stays.

    The walk covers the work root, each DAG's and run's folder, the downloads and mapped files, the import's
    success, fail and skipped files and journal, the feed documents, rejected and report JSON, the feed
    submission journal and registry. Then, with the key, a run's archive folder and files.
    """
    from tests.helpers import parse_dags

    monkeypatch.delenv("AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY")
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    work_root = Path(product_env["AMAZON_SAGE_WORK_ROOT"])
    dags = parse_dags()
    orders = dags["amazon_orders_to_sage"].test(run_conf={"download_from": "2026-11-15T00:00:00Z",
                                                          "download_to": "2026-11-19T00:00:00Z"})
    prices = dags["sage_stock_to_amazon_prices"].test(run_conf={"export_mode": "All"})
    for run in (orders, prices):
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert states.pop("archive_workflow_data") == "failed" and set(states.values()) == {"success"}, states
    logged = capfd.readouterr()
    assert "The archive key connection 'amazon_sage_archive_key' is not set" in logged.out + logged.err
    assert "The run's working files are kept; clear this task to retry." in logged.out + logged.err
    written = {p.name for p in work_root.rglob("*") if p.is_file()}
    assert {"amazon_orders.xml", "zynk_orders.xml", "zynk_orders_success.xml", "zynk_orders_fail.xml",
            "zynk_orders_skipped.xml", JOURNAL_FILE, "zynk_stock_records.xml", "amazon_prices.xml",
            "amazon_prices_feed_001.json", "amazon_prices_success.xml", "amazon_prices_fail.xml",
            "amazon_prices_feed_submissions.json", ".feed_registry.json"} <= written, sorted(written)
    assert any(name.startswith("amazon_prices_report_") for name in written)
    assert any("rejected" in name for name in written), sorted(written)
    assert _not_private(work_root) == []

    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY", product_env["AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY"])
    archived = dags["sage_stock_to_amazon_prices"].test(run_conf={"export_mode": "All"})
    assert archived.state == "success"
    archive_root = Path(product_env["AMAZON_SAGE_ARCHIVE_DESTINATION"])
    assert len(list(archive_root.rglob("*.zip.enc"))) == 1
    assert _not_private(archive_root) == []
