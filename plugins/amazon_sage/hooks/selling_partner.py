"""Airflow hook for Amazon's Selling Partner API over python-amazon-sp-api.

Connection (default ``amazon_sp_api_default``): login = LWA client id, password = LWA client
secret; extra = ``refresh_token``, ``seller_id`` (Zynk's Merchant ID), ``marketplace``
(country code such as ``UK``), and optional ``endpoint`` / ``lwa_endpoint`` overrides used
by the local sandbox. Airflow's Admin > Connections form for this type is declared in
``amazon_sage.connection_form`` (the provider info), and stores those same extra keys.

The hook works around the library's known traps: it refuses
``AWS_ENV=SANDBOX`` and ignores ``SP_API_DEFAULT_MARKETPLACE``, checks HTTP status itself
(the library turns non-JSON error bodies into empty answers), sorts Login with Amazon's
answers itself (the library calls an LWA outage refused credentials), runs its own paging and
retry loop, and never logs tokens or request headers.

Failures that outlast the retries say what they are: throttled (429), Amazon unavailable
(5xx, timeouts), an endpoint that cannot be reached (naming it and the connection), or the
login service unavailable. ``create_feed`` is never retried blindly: see :meth:`create_feed`.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Callable, Iterator
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings
from amazon_sage.core.marketplaces import Marketplace
from amazon_sage.core.sp_api.http_failures import transport_failure
from amazon_sage.core.sp_api.login_with_amazon import CREDENTIAL_ERRORS, LoginRefused, access_token_client_class
from amazon_sage.core.sp_api.rate_limited_calls import (
    AMAZON_RATE_LIMITS,
    LoginUnavailable,
    RetryPolicy,
    SpApiGaveUp,
    SpApiOutcomeUnknown,
    SpApiThrottled,
    SpApiUnavailable,
    SpApiUnreachable,
    call_within_rate_limit,
)
from amazon_sage.core.sp_api.token_bucket import TokenBucket

log = logging.getLogger(__name__)

LISTINGS_FEED = "JSON_LISTINGS_FEED"
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
# TAX: the items' tax collections, which say when Amazon collects the VAT as marketplace facilitator.
ORDERS_INCLUDED_DATA = ["BUYER", "RECIPIENT", "PROCEEDS", "PROMOTION", "FULFILLMENT", "CANCELLATION", "TAX"]
HTTP_TIMEOUT_SECONDS = 60.0


def _raise_for_status(response: httpx.Response) -> None:
    """httpx response hook: turn 429 and 5xx into exceptions the retry loop understands."""
    if response.status_code == 429:
        response.read()
        limit = response.headers.get("x-amzn-RateLimit-Limit")
        raise SpApiThrottled(response.request.url.path, float(limit) if limit else None)
    if response.status_code >= 500:
        response.read()
        raise SpApiUnavailable(f"HTTP {response.status_code} from {response.request.url.path}")


class SellingPartnerHook(BaseHook):
    """Calls the SP-API for one seller account, within Amazon's rate limits."""

    conn_name_attr = "sp_api_conn_id"
    default_conn_name = "amazon_sp_api_default"
    conn_type = "amazon_sp_api"
    hook_name = "Amazon Selling Partner API"

    def __init__(self, sp_api_conn_id: str | None = None) -> None:
        super().__init__()
        self.sp_api_conn_id = sp_api_conn_id or settings.get("SP_API_CONN_ID")
        self._buckets: dict[str, TokenBucket] = {}
        self.retry_policy = RetryPolicy(
            max_attempts=settings.get_int("SP_API_MAX_ATTEMPTS"),
            backoff_cap=float(settings.get("SP_API_BACKOFF_CAP_SECONDS")),
        )

    # -- connection -------------------------------------------------------------------------

    @cached_property
    def _conn(self) -> Any:
        return self.get_connection(self.sp_api_conn_id)

    @property
    def extras(self) -> dict[str, Any]:
        return self._conn.extra_dejson

    @property
    def seller_id(self) -> str:
        seller_id = self.extras.get("seller_id")
        if not seller_id:
            raise AirflowException(f"Connection '{self.sp_api_conn_id}' has no seller_id in its extra "
                                   "(Zynk's Merchant ID): add it in Admin > Connections.")
        return seller_id

    @cached_property
    def marketplaces(self) -> list[Marketplace]:
        """The connection's marketplaces (extra ``marketplace``: ``UK``, or ``UK,DE,FR``), all in one region."""
        from amazon_sage.core.marketplaces import MarketplaceError, parse_marketplaces

        try:
            return parse_marketplaces(str(self.extras.get("marketplace") or "UK"))
        except MarketplaceError as exc:
            raise AirflowException(f"Connection '{self.sp_api_conn_id}', extra marketplace: {exc}.") from None

    @cached_property
    def marketplace(self) -> SimpleNamespace:
        """Endpoint, marketplace id and region of the connection's first (home) marketplace.

        The endpoint serves every marketplace of the connection, since they share its region.
        """
        from sp_api.base import Marketplaces

        home = self.marketplaces[0]
        known = Marketplaces["GB" if home.code == "UK" else home.code]
        return SimpleNamespace(endpoint=self.extras.get("endpoint") or known.endpoint,
                               marketplace_id=known.marketplace_id, region=known.region)

    def _credentials(self) -> dict[str, str]:
        missing = [name for name, value in (("login (LWA client id)", self._conn.login),
                                            ("password (LWA client secret)", self._conn.password),
                                            ("extra refresh_token", self.extras.get("refresh_token")))
                   if not value]
        if missing:
            raise AirflowException(f"Connection '{self.sp_api_conn_id}' lacks {', '.join(missing)}.")
        return {"refresh_token": self.extras["refresh_token"], "lwa_app_id": self._conn.login,
                "lwa_client_secret": self._conn.password}

    def _access_token_client_class(self) -> type:
        return access_token_client_class(self.extras.get("lwa_endpoint"), HTTP_TIMEOUT_SECONDS)

    @staticmethod
    def _guard_environment() -> None:
        if os.environ.get("AWS_ENV", "").upper() == "SANDBOX":
            raise AirflowException("AWS_ENV=SANDBOX is set: python-amazon-sp-api would send every call to "
                                   "Amazon's static sandbox. Unset it and use the connection's endpoint.")
        if os.environ.pop("SP_API_DEFAULT_MARKETPLACE", None):
            log.warning("Ignored SP_API_DEFAULT_MARKETPLACE: it would override the connection's marketplace.")

    def _client(self, client_class: type, **kwargs: Any) -> Any:
        from sp_api.base._transport_httpx import HttpxTransport

        self._guard_environment()
        for name in ("sp_api", "httpx", "httpcore"):  # their DEBUG output carries tokens
            logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))
        client = client_class(self.marketplace, credentials=self._credentials(),
                              auth_token_client_class=self._access_token_client_class(), **kwargs)
        client._transport = HttpxTransport(client=httpx.Client(
            timeout=HTTP_TIMEOUT_SECONDS, event_hooks={"response": [_raise_for_status]}))
        return client

    # -- rate-limited calls -------------------------------------------------------------------

    def bucket(self, operation: str) -> TokenBucket:
        if operation not in self._buckets:
            overrides = json.loads(settings.get("SP_API_RATE_LIMITS") or "{}")
            rate, burst = overrides.get(operation, AMAZON_RATE_LIMITS[operation])
            self._buckets[operation] = TokenBucket(rate=float(rate), burst=float(burst))
        return self._buckets[operation]

    def call(self, operation: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``function`` (a bound library method) as SP-API ``operation`` within its limits."""
        return self._call(operation, lambda: function(*args, **kwargs))

    def _call(self, operation: str, send: Callable[[], Any], *, repeatable: bool = True) -> Any:
        """Run ``send`` as ``operation`` under its bucket and retry loop; failures become clear AirflowExceptions.

        With ``repeatable=False``, :class:`SpApiOutcomeUnknown` propagates as such (the caller finds out).
        """
        from sp_api.base.exceptions import SellingApiException, SellingApiForbiddenException

        def attempt() -> Any:
            try:
                response = send()
            except httpx.TransportError as exc:
                raise transport_failure(exc) from exc
            announced = getattr(response, "rate_limit", None)
            if announced:
                self.bucket(operation).set_rate(float(announced))
            return response

        try:
            return call_within_rate_limit(operation, self.bucket(operation), attempt, self.retry_policy,
                                          repeatable=repeatable)
        except SpApiGaveUp as exc:
            raise AirflowException(self._gave_up_message(exc)) from None
        except LoginRefused as exc:
            raise AirflowException(self._login_refused_message(exc)) from None
        except SellingApiForbiddenException as exc:
            raise AirflowException(
                f"Amazon refused {operation} for connection '{self.sp_api_conn_id}': {exc.message}. Check that "
                "the app has the roles it needs and that the refresh token belongs to this seller.") from None
        except SellingApiException as exc:
            raise AirflowException(f"Amazon rejected {operation}: {getattr(exc, 'message', exc)} "
                                   f"(code {getattr(exc, 'amzn_code', '?')}).") from None

    def _gave_up_message(self, exc: SpApiGaveUp) -> str:
        """The core's message, plus which Airflow connection holds the address that failed."""
        conn = self.sp_api_conn_id
        if isinstance(exc.last, SpApiUnreachable):
            if exc.last.endpoint.rstrip("/") == str(self.marketplace.endpoint).rstrip("/"):
                return (f"{exc} It is the SP-API endpoint of Airflow connection '{conn}': check the 'endpoint' in "
                        "its extra (leave it out to use Amazon's endpoint for the connection's marketplace).")
            return f"{exc} (Airflow connection '{conn}')."
        if isinstance(exc.last, LoginUnavailable):
            where = ("its 'lwa_endpoint' extra, which replaces Amazon's" if self.extras.get("lwa_endpoint")
                     else "Amazon's own, api.amazon.com")
            return f"{exc} Airflow connection '{conn}' uses {where}."
        return str(exc)

    def _login_refused_message(self, exc: LoginRefused) -> str:
        conn = self.sp_api_conn_id
        if exc.error_code == "invalid_grant":
            return (f"Login with Amazon refused the refresh token of connection '{conn}' ({exc}). It has expired or "
                    "been revoked, or belongs to another app: re-authorise the app in Seller Central and update the "
                    "connection's refresh_token.")
        if exc.credentials_invalid:
            return (f"Login with Amazon refused the {CREDENTIAL_ERRORS[exc.error_code]} of connection '{conn}' "
                    f"({exc}): check its login (LWA client id) and password (LWA client secret); after rotating "
                    "the client secret, put the new one in the connection.")
        return (f"Login with Amazon refused the token request of connection '{conn}' ({exc}). This does not say the "
                "credentials are wrong; check the app's Login with Amazon settings in Seller Central.")

    # -- Orders API v2026-01-01 ---------------------------------------------------------------

    def search_orders(self, *, last_updated_after: str, last_updated_before: str,
                      fulfillment_statuses: list[str], fulfilled_by: list[str] | None = None,
                      included_data: list[str] | None = None,
                      marketplace_ids: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Yield every page of ``searchOrders`` for the window, following ``nextToken``.

        ``marketplace_ids`` narrows the call to some of the connection's marketplaces (default: all).

        Each page is fetched with the same filters plus ``paginationToken`` and retried as a
        whole, so a retried page is neither lost nor doubled.
        """
        from sp_api.api import Orders

        client = self._client(Orders, version="2026-01-01")
        filters: dict[str, Any] = {
            "lastUpdatedAfter": last_updated_after,
            "lastUpdatedBefore": last_updated_before,
            "fulfillmentStatuses": ",".join(fulfillment_statuses),
            "marketplaceIds": ",".join(marketplace_ids or [m.marketplace_id for m in self.marketplaces]),
            "includedData": ",".join(included_data or ORDERS_INCLUDED_DATA),
            "maxResultsPerPage": 100,
        }
        if fulfilled_by:  # AMAZON (FBA) and/or MERCHANT; none given: both
            filters["fulfilledBy"] = ",".join(fulfilled_by)
        token: str | None = None
        try:
            while True:
                params = dict(filters, paginationToken=token) if token else dict(filters)
                response = self.call("searchOrders", client.search_orders, **params)
                page = response.payload
                if not isinstance(page, dict) or "orders" not in page:
                    raise AirflowException("searchOrders answered without an 'orders' list; Amazon's answer was "
                                           "unreadable. The task will retry.")
                yield page
                token = response.next_token
                if not token:
                    return
        finally:
            client.close()

    # -- Shipments: getOrder (v2026-01-01) and confirmShipment (v0) -----------------------------

    @cached_property
    def _orders(self) -> Any:
        from sp_api.api import Orders

        return self._client(Orders, version="2026-01-01")

    @cached_property
    def _orders_v0(self) -> Any:
        from sp_api.api import Orders

        return self._client(Orders, version="v0")

    def get_order(self, order_id: str, included_data: list[str] | None = None) -> dict[str, Any] | None:
        """getOrder (Orders API v2026-01-01): the order as Amazon has it now, or None if Amazon has no such order.

        Within getOrder's own bucket (0.5/s, burst 30), retried like every call; unlike searchOrders it has no
        2-minute rule, so an order can be fetched the moment its ORDER_CHANGE notification arrives. The order
        has the same datasets as a searchOrders page (``ORDERS_INCLUDED_DATA``), so the same mapping reads it.
        """
        from sp_api.base.exceptions import SellingApiNotFoundException

        def send() -> Any:
            try:
                return self._orders.get_order(order_id, includedData=",".join(included_data or ORDERS_INCLUDED_DATA))
            except SellingApiNotFoundException:
                return None

        response = self._call("getOrder", send)
        if response is None:
            return None
        order = response.payload.get("order") if isinstance(response.payload, dict) else None
        if not isinstance(order, dict) or order.get("orderId") != order_id:
            raise AirflowException(f"getOrder answered for {order_id} without that order; Amazon's answer was "
                                   "unreadable. The task will retry.")
        return order

    def confirm_shipment(self, order_id: str, package_detail: dict[str, Any],
                         marketplace_id: str | None = None) -> None:
        """confirmShipment of one package in the order's marketplace (default: the connection's first).

        Never repeated blindly.

        Amazon's refusal (400, 404, 409) raises ``ShipmentRefused`` with Amazon's message. Retried
        only when Amazon certainly did not act (429, no connection made); a 5xx, a timeout, a
        dropped connection or an answer that is not Amazon's 204 raises :class:`SpApiOutcomeUnknown`:
        the caller reads the order again before anything is sent again.
        """
        from sp_api.base.exceptions import (
            SellingApiBadRequestException,
            SellingApiNotFoundException,
            SellingApiStateConflictException,
        )

        from amazon_sage.core.shipments.confirm_shipments import ShipmentRefused

        def send() -> Any:
            try:
                return self._orders_v0.confirm_shipment(
                    order_id, marketplaceId=marketplace_id or self.marketplace.marketplace_id,
                    packageDetail=package_detail)
            except (SellingApiBadRequestException, SellingApiNotFoundException,
                    SellingApiStateConflictException) as exc:
                raise ShipmentRefused(f"{getattr(exc, 'message', exc)} (code {getattr(exc, 'amzn_code', '?')})") \
                    from None

        response = self._call("confirmShipment", send, repeatable=False)
        # The library reads Amazon's empty 204 as {"status_code": 204}, and a non-JSON 4xx as an empty answer.
        status = response.payload.get("status_code") if isinstance(response.payload, dict) else None
        if status not in (200, 204):
            raise SpApiOutcomeUnknown("confirmShipment", SpApiUnavailable("an answer other than Amazon's 204"))

    # -- Notifications API v1 ------------------------------------------------------------------
    # createDestination, getDestinations, getSubscriptionById and deleteSubscriptionById are grantless: their
    # token comes from LWA's client-credentials grant with the notifications scope (the library asks for it
    # through the same sorting token client as every other token). createSubscription and getSubscription
    # act for the seller and use the refresh token. The library sends getSubscriptionById and
    # deleteSubscriptionById with the seller's token, so those two are sent here as grantless calls.

    @cached_property
    def _notifications(self) -> Any:
        from sp_api.api import Notifications

        return self._client(Notifications)

    def _answer(self, operation: str, response: Any) -> Any:
        payload = response.payload if response is not None else None
        if not isinstance(payload, dict):
            raise AirflowException(f"{operation} answered without a payload; Amazon's answer was unreadable.")
        return payload

    def create_destination(self, name: str, sqs_arn: str) -> dict[str, Any]:
        """createDestination (grantless) for an SQS queue; returns the destination (``destinationId``, ...)."""
        body = {"method": "POST", "name": name, "resourceSpecification": {"sqs": {"arn": sqs_arn}}}
        client = self._notifications
        return self._answer("createDestination", self._call(
            "createDestination", lambda: client._request_grantless_operation("/notifications/v1/destinations",
                                                                             data=dict(body))))

    def get_destinations(self) -> list[dict[str, Any]]:
        """getDestinations (grantless): every destination of the application."""
        client = self._notifications
        response = self._call("getDestinations", lambda: client._request_grantless_operation(
            "/notifications/v1/destinations", params={"method": "GET"}))
        payload = response.payload if response is not None else None
        return payload if isinstance(payload, list) else []

    def create_subscription(self, notification_type: str, destination_id: str, *, payload_version: str,
                            processing_directive: dict[str, Any] | None = None) -> dict[str, Any]:
        """createSubscription for the seller; returns the subscription (``subscriptionId``, ...)."""
        body: dict[str, Any] = {"method": "POST", "payloadVersion": payload_version, "destinationId": destination_id}
        if processing_directive:
            body["processingDirective"] = processing_directive
        path = f"/notifications/v1/subscriptions/{notification_type}"
        client = self._notifications
        return self._answer("createSubscription", self._call(
            "createSubscription", lambda: client._request(path, data=dict(body), add_marketplace=False)))

    def get_subscription(self, notification_type: str, payload_version: str) -> dict[str, Any] | None:
        """getSubscription for the seller, or None when the seller has none of that type."""
        from sp_api.base.exceptions import SellingApiNotFoundException

        path = f"/notifications/v1/subscriptions/{notification_type}"
        client = self._notifications

        def send() -> Any:
            try:
                return client._request(path, params={"method": "GET", "payloadVersion": payload_version},
                                       add_marketplace=False)
            except SellingApiNotFoundException:
                return None

        response = self._call("getSubscription", send)
        return None if response is None else self._answer("getSubscription", response)

    def delete_subscription_by_id(self, notification_type: str, subscription_id: str) -> None:
        """deleteSubscriptionById (grantless): Amazon stops sending that subscription's notifications."""
        path = f"/notifications/v1/subscriptions/{notification_type}/{subscription_id}"
        client = self._notifications
        self._call("deleteSubscriptionById",
                   lambda: client._request_grantless_operation(path, params={"method": "DELETE"}))

    # -- Feeds API 2021-06-30 ------------------------------------------------------------------

    @cached_property
    def _feeds(self) -> Any:
        from sp_api.api import Feeds

        return self._client(Feeds)

    @cached_property
    def _transfer(self) -> httpx.Client:
        """Plain HTTP for the presigned upload and download URLs (no SP-API headers)."""
        return httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, event_hooks={"response": [_raise_for_status]})

    def _transfer_call(self, description: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        response = self._call(description, send)
        if response.status_code >= 300:
            raise AirflowException(f"{description} was refused (HTTP {response.status_code}): "
                                   f"{response.text[:300]}")
        return response

    @property
    def listings_marketplace_ids(self) -> list[str]:
        """The marketplaces a listings feed of this connection applies to: all of its marketplaces.

        One feed serves the region (its limits are per region): each price message carries an offer
        per marketplace, and a quantity is the SKU's, whatever the marketplace.
        """
        return [m.marketplace_id for m in self.marketplaces]

    def upload_feed_document(self, document: bytes) -> str:
        """createFeedDocument, then upload the bytes; return the feedDocumentId. Safe to retry.

        The bytes go up exactly as given, with exactly the declared content type (the
        library would re-encode a str as ISO-8859-1 and ignore our transport settings).
        """
        created = self.call("createFeedDocument", self._feeds.create_feed_document, None, FEED_CONTENT_TYPE).payload
        self._transfer_call("uploadFeedDocument", lambda: self._transfer.put(
            created["url"], content=document, headers={"Content-Type": FEED_CONTENT_TYPE}))
        return str(created["feedDocumentId"])

    def create_feed(self, feed_type: str, document_id: str, marketplace_ids: list[str]) -> str:
        """createFeed; return the feed id. Never repeated blindly: each call makes a new feed.

        Retried only when Amazon certainly did not act (429, no connection made, no access
        token). A 5xx, a timeout, a dropped connection or an answer without a feed id raises
        :class:`SpApiOutcomeUnknown`: Amazon may have made the feed, so the caller must look
        for it (``core.feeds.submissions`` does) before anything is sent again.
        """
        if feed_type in AMAZON_RATE_LIMITS:  # JSON_LISTINGS_FEED: 5 submissions per 5 minutes per region
            self.bucket(feed_type).acquire()
        response = self._call("createFeed", lambda: self._feeds.create_feed(
            feed_type, document_id, marketplaceIds=list(marketplace_ids)), repeatable=False)
        feed_id = (response.payload or {}).get("feedId") if isinstance(response.payload, dict) else None
        if not feed_id:
            raise SpApiOutcomeUnknown("createFeed", SpApiUnavailable("an answer without a feedId"))
        return str(feed_id)

    def submit_listings_feed(self, document: bytes) -> str:
        """Upload ``document`` and create a JSON_LISTINGS_FEED of it for the connection's marketplace.

        Not idempotent across crashes or lost answers: the upload task submits through
        ``core.feeds.submissions``, which records the intent first and recovers.
        """
        return self.create_feed(LISTINGS_FEED, self.upload_feed_document(document), self.listings_marketplace_ids)

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        return self.call("getFeed", self._feeds.get_feed, feed_id).payload

    def marketplace_participations(self) -> list[dict[str, Any]]:
        """The seller's marketplaces as Amazon's Sellers API lists them (``getMarketplaceParticipations``)."""
        from sp_api.api import Sellers

        response = self.call("getMarketplaceParticipations", self._client(Sellers).get_marketplace_participation)
        if not isinstance(response.payload, list):
            raise AirflowException("getMarketplaceParticipations answered without a list; Amazon's answer was "
                                   "unreadable. Try again.")
        return response.payload

    def get_feeds(self, *, feed_types: list[str], marketplace_ids: list[str] | None = None,
                  created_since: str | None = None, created_until: str | None = None,
                  processing_statuses: list[str] | None = None, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Yield every feed getFeeds lists for the filters, following ``nextToken``.

        Amazon takes the token as the only parameter of the next page; each page is retried
        as a whole. Times are ISO 8601 (UTC, ``Z``).
        """
        filters: dict[str, Any] = {"feedTypes": ",".join(feed_types), "pageSize": page_size}
        for name, value in (("marketplaceIds", marketplace_ids), ("processingStatuses", processing_statuses)):
            if value:
                filters[name] = ",".join(value)
        for name, value in (("createdSince", created_since), ("createdUntil", created_until)):
            if value:
                filters[name] = value
        token: str | None = None
        while True:
            response = self.call("getFeeds", self._feeds.get_feeds, **({"nextToken": token} if token else filters))
            page = response.payload
            if not isinstance(page, dict) or not isinstance(page.get("feeds"), list):
                raise AirflowException("getFeeds answered without a 'feeds' list; Amazon's answer was unreadable. "
                                       "The task will retry.")
            yield from page["feeds"]
            token = response.next_token
            if not token:
                return

    def download_feed_result(self, document_id: str) -> bytes:
        """getFeedDocument, download its URL and gunzip it when Amazon says GZIP."""
        from sp_api.base import fill_query_params

        path = fill_query_params("/feeds/2021-06-30/documents/{}", document_id)
        meta = self.call("getFeedDocument", self._feeds._request, path, params={}, add_marketplace=False).payload
        return self._download_document("downloadFeedDocument", meta)

    def _download_document(self, operation: str, meta: Any) -> bytes:
        """Download a feed or report document Amazon described (``url``, optional ``compressionAlgorithm``)."""
        if not isinstance(meta, dict) or not meta.get("url"):
            raise AirflowException(f"{operation}: Amazon's document answer has no url; it was unreadable.")
        data = self._transfer_call(operation, lambda: self._transfer.get(meta["url"])).content
        return gzip.decompress(data) if meta.get("compressionAlgorithm") == "GZIP" else data

    # -- Reports API 2021-06-30 ----------------------------------------------------------------

    @cached_property
    def _reports(self) -> Any:
        from sp_api.api import Reports

        return self._client(Reports)

    def create_report(self, report_type: str, marketplace_ids: list[str] | None = None) -> str:
        """createReport for the connection's marketplaces (default: all); return the reportId.

        Retried like any call: a report made twice is only a second report, never a change on Amazon.
        """
        response = self.call("createReport", self._reports.create_report, reportType=report_type,
                             marketplaceIds=list(marketplace_ids or [m.marketplace_id for m in self.marketplaces]))
        report_id = response.payload.get("reportId") if isinstance(response.payload, dict) else None
        if not report_id:
            raise AirflowException("createReport answered without a reportId; Amazon's answer was unreadable.")
        return str(report_id)

    def get_report(self, report_id: str) -> dict[str, Any]:
        """getReport: the report's ``processingStatus`` and, once DONE, its ``reportDocumentId``."""
        return self._answer("getReport", self.call("getReport", self._reports.get_report, report_id))

    def download_report(self, document_id: str) -> bytes:
        """getReportDocument, download its URL and gunzip it when Amazon says GZIP: the report's bytes."""
        meta = self.call("getReportDocument", self._reports.get_report_document, document_id).payload
        return self._download_document("downloadReportDocument", meta)
