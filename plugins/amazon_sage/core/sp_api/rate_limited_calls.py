"""Call an SP-API operation within its rate limit, retrying throttling and server errors.

Each attempt first takes a token from the operation's :class:`TokenBucket`. A 429 empties
the bucket (Amazon's view wins) and backs off exponentially, in units of one refill
interval; a 5xx, dropped connection, unreachable endpoint or Login with Amazon outage backs
off from half a second. Both are bounded by ``max_attempts`` and ``backoff_cap``. The caller
learns what failed and what to do: throttling, an unavailable Amazon, an endpoint that cannot
be reached and an unavailable login service each get their own message.

A call that must not be repeated blindly (``repeatable=False``: createFeed, which makes a new
feed each time) is retried only when Amazon certainly did not act on it (429, a connection
that was never made, no access token). When the request went out and its answer was lost
(5xx, timeout, dropped connection), :class:`SpApiOutcomeUnknown` tells the caller to find out
what happened instead of asking again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from amazon_sage.core.sp_api.token_bucket import TokenBucket

log = logging.getLogger(__name__)
T = TypeVar("T")

# Amazon's default usage plans (rate per second, burst), as each operation's SP-API documentation states.
AMAZON_RATE_LIMITS: dict[str, tuple[float, int]] = {
    "searchOrders": (0.0056, 20),
    "getOrder": (0.5, 30),
    "confirmShipment": (2.0, 10),  # Orders v0, as ordersV0.json's usage plan states
    # Notifications API v1: every operation 1/s, burst 5.
    "createDestination": (1.0, 5),
    "getDestinations": (1.0, 5),
    "createSubscription": (1.0, 5),
    "getSubscription": (1.0, 5),
    "getSubscriptionById": (1.0, 5),
    "deleteSubscriptionById": (1.0, 5),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeeds": (0.0222, 10),
    "getFeedDocument": (0.0222, 10),
    "getMarketplaceParticipations": (0.016, 15),
    # Reports API 2021-06-30, as reports_2021-06-30.json's usage plans state.
    "createReport": (0.0167, 15),
    "getReport": (2.0, 15),
    "getReportDocument": (0.0167, 15),
    # Per feed type, besides createFeed's own plan: 5 submissions per 5 minutes per region.
    "JSON_LISTINGS_FEED": (5 / 300, 5),
    # Presigned S3 URLs: not SP-API operations, but retried the same way.
    "uploadFeedDocument": (50.0, 50),
    "downloadFeedDocument": (50.0, 50),
    "downloadReportDocument": (50.0, 50),
}


class SpApiThrottled(Exception):
    """Amazon answered 429 QuotaExceeded: it did not act on the call."""

    def __init__(self, operation: str, rate_limit: float | None = None):
        super().__init__(f"{operation} was throttled (429)")
        self.rate_limit = rate_limit


class SpApiUnavailable(Exception):
    """Amazon answered 5xx or an unreadable body, or the connection dropped or timed out mid-call.

    ``request_sent`` is True: the request may have reached Amazon and taken effect.
    """

    request_sent = True


class SpApiUnreachable(SpApiUnavailable):
    """No connection could be made to ``endpoint`` (refused, unknown host, connect timeout): nothing was sent."""

    request_sent = False

    def __init__(self, endpoint: str, detail: str):
        super().__init__(detail)
        self.endpoint = endpoint


class LoginUnavailable(SpApiUnavailable):
    """Login with Amazon's token endpoint failed (5xx, unreadable answer, timeout, dropped or refused connection).

    No SP-API request was sent: the call needs the access token first. The credentials were not refused.
    """

    request_sent = False

    def __init__(self, endpoint: str, detail: str):
        super().__init__(detail)
        self.endpoint = endpoint


class SpApiOutcomeUnknown(Exception):
    """A call that must not be repeated blindly reached Amazon, and its answer was lost.

    Amazon may or may not have acted on it; the caller must find out (createFeed: look for the feed).
    """

    def __init__(self, operation: str, cause: Exception):
        super().__init__(f"{operation}: the answer was lost ({cause}); Amazon may or may not have acted on it")
        self.operation, self.cause = operation, cause


class SpApiGaveUp(Exception):
    """Retries were exhausted; the message says what happened and what to do. ``last`` is the final failure."""

    def __init__(self, operation: str, attempts: int, last: Exception):
        super().__init__(f"{operation} still failing after {attempts} attempts ({last}). "
                         + _advice(last))
        self.operation, self.attempts, self.last = operation, attempts, last


def _advice(last: Exception) -> str:
    if isinstance(last, SpApiThrottled):
        return ("Amazon throttled every attempt (429): the task will retry later; if it keeps happening, lower the "
                "load on this seller account (fewer tasks calling Amazon at once, less frequent schedules).")
    if isinstance(last, LoginUnavailable):
        return (f"Amazon's login service (Login with Amazon, {last.endpoint}) is unavailable, so no access token "
                "could be obtained; the credentials were not refused. The task will retry later; if it keeps "
                "failing, check Amazon's service status.")
    if isinstance(last, SpApiUnreachable):
        return (f"The endpoint {last.endpoint} cannot be reached from this machine (no connection could be made): "
                "check that address, and this machine's network, DNS, proxy and firewall.")
    return ("Amazon is unavailable (server errors, or connections dropped or timed out): the task will retry later; "
            "if it keeps failing, check Amazon's service status.")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_cap: float = 60.0
    server_error_base: float = 0.5
    sleep: Callable[[float], None] = time.sleep


def call_within_rate_limit(operation: str, bucket: TokenBucket, call: Callable[[], T], policy: RetryPolicy,
                           *, repeatable: bool = True) -> T:
    """Run ``call`` under ``bucket``, retrying :class:`SpApiThrottled` and :class:`SpApiUnavailable`.

    Raises :class:`SpApiGaveUp` after ``policy.max_attempts`` attempts. With ``repeatable=False``
    a failure after the request went out (``request_sent``) raises :class:`SpApiOutcomeUnknown`
    at once instead of being retried. Other exceptions (bad request, auth) propagate at once:
    retrying cannot fix them.
    """
    throttled_in_a_row = 0
    failed_in_a_row = 0
    for attempt in range(1, policy.max_attempts + 1):
        bucket.acquire()
        try:
            return call()
        except SpApiThrottled as exc:
            throttled_in_a_row += 1
            failed_in_a_row = 0
            if exc.rate_limit:
                bucket.set_rate(exc.rate_limit)
            # The next acquire() waits one refill interval, doubling on each 429 in a row.
            debt = min(2 ** (throttled_in_a_row - 1) - 1, policy.backoff_cap * bucket.rate)
            bucket.drain(debt)
            log.warning("%s throttled by Amazon (429), attempt %d of %d; next call in %.1fs",
                        operation, attempt, policy.max_attempts, bucket.wait_time())
            extra = 0.0
            last: Exception = exc
        except SpApiUnavailable as exc:
            if exc.request_sent and not repeatable:
                raise SpApiOutcomeUnknown(operation, exc) from exc
            failed_in_a_row += 1
            throttled_in_a_row = 0
            extra = min(policy.backoff_cap, policy.server_error_base * 2 ** (failed_in_a_row - 1))
            log.warning("%s failed (%s: %s), attempt %d of %d", operation, type(exc).__name__, exc, attempt,
                        policy.max_attempts)
            last = exc
        if attempt < policy.max_attempts and extra > 0:
            policy.sleep(extra)
    raise SpApiGaveUp(operation, policy.max_attempts, last) from last
