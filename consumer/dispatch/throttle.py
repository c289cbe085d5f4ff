"""An account-wide "not before" time: while a provider throttles us, nothing is sent."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable


class Throttle:
    """A window on a monotonic clock, set by a throttling answer and honoured by every request.

    `hold` only ever extends the window: a shorter Retry-After seen by another call must not
    let requests out before a longer one has passed.
    """

    __slots__ = ("_clock", "_passed", "_reason", "_until")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = float("-inf")
        self._passed = float("-inf")  # the end of the latest window a waiter slept through
        self._reason = ""

    def hold(self, wait_s: float, reason: str, *, now: float | None = None) -> float:
        """Hold requests for `wait_s` from `now` (default: the clock); return the growth."""
        now = self._clock() if now is None else now
        until = now + wait_s
        grown = until - max(self._until, now)
        if grown <= 0:
            return 0.0
        self._until = until
        self._reason = reason
        return grown

    def remaining_s(self) -> float:
        """Seconds until requests may leave again (0.0 when not throttled)."""
        return max(0.0, self._until - self._clock())

    def until_s(self) -> float | None:
        """The monotonic time the window ends, or None when not throttled now."""
        return self._until if self.remaining_s() > 0 else None

    @property
    def reason(self) -> str:
        """Why the latest window was set (for logs), e.g. "retry-after"."""
        return self._reason

    async def wait(
        self,
        sleep: Callable[[float], Awaitable[None]],
        *,
        now: float | None = None,
        budget_s: float | None = None,
    ) -> bool:
        """Return True once the window has passed; sleep again only if it grew meanwhile.

        A sleep is trusted to have waited what it was asked: a window someone slept through
        has passed, for every waiter, even when the clock reads a hair early (or, in tests,
        when the sleep is a recording that returns at once). `now` is the first clock
        reading, when the caller has one (the one its `hold` used).

        With `budget_s`, return False instead of waiting longer than that in all: a window
        that keeps growing (each refused call extends it, and only the first waiter gets to
        send) must not hold a caller in line for ever.
        """
        waited_s = 0.0
        while self._until > self._passed:
            remaining = self._until - (self._clock() if now is None else now)
            now = None
            if remaining <= 0:
                return True
            if budget_s is not None and waited_s + remaining > budget_s:
                return False
            target = self._until
            await sleep(remaining)
            waited_s += remaining
            self._passed = max(self._passed, target)
        return True
