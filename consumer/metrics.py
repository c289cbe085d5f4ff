"""Prometheus metrics, all on one registry that the caller passes in.

Names follow Prometheus conventions (`_total`, `_seconds`, `_bytes`); labels are bounded
(provider, account, status, code class, known status code, operation, reason, consumer
group, partition), never device ids or free text. `Metrics` is also the dispatch layer's
`DispatchObserver`. No `_created` series: they would double the series count for a value
no query reads (a counter's reset shows in `rate()` anyway).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping, Sequence
from math import isnan
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from consumer.dispatch.breaker import BreakerState
from consumer.dispatch.exchange import OTHER_STATUS

if TYPE_CHECKING:
    from consumer.model import PushOutcome

# process-wide in prometheus_client (every registry, every metric); the function is untyped
disable_created_metrics()  # type: ignore[no-untyped-call]

Partition = tuple[str, int]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_ASYNC_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600)
_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class Metrics:
    """Every metric the pipeline exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.intents_consumed = Counter(
            "push_intents_consumed",
            "Intent messages read from the intents topic (parked ones read back are resumed).",
            registry=r,
        )
        self.intents_decoded = Counter(
            "push_intents_decoded",
            "Intents decoded and valid.",
            ["provider", "account"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "push_intents_dead_lettered",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.outcomes = Counter(
            "push_outcomes",
            "Outcome events published (acknowledged), by status.",
            ["provider", "account", "status"],
            registry=r,
        )
        self.targets_sent = Counter(
            "push_targets_sent", "Targets sent to providers.", ["provider", "account"], registry=r
        )
        self.targets_rejected = Counter(
            "push_targets_rejected",
            "Targets the provider rejected.",
            ["provider", "account"],
            registry=r,
        )
        self.batch_targets = Histogram(
            "push_batch_targets",
            "Targets per batch sent.",
            ["provider"],
            buckets=(1, 10, 50, 100, 200, 500, 800, 1000),
            registry=r,
        )
        self.batch_fill = Histogram(
            "push_batch_fill_ratio",
            "Targets per batch over the provider's per-call limit.",
            ["provider"],
            buckets=(0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0),
            registry=r,
        )
        self.provider_calls = Counter(
            "push_provider_calls",
            "Provider HTTP calls, by operation (push, poll, login), status class and exact"
            " status (a known one, else other; none when no answer came).",
            ["provider", "account", "code_class", "operation", "code"],
            registry=r,
        )
        self.provider_latency = Histogram(
            "push_provider_call_duration_seconds",
            "Provider HTTP call latency, by operation (push, poll, login).",
            ["provider", "account", "operation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "push_provider_retries",
            "Provider call retries; ambiguous=true when the failed try may have been sent.",
            ["provider", "account", "ambiguous"],
            registry=r,
        )
        self.breaker = Gauge(
            "push_circuit_breaker_state",
            "Circuit breaker per account and operation: 0 closed, 1 half-open, 2 open.",
            ["provider", "account", "operation"],
            registry=r,
        )
        self.throttled = Counter(
            "push_provider_throttled_seconds",
            "Seconds the account was held by Retry-After or API_LIMIT_EXCEEDED (every call).",
            ["provider", "account"],
            registry=r,
        )
        self.short_circuits = Counter(
            "push_provider_short_circuits",
            "Requests not sent because the operation's circuit breaker was open.",
            ["provider", "account", "operation"],
            registry=r,
        )
        self.token_refreshes = Counter(
            "push_token_refreshes",
            "Provider tokens obtained.",
            ["provider", "account"],
            registry=r,
        )
        self.parked = Counter(
            "push_intents_parked",
            "Intents parked on the retry topic to wait for their provider (each parking).",
            ["provider", "account"],
            registry=r,
        )
        self.resumed = Counter(
            "push_intents_resumed",
            "Parked intents read back from the retry topic to be tried again.",
            ["provider", "account"],
            registry=r,
        )
        self.waited = Gauge(
            "push_parked_wait_seconds",
            "How long the latest parked intent read back had been waiting, per account.",
            ["provider", "account"],
            registry=r,
        )
        self.in_flight_intents = Gauge(
            "push_in_flight_intents", "Intents consumed and not yet finished.", registry=r
        )
        self.in_flight_bytes = Gauge(
            "push_in_flight_bytes", "Bytes of intents consumed and not yet finished.", registry=r
        )
        self.paused_partitions = Gauge(
            "push_paused_partitions", "Partitions paused by backpressure.", registry=r
        )
        self.assigned_partitions = Gauge(
            "push_assigned_partitions",
            "Partitions assigned to this instance, per consumer group.",
            ["group"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "push_consumer_lag_messages",
            "Log end offset minus position (or the commit before any read), per consumer"
            " group and assigned partition.",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.ready = Gauge(
            "push_ready", "1 while /readyz answers ready, else 0 (read at each scrape).", registry=r
        )
        self.build_info = Gauge(
            "push_build_info",
            "Always 1; the labels name the versions running.",
            ["version", "python", "confluent_kafka", "librdkafka"],
            registry=r,
        )
        self.commit_latency = Histogram(
            "push_commit_duration_seconds",
            "Offset commit latency.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.committed_offsets = Counter(
            "push_offsets_committed", "Offset commits that moved a watermark.", registry=r
        )
        self.end_to_end = Histogram(
            "push_end_to_end_latency_seconds",
            "From the intent's created_at to its outcome being acknowledged.",
            ["provider"],
            buckets=(*_LATENCY_BUCKETS, 120, 300),
            registry=r,
        )
        self.async_pending = Gauge(
            "push_async_pending_requests",
            "Asynchronous provider requests awaiting a final status.",
            ["account"],
            registry=r,
        )
        self.async_time_to_final = Histogram(
            "push_async_time_to_final_seconds",
            "From submission to a final asynchronous status.",
            ["account", "status"],
            buckets=_ASYNC_BUCKETS,
            registry=r,
        )
        self.async_polls = Counter(
            "push_async_polls",
            "Status polls, by answer state.",
            ["account", "state"],
            registry=r,
        )
        self.kafka_connected = Gauge(
            "push_kafka_connected",
            "1 while the Kafka client has a broker connection up; 0 before its first, and"
            " while it is down (authentication or TLS failed, no broker reachable).",
            ["client"],
            registry=r,
        )
        self.loop_heartbeat = Gauge(
            "push_loop_heartbeat_timestamp_seconds",
            "Unix time the main loop last turned.",
            ["loop"],
            registry=r,
        )
        self._groups: dict[str, PartitionGauges] = {}

    def partitions(self, group: str) -> PartitionGauges:
        """The assigned-partition and lag gauges of consumer group `group`."""
        gauges = self._groups.get(group)
        if gauges is None:
            gauges = self._groups[group] = PartitionGauges(self, group)
        return gauges

    def watch_readiness(self, ready: Callable[[], bool]) -> None:
        """Export `ready()` as `push_ready`, asked at every scrape (never stale)."""
        self.ready.set_function(lambda: 1.0 if ready() else 0.0)

    def describe_build(
        self, *, version: str, python: str, confluent_kafka: str, librdkafka: str
    ) -> None:
        """Set `push_build_info` for the versions this process runs."""
        self.build_info.labels(version, python, confluent_kafka, librdkafka).set(1)

    def on_kafka_connection(self, client: str, *, connected: bool) -> None:
        """Kafka `client` (intents-consumer, producer, status-consumer ...) is up or down."""
        self.kafka_connected.labels(client).set(1 if connected else 0)

    # HealthObserver
    def on_call(
        self,
        provider: str,
        account: str,
        status_class: str,
        seconds: float,
        *,
        operation: str = "push",
        code: str = OTHER_STATUS,
    ) -> None:
        self.provider_calls.labels(provider, account, status_class, operation, code).inc()
        self.provider_latency.labels(provider, account, operation).observe(seconds)

    def on_retry(self, provider: str, account: str, ambiguous: bool) -> None:
        self.retries.labels(provider, account, "true" if ambiguous else "false").inc()

    def on_breaker(
        self, provider: str, account: str, state: BreakerState, operation: str = "push"
    ) -> None:
        self.breaker.labels(provider, account, operation).set(_BREAKER_VALUE[state])

    def on_throttle(self, provider: str, account: str, seconds: float) -> None:
        self.throttled.labels(provider, account).inc(seconds)

    def on_short_circuit(self, provider: str, account: str, operation: str) -> None:
        self.short_circuits.labels(provider, account, operation).inc()

    def on_token_refresh(self, provider: str, account: str) -> None:
        self.token_refreshes.labels(provider, account).inc()

    def on_outcomes(self, outcomes: Iterable[PushOutcome]) -> None:
        """Outcomes published (acknowledged), and the targets they rejected: one increment
        per series, not per outcome (the pipeline counts a whole delivered batch at once)."""
        counts: Tally[tuple[str, str, str]] = Tally()
        rejected: Tally[tuple[str, str]] = Tally()
        for outcome in outcomes:
            counts[outcome.provider, outcome.account, outcome.status] += 1
            if outcome.rejected_targets:
                rejected[outcome.provider, outcome.account] += len(outcome.rejected_targets)
        for labels, n in counts.items():
            self.outcomes.labels(*labels).inc(n)
        for (provider, account), n in rejected.items():
            self.targets_rejected.labels(provider, account).inc(n)


class PartitionGauges:
    """One consumer group's partition gauges: how many are assigned, and the lag of each.

    A partition that leaves the assignment (revoked or lost) loses its lag series at once,
    and each lag reading exports exactly the assigned partitions it holds: a member never
    keeps reporting the last lag of a partition that another member now reads.
    """

    def __init__(self, metrics: Metrics, group: str) -> None:
        self._group = group
        self._count = metrics.assigned_partitions.labels(group)
        self._lag = metrics.consumer_lag
        self._assigned: set[Partition] = set()
        self._exported: set[Partition] = set()
        self._count.set(0)  # "no partitions assigned" is a value, not a missing series

    def assigned(self, partitions: Iterable[Partition]) -> None:
        """The group's assignment is now `partitions`."""
        self._assigned = set(partitions)
        self._count.set(len(self._assigned))
        self._drop(self._exported - self._assigned)

    def lag(self, lags: Mapping[Partition, int]) -> None:
        """A lag reading: export it for the assigned partitions, drop every other series."""
        current = {partition for partition in lags if partition in self._assigned}
        self._drop(self._exported - current)
        for topic, partition in current:
            self._lag.labels(self._group, topic, str(partition)).set(lags[topic, partition])
        self._exported = current

    def _drop(self, partitions: set[Partition]) -> None:
        for topic, partition in partitions:
            self._lag.remove(self._group, topic, str(partition))
        self._exported -= partitions


def observe_all(histogram: Histogram, amounts: Sequence[float]) -> None:
    """Observe every amount in one labelled `histogram`, as `observe` would one at a time.

    One increment per bucket touched instead of a Python loop over the buckets and two
    locked increments per value: the end-to-end latency of every outcome cost 3 % of the
    pipeline's CPU observed one by one (py-spy, bench drain). Reads prometheus_client's
    per-child fields (`_upper_bounds`, `_buckets`, `_sum`, pinned by constraints.txt and by
    test_metrics); without them it observes one at a time.
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for amount in amounts:
            histogram.observe(amount)
        return
    counts: Tally[int] = Tally(
        bisect_left(bounds, amount)
        for amount in amounts
        if not isnan(amount)  # NaN: in no bucket, as observe() does
    )
    total.inc(sum(amounts))
    for index, n in counts.items():
        buckets[index].inc(n)


def add_process_collectors(registry: CollectorRegistry) -> None:
    """The process (`process_*`: memory, CPU, file descriptors), platform (`python_info`)
    and garbage-collector (`python_gc_*`) collectors, which only the default registry has."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
