"""One typed, frozen settings object: a TOML file, overridden by environment variables.

Every value can be set by env as `PUSH_<SECTION>__<NAME>` (for example
`PUSH_KAFKA__BOOTSTRAP_SERVERS`, `PUSH_PIPELINE__LINGER_MS`,
`PUSH_ACCOUNTS__<ACCOUNT>__PASSWORD`). Secrets are `SecretStr` and print masked. Settings
are checked once at start; each wrong or missing value is named in a `ConfigError`.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from consumer.dispatch.limits import DispatchLimits
from consumer.errors import ConfigError
from consumer.providers.accounts import (
    AZURE_MAX_BODY_BYTES,
    AZURE_MAX_TARGETS,
    RESPONSYS_MAX_BODY_BYTES,
    RESPONSYS_MAX_TARGETS,
    Account,
    AzureAccount,
    AzureClientCredentials,
    ResponsysAccount,
    StaticToken,
)

ENV_PREFIX = "PUSH_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "push-dispatch"
    # Passed through to librdkafka as they are (security.protocol, sasl.*, ssl.* ...).
    client: dict[str, str] = Field(default_factory=dict)
    session_timeout_ms: int = Field(default=45_000, gt=0)
    max_poll_interval_ms: int = Field(default=300_000, gt=0)

    def client_config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap_servers, **self.client}


class TopicSettings(_Section):
    intents: str = Field(default="push.intents", min_length=1)
    outcomes: str = Field(default="push.outcomes", min_length=1)
    dlq: str = Field(default="push.intents.dlq", min_length=1)
    pending: str = Field(default="push.async-pending", min_length=1)


class PipelineSettings(_Section):
    linger_ms: int = Field(default=50, ge=0, le=60_000)
    max_in_flight_intents: int = Field(default=5_000, gt=0)
    max_in_flight_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    consume_batch: int = Field(default=1000, gt=0, le=100_000)
    commit_interval_ms: int = Field(default=200, gt=0)
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    max_targets_per_intent: int = Field(default=100_000, gt=0)


class StatusSettings(_Section):
    enabled: bool = True
    deadline_s: float = Field(default=23 * 3600.0, gt=0)
    first_poll_s: float = Field(default=2.0, gt=0)
    max_poll_interval_s: float = Field(default=60.0, gt=0)
    max_broken_answers: int = Field(default=5, gt=0)
    group_id: str = "push-dispatch-status"


class MetricsSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(default=9464, ge=0, le=65535)


class RegistrySettings(_Section):
    url: str | None = None


class LimitSettings(_Section):
    concurrency: int = Field(default=8, gt=0)
    rate_per_s: float = Field(default=20.0, gt=0)
    timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=4, gt=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    max_wait_s: float = Field(default=120.0, ge=0)
    retry_ambiguous: bool = True
    breaker_failure_threshold: int = Field(default=5, gt=0)
    breaker_reset_s: float = Field(default=30.0, ge=0)

    def build(self) -> DispatchLimits:
        return DispatchLimits(**self.model_dump())


class AzureAccountSettings(_Section):
    provider: Literal["azure"]
    base_url: str = "https://management.azure.com"
    subscription_id: str
    resource_group: str
    app_collection: str
    app_name: str
    static_token: SecretStr | None = None
    token_url: str = "https://login.microsoftonline.com"  # noqa: S105 - a URL, not a secret
    tenant: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    max_targets: int = Field(default=AZURE_MAX_TARGETS, gt=0, le=AZURE_MAX_TARGETS)
    max_body_bytes: int = Field(default=AZURE_MAX_BODY_BYTES, gt=0, le=AZURE_MAX_BODY_BYTES)
    limits: LimitSettings = Field(default_factory=LimitSettings)

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> AzureAccountSettings:
        credentials = (self.tenant, self.client_id, self.client_secret)
        if self.static_token is None and not all(credentials):
            raise ValueError(
                "needs either static_token or all of tenant, client_id and client_secret"
            )
        return self

    def build(self, name: str) -> AzureAccount:
        auth: AzureClientCredentials | StaticToken
        if self.static_token is not None:
            auth = StaticToken(self.static_token)
        else:
            auth = AzureClientCredentials(
                self.token_url,
                self.tenant or "",  # all three were checked by the validator above
                self.client_id or "",
                self.client_secret or SecretStr(""),
            )
        return AzureAccount(
            name=name,
            base_url=self.base_url,
            subscription_id=self.subscription_id,
            resource_group=self.resource_group,
            app_collection=self.app_collection,
            app_name=self.app_name,
            auth=auth,
            max_targets=self.max_targets,
            max_body_bytes=self.max_body_bytes,
            limits=self.limits.build(),
        )


class ResponsysAccountSettings(_Section):
    provider: Literal["responsys"]
    login_url: str
    user_name: str
    password: SecretStr
    max_targets: int = Field(default=RESPONSYS_MAX_TARGETS, gt=0, le=RESPONSYS_MAX_TARGETS)
    max_body_bytes: int = Field(default=RESPONSYS_MAX_BODY_BYTES, gt=0, le=RESPONSYS_MAX_BODY_BYTES)
    token_refresh_s: float = Field(default=90 * 60.0, gt=0)
    throttle_wait_s: float = Field(default=60.0, ge=0)
    limits: LimitSettings = Field(default_factory=LimitSettings)

    def build(self, name: str) -> ResponsysAccount:
        return ResponsysAccount(
            name=name,
            login_url=self.login_url,
            user_name=self.user_name,
            password=self.password,
            max_targets=self.max_targets,
            max_body_bytes=self.max_body_bytes,
            limits=self.limits.build(),
            token_refresh_s=self.token_refresh_s,
            throttle_wait_s=self.throttle_wait_s,
        )


AccountSettings = Annotated[
    AzureAccountSettings | ResponsysAccountSettings, Field(discriminator="provider")
]


class Settings(BaseSettings):
    """Everything the pipeline needs, validated at start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_nested_max_split=3,
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    status: StatusSettings = Field(default_factory=StatusSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    accounts: dict[str, AccountSettings] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)  # env overrides the file (given as init values)

    def provider_accounts(self) -> dict[str, Account]:
        """The accounts as the provider clients take them (checked again there)."""
        return {name: account.build(name) for name, account in self.accounts.items()}


def to_toml(values: dict[str, Any], prefix: str = "") -> str:
    """Settings values (nested dicts of strings, numbers, booleans) as a TOML document, for
    the settings file of a child process (demo, benchmark, tests)."""
    scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in values.items() if isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and scalars else []
    lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in scalars.items()]
    text = "\n".join(lines) + "\n" if lines else ""
    for key, table in tables.items():
        text += to_toml(table, f"{prefix}.{key}" if prefix else key)
    return text


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read `path` (TOML) and the environment; raise `ConfigError` naming every bad value."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"settings file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    values.update(overrides)
    try:
        settings = Settings(**values)
        if not settings.accounts:
            raise ConfigError("accounts: no provider account is configured")
        settings.provider_accounts()  # the account classes check their own invariants
    except PydanticValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    return settings


def _describe(exc: PydanticValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        lines.append(f"  {where}: {error['msg']}")
    return "invalid settings:\n" + "\n".join(lines)


_SECRET_CLIENT_KEYS = ("password", "secret", "jaas", "token", "key.pem", "credentials")


def describe(settings: Settings) -> str:
    """Settings as TOML-ish text for logs, secrets masked."""
    dumped = settings.model_dump(mode="json")  # SecretStr dumps as '**********'
    client = dumped["kafka"]["client"]
    for key in client:  # librdkafka passthrough is plain text: mask what looks secret
        if any(word in key for word in _SECRET_CLIENT_KEYS):
            client[key] = "**********"
    return "\n".join(f"{key} = {value}" for key, value in dumped.items())
