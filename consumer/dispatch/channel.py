"""One provider account's connection: pooled httpx client, concurrency cap, rate, breaker.

The httpx client runs on aiohttp's connection pool (httpx-aiohttp): a provider call costs
about a third of the CPU it costs on httpx's default transport, and does not grow with
the pool size (httpcore checks every pooled connection with system calls on every call).
This is the one boundary where transport exceptions become `consumer.errors` exceptions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from consumer.dispatch.breaker import BreakerState, CircuitBreaker
from consumer.dispatch.exchange import Answer, Request, status_class
from consumer.dispatch.limits import DispatchLimits
from consumer.dispatch.observer import DispatchObserver, NullObserver
from consumer.dispatch.ratelimit import TokenBucket
from consumer.errors import CircuitOpenError, TransportError

# Failures before any byte of the request could reach the provider: always safe to retry.
# Told apart by aiohttp's own exception (the transport's httpx exceptions chain it): the
# transport maps every aiohttp connection error, a reset mid-request included, to
# httpx.ConnectTimeout, which would make an ambiguous failure look safe to retry.
_NOT_SENT = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
_TIMEOUTS = (aiohttp.ServerTimeoutError, asyncio.TimeoutError, httpx.TimeoutException)


class AccountChannel:
    """Sends requests for one provider account within its limits.

    Every request passes the circuit breaker, then the concurrency cap, then the rate limit.
    A 5xx or a wire failure counts against the breaker; any other answer counts for it.
    """

    def __init__(
        self,
        provider: str,
        account: str,
        limits: DispatchLimits,
        observer: DispatchObserver | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.account = account
        self.limits = limits
        self.observer: DispatchObserver = observer if observer is not None else NullObserver()
        self.sleep = sleep
        self._clock = clock
        self._gate = asyncio.Semaphore(limits.concurrency)
        self._bucket = TokenBucket(limits.rate_per_s, clock=clock)
        self._breaker = CircuitBreaker(
            limits.breaker_failure_threshold,
            limits.breaker_reset_s,
            clock=clock,
            on_change=self._breaker_changed,
        )
        pool = httpx.Limits(
            max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency
        )
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(limits.timeout_s, connect=limits.connect_timeout_s),
            transport=AiohttpTransport(limits=pool),  # sets TCP_NODELAY on its sockets
            follow_redirects=False,
        )

    def share_rate(self, fraction: float) -> None:
        """Use `fraction` (0..1] of the account's request rate: this instance's share."""
        fraction = min(1.0, max(fraction, 1e-3))
        self._bucket.set_rate(self.limits.rate_per_s * fraction)

    @property
    def breaker_state(self) -> BreakerState:
        """The account's circuit breaker state."""
        return self._breaker.state

    async def send(self, request: Request) -> Answer:
        """Send one request; raise CircuitOpenError or TransportError instead of answering."""
        if not self._breaker.allow():
            raise CircuitOpenError(f"{self.provider} account {self.account!r}: circuit open")
        verdict = False
        try:
            async with self._gate:
                await self._bucket.acquire(self.sleep)
                answer = await self._send(request)
            verdict = True
        except TransportError:
            verdict = True
            self._breaker.record_failure()
            raise
        finally:
            if not verdict:
                self._breaker.release()
        if answer.status >= 500:
            self._breaker.record_failure()
        else:
            self._breaker.record_success()
        return answer

    async def _send(self, request: Request) -> Answer:
        started = self._clock()
        try:
            response = await self._http.request(
                request.method, request.url, headers=request.headers, content=request.content
            )
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as exc:
            raise self._transport_error(exc, started) from exc
        self._observe(status_class(response.status_code), started)
        headers = {name.lower(): value for name, value in response.headers.items()}
        return Answer(response.status_code, response.content, headers)

    def _transport_error(self, exc: BaseException, started: float) -> TransportError:
        cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) and exc.__cause__ else exc
        name = type(cause).__name__
        if isinstance(cause, _NOT_SENT):
            self._observe("connect_error", started)
            return TransportError(f"{name} (not sent)", ambiguous=False)
        if isinstance(cause, _TIMEOUTS):
            self._observe("timeout", started)
            return TransportError(f"{name} (may have been sent)", ambiguous=True)
        self._observe("transport_error", started)
        return TransportError(f"{name}: {cause} (may have been sent)", ambiguous=True)

    def _observe(self, label: str, started: float) -> None:
        self.observer.on_call(self.provider, self.account, label, self._clock() - started)

    def _breaker_changed(self, state: BreakerState) -> None:
        self.observer.on_breaker(self.provider, self.account, state)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()
