"""Metrics as Prometheus sees them: a fresh registry per test, read with get_sample_value."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from consumer.dispatch.breaker import BreakerState, CircuitBreaker
from consumer.dispatch.exchange import KNOWN_STATUSES, status_code
from consumer.metrics import Metrics, add_process_collectors, observe_all

BOUNDED_LABELS = {
    "provider", "account", "status", "code_class", "code", "reason", "group", "topic",
    "partition", "ambiguous", "state", "loop", "operation",
    # one value per process: the versions it runs
    "version", "python", "confluent_kafka", "librdkafka",
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
    metrics.on_call("azure", "az", "2xx", 0.02, code="200")
    metrics.on_call("azure", "az", "2xx", 0.3, code="200")
    metrics.on_call("azure", "az", "5xx", 4.0, code="503")

    calls = "push_provider_calls_total"
    az = {"provider": "azure", "account": "az"}
    ok = {**az, "code_class": "2xx", "operation": "push", "code": "200"}
    assert registry.get_sample_value(calls, ok) == 2
    down = {**az, "code_class": "5xx", "operation": "push", "code": "503"}
    assert registry.get_sample_value(calls, down) == 1
    latency = "push_provider_call_duration_seconds"
    pushes = {**az, "operation": "push"}
    assert registry.get_sample_value(f"{latency}_count", pushes) == 3
    assert registry.get_sample_value(f"{latency}_sum", pushes) == pytest.approx(4.32)
    # The p50/p95/p99 panels read the buckets: 0.02 <= 0.025, 0.3 <= 0.5, 4.0 <= 5.
    bucket = f"{latency}_bucket"
    az = pushes
    assert registry.get_sample_value(bucket, {**az, "le": "0.025"}) == 1
    assert registry.get_sample_value(bucket, {**az, "le": "0.5"}) == 2
    assert registry.get_sample_value(bucket, {**az, "le": "5.0"}) == 3
    assert registry.get_sample_value(bucket, {**az, "le": "+Inf"}) == 3


def test_throttling_pushes_polls_and_logins_are_series_of_their_own(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.on_call("responsys", "rs", "2xx", 0.1, operation="login", code="200")
    metrics.on_call("responsys", "rs", "2xx", 0.1, operation="push", code="202")
    metrics.on_call("responsys", "rs", "2xx", 0.1, operation="poll", code="200")
    metrics.on_call("responsys", "rs", "2xx", 0.1, operation="poll", code="200")
    metrics.on_call("azure", "az", "4xx", 0.1, operation="push", code="429")
    metrics.on_call("azure", "az", "4xx", 0.1, operation="push", code="400")

    def calls(provider: str, operation: str, code_class: str, code: str) -> float | None:
        account = {"responsys": "rs", "azure": "az"}[provider]
        labels = {"provider": provider, "account": account, "operation": operation,
                  "code_class": code_class, "code": code}  # fmt: skip
        return registry.get_sample_value("push_provider_calls_total", labels)

    assert calls("responsys", "login", "2xx", "200") == 1
    assert calls("responsys", "push", "2xx", "202") == 1
    assert calls("responsys", "poll", "2xx", "200") == 2
    assert calls("azure", "push", "4xx", "429") == 1, "throttling apart from other 4xx"
    assert calls("azure", "push", "4xx", "400") == 1
    polls = {"provider": "responsys", "account": "rs", "operation": "poll"}
    assert registry.get_sample_value("push_provider_call_duration_seconds_count", polls) == 2


@pytest.mark.parametrize(
    ("status", "label"),
    [(200, "200"), (202, "202"), (413, "413"), (429, "429"), (503, "503"), (504, "504"),
     (204, "other"), (302, "other"), (418, "other"), (599, "other"), (0, "other"),
     (-1, "other"), (1000, "other")],
)  # fmt: skip
def test_a_known_status_is_its_own_label_and_any_other_is_other(status: int, label: str) -> None:
    assert status_code(status) == label


def test_the_known_statuses_are_the_ones_the_provider_documents_name() -> None:
    # providers.md and the two seed documents: Azure 200/201/400/401/404/409/413/429,
    # Responsys 200/202/400/401/500/503; plus the gateway and content answers in front.
    named = {200, 201, 202, 400, 401, 404, 409, 413, 429, 500, 503}
    assert named <= KNOWN_STATUSES
    assert len(KNOWN_STATUSES) <= 20, "a bounded label"


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
        "push_ready",
        "push_intents_consumed_total",
        "push_offsets_committed_total",
    ):
        assert registry.get_sample_value(name) == 0, name


def test_a_group_has_zero_partitions_assigned_from_the_start(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.partitions("push-dispatch")
    # "No partitions assigned" must be a value an alert can see, not a missing series.
    assert registry.get_sample_value("push_assigned_partitions", {"group": "push-dispatch"}) == 0


def lag_series(registry: CollectorRegistry) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["group"], s.labels["topic"], s.labels["partition"]): s.value
        for family in registry.collect()
        if family.name == "push_consumer_lag_messages"
        for s in family.samples
    }


def test_lag_is_exported_per_group_and_partition_for_assigned_partitions_only(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    intents, status = metrics.partitions("dispatch"), metrics.partitions("dispatch-status")
    intents.assigned({("intents", 0), ("intents", 1)})
    status.assigned({("pending", 0)})

    # A reading taken just before a revocation may still hold a partition no longer ours.
    intents.lag({("intents", 0): 7, ("intents", 1): 0, ("intents", 2): 99})
    status.lag({("pending", 0): 3})

    assert lag_series(registry) == {
        ("dispatch", "intents", "0"): 7,
        ("dispatch", "intents", "1"): 0,
        ("dispatch-status", "pending", "0"): 3,
    }
    assert registry.get_sample_value("push_assigned_partitions", {"group": "dispatch"}) == 2
    assert registry.get_sample_value("push_assigned_partitions", {"group": "dispatch-status"}) == 1


def test_a_revoked_partition_loses_its_lag_series_at_once(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    intents, status = metrics.partitions("dispatch"), metrics.partitions("dispatch-status")
    intents.assigned({("intents", 0), ("intents", 1)})
    intents.lag({("intents", 0): 7, ("intents", 1): 5})
    status.assigned({("pending", 1)})
    status.lag({("pending", 1): 2})

    intents.assigned({("intents", 1)})  # partition 0 revoked (or lost)

    assert lag_series(registry) == {
        ("dispatch", "intents", "1"): 5,
        ("dispatch-status", "pending", "1"): 2,
    }, "the other group's series stay"
    assert registry.get_sample_value("push_assigned_partitions", {"group": "dispatch"}) == 1
    intents.assigned(set())
    assert ("dispatch", "intents", "1") not in lag_series(registry)
    assert registry.get_sample_value("push_assigned_partitions", {"group": "dispatch"}) == 0


def test_a_partition_missing_from_a_lag_reading_loses_its_old_value(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    intents = metrics.partitions("dispatch")
    intents.assigned({("intents", 0), ("intents", 1)})
    intents.lag({("intents", 0): 7, ("intents", 1): 5})
    intents.lag({("intents", 1): 4})  # partition 0's lag is not known now
    assert lag_series(registry) == {("dispatch", "intents", "1"): 4}


def test_readiness_is_read_at_every_scrape(registry: CollectorRegistry, metrics: Metrics) -> None:
    ready = [False]
    metrics.watch_readiness(lambda: ready[0])
    assert registry.get_sample_value("push_ready") == 0
    ready[0] = True
    assert registry.get_sample_value("push_ready") == 1
    ready[0] = False
    assert registry.get_sample_value("push_ready") == 0


def test_build_info_names_the_versions_with_the_value_one(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    metrics.describe_build(
        version="1.2.3", python="3.11.7", confluent_kafka="2.16.1", librdkafka="2.16.0"
    )
    labels = {"version": "1.2.3", "python": "3.11.7", "confluent_kafka": "2.16.1",
              "librdkafka": "2.16.0"}  # fmt: skip
    assert registry.get_sample_value("push_build_info", labels) == 1


def test_process_and_platform_collectors_export_memory_and_gc(registry: CollectorRegistry) -> None:
    add_process_collectors(registry)
    Metrics(registry)
    # The memory the design promises to keep flat can be watched.
    resident = registry.get_sample_value("process_resident_memory_bytes")
    assert resident is not None
    assert resident > 0
    assert registry.get_sample_value("process_open_fds") is not None
    names = {family.name for family in registry.collect()}
    assert {"python_info", "python_gc_objects_collected"} <= names


def test_no_created_series_are_exported(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.on_call("azure", "az", "2xx", 0.1, code="200")
    metrics.outcomes.labels("azure", "az", "ACCEPTED").inc()
    metrics.end_to_end.labels("azure").observe(1)
    Counter("unlabelled", "An unlabelled counter.", registry=registry).inc()
    text = generate_latest(registry).decode()
    assert "push_provider_calls_total" in text
    assert "_created" not in text, "they would double the series count"


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
    metrics.on_call("azure", "az", "2xx", 0.1, operation="login", code="200")
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
    metrics.partitions("push-dispatch").assigned({("push.intents", 0)})
    metrics.partitions("push-dispatch").lag({("push.intents", 0): 3})
    metrics.ready.set(1)
    metrics.describe_build(version="0", python="3", confluent_kafka="2", librdkafka="2")
    metrics.end_to_end.labels("azure").observe(1)
    metrics.async_pending.labels("rs").set(1)
    metrics.async_time_to_final.labels("rs", "SENT").observe(30)
    metrics.async_polls.labels("rs", "PROCESSING").inc()
    metrics.loop_heartbeat.labels("consume").set(1)

    labels = {name for family in registry.collect() for s in family.samples for name in s.labels}
    # Device ids, intent ids or error messages as labels would explode the series count.
    assert labels - {"le"} <= BOUNDED_LABELS


_BOUNDS = (0.005, 0.01, 0.05, 0.1, 1, 10, 120)
_AMOUNTS = st.lists(
    st.one_of(
        st.sampled_from((*_BOUNDS, 0.0, -1.0, float("inf"), 1e9)),
        st.floats(min_value=-5, max_value=500, allow_nan=False),
    ),
    max_size=60,
)


@given(_AMOUNTS)
def test_observing_a_bundle_at_once_exports_what_observing_each_value_does(
    amounts: list[float],
) -> None:
    one_by_one, at_once = CollectorRegistry(), CollectorRegistry()
    for registry in (one_by_one, at_once):
        Histogram("latency_seconds", "x", ["provider"], buckets=_BOUNDS, registry=registry)
    single = one_by_one._names_to_collectors["latency_seconds"].labels("azure")
    for amount in amounts:
        single.observe(amount)
    observe_all(at_once._names_to_collectors["latency_seconds"].labels("azure"), amounts)
    # every bucket (an amount on a bound counts in it), the count and the sum alike
    assert _histogram_samples(at_once) == pytest.approx(_histogram_samples(one_by_one))


def test_observing_at_once_falls_back_to_observe_without_the_clients_fields() -> None:
    observed: list[float] = []

    class Other:  # a histogram child whose fields are not prometheus_client's of today
        def observe(self, amount: float) -> None:
            observed.append(amount)

    observe_all(Other(), [0.5, 2.0])  # type: ignore[arg-type]
    assert observed == [0.5, 2.0]


def _histogram_samples(registry: CollectorRegistry) -> dict[str, float]:
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def test_the_histogram_fields_observe_all_reads_are_there_so_it_takes_its_fast_path() -> None:
    # a prometheus_client upgrade that renamed them would fall back silently (and slowly)
    child = Histogram("h_seconds", "x", ["provider"], registry=CollectorRegistry()).labels("a")
    assert len(child._upper_bounds) == len(child._buckets)
    assert hasattr(child, "_sum")
