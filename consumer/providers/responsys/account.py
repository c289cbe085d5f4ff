"""`[accounts.<name>]` with `provider = "responsys"`: one Responsys account."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from consumer.dispatch.limits import DispatchLimits
from consumer.providers.accounts import AccountSettings, http_url, non_blank, secret
from consumer.providers.responsys.wire import (
    CAPACITY_WAIT_S,
    THROTTLED_WAIT_S,
    UNRECOVERABLE_WAIT_S,
    Waits,
)

MAX_TARGETS = 200  # recipients per trigger call (seed)
# "10 MB" (the seed), read as the smaller 10,000,000 bytes: larger payloads are dropped
MAX_BODY_BYTES = 10_000_000
# Oracle's advice for an outage (no answer, or a 503): retry at most every 2 minutes, "so the
# API login is not disabled". So a circuit that stays open (failures in a row) probes again
# up to this far apart, unless `limits.breaker_max_reset_s` says otherwise; scattered faults
# never open it.
OUTAGE_PROBE_S = 120.0
TOKEN_LIFETIME_S = 2 * 3600.0  # the current developer guide's


class ResponsysAccount(AccountSettings):
    """The login host, the API user and the call limits."""

    provider: Literal["responsys"] = "responsys"
    login_url: str  # the pod's login host, or a simulator
    user_name: str
    password: SecretStr
    max_targets: int = Field(default=MAX_TARGETS, gt=0, le=MAX_TARGETS)
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, gt=0, le=MAX_BODY_BYTES)
    # Refresh well before the documented 2 h token lifetime (a 3 h one on an older page):
    # a refresh due after 2 h would use an expired token.
    token_refresh_s: float = Field(default=90 * 60.0, gt=0, lt=TOKEN_LIFETIME_S)
    # How long answers hold the account: API_LIMIT_EXCEEDED ("try again in a minute"),
    # INTERNAL_CAPACITY_LIMIT_EXCEEDED (tried again each minute of its 10-minute window),
    # UNRECOVERABLE_EXCEPTION (Oracle: wait about 30 s and resubmit).
    throttle_wait_s: float = Field(default=THROTTLED_WAIT_S, ge=0)
    capacity_wait_s: float = Field(default=CAPACITY_WAIT_S, ge=0)
    unrecoverable_wait_s: float = Field(default=UNRECOVERABLE_WAIT_S, ge=0)
    # The Message-Expiration header in seconds; None leaves the provider's default (3600).
    message_expiration_s: int | None = Field(default=None, gt=0)

    limits: DispatchLimits = Field(
        default_factory=lambda: DispatchLimits(breaker_max_reset_s=OUTAGE_PROBE_S)
    )

    @field_validator("limits")
    @classmethod
    def _probe_an_outage_slowly(cls, limits: DispatchLimits) -> DispatchLimits:
        if limits.breaker_max_reset_s is not None:
            return limits
        return replace(limits, breaker_max_reset_s=max(OUTAGE_PROBE_S, limits.breaker_reset_s))

    @property
    def waits(self) -> Waits:
        """How long this account's holding answers hold it."""
        return Waits(self.throttle_wait_s, self.capacity_wait_s, self.unrecoverable_wait_s)

    _url = field_validator("login_url")(http_url)
    _user = field_validator("user_name")(non_blank)
    _password = field_validator("password")(secret)
