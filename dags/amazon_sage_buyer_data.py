"""Buyer data housekeeping (an Airflow DAG): archives rewritten without buyer PII after PII_RETENTION_DAYS."""

from __future__ import annotations

from amazon_sage.dag_factories.buyer_data import buyer_data_dag

dag = buyer_data_dag()
