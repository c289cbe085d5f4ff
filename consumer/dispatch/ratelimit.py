"""A token bucket on a monotonic clock: at most `rate_per_s` requests per second on average."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """Reserve-then-wait token bucket: each request takes a token, possibly on credit.

    Taking on credit (tokens go negative) gives every caller its own place in line without a
    lock: the wait is how long the bucket needs to refill to zero.
    """

    __slots__ = ("_burst", "_clock", "_rate", "_tokens", "_updated")

    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate_per_s
        self._burst = burst if burst is not None else max(1.0, rate_per_s)
        self._clock = clock
        self._tokens = self._burst
        self._updated = clock()

    def set_rate(self, rate_per_s: float) -> None:
        """Change the rate (and a default burst) from now on; tokens already taken stay taken."""
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        self._refill()
        self._rate = rate_per_s
        self._burst = max(1.0, rate_per_s)
        self._tokens = min(self._tokens, self._burst)

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._updated = now

    def reserve(self) -> float:
        """Take one token; return how many seconds the caller must wait before using it."""
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    async def acquire(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Wait until this caller may send one request."""
        wait_s = self.reserve()
        if wait_s > 0:
            await sleep(wait_s)
