"""Shared fixtures: a real Airflow home on SQLite, the SP-API sandbox over HTTP, a sample company.

Airflow reads its configuration at import, so the environment is set here, before any test
module imports it. Never import this module from a test: pytest loads it as ``conftest``, and
a second import would make a second Airflow home. Each test gets its own sample company, sandbox and refresh token (the
SP-API library caches access tokens per refresh token, process-wide).
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "plugins"), str(PROJECT)]

from amazon_sage.core.archive.encryption import new_key_entry  # noqa: E402
from sandbox.airflow_env import airflow_environment, sp_api_connection  # noqa: E402

SESSION_HOME = Path(tempfile.mkdtemp(prefix="amazon-sage-airflow-"))
# A fresh archive key for the session, as a deployment's own: never one kept in the repository.
ARCHIVE_KEY = new_key_entry("test-session")
os.environ.update(airflow_environment(SESSION_HOME, sandbox_url="http://127.0.0.1:9", company=SESSION_HOME / "none.db",
                                      archive_key=ARCHIVE_KEY))
for trap in ("SP_API_DEFAULT_MARKETPLACE", "AWS_ENV"):
    os.environ.pop(trap, None)

from sandbox.order_generator import generate_orders  # noqa: E402
from sandbox.sample_company import create_company  # noqa: E402
from sandbox.sp_api_server import Sandbox, SandboxServer  # noqa: E402
from tests.helpers import ORDERS_START  # noqa: E402

_tokens = itertools.count()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata tables in the session's SQLite home, created once."""
    from airflow.utils.db import initdb

    initdb()
    return SESSION_HOME


@pytest.fixture
def moto_server() -> Iterator[int]:
    """S3 as moto's server on loopback: its port."""
    from tests.s3_server import running_moto_server

    with running_moto_server() as port:
        yield port


@pytest.fixture
def company(tmp_path: Path) -> Path:
    return create_company(tmp_path / "sage" / "company.db")


@pytest.fixture
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(generate_orders(40, ORDERS_START, days=3))) as server:
        yield server


@pytest.fixture
def product_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox_server: SandboxServer,
                company: Path) -> dict[str, str]:
    """Connections and folders for the product, pointing at this test's sandbox and company."""
    env = airflow_environment(SESSION_HOME, sandbox_url=sandbox_server.url, company=company,
                              work_root=tmp_path / "work", archive=tmp_path / "archive", archive_key=ARCHIVE_KEY)
    env["AIRFLOW_CONN_AMAZON_SP_API_DEFAULT"] = sp_api_connection(sandbox_server.url, f"Atzr|test-{next(_tokens)}")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
