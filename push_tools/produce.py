"""`push-consumer produce`: publish intents from JSON lines, Avro-encoded.

One JSON object per line, mirroring `push.PushIntent` with the push as a named branch:

    {"intent_id": "o-1", "account": "azure-main", "created_at": "2024-05-01T12:00:00Z",
     "expires_at": null, "correlation_id": "c-1",
     "azure": {"kind": "announcements", "campaign_id": 12, "device_ids": ["d1", "d2"],
               "data": {"notificationTitle": "Hi"}}}
    {"account": "responsys-main",
     "responsys": {"campaign_name": "Summer_Push", "recipients": [
        {"list_type": "PROFILE", "customer_id": "42",
         "optional_data": [{"name": "CUSTOM1", "value": "WELCOME10"}]},
        {"list_type": "PUSH", "device_id": "d9", "api_key": "app-1"}]}}

`intent_id` defaults to a uuid4, `created_at` to now; timestamps are ISO 8601 with a zone.
Unknown keys are errors (they are usually typos). Each record's key is the campaign, so one
campaign's intents meet in one partition. Bad lines are reported on stderr with their line
number and skipped; the good ones still go out; the exit code is 1 if any line was bad.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from consumer.avro import IntentEncoder, SchemaRegistry
from consumer.errors import ConfigError, DeliveryError, IntentLineError, ValidationError
from consumer.kafka import require_topics
from consumer.model import PushIntent
from consumer.providers.azure.data import canonical_data_json
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.registry import load_registry
from consumer.providers.responsys.push import PROFILE_ATTRIBUTES, ListType, Recipient, ResponsysPush
from consumer.validation import IntentValidator

_TOP_KEYS = {
    "intent_id",
    "account",
    "created_at",
    "expires_at",
    "correlation_id",
    "azure",
    "responsys",
}
_AZURE_KEYS = {"kind", "campaign_id", "device_ids", "data"}
_RESPONSYS_KEYS = {"campaign_name", "recipients"}
_RECIPIENT_KEYS = {"list_type", *PROFILE_ATTRIBUTES, "device_id", "api_key", "optional_data"}
FLUSH_TIMEOUT_S = 30.0
_STRING_ATTRIBUTES = tuple(
    name for name in (*PROFILE_ATTRIBUTES, "device_id", "api_key") if name != "recipient_id"
)


def parse_intent_line(
    line: str, *, now: datetime, new_intent_id: Callable[[], str] = lambda: str(uuid.uuid4())
) -> PushIntent:
    """Parse one JSON line into an intent; raises IntentLineError saying what is wrong."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise IntentLineError(f"not valid JSON: {exc}") from exc
    obj = _object(document, "the line", _TOP_KEYS)
    branches = [name for name in ("azure", "responsys") if name in obj]
    if len(branches) != 1:
        raise IntentLineError('exactly one of "azure" or "responsys" is required')
    intent_id = _string(obj, "intent_id", required=False) or new_intent_id()
    push = _azure(obj["azure"]) if branches[0] == "azure" else _responsys(obj["responsys"])
    return PushIntent(
        intent_id=intent_id,
        account=_string(obj, "account", required=True) or "",
        created_at=_timestamp(obj, "created_at") or now,
        push=push,
        expires_at=_timestamp(obj, "expires_at"),
        correlation_id=_string(obj, "correlation_id", required=False),
    )


def _azure(value: object) -> AzurePush:
    obj = _object(value, '"azure"', _AZURE_KEYS)
    kinds = {kind.value: kind for kind in AzureKind}
    kind = _string(obj, "kind", required=True, where="azure")
    if kind not in kinds:
        raise IntentLineError(f"azure.kind must be one of {', '.join(kinds)}, got {kind!r}")
    campaign_id = obj.get("campaign_id")
    if not isinstance(campaign_id, int) or isinstance(campaign_id, bool):
        raise IntentLineError(f"azure.campaign_id must be an integer, got {campaign_id!r}")
    device_ids = obj.get("device_ids")
    if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
        raise IntentLineError("azure.device_ids must be a list of strings")
    data = obj.get("data")
    if data is not None and not isinstance(data, dict):
        raise IntentLineError(f"azure.data must be a JSON object, got {type(data).__name__}")
    return AzurePush(
        kind=kinds[kind],
        campaign_id=campaign_id,
        device_ids=tuple(device_ids),
        data=data,
        data_json=None if data is None else canonical_data_json(data),
    )


def _responsys(value: object) -> ResponsysPush:
    obj = _object(value, '"responsys"', _RESPONSYS_KEYS)
    campaign_name = _string(obj, "campaign_name", required=True, where="responsys") or ""
    recipients = obj.get("recipients")
    if not isinstance(recipients, list):
        raise IntentLineError("responsys.recipients must be a list")
    return ResponsysPush(
        campaign_name=campaign_name,
        recipients=tuple(_recipient(item, index) for index, item in enumerate(recipients)),
    )


def _recipient(value: object, index: int) -> Recipient:
    where = f"responsys.recipients[{index}]"
    obj = _object(value, where, _RECIPIENT_KEYS)
    list_type = obj.get("list_type")
    if list_type not in ("PROFILE", "PUSH"):
        raise IntentLineError(f"{where}.list_type must be PROFILE or PUSH, got {list_type!r}")
    recipient_id = obj.get("recipient_id")
    if recipient_id is not None and (
        not isinstance(recipient_id, int) or isinstance(recipient_id, bool)
    ):
        raise IntentLineError(f"{where}.recipient_id must be an integer, got {recipient_id!r}")
    strings = {name: _string(obj, name, required=False, where=where) for name in _STRING_ATTRIBUTES}
    return Recipient(
        list_type=ListType(list_type),
        recipient_id=recipient_id,
        optional_data=_optional_data(obj.get("optional_data", []), where),
        **strings,
    )


def _optional_data(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise IntentLineError(f"{where}.optional_data must be a list of {{name, value}}")
    pairs = []
    for item in value:
        if (
            not isinstance(item, dict)
            or set(item) != {"name", "value"}
            or not all(isinstance(part, str) for part in item.values())
        ):
            raise IntentLineError(
                f'{where}.optional_data items must be {{"name": string, "value": string}},'
                f" got {item!r}"
            )
        pairs.append((item["name"], item["value"]))
    return tuple(pairs)


def _object(value: object, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise IntentLineError(f"{where} must be a JSON object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise IntentLineError(f"{where} has unknown key(s) {', '.join(unknown)}")
    return value


def _string(obj: Mapping[str, Any], key: str, *, required: bool, where: str = "") -> str | None:
    value = obj.get(key)
    name = f"{where}.{key}" if where else key
    if value is None:
        if required:
            raise IntentLineError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise IntentLineError(f"{name} must be a string, got {value!r}")
    if required and not value:
        raise IntentLineError(f"{name} must not be empty")
    return value


def _timestamp(obj: Mapping[str, Any], key: str) -> datetime | None:
    text = _string(obj, key, required=False)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise IntentLineError(f"{key} must be an ISO 8601 timestamp, got {text!r}") from exc
    if value.tzinfo is None:
        raise IntentLineError(f"{key} must include a time zone (e.g. Z), got {text!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class DeclaredAccount:
    """An account named by `--accounts`: its provider is checked, its limits are not (the
    pipeline checks those with the account's real settings)."""

    provider: str
    max_targets: int = sys.maxsize
    splits_intents: bool = True


def parse_accounts(text: str, providers: Iterable[str]) -> dict[str, DeclaredAccount]:
    """`name=provider,...` -> mapping; raises ConfigError on a malformed entry."""
    known = tuple(providers)
    accounts: dict[str, DeclaredAccount] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, sep, provider = entry.partition("=")
        if not sep or not name or provider not in known:
            raise ConfigError(
                f"--accounts entry {entry!r} must be name=provider with provider one of"
                f" {', '.join(known)}"
            )
        accounts[name] = DeclaredAccount(provider)
    return accounts


def parse_settings(pairs: Iterable[str]) -> dict[str, str]:
    """`-X key=value` librdkafka settings; raises ConfigError on a pair without `=`."""
    settings: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"-X {pair!r} must be key=value")
        settings[key] = value
    return settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-servers", required=True, metavar="HOST:PORT")
    parser.add_argument("--topic", required=True, help="topic to publish intents to")
    parser.add_argument(
        "--registry-url", help="Schema Registry URL: Confluent framing (default: single-object)"
    )
    parser.add_argument(
        "--accounts", help="name=provider,... : also reject intents naming other accounts"
    )
    parser.add_argument(
        "-X",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="librdkafka producer setting (repeatable)",
    )
    parser.add_argument("file", nargs="?", default="-", help="JSON lines file, or - for stdin")


def run(args: argparse.Namespace) -> int:
    providers = load_registry()
    accounts = parse_accounts(args.accounts, providers.names) if args.accounts else None
    validator = IntentValidator(providers, accounts)
    lines = _open_lines(args.file)  # a missing file is named before any broker is contacted
    try:
        producer = _producer(args.bootstrap_servers, parse_settings(args.settings))
        require_topics(producer, [args.topic], servers=args.bootstrap_servers)
        registry = SchemaRegistry(args.registry_url) if args.registry_url else None
        encoder = IntentEncoder(registry=registry, subject=f"{args.topic}-value")
        failures: list[str] = []

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                failures.append(str(error))

        sent, bad = _publish(
            lines,
            topic=args.topic,
            producer=producer,
            encoder=encoder,
            validator=validator,
            on_delivery=on_delivery,
        )
    finally:
        lines.close()
    unflushed = producer.flush(FLUSH_TIMEOUT_S)
    if unflushed or failures:
        reason = failures[0] if failures else f"{unflushed} not acknowledged in {FLUSH_TIMEOUT_S}s"
        raise DeliveryError(
            f"{sent - unflushed - len(failures)} of {sent} intents delivered to {args.topic};"
            f" first problem: {reason}"
        )
    sys.stdout.write(f"produced {sent} intents to {args.topic}; {bad} bad lines\n")
    return 1 if bad else 0


def _open_lines(file: str) -> BinaryIO:
    """The JSON lines source as bytes (each line is decoded alone, so a line that is not
    UTF-8 is one bad line); ConfigError naming the file when it cannot be read."""
    if file == "-":
        return sys.stdin.buffer
    try:
        return open(file, "rb")
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from exc


def _producer(bootstrap_servers: str, settings: Mapping[str, str]) -> Producer:
    """An idempotent `acks=all` producer; `-X` settings librdkafka refuses are a ConfigError."""
    try:
        return Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 20,
                **settings,
            }
        )
    except KafkaException as exc:
        raise ConfigError(f"-X: librdkafka refused a setting: {exc.args[0].str()}") from exc


def _publish(
    lines: Iterable[bytes],
    *,
    topic: str,
    producer: Producer,
    encoder: IntentEncoder,
    validator: IntentValidator,
    on_delivery: Callable[[KafkaError | None, Message], None],
) -> tuple[int, int]:
    now = datetime.now(UTC)
    sent = bad = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            intent = parse_intent_line(_text(raw), now=now)
            validator.validate(intent)
        except ValidationError as exc:  # IntentLineError included
            bad += 1
            sys.stderr.write(f"line {number}: {exc}\n")
            continue
        value = encoder.encode(intent)
        key = intent.push.campaign.encode()
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: serve callbacks, then try again
                producer.poll(0.5)
        producer.poll(0)
        sent += 1
    return sent, bad


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntentLineError(f"not UTF-8 text (byte {exc.start + 1})") from exc
