"""Airflow hook for Amazon's Selling Partner API over python-amazon-sp-api.

Connection (default ``amazon_sp_api_default``): login = LWA client id, password = LWA client
secret; extra = ``refresh_token``, ``seller_id`` (Zynk's Merchant ID), ``marketplace``
(country code such as ``UK``), and optional ``endpoint`` / ``lwa_endpoint`` overrides used
by the local sandbox. Airflow's Admin > Connections form for this type is declared in
``amazon_sage.connection_form`` (the provider info), and stores those same extra keys.

The hook works around the library's known traps: it refuses
``AWS_ENV=SANDBOX`` and ignores ``SP_API_DEFAULT_MARKETPLACE``, checks HTTP status itself
(the library turns non-JSON error bodies into empty answers), runs its own paging and
retry loop, and never logs tokens or request headers.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterator
from functools import cached_property
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings
from amazon_sage.core.sp_api.rate_limited_calls import (
    AMAZON_RATE_LIMITS,
    RetryPolicy,
    SpApiGaveUp,
    SpApiThrottled,
    SpApiUnavailable,
    call_within_rate_limit,
)
from amazon_sage.core.sp_api.token_bucket import TokenBucket

log = logging.getLogger(__name__)

LISTINGS_FEED = "JSON_LISTINGS_FEED"
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
ORDERS_INCLUDED_DATA = ["BUYER", "RECIPIENT", "PROCEEDS", "PROMOTION", "FULFILLMENT", "CANCELLATION"]
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
    def marketplace(self) -> SimpleNamespace:
        """Endpoint, marketplace id and region for the connection's country (e.g. ``UK``)."""
        from sp_api.base import Marketplaces

        country = str(self.extras.get("marketplace") or "UK").strip().upper()
        if "," in country:
            # The connection form accepts a list for the multi-marketplace work to come; this hook serves one.
            raise AirflowException(f"Connection '{self.sp_api_conn_id}' names several marketplaces ({country}); "
                                   "this version works with one: keep a single country code such as UK.")
        if country == "GB":
            country = "UK"
        try:
            known = Marketplaces[country]
        except KeyError:
            raise AirflowException(f"Connection '{self.sp_api_conn_id}': unknown marketplace {country!r}; "
                                   "use a country code such as UK, DE or FR.") from None
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
        from sp_api.auth import AccessTokenClient

        lwa_endpoint = self.extras.get("lwa_endpoint")
        if not lwa_endpoint:
            return AccessTokenClient
        parts = urlsplit(lwa_endpoint)
        return type("ConfiguredLwaClient", (AccessTokenClient,),
                    {"scheme": f"{parts.scheme}://", "host": parts.netloc})

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
        from sp_api.auth.exceptions import AuthorizationError
        from sp_api.base.exceptions import SellingApiException, SellingApiForbiddenException

        def attempt() -> Any:
            try:
                response = function(*args, **kwargs)
            except httpx.TransportError as exc:
                raise SpApiUnavailable(f"{type(exc).__name__}: {exc}") from exc
            announced = getattr(response, "rate_limit", None)
            if announced:
                self.bucket(operation).set_rate(float(announced))
            return response

        try:
            return call_within_rate_limit(operation, self.bucket(operation), attempt, self.retry_policy)
        except SpApiGaveUp as exc:
            raise AirflowException(str(exc)) from None
        except AuthorizationError as exc:
            raise AirflowException(
                f"Login with Amazon refused the credentials of connection '{self.sp_api_conn_id}' "
                f"({exc.error_code if hasattr(exc, 'error_code') else exc}). The refresh token has expired or "
                "been revoked, or the client id/secret are wrong: re-authorise the app in Seller Central and "
                "update the connection's refresh_token.") from None
        except SellingApiForbiddenException as exc:
            raise AirflowException(
                f"Amazon refused {operation} for connection '{self.sp_api_conn_id}': {exc.message}. Check that "
                "the app has the roles it needs and that the refresh token belongs to this seller.") from None
        except SellingApiException as exc:
            raise AirflowException(f"Amazon rejected {operation}: {getattr(exc, 'message', exc)} "
                                   f"(code {getattr(exc, 'amzn_code', '?')}).") from None

    # -- Orders API v2026-01-01 ---------------------------------------------------------------

    def search_orders(self, *, last_updated_after: str, last_updated_before: str,
                      fulfillment_statuses: list[str],
                      included_data: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Yield every page of ``searchOrders`` for the window, following ``nextToken``.

        Each page is fetched with the same filters plus ``paginationToken`` and retried as a
        whole, so a retried page is neither lost nor doubled.
        """
        from sp_api.api import Orders

        client = self._client(Orders, version="2026-01-01")
        filters: dict[str, Any] = {
            "lastUpdatedAfter": last_updated_after,
            "lastUpdatedBefore": last_updated_before,
            "fulfillmentStatuses": ",".join(fulfillment_statuses),
            "marketplaceIds": self.marketplace.marketplace_id,
            "includedData": ",".join(included_data or ORDERS_INCLUDED_DATA),
            "maxResultsPerPage": 100,
        }
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

    # -- Feeds API 2021-06-30 ------------------------------------------------------------------

    @cached_property
    def _feeds(self) -> Any:
        from sp_api.api import Feeds

        return self._client(Feeds)

    @cached_property
    def _transfer(self) -> httpx.Client:
        """Plain HTTP for the presigned upload and download URLs (no SP-API headers)."""
        return httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, event_hooks={"response": [_raise_for_status]})

    def _transfer_call(self, description: str, send: Any) -> httpx.Response:
        def attempt() -> httpx.Response:
            try:
                return send()
            except httpx.TransportError as exc:
                raise SpApiUnavailable(f"{type(exc).__name__}: {exc}") from exc

        response = self.call(description, attempt)
        if response.status_code >= 300:
            raise AirflowException(f"{description} was refused (HTTP {response.status_code}): "
                                   f"{response.text[:300]}")
        return response

    def submit_listings_feed(self, document: bytes) -> str:
        """createFeedDocument, upload the bytes, createFeed; return the feed id.

        The bytes go up exactly as given, with exactly the declared content type (the
        library would re-encode a str as ISO-8859-1 and ignore our transport settings).
        """
        created = self.call("createFeedDocument", self._feeds.create_feed_document, None, FEED_CONTENT_TYPE).payload
        self._transfer_call("uploadFeedDocument", lambda: self._transfer.put(
            created["url"], content=document, headers={"Content-Type": FEED_CONTENT_TYPE}))
        self.bucket(LISTINGS_FEED).acquire()  # 5 JSON_LISTINGS_FEED submissions per 5 minutes per region
        response = self.call("createFeed", self._feeds.create_feed, LISTINGS_FEED, created["feedDocumentId"],
                             marketplaceIds=[self.marketplace.marketplace_id])
        return str(response.payload["feedId"])

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        return self.call("getFeed", self._feeds.get_feed, feed_id).payload

    def download_feed_result(self, document_id: str) -> bytes:
        """getFeedDocument, download its URL and gunzip it when Amazon says GZIP."""
        from sp_api.base import fill_query_params

        path = fill_query_params("/feeds/2021-06-30/documents/{}", document_id)
        meta = self.call("getFeedDocument", self._feeds._request, path, params={}, add_marketplace=False).payload
        data = self._transfer_call("downloadFeedDocument", lambda: self._transfer.get(meta["url"])).content
        return gzip.decompress(data) if meta.get("compressionAlgorithm") == "GZIP" else data
