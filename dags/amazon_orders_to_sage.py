"""Phase 1 of the Amazon to Sage integration (an Airflow DAG): Amazon orders -> Sage 50 sales orders."""

from __future__ import annotations

from amazon_sage.dag_factories.orders import orders_dag

dag = orders_dag()
