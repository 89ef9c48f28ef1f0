"""Set up, check and remove the notification path: SQS queue -> SP-API destination -> ORDER_CHANGE subscription.

Amazon sends a seller's ORDER_CHANGE notifications to a *destination* (here an SQS queue, by ARN), through
a *subscription* of the seller to that notification type. :func:`subscribe` makes whatever is missing and
is safe to repeat; :func:`check` says what is wrong, in words a seller can act on; :func:`unsubscribe`
deletes the subscription (Amazon stops sending; the destination stays, as other subscriptions may use it).
``api`` is anything with the SellingPartnerHook's notification methods (``create_destination``,
``get_destinations``, ``create_subscription``, ``get_subscription``, ``delete_subscription_by_id``).

The queue must let Amazon send to it: :func:`policy_problems` reads its policy for the statement Amazon's
set-up guide asks for (principal ``437568002678`` allowed ``sqs:SendMessage``), and for statements that let
anyone else send.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

NOTIFICATION_TYPE = "ORDER_CHANGE"
PAYLOAD_VERSION = "1.0"
AMAZON_NOTIFICATIONS_ACCOUNT = "437568002678"  # the account Amazon's notifications service sends from
QUEUE_URL = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(\d{12})/([A-Za-z0-9_.-]+)$")


class NotificationsApi(Protocol):
    def create_destination(self, name: str, sqs_arn: str) -> dict[str, Any]: ...
    def get_destinations(self) -> list[dict[str, Any]]: ...
    def create_subscription(self, notification_type: str, destination_id: str, *, payload_version: str,
                            processing_directive: dict[str, Any] | None = None) -> dict[str, Any]: ...
    def get_subscription(self, notification_type: str, payload_version: str) -> dict[str, Any] | None: ...
    def delete_subscription_by_id(self, notification_type: str, subscription_id: str) -> None: ...


@dataclass
class PathStatus:
    """What Amazon has for the queue: its destination, the seller's subscription, and what is wrong."""

    queue_arn: str
    destination: dict[str, Any] | None = None
    subscription: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        destination = self.destination["destinationId"] if self.destination else "none"
        subscription = self.subscription["subscriptionId"] if self.subscription else "none"
        out = [f"queue {self.queue_arn}", f"destination {destination}", f"ORDER_CHANGE subscription {subscription}"]
        out += [f"created {what}" for what in self.made]
        out += [f"problem: {problem}" for problem in self.problems] or ["notification path OK"]
        return out


def queue_arn(queue_url: str, arn: str | None = None) -> str:
    """The queue's ARN: ``arn`` when given, else read from an AWS queue URL (other URLs need the ARN set)."""
    if arn:
        return arn
    match = QUEUE_URL.match(queue_url or "")
    if not match:
        raise ValueError(f"cannot tell the queue's ARN from {queue_url!r}: set ORDER_EVENTS_QUEUE_ARN "
                         "(arn:aws:sqs:<region>:<account>:<name>)")
    region, account, name = match.groups()
    return f"arn:aws:sqs:{region}:{account}:{name}"


def processing_directive(marketplace_ids: list[str], change_types: list[str]) -> dict[str, Any]:
    """The subscription's filter: only these marketplaces and order change types are sent."""
    return {"eventFilter": {"eventFilterType": NOTIFICATION_TYPE, "marketplaceIds": list(marketplace_ids),
                            "orderChangeTypes": list(change_types)}}


def _destination_for(api: NotificationsApi, arn: str) -> dict[str, Any] | None:
    return next((d for d in api.get_destinations() if (d.get("resource") or {}).get("sqs", {}).get("arn") == arn),
                None)


def check(api: NotificationsApi, *, arn: str, marketplace_ids: list[str], change_types: list[str]) -> PathStatus:
    """What Amazon has for ``arn`` and the seller, and every problem with it."""
    status = PathStatus(arn, _destination_for(api, arn), api.get_subscription(NOTIFICATION_TYPE, PAYLOAD_VERSION))
    if status.destination is None:
        status.problems.append("no SP-API destination for the queue: run the subscribe command")
    if status.subscription is None:
        status.problems.append("the seller has no ORDER_CHANGE subscription: run the subscribe command")
        return status
    if status.destination and status.subscription["destinationId"] != status.destination["destinationId"]:
        status.problems.append(f"the ORDER_CHANGE subscription sends to another destination "
                               f"({status.subscription['destinationId']}): unsubscribe, then subscribe")
    event_filter = (status.subscription.get("processingDirective") or {}).get("eventFilter") or {}
    missing_markets = set(marketplace_ids) - set(event_filter.get("marketplaceIds") or marketplace_ids)
    missing_types = set(change_types) - set(event_filter.get("orderChangeTypes") or change_types)
    if missing_markets or missing_types:
        status.problems.append(f"the subscription's filter leaves out {sorted(missing_markets | missing_types)}: "
                               "unsubscribe, then subscribe")
    return status


def subscribe(api: NotificationsApi, *, arn: str, destination_name: str, marketplace_ids: list[str],
              change_types: list[str]) -> PathStatus:
    """Create the destination and the subscription when missing (repeatable), then :func:`check`."""
    made = []
    destination = _destination_for(api, arn)
    if destination is None:
        destination = api.create_destination(destination_name, arn)
        made.append(f"destination {destination['destinationId']}")
    if api.get_subscription(NOTIFICATION_TYPE, PAYLOAD_VERSION) is None:
        subscription = api.create_subscription(NOTIFICATION_TYPE, destination["destinationId"],
                                               payload_version=PAYLOAD_VERSION,
                                               processing_directive=processing_directive(marketplace_ids,
                                                                                         change_types))
        made.append(f"subscription {subscription['subscriptionId']}")
    status = check(api, arn=arn, marketplace_ids=marketplace_ids, change_types=change_types)
    status.made = made
    return status


def unsubscribe(api: NotificationsApi) -> str | None:
    """Delete the seller's ORDER_CHANGE subscription; its id, or None when there was none."""
    subscription = api.get_subscription(NOTIFICATION_TYPE, PAYLOAD_VERSION)
    if subscription is None:
        return None
    api.delete_subscription_by_id(NOTIFICATION_TYPE, subscription["subscriptionId"])
    return subscription["subscriptionId"]


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def policy_problems(policy: str | None, arn: str) -> list[str]:
    """What is wrong with the queue's access policy for Amazon's notifications (empty: nothing)."""
    if not policy:
        return [f"the queue has no access policy: allow principal {AMAZON_NOTIFICATIONS_ACCOUNT} sqs:SendMessage"]
    statements = json.loads(policy).get("Statement") or []
    amazon, anyone = False, False
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        actions = {a.lower() for a in _listed(statement.get("Action"))}
        if not actions & {"sqs:sendmessage", "sqs:*", "*"}:
            continue
        principal = statement.get("Principal")
        principals = _listed(principal.get("AWS") if isinstance(principal, dict) else principal)
        if any(p == "*" for p in principals):
            anyone = True
        if any(AMAZON_NOTIFICATIONS_ACCOUNT in p for p in principals) and any(
                r in (arn, "*") for r in _listed(statement.get("Resource")) or [arn]):
            amazon = True
    problems = []
    if not amazon:
        problems.append(f"the queue's policy does not let Amazon ({AMAZON_NOTIFICATIONS_ACCOUNT}) send: add its "
                        "statement (README, Orders within a minute)")
    if anyone:
        problems.append("the queue's policy lets anyone send (Principal \"*\"): only Amazon's principal may")
    return problems
