"""Fault injection: what can go wrong on purpose, set at start or changed while running.

`Faults` is the knob set (a frozen value, validated); `FaultState` is the live holder a
simulator reads on every request: the current knobs, the timed windows (outage, throttle
storm), the account's throttle hold, and a seeded RNG.
Rate knobs are probabilities per request; at most one of them fires per request.

Throttling is the account's state. Every throttled answer (a rate fault, a storm, a
provider limit) holds the whole simulator, one account, for the time it announced: Azure
its `Retry-After`, Responsys `retry_after_s` (default 60 s: its message says "try again in
a minute"). Every call of any endpoint (token, push, poll) that arrives before the hold
ends is refused, with no grace at either end: Azure answers 429 and restarts the wait
("sending before it elapses resets the wait", providers.md 4.2); Responsys answers
API_LIMIT_EXCEEDED and the hold keeps its end (its limits are per minute). Such a call is
also counted as a violation of the client's, unless it came within `in_flight_grace_ms`
of the hold's start (sent before the client could have heard) or within
`violation_tolerance_ms` of its end: those two knobs judge the client, they never let a
call through. `PUT /_admin/faults` starts a new scenario: it ends the current hold (the
violations counted so far stay in the ledger).

Responsys only: `submit_failure_rate` (500 UNABLE_TO_SUBMIT_ASYNC_REQUEST),
`secondary_rate` (401 API_NOT_ALLOWED_IN_SECONDARY: a failover happened) and
`capacity_limit` (the Internal Capacity Limit: trigger calls allowed per 10-minute window,
counted from when the faults were set; the calls past it answer
INTERNAL_CAPACITY_LIMIT_EXCEEDED until the window resets). Azure ignores them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any

from consumer.errors import ConfigError

ENDPOINTS = frozenset({"token", "push", "poll"})
HELD_ENDPOINTS = ENDPOINTS  # the calls a throttle hold covers (the whole account)
OUTAGE_MODES = ("503", "refuse")
DEFAULT_RATE_ENDPOINTS = ("push",)
CAPACITY_WINDOW_S = 600.0  # Responsys's Internal Capacity Limit resets every 10 minutes

_RATES = ("error_rate", "throttle_rate", "hang_rate", "drop_rate", "malformed_rate")
_NON_NEGATIVE = (
    "latency_ms",
    "latency_jitter_ms",
    "hang_s",
    "outage_s",
    "outage_after_s",
    "throttle_s",
    "throttle_after_s",
    "violation_tolerance_ms",
    "in_flight_grace_ms",
)


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault knobs. Rates are per-request probabilities in [0, 1]; times are simulated."""

    latency_ms: float = 0.0  # added to every request on the fault endpoints
    latency_jitter_ms: float = 0.0  # plus a uniform random 0..jitter
    error_rate: float = 0.0  # answer `error_status` without processing
    error_status: int = 500
    throttle_rate: float = 0.0  # Azure 429 + Retry-After; Responsys 401 API_LIMIT_EXCEEDED
    # How long a throttled answer holds the account. Azure sends `Retry-After:
    # ceil(retry_after_s)` and holds that long (None = 1 s); Responsys sends no header and
    # holds retry_after_s (None = 60 s, "try again in a minute").
    retry_after_s: float | None = None
    submit_failure_rate: float = 0.0  # Responsys 500 UNABLE_TO_SUBMIT_ASYNC_REQUEST (queue full)
    secondary_rate: float = 0.0  # Responsys 401 API_NOT_ALLOWED_IN_SECONDARY on a push
    capacity_limit: int = 0  # Responsys pushes per 10-minute window; 0 = no limit
    hang_rate: float = 0.0  # process, then wait `hang_s` before answering (client times out)
    hang_s: float = 30.0
    drop_rate: float = 0.0  # process, then close the connection without an answer
    malformed_rate: float = 0.0  # process, then answer truncated JSON
    outage_s: float = 0.0  # the window endpoints are down for this long ...
    outage_after_s: float = 0.0  # ... starting this long after the faults were set
    outage_mode: str = "503"  # "503": answer 503; "refuse": close without any answer
    throttle_s: float = 0.0  # a throttle storm: every call in this window is throttled ...
    throttle_after_s: float = 0.0  # ... starting this long after the faults were set
    # A call refused this little before a hold ends is not counted as a violation.
    violation_tolerance_ms: float = 50.0
    # A call refused this soon after a hold began was in flight before the client heard:
    # refused, not counted as a violation.
    in_flight_grace_ms: float = 250.0
    # Where faults apply. None: latency and rate faults on push only, the timed windows
    # (outage, storm) everywhere but /_admin. A list: both only on the listed endpoints.
    endpoints: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in (*_RATES, "submit_failure_rate", "secondary_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"fault {name} must be within [0, 1], got {value!r}")
        total = sum(getattr(self, name) for name in _RATES)
        if total > 1.0 + 1e-9:
            raise ConfigError(f"fault rates {', '.join(_RATES)} must add up to <= 1, got {total}")
        for name in _NON_NEGATIVE:
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"fault {name} must be >= 0, got {value!r}")
        if self.capacity_limit < 0:
            raise ConfigError(f"fault capacity_limit must be >= 0, got {self.capacity_limit}")
        if not 500 <= self.error_status <= 599:
            raise ConfigError(f"fault error_status must be a 5xx code, got {self.error_status}")
        retry = self.retry_after_s
        if retry is not None and not (retry >= 0 and math.isfinite(retry)):
            raise ConfigError(
                f"fault retry_after_s must be a finite number >= 0 or null, got {retry!r}"
            )
        if self.outage_mode not in OUTAGE_MODES:
            raise ConfigError(
                f"fault outage_mode must be one of {list(OUTAGE_MODES)}, got {self.outage_mode!r}"
            )
        if self.endpoints is not None:
            unknown = set(self.endpoints) - ENDPOINTS
            if unknown:
                raise ConfigError(
                    f"fault endpoints must be among {sorted(ENDPOINTS)}, got {sorted(unknown)}"
                )

    @property
    def idle(self) -> bool:
        """True when no latency or rate fault can fire (the fast path)."""
        return (
            self.latency_ms == 0
            and self.latency_jitter_ms == 0
            and self.submit_failure_rate == 0
            and all(getattr(self, name) == 0 for name in _RATES)
        )

    @property
    def rate_endpoints(self) -> tuple[str, ...]:
        """Where latency and rate faults apply."""
        return DEFAULT_RATE_ENDPOINTS if self.endpoints is None else self.endpoints

    def window_applies(self, endpoint: str) -> bool:
        """Whether the timed windows (outage, storm) cover `endpoint`."""
        return self.endpoints is None or endpoint in self.endpoints

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["endpoints"] = None if self.endpoints is None else list(self.endpoints)
        return data

    @classmethod
    def from_json(cls, data: Any) -> Faults:
        """Build from a JSON object; unknown keys and wrong types are a ConfigError."""
        if not isinstance(data, Mapping):
            raise ConfigError("faults must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown fault knob(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name == "endpoints":
                if value is not None and (
                    not isinstance(value, list) or not all(isinstance(v, str) for v in value)
                ):
                    raise ConfigError("fault endpoints must be a list of strings or null")
                values[name] = None if value is None else tuple(value)
            elif name == "outage_mode":
                if not isinstance(value, str):
                    raise ConfigError(
                        f"fault outage_mode must be a string ({' or '.join(OUTAGE_MODES)}), "
                        f"got {value!r}"
                    )
                values[name] = value
            elif name in ("error_status", "capacity_limit"):
                if type(value) is not int:
                    raise ConfigError(f"fault {name} must be an integer, got {value!r}")
                values[name] = value
            elif name == "retry_after_s" and value is None:
                values[name] = None
            else:
                if type(value) not in (int, float):
                    raise ConfigError(f"fault {name} must be a number, got {value!r}")
                values[name] = float(value)
        return cls(**values)


class FaultKind(Enum):
    """The one rate fault drawn for a request."""

    NONE = "none"
    ERROR = "error"
    THROTTLE = "throttle"
    HANG = "hang"
    DROP = "drop"
    MALFORMED = "malformed"


_KIND_BY_RATE = (
    ("error_rate", FaultKind.ERROR),
    ("throttle_rate", FaultKind.THROTTLE),
    ("hang_rate", FaultKind.HANG),
    ("drop_rate", FaultKind.DROP),
    ("malformed_rate", FaultKind.MALFORMED),
)


class FaultState:
    """The live fault knobs of one simulator: timed windows, the throttle hold, an RNG.

    All times are simulated epoch seconds (SimClock). One simulator is one account.
    """

    __slots__ = (
        "_capacity_used",
        "_capacity_window",
        "_faults",
        "_held_for_s",
        "_held_since_s",
        "_held_until_s",
        "_outage",
        "_past_end_s",
        "_rng",
        "_set_at_s",
        "_storm",
    )

    def __init__(self, faults: Faults, now_s: float, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._faults = faults
        self._outage = self._storm = (0.0, 0.0)
        self._held_until_s = 0.0  # 0 = never held
        self._held_since_s = float("-inf")  # when the current hold began
        self._held_for_s = 0.0  # the wait the current hold announced
        self._past_end_s: float | None = None  # the latest end of a replaced scenario's fault
        self.set(faults, now_s)

    @property
    def current(self) -> Faults:
        return self._faults

    def set(self, faults: Faults, now_s: float) -> None:
        """Replace the knobs and open their windows, counted from `now_s`.

        The replaced scenario ends now: an open window or hold is cut short (its end, now,
        still counts as the end of a fault for `last_fault_end`).
        """
        self._past_end_s = self.last_fault_end(now_s, cut_at_s=now_s)
        self._faults = faults
        self._held_until_s = 0.0
        self._outage = _window(now_s, faults.outage_after_s, faults.outage_s)
        self._storm = _window(now_s, faults.throttle_after_s, faults.throttle_s)
        self._set_at_s = now_s  # the capacity windows count from here
        self._capacity_window, self._capacity_used = 0, 0

    def in_outage(self, now_s: float, endpoint: str | None = None) -> bool:
        """Inside the outage window (and, given an endpoint, the window covers it)."""
        start, until = self._outage
        inside = start <= now_s < until
        return inside and (endpoint is None or self._faults.window_applies(endpoint))

    def in_storm(self, now_s: float, endpoint: str | None = None) -> bool:
        """Inside the throttle-storm window (and, given an endpoint, the window covers it)."""
        start, until = self._storm
        inside = start <= now_s < until
        return inside and (endpoint is None or self._faults.window_applies(endpoint))

    def hold(self, now_s: float, seconds: float) -> None:
        """A throttled answer was sent: the account waits `seconds` (never shortened)."""
        until_s = now_s + max(0.0, seconds)
        if until_s > self._held_until_s:
            if self._held_until_s <= now_s:
                self._held_since_s = now_s  # a new hold, not an extension
            self._held_until_s = until_s
            self._held_for_s = max(0.0, seconds)

    def restart_hold(self, now_s: float) -> float:
        """A call came inside the hold: the wait starts over from now; returns its length."""
        self._held_until_s = max(self._held_until_s, now_s + self._held_for_s)
        return self._held_until_s - now_s

    def held_until(self) -> float | None:
        """The end of the current or last throttle hold (None: never held)."""
        return self._held_until_s or None

    def held_s(self, now_s: float) -> float:
        """Seconds left on the throttle hold; a call now is refused when > 0."""
        return max(0.0, self._held_until_s - now_s)

    def early_s(self, now_s: float) -> float:
        """How early a call now is, counted as a violation; 0 when it is not one (not held,
        in flight when the hold began, or within the tolerance of its end)."""
        if now_s - self._held_since_s < self._faults.in_flight_grace_ms / 1000.0:
            return 0.0  # sent before the client could have heard of the hold
        left = self._held_until_s - now_s
        return left if left > self._tolerance_s() else 0.0

    def _tolerance_s(self) -> float:
        return self._faults.violation_tolerance_ms / 1000.0

    def last_fault_end(self, now_s: float, cut_at_s: float | None = None) -> float | None:
        """The latest end, at or before `now_s`, of an outage, a storm or a throttle hold.

        A hold is over at its end, when calls are allowed again. With `cut_at_s`, a window
        still open at that time counts as ending then.
        """
        ends = [self._past_end_s]
        for start, until in (self._outage, self._storm):
            if until > start and start <= now_s:
                if until <= now_s:
                    ends.append(until)
                elif cut_at_s is not None:
                    ends.append(cut_at_s)
        held = self._held_until_s
        if held:
            if held <= now_s:
                ends.append(held)
            elif cut_at_s is not None:
                ends.append(cut_at_s)
        found = [end for end in ends if end is not None]
        return max(found) if found else None

    def applies_to(self, endpoint: str) -> bool:
        """Whether latency and rate faults apply to `endpoint`."""
        faults = self._faults
        return not faults.idle and endpoint in faults.rate_endpoints

    def latency_s(self) -> float:
        faults = self._faults
        jitter = self._rng.uniform(0.0, faults.latency_jitter_ms) if faults.latency_jitter_ms else 0
        return (faults.latency_ms + jitter) / 1000.0

    def draw(self) -> FaultKind:
        """Pick at most one rate fault for this request."""
        roll = self._rng.random()
        for name, kind in _KIND_BY_RATE:
            rate: float = getattr(self._faults, name)
            if roll < rate:
                return kind
            roll -= rate
        return FaultKind.NONE

    def submit_fails(self) -> bool:
        rate = self._faults.submit_failure_rate
        return rate > 0 and self._rng.random() < rate

    def in_secondary(self) -> bool:
        """Whether this push meets a failover (Responsys API_NOT_ALLOWED_IN_SECONDARY)."""
        rate = self._faults.secondary_rate
        return rate > 0 and self._rng.random() < rate

    def over_capacity(self, now_s: float) -> bool:
        """Count one push; True when it is past `capacity_limit` in its 10-minute window."""
        limit = self._faults.capacity_limit
        if limit <= 0:
            return False
        window = int((now_s - self._set_at_s) // CAPACITY_WINDOW_S)
        if window != self._capacity_window:
            self._capacity_window, self._capacity_used = window, 0
        self._capacity_used += 1
        return self._capacity_used > limit


def _window(now_s: float, after_s: float, length_s: float) -> tuple[float, float]:
    """[start, until) of a timed window; (0, 0) when it has no length."""
    if length_s <= 0:
        return (0.0, 0.0)
    start = now_s + after_s
    return (start, start + length_s)
