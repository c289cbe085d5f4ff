"""When to poll a pending request next: exponential backoff, capped, never past its deadline."""

from __future__ import annotations

from dataclasses import dataclass

from consumer.errors import ConfigError
from consumer.settings import StatusSettings

_MAX_DOUBLINGS = 32  # far past any useful cap; keeps 2**n small


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How often to poll and how many contract-breaking answers to tolerate per request."""

    first_poll_s: float
    max_poll_interval_s: float
    max_broken_answers: int

    def __post_init__(self) -> None:
        if not 0 < self.first_poll_s <= self.max_poll_interval_s:
            raise ConfigError(
                f"status poll backoff needs 0 < first_poll_s ({self.first_poll_s}) <= "
                f"max_poll_interval_s ({self.max_poll_interval_s})"
            )
        if self.max_broken_answers < 1:
            raise ConfigError(f"max_broken_answers must be >= 1, got {self.max_broken_answers}")

    @classmethod
    def from_settings(cls, status: StatusSettings) -> PollPolicy:
        return cls(status.first_poll_s, status.max_poll_interval_s, status.max_broken_answers)

    def delay_after(self, polls: int) -> float:
        """Seconds to wait after the `polls`-th poll (1-based): first x 2**polls, capped.

        The first poll happens `first_poll_s` after submission (the pending record's
        `next_poll_at`), so the waits read 2, 4, 8, ... 60 s with the defaults.
        """
        growth = 2.0 ** min(max(polls, 0), _MAX_DOUBLINGS)
        return min(self.max_poll_interval_s, self.first_poll_s * growth)


def next_poll_in(policy: PollPolicy, polls: int, until_deadline_s: float) -> float:
    """Seconds until the next poll: the backoff, but no later than the deadline."""
    return max(0.0, min(policy.delay_after(polls), until_deadline_s))
