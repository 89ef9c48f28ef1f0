"""A local SP-API sandbox: LWA tokens, Orders API (``searchOrders``, ``getOrder``, ``confirmShipment``), Feeds,
Sellers and Notifications, over real HTTP.

It behaves like Amazon where the product depends on it:

* LWA ``POST /auth/o2/token`` issues access tokens for any ``Atzr|`` refresh token that has not
  been revoked; SP-API calls need a token it issued (403 otherwise).
* ``searchOrders`` checks every query parameter against ``orders_2026-01-01.json`` (enums,
  ranges, the created/lastUpdated exclusivity, the 2-minute rule with Amazon's message) and
  validates every answer against the model's ``SearchOrdersResponse`` schema.
* ``paginationToken`` must come back with the same filters, and expires after 24 hours.
* ``getOrder`` and ``confirmShipment`` as ``sandbox.sp_api_shipments`` describes: a confirmed
  shipment moves the order's fulfilment on, and a second confirmation of the same units is refused.
* The Notifications API and ORDER_CHANGE notifications to an SQS queue: see ``sandbox.sp_api_notifications``
  (LWA's ``client_credentials`` grant issues the grantless tokens it needs).
* Each operation has a token bucket (Amazon's rate and burst by default); a throttled call
  gets 429 with Amazon's JSON ``errors`` body and ``x-amzn-RateLimit-Limit``.
* Fault switches inject 5xx bursts (JSON or HTML bodies), 429 storms, random 429s, slow answers,
  dropped connections, and answers lost *after* the call took effect (``status_after_processing``,
  ``drop_after_processing``: createFeed creates the feed, the caller never hears of it), or held back
  after it (``slow_after_processing``: a confirmed shipment is in effect while its caller waits). The LWA
  token endpoint takes the same switches as operation ``lwaToken`` (its JSON errors in LWA's
  ``{"error", "error_description"}`` shape).
* A clock that tests can set, so an order's later versions can "happen" between two runs.

Admin endpoints (JSON): ``GET /_sandbox/state``, ``POST /_sandbox/config`` with any of
``clock`` (ISO time or null), ``faults`` (list of :class:`Fault`), ``rate_limits`` ({operation: [rate, burst]}),
``revoked_refresh_tokens`` and ``revoked_client_secrets`` (lists; LWA refuses them with
``invalid_grant`` and ``invalid_client``), ``sqs_endpoint_url`` and ``seller_id`` (notifications);
``POST /_sandbox/orders`` with ``{"versions": [...]}`` (changes now: notified); ``GET /_sandbox/notifications``.

Run it: ``python -m sandbox.sp_api_server --port 8765 --orders 60``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

from sandbox import PROJECT
from sandbox.sp_api_feeds import FEED_LIMITS, FEEDS, LIBRARY_QUERY_KEYS, FeedError, FeedsSandbox
from sandbox.sp_api_notifications import (
    GRANTLESS_SCOPE,
    NOTIFICATION_LIMITS,
    NOTIFICATIONS,
    NotificationsError,
    NotificationsSandbox,
)
from sandbox.sp_api_reports import REPORT_DOWNLOADS, REPORT_LIMITS, REPORTS, ReportsError, ReportsSandbox
from sandbox.sp_api_sellers import PARTICIPATIONS_PATH, SELLERS_LIMITS, participations
from sandbox.sp_api_shipments import (
    CONFIRM_PREFIX,
    CONFIRM_SUFFIX,
    GET_ORDER_PREFIX,
    SHIPMENT_LIMITS,
    ShipmentError,
    ShipmentsSandbox,
)

# Amazon's own models, copied unmodified into the project (include/amazon/README.md names their source).
MODELS = Path(os.environ.get("SPAPI_SANDBOX_MODELS", PROJECT / "include" / "amazon"))
SEARCH_PATH = "/orders/2026-01-01/orders"
AMAZON_LIMITS = {"searchOrders": (0.0056, 20), "getOrder": (0.5, 30), **SHIPMENT_LIMITS, **FEED_LIMITS,
                 **SELLERS_LIMITS, **NOTIFICATION_LIMITS, **REPORT_LIMITS}
TWO_MINUTES = timedelta(minutes=2)
TOKEN_LIFETIME = timedelta(hours=24)
# Query keys python-amazon-sp-api adds on GETs; Amazon ignores them, so must we.
TOLERATED_KEYS = LIBRARY_QUERY_KEYS
LWA_OPERATION = "lwaToken"  # the name fault switches give the LWA token endpoint
ITEM_DATASETS = {"PROCEEDS": "proceeds", "PROMOTION": "promotion", "CANCELLATION": "cancellation",
                 "FULFILLMENT": "fulfillment", "TAX": "tax", "EXPENSE": "expense"}
ORDER_DATASETS = {"BUYER": "buyer", "RECIPIENT": "recipient", "PROCEEDS": "proceeds", "FULFILLMENT": "fulfillment",
                  "PACKAGES": "packages", "TAX": "tax", "PAYMENT": "payment", "FULFILLMENT_ORDERS": "fulfillmentOrders"}
ALWAYS = {"orderId", "orderAliases", "createdTime", "lastUpdatedTime", "programs", "associatedOrders",
          "salesChannel", "orderItems"}


def models_dir() -> Path:
    return MODELS


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _parse_time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "InvalidInput", f"Invalid date format for {name}: {value!r}. Use ISO 8601.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Amazon reads naive times as UTC
    return parsed


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ServerBucket:
    """Amazon's bucket for one operation: ``burst`` tokens, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


FAULT_KINDS = {"status", "throttle", "slow", "drop", "status_after_processing", "drop_after_processing",
               "slow_after_processing"}


@dataclass
class Fault:
    """One fault switch. ``kind``:

    * ``status``: answer ``status`` (``body`` ``json`` or ``html``) without doing the call;
    * ``throttle``: answer 429; ``slow``: wait ``seconds``, then do the call as usual;
    * ``drop``: close the connection without an answer, without doing the call;
    * ``status_after_processing`` / ``drop_after_processing``: *do* the call (createFeed creates
      its feed), then answer ``status`` or close the connection: the answer is lost;
    * ``slow_after_processing``: do the call, then wait ``seconds`` before answering (a caller
      killed meanwhile never learns that it took effect).

    It applies to ``operation`` (or ``*``; ``lwaToken`` is the LWA token endpoint) after ``after``
    matching calls, for ``count`` calls (None = for ever), or to each call with ``probability``
    (seeded, so runs repeat).
    """

    operation: str
    kind: str
    count: int | None = 1
    after: int = 0
    status: int = 503
    body: str = "json"
    seconds: float = 0.0
    probability: float | None = None
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {', '.join(sorted(FAULT_KINDS))}")


@dataclass
class SandboxState:
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    clock: datetime | None = None
    limits: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(AMAZON_LIMITS))
    buckets: dict[str, ServerBucket] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    revoked_client_secrets: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    grantless_tokens: set[str] = field(default_factory=set)  # client_credentials, scope notifications
    calls: dict[str, int] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    lock: threading.RLock = field(default_factory=threading.RLock)

    def now(self) -> datetime:
        return self.clock or datetime.now(UTC)

    def add_versions(self, versions: list[dict[str, Any]]) -> None:
        for version in versions:
            self.versions.setdefault(version["orderId"], []).append(version)
        for history in self.versions.values():
            history.sort(key=lambda v: v["lastUpdatedTime"])

    def current(self) -> list[dict[str, Any]]:
        """Each order as it stands at the sandbox clock (its latest version not in the future)."""
        now = _iso(self.now())
        orders = []
        for history in self.versions.values():
            past = [v for v in history if v["lastUpdatedTime"] <= now]
            if past:
                orders.append(past[-1])
        return orders


class OrdersModel:
    """The parts of the Orders API model the sandbox enforces."""

    def __init__(self, directory: Path):
        path = directory / "orders_2026-01-01.json"
        if not path.is_file():
            raise FileNotFoundError(f"Amazon's Orders API model is not at {path}: restore include/amazon/ from the "
                                    "repository or set SPAPI_SANDBOX_MODELS to the folder holding "
                                    "orders_2026-01-01.json")
        model = json.loads(path.read_text())
        self.parameters = {p["name"]: p for p in model["paths"][SEARCH_PATH]["get"]["parameters"]}
        self.get_order_parameters = {p["name"]: p for p in model["paths"][f"{SEARCH_PATH}/{{orderId}}"]["get"]
                                     ["parameters"]}
        self.get_order_validator = jsonschema.Draft4Validator(
            {"$ref": "#/definitions/GetOrderResponse", "definitions": model["definitions"]})
        self.response_validator = jsonschema.Draft4Validator(
            {"$ref": "#/definitions/SearchOrdersResponse", "definitions": model["definitions"]})
        self.order_validator = jsonschema.Draft4Validator(
            {"$ref": "#/definitions/Order", "definitions": model["definitions"]})

    def enum(self, name: str) -> set[str]:
        return set(self.parameters[name]["items"]["enum"])


class Sandbox(FeedsSandbox, ShipmentsSandbox, NotificationsSandbox, ReportsSandbox):
    """The sandbox's behaviour, independent of HTTP so that the handler stays small."""

    def __init__(self, versions: list[dict[str, Any]] | None = None, models: Path | None = None):
        self.state = SandboxState()
        self.model = OrdersModel(models or models_dir())
        self.init_feeds(models or models_dir())
        self.init_shipments(models or models_dir())
        self.init_notifications(models or models_dir())
        self.init_reports(models or models_dir())
        self.add_versions(versions or [])
        self.participating: set[str] | None = None  # country codes the seller sells in; None: every EU one

    def add_versions(self, versions: list[dict[str, Any]]) -> None:
        """Add order versions, each checked once against the model's Order schema.

        Versions that are not in the future are changes happening now: with an ORDER_CHANGE subscription,
        each is notified to its SQS queue.
        """
        for version in versions:
            error = next(iter(self.model.order_validator.iter_errors(version)), None)
            if error is not None:
                raise ValueError(f"order {version.get('orderId')} breaks the model: {error.message} "
                                 f"at {list(error.path)}")
        with self.state.lock:
            self.state.add_versions(versions)
            now = self.state.now()
        self.notify_order_changes(versions, now)

    # -- faults and throttling ---------------------------------------------------------------

    def apply_faults(self, operation: str) -> Fault | None:
        """Return the fault that fires on this call of ``operation``, if any; a slow one has already slept."""
        with self.state.lock:
            chosen = None
            for fault in self.state.faults:
                if fault.operation not in (operation, "*"):
                    continue
                fault.seen += 1
                if fault.probability is not None:
                    active = self.state.rng.random() < fault.probability
                else:
                    active = fault.seen > fault.after and (fault.count is None or fault.fired < fault.count)
                if active:
                    fault.fired += 1
                    chosen = chosen or fault
        if chosen is None:
            return None
        if chosen.kind == "slow":
            time.sleep(chosen.seconds)
            return None
        return chosen

    def count_call(self, operation: str) -> None:
        with self.state.lock:
            self.state.calls[operation] = self.state.calls.get(operation, 0) + 1

    def take_token(self, operation: str) -> bool:
        with self.state.lock:
            bucket = self.state.buckets.get(operation)
            if bucket is None:
                bucket = self.state.buckets[operation] = ServerBucket(*self.state.limits[operation])
            ok = bucket.take()
            if not ok:
                self.state.throttled[operation] = self.state.throttled.get(operation, 0) + 1
            return ok

    def configure(self, config: dict[str, Any]) -> None:
        with self.state.lock:
            if "clock" in config:
                self.state.clock = _parse_time(config["clock"], "clock") if config["clock"] else None
            if "faults" in config:
                self.state.faults = [Fault(**fault) for fault in config["faults"]]
            if "rate_limits" in config:
                for operation, (rate, burst) in config["rate_limits"].items():
                    self.state.limits[operation] = (float(rate), float(burst))
                    self.state.buckets.pop(operation, None)
            if "revoked_refresh_tokens" in config:
                self.state.revoked = set(config["revoked_refresh_tokens"])
            if "revoked_client_secrets" in config:
                self.state.revoked_client_secrets = set(config["revoked_client_secrets"])
            self.configure_feeds(config)
            self.configure_notifications(config)
            self.configure_reports(config)

    # -- LWA ---------------------------------------------------------------------------------

    def issue_token(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") not in {"refresh_token", "client_credentials"}:
            raise ApiError(400, "unsupported_grant_type", "Only refresh_token and client_credentials grants "
                                                          "are supported")
        if (not form.get("client_id") or not form.get("client_secret")
                or form["client_secret"] in self.state.revoked_client_secrets):
            raise ApiError(401, "invalid_client", "Client authentication failed")
        if form["grant_type"] == "client_credentials":  # grantless operations: no seller, a scope
            if form.get("scope") != GRANTLESS_SCOPE:
                raise ApiError(400, "invalid_scope", f"The scope must be {GRANTLESS_SCOPE}")
            token = "Atza|" + secrets.token_urlsafe(24)
            with self.state.lock:
                self.state.grantless_tokens.add(token)
            return {"access_token": token, "token_type": "bearer", "expires_in": 3600}
        refresh = form.get("refresh_token", "")
        if not refresh.startswith("Atzr|") or refresh in self.state.revoked:
            raise ApiError(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
        token = "Atza|" + secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.access_tokens.add(token)
        return {"access_token": token, "token_type": "bearer", "expires_in": 3600, "refresh_token": refresh}

    def check_access(self, token: str | None, grantless: bool = False) -> None:
        """A seller's token for seller operations; a client-credentials token for grantless ones."""
        issued = self.state.grantless_tokens if grantless else self.state.access_tokens
        if not token or token not in issued:
            raise ApiError(403, "Unauthorized", "Access to requested resource is denied.",
                           "The access token you provided is revoked, malformed or invalid"
                           + (" (this operation is grantless)." if grantless else "."))

    # -- getOrder ------------------------------------------------------------------------------

    # -- searchOrders ------------------------------------------------------------------------

    def _list(self, query: dict[str, list[str]], name: str) -> list[str]:
        values = [part for raw in query.get(name, []) for part in raw.split(",") if part]
        allowed = self.model.enum(name) if "enum" in self.model.parameters[name].get("items", {}) else None
        bad = [value for value in values if allowed is not None and value not in allowed]
        if bad:
            raise ApiError(400, "InvalidInput", f"Invalid value(s) for {name}: {', '.join(bad)}. "
                                                f"Allowed: {', '.join(sorted(allowed or ()))}.")
        return values

    def _filters(self, query: dict[str, list[str]]) -> dict[str, Any]:
        unknown = set(query) - set(self.model.parameters) - TOLERATED_KEYS
        if unknown:
            raise ApiError(400, "InvalidInput", f"Unknown parameter(s): {', '.join(sorted(unknown))}")
        single = {key: values[-1] for key, values in query.items() if values}
        created, updated = "createdAfter" in single, "lastUpdatedAfter" in single
        if created == updated:
            raise ApiError(400, "InvalidInput", "Exactly one of createdAfter and lastUpdatedAfter must be provided.")
        prefix = "created" if created else "lastUpdated"
        other = "lastUpdated" if created else "created"
        if f"{other}Before" in single:
            raise ApiError(400, "InvalidInput", f"{other}Before cannot be provided with {prefix}After.")
        after = _parse_time(single[f"{prefix}After"], f"{prefix}After")
        latest = self.state.now() - TWO_MINUTES
        if f"{prefix}Before" in single:
            before = _parse_time(single[f"{prefix}Before"], f"{prefix}Before")
            if before > latest:
                raise ApiError(400, "InvalidInput", f"{prefix}Before must be a date at least two minutes before "
                                                    "the time of the request.")
            if before < after:
                raise ApiError(400, "InvalidInput", f"{prefix}Before must be equal to or after {prefix}After.")
        else:
            before = latest
        if after > latest:
            raise ApiError(400, "InvalidInput", f"{prefix}After must be a date at least two minutes before "
                                                "the time of the request.")
        size = single.get("maxResultsPerPage", "100")
        if not size.isdigit() or not 1 <= int(size) <= 100:
            raise ApiError(400, "InvalidInput", "maxResultsPerPage must be an integer between 1 and 100.")
        return {"field": "createdTime" if created else "lastUpdatedTime", "prefix": prefix,
                "after": _iso(after), "before": _iso(before),
                "statuses": self._list(query, "fulfillmentStatuses"),
                "marketplaces": self._list(query, "marketplaceIds"),
                "fulfilledBy": self._list(query, "fulfilledBy"),
                "included": set(self._list(query, "includedData")),
                "size": int(size), "token": single.get("paginationToken")}

    @staticmethod
    def _fingerprint(query: dict[str, list[str]]) -> str:
        """Hash of the filters that must repeat with a paginationToken."""
        kept = {key: values for key, values in query.items()
                if key not in {"paginationToken", "maxResultsPerPage", "includedData"} | TOLERATED_KEYS}
        return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]

    def _decode_token(self, token: str, fingerprint: str) -> tuple[str, str, str]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            issued, last_time, last_id, print_ = data["i"], data["t"], data["o"], data["f"]
        except (ValueError, KeyError, TypeError):
            raise ApiError(400, "InvalidInput", "Invalid paginationToken.") from None
        if print_ != fingerprint:
            raise ApiError(400, "InvalidInput", "The paginationToken does not match the request's filters: "
                                                "repeat the original parameters with the token.")
        if self.state.now() - _parse_time(issued, "paginationToken") > TOKEN_LIFETIME:
            raise ApiError(400, "InvalidInput", "The paginationToken has expired.")
        return issued, last_time, last_id

    def _shape(self, order: dict[str, Any], included: set[str]) -> dict[str, Any]:
        wanted = {ORDER_DATASETS[name] for name in included if name in ORDER_DATASETS}
        shaped = {key: value for key, value in order.items() if key in ALWAYS or key in wanted}
        item_keys = {ITEM_DATASETS[name] for name in included if name in ITEM_DATASETS}
        shaped["orderItems"] = [{key: value for key, value in item.items()
                                 if key in {"orderItemId", "quantityOrdered", "product", "measurement",
                                            "programs", "associatedOrderItems"} or key in item_keys}
                                for item in order["orderItems"]]
        return shaped

    def search_orders(self, query: dict[str, list[str]]) -> dict[str, Any]:
        filters = self._filters(query)
        fingerprint = self._fingerprint(query)
        issued = _iso(self.state.now())
        last_key = ("", "")
        if filters["token"]:
            issued, *last = self._decode_token(filters["token"], fingerprint)
            last_key = (last[0], last[1])
        field_ = filters["field"]
        with self.state.lock:
            current = self.state.current()
        matches = sorted(
            (o for o in current
             if filters["after"] <= o[field_] <= filters["before"]
             and (not filters["statuses"] or o["fulfillment"]["fulfillmentStatus"] in filters["statuses"])
             and (not filters["marketplaces"] or o["salesChannel"]["marketplaceId"] in filters["marketplaces"])
             and (not filters["fulfilledBy"] or o["fulfillment"]["fulfilledBy"] in filters["fulfilledBy"])
             and (o[field_], o["orderId"]) > last_key),
            key=lambda o: (o[field_], o["orderId"]))
        page = matches[:filters["size"]]
        body: dict[str, Any] = {"orders": [self._shape(order, filters["included"]) for order in page],
                                f"{filters['prefix']}Before": filters["before"]}
        if len(matches) > len(page):
            token = {"i": issued, "t": page[-1][field_], "o": page[-1]["orderId"], "f": fingerprint}
            body["pagination"] = {"nextToken": base64.urlsafe_b64encode(json.dumps(token).encode()).decode()}
        # Every order was checked against the model when it was added, and shaping only drops
        # optional datasets, so the answer's envelope is what remains to check on each call.
        errors = sorted(self.model.response_validator.iter_errors({**body, "orders": []}), key=lambda e: list(e.path))
        if errors:
            raise ApiError(500, "InternalFailure", f"Sandbox answer breaks the model: {errors[0].message} "
                                                   f"at {list(errors[0].path)}")
        return body


def _handler(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read state instead
            return

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
            data = b"" if status == 204 else body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the caller is gone (killed, or timed out): nothing to tell

        def _drop(self) -> None:
            """Close the connection without an answer, as a crashed server or a cut network would."""
            self.close_connection = True

        def _error(self, exc: ApiError, headers: dict[str, str] | None = None) -> None:
            self._send(exc.status, {"errors": [{"code": exc.code, "message": exc.message, "details": exc.details}]},
                       headers)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        @property
        def base_url(self) -> str:
            host, port = self.server.server_address[:2]
            return f"http://{host}:{port}"

        def _sp_api(self, operation: str, action: Any, status: int = 200, also: str | None = None,
                    grantless: bool = False) -> None:
            """Answer an SP-API operation: auth, faults, the operation's bucket (and ``also``'s), then ``action``."""
            limit = {"x-amzn-RateLimit-Limit": str(sandbox.state.limits[operation][0])}
            try:
                sandbox.check_access(self.headers.get("x-amz-access-token"), grantless)
                sandbox.count_call(operation)
                fault = sandbox.apply_faults(operation)
                kind = fault.kind if fault else None
                throttled = kind == "throttle" or not sandbox.take_token(operation)
                if throttled or (also and not sandbox.take_token(also)):
                    raise ApiError(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")
                if kind == "drop":
                    self._drop()
                    return
                if kind == "status":
                    self._fail(fault)
                    return
                with sandbox.state.lock:
                    answer = action()
                if kind == "slow_after_processing":
                    time.sleep(fault.seconds)
                if kind == "drop_after_processing":
                    self._drop()
                elif kind == "status_after_processing":
                    self._fail(fault)
                else:
                    self._send(status, answer, limit)
            except (FeedError, ShipmentError, NotificationsError, ReportsError) as exc:
                self._error(ApiError(exc.status, exc.code, exc.message))
            except ApiError as exc:
                self._error(exc, limit if exc.status == 429 else None)

        def do_DELETE(self) -> None:
            url = urlsplit(self.path)
            if url.path.startswith(NOTIFICATIONS):
                self._notifications("DELETE", url.path, {})
            else:
                self._error(ApiError(404, "NotFound", f"No such resource {url.path}"))

        def _notifications(self, method: str, path: str, body: Any) -> None:
            """Route a Notifications API call: ``body`` is the query (GET) or the JSON body (POST)."""
            parts = path[len(NOTIFICATIONS):].strip("/").split("/")
            routes = {
                ("POST", "destinations", 1): ("createDestination", True, lambda: sandbox.create_destination(body)),
                ("GET", "destinations", 1): ("getDestinations", True, sandbox.get_destinations),
                ("POST", "subscriptions", 2): ("createSubscription", False,
                                               lambda: sandbox.create_subscription(parts[1], body)),
                ("GET", "subscriptions", 2): ("getSubscription", False,
                                              lambda: sandbox.get_subscription(parts[1], body)),
                ("GET", "subscriptions", 3): ("getSubscriptionById", True,
                                              lambda: sandbox.get_subscription_by_id(parts[1], parts[2])),
                ("DELETE", "subscriptions", 3): ("deleteSubscriptionById", True,
                                                 lambda: sandbox.delete_subscription_by_id(parts[1], parts[2])),
            }
            route = routes.get((method, parts[0], len(parts)))
            if route is None:
                self._error(ApiError(404, "NotFound", f"No such resource {path}"))
                return
            operation, grantless, action = route
            self._sp_api(operation, action, grantless=grantless)

        def _fail(self, fault: Fault) -> None:
            if fault.body == "html":
                self._send(fault.status, b"<html><body>Service Unavailable</body></html>", content_type="text/html")
            else:
                self._error(ApiError(fault.status, "InternalFailure", "We encountered an internal error. "
                                                                      "Please try again."))

        def _lwa_token(self) -> None:
            """LWA's token endpoint, with the fault switches of operation ``lwaToken``."""
            form = {k: v[-1] for k, v in parse_qs(self._body().decode()).items()}
            sandbox.count_call(LWA_OPERATION)
            fault = sandbox.apply_faults(LWA_OPERATION)
            if fault and fault.kind in {"drop", "drop_after_processing"}:
                self._drop()
                return
            if fault and fault.kind in {"status", "throttle", "status_after_processing"}:
                code = 429 if fault.kind == "throttle" else fault.status
                if fault.body == "html":
                    self._send(code, b"<html><body><h1>Service Unavailable</h1></body></html>",
                               content_type="text/html")
                else:
                    self._send(code, {"error": "server_error", "error_description": "Internal Server Error"})
                return
            try:
                self._send(200, sandbox.issue_token(form))
            except ApiError as exc:
                self._send(exc.status, {"error": exc.code, "error_description": exc.message})

        def _s3_error(self, exc: FeedError | ReportsError) -> None:
            body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{exc.code}</Code>"
                    f"<Message>{exc.message}</Message></Error>").encode()
            self._send(exc.status, body, content_type="application/xml")

        def do_PUT(self) -> None:
            url = urlsplit(self.path)
            if not url.path.startswith("/_uploads/"):
                self._error(ApiError(404, "NotFound", f"No such resource {url.path}"))
                return
            data = self._body()
            try:
                with sandbox.state.lock:
                    sandbox.upload(url.path.rsplit("/", 1)[-1], self.headers.get("Content-Type"), data)
                self._send(200, b"", content_type="application/xml")
            except FeedError as exc:
                self._s3_error(exc)

        @property
        def _by_id(self) -> tuple[tuple[str, str, Callable[[str], Any]], ...]:
            """GET <prefix><id> routes: the prefix, the operation and what answers it for the id."""
            return ((f"{FEEDS}/feeds/", "getFeed", sandbox.get_feed),
                    (f"{FEEDS}/documents/", "getFeedDocument",
                     lambda name: sandbox.get_feed_document(name, self.base_url)),
                    (f"{REPORTS}/reports/", "getReport", sandbox.get_report),
                    (f"{REPORTS}/documents/", "getReportDocument",
                     lambda name: sandbox.get_report_document(name, self.base_url)))

        # The presigned document URLs, which are S3's, not SP-API operations.
        _downloads = (("/_downloads/", sandbox.download), (REPORT_DOWNLOADS, sandbox.download_report))

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == SEARCH_PATH:
                query = parse_qs(url.query, keep_blank_values=True)
                self._sp_api("searchOrders", lambda: sandbox.search_orders(query))
            elif url.path.startswith(GET_ORDER_PREFIX):
                query = parse_qs(url.query, keep_blank_values=True)
                order_id = url.path.removeprefix(GET_ORDER_PREFIX)
                self._sp_api("getOrder", lambda: sandbox.get_order(order_id, query, TOLERATED_KEYS))
            elif url.path.startswith(NOTIFICATIONS):
                self._notifications("GET", url.path, parse_qs(url.query, keep_blank_values=True))
            elif url.path == "/_sandbox/notifications":
                state = sandbox.notifications_state
                with sandbox.state.lock:
                    self._send(200, {"sent": list(state.sent), "send_failures": list(state.send_failures),
                                     "subscriptions": list(state.subscriptions.values()),
                                     "destinations": list(state.destinations.values())})
            elif url.path == f"{FEEDS}/feeds":
                query = parse_qs(url.query, keep_blank_values=True)
                self._sp_api("getFeeds", lambda: sandbox.get_feeds(query))
            elif url.path == PARTICIPATIONS_PATH:
                self._sp_api("getMarketplaceParticipations", lambda: participations(sandbox.participating))
            elif by_id := next((route for route in self._by_id if url.path.startswith(route[0])), None):
                prefix, operation, action = by_id
                name = url.path.removeprefix(prefix)
                self._sp_api(operation, lambda: action(name))
            elif download := next((fetch for prefix, fetch in self._downloads if url.path.startswith(prefix)), None):
                try:
                    with sandbox.state.lock:
                        data = download(url.path.rsplit("/", 1)[-1])
                    self._send(200, data, content_type="application/octet-stream")
                except (FeedError, ReportsError) as exc:
                    self._s3_error(exc)
            elif url.path == "/_sandbox/state":
                state = sandbox.state
                with state.lock:
                    listings = {sku: {"quantity": listing.quantity, "price": str(listing.price)}
                                for sku, listing in sandbox.feeds_state.listings.items()}
                    feeds = {feed_id: feed.status for feed_id, feed in sandbox.feeds_state.feeds.items()}
                    reports = {report_id: report.status
                               for report_id, report in sandbox.reports_state.reports.items()}
                self._send(200, {"orders": len(state.versions), "calls": state.calls, "throttled": state.throttled,
                                 "clock": _iso(state.now()), "faults": [vars(f) for f in state.faults],
                                 "listings": listings, "feeds": feeds, "reports": reports,
                                 "confirmations": sandbox.confirmations})
            else:
                self._error(ApiError(404, "NotFound", f"No such resource {url.path}"))

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            try:
                if url.path == "/auth/o2/token":
                    self._lwa_token()
                elif url.path == f"{FEEDS}/documents":
                    body = json.loads(self._body() or b"{}")
                    self._sp_api("createFeedDocument", lambda: sandbox.create_feed_document(body, self.base_url), 201)
                elif url.path == f"{FEEDS}/feeds":
                    body = json.loads(self._body() or b"{}")
                    also = "JSON_LISTINGS_FEED" if body.get("feedType") == "JSON_LISTINGS_FEED" else None
                    self._sp_api("createFeed", lambda: sandbox.create_feed(body), 202, also=also)
                elif url.path == f"{REPORTS}/reports":
                    body = json.loads(self._body() or b"{}")
                    self._sp_api("createReport", lambda: sandbox.create_report(body), 202)
                elif url.path.startswith(CONFIRM_PREFIX) and url.path.endswith(CONFIRM_SUFFIX):
                    order_id = url.path.removeprefix(CONFIRM_PREFIX).removesuffix(CONFIRM_SUFFIX)
                    body = json.loads(self._body() or b"{}")
                    self._sp_api("confirmShipment", lambda: sandbox.confirm_shipment(order_id, body), 204)
                elif url.path.startswith(NOTIFICATIONS):
                    self._notifications("POST", url.path, json.loads(self._body() or b"{}"))
                elif url.path == "/_sandbox/config":
                    sandbox.configure(json.loads(self._body() or b"{}"))
                    self._send(200, {"ok": True})
                elif url.path == "/_sandbox/orders":
                    sandbox.add_versions(json.loads(self._body())["versions"])
                    self._send(200, {"orders": len(sandbox.state.versions)})
                else:
                    self._error(ApiError(404, "NotFound", f"No such resource {url.path}"))
            except (ValueError, KeyError, TypeError) as exc:
                self._error(ApiError(400, "InvalidInput", f"Bad sandbox request: {exc}"))

    return Handler


class SandboxServer:
    """The sandbox on a loopback port, served from a background thread."""

    def __init__(self, sandbox: Sandbox, port: int = 0, host: str = "127.0.0.1"):
        self.sandbox = sandbox
        self.httpd = ThreadingHTTPServer((host, port), _handler(sandbox))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> SandboxServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    from sandbox.order_generator import generate_orders

    parser = argparse.ArgumentParser(description="Local SP-API sandbox")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--orders", type=int, default=60)
    parser.add_argument("--days-ago", type=float, default=3.0, help="orders start this many days ago")
    parser.add_argument("--rate-limits", default="", help='JSON, e.g. {"searchOrders": [2, 5]}')
    args = parser.parse_args()
    start = (datetime.now(UTC) - timedelta(days=args.days_ago)).replace(minute=0, second=0, microsecond=0)
    sandbox = Sandbox(generate_orders(args.orders, start, days=max(args.days_ago - 0.5, 0.5)))
    if args.rate_limits:
        sandbox.configure({"rate_limits": json.loads(args.rate_limits)})
    server = SandboxServer(sandbox, args.port)
    print(f"SP-API sandbox on {server.url} with {args.orders} orders from {_iso(start)}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.httpd.serve_forever()


if __name__ == "__main__":
    main()
