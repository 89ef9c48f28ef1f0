"""Create or update the product's Airflow pools (run by the set-up command and the compose init).

    python -m amazon_sage.cli.pools

* ``SP_API_POOL`` (``SP_API_POOL_SLOTS`` slots): every task that calls Amazon, across DAGs and runs;
* ``SAGE_POOL`` (one slot): Sage imports, which must never run concurrently against a company.
"""

from __future__ import annotations

from amazon_sage import settings


def wanted_pools() -> list[tuple[str, int, str]]:
    return [
        (settings.get("SP_API_POOL"), settings.get_int("SP_API_POOL_SLOTS"),
         "Amazon SP-API calls of every DAG and run (one rate-limit budget)"),
        (settings.get("SAGE_POOL"), 1, "Sage 50 imports: one session per company at a time"),
    ]


def main() -> None:
    from airflow.models.pool import Pool

    for name, slots, description in wanted_pools():
        Pool.create_or_update_pool(name=name, slots=slots, description=description, include_deferred=False)
        print(f"pool {name}: {slots} slot(s)")


if __name__ == "__main__":
    main()
