"""The Notifications API v1 part of the SP-API sandbox, and the ORDER_CHANGE notifications it sends to SQS.

* ``createDestination``, ``getDestinations``, ``getSubscriptionById`` and ``deleteSubscriptionById`` are grantless,
  as Amazon's model says: they need an access token from LWA's ``client_credentials`` grant with scope
  ``sellingpartnerapi::notifications`` (403 with a seller's token). ``createSubscription`` and
  ``getSubscription`` need the seller's token (403 with a grantless one).
* Every request body is checked against ``notifications.json`` (``CreateDestinationRequest`` with its SQS ARN
  pattern, ``CreateSubscriptionRequest`` with its processing directive) and every answer against the
  operation's response schema. A second subscription of one type and payload version is 409, as on Amazon;
  an unknown destination is 400, an unknown subscription 404.
* When an order changes (a version is added whose ``lastUpdatedTime`` is not in the future) and an ORDER_CHANGE
  subscription exists, the sandbox sends the notification (validated against ``OrderChangeNotification.json``)
  as the body of one SQS message to the destination's queue, on the SQS endpoint set with
  ``POST /_sandbox/config {"sqs_endpoint_url": ...}`` (a moto server in tests). The subscription's event
  filter (marketplaces, order change types) applies. Each sending is recorded with its time
  (``GET /_sandbox/notifications``), which the latency benchmark reads.
* ``seller_id`` (config) is the seller the notifications name; the connection's seller by default.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

NOTIFICATIONS = "/notifications/v1"
NOTIFICATION_LIMITS = {name: (1.0, 5.0) for name in (
    "createDestination", "getDestinations", "createSubscription", "getSubscription", "getSubscriptionById",
    "deleteSubscriptionById")}
GRANTLESS_SCOPE = "sellingpartnerapi::notifications"
APPLICATION_ID = "amzn1.sellerapps.app.sandbox-application"
DEFAULT_SELLER = "A1EXAMPLESELLER"
# v2026 fulfillmentStatus -> the notification's OrderStatus.
NOTIFIED_STATUS = {"PENDING": "Pending", "PENDING_AVAILABILITY": "PendingAvailability", "UNSHIPPED": "Unshipped",
                   "PARTIALLY_SHIPPED": "PartiallyShipped", "SHIPPED": "Shipped", "CANCELLED": "Canceled",
                   "UNFULFILLABLE": "Unfulfillable"}


class NotificationsError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _iso_ms(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class NotificationsModel:
    """Validators for the operations' bodies and answers, and the ORDER_CHANGE payload."""

    def __init__(self, directory: Path):
        model = json.loads((directory / "notifications.json").read_text())
        definitions = model["definitions"]

        def validator(name: str) -> jsonschema.Draft4Validator:
            return jsonschema.Draft4Validator({"$ref": f"#/definitions/{name}", "definitions": definitions})

        self.requests = {name: validator(name) for name in ("CreateDestinationRequest", "CreateSubscriptionRequest")}
        self.responses = {name: validator(name) for name in (
            "CreateDestinationResponse", "GetDestinationsResponse", "CreateSubscriptionResponse",
            "GetSubscriptionResponse", "GetSubscriptionByIdResponse", "DeleteSubscriptionByIdResponse")}
        payload = json.loads((directory / "OrderChangeNotification.json").read_text())
        self.order_change = jsonschema.Draft7Validator(payload)

    def check_request(self, name: str, body: Any) -> None:
        error = next(iter(self.requests[name].iter_errors(body)), None)
        if error is not None:
            raise NotificationsError(400, "InvalidInput", f"{name}: {error.message} at {list(error.absolute_path)}")

    def answer(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        error = next(iter(self.responses[name].iter_errors(body)), None)
        if error is not None:
            raise NotificationsError(500, "InternalFailure", f"Sandbox answer breaks {name}: {error.message}")
        return body


@dataclass
class NotificationsState:
    destinations: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # by subscription id
    sqs_endpoint_url: str | None = None
    seller_id: str = DEFAULT_SELLER
    # {order_id, status, notification_id, message_id, sent (epoch seconds), body}
    sent: list[dict[str, Any]] = field(default_factory=list)
    send_failures: list[str] = field(default_factory=list)
    sqs_lock: threading.Lock = field(default_factory=threading.Lock)
    queues: dict[str, tuple[Any, str]] = field(default_factory=dict)  # ARN -> (boto3 client, queue URL)


class NotificationsSandbox:
    """Notifications behaviour; mixed into the Sandbox, which provides ``state.lock``."""

    notifications_state: NotificationsState
    notifications_model: NotificationsModel

    def init_notifications(self, directory: Path) -> None:
        self.notifications_state = NotificationsState()
        self.notifications_model = NotificationsModel(directory)

    def configure_notifications(self, config: dict[str, Any]) -> None:
        if "sqs_endpoint_url" in config:
            self.notifications_state.sqs_endpoint_url = config["sqs_endpoint_url"]
            self.notifications_state.queues.clear()
        if "seller_id" in config:
            self.notifications_state.seller_id = config["seller_id"]

    # -- destinations (grantless) --------------------------------------------------------------

    def create_destination(self, body: Any) -> dict[str, Any]:
        self.notifications_model.check_request("CreateDestinationRequest", body)
        sqs = (body["resourceSpecification"] or {}).get("sqs")
        if not sqs:
            raise NotificationsError(400, "InvalidInput", "The sandbox delivers to SQS destinations only.")
        for destination in self.notifications_state.destinations.values():
            if destination["resource"].get("sqs", {}).get("arn") == sqs["arn"]:
                raise NotificationsError(409, "Conflict", f"A destination for {sqs['arn']} exists: "
                                                          f"{destination['destinationId']}")
        destination = {"name": body["name"], "destinationId": str(uuid.uuid4()),
                       "resource": {"sqs": {"arn": sqs["arn"]}}}
        self.notifications_state.destinations[destination["destinationId"]] = destination
        return self.notifications_model.answer("CreateDestinationResponse", {"payload": destination})

    def get_destinations(self) -> dict[str, Any]:
        return self.notifications_model.answer(
            "GetDestinationsResponse", {"payload": list(self.notifications_state.destinations.values())})

    # -- subscriptions -------------------------------------------------------------------------

    def create_subscription(self, notification_type: str, body: Any) -> dict[str, Any]:
        self.notifications_model.check_request("CreateSubscriptionRequest", body)
        if body["destinationId"] not in self.notifications_state.destinations:
            raise NotificationsError(400, "InvalidInput", f"Unknown destinationId {body['destinationId']}.")
        directive = body.get("processingDirective")
        event_filter = (directive or {}).get("eventFilter")
        if event_filter and event_filter["eventFilterType"] != notification_type:
            raise NotificationsError(400, "InvalidInput", f"eventFilterType {event_filter['eventFilterType']} does "
                                                          f"not apply to {notification_type}.")
        if self._subscription(notification_type, body["payloadVersion"]):
            raise NotificationsError(409, "Conflict", f"A subscription for {notification_type} "
                                                      f"{body['payloadVersion']} exists.")
        subscription = {"subscriptionId": str(uuid.uuid4()), "payloadVersion": body["payloadVersion"],
                        "destinationId": body["destinationId"]}
        if directive:
            subscription["processingDirective"] = directive
        self.notifications_state.subscriptions[subscription["subscriptionId"]] = {
            **subscription, "notificationType": notification_type}
        return self.notifications_model.answer("CreateSubscriptionResponse", {"payload": subscription})

    def _subscription(self, notification_type: str, payload_version: str | None = None) -> dict[str, Any] | None:
        return next((s for s in self.notifications_state.subscriptions.values()
                     if s["notificationType"] == notification_type
                     and (payload_version is None or s["payloadVersion"] == payload_version)), None)

    @staticmethod
    def _public(subscription: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in subscription.items() if key != "notificationType"}

    def get_subscription(self, notification_type: str, query: dict[str, list[str]]) -> dict[str, Any]:
        version = (query.get("payloadVersion") or [None])[-1]
        subscription = self._subscription(notification_type, version)
        if subscription is None:
            raise NotificationsError(404, "NotFound", f"No subscription for {notification_type}.")
        return self.notifications_model.answer("GetSubscriptionResponse", {"payload": self._public(subscription)})

    def _by_id(self, notification_type: str, subscription_id: str) -> dict[str, Any]:
        subscription = self.notifications_state.subscriptions.get(subscription_id)
        if subscription is None or subscription["notificationType"] != notification_type:
            raise NotificationsError(404, "NotFound", f"No {notification_type} subscription {subscription_id}.")
        return subscription

    def get_subscription_by_id(self, notification_type: str, subscription_id: str) -> dict[str, Any]:
        subscription = self._by_id(notification_type, subscription_id)
        return self.notifications_model.answer("GetSubscriptionByIdResponse", {"payload": self._public(subscription)})

    def delete_subscription_by_id(self, notification_type: str, subscription_id: str) -> dict[str, Any]:
        self._by_id(notification_type, subscription_id)
        del self.notifications_state.subscriptions[subscription_id]
        return self.notifications_model.answer("DeleteSubscriptionByIdResponse", {})

    # -- ORDER_CHANGE to SQS -------------------------------------------------------------------

    def order_change_document(self, order: dict[str, Any], subscription_id: str,
                              change_type: str = "OrderStatusChange") -> dict[str, Any]:
        """The ORDER_CHANGE notification Amazon would send for ``order`` (a v2026 order version)."""
        now = datetime.now(UTC)
        address = (order.get("recipient") or {}).get("deliveryAddress") or {}
        status = order["fulfillment"]["fulfillmentStatus"]
        items = [{"OrderItemId": item["orderItemId"], "SellerSKU": item["product"]["sellerSku"],
                  "SupplySourceId": None, "Quantity": item["quantityOrdered"],
                  "OrderItemStatus": "Shipped" if status == "SHIPPED" else "Unshipped"}
                 for item in order["orderItems"]]
        document = {
            "NotificationVersion": "1.0", "NotificationType": "ORDER_CHANGE", "PayloadVersion": "1.0",
            "EventTime": _iso_ms(now),
            "Payload": {"OrderChangeNotification": {
                "NotificationLevel": "OrderLevel", "SellerId": self.notifications_state.seller_id,
                "AmazonOrderId": order["orderId"], "OrderChangeType": change_type,
                "OrderChangeTrigger": {"TimeOfOrderChange": order["lastUpdatedTime"],
                                       "ChangeReason": "Order status changed"},
                "Summary": {"MarketplaceId": order["salesChannel"]["marketplaceId"],
                            "OrderStatus": NOTIFIED_STATUS.get(status, "Unshipped"),
                            "PurchaseDate": order["createdTime"], "DestinationPostalCode": address.get("postalCode"),
                            "FulfillmentType": "AFN" if order["fulfillment"].get("fulfilledBy") == "AMAZON" else "MFN",
                            "OrderType": "StandardOrder", "OrderItems": items}}},
            "NotificationMetadata": {"ApplicationId": APPLICATION_ID, "SubscriptionId": subscription_id,
                                     "PublishTime": _iso_ms(now), "NotificationId": str(uuid.uuid4())},
        }
        error = next(iter(self.notifications_model.order_change.iter_errors(document)), None)
        if error is not None:
            raise ValueError(f"sandbox ORDER_CHANGE breaks Amazon's schema: {error.message}")
        return document

    def _wanted(self, subscription: dict[str, Any], order: dict[str, Any], change_type: str) -> bool:
        event_filter = (subscription.get("processingDirective") or {}).get("eventFilter") or {}
        marketplaces = event_filter.get("marketplaceIds")
        types = event_filter.get("orderChangeTypes")
        return ((not marketplaces or order["salesChannel"]["marketplaceId"] in marketplaces)
                and (not types or change_type in types))

    def notify_order_changes(self, versions: list[dict[str, Any]], now: datetime) -> None:
        """Send ORDER_CHANGE for each version that is not in the future, when a subscription wants it."""
        subscription = self._subscription("ORDER_CHANGE")
        if subscription is None:
            return
        destination = self.notifications_state.destinations.get(subscription["destinationId"])
        if destination is None:
            return
        now_iso = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for version in versions:
            if version["lastUpdatedTime"] > now_iso or not self._wanted(subscription, version, "OrderStatusChange"):
                continue
            document = self.order_change_document(version, subscription["subscriptionId"])
            self._send(destination["resource"]["sqs"]["arn"], document)

    def _send(self, arn: str, document: dict[str, Any]) -> None:
        import boto3

        state = self.notifications_state
        _, _, _, region, account, name = arn.split(":", 5)
        try:
            with state.sqs_lock:
                if arn not in state.queues:
                    client = boto3.client("sqs", region_name=region, endpoint_url=state.sqs_endpoint_url,
                                          aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
                    url = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                    state.queues[arn] = (client, url)
                client, url = state.queues[arn]
                sent = time.time()
                answer = client.send_message(QueueUrl=url, MessageBody=json.dumps(document))
        except Exception as exc:  # a sandbox that cannot reach its queue says so, and keeps serving
            state.send_failures.append(f"{type(exc).__name__}: {exc}")
            return
        change = document["Payload"]["OrderChangeNotification"]
        state.sent.append({"order_id": change["AmazonOrderId"], "status": change["Summary"]["OrderStatus"],
                           "notification_id": document["NotificationMetadata"]["NotificationId"],
                           "message_id": answer["MessageId"], "sent": sent, "body": json.dumps(document)})
