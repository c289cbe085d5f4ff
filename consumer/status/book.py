"""The pending requests of the assigned partitions, in memory, by next poll time.

A heap of (due, sequence, request id, generation) with lazy deletion: an entry replaced
by a newer record for the same request id gets a new generation, so stale heap items and
stale poll results are recognised and dropped. Times are monotonic seconds.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from consumer.model import AsyncPending

Partition = tuple[str, int]


@dataclass(slots=True)
class Tracked:
    """One pending request this instance owns, with where its record lies in the topic."""

    pending: AsyncPending
    source: Partition
    offset: int  # the record's offset: committed only once its work is finished
    generation: int
    deadline: float  # monotonic
    polls: int
    broken: int = 0
    last_code: str | None = None
    busy: bool = False  # a poll (or its final publication) is under way
    finalizing: bool = False  # final outcomes are being published; cannot be dropped


class PendingBook:
    """Tracked requests by id, plus a heap of when each idle one is due."""

    def __init__(self) -> None:
        self._entries: dict[str, Tracked] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._sequence = itertools.count()
        self._generations = itertools.count(1)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, request_id: str) -> Tracked | None:
        return self._entries.get(request_id)

    def add(
        self, pending: AsyncPending, source: Partition, offset: int, due: float, deadline: float
    ) -> Tracked:
        """Track `pending` (replacing any entry for its id) and schedule it at `due`."""
        entry = Tracked(
            pending, source, offset, next(self._generations), deadline, pending.poll_attempts
        )
        self._entries[pending.request_id] = entry
        self.schedule(entry, due)
        return entry

    def schedule(self, entry: Tracked, due: float) -> None:
        """Make `entry` idle again, due at `due` (monotonic)."""
        entry.busy = False
        item = (due, next(self._sequence), entry.pending.request_id, entry.generation)
        heapq.heappush(self._heap, item)

    def current(self, entry: Tracked) -> bool:
        """True while `entry` is still the tracked one for its request id."""
        return self._entries.get(entry.pending.request_id) is entry

    def remove(self, entry: Tracked) -> bool:
        """Stop tracking `entry`; False if it was already replaced or removed."""
        if not self.current(entry):
            return False
        del self._entries[entry.pending.request_id]
        return True

    def take_due(self, now: float, limit: int) -> list[Tracked]:
        """Up to `limit` idle entries due at `now`, marked busy."""
        taken: list[Tracked] = []
        while self._heap and len(taken) < limit and self._heap[0][0] <= now:
            _, _, request_id, generation = heapq.heappop(self._heap)
            entry = self._entries.get(request_id)
            if entry is None or entry.generation != generation or entry.busy:
                continue  # replaced or removed since it was scheduled
            entry.busy = True
            taken.append(entry)
        return taken

    def in_partitions(self, partitions: Iterable[Partition]) -> list[Tracked]:
        wanted = set(partitions)
        return [entry for entry in self._entries.values() if entry.source in wanted]

    def entries(self) -> list[Tracked]:
        return list(self._entries.values())

    def compact(self) -> None:
        """Drop stale heap items once they outnumber live entries (bounded memory)."""
        if len(self._heap) > 2 * len(self._entries) + 1024:
            live = [
                item
                for item in self._heap
                if (entry := self._entries.get(item[2])) is not None
                and entry.generation == item[3]
                and not entry.busy
            ]
            heapq.heapify(live)
            self._heap = live
