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


# -- Feeds: getFeeds as Amazon's model declares it, and the faults that lose createFeed's answer ----------------

FEEDS_URL = "/feeds/2021-06-30/feeds"
UK, DE = "A1F83G8C2ARO7P", "A1PA6795UKMFR9"


def _feeds_model_validator():
    import jsonschema

    from sandbox.sp_api_server import models_dir

    model = json.loads((models_dir() / "feeds_2021-06-30.json").read_text())
    return jsonschema.Draft4Validator({"$ref": "#/definitions/GetFeedsResponse", "definitions": model["definitions"]})


def _create_feed(url: str, token: str, marketplace: str = UK) -> httpx.Response:
    headers = {"x-amz-access-token": token}
    document = httpx.post(f"{url}/feeds/2021-06-30/documents", headers=headers,
                          json={"contentType": "application/json; charset=UTF-8"}).json()
    body = json.dumps({"header": {"sellerId": "S", "version": "2.0"},
                       "messages": [{"messageId": 1, "sku": "MUG-RED-01", "operationType": "DELETE"}]})
    httpx.put(document["url"], content=body, headers={"Content-Type": "application/json; charset=UTF-8"})
    return httpx.post(url + FEEDS_URL, headers=headers, json={
        "feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [marketplace],
        "inputFeedDocumentId": document["feedDocumentId"]})


@pytest.fixture
def feeds_server(server):
    server.sandbox.configure({"rate_limits": {"createFeed": [100, 100], "JSON_LISTINGS_FEED": [100, 100],
                                              "createFeedDocument": [100, 100], "getFeeds": [100, 100]},
                              "processing_delay": 0})
    return server


def _list(url: str, token: str, **params) -> httpx.Response:
    return httpx.get(url + FEEDS_URL, params=params, headers={"x-amz-access-token": token})


def test_get_feeds_pages_newest_first_with_the_token_as_only_parameter(feeds_server) -> None:
    url, token = feeds_server.url, _token(feeds_server.url)
    created = [_create_feed(url, token, DE if n % 8 == 0 else UK).json()["feedId"] for n in range(23)]
    judge = _feeds_model_validator()
    pages, answer = [], _list(url, token, feedTypes="JSON_LISTINGS_FEED")
    while True:
        assert answer.status_code == 200, answer.text
        assert not list(judge.iter_errors(answer.json()))
        pages.append([feed["feedId"] for feed in answer.json()["feeds"]])
        next_token = answer.json().get("nextToken")
        if not next_token:
            break
        refused = _list(url, token, nextToken=next_token, feedTypes="JSON_LISTINGS_FEED")
        assert refused.status_code == 400 and "only parameter" in refused.json()["errors"][0]["message"]
        answer = _list(url, token, nextToken=next_token)
    assert [len(page) for page in pages] == [10, 10, 3]  # the model's default pageSize is 10
    assert [feed_id for page in pages for feed_id in page] == created[::-1]
    uk = _list(url, token, feedTypes="JSON_LISTINGS_FEED", marketplaceIds=UK, pageSize=100).json()
    assert {f["feedId"] for f in uk["feeds"]} == {f for n, f in enumerate(created) if n % 8}
    assert "nextToken" not in uk
    assert all(f["marketplaceIds"] == [UK] for f in uk["feeds"])


def test_get_feeds_filters_by_status_type_and_creation_time(feeds_server) -> None:
    url, token = feeds_server.url, _token(feeds_server.url)
    feeds_server.sandbox.configure({"processing_delay": 60})
    waiting = _create_feed(url, token).json()["feedId"]
    feeds_server.sandbox.configure({"processing_delay": 0})
    done = _create_feed(url, token).json()["feedId"]
    everything = {"feedTypes": "JSON_LISTINGS_FEED", "pageSize": 100}

    def ids(**params) -> list[str]:
        answer = _list(url, token, **{**everything, **params})
        assert answer.status_code == 200, answer.text
        assert not list(_feeds_model_validator().iter_errors(answer.json()))
        return [feed["feedId"] for feed in answer.json()["feeds"]]

    assert ids(processingStatuses="DONE") == [done]
    assert ids(processingStatuses="IN_QUEUE,IN_PROGRESS") == [waiting]
    assert ids(feedTypes="POST_ORDER_FULFILLMENT_DATA") == []
    now = datetime.now(UTC)
    assert ids(createdSince=(now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")) == [done, waiting]
    assert ids(createdSince=(now + timedelta(minutes=1)).isoformat()) == []
    assert ids(createdUntil=(now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")) == []


@pytest.mark.parametrize("params, message", [
    ({}, "Either feedTypes or nextToken is required"),
    ({"feedTypes": "JSON_LISTINGS_FEED", "pageSize": "0"}, "pageSize must be an integer between 1 and 100"),
    ({"feedTypes": "JSON_LISTINGS_FEED", "pageSize": "101"}, "pageSize must be an integer between 1 and 100"),
    ({"feedTypes": "JSON_LISTINGS_FEED", "processingStatuses": "DONE,FINISHED"},
     "Invalid value(s) for processingStatuses: FINISHED"),
    ({"feedTypes": ",".join(f"TYPE_{n}" for n in range(11))}, "feedTypes must list 1 to 10 values"),
    ({"feedTypes": "JSON_LISTINGS_FEED", "createdSince": "yesterday"}, "Invalid date format for createdSince"),
    ({"feedTypes": "JSON_LISTINGS_FEED", "feedType": "JSON_LISTINGS_FEED"}, "Unknown parameter(s): feedType"),
    ({"nextToken": "bm90IGEgdG9rZW4="}, "Invalid nextToken"),
])
def test_get_feeds_requests_are_checked_against_the_model(feeds_server, params, message) -> None:
    answer = _list(feeds_server.url, _token(feeds_server.url), **params)
    assert answer.status_code == 400
    assert message in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize("kind", ["status_after_processing", "drop_after_processing"])
def test_a_lost_create_feed_answer_still_creates_the_feed(feeds_server, kind) -> None:
    feeds_server.sandbox.configure({"faults": [{"operation": "createFeed", "kind": kind, "status": 500}]})
    token = _token(feeds_server.url)
    if kind == "status_after_processing":
        assert _create_feed(feeds_server.url, token).status_code == 500
    else:
        with pytest.raises(httpx.RemoteProtocolError):
            _create_feed(feeds_server.url, token)
    assert len(feeds_server.sandbox.feeds_state.feeds) == 1  # Amazon made it; the caller never heard
    assert _create_feed(feeds_server.url, token).status_code == 202  # the switch fired once
    assert len(feeds_server.sandbox.feeds_state.feeds) == 2


def test_a_dropped_call_does_nothing(feeds_server) -> None:
    feeds_server.sandbox.configure({"faults": [{"operation": "createFeed", "kind": "drop"}]})
    with pytest.raises(httpx.RemoteProtocolError):
        _create_feed(feeds_server.url, _token(feeds_server.url))
    assert feeds_server.sandbox.feeds_state.feeds == {}


def _lwa(url: str) -> httpx.Response:
    return httpx.post(f"{url}/auth/o2/token", data={"grant_type": "refresh_token", "refresh_token": "Atzr|x",
                                                    "client_id": "id", "client_secret": "secret"})


def test_lwa_fault_switches(server) -> None:
    server.sandbox.configure({"faults": [{"operation": "lwaToken", "kind": "status", "status": 503, "count": 2}]})
    first, second, third = _lwa(server.url), _lwa(server.url), _lwa(server.url)
    assert (first.status_code, first.json()["error"]) == (503, "server_error")
    assert second.status_code == 503 and third.status_code == 200 and third.json()["access_token"]
    server.sandbox.configure({"faults": [{"operation": "lwaToken", "kind": "status", "status": 502, "body": "html"}]})
    page = _lwa(server.url)
    assert page.status_code == 502 and page.headers["Content-Type"] == "text/html"
    server.sandbox.configure({"faults": [{"operation": "lwaToken", "kind": "drop"}]})
    with pytest.raises(httpx.RemoteProtocolError):
        _lwa(server.url)
    assert server.sandbox.state.calls["lwaToken"] == 5


def test_unknown_fault_kinds_are_refused(server) -> None:
    answer = httpx.post(f"{server.url}/_sandbox/config", json={"faults": [{"operation": "x", "kind": "explode"}]})
    assert answer.status_code == 400 and "unknown fault kind" in answer.json()["errors"][0]["message"]
