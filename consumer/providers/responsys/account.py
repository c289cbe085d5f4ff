"""`[accounts.<name>]` with `provider = "responsys"`: one Responsys account."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from consumer.providers.accounts import AccountSettings, http_url, non_blank, secret

MAX_TARGETS = 200  # recipients per trigger call (seed)
# "10 MB" (the seed), read as the smaller 10,000,000 bytes: larger payloads are dropped
MAX_BODY_BYTES = 10_000_000


class ResponsysAccount(AccountSettings):
    """The login host, the API user and the call limits."""

    provider: Literal["responsys"] = "responsys"
    login_url: str  # the pod's login host, or a simulator
    user_name: str
    password: SecretStr
    max_targets: int = Field(default=MAX_TARGETS, gt=0, le=MAX_TARGETS)
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, gt=0, le=MAX_BODY_BYTES)
    # Refresh well before the documented 2 h token lifetime.
    token_refresh_s: float = Field(default=90 * 60.0, gt=0)
    # Wait after API_LIMIT_EXCEEDED ("try again in a minute").
    throttle_wait_s: float = Field(default=60.0, ge=0)
    # The Message-Expiration header in seconds; None leaves the provider's default (3600).
    message_expiration_s: int | None = Field(default=None, gt=0)

    _url = field_validator("login_url")(http_url)
    _user = field_validator("user_name")(non_blank)
    _password = field_validator("password")(secret)
