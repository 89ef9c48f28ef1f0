"""Project-level promises: the README documents every setting, the DAG parses without I/O, the clone is whole."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from amazon_sage.settings import SETTINGS

PROJECT = Path(__file__).resolve().parents[1]
# Written in pieces so that this file does not match itself.
OUTSIDE_FOLDER = re.compile(r"\.\.[/\\]" + "shared" + r"\b|\b" + "shared" + r"[/\\]reference"
                            + r"|[\"']" + "shared" + r"[\"']\s*[/,)]")
NOT_SHIPPED = {".git", ".venv", "var", "logs", "__pycache__", ".ruff_cache", ".pytest_cache", "build", "dist"}


def _project_files() -> list[Path]:
    files = []
    for path in PROJECT.rglob("*"):
        relative = path.relative_to(PROJECT)
        # pip's builds leave plugins/*.egg-info (and build/) in the checkout: not part of it.
        if path.is_file() and not NOT_SHIPPED.intersection(relative.parts) and not any(
                part.endswith(".egg-info") for part in relative.parts):
            files.append(path)
    return files


def test_nothing_in_the_project_reads_a_folder_beside_it() -> None:
    """A user's clone has nothing beside it: no file may point outside the project for its models or data."""
    offenders = []
    for path in _project_files():
        text = path.read_bytes().decode("utf-8", "replace")
        offenders += [f"{path.relative_to(PROJECT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
                      for m in OUTSIDE_FOLDER.finditer(text)]
    assert not offenders, "files refer to a folder outside the project: " + "; ".join(offenders)


def test_the_check_for_outside_folders_sees_each_form() -> None:
    name = "shared"
    for text in (f"../{name}/reference/amazon", f'parents[2] / "{name}" / "reference"', f"Path('..', '{name}', 'x')",
                 f"..\\{name}\\models", f"see {name}/reference/sp-api.md"):
        assert OUTSIDE_FOLDER.search(text), text
    assert not OUTSIDE_FOLDER.search("the products shared by the sandbox and the company")


@pytest.mark.parametrize("folder", ["include/amazon", "plugins/amazon_sage/core/feeds/amazon_schemas",
                                    "plugins/amazon_sage/core/events/amazon_schemas"])
def test_amazon_models_are_the_unmodified_upstream_files(folder: str) -> None:
    folder = PROJECT / folder
    listed = dict(re.findall(r"^\| `([^`]+\.json)` \|.*\| `([0-9a-f]{64})` \|$", (folder / "README.md").read_text(),
                             re.M))
    shipped = {path.name for path in folder.glob("*.json")}
    assert shipped and set(listed) == shipped, f"every model file needs its row in {folder}/README.md"
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, f"{name} differs from upstream"
    assert "Apache License" in (folder / "LICENSE").read_text()


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


PINNED = re.compile(r"([A-Za-z0-9_.\-]+)(\[[A-Za-z0-9_,\-]+\])?==[0-9][^ ]*")
# Packages only the tests, the linter or the test build use: never part of what the product runs on.
TEST_TOOLS = {"pytest", "pytest-timeout", "pytest-xdist", "moto", "selenium", "ruff", "setuptools"}


def _requirements(name: str) -> list[str]:
    return [line.strip() for line in (PROJECT / name).read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _package(line: str) -> str:
    return re.sub(r"[-_.]+", "-", PINNED.fullmatch(line).group(1)).lower()


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_requirements_are_pinned_exactly(name: str) -> None:
    lines = [line for line in _requirements(name) if line != "-r requirements.txt"]
    assert lines, f"{name} pins nothing"
    unpinned = [line for line in lines if not PINNED.fullmatch(line)]
    assert not unpinned, f"{name} has lines that are not exact pins: {unpinned}"


def test_runtime_and_test_tools_are_apart() -> None:
    runtime = {_package(line) for line in _requirements("requirements.txt")}
    assert not runtime & TEST_TOOLS, f"test tools in requirements.txt: {sorted(runtime & TEST_TOOLS)}"
    dev = _requirements("requirements-dev.txt")
    assert dev[0] == "-r requirements.txt", "requirements-dev.txt must start from the runtime"
    assert {_package(line) for line in dev[1:]} == TEST_TOOLS


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


def test_only_xml_files_sets_the_xml_parsers_protections() -> None:
    """Every XML reader goes through core/xml_files.py, so no reader can forget to turn entities off."""
    allowed = PROJECT / "plugins" / "amazon_sage" / "core" / "xml_files.py"
    offenders = [str(path.relative_to(PROJECT)) for path in (PROJECT / "plugins").rglob("*.py")
                 if path != allowed and re.search(r"resolve_entities|etree\.iterparse\(|etree\.parse\(",
                                                  path.read_text())]
    assert not offenders, f"parse XML with amazon_sage.core.xml_files instead: {offenders}"


# Parsing a DAG may load the DAG factories, operators, settings and these small modules, nothing heavier.
# Plain-Python modules with no I/O and no heavy imports; core.marketplaces turns the marketplace settings into the
# orders mapping's parameters, which the DAG carries.
PARSE_TIME_CORE = {"amazon_sage.core", "amazon_sage.core.counts", "amazon_sage.core.files",
                   "amazon_sage.core.run_folder", "amazon_sage.core.orders", "amazon_sage.core.orders.download_window",
                   "amazon_sage.core.marketplaces", "amazon_sage.core.orders.last_window", "amazon_sage.core.run_notes"}


def test_parsing_the_dags_loads_no_hook_and_no_phase_code(tmp_path: Path) -> None:
    """The scheduler parses DAG files often: they load neither hooks nor the phases' core, lxml nor pyodbc."""
    probe = ("import runpy, sys\n"
             f"sys.path[:0] = [{str(PROJECT / 'plugins')!r}, {str(PROJECT)!r}]\n"
             "for name in ('amazon_orders_to_sage', 'sage_stock_to_amazon_inventory', "
             "'sage_stock_to_amazon_prices', 'sage_despatches_to_amazon', 'amazon_order_events_to_sage', "
             "'amazon_order_events_setup'):\n"
             f"    runpy.run_path({str(PROJECT / 'dags')!r} + '/' + name + '.py')\n"
             "print('\\n'.join(sorted(sys.modules)))\n")
    # With the queue set, the event DAG builds its SQS watcher: that too must stay light.
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path),
           "AMAZON_SAGE_ORDER_EVENTS_QUEUE_URL": "https://sqs.eu-west-2.amazonaws.com/123456789012/orders"}
    loaded = set(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                                check=True).stdout.split())
    ours = {m for m in loaded if m.startswith("amazon_sage.")}
    assert {"amazon_sage.dag_factories.orders", "amazon_sage.dag_factories.stock_feed",
            "amazon_sage.dag_factories.despatches", "amazon_sage.dag_factories.order_events"} <= ours
    heavy = {m for m in ours if m.startswith(("amazon_sage.hooks", "amazon_sage.triggers"))
             or (m.startswith("amazon_sage.core") and m not in PARSE_TIME_CORE)}
    assert not heavy, f"DAG parsing imports {sorted(heavy)}: import them inside execute()"
    assert not {"lxml", "pyodbc", "sp_api", "fastjsonschema"} & loaded  # Airflow itself loads jsonschema


def test_the_trigger_form_offers_exactly_the_export_modes() -> None:
    from amazon_sage.core.sage.stock_export import MODES
    from amazon_sage.dag_factories.stock_feed import EXPORT_MODES

    assert EXPORT_MODES == MODES
