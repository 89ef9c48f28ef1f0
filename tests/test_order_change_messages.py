"""ORDER_CHANGE messages read against Amazon's schema, and a run's events collected into orders to fetch."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from amazon_sage.core.events.collect import collect
from amazon_sage.core.events.order_change import BadMessage, OrderChange, read_message
from amazon_sage.core.events.subscription import policy_problems, queue_arn

PROJECT = Path(__file__).resolve().parents[1]
# Amazon's own example notification, from the schema's "examples".
EXAMPLE = json.loads((PROJECT / "include/amazon/OrderChangeNotification.json").read_text())["examples"][0]
SELLER, MARKET = EXAMPLE["Payload"]["OrderChangeNotification"]["SellerId"], "ATVPDKIKX0DER"
IMPORTED = ["UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED", "CANCELLED"]


def notification(order_id: str = "903-8868176-2219830", status: str = "Unshipped", notification_id: str = "n1",
                 seller: str = SELLER) -> dict:
    document = copy.deepcopy(EXAMPLE)
    change = document["Payload"]["OrderChangeNotification"]
    change.update(AmazonOrderId=order_id, SellerId=seller)
    change["Summary"]["OrderStatus"] = status
    document["NotificationMetadata"]["NotificationId"] = notification_id
    return document


def message(body: object, message_id: str = "m1") -> dict:
    return {"MessageId": message_id, "ReceiptHandle": "r", "Body": body if isinstance(body, str) else json.dumps(body)}


def event(*messages: dict) -> dict:
    """An asset event's extra as the triggerer stores it for the SQS watcher."""
    return {"from_trigger": True, "payload": {"status": "success", "message_batch": list(messages)}}


def test_amazons_example_is_an_order_change() -> None:
    change = read_message(message(EXAMPLE))
    assert change == OrderChange("m1", EXAMPLE["NotificationMetadata"]["NotificationId"], "903-8868176-2219830",
                                 SELLER, MARKET, "Unshipped", "BuyerRequestedChange", EXAMPLE["EventTime"])
    assert change.fulfillment_status == "UNSHIPPED"


@pytest.mark.parametrize(("body", "reason"), [
    ("{not json", "body is not JSON"),
    ("[1, 2]", "JSON list, not a notification object"),
    ({**EXAMPLE, "NotificationType": "ANY_OFFER_CHANGED"}, "notification type 'ANY_OFFER_CHANGED'"),
    ({key: value for key, value in EXAMPLE.items() if key != "NotificationMetadata"},
     "schema at (document): required"),
    ({**EXAMPLE, "Payload": {"OrderChangeNotification": {
        **EXAMPLE["Payload"]["OrderChangeNotification"], "OrderChangeType": "Whatever"}}},
     "schema at Payload/OrderChangeNotification/OrderChangeType: enum"),
    ({**EXAMPLE, "PayloadVersion": "2.0"}, "payload version '2.0'"),
])
def test_what_is_not_an_order_change_is_a_bad_message_with_its_reason(body: object, reason: str) -> None:
    bad = read_message(message(body, "m-bad"))
    assert isinstance(bad, BadMessage) and bad.message_id == "m-bad" and reason in bad.reason, bad
    assert "48110" not in bad.reason  # the postal code never reaches a log line


def test_a_run_collects_orders_and_counts_bad_duplicate_and_not_imported_messages() -> None:
    found = collect([
        event(message(notification("111-0000000-0000001", notification_id="a"), "m1"),
              message(notification("111-0000000-0000002", "Pending", notification_id="b"), "m2"),
              message("garbage", "m3")),
        event(message(notification("111-0000000-0000001", notification_id="a"), "m1"),  # SQS redelivery
              message(notification("111-0000000-0000001", notification_id="a"), "m4"),  # Amazon's duplicate
              message(notification("111-0000000-0000001", "Shipped", notification_id="c"), "m5"),
              message(notification("111-0000000-0000003", notification_id="d", seller="A0THERSELLER"), "m6")),
        {"something": "else"},
    ], seller_id=SELLER, marketplace_id=MARKET, imported_statuses=IMPORTED)
    assert found.order_ids == ["111-0000000-0000001"]
    assert found.orders["111-0000000-0000001"].order_status == "Shipped"  # the latest change
    assert (found.messages, found.duplicates, found.repeated_orders) == (7, 2, 1)
    assert [c.order_id for c in found.not_imported] == ["111-0000000-0000002"]
    assert [(bad.message_id, bad.reason.split()[0]) for bad in found.bad] == [
        ("m3", "body"), ("m6", "seller"), ("?", "an")]


def test_another_marketplace_is_dropped() -> None:
    found = collect([event(message(notification()))], seller_id=SELLER, marketplace_id="A1F83G8C2ARO7P",
                    imported_statuses=IMPORTED)
    assert found.order_ids == [] and "marketplace ATVPDKIKX0DER" in found.bad[0].reason


def test_the_queue_arn_comes_from_an_aws_url_or_the_setting() -> None:
    assert queue_arn("https://sqs.eu-west-2.amazonaws.com/123456789012/orders") == \
        "arn:aws:sqs:eu-west-2:123456789012:orders"
    assert queue_arn("http://127.0.0.1:5000/123456789012/orders", "arn:aws:sqs:x:1:orders") == "arn:aws:sqs:x:1:orders"
    with pytest.raises(ValueError, match="ORDER_EVENTS_QUEUE_ARN"):
        queue_arn("http://127.0.0.1:5000/123456789012/orders")


def test_the_queue_policy_must_let_amazon_and_only_amazon_send() -> None:
    arn = "arn:aws:sqs:eu-west-2:123456789012:orders"
    amazon = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::437568002678:root"},
              "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"], "Resource": arn}
    assert policy_problems(json.dumps({"Statement": [amazon]}), arn) == []
    assert "no access policy" in policy_problems(None, arn)[0]
    assert "does not let Amazon" in policy_problems(json.dumps({"Statement": [{**amazon, "Effect": "Deny"}]}), arn)[0]
    anyone = {**amazon, "Principal": "*"}
    assert "lets anyone send" in policy_problems(json.dumps({"Statement": [amazon, anyone]}), arn)[0]


def test_each_event_is_read_once_after_the_mark() -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from amazon_sage.core.events.collect import ReadMark, unread

    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    events = [SimpleNamespace(id=n, timestamp=at, extra={}) for n in (7, 8, 9)]  # one timestamp, three events
    fresh, mark = unread(events, None)
    assert [e.id for e in fresh] == [7, 8, 9] and mark == ReadMark(at.isoformat(), 9)
    assert unread(events, mark) == ([], mark)  # the events API returns events at the mark's time again
    later = [*events, SimpleNamespace(id=10, timestamp=at, extra={})]
    assert [e.id for e in unread(later, mark)[0]] == [10]
    assert ReadMark.from_dict(mark.as_dict()) == mark and ReadMark.from_dict(None) is None
