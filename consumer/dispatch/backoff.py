"""Exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS blog)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry `n` (1-based): uniform in [0, min(max_s, base_s * 2**(n-1))]."""

    base_s: float
    max_s: float
    uniform: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def ceiling(self, retry: int) -> float:
        """The largest delay retry `retry` may wait."""
        growth: float = 2.0 ** max(0, retry - 1)
        return min(self.max_s, self.base_s * growth)

    def delay(self, retry: int) -> float:
        """A jittered delay for retry `retry`, spreading retries of many callers apart."""
        return self.uniform(0.0, self.ceiling(retry))
