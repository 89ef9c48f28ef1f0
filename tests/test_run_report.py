"""The run report plugin shows each run's phases and counts from Airflow's metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def finished_run(product_env, airflow_db, monkeypatch, sandbox_server, company):
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["amazon_orders_to_sage"]
    return dag.test(run_conf={"download_from": "2026-11-15T00:00:00Z", "download_to": "2026-11-17T00:00:00Z"})


def test_report_lists_phases_with_counts(finished_run) -> None:
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from amazon_sage.ui.run_report import create_app

    app = create_app()
    unauthenticated = TestClient(app).get("/api/runs")
    assert unauthenticated.status_code in (401, 403)  # behind Airflow's login
    app.dependency_overrides[get_user] = lambda: object()
    client = TestClient(app)
    runs = client.get("/api/runs", params={"dag_id": "amazon_orders_to_sage",
                                           "run_id": finished_run.run_id}).json()
    assert len(runs) == 1 and runs[0]["state"] == "success"
    phases = {p["task_id"]: p for p in runs[0]["phases"]}
    assert list(phases) == ["download_orders", "map_orders", "import_sales_orders", "archive_workflow_data"]
    # The phases are named as the DAG names its tasks: Zynk's task names.
    assert [p["phase"] for p in runs[0]["phases"]] == ["Download Orders", "Auto Mapper", "Import Sales Orders",
                                                       "Archive Workflow Data"]
    imported = phases["import_sales_orders"]["counts"]
    assert imported["in"] == phases["map_orders"]["counts"]["out"] == phases["download_orders"]["counts"]["out"]
    assert imported["out"] + imported["failed"] + imported["skipped"] == imported["in"]
    assert runs[0]["archive"].endswith(".zip.enc")
    page = client.get("/", params={"run_id": finished_run.run_id}).text
    assert "Import Sales Orders" in page and f"out: {imported['out']}" in page


def test_plugin_registers_the_app_and_views() -> None:
    import importlib

    plugin = importlib.import_module("amazon_sage_plugin").AmazonSagePlugin
    assert plugin.fastapi_apps[0]["url_prefix"] == "/amazon-sage"
    assert {view["destination"] for view in plugin.external_views} == {"nav", "dag_run"}
