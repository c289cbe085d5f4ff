"""Every error the pipeline raises, under one root.

PushDispatchError
├── ConfigError              settings, CLI arguments or accounts are wrong
│   └── MissingTopicsError   topics a command needs do not exist on the cluster
├── KafkaUnavailableError    the Kafka cluster did not answer (address, credentials, down)
├── LocalKafkaError          the local Apache Kafka broker could not be provisioned or run
├── SchemaRegistryError      the Schema Registry could not be reached or refused a request
├── DecodeError              bytes are not a readable intent (keeps the raw value)
│   └── UnknownSchemaError   the schema id / fingerprint is not known
├── ValidationError          a decoded intent breaks a provider rule
│   └── IntentLineError      a JSON line given to `produce` is not a valid intent
├── DispatchError            a provider call failed (carries `retriable` and `transient`)
│   ├── TransportError       the request failed on the wire (`ambiguous`: it may have been sent)
│   ├── CircuitOpenError     the account's circuit breaker is open; nothing was sent
│   ├── ThrottledError       the account is throttled for longer than a call waits; not sent
│   └── AuthError            a provider token could not be obtained
├── TopicReadError           a topic could not be read to the end asked for
└── DeliveryError            the broker did not acknowledge a produced record
"""

from __future__ import annotations

from typing import TypeVar

_E = TypeVar("_E", bound=BaseException)


class PushDispatchError(Exception):
    """Root of every error raised by this package."""


class ConfigError(PushDispatchError, ValueError):
    """Raised when settings, accounts or CLI arguments are missing or wrong.

    A ValueError too, so a settings model's validators report it beside their own errors.
    """


class MissingTopicsError(ConfigError):
    """Raised at start when topics a command reads or writes do not exist; names them all."""

    def __init__(self, missing: list[str], hint: str = "") -> None:
        listed = ", ".join(missing)
        noun = "topic does" if len(missing) == 1 else "topics do"
        super().__init__(f"{noun} not exist: {listed}" + (f" ({hint})" if hint else ""))
        self.missing = missing


class KafkaUnavailableError(PushDispatchError):
    """Raised when the Kafka cluster does not answer a metadata request in time."""


class LocalKafkaError(PushDispatchError):
    """Raised when the local Kafka broker cannot be provisioned, started or stopped."""


class SchemaRegistryError(PushDispatchError):
    """Raised when the Schema Registry cannot be reached or refuses a request (not bad data)."""


class DecodeError(PushDispatchError):
    """Raised when bytes cannot be decoded into an intent; keeps the raw value.

    `intent_id` is set when it could be read although the rest of the record is bad, so an
    INVALID outcome can be published for it.
    """

    def __init__(
        self, message: str, raw: bytes | None = None, *, intent_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.raw = raw
        self.intent_id = intent_id


class UnknownSchemaError(DecodeError):
    """Raised when a message names a schema id or fingerprint we cannot resolve."""


class ValidationError(PushDispatchError):
    """Raised when a decoded intent breaks a provider rule; `intent_id` is known.

    `rule` is a short, bounded name of the broken rule (fit for a metric label or header).
    """

    def __init__(
        self, message: str, intent_id: str | None = None, *, rule: str | None = None
    ) -> None:
        super().__init__(message)
        self.intent_id = intent_id
        self.rule = rule


class IntentLineError(ValidationError):
    """Raised when a JSON line given to `produce` is not a valid intent."""


class DispatchError(PushDispatchError):
    """Raised when a provider call fails; `retriable` says whether trying again may help.

    `transient` says whether trying later may help (default: `retriable`); an open circuit
    is not worth retrying now but is worth retrying later.
    """

    def __init__(
        self,
        message: str,
        *,
        retriable: bool,
        http_status: int | None = None,
        error_code: str | None = None,
        transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.transient = retriable if transient is None else transient
        self.http_status = http_status
        self.error_code = error_code


class TransportError(DispatchError):
    """Raised when a request fails on the wire; `ambiguous` if the provider may have acted."""

    def __init__(self, message: str, *, ambiguous: bool) -> None:
        super().__init__(
            message, retriable=True, error_code="TRANSPORT_AMBIGUOUS" if ambiguous else "TRANSPORT"
        )
        self.ambiguous = ambiguous


class CircuitOpenError(DispatchError):
    """Raised instead of calling a provider account whose circuit breaker is open."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=False, error_code="CIRCUIT_OPEN", transient=True)


class ThrottledError(DispatchError):
    """Raised instead of sending while the account's throttle window outlasts a call's wait."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=False, error_code="THROTTLED", transient=True)


class AuthError(DispatchError):
    """Raised when a provider token cannot be obtained (login, refresh, token endpoint)."""


class TopicReadError(PushDispatchError):
    """Raised when a topic cannot be read up to the offsets a command needs (redrive)."""


class DeliveryError(PushDispatchError):
    """Raised when the broker does not acknowledge a produced record."""


def caused_by(error: _E, cause: BaseException) -> _E:
    """`error` with `cause` as its cause: `raise caused_by(X, exc)` means `raise X from exc`.

    For the modules setup.py compiles with mypyc, which drops the `from` (mypy 2.4: the
    raised error keeps `exc` only as its context, as if raised while handling it). Ruff's
    B904 does not know the helper: its uses carry `noqa: B904`.
    """
    error.__cause__ = cause
    return error
