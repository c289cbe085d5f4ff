"""Publish synthetic traffic at a steady rate, on a thread of its own, until stopped."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType

from confluent_kafka import Producer

from push_tools.demo.children import QUIET_KAFKA_LOG
from push_tools.demo.traffic import RecordKind, TrafficMix

_TICK_S = 0.1
_FLUSH_TIMEOUT_S = 10.0


class SyntheticProducer:
    """Sends `rate` records per second from a `TrafficMix` to `topic` (acks=all)."""

    def __init__(
        self, client_config: Mapping[str, str], topic: str, rate: float, mix: TrafficMix
    ) -> None:
        self._producer = Producer({
            **client_config,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "logger": QUIET_KAFKA_LOG,
        })  # fmt: skip
        self._topic = topic
        self._rate = rate
        self._mix = mix
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sent: Counter[RecordKind] = Counter()
        self._thread = threading.Thread(target=self._loop, name="demo-producer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> int:
        """Stop sending, flush; returns how many records were not acknowledged."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        unflushed: int = self._producer.flush(_FLUSH_TIMEOUT_S)
        return unflushed

    def sent(self) -> Mapping[RecordKind, int]:
        """Records handed to the producer so far, by kind."""
        with self._lock:
            return MappingProxyType(dict(self._sent))

    def _loop(self) -> None:
        started = time.monotonic()
        produced = 0
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self._rate)  # steady rate, no drift
            for _ in range(due - produced):
                self._send()
            produced = max(produced, due)
            self._producer.poll(0)
            self._stop.wait(_TICK_S)

    def _send(self) -> None:
        record = self._mix.next()
        while True:
            try:
                self._producer.produce(self._topic, key=record.key, value=record.value)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                self._producer.poll(0.5)
        with self._lock:
            self._sent[record.kind] += 1
