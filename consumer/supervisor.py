"""Every background task has an owner: named, watched, cancelled and awaited on stop.

A task that dies with an exception is a failure of its owner: `failure` is set and
`on_failure` runs (the pipeline then stops cleanly; the task's unfinished intents stay
uncommitted and are read again). Nothing ends silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Supervisor:
    """Starts tasks, records the first failure, and stops what is left."""

    def __init__(self, on_failure: Callable[[BaseException], None] | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_failure = on_failure
        self.failure: BaseException | None = None

    def start(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `work` as an owned task; its exception (not a cancellation) is a failure."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        log.error("task %s died: %r", task.get_name(), error, exc_info=error)
        if self.failure is None:
            self.failure = error
            if self._on_failure is not None:
                self._on_failure(error)

    def running(self, prefix: str = "") -> int:
        """Tasks alive whose name starts with `prefix`."""
        return sum(1 for task in self._tasks if task.get_name().startswith(prefix))

    async def stop(self, prefix: str = "") -> int:
        """Cancel the tasks whose name starts with `prefix` and wait for them; return how many."""
        tasks = [task for task in self._tasks if task.get_name().startswith(prefix)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)
