"""How a Kafka client's connection fares, from librdkafka's `error_cb` and `stats_cb`.

librdkafka reconnects by itself and reports every failed attempt to `error_cb`: with a
wrong password that is a report every half second per client, for as long as it lasts.
`KafkaHealth` turns the reports of one client into its state (connected, or down and why),
which the readiness probe (`/readyz`) and the `push_kafka_connected` gauge show, and logs a
condition once when it starts (a reminder at most every `repeat_s` while it lasts, and not
at all when another client of the process already reported it) and once when it ends.

Errors never say that a connection works again; the statistics do (a broker connection in
state `UP`), so the client's `statistics.interval.ms` is set to 5 s unless configured.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from confluent_kafka import KafkaError

from consumer.metrics import Metrics
from consumer.probes import Probes

log = logging.getLogger(__name__)

STATISTICS_INTERVAL_MS = 5_000
REPEAT_S = 300.0  # a condition that lasts is logged again this often, with a count


class Condition(StrEnum):
    """What a client's error report means; the value is how logs and `/readyz` name it."""

    AUTHENTICATION = "authentication failed"
    TLS = "TLS handshake failed"
    ALL_BROKERS_DOWN = "no broker reachable"
    FATAL = "fatal client error"
    BROKER_DOWN = "a broker connection failed"  # one broker: the others may still serve
    OTHER = "client error"


# Conditions in which the client can do no work: the process is not ready.
DOWN = frozenset({Condition.AUTHENTICATION, Condition.TLS, Condition.ALL_BROKERS_DOWN,
                  Condition.FATAL})  # fmt: skip
# Conditions that only follow from a cause already reported (no broker is up because the
# password is wrong): not worth a line of their own while that cause lasts.
_CONSEQUENCES = frozenset({Condition.ALL_BROKERS_DOWN, Condition.BROKER_DOWN})
_CAUSES = frozenset({Condition.AUTHENTICATION, Condition.TLS, Condition.FATAL})

_BY_CODE = {
    KafkaError._AUTHENTICATION: Condition.AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED: Condition.AUTHENTICATION,
    KafkaError._SSL: Condition.TLS,
    KafkaError._ALL_BROKERS_DOWN: Condition.ALL_BROKERS_DOWN,
    KafkaError._TRANSPORT: Condition.BROKER_DOWN,
    KafkaError._RESOLVE: Condition.BROKER_DOWN,
}

_HINTS = {
    Condition.AUTHENTICATION: "check sasl.username, sasl.password and sasl.mechanisms",
    Condition.TLS: "check ssl.ca.location and the broker's certificate",
    Condition.ALL_BROKERS_DOWN: "check kafka.bootstrap_servers and that the brokers run",
}


def classify(error: KafkaError) -> Condition:
    """The condition an `error_cb` report stands for."""
    if error.fatal():
        return Condition.FATAL
    return _BY_CODE.get(error.code(), Condition.OTHER)


def is_connection_error(error: KafkaError) -> bool:
    """A request failed for want of a connection: `KafkaHealth` reports that, once."""
    return (
        classify(error) in DOWN | {Condition.BROKER_DOWN} or error.code() == KafkaError._TIMED_OUT
    )


@dataclass(slots=True)
class _Reported:
    condition: Condition
    since: float  # monotonic
    logged_at: float | None  # None: not logged (explained by a cause, or another client's)
    last_at: float  # the latest report
    repeats: int = 0  # reports since the last line


_Key = tuple[Condition, int | None]  # the error code too for OTHER: each its own line


class KafkaHealth:
    """The connection state of one named client (`intents-consumer`, `producer` ...)."""

    def __init__(
        self,
        client: str,
        probes: Probes,
        metrics: Metrics,
        *,
        repeat_s: float = REPEAT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._probes = probes
        self._metrics = metrics
        self._repeat_s = repeat_s
        self._clock = clock
        self._lock = threading.Lock()  # callbacks run on whichever thread polls the client
        self._reported: dict[_Key, _Reported] = {}  # since last connected, or lately
        self._connected = False
        metrics.on_kafka_connection(client, connected=False)  # a series from the start

    def client_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The callbacks (and the statistics they need) to add to the client's `config`."""
        return {
            "error_cb": self.on_error,
            "stats_cb": self.on_stats,
            "statistics.interval.ms": config.get("statistics.interval.ms", STATISTICS_INTERVAL_MS),
        }

    @property
    def connected(self) -> bool:
        return self._connected

    def on_error(self, error: KafkaError) -> None:
        """librdkafka's `error_cb`: note the condition; log it when it is news."""
        condition = classify(error)
        key = (condition, error.code() if condition is Condition.OTHER else None)
        with self._lock:
            now = self._clock()
            reported = self._reported.get(key)
            if reported is None or now - reported.last_at >= self._repeat_s:
                # new, or quiet for long enough (one broker failing does not end in a
                # reconnection): a fresh condition
                reported = self._reported[key] = _Reported(condition, now, None, now)
                line = self._first_line(condition, error) if self._is_news(condition) else None
            else:
                reported.repeats += 1
                reported.last_at = now
                line = self._reminder(reported, error, now)
            if line is not None:
                reported.logged_at, reported.repeats = now, 0
            if condition in DOWN:
                self._set_connected(False)
        if line is not None:
            log.log(logging.ERROR if condition in DOWN else logging.WARNING, "%s", line)

    def _is_news(self, condition: Condition) -> bool:
        """Not a consequence of a cause already known, nor what another client reported."""
        others = [
            Condition(value)
            for client, value in self._probes.kafka_conditions().items()
            if client != self.client
        ]
        known = [reported.condition for reported in self._reported.values()] + others
        explained = condition in _CONSEQUENCES and any(c in _CAUSES for c in known)
        return not explained and condition not in others

    def _first_line(self, condition: Condition, error: KafkaError) -> str:
        hint = _HINTS.get(condition)
        return f"Kafka {self.client}: {condition}: {error.str()}" + (f" ({hint})" if hint else "")

    def _reminder(self, reported: _Reported, error: KafkaError, now: float) -> str | None:
        if reported.logged_at is None or now - reported.logged_at < self._repeat_s:
            return None
        return (
            f"Kafka {self.client}: still {reported.condition} after {now - reported.since:.0f}s "
            f"({reported.repeats} reports since the last line): {error.str()}"
        )

    def on_stats(self, stats_json: str) -> None:
        """librdkafka's `stats_cb`: connected (again) once a broker connection is UP."""
        try:
            brokers = json.loads(stats_json).get("brokers", {})
        except ValueError:
            return
        up = any(
            broker.get("state") == "UP" and broker.get("source") != "internal"
            for broker in brokers.values()
        )
        if not up:
            return
        with self._lock:
            if self._connected:
                return
            down = [r for r in self._reported.values() if r.condition in DOWN]
            self._reported.clear()
            self._set_connected(True)
        if down:
            conditions = ", ".join(dict.fromkeys(r.condition.value for r in down))
            since = min(r.since for r in down)
            log.info("Kafka %s: connected again (after %s for %.0fs)", self.client, conditions,
                     self._clock() - since)  # fmt: skip

    def _set_connected(self, connected: bool) -> None:
        """The gauge and the probe; the probe names the most telling condition."""
        self._connected = connected
        self._metrics.on_kafka_connection(self.client, connected=connected)
        down = {r.condition for r in self._reported.values()} & DOWN
        reason = next((c.value for c in _BY_WEIGHT if c in down), None)
        self._probes.kafka_condition(self.client, None if connected else reason)


# The cause before its consequence: a wrong password explains why no broker is reachable.
_BY_WEIGHT = (Condition.AUTHENTICATION, Condition.TLS, Condition.FATAL, Condition.ALL_BROKERS_DOWN)
