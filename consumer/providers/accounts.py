"""What every provider account's settings share; each provider declares its own on top.

An account is declared once, as a pydantic model in its provider's module (fields,
defaults, bounds); that model is both the settings table `[accounts.<name>]` and what the
client takes. Secrets are `SecretStr`: they print as `**********`. Per-call limits default
to the documented maxima and can only be lowered (each provider bounds them).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from consumer.dispatch.limits import DispatchLimits


class Section(BaseModel):
    """A settings table: unknown keys are errors, values are frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountSettings(Section):
    """One provider account. Providers subclass it with their own fields and bounds."""

    provider: str
    max_targets: int = Field(gt=0)
    max_body_bytes: int = Field(gt=0)
    limits: DispatchLimits = Field(default_factory=DispatchLimits)
    # How long an intent may wait for this account (from its created_at) before it is
    # EXPIRED: an hour, like Responsys' own default Message-Expiration, after which a
    # push notification is stale for most campaigns.
    max_delivery_delay_s: float = Field(default=3600.0, gt=0)


def http_url(value: str) -> str:
    """A field validator's check: `value` is an http(s) URL."""
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value


def non_blank(value: str) -> str:
    """A field validator's check: `value` has more than whitespace."""
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def secret(value: SecretStr) -> SecretStr:
    """A field validator's check: the secret is not empty."""
    if not value.get_secret_value():
        raise ValueError("must not be empty")
    return value
