"""Metrics as Prometheus sees them: a fresh registry per test, read with get_sample_value."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry

from consumer.dispatch.breaker import BreakerState, CircuitBreaker
from consumer.metrics import Metrics

BOUNDED_LABELS = {
    "provider", "account", "status", "code_class", "reason", "topic", "partition",
    "ambiguous", "state", "loop", "operation",
}  # fmt: skip


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry)


def test_a_provider_call_is_counted_by_code_class_and_its_latency_observed(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.on_call("azure", "az", "2xx", 0.02)
    metrics.on_call("azure", "az", "2xx", 0.3)
    metrics.on_call("azure", "az", "5xx", 4.0)

    calls = "push_provider_calls_total"
    az = {"provider": "azure", "account": "az"}
    assert registry.get_sample_value(calls, {**az, "code_class": "2xx", "operation": "push"}) == 2
    assert registry.get_sample_value(calls, {**az, "code_class": "5xx", "operation": "push"}) == 1
    latency = "push_provider_call_duration_seconds"
    assert registry.get_sample_value(f"{latency}_count", az) == 3
    assert registry.get_sample_value(f"{latency}_sum", az) == pytest.approx(4.32)
    # The p50/p95/p99 panels read the buckets: 0.02 <= 0.025, 0.3 <= 0.5, 4.0 <= 5.
    bucket = f"{latency}_bucket"
    assert registry.get_sample_value(bucket, {**az, "le": "0.025"}) == 1
    assert registry.get_sample_value(bucket, {**az, "le": "0.5"}) == 2
    assert registry.get_sample_value(bucket, {**az, "le": "5.0"}) == 3
    assert registry.get_sample_value(bucket, {**az, "le": "+Inf"}) == 3


def test_retries_are_counted_apart_when_the_failed_try_may_have_been_sent(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.on_retry("responsys", "rs", ambiguous=False)
    metrics.on_retry("responsys", "rs", ambiguous=True)
    metrics.on_retry("responsys", "rs", ambiguous=True)

    retries = "push_provider_retries_total"
    labels = {"provider": "responsys", "account": "rs"}
    assert registry.get_sample_value(retries, {**labels, "ambiguous": "false"}) == 1
    assert registry.get_sample_value(retries, {**labels, "ambiguous": "true"}) == 2


@pytest.mark.parametrize(
    ("state", "value"),
    [(BreakerState.CLOSED, 0), (BreakerState.HALF_OPEN, 1), (BreakerState.OPEN, 2)],
)
def test_breaker_state_is_exported_as_0_closed_1_half_open_2_open(
    registry: CollectorRegistry, metrics: Metrics, state: BreakerState, value: int
) -> None:
    metrics.on_breaker("azure", "az", state)

    labels = {"provider": "azure", "account": "az", "operation": "push"}
    assert registry.get_sample_value("push_circuit_breaker_state", labels) == value


def test_a_real_breaker_reports_open_half_open_and_closed_through_the_gauge(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(
        failure_threshold=2,
        reset_s=10.0,
        clock=lambda: now[0],
        on_change=lambda state: metrics.on_breaker("azure", "az", state),
    )
    labels = {"provider": "azure", "account": "az", "operation": "push"}

    def gauge() -> float | None:
        return registry.get_sample_value("push_circuit_breaker_state", labels)

    breaker.record_failure()
    breaker.record_failure()
    assert gauge() == 2  # open after two consecutive failures
    now[0] = 11.0
    assert breaker.allow()  # the probe after reset_s
    assert gauge() == 1
    breaker.record_success()
    assert gauge() == 0


def test_token_refreshes_are_counted_per_account(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.on_token_refresh("responsys", "rs")
    metrics.on_token_refresh("responsys", "rs")
    metrics.on_token_refresh("azure", "az")

    refreshes = "push_token_refreshes_total"
    assert registry.get_sample_value(refreshes, {"provider": "responsys", "account": "rs"}) == 2
    assert registry.get_sample_value(refreshes, {"provider": "azure", "account": "az"}) == 1


def test_unlabelled_gauges_are_exported_at_zero_before_anything_happens(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    # The keeping-up panels show 0, not "no data", on an idle pipeline.
    for name in (
        "push_in_flight_intents",
        "push_in_flight_bytes",
        "push_paused_partitions",
        "push_assigned_partitions",
        "push_intents_consumed_total",
        "push_offsets_committed_total",
    ):
        assert registry.get_sample_value(name) == 0, name


def test_metric_names_follow_prometheus_conventions(registry: CollectorRegistry) -> None:
    Metrics(registry)
    families = list(registry.collect())

    assert families
    for family in families:
        assert re.fullmatch(r"push_[a-z0-9_]+", family.name), family.name
        assert not family.name.endswith("_total"), "the client adds _total to counters"
        if family.type == "histogram" and "duration" in family.name:
            assert family.name.endswith("_seconds"), family.name
        if "timestamp" in family.name or "latency" in family.name:
            assert family.name.endswith("_seconds"), family.name
        assert family.documentation, f"{family.name} has no help text"


def test_every_label_is_a_bounded_dimension(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.on_call("azure", "az", "2xx", 0.1)
    metrics.on_retry("azure", "az", ambiguous=True)
    metrics.on_breaker("azure", "az", BreakerState.CLOSED)
    metrics.on_token_refresh("azure", "az")
    metrics.intents_decoded.labels("azure", "az").inc()
    metrics.dead_lettered.labels("undecodable").inc()
    metrics.outcomes.labels("azure", "az", "SENT").inc()
    metrics.targets_sent.labels("azure", "az").inc()
    metrics.targets_rejected.labels("azure", "az").inc()
    metrics.batch_targets.labels("azure").observe(10)
    metrics.batch_fill.labels("azure").observe(0.5)
    metrics.consumer_lag.labels("push.intents", "0").set(3)
    metrics.end_to_end.labels("azure").observe(1)
    metrics.async_pending.labels("rs").set(1)
    metrics.async_time_to_final.labels("rs", "SENT").observe(30)
    metrics.async_polls.labels("rs", "PROCESSING").inc()
    metrics.loop_heartbeat.labels("consume").set(1)

    labels = {name for family in registry.collect() for s in family.samples for name in s.labels}
    # Device ids, intent ids or error messages as labels would explode the series count.
    assert labels - {"le"} <= BOUNDED_LABELS
