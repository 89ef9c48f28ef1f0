"""Orders within a minute (an Airflow DAG): Amazon's ORDER_CHANGE notifications -> Sage 50 sales orders."""

from __future__ import annotations

from amazon_sage.dag_factories.order_events import order_events_dag

dag = order_events_dag()
