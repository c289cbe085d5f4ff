"""`push-consumer redrive` on the real broker: exactly the chosen dead letters go back to
the intents topic, with their key, value and original headers; a dry run moves nothing;
a bad selection is one line and exit code 2."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from consumer.cli import main
from consumer.errors import DecodeError, UnknownSchemaError, ValidationError
from consumer.kafka import ConsumedRecord, dead_letter
from consumer.settings import to_toml
from tests.conftest import create_topic
from tests.integration.pipeline.harness import Sims, config_for

pytestmark = pytest.mark.integration

NO_SIMS = Sims("http://127.0.0.1:9", "http://127.0.0.1:9")  # redrive calls no provider
# Dead-lettered an hour ago: timestamps older than the broker's retention (7 days) would
# have their records deleted under the test.
T0 = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)


def at(minute: int) -> str:
    return (T0 + timedelta(minutes=minute)).isoformat()


@dataclass(frozen=True)
class Letter:
    """A dead letter to put on the DLQ: where it came from and why."""

    dlq_partition: int
    source_partition: int
    reason: str
    minute: int  # dead-lettered at T0 + minute
    source: str = "intents"
    value_bytes: int = 0


# dlq partition 0: offsets 0..3; partition 1: offsets 0..2 (its offset 1 from the pending topic)
LETTERS = [
    Letter(0, 2, "unknown_schema", 0),
    Letter(0, 1, "undecodable", 1),
    Letter(0, 0, "unknown_schema", 2),
    Letter(0, 1, "protected_field", 3),
    Letter(1, 0, "unknown_schema", 4),
    Letter(1, 0, "undecodable_pending", 5, source="pending"),
    Letter(1, 2, "unknown_schema", 6),
]


@dataclass
class Setup:
    bootstrap: str
    config: Path
    topics: dict[str, str]

    def dlq(self, partition: int, offset: int) -> str:
        return f"{self.topics['dlq']}/{partition}/{offset}"


def _fail(reason: str) -> None:
    """Raise the kind of error the pipeline dead-letters for `reason`."""
    kinds: dict[str, Exception] = {
        "unknown_schema": UnknownSchemaError("schema id 999 is not known"),
        "undecodable": DecodeError("not Avro"),
        "undecodable_pending": DecodeError("not a pending request"),
    }
    raise kinds.get(reason, ValidationError("breaks a rule", "i-1", rule=reason))


def _error(reason: str) -> Exception:
    """A raised error (with its traceback), kept to be dead-lettered as the pipeline does."""
    try:
        _fail(reason)
    except Exception as exc:
        return exc
    raise AssertionError("unreachable")


def _setup(
    bootstrap: str,
    tmp_path: Path,
    letters: list[Letter],
    *,
    same_topic: bool = False,
    **intents: Any,
) -> Setup:
    config = config_for(bootstrap, NO_SIMS)
    topics: dict[str, str] = config["topics"]
    if same_topic:  # the dead letters share the intents topic: what it appends, it reads
        topics["dlq"] = topics["intents"]
    create_topic(bootstrap, topics["intents"], 3, config=intents or None)
    if not same_topic:
        create_topic(bootstrap, topics["dlq"], 2)
    create_topic(bootstrap, topics["pending"], 1)
    path = tmp_path / "settings.toml"
    path.write_text(to_toml(config))
    setup = Setup(bootstrap, path, topics)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for offset, letter in enumerate(letters):
        source = ConsumedRecord(
            topic=topics[letter.source],
            partition=letter.source_partition,
            offset=100 + offset,
            key=f"key-{offset}".encode(),
            # random bytes: the producer compresses (lz4), and padding would shrink to nothing
            value=f"value-{offset}".encode() + random.Random(offset).randbytes(letter.value_bytes),
            headers=(("origin", b"upstream"), ("trace", f"t-{offset}".encode())),
            timestamp_ms=0,
        )
        record = dead_letter(source, topics["dlq"], _error(letter.reason), letter.reason)
        when = T0 + timedelta(minutes=letter.minute)
        producer.produce(
            record.topic, record.value, record.key, partition=letter.dlq_partition,
            headers=list(record.headers or ()), timestamp=int(when.timestamp() * 1000),
        )  # fmt: skip
    assert producer.flush(30) == 0
    return setup


def _read_all(
    bootstrap: str, topic: str
) -> list[tuple[int, bytes, bytes, list[tuple[str, bytes]]]]:
    """Every record of `topic` now (partition, key, value, headers), read by a plain consumer."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}",
         "enable.auto.commit": False}
    )  # fmt: skip
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        starts, ends = {}, {}
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                starts[partition], ends[partition] = low, high
        consumer.assign([TopicPartition(topic, p, offset) for p, offset in starts.items()])
        records = []
        deadline = time.monotonic() + 60
        while ends:
            assert time.monotonic() < deadline, f"{topic}: partitions {sorted(ends)} not read"
            for message in consumer.consume(500, 1.0):
                assert message.error() is None, message.error()
                records.append(
                    (message.partition(), message.key(), message.value(), message.headers() or [])
                )
                if message.offset() >= ends.get(message.partition(), 0) - 1:
                    ends.pop(message.partition(), None)
        return records
    finally:
        consumer.close()


def redrive(setup: Setup, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(["redrive", "--config", str(setup.config), *args])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _origins(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines() if line.split()[0].count("/") == 2]


def _moved_from(setup: Setup) -> list[str]:
    moved = _read_all(setup.bootstrap, setup.topics["intents"])
    return sorted(dict(headers)["push.redriven-from"].decode() for _, _, _, headers in moved)


def test_a_dry_run_is_the_default_lists_the_chosen_and_moves_none(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = _setup(kafka_bootstrap, tmp_path, LETTERS)
    code, out, _ = redrive(setup, capsys, "--reason", "unknown_schema")
    assert code == 0
    chosen = [setup.dlq(0, 0), setup.dlq(0, 2), setup.dlq(1, 0), setup.dlq(1, 2)]
    assert sorted(_origins(out)) == chosen
    assert f"{setup.dlq(0, 2)}  {at(2)}  unknown_schema  key=key-2" in out
    assert out.splitlines()[-1] == (
        f"dry run: 4 dead letters would move from {setup.topics['dlq']} to"
        f" {setup.topics['intents']}; add --execute to move them"
    )
    assert _read_all(kafka_bootstrap, setup.topics["intents"]) == []


def test_a_reason_nothing_has_says_which_reasons_there_are(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = _setup(kafka_bootstrap, tmp_path, LETTERS[:4])
    code, out, _ = redrive(setup, capsys, "--reason", "unknown-schema", "--execute")
    assert code == 0
    assert (
        "no dead letter matched; the reasons of the others read: protected_field (1),"
        " undecodable (1), unknown_schema (2)"
    ) in out
    assert out.splitlines()[-1].startswith("moved 0 dead letters")
    assert _read_all(kafka_bootstrap, setup.topics["intents"]) == []


def test_execute_moves_exactly_the_chosen_with_key_value_and_original_headers(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = _setup(kafka_bootstrap, tmp_path, LETTERS)
    code, out, _ = redrive(setup, capsys, "--reason", "unknown_schema", "--execute")
    assert code == 0
    assert out.splitlines()[-1] == (
        f"moved 4 dead letters from {setup.topics['dlq']} to {setup.topics['intents']}"
    )
    moved = {
        dict(headers)["push.redriven-from"].decode(): (partition, key, value, headers)
        for partition, key, value, headers in _read_all(kafka_bootstrap, setup.topics["intents"])
    }
    # DLQ offset -> index in LETTERS (the order they were produced in)
    expected = {setup.dlq(0, 0): 0, setup.dlq(0, 2): 2, setup.dlq(1, 0): 4, setup.dlq(1, 2): 6}
    assert sorted(moved) == sorted(expected)
    for origin, index in expected.items():
        partition, key, value, headers = moved[origin]
        assert (key, value) == (f"key-{index}".encode(), f"value-{index}".encode())
        assert partition == LETTERS[index].source_partition, "back to the partition it came from"
        assert headers == [
            ("origin", b"upstream"),
            ("trace", f"t-{index}".encode()),
            ("push.redriven-from", origin.encode()),
        ], "original headers kept, dlq.* and __connect.* dropped"


def test_offset_ranges_choose_by_partition_and_offset(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = _setup(kafka_bootstrap, tmp_path, LETTERS)
    code, _, _ = redrive(setup, capsys, "--offsets", "0:1-2", "--offsets", "1:2", "--execute")
    assert code == 0
    assert _moved_from(setup) == [setup.dlq(0, 1), setup.dlq(0, 2), setup.dlq(1, 2)]


def test_a_time_range_chooses_by_when_they_were_dead_lettered(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = _setup(kafka_bootstrap, tmp_path, LETTERS)
    in_paris = timezone(timedelta(hours=1))
    since, until = at(1), (T0 + timedelta(minutes=4)).astimezone(in_paris).isoformat()
    code, _, _ = redrive(setup, capsys, "--since", since, "--until", until, "--execute")
    assert code == 0
    assert _moved_from(setup) == [setup.dlq(0, 1), setup.dlq(0, 2), setup.dlq(0, 3)]


def test_criteria_of_different_kinds_must_all_match(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = _setup(kafka_bootstrap, tmp_path, LETTERS)
    args = ["--offsets", "0", "--reason", "unknown_schema", "--since", at(1)]
    code, _, _ = redrive(setup, capsys, *args, "--execute")
    assert code == 0
    assert _moved_from(setup) == [setup.dlq(0, 2)]


def test_dead_letters_of_pending_requests_are_left_where_they_are(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = _setup(kafka_bootstrap, tmp_path, LETTERS)
    code, out, _ = redrive(setup, capsys, "--all", "--execute")
    assert code == 0
    assert f"left 1 dead letters of {setup.topics['pending']}" in out
    assert setup.dlq(1, 1) not in _moved_from(setup)
    assert len(_moved_from(setup)) == 6


def test_records_appended_during_the_run_are_not_redriven_again(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The dead letters share the intents topic: every record moved is appended to the very
    # topic being read, so a run that read to the moving end would never stop.
    letters = [Letter(0, 0, "unknown_schema", 0), Letter(0, 0, "unknown_schema", 1)]
    setup = _setup(kafka_bootstrap, tmp_path, letters, same_topic=True)
    code, out, _ = redrive(setup, capsys, "--all", "--execute")
    assert code == 0
    assert out.splitlines()[-1].startswith("moved 2 dead letters")
    records = _read_all(kafka_bootstrap, setup.topics["intents"])
    assert len(records) == 4, "the two dead letters and one copy of each"


def test_an_undelivered_record_fails_loudly_naming_it(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # to two partitions of the intents topic: the broker refuses the large one's batch only
    letters = [
        Letter(0, 1, "unknown_schema", 0),
        Letter(0, 0, "unknown_schema", 1, value_bytes=5000),
    ]
    setup = _setup(kafka_bootstrap, tmp_path, letters, **{"max.message.bytes": "2000"})
    code, _, err = redrive(setup, capsys, "--all", "--execute")
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        f"push-consumer redrive: only 1 of 2 dead letters reached {setup.topics['intents']};"
        " not acknowledged ("
    )
    assert last.endswith(f"): {setup.dlq(0, 1)}")


@pytest.fixture(scope="module")
def untouched(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """Dead letters that the tests using it only fail to move (one setup for all of them)."""
    return _setup(kafka_bootstrap, tmp_path_factory.mktemp("redrive"), LETTERS)


BAD_SELECTIONS = [
    ([], "choose the dead letters: --offsets, --since/--until, --reason, or --all"),
    (["--all", "--reason", "x"], "--all selects every dead letter; leave it out to choose some"),
    (["--offsets", "zero"], "--offsets: 'zero' is not PARTITION[:OFFSET | :FROM-TO | :FROM-]"),
    (["--offsets", "0:9-3"], "--offsets: '0:9-3': the range ends before it starts"),
    (["--offsets", "5"], "--offsets: {dlq} has partitions 0..1, not 5"),
    (["--offsets", "1:40-50"], "--offsets 1:40-50: partition 1 of {dlq} holds offsets 0..2"),
    (["--since", "2026-01-01T00:00"], "'2026-01-01T00:00' needs a time zone (e.g. Z or +01:00)"),
    (["--until", "yesterday"], "--until: 'yesterday' is not an ISO 8601 timestamp"),
    (["--since", "2026-01-02T00:00Z", "--until", "2026-01-01T00:00Z"], "--until must be later"
     " than --since"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), BAD_SELECTIONS)
def test_a_bad_selection_is_one_line_exit_2_and_moves_nothing(
    untouched: Setup, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    setup = untouched
    code, _, err = redrive(setup, capsys, *args, "--execute")
    assert code == 2
    expected = message.format(dlq=setup.topics["dlq"])
    assert err.strip().splitlines()[-1].endswith(expected), err
    assert _read_all(setup.bootstrap, setup.topics["intents"]) == []


def test_a_missing_dead_letter_topic_is_named(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(kafka_bootstrap, NO_SIMS)
    create_topic(kafka_bootstrap, config["topics"]["intents"], 1)
    path = tmp_path / "settings.toml"
    path.write_text(to_toml(config))
    code = main(["redrive", "--config", str(path), "--all"])
    assert code == 2
    dlq = config["topics"]["dlq"]
    assert capsys.readouterr().err.strip() == f"push-consumer redrive: topic does not exist: {dlq}"
