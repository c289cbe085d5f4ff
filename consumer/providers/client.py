"""What every provider client shares: the account channel, retries with re-authentication,
the rate share, the body size a 413 taught, and close.

A provider's client subclasses `ClientBase` and adds how a planned call becomes a request
and how its answer is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer, Request
from consumer.dispatch.observer import DispatchObserver
from consumer.dispatch.retry import Retrier, Retry, Tried
from consumer.errors import DispatchError
from consumer.providers.accounts import AccountSettings

C = TypeVar("C")
R = TypeVar("R")
A = TypeVar("A", bound=AccountSettings)


class Credentials(Protocol[C]):
    """Gives what the next call authenticates with; forgets what the provider refused."""

    async def current(self) -> C:
        """Credentials believed valid now (a token, a session)."""
        ...

    def invalidate(self, used: C) -> None:
        """The provider refused `used`: do not hand it out again."""
        ...


class ClientBase(Generic[A, C]):
    """One account's channel, retrier and credentials, shared by every provider client."""

    provider_name: str = ""  # set by each provider's client class

    def __init__(
        self,
        name: str,
        account: A,
        observer: DispatchObserver | None = None,
        channel: AccountChannel | None = None,
    ) -> None:
        self.name = name
        self.account = account
        self.channel = channel or AccountChannel(self.provider_name, name, account.limits, observer)
        self.retrier = Retrier(self.channel)
        self._body_bytes = account.max_body_bytes

    @property
    def provider(self) -> str:
        """The provider's name."""
        return self.provider_name

    @property
    def max_targets(self) -> int:
        """Targets per call: the account's limit."""
        return self.account.max_targets

    @property
    def max_body_bytes(self) -> int:
        """Body bytes per call: the account's limit, or less once a 413 taught it."""
        return self._body_bytes

    @property
    def max_delivery_delay_s(self) -> float:
        """How long an intent may wait for this account (from its created_at)."""
        return self.account.max_delivery_delay_s

    def throttled_for_s(self) -> float:
        """Seconds the account's throttle window still holds every call."""
        return self.channel.throttle_remaining_s()

    def too_large(self, body_bytes: int) -> int:
        """A body of `body_bytes` got a 413: later calls stay below it; return the new limit.

        Halving what was refused finds the real limit in a few steps, and the batcher
        plans every later call within it instead of learning it again call by call.
        """
        self._body_bytes = max(1, min(self._body_bytes, body_bytes // 2))
        return self._body_bytes

    def share_rate(self, fraction: float) -> None:
        """This instance's share of the account's request rate."""
        self.channel.share_rate(fraction)

    async def call(
        self,
        credentials: Credentials[C],
        request: Callable[[C], Request],
        judge: Callable[[Answer], R | Retry[R]],
        failed: Callable[[DispatchError], R],
    ) -> Tried[R]:
        """One call with retries; a refused credential is renewed once and tried again."""
        used: list[C] = []

        async def attempt() -> Answer:
            used[:] = [await credentials.current()]
            return await self.channel.send(request(used[0]))

        async def reauth() -> None:
            if used:
                credentials.invalidate(used[0])

        return await self.retrier.run(attempt, judge, failed, reauth)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.channel.aclose()
