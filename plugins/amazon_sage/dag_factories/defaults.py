"""What every DAG of the product shares: its DAG arguments, and each task's owner, retries and timeout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param

from amazon_sage import settings
from amazon_sage.core.orders.download_window import parse_instant
from amazon_sage.dag_factories import OWNER
from amazon_sage.notifiers.seller_alert import SellerAlertNotifier


def task_defaults(execution_timeout: timedelta) -> dict[str, Any]:
    """``default_args`` for a DAG: every task retries with back-off and has a timeout."""
    return {
        "owner": OWNER,
        "retries": settings.get_int("TASK_RETRIES"),
        "retry_delay": timedelta(seconds=settings.get_int("RETRY_DELAY_SECONDS")),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": execution_timeout,
    }


def dag_arguments(*, schedule_setting: str, tags: list[str], run_timeout: timedelta,
                  task_timeout: timedelta) -> dict[str, Any]:
    """The ``DAG(...)`` arguments every product DAG shares.

    Runs follow the cron setting named ``schedule_setting`` in UTC from ``DOWNLOAD_FROM``, without
    catch-up, one at a time (Zynk's mutex), with native templates, and a seller alert when a run fails.
    """
    return {
        "schedule": CronDataIntervalTimetable(settings.get(schedule_setting), timezone="UTC"),
        "start_date": parse_instant(settings.get("DOWNLOAD_FROM")),
        "catchup": False,
        "max_active_runs": 1,
        "dagrun_timeout": run_timeout,
        "render_template_as_native_obj": True,
        "on_failure_callback": SellerAlertNotifier(),
        "tags": ["amazon", "sage50", *tags],
        "default_args": task_defaults(execution_timeout=task_timeout),
    }


def window_params(start: str, end: str, *, what: str, end_note: str = "") -> dict[str, Param]:
    """The trigger form's one-off window: date-times ``start`` and ``end`` (UTC); empty means the run's interval.

    No default date: a backfill's runs must each take their own interval.
    """
    return {start: Param(None, type=["null", "string"], format="date-time",
                         description=f"{what} from this time (UTC). Empty: the run's interval."),
            end: Param(None, type=["null", "string"], format="date-time",
                       description=f"...up to this time{end_note}. Empty: the interval's end.")}


def marketplace_id(sp_api_conn_id: str | None = None) -> str:
    """Jinja macro ``{{ marketplace_id() }}``: the connection's marketplace id, looked up at run time only."""
    from amazon_sage.hooks.selling_partner import SellingPartnerHook

    return SellingPartnerHook(sp_api_conn_id).marketplace.marketplace_id
