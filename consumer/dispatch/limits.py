"""Per-account dispatch limits: concurrency, request rate, timeouts, retries, breaker."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ConfigDict

from consumer.errors import ConfigError

DEFAULT_BREAKER_MAX_RESET_S = 4.0


@dataclass(frozen=True, slots=True)
class DispatchLimits:
    """How hard one provider account may be called, and how failures are retried.

    `max_attempts` is the retry budget of one call (first try included). Ambiguous retries
    (a timeout after the request was sent: the provider may have pushed) happen only when
    `retry_ambiguous` is true.

    An open circuit lets a probe through after half to all of its open period, which starts
    at `breaker_reset_s` and doubles per failed probe up to `breaker_max_reset_s`.

    It is also the `[accounts.<name>.limits]` settings table: pydantic reads it from TOML
    and env (unknown keys are errors), so defaults live here only.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    concurrency: int = 8
    rate_per_s: float = 20.0
    timeout_s: float = 30.0
    connect_timeout_s: float = 5.0
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    # Longest throttle window a Retry-After / throttling sets: a guard against absurd values,
    # long enough for a provider's own (Azure: sending inside the window restarts it;
    # Responsys' capacity limit resets every 10 minutes).
    max_wait_s: float = 900.0
    # Longest a call waits in line for a throttle window; a longer one ends the call as
    # transient, so its intents are parked (durably) instead of pinning in-flight room.
    max_call_wait_s: float = 5.0
    retry_ambiguous: bool = True
    breaker_failure_threshold: int = 5
    breaker_reset_s: float = 2.0
    # None: DEFAULT_BREAKER_MAX_RESET_S, or breaker_reset_s when that is longer (so a
    # configured breaker_reset_s alone stays valid)
    breaker_max_reset_s: float | None = None

    def __post_init__(self) -> None:
        positive = {
            "concurrency": self.concurrency,
            "rate_per_s": self.rate_per_s,
            "timeout_s": self.timeout_s,
            "connect_timeout_s": self.connect_timeout_s,
            "max_attempts": self.max_attempts,
            "breaker_failure_threshold": self.breaker_failure_threshold,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"dispatch limit {name} must be > 0, got {value!r}")
        non_negative = {
            "backoff_base_s": self.backoff_base_s,
            "backoff_max_s": self.backoff_max_s,
            "max_wait_s": self.max_wait_s,
            "max_call_wait_s": self.max_call_wait_s,
            "breaker_reset_s": self.breaker_reset_s,
            "breaker_max_reset_s": self.breaker_reset_cap_s,
        }
        for name, value in non_negative.items():
            if value < 0:
                raise ConfigError(f"dispatch limit {name} must be >= 0, got {value!r}")
        if self.backoff_max_s < self.backoff_base_s:
            raise ConfigError(
                f"backoff_max_s ({self.backoff_max_s}) must be >= backoff_base_s "
                f"({self.backoff_base_s})"
            )
        if self.breaker_reset_cap_s < self.breaker_reset_s:
            raise ConfigError(
                f"breaker_max_reset_s ({self.breaker_max_reset_s}) must be >= breaker_reset_s "
                f"({self.breaker_reset_s})"
            )

    @property
    def breaker_reset_cap_s(self) -> float:
        """The longest open period of a circuit (`breaker_max_reset_s` resolved)."""
        if self.breaker_max_reset_s is not None:
            return self.breaker_max_reset_s
        return max(DEFAULT_BREAKER_MAX_RESET_S, self.breaker_reset_s)
