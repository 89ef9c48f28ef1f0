"""Set up Amazon's ORDER_CHANGE notifications for the event-driven orders DAG (an Airflow DAG)."""

from __future__ import annotations

from amazon_sage.dag_factories.order_events import order_events_setup_dag

dag = order_events_setup_dag()
