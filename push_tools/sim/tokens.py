"""Access tokens a simulator has issued, with their simulated expiry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from consumer.errors import ConfigError


class TokenState(Enum):
    """What a presented token is."""

    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token handed out at `issued_at_s`, valid until `expires_at_s` (simulated epoch s)."""

    value: str
    subject: str
    issued_at_s: float
    expires_at_s: float


class TokenStore:
    """Issues tokens, checks them, expires them on demand. A static token never expires."""

    __slots__ = ("_mint", "_static", "_tokens", "_ttl_s")

    def __init__(self, ttl_s: float, mint: Callable[[], str], static: str | None = None) -> None:
        if not ttl_s > 0:
            raise ConfigError(f"token TTL must be > 0 seconds, got {ttl_s!r}")
        self._ttl_s = ttl_s
        self._mint = mint
        self._static = static or None
        self._tokens: dict[str, IssuedToken] = {}

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    def issue(self, now_s: float, subject: str = "") -> IssuedToken:
        token = IssuedToken(self._mint(), subject, now_s, now_s + self._ttl_s)
        self._tokens[token.value] = token
        return token

    def check(self, value: str, now_s: float) -> tuple[TokenState, IssuedToken | None]:
        if self._static is not None and value == self._static:
            return TokenState.VALID, None
        token = self._tokens.get(value)
        if token is None:
            return TokenState.UNKNOWN, None
        if now_s >= token.expires_at_s:
            return TokenState.EXPIRED, token
        return TokenState.VALID, token

    def expire_all(self, now_s: float) -> int:
        """Make every issued token expired as of `now_s` (the static token stays valid)."""
        live = [t for t in self._tokens.values() if t.expires_at_s > now_s]
        for token in live:
            self._tokens[token.value] = IssuedToken(
                token.value, token.subject, token.issued_at_s, now_s
            )
        return len(live)
