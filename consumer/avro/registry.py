"""The Schema Registry boundary: fetch writer schemas by id, register ours.

`mock://` URLs give confluent-kafka's in-memory registry (one per client object, so share
one `SchemaRegistry` between the encoder and decoder in tests). Basic auth and TLS come from
`RegistrySettings.client_config()`; a certificate or key the client cannot load is a
`ConfigError` at start, not a failure at the first record.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError as ClientError

from consumer.errors import ConfigError, SchemaRegistryError, UnknownSchemaError

_NOT_FOUND = 404


class SchemaRegistry:
    """A Schema Registry client; `config` passes through (auth, TLS: `basic.auth.user.info` ...)."""

    def __init__(self, url: str, config: Mapping[str, str] | None = None) -> None:
        self.url = url
        try:
            self._client = SchemaRegistryClient.new_client({**(config or {}), "url": url})
        except (ValueError, OSError, ssl.SSLError) as exc:  # bad files, unreadable key
            raise ConfigError(f"registry: {_reason(exc, config or {})}") from exc

    def schema_text(self, schema_id: int) -> str:
        """The Avro schema registered under `schema_id`."""
        try:
            schema = self._client.get_schema(schema_id)
        except ClientError as exc:
            if exc.http_status_code == _NOT_FOUND:
                raise UnknownSchemaError(f"schema id {schema_id} is not in the registry") from exc
            raise SchemaRegistryError(f"cannot fetch schema id {schema_id}: {exc}") from exc
        except Exception as exc:
            raise SchemaRegistryError(f"cannot fetch schema id {schema_id}: {exc}") from exc
        if schema.schema_type not in (None, "AVRO"):
            raise UnknownSchemaError(f"schema id {schema_id} is {schema.schema_type}, not Avro")
        if schema.references:
            raise UnknownSchemaError(f"schema id {schema_id} uses references; not supported")
        return str(schema.schema_str)

    def register(self, subject: str, schema_text: str) -> int:
        """Register `schema_text` under `subject` (idempotent) and return its id."""
        try:
            return int(self._client.register_schema(subject, Schema(schema_text, "AVRO")))
        except Exception as exc:
            raise SchemaRegistryError(f"cannot register schema under {subject}: {exc}") from exc


def _reason(exc: Exception, config: Mapping[str, str]) -> str:
    """Why the client could not be made; ssl errors do not say which file, so name them."""
    if not isinstance(exc, ssl.SSLError):
        return f"the client cannot be set up: {exc}"
    files = ", ".join(f"{key}={value}" for key, value in config.items() if key.endswith("location"))
    return f"the TLS files do not load ({exc.reason or exc}): {files}"
