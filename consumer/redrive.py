"""`push-consumer redrive`: send chosen dead letters back to the intents topic after a fix.

    push-consumer redrive --config settings.toml --reason unknown_schema          # dry run
    push-consumer redrive --config settings.toml --reason unknown_schema --execute

Dead letters are chosen by offsets (`--offsets 0:120-180`, repeatable), by the time they
were dead-lettered (`--since`, `--until`), by the pipeline's reason (`--reason`,
repeatable), or all of them (`--all`); criteria of different kinds must all match.

A dry run is the default and `--execute` moves: the intents topic feeds real pushes and a
record cannot be taken back once it is there, so the command that does nothing is the one a
slip of the keyboard runs (as `kafka-consumer-groups --reset-offsets` does). The dry run
lists exactly what `--execute` would move, one line per dead letter.

A moved record keeps its key, value and original headers (the `dlq.*` and
`__connect.errors.*` headers are dropped), gets `push.redriven-from: <dlq>/<partition>/<offset>`,
and goes back to the partition it came from. The dead-letter topic is read without a
consumer group (assign + offsets, nothing committed), so the pipeline's group is untouched,
and only up to the end offsets taken at start: what this run (or anything else) appends to it
meanwhile is not read, so nothing is redriven twice by one run. The producer is idempotent
with `acks=all`; the command ends only after every record is acknowledged, or fails naming
the ones that were not.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from consumer.errors import ConfigError, DeliveryError, TopicReadError
from consumer.kafka import ConsumedRecord, require_topics
from consumer.kafka.config import consumer_settings, producer_settings
from consumer.kafka.dead_letter import (
    CONNECT_PREFIX,
    OWN_PREFIX,
    REASON_HEADER,
    SOURCE_PARTITION_HEADER,
    SOURCE_TOPIC_HEADER,
)
from consumer.kafka.source import header_pairs
from consumer.settings import Settings, add_config_argument, load_settings

REDRIVEN_FROM = "push.redriven-from"
FLUSH_TIMEOUT_S = 30.0
STALL_TIMEOUT_S = 60.0  # no record and no end of partition for this long: give up reading
_STRIPPED = (OWN_PREFIX, CONNECT_PREFIX, REDRIVEN_FROM)


@dataclass(frozen=True, slots=True)
class OffsetRange:
    """Offsets `first`..`last` of one partition, both included; `last` None: to the end."""

    partition: int
    first: int = 0
    last: int | None = None

    def __contains__(self, offset: int) -> bool:
        return self.first <= offset and (self.last is None or offset <= self.last)


def parse_offsets(text: str) -> OffsetRange:
    """`P`, `P:N`, `P:FROM-TO` or `P:FROM-` (inclusive); ArgumentTypeError otherwise."""
    partition, sep, span = text.partition(":")
    first, dash, last = span.partition("-")
    try:
        chosen = OffsetRange(
            int(partition),
            int(first) if sep else 0,
            (int(last) if last else None) if dash else (int(first) if sep else None),
        )
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not PARTITION[:OFFSET | :FROM-TO | :FROM-]"
        ) from None
    if chosen.partition < 0 or chosen.first < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: partitions and offsets are not negative")
    if chosen.last is not None and chosen.last < chosen.first:
        raise argparse.ArgumentTypeError(f"{text!r}: the range ends before it starts")
    return chosen


def parse_time(text: str) -> datetime:
    """An ISO 8601 timestamp with a zone (e.g. 2026-12-01T13:00:00Z)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 timestamp") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone (e.g. Z or +01:00)")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters move: every criterion given must match."""

    ranges: tuple[OffsetRange, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    reasons: frozenset[str] = frozenset()

    def matches(self, partition: int, offset: int, timestamp_ms: int, reason: str) -> bool:
        if self.ranges and not any(r.partition == partition and offset in r for r in self.ranges):
            return False
        if self.since is not None and timestamp_ms < _ms(self.since):
            return False
        if self.until is not None and timestamp_ms >= _ms(self.until):
            return False
        return not self.reasons or reason in self.reasons


def selection_of(args: argparse.Namespace) -> Selection:
    """The selection the arguments describe; ConfigError for an empty or impossible one."""
    chosen = Selection(tuple(args.offsets), args.since, args.until, frozenset(args.reason))
    if chosen == Selection() and not args.all:
        raise ConfigError("choose the dead letters: --offsets, --since/--until, --reason, or --all")
    if chosen != Selection() and args.all:
        raise ConfigError("--all selects every dead letter; leave it out to choose some")
    if chosen.since and chosen.until and chosen.until <= chosen.since:
        raise ConfigError("--until must be later than --since")
    return chosen


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--offsets",
        type=parse_offsets,
        action="append",
        default=[],
        metavar="P[:FROM-TO]",
        help="a partition of the dead-letter topic, or offsets of it (repeatable): 0, 0:17,"
        " 0:100-200 (inclusive), 0:100-",
    )
    parser.add_argument("--since", type=parse_time, help="dead-lettered at or after (ISO 8601)")
    parser.add_argument("--until", type=parse_time, help="dead-lettered before (ISO 8601)")
    parser.add_argument(
        "--reason",
        action="append",
        default=[],
        help="the dlq.error.reason header, e.g. unknown_schema (repeatable)",
    )
    parser.add_argument("--all", action="store_true", help="every dead letter")
    parser.add_argument(
        "--execute", action="store_true", help="move them (default: a dry run that lists them)"
    )


def run(args: argparse.Namespace) -> int:
    selection = selection_of(args)
    settings = load_settings(args.config)
    topics = settings.topics
    consumer = Consumer(_consumer_config(settings))
    try:
        partitions = require_topics(
            consumer, [topics.dlq, topics.intents], servers=settings.kafka.bootstrap_servers
        )
        spans = _spans(consumer, topics.dlq, partitions[topics.dlq], selection)
        chosen = _chosen(consumer, topics.dlq, spans, selection, topics.pending)
        if not args.execute:
            return _dry_run(chosen, topics.dlq, topics.intents)
        producer = Producer(_producer_config(settings))
        moved = _move(chosen, producer, (topics.intents, partitions[topics.intents]))
    finally:
        consumer.close()
    _say(f"moved {moved} dead letters from {topics.dlq} to {topics.intents}")
    return 0


def _consumer_config(settings: Settings) -> dict[str, Any]:
    # librdkafka wants a group id; this one never joins (assign) and never commits.
    group = f"push-redrive-{uuid.uuid4().hex}"
    config = consumer_settings(settings.kafka.consumer_config(group))
    return {**config, "enable.partition.eof": True}


def _producer_config(settings: Settings) -> dict[str, Any]:
    """The pipeline's producer guarantees (acks=all, idempotence) on the user's settings."""
    return producer_settings(settings.kafka.producer_config())


@dataclass(frozen=True, slots=True)
class Span:
    """Offsets `start` (included) to `stop` (excluded) of one dead-letter partition."""

    partition: int
    start: int
    stop: int


def _spans(consumer: Consumer, topic: str, count: int, selection: Selection) -> list[Span]:
    """What to read of each partition: at most up to its end offset now (so nothing appended
    during the run is read); ConfigError for a partition or range the topic does not hold."""
    named = {r.partition for r in selection.ranges}
    unknown = sorted(p for p in named if p >= count)
    if unknown:
        raise ConfigError(
            f"--offsets: {topic} has partitions 0..{count - 1}, not {', '.join(map(str, unknown))}"
        )
    spans = []
    for partition in sorted(named) if named else range(count):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=15)
        start, stop = low, high
        ranges = [r for r in selection.ranges if r.partition == partition]
        if ranges:
            for r in ranges:
                if r.first >= high or (r.last is not None and r.last < low):
                    held = f"offsets {low}..{high - 1}" if high > low else "no records"
                    raise ConfigError(
                        f"--offsets {_show(r)}: partition {partition} of {topic} holds {held}"
                    )
            start = max(low, min(r.first for r in ranges))
            if all(r.last is not None for r in ranges):
                stop = min(high, max((r.last or 0) + 1 for r in ranges))
        if selection.since is not None:
            start = max(start, _offset_at(consumer, topic, partition, selection.since, high))
        if start < stop:
            spans.append(Span(partition, start, stop))
    return spans


def _offset_at(consumer: Consumer, topic: str, partition: int, when: datetime, high: int) -> int:
    """The first offset written at or after `when` (`high` when there is none)."""
    found = consumer.offsets_for_times([TopicPartition(topic, partition, _ms(when))], timeout=15)
    offset: int = found[0].offset
    return high if offset < 0 else offset


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record of the dead-letter topic and what its `dlq.*` headers say."""

    record: ConsumedRecord

    def header(self, name: str) -> str | None:
        value = dict(self.record.headers).get(name)
        return None if value is None else value.decode(errors="replace")

    @property
    def reason(self) -> str:
        return self.header(REASON_HEADER) or ""

    @property
    def source_topic(self) -> str | None:
        return self.header(SOURCE_TOPIC_HEADER)

    @property
    def source_partition(self) -> int | None:
        text = self.header(SOURCE_PARTITION_HEADER) or ""
        return int(text) if text.isdigit() else None

    def matches(self, selection: Selection) -> bool:
        record = self.record
        return selection.matches(record.partition, record.offset, record.timestamp_ms, self.reason)

    def describe(self) -> str:
        record = self.record
        when = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC).isoformat("T", "seconds")
        key = "(none)" if record.key is None else record.key.decode(errors="replace")
        return f"{self.origin}  {when}  {self.reason or '-'}  key={key}"

    @property
    def origin(self) -> str:
        """`<dlq>/<partition>/<offset>`, the value of the `push.redriven-from` header."""
        return f"{self.record.topic}/{self.record.partition}/{self.record.offset}"


def _chosen(
    consumer: Consumer, topic: str, spans: Sequence[Span], selection: Selection, pending: str
) -> list[DeadLetter]:
    """The selected dead letters, in offset order per partition; those of the pending
    topic (status requests, not intents) are reported and left where they are."""
    chosen: list[DeadLetter] = []
    skipped = 0
    others: dict[str, int] = {}
    for record in _read(consumer, topic, spans):
        letter = DeadLetter(record)
        if not letter.matches(selection):
            others[letter.reason] = others.get(letter.reason, 0) + 1
        elif letter.source_topic == pending:
            skipped += 1
        else:
            chosen.append(letter)
    if skipped:
        _say(f"left {skipped} dead letters of {pending} (pending requests are not intents)")
    if not chosen and others:
        seen = ", ".join(f"{reason or '(none)'} ({n})" for reason, n in sorted(others.items()))
        _say(f"no dead letter matched; the reasons of the others read: {seen}")
    return chosen


def _read(consumer: Consumer, topic: str, spans: Sequence[Span]) -> Iterator[ConsumedRecord]:
    """Every record of `spans`, each partition read up to its stop offset, then left."""
    stops = {s.partition: s.stop for s in spans}
    consumer.assign([TopicPartition(topic, s.partition, s.start) for s in spans])
    last_progress = time.monotonic()
    while stops:
        messages = consumer.consume(num_messages=500, timeout=1.0)
        if messages:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > STALL_TIMEOUT_S:
            raise TopicReadError(
                f"reading {topic} stalled for {STALL_TIMEOUT_S:.0f} s with partitions"
                f" {', '.join(map(str, sorted(stops)))} unfinished; nothing was moved"
            )
        for message in messages:
            partition = cast(int, message.partition())
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    stops.pop(partition, None)  # its end now is at or past the stop
                elif error.fatal():
                    raise TopicReadError(f"reading {topic} failed: {error.str()}")
                continue
            offset = cast(int, message.offset())
            stop = stops.get(partition)
            if stop is None or offset >= stop:
                continue
            if offset >= stop - 1:
                del stops[partition]
            yield _record(message)


def _record(message: Message) -> ConsumedRecord:
    headers = message.headers()
    return ConsumedRecord(
        cast(str, message.topic()),
        cast(int, message.partition()),
        cast(int, message.offset()),
        message.key(),
        message.value(),
        header_pairs(headers) if headers else (),
        message.timestamp()[1],
    )


def _dry_run(chosen: Sequence[DeadLetter], dlq: str, intents: str) -> int:
    for letter in chosen:
        _say(letter.describe())
    _say(
        f"dry run: {len(chosen)} dead letters would move from {dlq} to {intents};"
        " add --execute to move them"
    )
    return 0


def _move(chosen: Sequence[DeadLetter], producer: Producer, target: tuple[str, int]) -> int:
    """Produce every chosen record to the intents topic (`target`: name, partition count);
    DeliveryError naming the records the broker did not acknowledge."""
    intents, partitions = target
    unacknowledged: dict[str, str] = {}  # origin -> the broker's error, "" while waiting
    for letter in chosen:
        origin = letter.origin
        unacknowledged[origin] = ""

        def delivered(error: KafkaError | None, _message: Message, origin: str = origin) -> None:
            if error is None:
                del unacknowledged[origin]
            else:
                unacknowledged[origin] = error.str()

        record = letter.record
        where: dict[str, Any] = {}
        if letter.source_topic == intents and (letter.source_partition or 0) < partitions:
            where["partition"] = letter.source_partition  # back where it came from
        while True:
            try:
                producer.produce(
                    intents, record.value, record.key, headers=redriven_headers(letter),
                    on_delivery=delivered, **where,
                )  # fmt: skip
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.5)
        producer.poll(0)
        _say(f"{letter.describe()}  -> {intents}")
    producer.flush(FLUSH_TIMEOUT_S)
    if unacknowledged:
        problem = next((e for e in unacknowledged.values() if e), "no answer in time")
        listed = ", ".join(list(unacknowledged)[:10])
        raise DeliveryError(
            f"only {len(chosen) - len(unacknowledged)} of {len(chosen)} dead letters reached"
            f" {intents}; not acknowledged ({problem}): {listed}"
        )
    return len(chosen)


def redriven_headers(letter: DeadLetter) -> list[tuple[str, str | bytes | None]]:
    """The original headers (without what the dead-letter path and earlier redrives
    added), plus where this copy comes from."""
    headers: list[tuple[str, str | bytes | None]] = [
        (name, value) for name, value in letter.record.headers if not name.startswith(_STRIPPED)
    ]
    headers.append((REDRIVEN_FROM, letter.origin.encode()))
    return headers


def _say(line: str) -> None:
    """A line of the command's report, on stdout (errors go to stderr, by the CLI)."""
    sys.stdout.write(line + "\n")


def _show(chosen: OffsetRange) -> str:
    last = "" if chosen.last is None else str(chosen.last)
    return f"{chosen.partition}:{chosen.first}-{last}"


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
