"""The event-driven orders DAG (Amazon's ORDER_CHANGE notifications through SQS), and its set-up DAG."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, Param

from amazon_sage import settings
from amazon_sage.dag_factories.defaults import dag_arguments
from amazon_sage.dag_factories.orders import STATUSES, orders_into_sage
from amazon_sage.operators.download_order_events import AmazonDownloadOrderEventsOperator
from amazon_sage.operators.order_events_path import AmazonOrderEventsPathOperator

ASSET_NAME = "amazon_order_change_events"
DAG_ID = "amazon_order_events_to_sage"
SQS_MAX_MESSAGES = 10  # SQS's most per ReceiveMessage

DOC = """
### Amazon orders to Sage 50 within a minute (ORDER_CHANGE notifications)

**Download Orders → Auto Mapper → Import Sales Orders → Archive**, run whenever Amazon says an order changed.

* Amazon sends an **ORDER_CHANGE** notification to the SQS queue `ORDER_EVENTS_QUEUE_URL` as soon as an order
  changes. The triggerer watches the queue (common-messaging's `MessageQueueTrigger` for SQS, long polls of
  `ORDER_EVENTS_WAIT_SECONDS`, through the AWS connection `ORDER_EVENTS_AWS_CONN_ID`); each receive becomes an
  event of asset `amazon_order_change_events`, which starts a run. The watcher deletes what it receives.
* Each run reads its events' messages, drops bad ones (not JSON, not ORDER_CHANGE, Amazon's schema broken,
  another seller), logged by SQS message id and counted (`bad_messages`), drops duplicates (SQS delivers at
  least once), skips statuses that are not imported (`PENDING`), and fetches each order with **getOrder**
  (no 2-minute rule; 0.5/s, burst 30). Mapping, import and archive are the polling DAG's, with its
  exactly-once rule: an order already in Sage is skipped, never doubled, whichever DAG brought it.
* **One run at a time**: messages that arrive while a run is busy are taken by the next run together, so a
  burst of 500 changes makes a few runs, not 500.
* **The polling DAG `amazon_orders_to_sage` stays on as the safety net** (hourly is enough, `ORDERS_SCHEDULE`):
  a message lost in transit, a run that failed after its messages were taken, an outage or a paused DAG are
  caught by its next window. Retry a failed run's task as usual; the polling DAG covers it too.
* **Manual run:** trigger with `order_ids` to fetch and import given orders now.
* **Settings**: `ORDER_EVENTS_QUEUE_URL`, `ORDER_EVENTS_AWS_CONN_ID`, `ORDER_EVENTS_WAIT_SECONDS`,
  `ORDER_EVENTS_POLL_DELAY_SECONDS`, `ORDER_STATUSES`, `WATCH_CANCELLATIONS`, `EXPORT_DATE`, and the mapping's
  settings as for the polling DAG. Set up the notification path with `amazon_order_events_setup` or
  `python -m amazon_sage.cli.order_events subscribe`.
"""

SETUP_DOC = """
### Set up Amazon's ORDER_CHANGE notifications (for `amazon_order_events_to_sage`)

Trigger with `action`: **subscribe** creates the SP-API destination for the SQS queue and the seller's
ORDER_CHANGE subscription (payload 1.0, filtered to the connection's marketplace and `ORDER_CHANGE_TYPES`)
when missing, then checks; **check** reports what Amazon has and the queue's policy; **unsubscribe** stops
the notifications. The task fails, naming what to fix, when the path is not whole. Retry: trigger again.
The same actions: `python -m amazon_sage.cli.order_events subscribe|check|unsubscribe`.

**Settings**: `ORDER_EVENTS_QUEUE_URL`, `ORDER_EVENTS_QUEUE_ARN`, `ORDER_EVENTS_DESTINATION_NAME`,
`ORDER_CHANGE_TYPES`, `ORDER_EVENTS_AWS_CONN_ID`; connection `amazon_sp_api_default`.
"""


def order_change_asset() -> Asset:
    """The asset the queue's messages become events of; watched only when ORDER_EVENTS_QUEUE_URL is set."""
    queue_url = settings.get("ORDER_EVENTS_QUEUE_URL")
    if not queue_url:
        return Asset(name=ASSET_NAME)
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    trigger = MessageQueueTrigger(
        scheme="sqs", sqs_queue=queue_url, aws_conn_id=settings.get("ORDER_EVENTS_AWS_CONN_ID"),
        max_messages=SQS_MAX_MESSAGES, num_batches=1,
        wait_time_seconds=min(20, max(1, settings.get_int("ORDER_EVENTS_WAIT_SECONDS"))),
        # The provider waits 60 s after an empty receive by default: the long poll already waited.
        waiter_delay=settings.get_int("ORDER_EVENTS_POLL_DELAY_SECONDS"),
    )
    return Asset(name=ASSET_NAME, watchers=[AssetWatcher(name="amazon_order_change_queue", trigger=trigger)])


def _event_dag_arguments(schedule: Any, doc: str, run_timeout: timedelta, task_timeout: timedelta) -> dict[str, Any]:
    arguments = dag_arguments(schedule_setting="ORDERS_SCHEDULE", tags=["orders", "events"],
                              run_timeout=run_timeout, task_timeout=task_timeout)
    return {**arguments, "schedule": schedule, "doc_md": doc}


def order_events_dag() -> DAG:
    """``amazon_order_events_to_sage``: changed orders -> map -> import (or audit trail) -> archive."""
    asset = order_change_asset()
    with DAG(
        dag_id=DAG_ID,
        description="Import Amazon orders into Sage 50 as soon as Amazon notifies a change (ORDER_CHANGE via SQS)",
        **_event_dag_arguments([asset], DOC, timedelta(hours=2), timedelta(hours=1)),
        params={
            "order_statuses": Param(settings.get_list("ORDER_STATUSES"), type="array",
                                    items={"type": "string", "enum": STATUSES},
                                    description="Fulfilment statuses to import into Sage."),
            "order_ids": Param([], type="array", items={"type": "string", "pattern": r"^\d{3}-\d{7}-\d{7}$"},
                               description="A manual run: Amazon order ids to fetch with getOrder and import."),
        },
    ) as dag:
        download = AmazonDownloadOrderEventsOperator(
            task_id="download_order_events",
            task_display_name="Download Orders",
            pool=settings.get("SP_API_POOL"),
            inlets=[asset],
            doc="Read the run's ORDER_CHANGE messages, fetch each changed order with getOrder into "
                "amazon_orders.xml; drop and count bad messages.",
            order_statuses="{{ params.order_statuses }}",
            order_ids="{{ params.order_ids }}",
        )
        download >> orders_into_sage("download_order_events")
    return dag


def order_events_setup_dag() -> DAG:
    """``amazon_order_events_setup``: one task that subscribes, checks or unsubscribes the notification path."""
    with DAG(
        dag_id="amazon_order_events_setup",
        description="Set up and check Amazon's ORDER_CHANGE notifications to the SQS queue",
        **_event_dag_arguments(None, SETUP_DOC, timedelta(minutes=30), timedelta(minutes=10)),
        params={"action": Param("check", enum=["subscribe", "check", "unsubscribe"],
                                description="subscribe (make what is missing, then check), check, or unsubscribe")},
    ) as dag:
        AmazonOrderEventsPathOperator(
            task_id="order_events_path", task_display_name="ORDER_CHANGE notification path",
            pool=settings.get("SP_API_POOL"), action="{{ params.action }}",
            doc="Subscribe, check or unsubscribe the ORDER_CHANGE notifications; fail naming what to fix.")
    return dag
