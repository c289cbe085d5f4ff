"""Logging set-up: JSON lines a shipper can parse, quiet HTTP libraries, clear CLI errors."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from consumer.logs import configure_logging

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A fresh logging set-up writing into a string; the previous levels are put back."""
    root, libraries = logging.getLogger(), [logging.getLogger(n) for n in ("httpx", "httpcore")]
    levels = [root.level, *(lib.level for lib in libraries)]
    out = io.StringIO()
    yield out
    configure_logging("WARNING", "text", io.StringIO())  # detach `out`
    root.setLevel(levels[0])
    for library, level in zip(libraries, levels[1:], strict=True):
        library.setLevel(level)


def json_lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_format_writes_one_object_per_line_with_extras_and_the_exception(
    stream: io.StringIO,
) -> None:
    configure_logging("INFO", "json", stream)
    log = logging.getLogger("consumer.test")
    log.info("two\nlines for %s", "az-main", extra={"account": "az-main", "calls": 3})
    try:
        int("bad answer")
    except ValueError:
        log.exception("call failed")

    first, second = json_lines(stream)  # a newline inside a message stays inside its object
    assert first["message"] == "two\nlines for az-main"
    assert first["level"] == "INFO"
    assert first["logger"] == "consumer.test"
    assert first["account"] == "az-main"
    assert first["calls"] == 3
    assert str(first["time"]).endswith("+00:00")
    assert second["level"] == "ERROR"
    assert "ValueError: invalid literal" in str(second["exception"])


def test_json_format_writes_values_json_cannot_hold_as_text(stream: io.StringIO) -> None:
    configure_logging("INFO", "json", stream)
    logging.getLogger("consumer.test").warning(
        "odd", extra={"path": Path("/tmp/x"), "raw": b"\xff"}
    )
    (entry,) = json_lines(stream)
    assert entry["path"] == "/tmp/x"
    assert entry["raw"] == "b'\\xff'"


def test_httpx_and_httpcore_info_lines_are_dropped_and_their_warnings_kept(
    stream: io.StringIO,
) -> None:
    configure_logging("INFO", "text", stream)
    logging.getLogger("httpx").info('HTTP Request: POST http://sim/push "HTTP/1.1 202 Accepted"')
    logging.getLogger("httpcore.connection").debug("connect_tcp.started")
    logging.getLogger("httpx").warning("pool exhausted")
    logging.getLogger("consumer.app").info("pipeline ready")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert "WARNING httpx: pool exhausted" in lines[0]
    assert "INFO consumer.app: pipeline ready" in lines[1]


def test_debug_level_shows_the_http_libraries_too(stream: io.StringIO) -> None:
    configure_logging("DEBUG", "text", stream)
    logging.getLogger("httpx").info("HTTP Request: GET http://sim/")
    assert "HTTP Request" in stream.getvalue()


def test_a_second_set_up_replaces_the_first_handler(stream: io.StringIO) -> None:
    configure_logging("INFO", "text", io.StringIO())
    configure_logging("INFO", "json", stream)
    logging.getLogger("consumer.test").info("once")
    assert [entry["message"] for entry in json_lines(stream)] == ["once"]


def test_librdkafka_lines_routed_through_python_logging_are_json_objects(
    stream: io.StringIO,
) -> None:
    configure_logging("INFO", "json", stream)
    # A real client pointed at a closed port: librdkafka reports the refused connection.
    consumer = Consumer({
        "bootstrap.servers": "127.0.0.1:1",
        "group.id": "log-format-test",
        "logger": logging.getLogger("consumer.kafka.librdkafka"),
        "reconnect.backoff.ms": 50,
    })  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not stream.getvalue() and time.monotonic() < deadline:
            consumer.poll(0.2)  # the client's log lines are delivered by poll()
    finally:
        consumer.close()
    entries = json_lines(stream)
    assert entries, "librdkafka logged nothing about the refused connection"
    assert all(entry["logger"] == "consumer.kafka.librdkafka" for entry in entries)
    assert any("127.0.0.1:1" in str(entry["message"]) for entry in entries), entries


def _cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumer", *arguments],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--log-format", "xml", "run"], "--log-format: invalid choice: 'xml'"),
        (["--log-level", "loud", "run"], "--log-level: unknown level 'loud'"),
    ],
)
def test_bad_logging_options_exit_2_naming_the_option(arguments: list[str], message: str) -> None:
    result = _cli(*arguments)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_log_format_option_is_skipped_when_finding_the_command() -> None:
    # `json` is the option's value, not a command: `run --help` is what gets configured.
    result = _cli("--log-format", "json", "--log-level", "debug", "run", "--help")
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout
