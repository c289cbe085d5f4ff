"""Plan provider calls: pack intents sharing a batch key into calls within the account limits.

Each batch the batcher returns is one provider call, planned once: clients send it as it
is (only a 413 makes them cut it smaller). Per batch key several calls may be open at once:
a target that a call already holds (for providers whose calls must not repeat a target)
moves to a later call instead of closing the open one, so a key with saturated input needs
max(ceil(targets / limit), the largest repeat count) calls. A call is sent when it reaches
the account's limit (targets or body bytes, read from the client each time, so a limit a
413 taught applies at once), when it has waited `linger_s`, or on flush. Intents larger
than the room left are split into parts where the provider allows it, and travel whole in
one call where it does not.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from consumer.model import Batch, BatchKey, Part, PushIntent
from consumer.providers.base import ProviderClient

# Open calls per key at most; past it the oldest is sent. Bounds the work per target and
# the calls a key's repeats can spread over (a device repeated more often than this within
# one linger window costs a few extra calls, never a repeat within a call).
MAX_OPEN_CALLS = 16


def batch_key(intent: PushIntent) -> BatchKey:
    return BatchKey(*_key_fields(intent))


# A batch key's fields as a plain tuple: open calls are looked up by it for every intent,
# and a tuple hashes in C where a dataclass hashes in Python (the lookup was a fifth of
# the batcher's time). The BatchKey is made once per call.
_KeyFields = tuple[str, str, str, str | None]


def _key_fields(intent: PushIntent) -> _KeyFields:
    push = intent.push
    return (push.provider, intent.account, push.campaign, push.batch_extra)


@dataclass(slots=True)
class _OpenCall:
    key: BatchKey
    opened_at: float
    body_bytes: int  # the call's body without targets, then with its parts
    parts: list[Part] = field(default_factory=list)
    targets: int = 0
    seen: set[str] = field(default_factory=set)  # target keys, for unique-target providers


@dataclass(slots=True)  # made for every intent placed: frozen would cost ~3x to build
class _Fit:
    """How much of an intent's targets, from a start, one open call can take."""

    stop: int
    body_bytes: int
    bytes_full: bool = False  # not even one more target fits the call's body


class Batcher:
    """Open calls per key; `add` returns the calls that became full."""

    def __init__(
        self,
        clients: Mapping[str, ProviderClient],
        linger_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_open_calls: int = MAX_OPEN_CALLS,
    ) -> None:
        self._clients = clients
        self._linger_s = linger_s
        self._clock = clock
        self._max_open_calls = max_open_calls
        self._open: dict[_KeyFields, list[_OpenCall]] = {}
        self._ids = itertools.count()
        self._prefix = uuid.uuid4().hex[:8]
        # False: every run is placed by the search (`_fit`); the property test compares both
        self.usual_case_shortcut = True

    def add(
        self,
        intent: PushIntent,
        spans: Sequence[tuple[int, int]] | None = None,
        *,
        waited_s: float = 0.0,
    ) -> tuple[int, list[Batch]]:
        """Add an intent (only its target ranges `spans`, when given: the rest is done);
        return how many parts it travels in and the calls now full.

        `waited_s`: how long the intent already waited on its way here; a call it opens
        counts its linger from then (`Dispatcher.start` says how much is credited).
        """
        key = _key_fields(intent)
        client = self._clients[intent.account]
        calls = self._open.get(key)
        if calls is None:
            calls = self._open[key] = []
        ready: list[Batch] = []
        opened_at = self._clock() - waited_s
        if client.splits_intents:
            parts = 0
            for start, stop in spans or ((0, intent.push.target_count),):
                parts += self._spread(
                    key, calls, client, intent, ready, start=start, total=stop, opened_at=opened_at
                )
        else:
            self._place_whole(key, calls, client, intent, ready, opened_at=opened_at)
            parts = 1
        if not calls:
            del self._open[key]
        return parts, ready

    def due(self) -> list[Batch]:
        """Close and return every call that has waited `linger_s`."""
        cutoff = self._clock() - self._linger_s
        ready: list[Batch] = []
        for key in list(self._open):
            calls = self._open[key]
            # not always in order: a call opened later may have been credited more wait
            due = [call for call in calls if call.opened_at <= cutoff]
            ready.extend(self._close(calls, call) for call in due)
            if not calls:
                del self._open[key]
        return ready

    def flush(self) -> list[Batch]:
        """Close and return every open call."""
        ready = [self._batch(call) for calls in self._open.values() for call in calls]
        self._open.clear()
        return ready

    def next_due_in(self) -> float | None:
        """Seconds until the oldest open call is due, or None when nothing is open."""
        if not self._open:
            return None
        oldest = min(call.opened_at for calls in self._open.values() for call in calls)
        return max(0.0, oldest + self._linger_s - self._clock())

    @property
    def open_targets(self) -> int:
        return sum(call.targets for calls in self._open.values() for call in calls)

    # --- placing targets ----------------------------------------------------------------

    def _spread(
        self,
        key: _KeyFields,
        calls: list[_OpenCall],
        client: ProviderClient,
        intent: PushIntent,
        ready: list[Batch],
        *,
        start: int,
        total: int,
        opened_at: float,
    ) -> int:
        """Place targets `[start, total)`, run by run, each in the first open call taking it."""
        keys = intent.push.target_keys(0, total) if client.unique_targets else None
        if self.usual_case_shortcut and start < total and calls:
            oldest = calls[0]
            if self._take_rest(oldest, client, intent, keys, start=start, total=total):
                if _full(oldest, client):
                    ready.append(self._close(calls, oldest))
                return 1
        parts = 0
        while start < total:
            fit: _Fit | None = None
            call: _OpenCall | None = None
            full: list[_OpenCall] = []
            for candidate in calls:
                fit = self._fit(candidate, client, intent, keys, start=start, total=total)
                if fit.stop > start:
                    call = candidate
                    break
                if fit.bytes_full:
                    full.append(candidate)
            ready.extend(self._close(calls, done) for done in full)
            if call is None or fit is None:
                call = self._open_call(key, calls, client, ready, opened_at)
                fit = self._fit(call, client, intent, keys, start=start, total=total)
            self._append(call, Part(intent, start, fit.stop), fit.body_bytes, keys)
            parts += 1
            start = fit.stop
            if _full(call, client):
                ready.append(self._close(calls, call))
        return parts

    def _place_whole(
        self,
        key: _KeyFields,
        calls: list[_OpenCall],
        client: ProviderClient,
        intent: PushIntent,
        ready: list[Batch],
        *,
        opened_at: float,
    ) -> None:
        """Place the whole intent in the first open call with room, or in a new one."""
        total = intent.push.target_count
        part = Part(intent, 0, total)
        size = client.part_bytes(part)
        keys = intent.push.target_keys(0, total) if client.unique_targets else None
        call = next(
            (
                candidate
                for candidate in calls
                if candidate.targets + total <= client.max_targets
                and candidate.body_bytes + size <= client.max_body_bytes
                and (keys is None or candidate.seen.isdisjoint(keys))
            ),
            None,
        ) or self._open_call(key, calls, client, ready, opened_at)
        self._append(call, part, size, keys)
        if _full(call, client):
            ready.append(self._close(calls, call))

    @staticmethod
    def _take_rest(
        call: _OpenCall,
        client: ProviderClient,
        intent: PushIntent,
        keys: Sequence[str] | None,
        *,
        start: int,
        total: int,
    ) -> bool:
        """Put `[start, total)` in `call` as one part if it takes all of it; else False
        (and the call is left as it was).

        The usual case (the oldest open call has room, no target repeats): what `_fit`
        would find, without its search (with the tuple keys: 14-16 -> 9-10 us per intent
        of the bench mix, minimum of 7 runs of 20,000).
        """
        if call.targets + total - start > client.max_targets:
            return False
        if keys is not None:
            ids = keys[start:total]
            if not call.seen.isdisjoint(ids) or len(set(ids)) != len(ids):
                return False
        part = Part(intent, start, total)
        size = client.part_bytes(part)
        if call.body_bytes + size > client.max_body_bytes:
            return False
        Batcher._append(call, part, size, keys)
        return True

    @staticmethod
    def _fit(
        call: _OpenCall,
        client: ProviderClient,
        intent: PushIntent,
        keys: Sequence[str] | None,
        *,
        start: int,
        total: int,
    ) -> _Fit:
        """The longest run from `start` that `call` can take: room, no repeat, body bytes.

        An empty call always takes at least one target (a target alone is never too big
        to try; the provider's answer decides).
        """
        stop = min(total, start + client.max_targets - call.targets)
        if keys is not None:
            ids = keys[start:stop]
            if not (call.seen.isdisjoint(ids) and len(set(ids)) == len(ids)):
                stop = start + _fresh_prefix(call.seen, ids)
        if stop == start:
            return _Fit(start, 0)
        size = client.part_bytes(Part(intent, start, stop))
        room = client.max_body_bytes - call.body_bytes
        if size <= room:
            return _Fit(stop, size)
        size = 0
        end = start
        for index in range(start, stop):  # rare: only a call near its byte limit
            cost = client.part_bytes(Part(intent, index, index + 1))
            if size + cost > room and (call.parts or end > start):
                break
            size += cost
            end += 1
        return _Fit(end, size, bytes_full=end == start)

    @staticmethod
    def _append(call: _OpenCall, part: Part, size: int, keys: Sequence[str] | None) -> None:
        call.parts.append(part)
        call.targets += part.size
        call.body_bytes += size
        if keys is not None:
            call.seen.update(keys[part.start : part.stop])

    def _open_call(
        self,
        key: _KeyFields,
        calls: list[_OpenCall],
        client: ProviderClient,
        ready: list[Batch],
        opened_at: float,
    ) -> _OpenCall:
        if len(calls) >= self._max_open_calls:
            ready.append(self._close(calls, calls[0]))
        fields = BatchKey(*key)
        call = _OpenCall(fields, opened_at, client.call_bytes(fields))
        calls.append(call)
        return call

    def _close(self, calls: list[_OpenCall], call: _OpenCall) -> Batch:
        calls.remove(call)
        return self._batch(call)

    def _batch(self, call: _OpenCall) -> Batch:
        return Batch(f"{self._prefix}-{next(self._ids)}", call.key, tuple(call.parts))


def _full(call: _OpenCall, client: ProviderClient) -> bool:
    """The call has reached the account's limit of targets or body bytes: send it."""
    return call.targets >= client.max_targets or call.body_bytes >= client.max_body_bytes


def _fresh_prefix(seen: set[str], ids: Sequence[str]) -> int:
    """How many of `ids`, from the first, are new to `seen` and to each other."""
    fresh: set[str] = set()
    for count, target in enumerate(ids):
        if target in seen or target in fresh:
            return count
        fresh.add(target)
    return len(ids)
