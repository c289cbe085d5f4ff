"""One provider account's connection: pooled httpx client, concurrency cap, rate, breaker.

This is the one boundary where httpx exceptions become `consumer.errors` exceptions.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import httpx

from consumer.dispatch.breaker import BreakerState, CircuitBreaker
from consumer.dispatch.exchange import Answer, Request, status_class
from consumer.dispatch.limits import DispatchLimits
from consumer.dispatch.observer import DispatchObserver, NullObserver
from consumer.dispatch.ratelimit import TokenBucket
from consumer.errors import CircuitOpenError, TransportError

# Failures before any byte of the request could reach the provider: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


_NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


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
            # httpcore writes headers and body separately: without TCP_NODELAY, Nagle holds
            # the body for the peer's delayed ACK (~40 ms per call on a kept-alive connection).
            transport=httpx.AsyncHTTPTransport(limits=pool, socket_options=_NODELAY),
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
        except _NOT_SENT as exc:
            self._observe("connect_error", started)
            raise TransportError(f"{type(exc).__name__} (not sent)", ambiguous=False) from exc
        except httpx.TimeoutException as exc:
            self._observe("timeout", started)
            raise TransportError(
                f"{type(exc).__name__} (may have been sent)", ambiguous=True
            ) from exc
        except httpx.TransportError as exc:
            self._observe("transport_error", started)
            raise TransportError(
                f"{type(exc).__name__} (may have been sent)", ambiguous=True
            ) from exc
        self._observe(status_class(response.status_code), started)
        headers = {name.lower(): value for name, value in response.headers.items()}
        return Answer(response.status_code, response.content, headers)

    def _observe(self, label: str, started: float) -> None:
        self.observer.on_call(self.provider, self.account, label, self._clock() - started)

    def _breaker_changed(self, state: BreakerState) -> None:
        self.observer.on_breaker(self.provider, self.account, state)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()
