"""One SQS message -> an :class:`OrderChange`, or a :class:`BadMessage` that says why it is not one.

Amazon delivers each ORDER_CHANGE notification as the body of one SQS message: the JSON document that
``amazon_schemas/OrderChangeNotification.json`` (Amazon's schema, shipped unmodified) describes. A message is
an order change only when its body is JSON, validates against that schema, and says ``NotificationType``
``ORDER_CHANGE`` (payload version 1.0). Anything else (another notification type on the same queue, a test
message, a truncated body) is a :class:`BadMessage`: the caller logs it by message id and drops it. Reading a
message never raises, whatever its body, so one bad message cannot stop a run or the queue.

Bodies are never logged or kept in reasons: a notification carries a postal code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = Path(__file__).resolve().parent / "amazon_schemas" / "OrderChangeNotification.json"
NOTIFICATION_TYPE = "ORDER_CHANGE"
PAYLOAD_VERSION = "1.0"
# The notification's OrderStatus -> the Orders API v2026-01-01 fulfillmentStatus the settings name.
FULFILLMENT_STATUS = {
    "Pending": "PENDING", "PendingAvailability": "PENDING_AVAILABILITY", "Unshipped": "UNSHIPPED",
    "PartiallyShipped": "PARTIALLY_SHIPPED", "Shipped": "SHIPPED", "Canceled": "CANCELLED",
    "Unfulfillable": "UNFULFILLABLE", "InvoiceUnconfirmed": "INVOICE_UNCONFIRMED",
}


@dataclass(frozen=True)
class OrderChange:
    """A valid ORDER_CHANGE notification: which order changed, for whom, and to what status."""

    message_id: str
    notification_id: str
    order_id: str
    seller_id: str
    marketplace_id: str
    order_status: str  # as the notification says it, e.g. Unshipped
    change_type: str  # OrderStatusChange, BuyerRequestedChange, DeliveryTipChange
    event_time: str

    @property
    def fulfillment_status(self) -> str:
        """The order's status in the Orders API's words (``UNSHIPPED``), as ORDER_STATUSES names them."""
        return FULFILLMENT_STATUS.get(self.order_status, self.order_status.upper())


@dataclass(frozen=True)
class BadMessage:
    """A message that is not a usable ORDER_CHANGE notification, and why (never its body)."""

    message_id: str
    reason: str


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(document)"


def read_message(message: Any) -> OrderChange | BadMessage:
    """Read one SQS message (a dict with ``MessageId`` and ``Body``, as SQS's ReceiveMessage gives it)."""
    if not isinstance(message, Mapping):
        return BadMessage("?", f"not an SQS message but {type(message).__name__}")
    message_id = str(message.get("MessageId") or "?")
    body = message.get("Body")
    if not isinstance(body, str):
        return BadMessage(message_id, "no message body")
    try:
        document = json.loads(body)
    except ValueError as exc:
        return BadMessage(message_id, f"body is not JSON ({exc.msg} at character {exc.pos})")
    if not isinstance(document, dict):
        return BadMessage(message_id, f"body is JSON {type(document).__name__}, not a notification object")
    kind = document.get("NotificationType")
    if kind != NOTIFICATION_TYPE:
        # Checked before the schema: a queue shared with other notification types is normal, not malformed.
        return BadMessage(message_id, f"notification type {kind!r}, not {NOTIFICATION_TYPE}")
    error = next(iter(sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        return BadMessage(message_id, f"breaks Amazon's ORDER_CHANGE schema at {_where(error)}: "
                                      f"{error.validator} {error.validator_value!r} not met")
    if document["PayloadVersion"] != PAYLOAD_VERSION:
        return BadMessage(message_id, f"payload version {document['PayloadVersion']!r}, not {PAYLOAD_VERSION}")
    change = document["Payload"]["OrderChangeNotification"]
    return OrderChange(
        message_id=message_id,
        notification_id=document["NotificationMetadata"]["NotificationId"],
        order_id=change["AmazonOrderId"],
        seller_id=change["SellerId"],
        marketplace_id=change["Summary"]["MarketplaceId"],
        order_status=change["Summary"]["OrderStatus"],
        change_type=change["OrderChangeType"],
        event_time=document["EventTime"],
    )
