"""Call an SP-API operation within its rate limit, retrying throttling and server errors.

Each attempt first takes a token from the operation's :class:`TokenBucket`. A 429 empties
the bucket (Amazon's view wins) and backs off exponentially, in units of one refill
interval; a 5xx or dropped connection backs off from half a second. Both are bounded by
``max_attempts`` and ``backoff_cap``. The caller learns what failed and what to do.
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
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    # Per feed type, besides createFeed's own plan: 5 submissions per 5 minutes per region.
    "JSON_LISTINGS_FEED": (5 / 300, 5),
    # Presigned S3 URLs: not SP-API operations, but retried the same way.
    "uploadFeedDocument": (50.0, 50),
    "downloadFeedDocument": (50.0, 50),
}


class SpApiThrottled(Exception):
    """Amazon answered 429 QuotaExceeded."""

    def __init__(self, operation: str, rate_limit: float | None = None):
        super().__init__(f"{operation} was throttled (429)")
        self.rate_limit = rate_limit


class SpApiUnavailable(Exception):
    """Amazon answered 5xx, an unreadable body, or the connection failed."""


class SpApiGaveUp(Exception):
    """Retries were exhausted; the message says what happened and what to do."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_cap: float = 60.0
    server_error_base: float = 0.5
    sleep: Callable[[float], None] = time.sleep


def call_within_rate_limit(operation: str, bucket: TokenBucket, call: Callable[[], T],
                           policy: RetryPolicy) -> T:
    """Run ``call`` under ``bucket``, retrying :class:`SpApiThrottled` and :class:`SpApiUnavailable`.

    Raises :class:`SpApiGaveUp` after ``policy.max_attempts`` attempts. Other exceptions
    (bad request, auth) propagate at once: retrying cannot fix them.
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
            failed_in_a_row += 1
            throttled_in_a_row = 0
            extra = min(policy.backoff_cap, policy.server_error_base * 2 ** (failed_in_a_row - 1))
            log.warning("%s failed on Amazon's side (%s), attempt %d of %d", operation, exc, attempt,
                        policy.max_attempts)
            last = exc
        if attempt < policy.max_attempts and extra > 0:
            policy.sleep(extra)
    raise SpApiGaveUp(
        f"{operation} still failing after {policy.max_attempts} attempts ({last}). Amazon is throttling "
        "or unavailable: the task will retry later; if it keeps failing, check Amazon's service status "
        "or lower the load on this seller account."
    ) from last
