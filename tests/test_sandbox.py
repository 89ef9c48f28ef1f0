"""The SP-API sandbox answers like Amazon, over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandbox.catalogue import UNKNOWN_TO_SAGE
from sandbox.order_generator import generate_orders
from sandbox.sp_api_server import SEARCH_PATH, Sandbox, SandboxServer

START = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture
def server():
    with SandboxServer(Sandbox(generate_orders(250, START, days=3))) as running:
        yield running


def _token(url: str) -> str:
    answer = httpx.post(f"{url}/auth/o2/token", data={"grant_type": "refresh_token", "refresh_token": "Atzr|x",
                                                      "client_id": "id", "client_secret": "secret"})
    assert answer.status_code == 200
    return answer.json()["access_token"]


def _search(url: str, token: str, **params) -> httpx.Response:
    base = {"lastUpdatedAfter": "2026-11-15T00:00:00Z", "lastUpdatedBefore": "2026-11-25T00:00:00Z"}
    return httpx.get(url + SEARCH_PATH, params={**base, **params}, headers={"x-amz-access-token": token})


def test_lwa_refuses_revoked_refresh_tokens_with_amazon_json(server) -> None:
    server.sandbox.configure({"revoked_refresh_tokens": ["Atzr|old"]})
    answer = httpx.post(f"{server.url}/auth/o2/token", data={"grant_type": "refresh_token", "refresh_token": "Atzr|old",
                                                             "client_id": "id", "client_secret": "s"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_calls_without_a_token_are_forbidden(server) -> None:
    answer = _search(server.url, "Atza|made-up")
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["code"] == "Unauthorized"


def test_pages_cover_the_window_once_and_tokens_need_the_same_filters(server) -> None:
    token = _token(server.url)
    seen: list[str] = []
    answer = _search(server.url, token, maxResultsPerPage=100)
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen += [order["orderId"] for order in body["orders"]]
        next_token = body.get("pagination", {}).get("nextToken")
        if not next_token:
            break
        changed = _search(server.url, token, paginationToken=next_token, fulfillmentStatuses="SHIPPED")
        assert changed.status_code == 400 and "filters" in changed.json()["errors"][0]["message"]
        answer = _search(server.url, token, paginationToken=next_token, maxResultsPerPage=100)
    assert len(seen) == len(set(seen)) == 250
    assert body["lastUpdatedBefore"] == "2026-11-25T00:00:00Z"


def test_before_bound_must_be_two_minutes_old(server) -> None:
    too_recent = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = _search(server.url, _token(server.url), lastUpdatedBefore=too_recent)
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert error["code"] == "InvalidInput" and "two minutes before the time of the request" in error["message"]


@pytest.mark.parametrize("params, message", [
    ({"fulfillmentStatuses": "SHIPPED,Shipped"}, "Invalid value(s) for fulfillmentStatuses: Shipped"),
    ({"maxResultsPerPage": "101"}, "between 1 and 100"),
    ({"createdAfter": "2026-11-15T00:00:00Z"}, "Exactly one of createdAfter and lastUpdatedAfter"),
    ({"includedData": "BUYER,ADDRESS"}, "Invalid value(s) for includedData: ADDRESS"),
    ({"lastUpdatedBefore": "2026-11-01T00:00:00Z"}, "equal to or after"),
    ({"orderStatuses": "Shipped"}, "Unknown parameter(s): orderStatuses"),
])
def test_requests_are_checked_against_the_model(server, params, message) -> None:
    answer = _search(server.url, _token(server.url), **params)
    assert answer.status_code == 400
    assert message in answer.json()["errors"][0]["message"]


def test_throttled_calls_get_amazon_429(server) -> None:
    server.sandbox.configure({"rate_limits": {"searchOrders": [0.01, 2]}})
    token = _token(server.url)
    statuses = [_search(server.url, token).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    answer = _search(server.url, token)
    assert answer.headers["x-amzn-RateLimit-Limit"] == "0.01"
    assert answer.json() == {"errors": [{"code": "QuotaExceeded", "details": "",
                                         "message": "You exceeded your quota for the requested resource."}]}


def test_fault_switches(server) -> None:
    token = _token(server.url)
    server.sandbox.configure({"faults": [{"operation": "searchOrders", "kind": "status", "status": 503,
                                          "body": "html", "after": 1, "count": 2}]})
    statuses = [_search(server.url, token).status_code for _ in range(4)]
    assert statuses == [200, 503, 503, 200]


def test_included_data_shapes_the_orders_and_the_dataset_is_realistic(server) -> None:
    body = _search(server.url, _token(server.url), includedData="RECIPIENT,PROCEEDS").json()
    orders = body["orders"]
    assert all("buyer" not in order for order in orders)
    priced = [o for o in orders if "proceeds" in o]
    assert priced and all("recipient" in o for o in priced)
    everything = json.dumps(generate_orders(250, START, days=3), ensure_ascii=False)
    for feature in ("PENDING", "CANCELLED", "buyerCompanyName", "DISCOUNT", "Zoë", UNKNOWN_TO_SAGE[0]):
        assert feature in everything
    assert any(len(o.get("recipient", {}).get("deliveryAddress", {}).get("addressLine1", "")) > 60 for o in orders)
