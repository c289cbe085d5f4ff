"""The delivery ledger: what a simulator accepted for delivery, cheaply.

One compact record per accepted call (its targets as a tuple), plus running counters. The
duplicate counter keeps one set of delivered targets per (account, campaign), so a repeat
costs a C-level set operation, not Python work per device. Only the newest `max_records`
records are kept; the counters always cover everything since the last reset.
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


class Ledger:
    """Counters plus the newest records; owned by one simulator's event loop."""

    __slots__ = ("_calls", "_deliveries", "_duplicates", "_records", "_seen")

    def __init__(self, max_records: int = 1000) -> None:
        if max_records < 0:
            raise ConfigError(f"ledger max_records must be >= 0, got {max_records}")
        self._records: deque[LedgerRecord] = deque(maxlen=max_records)
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._calls = 0
        self._deliveries = 0
        self._duplicates = 0

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

    def reset(self) -> None:
        self._records.clear()
        self._seen.clear()
        self._calls = self._deliveries = self._duplicates = 0
