"""librdkafka's own log lines, through Python logging and rate-limited.

confluent-kafka hands every librdkafka log line to the `logger` config key's `log()`
method (from `poll()`, `consume()`, `flush()` or `close()`). Left to itself librdkafka
writes them raw to stderr: a broker outage gave about 20 lines a second from one producer
and one consumer against two brokers (measured), thousands within minutes. Here each line
goes to the `push.librdkafka` logger, and a line seen again within the window is counted
instead of logged; the next one logged after the window says how many were held back.

Two lines are "the same" when they come from the same place (the text before the first
`: `, for librdkafka the broker, kept as it is) with the same words after it (numbers
ignored: `after 0ms`, `after 3ms` and librdkafka's own `4 identical error(s) suppressed`
are one message). The client's name is not part of it: the producer and the consumer
failing to reach one broker are one message.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

LOGGER_NAME = "push.librdkafka"
WINDOW_S = 30.0
_MAX_TRACKED = 1024  # distinct messages remembered; older ones are forgotten past this
_THREAD_PREFIX = re.compile(r"^\[thrd:[^\]]*\]: ")
_NUMBER = re.compile(r"\d+")


@dataclass(slots=True)
class _Seen:
    logged_at: float
    held_back: int = 0


class RateLimitedClientLog:
    """A confluent-kafka `logger`: forwards librdkafka lines, at most one per message per
    window, with the count of repeats held back since the last one logged."""

    def __init__(
        self,
        logger: logging.Logger | None = None,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger or logging.getLogger(LOGGER_NAME)
        self._window_s = window_s
        self._clock = clock
        self._seen: dict[tuple[int, str, str], _Seen] = {}
        self._lock = threading.Lock()  # the producer and the consumer log from their threads

    def log(self, level: int, _format: str, *args: object) -> None:
        """Called by confluent-kafka as `log(level, "%s [%s] %s", facility, client, text)`."""
        facility, client, text = (str(arg) for arg in (*args, "", "", "")[:3])
        text = _THREAD_PREFIX.sub("", text)
        if not self._logger.isEnabledFor(level):
            return
        held_back = self._admit((level, facility, _shape(text)))
        if held_back is None:
            return
        suffix = f" ({held_back} similar suppressed in the last {self._window_s:g} s)"
        self._logger.log(level, "%s %s: %s%s", client, facility, text, suffix if held_back else "")

    def _admit(self, key: tuple[int, str, str]) -> int | None:
        """The count held back since the last line of `key` if it may be logged now, else None."""
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.logged_at < self._window_s:
                seen.held_back += 1
                return None
            if seen is None and len(self._seen) >= _MAX_TRACKED:
                self._forget(now)
            self._seen[key] = _Seen(now)
            return seen.held_back if seen is not None else 0

    def _forget(self, now: float) -> None:
        stale = [key for key, seen in self._seen.items() if now - seen.logged_at >= self._window_s]
        for key in stale or list(self._seen)[: _MAX_TRACKED // 2]:
            del self._seen[key]


def _shape(text: str) -> str:
    """What makes two lines the same message: the place as it is, the rest without numbers."""
    place, separator, rest = text.partition(": ")
    if not separator:
        return _NUMBER.sub("#", text)
    return place + separator + _NUMBER.sub("#", rest)


CLIENT_LOG = RateLimitedClientLog()  # one per process: every client's repeats count together
