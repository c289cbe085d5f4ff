"""The simulator clock: wall-clock epoch seconds that can run faster than real time or jump.

Provider rules are stated in hours (token lifetime, 24 h retention); tests make them pass in
milliseconds by speeding the clock up or advancing it through the admin API.
"""

from __future__ import annotations

import time

from consumer.errors import ConfigError


class SimClock:
    """Epoch seconds = start + (monotonic elapsed x speed) + manual advances."""

    __slots__ = ("_mono0", "_offset_s", "_speed", "_start")

    def __init__(self, speed: float = 1.0, start_epoch_s: float | None = None) -> None:
        if not speed > 0:
            raise ConfigError(f"clock speed must be > 0, got {speed!r}")
        self._speed = speed
        # The one wall-clock read: the anchor for timestamps shown to clients.
        self._start = time.time() if start_epoch_s is None else start_epoch_s
        self._mono0 = time.monotonic()
        self._offset_s = 0.0

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self._start + (time.monotonic() - self._mono0) * self._speed + self._offset_s

    def advance(self, seconds: float) -> float:
        """Jump forward by `seconds` of simulated time; returns the new now()."""
        if not seconds >= 0:
            raise ConfigError(f"the clock only moves forward, got {seconds!r} seconds")
        self._offset_s += seconds
        return self.now()
