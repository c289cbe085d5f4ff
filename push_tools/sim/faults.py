"""Fault injection: what can go wrong on purpose, set at start or changed while running.

`Faults` is the knob set (a frozen value, validated); `FaultState` is the live holder a
simulator reads on every request: the current knobs, the outage window, a seeded RNG.
Rate knobs are probabilities per request; at most one of them fires per request.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any

from consumer.errors import ConfigError

ENDPOINTS = frozenset({"token", "push", "poll"})

_RATES = ("error_rate", "throttle_rate", "hang_rate", "drop_rate", "malformed_rate")


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault knobs. Rates are per-request probabilities in [0, 1]."""

    latency_ms: float = 0.0  # added to every request on the fault endpoints
    latency_jitter_ms: float = 0.0  # plus a uniform random 0..jitter
    error_rate: float = 0.0  # answer `error_status` without processing
    error_status: int = 500
    throttle_rate: float = 0.0  # Azure 429 + Retry-After; Responsys 401 API_LIMIT_EXCEEDED
    retry_after_s: int = 1
    submit_failure_rate: float = 0.0  # Responsys 500 UNABLE_TO_SUBMIT_ASYNC_REQUEST (queue full)
    hang_rate: float = 0.0  # process, then wait `hang_s` before answering (client times out)
    hang_s: float = 30.0
    drop_rate: float = 0.0  # process, then close the connection without an answer
    malformed_rate: float = 0.0  # process, then answer truncated JSON
    outage_s: float = 0.0  # everything (but /_admin) answers 503 for this long ...
    outage_after_s: float = 0.0  # ... starting this long after the faults were set
    endpoints: tuple[str, ...] = ("push",)  # where latency and rate faults apply

    def __post_init__(self) -> None:
        for name in (*_RATES, "submit_failure_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"fault {name} must be within [0, 1], got {value!r}")
        total = sum(getattr(self, name) for name in _RATES)
        if total > 1.0 + 1e-9:
            raise ConfigError(f"fault rates {', '.join(_RATES)} must add up to <= 1, got {total}")
        for name in ("latency_ms", "latency_jitter_ms", "hang_s", "outage_s", "outage_after_s"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"fault {name} must be >= 0, got {value!r}")
        if not 500 <= self.error_status <= 599:
            raise ConfigError(f"fault error_status must be a 5xx code, got {self.error_status}")
        if self.retry_after_s < 0:
            raise ConfigError(f"fault retry_after_s must be >= 0, got {self.retry_after_s}")
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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["endpoints"] = list(self.endpoints)
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
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError("fault endpoints must be a list of strings")
                values[name] = tuple(value)
            elif name in ("error_status", "retry_after_s"):
                if type(value) is not int:
                    raise ConfigError(f"fault {name} must be an integer, got {value!r}")
                values[name] = value
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
    """The live fault knobs of one simulator, with its outage window and RNG."""

    __slots__ = ("_faults", "_outage_from_s", "_outage_until_s", "_rng")

    def __init__(self, faults: Faults, now_s: float, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._faults = faults
        self._outage_from_s = self._outage_until_s = 0.0
        self.set(faults, now_s)

    @property
    def current(self) -> Faults:
        return self._faults

    def set(self, faults: Faults, now_s: float) -> None:
        """Replace the knobs; an `outage_s` > 0 opens a window counted from `now_s`."""
        self._faults = faults
        self._outage_from_s = now_s + faults.outage_after_s
        self._outage_until_s = self._outage_from_s + faults.outage_s

    def in_outage(self, now_s: float) -> bool:
        return self._outage_from_s <= now_s < self._outage_until_s

    def applies_to(self, endpoint: str) -> bool:
        faults = self._faults
        return not faults.idle and endpoint in faults.endpoints

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
