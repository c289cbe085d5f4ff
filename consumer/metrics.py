"""Prometheus metrics, all on one registry that the caller passes in.

Names follow Prometheus conventions (`_total`, `_seconds`, `_bytes`); labels are bounded
(provider, account, status, code class, reason, partition), never device ids or free text.
`Metrics` is also the dispatch layer's `DispatchObserver`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from consumer.dispatch.breaker import BreakerState

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
            "Provider HTTP calls, by operation (push, poll, login) and status class.",
            ["provider", "account", "code_class", "operation"],
            registry=r,
        )
        self.provider_latency = Histogram(
            "push_provider_call_duration_seconds",
            "Provider HTTP call latency.",
            ["provider", "account"],
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
            "push_assigned_partitions", "Partitions assigned to this instance.", registry=r
        )
        self.consumer_lag = Gauge(
            "push_consumer_lag_messages",
            "High watermark minus position, per assigned partition.",
            ["topic", "partition"],
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
    ) -> None:
        self.provider_calls.labels(provider, account, status_class, operation).inc()
        self.provider_latency.labels(provider, account).observe(seconds)

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
