"""A client-side model of Amazon's token bucket, so calls wait exactly as long as needed.

Amazon gives each operation a bucket of ``burst`` tokens refilled at ``rate`` per second.
Modelling it locally lets a download spend the burst at once and then pace itself at the
rate, instead of sleeping a fixed delay between calls (Zynk's ``APICallDelay``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """Token bucket with ``burst`` capacity refilled at ``rate`` tokens per second.

    ``clock`` and ``sleep`` are injectable so the arithmetic can be tested without waiting.
    """

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    tokens: float = field(init=False)
    _updated: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1 (got {self.rate}, {self.burst})")
        self.tokens = float(self.burst)
        self._updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self._updated) * self.rate)
        self._updated = now

    def wait_time(self) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def acquire(self) -> float:
        """Block until a token is available, take it, and return the seconds waited."""
        waited = 0.0
        while (delay := self.wait_time()) > 0:
            self.sleep(delay)
            waited += delay
        self.tokens -= 1
        return waited

    def set_rate(self, rate: float) -> None:
        """Adopt the rate Amazon announced in ``x-amzn-RateLimit-Limit``.

        The time since the last update is credited at the announced rate: it is Amazon's
        real one, and crediting it at our guess could count tokens Amazon never gave.
        """
        if rate > 0:
            self.rate = rate
            self._refill()

    def drain(self, debt: float = 0.0) -> None:
        """Amazon said 429: its bucket is empty whatever our model thought.

        ``debt`` extra tokens must refill before the next call, which is how a storm of
        429s backs off: the wait grows in whole refill intervals.
        """
        self._refill()
        self.tokens = min(self.tokens, 0.0) - debt
