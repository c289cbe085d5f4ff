"""Responsys session: password login, the returned `endPoint`, proactive token refresh."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer, Request
from consumer.errors import AuthError, DispatchError
from consumer.providers.responsys.account import ResponsysAccount
from consumer.providers.responsys.wire import RATELIMIT_PATH, THROTTLED, read_rate_limits

log = logging.getLogger(__name__)

AUTH_PATH = "/rest/api/v1.3/auth/token"
# The share of each stated per-minute limit used: the provider counts in minutes, the bucket
# in seconds, and the two windows do not line up.
LIMIT_SHARE = 0.9
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Session:
    """A token and the base URL every later call uses."""

    token: str
    endpoint: str
    issued_at: float  # monotonic


class ResponsysSession:
    """Logs in once, refreshes before `token_refresh_s`, logs in again when told to."""

    def __init__(
        self,
        channel: AccountChannel,
        account: ResponsysAccount,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channel = channel
        self._account = account
        self._clock = clock
        self._lock = asyncio.Lock()
        self._session: Session | None = None

    async def current(self) -> Session:
        """A session believed valid now: logged in, or refreshed when it is getting old."""
        async with self._lock:
            session = self._session
            if session is None:
                session = await self._login()
                await self._learn_limits(session)
            elif self._clock() - session.issued_at >= self._account.token_refresh_s:
                session = await self._refresh(session)
            self._session = session
            return session

    def invalidate(self, used: Session) -> None:
        """The provider answered INVALID_TOKEN to `used`: log in again on next use."""
        if self._session is not None and self._session.token == used.token:
            self._session = None

    async def _login(self) -> Session:
        form = {
            "user_name": self._account.user_name,
            "password": self._account.password.get_secret_value(),
            "auth_type": "password",
        }
        request = self._request(self._account.login_url, form, {})
        answer = await self._channel.send(request, operation="login")
        return self._started(self._read(answer, fallback_endpoint=None))

    async def _refresh(self, session: Session) -> Session:
        """A new token from the current one, asked of the `endPoint` like every later call."""
        headers = {"Authorization": session.token}
        request = self._request(session.endpoint, {"auth_type": "token"}, headers)
        try:
            answer = await self._channel.send(request, operation="login")
            return self._started(self._read(answer, fallback_endpoint=session.endpoint))
        except DispatchError as err:
            if err.error_code == THROTTLED:
                raise  # logins are throttled too: a password login now would only add one
            return await self._login()  # a refused refresh is healed by a fresh login

    async def _learn_limits(self, session: Session) -> None:
        """Pace pushes, polls and logins to the account's stated per-minute limits.

        Read after each password login; an account that states none, or an answer that
        cannot be read, leaves the configured rate alone (and is logged, never raised).
        """
        url = session.endpoint.rstrip("/") + RATELIMIT_PATH
        headers = {"Authorization": session.token, "Accept": "application/json"}
        try:
            answer = await self._channel.send(Request("GET", url, headers), operation="limits")
        except DispatchError as err:
            log.warning(
                "Responsys account %r: rate limits not read (%s)", self._channel.account, err
            )
            return
        limits = read_rate_limits(answer)
        if not limits:
            log.warning(
                "Responsys account %r: rate limits not read (HTTP %d %s)",
                self._channel.account,
                answer.status,
                answer.excerpt(80),
            )
            return
        for operation, per_minute in limits.items():
            self._channel.limit_operation(operation, per_minute * LIMIT_SHARE / 60)
        log.info(
            "Responsys account %r paced to its limits per minute: %s", self._channel.account, limits
        )

    def _read(self, answer: Answer, fallback_endpoint: str | None) -> tuple[str, str]:
        """`read_login_answer`; a throttled login holds the account's calls for the wait."""
        try:
            return read_login_answer(answer, fallback_endpoint)
        except AuthError as err:
            if err.error_code == THROTTLED:
                self._channel.throttle(self._account.throttle_wait_s, THROTTLED)
            raise

    def _started(self, token_and_endpoint: tuple[str, str]) -> Session:
        token, endpoint = token_and_endpoint
        self._channel.observer.on_token_refresh(self._channel.provider, self._channel.account)
        return Session(token, endpoint, self._clock())

    @staticmethod
    def _request(host: str, form: dict[str, str], headers: dict[str, str]) -> Request:
        url = host.rstrip("/") + AUTH_PATH
        all_headers = {"Content-Type": FORM, "Accept": "application/json", **headers}
        return Request("POST", url, all_headers, urlencode(form).encode("ascii"))


def read_login_answer(answer: Answer, fallback_endpoint: str | None) -> tuple[str, str]:
    """The token and endPoint from a login/refresh answer `{authToken, issuedAt, endPoint}`."""
    body = answer.json()
    if answer.status != 200 or not isinstance(body, dict):
        code = body.get("errorCode") if isinstance(body, dict) else None
        # Throttled: not retried within the call (the account waits out the minute), but
        # transient: the intents wait for it rather than fail.
        throttled = code == THROTTLED or answer.status == 429
        raise AuthError(
            f"Responsys login failed: HTTP {answer.status} {code or answer.excerpt(80)}",
            retriable=answer.status >= 500 and not throttled,
            transient=throttled or answer.status >= 500,
            http_status=answer.status,
            error_code=THROTTLED if throttled else str(code) if code else "AUTH_FAILED",
        )
    token = body.get("authToken")
    endpoint = body.get("endPoint") or fallback_endpoint
    if not isinstance(token, str) or not token or not isinstance(endpoint, str):
        raise AuthError(
            "Responsys login answer lacks authToken or endPoint",
            retriable=False,
            http_status=answer.status,
            error_code="AUTH_FAILED",
        )
    if not endpoint.startswith(("http://", "https://")):
        endpoint = "https://" + endpoint
    return token, endpoint
