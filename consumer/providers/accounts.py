"""Provider account configuration: where to call, with which credentials, within which limits.

Secrets are pydantic `SecretStr`: they print as `**********` in reprs, logs and errors.
Per-call limits default to the documented maxima and can only be lowered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from consumer.dispatch.limits import DispatchLimits
from consumer.errors import ConfigError

AZURE_MAX_TARGETS = 1000  # device ids per push call (seed)
AZURE_MAX_BODY_BYTES = 4 * 1024 * 1024  # ARM's request size cap; the seed states no number
AZURE_RESOURCE = "https://management.core.windows.net/"
RESPONSYS_MAX_TARGETS = 200  # recipients per trigger call (seed)
RESPONSYS_MAX_BODY_BYTES = 10 * 1024 * 1024  # larger payloads are dropped by the gateway


@dataclass(frozen=True, slots=True)
class AzureClientCredentials:
    """Azure AD client-credentials grant: POST `{token_url}/{tenant}/oauth2/token`."""

    token_url: str  # e.g. https://login.microsoftonline.com
    tenant: str
    client_id: str
    client_secret: SecretStr
    resource: str = AZURE_RESOURCE
    refresh_margin_s: float = 300.0  # fetch a new token this long before it expires

    def __post_init__(self) -> None:
        _require_url("token_url", self.token_url)
        _require_text(tenant=self.tenant, client_id=self.client_id)
        _require_secret("client_secret", self.client_secret)


@dataclass(frozen=True, slots=True)
class StaticToken:
    """A fixed bearer token (tests, short-lived manual runs)."""

    token: SecretStr

    def __post_init__(self) -> None:
        _require_secret("token", self.token)


@dataclass(frozen=True, slots=True)
class AzureAccount:
    """One Azure Mobile Engagement app: ARM coordinates, credentials and limits."""

    name: str
    base_url: str  # https://management.azure.com, or a simulator
    subscription_id: str
    resource_group: str
    app_collection: str
    app_name: str  # the app's resource name, not its display name
    auth: AzureClientCredentials | StaticToken
    max_targets: int = AZURE_MAX_TARGETS
    max_body_bytes: int = AZURE_MAX_BODY_BYTES
    limits: DispatchLimits = field(default_factory=DispatchLimits)

    def __post_init__(self) -> None:
        _require_url("base_url", self.base_url)
        _require_text(
            name=self.name,
            subscription_id=self.subscription_id,
            resource_group=self.resource_group,
            app_collection=self.app_collection,
            app_name=self.app_name,
        )
        _require_at_most(self.name, "max_targets", self.max_targets, AZURE_MAX_TARGETS)
        _require_at_most(self.name, "max_body_bytes", self.max_body_bytes, AZURE_MAX_BODY_BYTES)


@dataclass(frozen=True, slots=True)
class ResponsysAccount:
    """One Responsys account: login host, API user and limits."""

    name: str
    login_url: str  # the pod's login host, or a simulator
    user_name: str
    password: SecretStr
    max_targets: int = RESPONSYS_MAX_TARGETS
    max_body_bytes: int = RESPONSYS_MAX_BODY_BYTES
    limits: DispatchLimits = field(default_factory=DispatchLimits)
    token_refresh_s: float = 90 * 60.0  # refresh well before the documented 2 h lifetime
    throttle_wait_s: float = 60.0  # wait after API_LIMIT_EXCEEDED ("try again in a minute")
    message_expiration_s: int | None = None  # Message-Expiration header; provider default 3600

    def __post_init__(self) -> None:
        _require_url("login_url", self.login_url)
        _require_text(name=self.name, user_name=self.user_name)
        _require_secret("password", self.password)
        _require_at_most(self.name, "max_targets", self.max_targets, RESPONSYS_MAX_TARGETS)
        _require_at_most(self.name, "max_body_bytes", self.max_body_bytes, RESPONSYS_MAX_BODY_BYTES)
        if self.token_refresh_s <= 0 or self.throttle_wait_s < 0:
            raise ConfigError(
                f"responsys account {self.name!r}: token_refresh_s must be > 0 and "
                "throttle_wait_s >= 0"
            )
        if self.message_expiration_s is not None and self.message_expiration_s <= 0:
            raise ConfigError(f"responsys account {self.name!r}: message_expiration_s must be > 0")


Account = AzureAccount | ResponsysAccount


def _require_url(name: str, value: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")


def _require_text(**values: str) -> None:
    for name, value in values.items():
        if not value.strip():
            raise ConfigError(f"{name} must not be empty")


def _require_secret(name: str, value: object) -> None:
    if not isinstance(value, SecretStr) or not value.get_secret_value():
        raise ConfigError(f"{name} must be a non-empty SecretStr (so it never prints)")


def _require_at_most(account: str, name: str, value: int, maximum: int) -> None:
    if not 0 < value <= maximum:
        raise ConfigError(
            f"account {account!r}: {name}={value} is outside 1..{maximum} "
            "(limits can only be lowered from the documented maximum)"
        )
