"""Dispatch events for metrics: the metrics module implements `DispatchObserver`."""

from __future__ import annotations

from typing import Protocol

from consumer.dispatch.breaker import BreakerState


class DispatchObserver(Protocol):
    """Receives one event per provider call, retry, breaker change and token fetch.

    Labels are bounded: provider, account, a status class ("2xx", "4xx", "5xx", "timeout",
    "connect_error", "transport_error"), never device ids or free text.
    """

    def on_call(self, provider: str, account: str, status_class: str, seconds: float) -> None:
        """One HTTP request finished (or failed on the wire) after `seconds`."""

    def on_retry(self, provider: str, account: str, ambiguous: bool) -> None:
        """A call is about to be retried; `ambiguous` if the failed try may have been sent."""

    def on_breaker(self, provider: str, account: str, state: BreakerState) -> None:
        """The account's circuit breaker changed state."""

    def on_token_refresh(self, provider: str, account: str) -> None:
        """A new provider token was obtained (login, refresh or re-login)."""


class NullObserver:
    """The default observer: ignores every event."""

    def on_call(self, provider: str, account: str, status_class: str, seconds: float) -> None:
        """Ignore."""

    def on_retry(self, provider: str, account: str, ambiguous: bool) -> None:
        """Ignore."""

    def on_breaker(self, provider: str, account: str, state: BreakerState) -> None:
        """Ignore."""

    def on_token_refresh(self, provider: str, account: str) -> None:
        """Ignore."""
