"""Upload Shipments (an Airflow DAG): Sage 50 despatches -> Amazon shipment confirmations."""

from __future__ import annotations

from amazon_sage.dag_factories.despatches import despatches_dag

dag = despatches_dag()
