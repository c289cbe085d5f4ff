"""The delivery ledger: what a simulator accepted for delivery, cheaply.

One compact record per accepted call (its targets as a tuple), plus running counters. The
duplicate counter keeps one set of delivered targets per (account, campaign), so a repeat
costs a C-level set operation, not Python work per device. Only the newest `max_records`
records are kept; the counters always cover everything since the last reset.

It also keeps what the client did wrong or right around faults: throttle-hold violations
(calls sent before a throttle window ended; the newest `max_violations` kept in detail) and
the time from the end of the last fault window to the first push accepted after it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consumer.errors import ConfigError


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One accepted call: who, which campaign, which targets, what content, when."""

    at_s: float  # simulated epoch seconds
    account: str
    campaign: str
    targets: tuple[str, ...]
    digest: str  # short digest of the pushed content ("default" when none was given)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at_s,
            "account": self.account,
            "campaign": self.campaign,
            "targets": list(self.targets),
            "digest": self.digest,
        }


@dataclass(frozen=True, slots=True)
class LedgerCounts:
    """Totals since the last reset."""

    calls: int
    deliveries: int
    duplicate_deliveries: int  # same (account, campaign, target) delivered more than once
    unique_targets: int


@dataclass(frozen=True, slots=True)
class Violation:
    """A call sent while the account was throttled: when, to which endpoint, how early."""

    at_s: float  # simulated epoch seconds
    endpoint: str  # token, push or poll
    early_ms: float  # how long before the end of the throttle window it arrived

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at_s, "endpoint": self.endpoint, "early_ms": round(self.early_ms, 3)}


class Ledger:
    """Counters plus the newest records; owned by one simulator's event loop."""

    __slots__ = (
        "_calls",
        "_deliveries",
        "_duplicates",
        "_first_after_ms",
        "_measured_end_s",
        "_recent_violations",
        "_records",
        "_seen",
        "_violations",
    )

    def __init__(self, max_records: int = 1000, max_violations: int = 20) -> None:
        if max_records < 0:
            raise ConfigError(f"ledger max_records must be >= 0, got {max_records}")
        if max_violations < 0:
            raise ConfigError(f"ledger max_violations must be >= 0, got {max_violations}")
        self._records: deque[LedgerRecord] = deque(maxlen=max_records)
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._calls = 0
        self._deliveries = 0
        self._duplicates = 0
        self._violations = 0
        self._recent_violations: deque[Violation] = deque(maxlen=max_violations)
        self._measured_end_s: float | None = None  # the fault end the measurement is about
        self._first_after_ms: float | None = None

    def record(
        self, at_s: float, account: str, campaign: str, targets: Sequence[str], digest: str
    ) -> None:
        seen = self._seen.setdefault((account, campaign), set())
        before = len(seen)
        seen.update(targets)
        self._calls += 1
        self._deliveries += len(targets)
        self._duplicates += len(targets) - (len(seen) - before)
        if self._records.maxlen:
            self._records.append(LedgerRecord(at_s, account, campaign, tuple(targets), digest))

    def counts(self) -> LedgerCounts:
        unique = sum(len(targets) for targets in self._seen.values())
        return LedgerCounts(self._calls, self._deliveries, self._duplicates, unique)

    def records(self, limit: int) -> list[LedgerRecord]:
        """The newest `limit` records, oldest first."""
        if limit <= 0:
            return []
        return list(self._records)[-limit:]

    def violation(self, at_s: float, endpoint: str, early_ms: float) -> None:
        """A call arrived `early_ms` before the account's throttle window ended."""
        self._violations += 1
        self._recent_violations.append(Violation(at_s, endpoint, early_ms))

    @property
    def violations(self) -> int:
        return self._violations

    def recent_violations(self) -> list[Violation]:
        """The newest violations, oldest first."""
        return list(self._recent_violations)

    def accepted(self, at_s: float, fault_end_s: float | None) -> None:
        """A push was accepted at `at_s`; the last fault window ended at `fault_end_s`.

        Only the first accepted push after each fault end is measured.
        """
        if fault_end_s is None or fault_end_s == self._measured_end_s:
            return
        self._measured_end_s = fault_end_s
        self._first_after_ms = max(0.0, (at_s - fault_end_s) * 1000.0)

    def first_accepted_after_fault_ms(self, fault_end_s: float | None) -> float | None:
        """Milliseconds from `fault_end_s` to the first push accepted after it (None: none yet)."""
        if fault_end_s is None or fault_end_s != self._measured_end_s:
            return None
        return self._first_after_ms

    def reset(self) -> None:
        self._records.clear()
        self._seen.clear()
        self._calls = self._deliveries = self._duplicates = 0
        self._violations = 0
        self._recent_violations.clear()
        self._measured_end_s = self._first_after_ms = None
