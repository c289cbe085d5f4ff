"""Virtual time for dispatch tests: a clock that moves only when every task is asleep."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import Any

_SETTLE_TURNS = 200  # loop turns that let every runnable task reach its next sleep


class VirtualTime:
    """`clock` and `sleep` for an AccountChannel; `run` drives tasks to the end in virtual time.

    Time jumps to the earliest wake-up once all tasks are blocked, so a test reads as a
    timeline (who sent at which second) and takes no wall-clock time.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), wake))
        await wake

    async def run(self, *steps: Awaitable[Any]) -> list[Any]:
        tasks = [asyncio.ensure_future(step) for step in steps]
        while True:
            for _ in range(_SETTLE_TURNS):
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                return [task.result() for task in tasks]
            if not self._sleepers:
                raise RuntimeError("tasks are blocked on something other than virtual time")
            at, _, wake = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            if not wake.done():
                wake.set_result(None)
