"""The in-flight ledger: every consumed message until its result is durable.

One place holds the offsets (`OffsetTracker`), the state of each message, the in-flight
counts that bound intake, the signal that paused work drained, and the gauges. The bound
is a bound: everything read and not yet finished counts, and `room()` says how many more
messages intake may take.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from consumer.deadline import wait_set
from consumer.kafka import ConsumedRecord
from consumer.metrics import Metrics
from consumer.model import Part, PartResult, PushIntent, PushOutcome
from consumer.offsets import OffsetTracker
from consumer.pipeline.parking import Parked
from consumer.settings import PipelineSettings

Partition = tuple[str, int]


@dataclass(slots=True)
class InFlight:
    """One consumed message on its way to a durable result."""

    source: Partition
    offset: int
    size: int
    record: ConsumedRecord  # kept to park it again as it came (key, value, headers)
    intent: PushIntent | None = None
    parked: Parked | None = None  # how it waited before, when it came from the retry topic
    parts_left: int = 0
    results: list[tuple[Part, PartResult]] = field(default_factory=list)
    dispatched_at: datetime | None = None
    outcome: PushOutcome | None = None


class Ledger:
    """In-flight messages, their offsets and counts, for one consumer-group member."""

    def __init__(self, limits: PipelineSettings, metrics: Metrics) -> None:
        self._limits = limits
        self._metrics = metrics
        self.tracker = OffsetTracker()
        self._live: dict[tuple[Partition, int], InFlight] = {}  # read and not finished
        self._by_intent: dict[int, InFlight] = {}  # id(intent) -> state, while parts travel
        self.bytes = 0
        self._drained = asyncio.Event()  # set when paused work has drained enough to resume

    @property
    def count(self) -> int:
        """Messages read and not finished."""
        return len(self._live)

    # --- intake and progress --------------------------------------------------------------

    def take(self, record: ConsumedRecord) -> InFlight | None:
        """Start tracking a consumed message; None when it was finished before (skip it)."""
        source, offset = record.source, record.offset  # `source` makes a tuple: once
        if not self.tracker.track(source, offset):
            return None
        state = InFlight(source, offset, len(record.value or b""), record)
        self._live[source, offset] = state
        self.bytes += state.size
        return state

    def travel(self, state: InFlight, intent: PushIntent, parts: int) -> None:
        """The message's intent travels in `parts` parts; `part_done` hears of each."""
        state.intent = intent
        state.parts_left = parts
        self._by_intent[id(intent)] = state

    def part_done(self, part: Part, result: PartResult, dispatched_at: datetime) -> InFlight | None:
        """Record one part's result; the state once its last part is done, else None."""
        state = self._by_intent.get(id(part.intent))
        if state is None:
            return None  # its partition was revoked or lost meanwhile
        state.results.append((part, result))
        state.dispatched_at = state.dispatched_at or dispatched_at
        state.parts_left -= 1
        if state.parts_left:
            return None
        del self._by_intent[id(part.intent)]
        return state

    def finish(self, states: list[InFlight]) -> None:
        """Their results are durable: their offsets may be committed."""
        tracker = self.tracker
        live = self._live
        for state in states:
            if live.pop((state.source, state.offset), None) is None:
                continue  # its partition was revoked or lost meanwhile
            tracker.finish(state.source, state.offset)
            self.bytes -= state.size
        if self.can_resume:
            self._drained.set()
        self.update_gauges()

    def forget(self, partitions: list[Partition]) -> None:
        """Revoked or lost partitions: their messages are someone else's now."""
        gone = set(partitions)
        for key, state in list(self._live.items()):
            if state.source in gone:
                del self._live[key]
                self.bytes -= state.size
                if state.intent is not None:
                    self._by_intent.pop(id(state.intent), None)
        self.tracker.forget(partitions)
        self.update_gauges()

    # --- the bound --------------------------------------------------------------------------

    def room(self) -> int:
        """How many more messages intake may take now (0 when full)."""
        if self.bytes >= self._limits.max_in_flight_bytes:
            return 0
        return max(0, self._limits.max_in_flight_intents - self.count)

    @property
    def can_resume(self) -> bool:
        limits = self._limits
        return (
            self.count <= limits.max_in_flight_intents // 2
            and self.bytes <= limits.max_in_flight_bytes // 2
        )

    async def wait_drained(self, timeout_s: float) -> None:
        """Return when paused work drained enough to resume, or after `timeout_s`."""
        self._drained.clear()
        if not self.can_resume:
            await wait_set(self._drained, timeout_s)

    def unfinished(self, partitions: list[Partition] | None = None) -> int:
        """Messages read and not finished (in `partitions`, or in all)."""
        if partitions is None:
            return self.count
        return sum(self.tracker.in_flight(p) for p in partitions)

    def update_gauges(self) -> None:
        self._metrics.in_flight_intents.set(self.count)
        self._metrics.in_flight_bytes.set(self.bytes)
