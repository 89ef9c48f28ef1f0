"""SellingPartnerHook against the sandbox, through python-amazon-sp-api over real HTTP."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowException

from amazon_sage.hooks.selling_partner import SellingPartnerHook
from sandbox.airflow_env import sp_api_connection
from sandbox.order_generator import generate_orders
from tests.helpers import ORDERS_START

STATUSES = ["UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED", "CANCELLED", "PENDING"]
WINDOW = {"last_updated_after": "2026-11-15T00:00:00Z", "last_updated_before": "2026-11-25T00:00:00Z"}


@pytest.fixture
def many_orders(sandbox_server, product_env, monkeypatch):
    """250 orders (3 pages) and limits fast enough for a test: 50/s, burst 5, on both sides."""
    sandbox = sandbox_server.sandbox
    sandbox.state.versions.clear()
    sandbox.add_versions(generate_orders(250, ORDERS_START, days=3))
    sandbox.configure({"rate_limits": {"searchOrders": [50, 5]}})
    monkeypatch.setenv("AMAZON_SAGE_SP_API_RATE_LIMITS", json.dumps({"searchOrders": [50, 5]}))
    monkeypatch.setenv("AMAZON_SAGE_SP_API_BACKOFF_CAP_SECONDS", "1")
    return sandbox


def _order_ids(hook: SellingPartnerHook) -> list[str]:
    return [order["orderId"] for page in hook.search_orders(fulfillment_statuses=STATUSES, **WINDOW)
            for order in page["orders"]]


def test_pages_through_every_order_once(many_orders) -> None:
    ids = _order_ids(SellingPartnerHook())
    assert len(ids) == len(set(ids)) == 250
    assert many_orders.state.calls["searchOrders"] == 3
    assert many_orders.state.throttled == {}


@pytest.mark.parametrize("fault", [
    {"kind": "throttle", "after": 1, "count": 4},
    {"kind": "status", "status": 503, "after": 1, "count": 3},
    {"kind": "status", "status": 500, "body": "html", "after": 2, "count": 2},
])
def test_429_storms_and_5xx_bursts_mid_paging_lose_and_double_nothing(many_orders, fault) -> None:
    many_orders.configure({"faults": [{"operation": "searchOrders", **fault}]})
    ids = _order_ids(SellingPartnerHook())
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 250
    assert many_orders.state.calls["searchOrders"] == 3 + fault["count"]


def test_gives_up_with_a_clear_error_after_bounded_attempts(many_orders, monkeypatch) -> None:
    monkeypatch.setenv("AMAZON_SAGE_SP_API_MAX_ATTEMPTS", "3")
    many_orders.configure({"faults": [{"operation": "searchOrders", "kind": "status", "status": 503, "count": None}]})
    with pytest.raises(AirflowException, match="still failing after 3 attempts"):
        _order_ids(SellingPartnerHook())
    assert many_orders.state.calls["searchOrders"] == 3


def test_paces_itself_to_the_rate_amazon_announces(many_orders, monkeypatch) -> None:
    """The client starts with a too-high rate; the header brings it down before any 429."""
    many_orders.configure({"rate_limits": {"searchOrders": [20, 2]}})
    monkeypatch.setenv("AMAZON_SAGE_SP_API_RATE_LIMITS", json.dumps({"searchOrders": [1000, 2]}))
    many_orders.add_versions(generate_orders(600, ORDERS_START, days=3, seed=99))
    ids = _order_ids(SellingPartnerHook())
    assert len(ids) == len(set(ids)) == 850
    # Without adopting the header the client would send all 9 pages at once: 7 would be throttled.
    # Network jitter may still cost one 429, which the retry absorbs.
    assert many_orders.state.throttled.get("searchOrders", 0) <= 1


def test_refused_refresh_token_names_the_connection_to_fix(many_orders, monkeypatch, sandbox_server) -> None:
    many_orders.configure({"revoked_refresh_tokens": ["Atzr|revoked"]})
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT", sp_api_connection(sandbox_server.url, "Atzr|revoked"))
    with pytest.raises(AirflowException, match=r"amazon_sp_api_default.*refresh_token") as caught:
        _order_ids(SellingPartnerHook())
    assert "Atzr|revoked" not in str(caught.value)


def test_library_traps_are_defused(many_orders, monkeypatch) -> None:
    monkeypatch.setenv("SP_API_DEFAULT_MARKETPLACE", "US")
    assert len(_order_ids(SellingPartnerHook())) == 250  # the UK sandbox was still used
    monkeypatch.setenv("AWS_ENV", "SANDBOX")
    with pytest.raises(AirflowException, match="AWS_ENV=SANDBOX"):
        _order_ids(SellingPartnerHook())


# -- Login with Amazon outages, and endpoints that cannot be reached ---------------------------------------------

@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setenv("AMAZON_SAGE_SP_API_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("AMAZON_SAGE_SP_API_BACKOFF_CAP_SECONDS", "0.2")


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 503, "body": "json"},
                                   {"kind": "status", "status": 503, "body": "html"},
                                   {"kind": "drop"}])
def test_a_login_outage_is_retried_and_then_reported_as_one(many_orders, quick_retries, fault) -> None:
    many_orders.configure({"faults": [{"operation": "lwaToken", **fault, "count": None}]})
    with pytest.raises(AirflowException) as caught:
        _order_ids(SellingPartnerHook())
    message = str(caught.value)
    assert "login service" in message and "unavailable" in message
    assert "re-authorise" not in message and "expired" not in message and "revoked" not in message
    assert "still failing after 3 attempts" in message
    assert many_orders.state.calls["lwaToken"] == 3  # the same bounded attempts as an SP-API call
    assert "searchOrders" not in many_orders.state.calls  # nothing reached the SP-API without a token


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 500, "count": 2},
                                   {"kind": "status", "status": 502, "body": "html", "count": 2},
                                   {"kind": "drop", "count": 2}])
def test_a_short_login_outage_is_ridden_out(many_orders, quick_retries, fault) -> None:
    many_orders.configure({"faults": [{"operation": "lwaToken", **fault}]})
    assert len(_order_ids(SellingPartnerHook())) == 250
    assert many_orders.state.calls["lwaToken"] == 3


def test_a_revoked_client_secret_names_the_credentials_to_fix(many_orders, quick_retries) -> None:
    many_orders.configure({"revoked_client_secrets": ["sandbox-client-secret"]})  # rotated, the old one revoked
    with pytest.raises(AirflowException) as caught:
        _order_ids(SellingPartnerHook())
    message = str(caught.value)
    assert "invalid_client" in message and "amazon_sp_api_default" in message and "client secret" in message
    assert "unavailable" not in message
    assert many_orders.state.calls["lwaToken"] == 1  # a refusal is not retried


def test_an_unreachable_endpoint_names_the_endpoint_and_the_connection(many_orders, sandbox_server, quick_retries,
                                                                       monkeypatch) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    connection = json.loads(sp_api_connection(sandbox_server.url, "Atzr|unreachable"))
    connection["extra"]["endpoint"] = closed
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT", json.dumps(connection))
    with pytest.raises(AirflowException) as caught:
        _order_ids(SellingPartnerHook())
    message = str(caught.value)
    assert "cannot be reached" in message and closed in message and "amazon_sp_api_default" in message
    assert "Connection refused" in message
    assert "throttl" not in message and "lower the load" not in message


def test_throttling_that_outlasts_the_retries_says_throttled(many_orders, quick_retries) -> None:
    many_orders.configure({"faults": [{"operation": "searchOrders", "kind": "throttle", "count": None}]})
    with pytest.raises(AirflowException) as caught:
        _order_ids(SellingPartnerHook())
    message = str(caught.value)
    assert "throttled" in message and "lower the load" in message
    assert "unavailable" not in message and "cannot be reached" not in message
