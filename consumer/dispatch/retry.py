"""Retrying one provider call within its budget: backoff, account throttling, re-auth."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from consumer.dispatch.backoff import Backoff
from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer
from consumer.errors import DispatchError, TransportError

T = TypeVar("T")

# Per call: both providers' documents say to get a new token and retry once; a token refused
# right after a fresh one is not a glitch.
MAX_REAUTHS = 1


@dataclass(frozen=True, slots=True)
class Retry(Generic[T]):
    """A judge's verdict: try again; `otherwise` is the result when no try is left."""

    otherwise: T
    # the account is throttled this long (Retry-After, API_LIMIT_EXCEEDED): every call of
    # the account waits, not only this one
    wait_s: float | None = None
    reauth: bool = False  # get a fresh token first, without waiting or spending an attempt
    reason: str = "retry-after"  # why the account is throttled, for logs (with `wait_s`)


@dataclass(frozen=True, slots=True)
class Tried(Generic[T]):
    """The final result of one call, and how many tries it took.

    `attempts` counts every try, re-auth tries included (they are not charged to the
    budget). `transient` is True when the provider never said no: the budget ran out on
    retriable faults (5xx, 429, throttling, timeouts, connection errors) or the circuit is
    open, so the same call may succeed later. It is False for a verdict of the provider
    and for an ambiguous failure that may not be resent (`retry_ambiguous` off): sending
    it again later could push twice.
    """

    value: T
    attempts: int
    ambiguous_retries: int = 0
    transient: bool = False


class Retrier:
    """Runs `attempt` until the judge accepts an answer or the budget is spent."""

    def __init__(self, channel: AccountChannel, backoff: Backoff | None = None) -> None:
        self._channel = channel
        limits = channel.limits
        self._backoff = backoff or Backoff(limits.backoff_base_s, limits.backoff_max_s)

    async def run(
        self,
        attempt: Callable[[], Awaitable[Answer]],
        judge: Callable[[Answer], T | Retry[T]],
        failed: Callable[[DispatchError], T],
        reauth: Callable[[], Awaitable[None]] | None = None,
    ) -> Tried[T]:
        """Try, judge, and retry as told; never raises DispatchError.

        `failed` turns a wire failure, an open circuit or an auth failure into a result.
        An open circuit ends the call at once (transient): trying again within the call
        would only spin against it.
        """
        limits = self._channel.limits
        attempts = ambiguous_retries = retries = reauths = 0
        while True:
            attempts += 1
            ambiguous = False
            try:
                answer = await attempt()
            except DispatchError as err:
                ambiguous = isinstance(err, TransportError) and err.ambiguous
                if ambiguous and not limits.retry_ambiguous:
                    return Tried(failed(err), attempts, ambiguous_retries, transient=False)
                if not err.retriable:
                    return Tried(failed(err), attempts, ambiguous_retries, err.transient)
                verdict: T | Retry[T] = Retry(failed(err))
            else:
                verdict = judge(answer)
            if not isinstance(verdict, Retry):
                return Tried(verdict, attempts, ambiguous_retries)
            if verdict.reauth:
                if reauths >= MAX_REAUTHS or reauth is None:
                    return Tried(verdict.otherwise, attempts, ambiguous_retries)
                reauths += 1
                try:
                    await reauth()
                except DispatchError as err:
                    return Tried(failed(err), attempts, ambiguous_retries, err.transient)
                continue
            waits_s = min(verdict.wait_s, limits.max_wait_s) if verdict.wait_s is not None else 0.0
            if attempts - reauths >= limits.max_attempts or waits_s > limits.max_call_wait_s:
                # The budget is spent, or the window is too long to wait in line: end the
                # call; its intents are parked durably. A window the answer set still holds
                # the account, so no other call resets it by sending early.
                if verdict.wait_s is not None:
                    self._channel.throttle(waits_s, verdict.reason)
                return Tried(verdict.otherwise, attempts, ambiguous_retries, transient=True)
            retries += 1
            ambiguous_retries += ambiguous
            self._channel.observer.on_retry(
                self._channel.provider, self._channel.account, ambiguous
            )
            await self._wait(verdict, retries)

    async def _wait(self, verdict: Retry[T], retry: int) -> None:
        if verdict.wait_s is None:
            await self._channel.sleep(self._backoff.delay(retry))
        else:
            # the account's window (capped by max_wait_s): every call of the account waits
            await self._channel.throttle_and_wait(verdict.wait_s, verdict.reason)
