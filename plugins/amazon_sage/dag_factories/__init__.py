"""The product's DAGs, built here so that ``dags/`` holds one call per DAG and no logic.

Every product DAG's tasks have the owner :data:`OWNER`, which is how the run report finds them,
and a display name that is the Zynk phase they replace.
"""

OWNER = "amazon-sage"
