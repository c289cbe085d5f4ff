"""One provider account's connection: pooled httpx transport, concurrency cap, rate, breaker.

Requests go through `Http1Transport` (HTTP/1.1 on asyncio, parsed by httptools): a provider
call costs about half the client CPU it cost through aiohttp's pool (httpx-aiohttp), and an
eighth of what httpx's default transport costs. They are handed to the transport directly,
not through `httpx.AsyncClient` (see `AccountChannel._exchange`). This is the one boundary
where transport exceptions become `consumer.errors` exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache, partial

import httpx

from consumer import __version__
from consumer.dispatch.breaker import BreakerState, CircuitBreaker
from consumer.dispatch.exchange import NO_RESPONSE, Answer, Request, status_class, status_code
from consumer.dispatch.http1 import Http1Transport
from consumer.dispatch.limits import DispatchLimits
from consumer.dispatch.observer import PUSH, DispatchObserver, health_observer
from consumer.dispatch.ratelimit import TokenBucket
from consumer.dispatch.throttle import Throttle
from consumer.errors import CircuitOpenError, ThrottledError, TransportError

log = logging.getLogger(__name__)

# Parsing a URL string is most of what httpx spends building a request (build_request: ~120
# us with a string, ~40 us with a parsed URL, measured); a provider calls a few URLs (one per
# endpoint, campaign or list) over and over, so each is parsed once. Bounded: campaigns churn.
_parsed_url = lru_cache(maxsize=4096)(httpx.URL)

# What httpx.AsyncClient added that matters: a name, and only the encodings httpx's Response
# always decodes.
_DEFAULT_HEADERS = {
    "User-Agent": f"push-dispatch/{__version__}",
    "Accept-Encoding": "gzip, deflate",
}

# Failures before any byte of the request could reach the provider: always safe to retry.
# A header that would split the request (`LocalProtocolError`) is refused before it leaves.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
)
_TIMEOUTS = (asyncio.TimeoutError, httpx.TimeoutException)


class AccountChannel:
    """Sends requests for one provider account within its limits.

    Every request passes its operation's circuit breaker ("push", "poll", "login": one each,
    so a failing poll path never stops pushes), then the concurrency cap, then the rate
    limit, then the account's throttle window (a Retry-After holds every operation). A 5xx
    or a wire failure counts against the breaker; any other answer counts for it.
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
        uniform: Callable[[float, float], float] = random.uniform,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.account = account
        self.limits = limits
        self._events = health_observer(observer)
        self.observer: DispatchObserver = self._events if observer is None else observer
        self.sleep = sleep
        self._clock = clock
        self._uniform = uniform
        self._gate = asyncio.Semaphore(limits.concurrency)
        self._bucket = TokenBucket(limits.rate_per_s, clock=clock)
        # an operation's own limit where the provider states one (Responsys' per-function
        # requests per minute), in requests per second for the whole account
        self._operation_rates: dict[str, float] = {}
        self._operation_buckets: dict[str, TokenBucket] = {}
        self._share = 1.0
        self._throttle = Throttle(clock)
        self._breakers: dict[str, CircuitBreaker] = {}
        # the read, connect and pool timeouts, as httpx.AsyncClient hands them to a transport
        self._timeout = httpx.Timeout(limits.timeout_s, connect=limits.connect_timeout_s).as_dict()
        # the gate above bounds the requests at once, so the pool keeps that many idle at most;
        # tests pass a mock transport
        self._transport = (
            transport if transport is not None else Http1Transport(max_idle=limits.concurrency)
        )

    def share_rate(self, fraction: float) -> None:
        """Use `fraction` (0..1] of the account's request rates: this instance's share."""
        self._share = min(1.0, max(fraction, 1e-3))
        self._bucket.set_rate(self.limits.rate_per_s * self._share)
        for operation, rate_per_s in self._operation_rates.items():
            self._operation_buckets[operation].set_rate(rate_per_s * self._share)

    def limit_operation(self, operation: str, rate_per_s: float) -> None:
        """Send `operation`'s requests at most `rate_per_s` for the account (shared as above)."""
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        self._operation_rates[operation] = rate_per_s
        bucket = self._operation_buckets.get(operation)
        if bucket is None:
            self._operation_buckets[operation] = TokenBucket(
                rate_per_s * self._share, clock=self._clock
            )
        else:
            bucket.set_rate(rate_per_s * self._share)

    @property
    def breaker_state(self) -> BreakerState:
        """The state of the account's push circuit breaker."""
        return self.breaker_state_of(PUSH)

    def breaker_state_of(self, operation: str) -> BreakerState:
        """The state of the circuit breaker of `operation` (CLOSED if it never ran)."""
        breaker = self._breakers.get(operation)
        return breaker.state if breaker is not None else BreakerState.CLOSED

    def throttle(self, wait_s: float, reason: str = "retry-after") -> None:
        """Hold every request of the account for `wait_s` (at most `max_wait_s`) from now.

        Extends, never shortens, a window already set.
        """
        self._hold(wait_s, reason, self._clock())

    async def throttle_and_wait(self, wait_s: float, reason: str = "retry-after") -> None:
        """`throttle`, then wait the window out: what a call told to wait does before its retry."""
        now = self._clock()
        self._hold(wait_s, reason, now)
        # bounded like a call's wait in line; the retry's send says whether it may go
        await self._throttle.wait(self.sleep, now=now, budget_s=self.limits.max_call_wait_s)

    def _hold(self, wait_s: float, reason: str, now: float) -> None:
        starts = self._throttle.remaining_s() <= 0
        grown = self._throttle.hold(min(wait_s, self.limits.max_wait_s), reason, now=now)
        if grown > 0:
            # a line per window, not per 429 of the calls that were already in flight
            log.log(
                logging.INFO if starts else logging.DEBUG,
                "%s account %r throttled for %.1f s more (%s)",
                self.provider,
                self.account,
                grown,
                reason,
            )
            self._events.on_throttle(self.provider, self.account, grown)

    def throttled_until_s(self) -> float | None:
        """The monotonic time the account's throttle window ends, or None when not held."""
        return self._throttle.until_s()

    def throttle_remaining_s(self) -> float:
        """Seconds until the account's requests may leave again (0.0 when not held)."""
        return self._throttle.remaining_s()

    @property
    def throttled(self) -> bool:
        """True while the account's throttle window holds its requests."""
        return self._throttle.remaining_s() > 0

    async def send(self, request: Request, operation: str = PUSH) -> Answer:
        """Send one request; raise CircuitOpenError or TransportError instead of answering."""
        if self._throttle.remaining_s() > self.limits.max_call_wait_s:
            raise self._throttled()
        breaker = self._breaker(operation)
        if not breaker.allow():
            self._events.on_short_circuit(self.provider, self.account, operation)
            raise CircuitOpenError(
                f"{self.provider} account {self.account!r}: {operation} circuit open"
            )
        verdict = False
        try:
            operation_bucket = self._operation_buckets.get(operation)
            if operation_bucket is not None:
                # outside the gate: polls waiting for their own limit hold no room pushes need
                await operation_bucket.acquire(self.sleep)
            async with self._gate:
                await self._bucket.acquire(self.sleep)
                # no await between this wait and the send: nothing leaves inside a window
                if not await self._throttle.wait(self.sleep, budget_s=self.limits.max_call_wait_s):
                    raise self._throttled()
                answer = await self._send(request, operation)
            verdict = True
        except TransportError:
            verdict = True
            breaker.record_failure()
            raise
        finally:
            if not verdict:
                breaker.release()
        if answer.status >= 500:
            breaker.record_failure()
        else:
            breaker.record_success()
        return answer

    def _throttled(self) -> ThrottledError:
        return ThrottledError(
            f"{self.provider} account {self.account!r}: throttled for another"
            f" {self._throttle.remaining_s():.1f}s ({self._throttle.reason})"
        )

    def _breaker(self, operation: str) -> CircuitBreaker:
        breaker = self._breakers.get(operation)
        if breaker is None:
            breaker = CircuitBreaker(
                self.limits.breaker_failure_threshold,
                self.limits.breaker_reset_s,
                clock=self._clock,
                on_change=partial(self._breaker_changed, operation),
                max_reset_s=self.limits.breaker_reset_cap_s,
                uniform=self._uniform,
            )
            self._breakers[operation] = breaker
        return breaker

    async def _send(self, request: Request, operation: str) -> Answer:
        started = self._clock()
        try:
            answer = await self._exchange(request)
        except (TimeoutError, httpx.TransportError) as exc:
            raise self._transport_error(exc, started, operation) from exc
        status = answer.status
        self._observe(status_class(status), started, operation, status_code(status))
        return answer

    async def _exchange(self, request: Request) -> Answer:
        """One request through the transport, its answer read whole.

        Not through `httpx.AsyncClient`: its layers (merged default headers, the cookie
        jar, the auth and redirect generators, event hooks) were a third of a call's CPU in
        httpx and its transport, and the providers use none of them: they authenticate by header,
        never redirect, and set no cookies. Measured on the simulators at 250 intents/s (two
        intents a call): 1,563 -> 1,420 us of pipeline CPU per intent. Timeouts are the
        transport's, as before.
        """
        outgoing = httpx.Request(
            request.method,
            _parsed_url(request.url),
            headers=request.headers,
            content=request.content,
            extensions={"timeout": self._timeout},
        )
        for name, value in _DEFAULT_HEADERS.items():  # a provider's own, in any case, wins
            outgoing.headers.setdefault(name, value)
        response = await self._transport.handle_async_request(outgoing)
        try:
            body = await response.aread()  # decoded; read to its end, the stream closes
        finally:
            await response.aclose()
        headers = {name.lower(): value for name, value in response.headers.items()}
        return Answer(response.status_code, body, headers)

    def _transport_error(
        self, exc: BaseException, started: float, operation: str
    ) -> TransportError:
        name = type(exc).__name__
        if isinstance(exc, _NOT_SENT):
            self._observe("connect_error", started, operation)
            return TransportError(f"{name}: {exc} (not sent)", ambiguous=False)
        if isinstance(exc, _TIMEOUTS):
            self._observe("timeout", started, operation)
            return TransportError(f"{name} (may have been sent)", ambiguous=True)
        self._observe("transport_error", started, operation)
        return TransportError(f"{name}: {exc} (may have been sent)", ambiguous=True)

    def _observe(self, label: str, started: float, operation: str, code: str = NO_RESPONSE) -> None:
        seconds = self._clock() - started
        self._events.on_call(
            self.provider, self.account, label, seconds, operation=operation, code=code
        )

    def _breaker_changed(self, operation: str, state: BreakerState) -> None:
        self._events.on_breaker(self.provider, self.account, state, operation)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._transport.aclose()
