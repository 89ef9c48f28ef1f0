"""The product's DAGs, built here so that ``dags/`` holds one call per DAG and no logic."""
