"""What every DAG of the product shares: owner, retries with exponential back-off, timeouts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from amazon_sage import settings


def task_defaults(execution_timeout: timedelta) -> dict[str, Any]:
    """``default_args`` for a DAG: every task retries with back-off and has a timeout."""
    return {
        "owner": "amazon-sage",
        "retries": settings.get_int("TASK_RETRIES"),
        "retry_delay": timedelta(seconds=settings.get_int("RETRY_DELAY_SECONDS")),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": execution_timeout,
    }
