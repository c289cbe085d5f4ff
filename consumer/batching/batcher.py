"""Pack intents into batches that fill provider calls.

A batch closes when it reaches the provider's per-call limit (targets or body bytes), when
its oldest part has waited `linger_s`, or on flush. Intents larger than the room left are
split into parts (where the provider allows it), so calls stay full. For providers whose
calls must not repeat a target, a repeated target starts a new batch.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from consumer.model import AzurePush, Batch, BatchKey, Part, PushIntent
from consumer.providers.base import ProviderClient


def batch_key(intent: PushIntent) -> BatchKey:
    push = intent.push
    data_json = push.data_json if isinstance(push, AzurePush) else None
    return BatchKey(intent.provider, intent.account, push.campaign, data_json)


@dataclass(slots=True)
class _OpenBatch:
    key: BatchKey
    opened_at: float
    parts: list[Part] = field(default_factory=list)
    targets: int = 0
    body_bytes: int = 0
    seen: set[str] = field(default_factory=set)  # target ids, for unique-target providers


class Batcher:
    """Open batches per key; `add` returns the batches that became full."""

    def __init__(
        self,
        clients: Mapping[str, ProviderClient],
        linger_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._linger_s = linger_s
        self._clock = clock
        self._open: dict[BatchKey, _OpenBatch] = {}
        self._ids = itertools.count()
        self._prefix = uuid.uuid4().hex[:8]

    def add(self, intent: PushIntent) -> tuple[int, list[Batch]]:
        """Add an intent; return how many parts it was split into and the full batches."""
        key = batch_key(intent)
        client = self._clients[intent.account]
        total = intent.push.target_count
        ready: list[Batch] = []
        parts = 0
        start = 0
        while start < total:
            batch = self._open.get(key)
            if batch is None:
                batch = self._open[key] = _OpenBatch(key, self._clock())
            room = client.max_targets - batch.targets
            if not client.splits_intents and total - start > room and batch.parts:
                ready.append(self._close(key))  # keep the intent whole: start a fresh call
                continue
            stop = start + min(room, total - start)
            part = Part(intent, start, stop)
            if client.unique_targets:
                part = self._unique_prefix(batch, client, part)
                if part.size == 0:
                    ready.append(self._close(key))  # first target repeats: next call
                    continue
            part_bytes = client.part_bytes(part)
            if batch.parts and batch.body_bytes + part_bytes > client.max_body_bytes:
                ready.append(self._close(key))
                continue
            batch.parts.append(part)
            batch.targets += part.size
            batch.body_bytes += part_bytes
            parts += 1
            start = part.stop
            if batch.targets >= client.max_targets or batch.body_bytes >= client.max_body_bytes:
                ready.append(self._close(key))
        return parts, ready

    def due(self) -> list[Batch]:
        """Close and return every batch whose oldest part has waited `linger_s`."""
        cutoff = self._clock() - self._linger_s
        keys = [key for key, batch in self._open.items() if batch.opened_at <= cutoff]
        return [self._close(key) for key in keys]

    def flush(self) -> list[Batch]:
        """Close and return every open batch."""
        return [self._close(key) for key in list(self._open)]

    def next_due_in(self) -> float | None:
        """Seconds until the oldest open batch is due, or None when nothing is open."""
        if not self._open:
            return None
        oldest = min(batch.opened_at for batch in self._open.values())
        return max(0.0, oldest + self._linger_s - self._clock())

    @property
    def open_targets(self) -> int:
        return sum(batch.targets for batch in self._open.values())

    def _close(self, key: BatchKey) -> Batch:
        batch = self._open.pop(key)
        batch_id = f"{self._prefix}-{next(self._ids)}"
        return Batch(batch_id, key, tuple(batch.parts))

    @staticmethod
    def _unique_prefix(batch: _OpenBatch, client: ProviderClient, part: Part) -> Part:
        """Shorten `part` to its longest prefix whose targets are new to the batch, and add them."""
        ids = client.target_ids(part)
        seen = batch.seen
        if seen.isdisjoint(ids) and len(set(ids)) == len(ids):
            seen.update(ids)
            return part
        taken = 0
        for target in ids:
            if target in seen:
                break
            seen.add(target)
            taken += 1
        return Part(part.intent, part.start, part.start + taken)
