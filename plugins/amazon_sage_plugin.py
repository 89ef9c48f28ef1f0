"""Registers the product with Airflow: the run report (in the menu and on every DAG run) and the listener
that notes a run's failed records and moves the rolling Download From."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from amazon_sage.listeners import run_outcome
from amazon_sage.ui.run_report import URL_PREFIX, create_app


class AmazonSagePlugin(AirflowPlugin):
    name = "amazon_sage"
    listeners: ClassVar[list[Any]] = [run_outcome]
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "Amazon-Sage run report"}]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {"name": "Amazon-Sage runs", "href": "amazon-sage/", "destination": "nav", "category": "browse",
         "url_route": "amazon-sage-runs"},
        {"name": "Run report", "href": "amazon-sage/?dag_id={DAG_ID}&run_id={RUN_ID}", "destination": "dag_run",
         "url_route": "amazon-sage-run-report"},
    ]
