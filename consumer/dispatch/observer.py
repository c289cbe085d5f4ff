"""Dispatch events for metrics: the metrics module implements `DispatchObserver`.

`HealthObserver` adds the account-health events (operations, throttling, refused calls).
An observer that implements only `DispatchObserver` keeps working: `health_observer`
wraps it so that it sees every call, the push breaker's changes and nothing else new.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from consumer.dispatch.breaker import BreakerState
from consumer.dispatch.exchange import OTHER_STATUS

PUSH = "push"


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
        """The account's (push) circuit breaker changed state."""

    def on_token_refresh(self, provider: str, account: str) -> None:
        """A new provider token was obtained (login, refresh or re-login)."""


@runtime_checkable
class HealthObserver(DispatchObserver, Protocol):
    """A `DispatchObserver` that also tells operations and exact statuses apart, and sees
    throttling.

    `operation` is a bounded label: "push", "poll", "login", "limits" (reading an account's
    stated rate limits); `code` the exact status where it is a known one
    (`exchange.status_code`: "429", "other"), "none" without an answer.
    """

    def on_call(
        self,
        provider: str,
        account: str,
        status_class: str,
        seconds: float,
        *,
        operation: str = PUSH,
        code: str = OTHER_STATUS,
    ) -> None:
        """One HTTP request of `operation` finished (or failed on the wire) after `seconds`."""

    def on_breaker(
        self, provider: str, account: str, state: BreakerState, operation: str = PUSH
    ) -> None:
        """The circuit breaker of the account's `operation` changed state."""

    def on_throttle(self, provider: str, account: str, seconds: float) -> None:
        """The account's throttle window grew by `seconds` (the sum is the time held)."""

    def on_short_circuit(self, provider: str, account: str, operation: str) -> None:
        """A request was refused unsent: the circuit of `operation` is open."""


class NullObserver:
    """The default observer: ignores every event."""

    def on_call(
        self,
        provider: str,
        account: str,
        status_class: str,
        seconds: float,
        *,
        operation: str = PUSH,
        code: str = OTHER_STATUS,
    ) -> None:
        """Ignore."""

    def on_retry(self, provider: str, account: str, ambiguous: bool) -> None:
        """Ignore."""

    def on_breaker(
        self, provider: str, account: str, state: BreakerState, operation: str = PUSH
    ) -> None:
        """Ignore."""

    def on_token_refresh(self, provider: str, account: str) -> None:
        """Ignore."""

    def on_throttle(self, provider: str, account: str, seconds: float) -> None:
        """Ignore."""

    def on_short_circuit(self, provider: str, account: str, operation: str) -> None:
        """Ignore."""


class CoreEvents:
    """Health events for an observer that implements only `DispatchObserver`.

    Calls are reported without their operation and exact status, breaker changes only for
    push (its gauge has no operation label), throttle and short-circuit events are dropped.
    """

    __slots__ = ("_core",)

    def __init__(self, core: DispatchObserver) -> None:
        self._core = core

    def on_call(
        self,
        provider: str,
        account: str,
        status_class: str,
        seconds: float,
        *,
        operation: str = PUSH,
        code: str = OTHER_STATUS,
    ) -> None:
        """Report the call, without its operation and exact status."""
        self._core.on_call(provider, account, status_class, seconds)

    def on_retry(self, provider: str, account: str, ambiguous: bool) -> None:
        """Report the retry."""
        self._core.on_retry(provider, account, ambiguous)

    def on_breaker(
        self, provider: str, account: str, state: BreakerState, operation: str = PUSH
    ) -> None:
        """Report a change of the push breaker only."""
        if operation == PUSH:
            self._core.on_breaker(provider, account, state)

    def on_token_refresh(self, provider: str, account: str) -> None:
        """Report the token fetch."""
        self._core.on_token_refresh(provider, account)

    def on_throttle(self, provider: str, account: str, seconds: float) -> None:
        """Drop."""

    def on_short_circuit(self, provider: str, account: str, operation: str) -> None:
        """Drop."""


def health_observer(observer: DispatchObserver | None) -> HealthObserver:
    """`observer` itself when it takes the health events, else it behind `CoreEvents`."""
    if observer is None:
        return NullObserver()
    if isinstance(observer, HealthObserver):
        return observer
    return CoreEvents(observer)
