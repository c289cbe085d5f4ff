"""One typed, frozen settings object: a TOML file, overridden by environment variables.

Every value can be set by env as `PUSH_<SECTION>__<NAME>` (for example
`PUSH_KAFKA__BOOTSTRAP_SERVERS`, `PUSH_PIPELINE__LINGER_MS`,
`PUSH_ACCOUNTS__<ACCOUNT>__PASSWORD`); env values merge into the file's tables. Names a
shell can export stand for the file's spelling: `PUSH_KAFKA__CLIENT__SASL_PASSWORD` is the
librdkafka key `sasl.password`, `PUSH_ACCOUNTS__RS_MAIN__...` the account `rs-main`
(`_EnvNames`). Secrets are `SecretStr` and print masked. Settings are checked once at
start, librdkafka's keys included (`consumer.kafka.config`); each wrong or missing value is
named in a `ConfigError`.
"""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    SerializeAsAny,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from consumer.errors import ConfigError
from consumer.kafka.config import check_clients, librdkafka_value, refusals
from consumer.providers.accounts import AccountSettings
from consumer.providers.registry import ProviderRegistry, load_registry

ENV_PREFIX = "PUSH_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _scalar(value: object) -> object:
    if isinstance(value, str | int | float):  # bool is an int
        return value
    raise ValueError(f"a librdkafka value is a string, number or boolean, got {value!r}")


LibrdkafkaValue = Annotated[str | int | float | bool, BeforeValidator(_scalar)]
LibrdkafkaTable = dict[str, LibrdkafkaValue]


class KafkaSettings(_Section):
    """The brokers, the pipeline's group, and librdkafka settings passed through.

    `client` feeds every client, `consumer` the consumers and `producer` the producers
    (see `consumer.kafka.config` for how they combine and which keys are protected).
    Values may be strings, numbers or booleans; a TOML key written without quotes
    (`ssl.ca.location = "..."`, which TOML reads as nested tables) means the dotted key.
    """

    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "push-dispatch"
    client: LibrdkafkaTable = Field(default_factory=dict)
    consumer: LibrdkafkaTable = Field(default_factory=dict)
    producer: LibrdkafkaTable = Field(default_factory=dict)
    session_timeout_ms: int = Field(default=45_000, gt=0)
    max_poll_interval_ms: int = Field(default=300_000, gt=0)

    @field_validator("client", "consumer", "producer", mode="before")
    @classmethod
    def _dotted(cls, value: object) -> object:
        """Nested tables (unquoted dotted TOML keys) become dotted librdkafka keys."""
        return _flatten(value) if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _protected(self) -> KafkaSettings:
        lines = refusals(self)
        if lines:
            raise ValueError("\n  ".join(lines))
        return self

    def client_config(self) -> dict[str, str]:
        """The brokers and `kafka.client`, as librdkafka strings (what the admin client and
        the tools' own clients use)."""
        return {"bootstrap.servers": self.bootstrap_servers, **_strings(self.client)}

    def producer_config(self) -> dict[str, str]:
        """What a producer gets from settings: the brokers, `kafka.client`, `kafka.producer`."""
        return {**self.client_config(), **_strings(self.producer)}

    def consumer_config(self, group_id: str) -> dict[str, str]:
        """What a consumer of `group_id` gets from settings: the brokers, `kafka.client`,
        `kafka.consumer`, the group and its timeouts."""
        return {
            **self.client_config(),
            **_strings(self.consumer),
            "group.id": group_id,
            "session.timeout.ms": str(self.session_timeout_ms),
            "max.poll.interval.ms": str(self.max_poll_interval_ms),
        }


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _strings(table: LibrdkafkaTable) -> dict[str, str]:
    return {key: librdkafka_value(value) for key, value in table.items()}


class TopicSettings(_Section):
    intents: str = Field(default="push.intents", min_length=1)
    outcomes: str = Field(default="push.outcomes", min_length=1)
    dlq: str = Field(default="push.intents.dlq", min_length=1)
    pending: str = Field(default="push.async-pending", min_length=1)
    # Intents waiting for a provider that is down or throttling (parked, read back later).
    retry: str = Field(default="push.intents.retry", min_length=1)


class PipelineSettings(_Section):
    linger_ms: int = Field(default=50, ge=0, le=60_000)
    max_in_flight_intents: int = Field(default=5_000, gt=0)
    max_in_flight_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    consume_batch: int = Field(default=1000, gt=0, le=100_000)
    commit_interval_ms: int = Field(default=200, gt=0)
    # One deadline for a stop or a revocation: a pod with the default 30 s grace stops cleanly.
    shutdown_timeout_s: float = Field(default=10.0, gt=0)
    max_targets_per_intent: int = Field(default=100_000, gt=0)
    # A parked intent's next try: after base * 2^(parkings - 1), at most max (jittered).
    retry_base_delay_s: float = Field(default=1.0, gt=0)
    retry_max_delay_s: float = Field(default=30.0, gt=0)


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


_REGISTRY_SCHEMES = ("http://", "https://", "mock://")


class RegistrySettings(_Section):
    """The Schema Registry: its URL(s), basic auth and TLS files, all checked at start."""

    url: str | None = None  # comma-separated for several; mock:// is an in-memory one (tests)
    # Basic auth (Confluent Cloud: the API key and secret); the password only from a secret.
    username: str | None = None
    password: SecretStr | None = None
    # TLS: the CA that signed the registry's certificate (a file or a directory), and a
    # client certificate with its key when the registry asks for one (mutual TLS).
    ca_location: Path | None = None
    certificate_location: Path | None = None
    key_location: Path | None = None
    key_password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str | None) -> str | None:
        bad = [
            one.strip()
            for one in (url or "").split(",")
            if not one.strip().startswith(_REGISTRY_SCHEMES)
        ]
        if url is not None and bad:
            raise ValueError(f"{bad[0]!r} must start with http://, https:// or mock://")
        return url

    @field_validator("ca_location", "certificate_location", "key_location")
    @classmethod
    def _exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.exists():
            raise ValueError(f"{path} does not exist")
        return path

    @model_validator(mode="after")
    def _consistent(self) -> RegistrySettings:
        tls = [self.ca_location, self.certificate_location, self.key_location, self.key_password]
        if self.url is None and (self.username or self.password or any(tls)):
            raise ValueError("basic auth or TLS files are set but registry.url is not")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (basic auth)")
        if self.username is not None and ":" in self.username:
            raise ValueError("username must not contain ':' (basic auth sends user:password)")
        if (self.key_location or self.key_password) and self.certificate_location is None:
            raise ValueError("key_location and key_password need certificate_location")
        if any(tls) and not all(u.strip().startswith("https://") for u in self.url_list):
            raise ValueError("TLS files are set but registry.url is not https://")
        return self

    @property
    def url_list(self) -> list[str]:
        return [one.strip() for one in (self.url or "").split(",") if one.strip()]

    def client_config(self) -> dict[str, str]:
        """What confluent-kafka's `SchemaRegistryClient` takes beside the URL."""
        config: dict[str, str] = {}
        if self.username is not None and self.password is not None:
            config["basic.auth.user.info"] = f"{self.username}:{self.password.get_secret_value()}"
        files = {
            "ssl.ca.location": self.ca_location,
            "ssl.certificate.location": self.certificate_location,
            "ssl.key.location": self.key_location,
        }
        config.update({key: str(path) for key, path in files.items() if path is not None})
        if self.key_password is not None:
            config["ssl.key.password"] = self.key_password.get_secret_value()
        return config


class ProviderSettings(_Section):
    # Modules (import paths) of providers beyond the built-in ones, each exposing PROVIDER.
    modules: tuple[str, ...] = ()

    def registry(self) -> ProviderRegistry:
        return load_registry(self.modules)


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
    providers: ProviderSettings = Field(default_factory=ProviderSettings)
    # Each table is read by its provider's own settings model (see `_accounts`).
    accounts: dict[str, SerializeAsAny[AccountSettings]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # env overrides the file (given as init values), merged into its tables
        file_values = (
            init_settings.init_kwargs if isinstance(init_settings, InitSettingsSource) else {}
        )
        return (_EnvNames(settings_cls, env_settings, file_values), init_settings)

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts(cls, value: object, info: ValidationInfo) -> object:
        """Read every account with the settings model of the provider it names."""
        providers = info.data.get("providers")
        if not isinstance(value, dict) or not isinstance(providers, ProviderSettings):
            return value  # not a table, or providers already failed: reported as such
        try:
            registry = providers.registry()
            return {
                name: registry.account(name, table) if isinstance(table, dict) else table
                for name, table in value.items()
            }
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class _EnvNames(PydanticBaseSettingsSource):
    """The environment, with names a shell can export read as the file spells them.

    `PUSH_KAFKA__CLIENT__SASL_PASSWORD` is the librdkafka key `sasl.password` (each `_` a
    dot, as Confluent's images read `KAFKA_*`; `log_level` is the one key with an `_`), in
    `kafka.client`, `kafka.consumer` and `kafka.producer` alike. `PUSH_ACCOUNTS__RS_MAIN__*`
    is the file's account `rs-main` (or `RS_Main`...): names match ignoring case, `_`
    matching `-`.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        env: PydanticBaseSettingsSource,
        file_values: Mapping[str, Any],
    ) -> None:
        super().__init__(settings_cls)
        self._env = env
        accounts = file_values.get("accounts")
        self._file_accounts = list(accounts) if isinstance(accounts, dict) else []

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything comes from the wrapped source's __call__

    def __call__(self) -> dict[str, Any]:
        values = self._env()
        kafka = values.get("kafka")
        if isinstance(kafka, dict):
            for table in ("client", "consumer", "producer"):
                if isinstance(kafka.get(table), dict):
                    kafka[table] = {_librdkafka_key(k): v for k, v in kafka[table].items()}
        accounts = values.get("accounts")
        if isinstance(accounts, dict):
            values["accounts"] = {self._account(name): v for name, v in accounts.items()}
        return values

    def _account(self, env_name: str) -> str:
        """The file's account that `env_name` names, or `env_name` for an account of its own."""
        exact = [name for name in self._file_accounts if name.lower() == env_name.lower()]
        loose = [name for name in self._file_accounts if _loose(name) == _loose(env_name)]
        found = exact or loose
        if len(found) > 1:
            raise ConfigError(
                f"accounts: the environment's {env_name!r} matches the accounts "
                f"{', '.join(sorted(found))}; rename one of them"
            )
        return found[0] if found else env_name


def _librdkafka_key(env_key: str) -> str:
    key = env_key.lower()
    return key if key in _UNDERSCORE_KEYS else key.replace("_", ".")


def _loose(name: str) -> str:
    return name.lower().replace("-", "_")


_UNDERSCORE_KEYS = frozenset({"log_level"})  # librdkafka keys spelled with `_` themselves


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


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` as every command that reads settings takes it (default $PUSH_CONFIG)."""
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("PUSH_CONFIG"),
        help="settings file (TOML); env PUSH_* overrides it (default: $PUSH_CONFIG)",
    )


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
    except PydanticValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    check_clients(settings.kafka)  # unknown librdkafka keys, named before anything connects
    return settings


def _describe(exc: PydanticValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        # An account's errors already name their place (accounts.<name>.<field>).
        lines.append(f"  {message}" if message.startswith(f"{where}.") else f"  {where}: {message}")
    return "invalid settings:\n" + "\n".join(lines)


_SECRET_CLIENT_KEYS = (
    "password",
    "secret",
    "jaas",
    "token",
    "key.pem",
    "credentials",
    "oauthbearer.config",
)


def describe(settings: Settings) -> str:
    """Settings as TOML-ish text for logs, secrets masked."""
    dumped = settings.model_dump(mode="json")  # SecretStr dumps as '**********'
    for table in ("client", "consumer", "producer"):
        values = dumped["kafka"][table]
        for key in values:  # librdkafka passthrough is plain text: mask what looks secret
            if any(word in key.lower() for word in _SECRET_CLIENT_KEYS):
                values[key] = "**********"
    return "\n".join(f"{key} = {value}" for key, value in dumped.items())
