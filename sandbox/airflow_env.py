"""The environment that runs this project's Airflow on the embedded default.

One place builds it for the set-up command, the tests and the benchmarks: a private
AIRFLOW_HOME on SQLite, the project's dags and plugins, no examples, the ODBC driver allowed
in the connection extra (the sample company names it), and the three connections.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sandbox import PROJECT

SELLER_ID = "A1EXAMPLESELLER"
CLIENT_ID = "amzn1.application-oa2-client.sandbox"


def sp_api_connection(sandbox_url: str, refresh_token: str = "Atzr|sandbox-refresh-token", *,
                      marketplace: str = "UK") -> str:
    return json.dumps({"conn_type": "amazon_sp_api", "login": CLIENT_ID, "password": "sandbox-client-secret",
                       "extra": {"refresh_token": refresh_token, "seller_id": SELLER_ID, "marketplace": marketplace,
                                 "endpoint": sandbox_url, "lwa_endpoint": sandbox_url}})


def sage_connection(company: Path) -> str:
    from sandbox.sample_company import SQLITE_OPTIONS

    return json.dumps({"conn_type": "odbc", "schema": str(company),
                       "extra": {"driver": "SQLite3", "NoCreat": "1", **SQLITE_OPTIONS}})


def airflow_environment(home: Path, *, sandbox_url: str, company: Path, work_root: Path | None = None,
                        archive: Path | None = None) -> dict[str, str]:
    """Environment variables for an Airflow process on the embedded default."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # SQLite waits up to 30 s for a lock instead of failing: several Airflow processes share the file.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=30",
        "AIRFLOW__PROVIDERS_ODBC__ALLOW_DRIVER_IN_EXTRA": "True",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW_CONN_AMAZON_SP_API_DEFAULT": sp_api_connection(sandbox_url),
        "AIRFLOW_CONN_SAGE50_DEFAULT": sage_connection(company),
        "AMAZON_SAGE_WORK_ROOT": str(work_root or home / "amazon_sage" / "work"),
        # The sandbox processes a feed in well under a second; Amazon takes minutes (default 30 s polls).
        "AMAZON_SAGE_FEED_POLL_SECONDS": "1",
        "AMAZON_SAGE_ARCHIVE_DESTINATION": str(archive or home / "amazon_sage" / "archive"),
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "plugins"), str(PROJECT)]),
    }
