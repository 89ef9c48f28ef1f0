"""The ORDER_CHANGE notification path against the sandbox over real HTTP, with a moto SQS server.

The sandbox's Notifications endpoints check bodies and answers against include/amazon/notifications.json,
grantless operations need the client-credentials token and seller operations the seller's; a changed order
is sent to the queue as an ORDER_CHANGE document that Amazon's schema accepts and the product reads back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from amazon_sage.cli import order_events as cli
from amazon_sage.core.events import subscription as path
from amazon_sage.core.events.order_change import OrderChange, read_message
from amazon_sage.hooks.selling_partner import SellingPartnerHook
from sandbox.airflow_env import SELLER_ID
from sandbox.order_generator import generate_orders
from tests.helpers import ORDERS_START
from tests.moto_sqs import Queue, moto_sqs

PROJECT = Path(__file__).resolve().parents[1]
UK = "A1F83G8C2ARO7P"
TYPES = ["OrderStatusChange", "BuyerRequestedChange"]


@pytest.fixture
def queue(sandbox_server, product_env, monkeypatch) -> Iterator[Queue]:
    with moto_sqs() as queue:
        sandbox_server.sandbox.configure({"sqs_endpoint_url": queue.endpoint})
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", queue.aws_connection())
        monkeypatch.setenv("AMAZON_SAGE_ORDER_EVENTS_QUEUE_URL", queue.url)
        monkeypatch.setenv("AMAZON_SAGE_ORDER_EVENTS_QUEUE_ARN", queue.arn)
        yield queue


def _receive(queue: Queue) -> list[dict]:
    return queue.client().receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10,
                                          WaitTimeSeconds=1).get("Messages", [])


def test_subscribe_check_and_unsubscribe_through_the_cli_actions(sandbox_server, queue) -> None:
    status, lines = cli.run("check")
    assert not status.ok and any("no SP-API destination" in line for line in lines)
    status, lines = cli.run("subscribe")
    assert status.ok, lines
    assert [made.split()[0] for made in status.made] == ["destination", "subscription"]
    subscription = sandbox_server.sandbox._subscription("ORDER_CHANGE")
    assert subscription["payloadVersion"] == "1.0"
    assert subscription["processingDirective"] == {"eventFilter": {
        "eventFilterType": "ORDER_CHANGE", "marketplaceIds": [UK], "orderChangeTypes": TYPES}}
    again, _ = cli.run("subscribe")  # repeatable: nothing new is made
    assert again.ok and again.made == []
    assert len(sandbox_server.sandbox.notifications_state.destinations) == 1
    _, lines = cli.run("unsubscribe")
    assert lines == [f"deleted ORDER_CHANGE subscription {subscription['subscriptionId']}"]
    status, _ = cli.run("check")
    assert any("no ORDER_CHANGE subscription" in problem for problem in status.problems)


def test_the_check_reads_the_queue_policy(sandbox_server, queue) -> None:
    cli.run("subscribe")
    queue.client().set_queue_attributes(QueueUrl=queue.url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage",
                                                "Resource": queue.arn}]})})
    status, _ = cli.run("check")
    assert len(status.problems) == 2
    assert "does not let Amazon (437568002678) send" in status.problems[0]
    assert "lets anyone send" in status.problems[1]


def test_grantless_operations_take_only_the_client_credentials_token(sandbox_server, queue) -> None:
    hook = SellingPartnerHook()
    hook.create_destination("events", queue.arn)
    assert sandbox_server.sandbox.state.calls["lwaToken"] == 1  # the grantless token, for createDestination
    token = httpx.post(f"{sandbox_server.url}/auth/o2/token", data={
        "grant_type": "refresh_token", "refresh_token": "Atzr|seller", "client_id": "c", "client_secret": "s"}
                       ).json()["access_token"]
    answer = httpx.get(f"{sandbox_server.url}/notifications/v1/destinations", headers={"x-amz-access-token": token})
    assert answer.status_code == 403 and "grantless" in answer.json()["errors"][0]["details"]
    grantless = httpx.post(f"{sandbox_server.url}/auth/o2/token", data={
        "grant_type": "client_credentials", "scope": "sellingpartnerapi::notifications", "client_id": "c",
        "client_secret": "s"}).json()["access_token"]
    refused = httpx.get(f"{sandbox_server.url}/notifications/v1/subscriptions/ORDER_CHANGE",
                        headers={"x-amz-access-token": grantless})
    assert refused.status_code == 403  # getSubscription acts for the seller


def test_the_sandbox_checks_bodies_and_answers_against_amazons_model(sandbox_server, queue) -> None:
    hook = SellingPartnerHook()
    with pytest.raises(Exception, match=r"(?s)createDestination.*does not match"):
        hook.create_destination("events", "not-an-arn")  # SqsResource.arn's pattern
    destination = hook.create_destination("events", queue.arn)
    with pytest.raises(Exception, match="is not one of"):
        hook.create_subscription("ORDER_CHANGE", destination["destinationId"], payload_version="1.0",
                                 processing_directive={"eventFilter": {"eventFilterType": "ORDER_CHANGE",
                                                                       "orderChangeTypes": ["Everything"]}})
    created = hook.create_subscription("ORDER_CHANGE", destination["destinationId"], payload_version="1.0",
                                       processing_directive=path.processing_directive([UK], TYPES))
    with pytest.raises(Exception, match="exists"):
        hook.create_subscription("ORDER_CHANGE", destination["destinationId"], payload_version="1.0")
    model = json.loads((PROJECT / "include/amazon/notifications.json").read_text())
    for name, body in (("CreateSubscriptionResponse", {"payload": created}),
                       ("GetSubscriptionResponse", {"payload": hook.get_subscription("ORDER_CHANGE", "1.0")}),
                       ("GetDestinationsResponse", {"payload": hook.get_destinations()})):
        jsonschema.Draft4Validator({"$ref": f"#/definitions/{name}", "definitions": model["definitions"]}
                                   ).validate(body)
    hook.delete_subscription_by_id("ORDER_CHANGE", created["subscriptionId"])
    assert hook.get_subscription("ORDER_CHANGE", "1.0") is None


def test_a_changed_order_reaches_the_queue_as_an_order_change_the_product_reads(sandbox_server, queue) -> None:
    cli.run("subscribe")
    sandbox = sandbox_server.sandbox
    [order] = [v for v in generate_orders(8, ORDERS_START, days=1, seed=5) if v["orderId"]][4:5]
    changed = {**order, "orderId": "203-0000000-0000001", "fulfillment": {**order["fulfillment"],
                                                                        "fulfillmentStatus": "UNSHIPPED"}}
    sandbox.add_versions([changed])
    [message] = _receive(queue)
    change = read_message(message)
    assert isinstance(change, OrderChange), change
    assert (change.order_id, change.seller_id, change.marketplace_id, change.fulfillment_status) == (
        "203-0000000-0000001", SELLER_ID, UK, "UNSHIPPED")
    schema = json.loads((PROJECT / "include/amazon/OrderChangeNotification.json").read_text())
    jsonschema.Draft7Validator(schema).validate(json.loads(message["Body"]))
    [sent] = sandbox.notifications_state.sent
    assert sent["message_id"] == message["MessageId"]
    fetched = SellingPartnerHook().get_order("203-0000000-0000001")
    assert fetched["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED" and fetched["proceeds"]
    assert SellingPartnerHook().get_order("203-9999999-9999999") is None


def test_the_subscription_filter_keeps_other_change_types_and_marketplaces_away(sandbox_server, queue) -> None:
    hook = SellingPartnerHook()
    destination = hook.create_destination("events", queue.arn)
    hook.create_subscription("ORDER_CHANGE", destination["destinationId"], payload_version="1.0",
                             processing_directive=path.processing_directive(["A1PA6795UKMFR9"], TYPES))
    sandbox_server.sandbox.add_versions([{**generate_orders(1, ORDERS_START, days=1)[0],
                                          "orderId": "203-0000000-0000002"}])
    assert _receive(queue) == []  # a UK order, and the subscription asks for DE only
