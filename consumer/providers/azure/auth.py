"""Azure AD bearer tokens: client credentials cached until shortly before expiry, or static."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from pydantic import SecretStr

from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer, Request
from consumer.errors import AuthError

FORM = "application/x-www-form-urlencoded"
AZURE_RESOURCE = "https://management.core.windows.net/"


@dataclass(frozen=True, slots=True)
class AzureClientCredentials:
    """Azure AD client-credentials grant: POST `{token_url}/{tenant}/oauth2/token`."""

    token_url: str  # e.g. https://login.microsoftonline.com
    tenant: str
    client_id: str
    client_secret: SecretStr
    resource: str = AZURE_RESOURCE
    refresh_margin_s: float = 300.0  # fetch a new token this long before it expires


@dataclass(frozen=True, slots=True)
class StaticToken:
    """A fixed bearer token (tests, short-lived manual runs)."""

    token: SecretStr


class AzureTokenSource(Protocol):
    """Gives the bearer token for the next call; forgets a token the provider refused."""

    async def current(self) -> str:
        """A token believed valid now."""
        ...

    def invalidate(self, token: str) -> None:
        """The provider answered 401 to `token`: do not hand it out again."""
        ...


class StaticTokenSource:
    """Always the configured token (a 401 cannot be healed by refreshing)."""

    def __init__(self, config: StaticToken) -> None:
        self._token = config.token

    async def current(self) -> str:
        """The configured token."""
        return self._token.get_secret_value()

    def invalidate(self, token: str) -> None:
        """Nothing to refresh."""


class ClientCredentialsTokenSource:
    """Fetches tokens with the client-credentials grant and caches them until near expiry."""

    def __init__(
        self,
        channel: AccountChannel,
        config: AzureClientCredentials,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channel = channel
        self._config = config
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    async def current(self) -> str:
        """The cached token, or a new one when it is missing or near expiry."""
        async with self._lock:  # one fetch at a time; waiters reuse its token
            if self._token is None or self._clock() >= self._refresh_at:
                answer = await self._channel.send(self._request(), operation="login")
                wait_s = answer.retry_after_s() if answer.status == 429 else None
                if wait_s is not None:
                    # the account is throttled, not the token: every call waits the window
                    self._channel.throttle(wait_s)
                self._token, lifetime_s = read_token_answer(answer)
                margin_s = min(self._config.refresh_margin_s, lifetime_s / 5)
                self._refresh_at = self._clock() + lifetime_s - margin_s
                self._channel.observer.on_token_refresh(
                    self._channel.provider, self._channel.account
                )
            return self._token

    def invalidate(self, token: str) -> None:
        """Drop `token` unless a newer one already replaced it."""
        if self._token == token:
            self._token = None

    def _request(self) -> Request:
        config = self._config
        form = {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret.get_secret_value(),
            "resource": config.resource,
        }
        return Request(
            "POST",
            f"{config.token_url.rstrip('/')}/{config.tenant}/oauth2/token",
            {"Content-Type": FORM, "Accept": "application/json"},
            urlencode(form).encode("ascii"),
        )


def read_token_answer(answer: Answer) -> tuple[str, float]:
    """The access token and its remaining lifetime in seconds, from a token endpoint answer.

    AAD v1 sends `expires_in` / `expires_on` as strings holding numbers.
    """
    body = answer.json()
    if answer.status != 200 or not isinstance(body, dict):
        code = _aad_error_code(body) or f"HTTP_{answer.status}"
        raise AuthError(
            f"Azure AD token request failed: HTTP {answer.status} {code}",
            retriable=answer.status >= 500 or answer.status == 429,
            http_status=answer.status,
            error_code="AUTH_FAILED",
        )
    token = body.get("access_token")
    lifetime_s = _lifetime_s(body)
    if not isinstance(token, str) or not token or lifetime_s is None:
        raise AuthError(
            "Azure AD token answer lacks access_token or a numeric expires_in/expires_on",
            retriable=False,
            http_status=answer.status,
            error_code="AUTH_FAILED",
        )
    return token, lifetime_s


def _lifetime_s(body: dict[str, object]) -> float | None:
    try:
        if body.get("expires_in") is not None:
            return max(0.0, float(str(body["expires_in"])))
        if body.get("expires_on") is not None:
            # Absolute epoch seconds: the one place a wall clock is needed, to get a duration.
            return max(0.0, float(str(body["expires_on"])) - time.time())
    except ValueError:
        return None
    return None


def _aad_error_code(body: object) -> str | None:
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str):
        return error  # AAD: {"error": "invalid_client", "error_description": ...}
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return str(error["code"])  # ARM style: {"error": {"code", "message"}}
    return None
