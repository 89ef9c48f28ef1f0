"""Seller alerts from Airflow: a notifier for failed runs, and the notice of failed records.

Both go by the channel the settings name (``NOTIFY_CHANNEL``: none, email or webhook); the
message itself is built and sent by :mod:`amazon_sage.core.alerts`. An alert never fails the
run it reports on.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from amazon_sage import settings
from amazon_sage.core.counts import PhaseCounts

log = logging.getLogger(__name__)


def _deliver(payload: dict[str, Any]) -> None:
    from airflow.sdk import BaseHook

    from amazon_sage.core.alerts import SmtpSettings, render, send_email, send_webhook

    channel = settings.get("NOTIFY_CHANNEL").strip().lower()
    if channel == "none":
        return
    try:
        if channel == "webhook":
            connection = BaseHook.get_connection(settings.get("NOTIFY_WEBHOOK_CONN_ID"))
            send_webhook(connection.host, payload)
        elif channel == "email":
            connection = BaseHook.get_connection(settings.get("NOTIFY_SMTP_CONN_ID"))
            extra = connection.extra_dejson
            smtp = SmtpSettings(host=connection.host, port=int(connection.port or 25), login=connection.login,
                                password=connection.password,
                                sender=extra.get("from_email") or connection.login or "airflow@localhost",
                                use_ssl=bool(extra.get("ssl")), starttls=bool(extra.get("starttls")))
            recipients = [a.strip() for a in settings.get("NOTIFY_EMAIL_TO").split(",") if a.strip()]
            if not recipients:
                log.warning("NOTIFY_CHANNEL is email but NOTIFY_EMAIL_TO is empty: notice not sent")
                return
            send_email(smtp, recipients, *render(payload))
        else:
            log.warning("Unknown NOTIFY_CHANNEL %r: use none, email or webhook", channel)
            return
        log.info("Sent %s notice for %s by %s", payload["event"], payload["dag_id"], channel)
    except Exception as exc:  # a notice must never fail the run it reports on
        log.warning("Could not send the %s notice by %s: %s", payload["event"], channel, exc)


class SellerAlertNotifier(BaseNotifier):
    """DAG ``on_failure_callback``: tell the seller which run and task failed, why, and what to do."""

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        # Nothing is templated. Rendering anyway breaks where Airflow hands callbacks a serialized DAG,
        # which has no template environment (as `dag.test()` does in Airflow 3.3).
        if self.template_fields:
            super().render_template_fields(context, jinja_env)

    def notify(self, context: Any) -> None:
        dag_run = context.get("dag_run")
        ti = context.get("ti") or context.get("task_instance")
        _deliver({"event": "run failed", "dag_id": context["dag"].dag_id,
                  "run_id": getattr(dag_run, "run_id", context.get("run_id")),
                  "task_id": getattr(ti, "task_id", None),
                  "reason": str(context.get("reason") or context.get("exception") or "a task failed"),
                  "what_to_do": "Open the run in Airflow, read the failed task's log, fix the cause, clear the "
                                "task."})


def notify_failed_records(context: Any, kind: str, failures: list[tuple[str, str]], counts: PhaseCounts) -> None:
    """A separate notice when records (orders, SKUs) failed, at most once per DAG per period."""
    if not failures or settings.get("NOTIFY_CHANNEL").strip().lower() == "none":
        return
    dag_id = context["dag"].dag_id
    from amazon_sage.core.alerts import NoticeRateLimit

    limiter = NoticeRateLimit(settings.work_root() / ".notices.json",
                              settings.get_int("NOTIFY_RECORDS_EVERY_MINUTES") * 60)
    if not limiter.allow(f"records:{dag_id}:{kind}"):  # one kind of failure never silences another
        log.info("%d failed %s not notified: a notice went out less than NOTIFY_RECORDS_EVERY_MINUTES ago",
                 len(failures), kind)
        return
    _deliver({"event": f"failed {kind}", "dag_id": dag_id, "run_id": context.get("run_id"), "counts": counts.as_dict(),
              "records": [f"{record_id}: {error}" for record_id, error in failures[:50]]})
