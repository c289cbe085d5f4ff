"""Rebalance glue: the consumer thread's callbacks, run as the member's work on its loop.

The source calls `assigned`, `revoked`, `lost` and `restored` on its consumer thread,
inside `consume()`. Each becomes a coroutine of the member on the event loop; the thread
waits for it (the loop keeps running: in-flight calls finish, outcomes are acknowledged)
within the member's revocation deadline, then commits what the member says is finished.
A revocation during a stop uses the stop's deadline: nothing is waited for twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol, TypeVar

from consumer.deadline import Deadline

log = logging.getLogger(__name__)

Partition = tuple[str, int]
T = TypeVar("T")
_MARGIN_S = 5.0  # beyond the deadline, for the member's own bookkeeping


class Member(Protocol):
    """A consumer-group member's rebalance work, run on its event loop."""

    def revocation_deadline(self) -> Deadline:
        """How long a revocation may wait for in-flight work (a stop's own deadline)."""
        ...

    async def on_assigned(self, partitions: list[Partition]) -> None: ...

    async def on_revoked(
        self, partitions: list[Partition], deadline: Deadline
    ) -> Mapping[Partition, Any]:
        """Finish what can be finished by `deadline`; return the offsets to commit."""
        ...

    async def on_lost(self, partitions: list[Partition]) -> None: ...

    async def on_restored(self, partition: Partition, offset: int, metadata: str) -> None: ...


class Committer(Protocol):
    def commit_now(self, offsets: Mapping[Partition, Any]) -> bool: ...


class RebalanceGlue:
    """A `RebalanceListener` for the source that hands the work to `member` on `loop`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, member: Member) -> None:
        self._loop = loop
        self._member = member
        self.committer: Committer | None = None  # the source, once it exists

    def assigned(self, partitions: list[Partition]) -> None:
        self._run(self._member.on_assigned(partitions), 10.0)

    def revoked(self, partitions: list[Partition]) -> None:
        deadline = self._member.revocation_deadline()
        offsets = self._run(self._member.on_revoked(partitions, deadline), deadline.remaining())
        if offsets and self.committer is not None:
            self.committer.commit_now(offsets)

    def lost(self, partitions: list[Partition]) -> None:
        self._run(self._member.on_lost(partitions), 10.0)

    def restored(self, partition: Partition, offset: int, metadata: str) -> None:
        self._run(self._member.on_restored(partition, offset, metadata), 10.0)

    def _run(self, work: Coroutine[Any, Any, T], timeout_s: float) -> T | None:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(timeout_s + _MARGIN_S)
        except TimeoutError:
            future.cancel()
            log.warning("rebalance work did not finish in %.0fs", timeout_s + _MARGIN_S)
            return None
