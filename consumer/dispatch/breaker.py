"""A circuit breaker per account and operation: closed, open (fail fast), half-open (one probe)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    """Circuit breaker states, as reported to observers."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; probes again within seconds.

    While open, `allow()` is False. One probe call is let through (half-open) after a delay
    drawn uniformly from [0.5, 1.0] x the open period, so the callers of many instances do
    not probe in step. The open period starts at `reset_s`, doubles with each failed probe up
    to `max_reset_s` (default: `reset_s`), and starts over when a probe closes the circuit.
    """

    __slots__ = (
        "_base_s",
        "_clock",
        "_failures",
        "_max_s",
        "_on_change",
        "_period_s",
        "_probe_at",
        "_probing",
        "_state",
        "_threshold",
        "_uniform",
    )

    def __init__(
        self,
        failure_threshold: int,
        reset_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
        *,
        max_reset_s: float | None = None,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._threshold = failure_threshold
        self._base_s = reset_s
        self._max_s = max(reset_s, reset_s if max_reset_s is None else max_reset_s)
        self._period_s = reset_s
        self._clock = clock
        self._on_change = on_change
        self._uniform = uniform
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The current state (an open circuit past its probe time still reads OPEN)."""
        return self._state

    @property
    def open_period_s(self) -> float:
        """The current open period: the probe comes after half of it to all of it."""
        return self._period_s

    def allow(self) -> bool:
        """True when a call may be made now; a True in half-open reserves the single probe."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if self._clock() < self._probe_at:
                return False
            self._set(BreakerState.HALF_OPEN)
        if self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        """The provider answered as a healthy service would."""
        self._failures = 0
        self._probing = False
        self._period_s = self._base_s
        if self._state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """The provider failed (5xx, timeout, connection error)."""
        self._failures += 1
        self._probing = False
        if self._state is BreakerState.HALF_OPEN:
            self._period_s = min(self._max_s, self._period_s * 2)
            self._open()
        elif self._state is BreakerState.CLOSED and self._failures >= self._threshold:
            self._open()

    def release(self) -> None:
        """A call ended without a verdict (cancelled): free the half-open probe slot."""
        self._probing = False

    def _open(self) -> None:
        delay_s = self._uniform(0.5 * self._period_s, self._period_s)
        self._probe_at = self._clock() + delay_s
        self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(state)
