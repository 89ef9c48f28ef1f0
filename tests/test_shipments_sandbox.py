"""The sandbox's getOrder and confirmShipment answer as Amazon's models say, over real HTTP."""

from __future__ import annotations

import json
import re

import httpx
import jsonschema
import pytest

from amazon_sage.core.sp_api.rate_limited_calls import AMAZON_RATE_LIMITS
from sandbox.sp_api_server import MODELS, Sandbox, SandboxServer
from sandbox.sp_api_shipments import SHIPMENT_LIMITS
from tests.helpers import ORDERS_START, latest_versions

V0 = json.loads((MODELS / "ordersV0.json").read_text())
V2026 = json.loads((MODELS / "orders_2026-01-01.json").read_text())
CONFIRM = V0["paths"]["/orders/v0/orders/{orderId}/shipmentConfirmation"]["post"]
GET_ORDER_RESPONSE = jsonschema.Draft4Validator({"$ref": "#/definitions/GetOrderResponse",
                                                 "definitions": V2026["definitions"]})
ERROR_LIST = jsonschema.Draft4Validator({"$ref": "#/definitions/ErrorList", "definitions": V2026["definitions"]})
CONFIRM_ERRORS = jsonschema.Draft4Validator({"$ref": "#/definitions/ConfirmShipmentErrorResponse",
                                             "definitions": V0["definitions"]})


@pytest.fixture
def server():
    from sandbox.order_generator import generate_orders

    with SandboxServer(Sandbox(generate_orders(12, ORDERS_START, days=1))) as running:
        yield running


@pytest.fixture
def token(server) -> str:
    answer = httpx.post(f"{server.url}/auth/o2/token", data={"grant_type": "refresh_token", "refresh_token": "Atzr|s",
                                                             "client_id": "id", "client_secret": "secret"})
    return answer.json()["access_token"]


def _unshipped(server) -> dict:
    orders = latest_versions([v for h in server.sandbox.state.versions.values() for v in h])
    return next(o for o in orders if o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
                and max(i["quantityOrdered"] for i in o["orderItems"]) >= 2)


def _get(server, token, order_id, **params) -> httpx.Response:
    return httpx.get(f"{server.url}/orders/2026-01-01/orders/{order_id}", params=params,
                     headers={"x-amz-access-token": token})


def _confirm(server, token, order_id, body) -> httpx.Response:
    return httpx.post(f"{server.url}/orders/v0/orders/{order_id}/shipmentConfirmation", json=body,
                      headers={"x-amz-access-token": token})


def _body(order_id_items: list[tuple[str, int]], reference: str = "1", **package) -> dict:
    detail = {"packageReferenceId": reference, "carrierCode": "Royal Mail", "trackingNumber": "RM123456785GB",
              "shipDate": "2026-11-20T10:00:00Z", "orderItems": [{"orderItemId": i, "quantity": q}
                                                                 for i, q in order_id_items], **package}
    return {"marketplaceId": "A1F83G8C2ARO7P", "packageDetail": detail}


def test_the_rate_limits_are_the_models_usage_plan() -> None:
    """confirmShipment's rate and burst, as the table in ordersV0.json's description states them."""
    rate, burst = re.search(r"\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|", CONFIRM["description"]).groups()
    assert AMAZON_RATE_LIMITS["confirmShipment"] == SHIPMENT_LIMITS["confirmShipment"] == (float(rate), int(burst))


def test_get_order_answers_match_the_model(server, token) -> None:
    order = _unshipped(server)
    answer = _get(server, token, order["orderId"], includedData="FULFILLMENT,PACKAGES")
    assert answer.status_code == 200
    GET_ORDER_RESPONSE.validate(answer.json())
    body = answer.json()["order"]
    assert [i["fulfillment"]["quantityFulfilled"] for i in body["orderItems"]] == [0] * len(order["orderItems"])
    assert "recipient" not in body and "buyer" not in body  # only the datasets asked for

    missing = _get(server, token, "202-0000000-0000000")
    assert missing.status_code == 404
    ERROR_LIST.validate(missing.json())
    bad = _get(server, token, order["orderId"], includedData="FULFILLMENT,EVERYTHING")
    assert bad.status_code == 400 and "EVERYTHING" in bad.json()["errors"][0]["message"]


def test_a_confirmation_moves_the_fulfilment_on_and_the_same_units_are_refused_again(server, token) -> None:
    order = _unshipped(server)
    item = next(i for i in order["orderItems"] if i["quantityOrdered"] >= 2)
    first = _confirm(server, token, order["orderId"], _body([(item["orderItemId"], 1)]))
    assert first.status_code == 204 and first.content == b""
    after = _get(server, token, order["orderId"], includedData="FULFILLMENT,PACKAGES").json()
    GET_ORDER_RESPONSE.validate(after)
    shipped = next(i for i in after["order"]["orderItems"] if i["orderItemId"] == item["orderItemId"])
    assert shipped["fulfillment"]["quantityFulfilled"] == 1
    assert shipped["fulfillment"]["quantityUnfulfilled"] == item["quantityOrdered"] - 1
    assert after["order"]["fulfillment"]["fulfillmentStatus"] == "PARTIALLY_SHIPPED"
    [package] = after["order"]["packages"]
    assert (package["packageReferenceId"], package["trackingNumber"], package["carrier"]) == (
        "1", "RM123456785GB", "Royal Mail")

    # All of it again, as a retry that forgot the first would send: Amazon refuses, nothing changes.
    again = _confirm(server, token, order["orderId"], _body([(item["orderItemId"], item["quantityOrdered"])], "2"))
    assert again.status_code == 400
    CONFIRM_ERRORS.validate(again.json())
    assert "already confirmed" in again.json()["errors"][0]["message"]
    rest = _confirm(server, token, order["orderId"], _body([(item["orderItemId"], item["quantityOrdered"] - 1)], "2"))
    assert rest.status_code == 204
    assert server.sandbox.confirmed_quantities(order["orderId"]) == {item["orderItemId"]: item["quantityOrdered"]}


@pytest.mark.parametrize(("change", "message"), [
    ({"shipDate": "02/21/2022"}, "ISO 8601"),  # the model's own 400 example
    ({"carrierCode": "Other"}, "carrierName is required"),
    ({"packageReferenceId": "A-1"}, "positive numeric"),
    ({"trackingNumber": None}, "trackingNumber"),
    ({"orderItems": [{"orderItemId": "999", "quantity": 1}]}, "not an item"),
    ({"orderItems": [{"orderItemId": "999"}]}, "'quantity' is a required property"),
])
def test_confirmations_that_break_the_model_or_amazons_rules_are_refused(server, token, change, message) -> None:
    order = _unshipped(server)
    body = _body([(order["orderItems"][0]["orderItemId"], 1)])
    body["packageDetail"].update(change)
    body["packageDetail"] = {k: v for k, v in body["packageDetail"].items() if v is not None}
    answer = _confirm(server, token, order["orderId"], body)
    assert answer.status_code == 400 and message in answer.json()["errors"][0]["message"], answer.text
    CONFIRM_ERRORS.validate(answer.json())
    assert server.sandbox.confirmations == []


def test_fba_orders_and_other_marketplaces_are_refused(server, token) -> None:
    order = _unshipped(server)
    fba = json.loads(json.dumps(order))
    fba["fulfillment"]["fulfilledBy"] = "AMAZON"
    server.sandbox.add_versions([fba])
    answer = _confirm(server, token, order["orderId"], _body([(order["orderItems"][0]["orderItemId"], 1)]))
    assert answer.status_code == 400 and "fulfilled by Amazon" in answer.text
    other = _body([(order["orderItems"][0]["orderItemId"], 1)])
    other["marketplaceId"] = "A1PA6795UKMFR9"
    assert _confirm(server, token, order["orderId"], other).status_code == 400
    assert server.sandbox.confirmations == []
