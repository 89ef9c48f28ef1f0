"""Set up and check the ORDER_CHANGE notification path (Orders within a minute).

    python -m amazon_sage.cli.order_events subscribe     # destination for the queue + ORDER_CHANGE subscription
    python -m amazon_sage.cli.order_events check         # what Amazon has, the queue's policy, what is wrong
    python -m amazon_sage.cli.order_events unsubscribe   # Amazon stops sending (the polling DAG carries on)

Run it with the same environment as Airflow (settings ``ORDER_EVENTS_QUEUE_URL``, ``ORDER_EVENTS_QUEUE_ARN``,
``ORDER_CHANGE_TYPES``, ``ORDER_EVENTS_DESTINATION_NAME``; the SP-API and AWS connections). The DAG
``amazon_order_events_setup`` runs the same actions as a task. Exit code 0 means the path is whole.
"""

from __future__ import annotations

import argparse
from typing import Any

from amazon_sage import settings
from amazon_sage.core.events import subscription as path

ACTIONS = ("subscribe", "check", "unsubscribe")


def change_types() -> list[str]:
    return [part.strip() for part in settings.get("ORDER_CHANGE_TYPES").split(",") if part.strip()]


def queue_policy(queue_url: str, aws_conn_id: str | None = None) -> str | None:
    """The queue's access policy, read through the watcher's AWS connection."""
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    client = SqsHook(aws_conn_id=aws_conn_id or settings.get("ORDER_EVENTS_AWS_CONN_ID")).get_conn()
    return client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"]).get(
        "Attributes", {}).get("Policy")


def run(action: str, *, sp_api_conn_id: str | None = None, aws_conn_id: str | None = None,
        with_policy: bool = True) -> tuple[path.PathStatus | None, list[str]]:
    """Do ``action``; return the path's status (None after unsubscribe) and the lines that report it."""
    from amazon_sage.hooks.selling_partner import SellingPartnerHook

    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
    hook = SellingPartnerHook(sp_api_conn_id)
    if action == "unsubscribe":
        deleted = path.unsubscribe(hook)
        return None, [f"deleted ORDER_CHANGE subscription {deleted}" if deleted else "no ORDER_CHANGE subscription"]
    queue_url = settings.get("ORDER_EVENTS_QUEUE_URL")
    if not queue_url:
        raise ValueError(f"{settings.SETTINGS['ORDER_EVENTS_QUEUE_URL'].env_var} is not set: name the SQS queue")
    arn = path.queue_arn(queue_url, settings.get("ORDER_EVENTS_QUEUE_ARN"))
    filters: dict[str, Any] = {"arn": arn, "marketplace_ids": [hook.marketplace.marketplace_id],
                               "change_types": change_types()}
    status = (path.subscribe(hook, destination_name=settings.get("ORDER_EVENTS_DESTINATION_NAME"), **filters)
              if action == "subscribe" else path.check(hook, **filters))
    if with_policy:
        status.problems += path.policy_problems(queue_policy(queue_url, aws_conn_id), arn)
    return status, status.lines()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amazon_sage.cli.order_events",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--sp-api-conn-id", help="override SP_API_CONN_ID")
    parser.add_argument("--aws-conn-id", help="override ORDER_EVENTS_AWS_CONN_ID")
    parser.add_argument("--no-policy-check", action="store_true", help="do not read the queue's access policy")
    args = parser.parse_args(argv)
    status, lines = run(args.action, sp_api_conn_id=args.sp_api_conn_id, aws_conn_id=args.aws_conn_id,
                        with_policy=not args.no_policy_check)
    print("\n".join(lines))
    return 0 if status is None or status.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
