"""The client-side token bucket and the retry loop, on a simulated clock."""

from __future__ import annotations

import pytest

from amazon_sage.core.sp_api.rate_limited_calls import (
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


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_bucket_spends_the_burst_then_paces_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=5, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(9)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert waits[5:] == pytest.approx([0.5, 0.5, 0.5, 0.5])
    assert clock.now == pytest.approx(2.0)  # (9 - 5) / 2: the lower bound, nothing more


def test_bucket_adopts_the_announced_rate_and_drains_on_429() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, burst=2, clock=clock, sleep=clock.sleep)
    bucket.set_rate(0.5)
    bucket.drain()
    assert bucket.wait_time() == pytest.approx(2.0)


def _flaky(failures: list[Exception]):
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if failures:
            raise failures.pop(0)
        return "ok"

    return call, calls


def test_throttling_backs_off_exponentially_in_refill_intervals() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock, sleep=clock.sleep)
    call, calls = _flaky([SpApiThrottled("op"), SpApiThrottled("op"), SpApiThrottled("op")])
    assert call_within_rate_limit("op", bucket, call, RetryPolicy(max_attempts=5, sleep=clock.sleep)) == "ok"
    assert calls["n"] == 4
    # Waits after the 1st, 2nd and 3rd 429 in a row: 1, 2 and 4 refill intervals.
    assert clock.now == pytest.approx(1 + 2 + 4)


def test_server_errors_are_retried_then_reported_with_advice() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, burst=10, clock=clock, sleep=clock.sleep)
    call, calls = _flaky([SpApiUnavailable("HTTP 503")] * 10)
    with pytest.raises(SpApiGaveUp, match=r"still failing after 3 attempts.*HTTP 503"):
        call_within_rate_limit("searchOrders", bucket, call, RetryPolicy(max_attempts=3, sleep=clock.sleep))
    assert calls["n"] == 3
    assert clock.sleeps == [0.5, 1.0]


def test_backoff_is_capped() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, burst=10, clock=clock, sleep=clock.sleep)
    call, _ = _flaky([SpApiUnavailable("HTTP 500")] * 6)
    call_within_rate_limit("op", bucket, call, RetryPolicy(max_attempts=7, backoff_cap=2.0, sleep=clock.sleep))
    assert max(clock.sleeps) == 2.0


def test_a_call_that_must_not_repeat_is_retried_only_when_amazon_did_not_act() -> None:
    """createFeed: a 429, a connection never made and a login outage are retried; a lost answer is not."""
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, burst=10, clock=clock, sleep=clock.sleep)
    call, calls = _flaky([SpApiThrottled("createFeed"), SpApiUnreachable("http://x", "ConnectError"),
                          LoginUnavailable("http://lwa", "HTTP 503"), SpApiUnavailable("HTTP 500")])
    with pytest.raises(SpApiOutcomeUnknown, match="HTTP 500"):
        call_within_rate_limit("createFeed", bucket, call, RetryPolicy(max_attempts=8, sleep=clock.sleep),
                               repeatable=False)
    assert calls["n"] == 4  # the 500 came on the 4th call, and nothing followed it


@pytest.mark.parametrize("last, says, never", [
    (SpApiThrottled("op"), "throttled every attempt", "unavailable"),
    (SpApiUnreachable("http://127.0.0.1:9", "ConnectError: refused"), "http://127.0.0.1:9 cannot be reached",
     "throttl"),
    (LoginUnavailable("https://api.amazon.com/auth/o2/token", "HTTP 503"), "login service", "throttl"),
    (SpApiUnavailable("HTTP 503"), "Amazon is unavailable", "throttl"),
])
def test_giving_up_says_what_kept_failing(last, says, never) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, burst=10, clock=clock, sleep=clock.sleep)
    call, _ = _flaky([last] * 2)
    with pytest.raises(SpApiGaveUp) as caught:
        call_within_rate_limit("op", bucket, call, RetryPolicy(max_attempts=2, sleep=clock.sleep))
    assert says in str(caught.value) and never not in str(caught.value) and caught.value.last is last
