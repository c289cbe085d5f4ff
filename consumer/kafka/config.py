"""The librdkafka configurations of the pipeline's clients, and what users may change in them.

    consumer = our defaults + kafka.client + kafka.consumer + group and timeouts + guarantees
    producer = our defaults + kafka.client + kafka.producer + guarantees
    admin    = kafka.client

Our defaults are tuning (prefetch, fetch batching, linger, compression): a user value
replaces them. The guarantees are what at-least-once delivery rests on (`acks=all`, the
idempotent producer, offsets stored and committed only by the pipeline, ...): a user value
that would change one is refused when settings are loaded (`refusals`), naming the key and
why; a value that means the same is accepted. The group id, the brokers and the group
timeouts have settings of their own and are refused in the tables unless equal to them.

`check_clients` builds a producer and a consumer from the user's tables without brokers
(nothing connects), so an unknown key, a bad value or a consumer-only key in
`kafka.producer` is one line naming the table and key at start, not a traceback from the
sink. Every client logs through `client_log.CLIENT_LOG`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaException, Producer

from consumer.errors import ConfigError
from consumer.kafka.client_log import CLIENT_LOG

if TYPE_CHECKING:
    from consumer.settings import KafkaSettings

Value = str | int | float | bool  # what a settings table may hold for a librdkafka key

PRODUCER_DEFAULTS: Mapping[str, str] = {
    # Outcomes are written after the push went out: their batching is not on a push's
    # path. 10 ms rather than 5 halves the produce requests per outcome, and the broker's
    # CPU per intent while draining fell from 1.04 to 0.85 x the baseline's (same run,
    # measured; 20 ms gave 0.87). It adds 5 ms to the window a crash resends.
    "linger.ms": "10",
    "compression.type": "lz4",
}
CONSUMER_DEFAULTS: Mapping[str, str] = {
    "partition.assignment.strategy": "cooperative-sticky",
    # librdkafka prefetches up to 64 MiB by default; in-flight work is bounded by the
    # pipeline, so a smaller prefetch keeps memory flat without slowing it down
    "queued.max.messages.kbytes": "16384",
    # A fetch gathers records for up to 20 ms (or until 1 MB is there, at once while
    # draining a backlog). Answered at the first record (fetch.min.bytes=1, 100 ms when
    # nothing is there), a steady trickle cost a fetch per produced batch: at ~2,150
    # intents/s the broker spent 302-315 us per intent against 158-179 with 20 ms, and
    # the pipeline 428-437 us against 361-374 (two runs of the bench's latency phase).
    # The bench's p99 there fell from 385-482 ms to 124-156. The price is 50 fetches a
    # second of partitions with nothing to read: an idle pipeline cost the broker 8.6 % of
    # a core against 4.2 %, a drain 42-43 us per intent against 36-40 (warm rounds of one
    # run), and a record waits up to 20 ms more.
    "fetch.wait.max.ms": "20",
    "fetch.min.bytes": "1000000",
}

LIBRDKAFKA_FETCH_WAIT_MS = 500  # librdkafka's default, for a value it would refuse anyway

_TRUE = frozenset({"true", "t", "1"})  # what librdkafka reads as a boolean (any case)
_FALSE = frozenset({"false", "f", "0"})


@dataclass(frozen=True, slots=True)
class Guarantee:
    """A librdkafka key the pipeline sets and relies on; only `same` spellings may be given."""

    key: str
    value: Value  # as the client takes it (confluent-kafka itself reads some keys, as bools)
    same: frozenset[str]
    why: str
    aliases: tuple[str, ...] = ()


PRODUCER_GUARANTEES = (
    Guarantee(
        "acks", "all", frozenset({"all", "-1"}),
        "an outcome counts as delivered, and its intent's offset commits, only once every "
        "in-sync replica has it", ("request.required.acks",),
    ),
    Guarantee(
        "enable.idempotence", "true", _TRUE,
        "a retried send must not duplicate or reorder outcomes",
    ),
    Guarantee(
        "delivery.report.only.error", False, _FALSE,
        "offsets commit on each record's delivery report; without them nothing would commit",
    ),
)  # fmt: skip
CONSUMER_GUARANTEES = (
    Guarantee(
        "enable.auto.commit", "false", _FALSE,
        "offsets are committed by the pipeline, only after an intent's outcome is durable",
    ),
    Guarantee(
        "enable.auto.offset.store", "false", _FALSE,
        "offsets are stored by the pipeline, only after an intent's outcome is durable",
    ),
    Guarantee(
        "auto.offset.reset", "earliest", frozenset({"earliest", "smallest", "beginning"}),
        "a new group, or a new partition of the retry or pending topic, would skip the "
        "records written before its first commit",
    ),
    Guarantee(
        "isolation.level", "read_committed", frozenset({"read_committed"}),
        "intents of aborted upstream transactions would be pushed",
    ),
    Guarantee(
        "group.protocol", "classic", frozenset({"classic"}),
        "the rebalance handling and kafka.session_timeout_ms use the classic group protocol",
    ),
)  # fmt: skip
_GUARANTEES = {name: g for g in PRODUCER_GUARANTEES + CONSUMER_GUARANTEES
               for name in (g.key, *g.aliases)}  # fmt: skip
_NEVER = {
    "group.id": "set kafka.group_id (the pipeline) or status.group_id (the status poller)",
    "transactional.id": "the pipeline's producer is not transactional (at-least-once comes "
    "from acks=all and idempotence): every send would fail",
}
# confluent-kafka's keys that take Python functions: they cannot come from settings.
_CALLBACKS = frozenset(
    {"error_cb", "throttle_cb", "stats_cb", "oauth_cb", "logger", "on_delivery", "on_commit"}
)


def librdkafka_value(value: Value) -> str:
    """A settings value as librdkafka reads it: booleans as true/false, numbers as digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def producer_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A pipeline producer's configuration: our defaults, `config`, then the guarantees."""
    guarantees = {g.key: g.value for g in PRODUCER_GUARANTEES}
    return {**PRODUCER_DEFAULTS, "logger": CLIENT_LOG, **config, **guarantees}


def consumer_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A pipeline consumer's configuration: our defaults, `config`, then the guarantees."""
    guarantees = {g.key: g.value for g in CONSUMER_GUARANTEES}
    return {**CONSUMER_DEFAULTS, "logger": CLIENT_LOG, **config, **guarantees}


def fetch_wait_ms(config: Mapping[str, Any]) -> int:
    """How long a pipeline consumer's fetch may be held for more records (`fetch.wait.max.ms`
    of `consumer_settings(config)`; librdkafka's own default when unreadable)."""
    value = consumer_settings(config).get("fetch.wait.max.ms", LIBRDKAFKA_FETCH_WAIT_MS)
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return LIBRDKAFKA_FETCH_WAIT_MS


def admin_config(kafka: KafkaSettings) -> dict[str, Any]:
    """The admin client's configuration: the brokers and `kafka.client` only."""
    return {"logger": CLIENT_LOG, **kafka.client_config()}


def refusals(kafka: KafkaSettings) -> list[str]:
    """One line per user value that the pipeline cannot run with, naming key and reason."""
    pinned = {
        "bootstrap.servers": ("kafka.bootstrap_servers", kafka.bootstrap_servers),
        "metadata.broker.list": ("kafka.bootstrap_servers", kafka.bootstrap_servers),
        "session.timeout.ms": ("kafka.session_timeout_ms", str(kafka.session_timeout_ms)),
        "max.poll.interval.ms": ("kafka.max_poll_interval_ms", str(kafka.max_poll_interval_ms)),
    }
    lines = []
    for table, key, value in _user_keys(kafka):
        text = librdkafka_value(value)
        where = f"kafka.{table}.{key}"
        guarantee = _GUARANTEES.get(key)
        if guarantee is not None and text.lower() not in guarantee.same:
            ours = librdkafka_value(guarantee.value)
            lines.append(f"{where}: must stay {ours} (got {text!r}): {guarantee.why}")
        elif key in _NEVER:
            lines.append(f"{where}: not settable here: {_NEVER[key]}")
        elif key in _CALLBACKS:
            lines.append(f"{where}: takes a Python function, which settings cannot give")
        elif key in pinned and text != pinned[key][1]:
            setting, ours = pinned[key]
            lines.append(f"{where}: set {setting} instead (it is {ours!r}, got {text!r})")
    return lines


def check_clients(kafka: KafkaSettings) -> None:
    """Raise `ConfigError` naming each key librdkafka does not take, built without brokers."""
    found: dict[tuple[str | None, str], list[str]] = {}  # (key, reason) -> its tables
    for kind, table in (("producer", kafka.producer), ("consumer", kafka.consumer)):
        if kafka.client or table:
            for problem in _trial(kafka, kind):  # kafka.client's show in both trials: once
                tables = found.setdefault((problem.key, problem.reason), [])
                tables += [name for name in problem.tables if name not in tables]
    if found:
        lines = [
            _Problem(tuple(tables), key, reason).line() for (key, reason), tables in found.items()
        ]
        raise ConfigError("invalid settings:\n" + "\n".join(f"  {line}" for line in lines))


# --- trying the configuration on real clients ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Problem:
    """What librdkafka refused: one key of one table, or (key None) the tables together."""

    tables: tuple[str, ...]
    key: str | None
    reason: str

    def line(self) -> str:
        if self.key is not None:
            return f"kafka.{self.tables[0]}.{self.key}: {self.reason}"
        return " and ".join(f"kafka.{table}" for table in self.tables) + f": {self.reason}"


class _Capture:
    """A `logger` that keeps librdkafka's configuration warnings of one trial client."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, _level: int, _format: str, *args: object) -> None:
        if len(args) == 3 and args[0] == "CONFWARN":
            self.lines.append(str(args[2]))


def _trial(kafka: KafkaSettings, kind: str) -> list[_Problem]:
    """Problems of the `kind` client's configuration, each attributed to its table and key."""
    user = kafka.producer if kind == "producer" else kafka.consumer
    config = kafka.producer_config() if kind == "producer" else kafka.consumer_config("check")
    other = "consumer" if kind == "producer" else "producer"
    error, warnings = _build(kind, config)
    if error is not None:
        tables = {"client": kafka.client, kind: user}
        culprits = [
            _Problem((table,), key, error)
            for table, values in tables.items()
            for key, value in values.items()
            if _alone(kind, key, value)[0] == error
        ]  # none alone: keys that fail together (sasl.username with security.protocol ...)
        given = tuple(table for table, values in tables.items() if values)
        return culprits or [_Problem(given, None, error)]
    wrong_kind = f"is a {other} property and will be ignored"
    if not any(wrong_kind in line for line in warnings):
        return []
    reason = f"a {other} property (a {kind} ignores it): put it in kafka.{other}"
    return [
        _Problem((kind,), key, reason)
        for key, value in user.items()
        if any(wrong_kind in line for line in _alone(kind, key, value)[1])
    ]


def _alone(kind: str, key: str, value: Value) -> tuple[str | None, list[str]]:
    return _build(kind, {key: librdkafka_value(value)})


def _build(kind: str, config: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """Build a `kind` client from `config` without brokers: (its error, its config warnings)."""
    capture = _Capture()
    local = {
        k: v for k, v in config.items() if k not in ("bootstrap.servers", "metadata.broker.list")
    }
    make: Callable[[dict[str, Any]], Any]
    if kind == "producer":
        settings = producer_settings({**local, "logger": capture})
        make = Producer
    else:
        settings = consumer_settings({"group.id": "check", **local, "logger": capture})
        make = Consumer
    try:
        client = make(settings)
    except KafkaException as exc:
        return _reason(exc.args[0].str()), capture.lines
    except (TypeError, ValueError) as exc:
        return str(exc), capture.lines
    if kind == "producer":
        client.poll(0)  # serves the warnings
    else:
        client.close()  # serves the warnings
    return None, capture.lines


def _reason(text: str) -> str:
    for prefix in ("Failed to create producer: ", "Failed to create consumer: "):
        text = text.removeprefix(prefix)
    if text.startswith("No such configuration property"):
        return "not a librdkafka property"
    return text


def _user_keys(kafka: KafkaSettings) -> Iterable[tuple[str, str, Value]]:
    for table, values in (
        ("client", kafka.client),
        ("consumer", kafka.consumer),
        ("producer", kafka.producer),
    ):
        for key, value in values.items():
            yield table, key, value
