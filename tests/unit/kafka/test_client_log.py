"""librdkafka's log lines: through Python logging, one per message per window, counted."""

from __future__ import annotations

import logging
import time

import pytest
from confluent_kafka import Producer

from consumer.kafka.client_log import LOGGER_NAME, RateLimitedClientLog
from consumer.kafka.config import producer_settings

FAIL = "[thrd:b1:9092/1]: b1:9092/1: Connect to ipv4#10.0.0.1:9092 failed: Connection refused"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]


def test_a_line_goes_to_the_push_librdkafka_logger_at_its_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, LOGGER_NAME)
    RateLimitedClientLog().log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", FAIL)
    [record] = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert record.levelno == logging.ERROR
    # the thread prefix is librdkafka's internals: dropped
    assert record.getMessage() == (
        "rdkafka#producer-1 FAIL: b1:9092/1: Connect to ipv4#10.0.0.1:9092 failed: "
        "Connection refused"
    )


def test_repeats_within_the_window_are_held_back_and_counted_on_the_next_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER_NAME)
    clock = Clock()
    log = RateLimitedClientLog(window_s=30, clock=clock)
    for n in range(1000):
        clock.now += 0.01
        # librdkafka's own counters and durations change from line to line
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-2", f"{FAIL} (after {n}ms)")
    assert len(lines(caplog)) == 1
    clock.now += 30
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", f"{FAIL} (after 7ms)")
    assert lines(caplog)[-1].endswith("(after 7ms) (999 similar suppressed in the last 30 s)")
    clock.now += 1
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", f"{FAIL} (after 1ms)")
    assert len(lines(caplog)) == 2


def test_each_broker_and_each_message_has_its_own_window(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER_NAME)
    log = RateLimitedClientLog(clock=Clock())
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "c", "b1:9092/1: Connect failed")
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "c", "b2:9092/2: Connect failed")
    log.log(logging.WARNING, "%s [%s] %s", "CONFWARN", "c", "Configuration property x ignored")
    assert len(lines(caplog)) == 3


def test_lines_below_the_loggers_level_are_neither_logged_nor_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOGGER_NAME)
    clock = Clock()
    log = RateLimitedClientLog(clock=clock)
    log.log(logging.DEBUG, "%s [%s] %s", "BROKER", "c", "b1:9092/1: debug chatter")
    log.log(logging.WARNING, "%s [%s] %s", "BROKER", "c", "b1:9092/1: debug chatter")
    assert lines(caplog) == ["c BROKER: b1:9092/1: debug chatter"]


def test_a_real_client_facing_a_dead_broker_logs_through_python_once_per_window(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, LOGGER_NAME)
    raw: list[object] = []
    limited = RateLimitedClientLog()

    class Tee:
        """Counts what librdkafka hands over, then lets the limiter decide."""

        def log(self, level: int, fmt: str, *args: object) -> None:
            raw.append(args)
            limited.log(level, fmt, *args)

    # nothing listens on port 1; reconnect at once so the failures pile up
    producer = Producer(
        producer_settings(
            {
                "bootstrap.servers": "127.0.0.1:1",
                "reconnect.backoff.ms": "1",
                "reconnect.backoff.max.ms": "10",
                "logger": Tee(),
            }
        )
    )
    deadline = time.monotonic() + 30
    while len(raw) < 20 and time.monotonic() < deadline:
        producer.poll(0.05)
    assert len(raw) >= 20, "librdkafka reported the dead broker repeatedly"
    failures = [line for line in lines(caplog) if "Connect to" in line]
    assert len(failures) == 1, failures
    assert "%3|" not in capfd.readouterr().err, "no raw librdkafka line on stderr"
