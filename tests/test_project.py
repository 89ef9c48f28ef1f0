"""Project-level promises: the README documents every setting, the DAG parses without I/O."""

from __future__ import annotations

import re
from pathlib import Path

from amazon_sage.settings import SETTINGS

PROJECT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_two_commands() -> None:
    block = re.search(r"```bash\n(.*?)```", (PROJECT / "README.md").read_text(), re.S).group(1)
    assert block.strip().splitlines() == ["bash scripts/run-embedded-default.sh", "bash scripts/test.sh"]
    assert "scripts/test.sh" in (PROJECT / ".ci" / "run").read_text()


def test_readme_documents_every_setting_with_its_default() -> None:
    readme = (PROJECT / "README.md").read_text()
    for setting in SETTINGS.values():
        row = next((line for line in readme.splitlines() if f"`{setting.env_var}`" in line), None)
        assert row, f"{setting.env_var} is not in the README: run python scripts/readme_settings.py"
        assert f"`{setting.default.replace('|', chr(92) + '|')}`" in row or (not setting.default and "(empty)" in row)


def test_requirements_are_pinned_exactly() -> None:
    lines = [line for line in (PROJECT / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][^ ]*", line) for line in lines)


def test_dag_parses_with_documented_tasks(product_env) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["amazon_orders_to_sage"]
    assert dag.max_active_runs == 1 and dag.catchup is False and dag.doc_md
    assert [t.task_id for t in dag.topological_sort()] == ["download_orders", "map_orders",
                                                          "import_sales_orders", "archive_workflow_data"]
    for task in dag.tasks:
        assert task.doc and task.retries >= 1 and task.retry_exponential_backoff


def test_every_dag_documents_itself_and_its_settings(product_env) -> None:
    from tests.helpers import parse_dags

    for dag_id, dag in parse_dags().items():
        assert dag.doc_md and "**Settings**" in dag.doc_md and "etry" in dag.doc_md, dag_id
        assert dag.tags and dag.dagrun_timeout and dag.max_active_runs == 1
        for task in dag.tasks:
            assert task.doc and task.execution_timeout and task.owner == "amazon-sage", (dag_id, task.task_id)
        for name in re.findall(r"`([A-Z_]{6,})`", dag.doc_md.split("**Settings**")[1]):
            assert name in SETTINGS, f"{dag_id} documents {name}, which is not a setting"
