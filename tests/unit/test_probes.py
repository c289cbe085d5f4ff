"""`/metrics`, `/healthz`, `/readyz` over real HTTP on a free port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from consumer.metrics import Metrics
from consumer.probes import Probes, ProbeServer


@contextmanager
def serving(registry: CollectorRegistry, probes: Probes) -> Iterator[httpx.Client]:
    """A probe server on a free port, and an HTTP client pointed at it."""
    server = ProbeServer(registry, probes, "127.0.0.1", 0).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as client:
            yield client
    finally:
        server.close()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def probes() -> Probes:
    return Probes(stale_s=60.0)


@pytest.fixture
def http(registry: CollectorRegistry, probes: Probes) -> Iterator[httpx.Client]:
    with serving(registry, probes) as client:
        yield client


def test_metrics_answers_the_registry_in_prometheus_text_format(
    registry: CollectorRegistry, http: httpx.Client
) -> None:
    Metrics(registry).intents_consumed.inc(3)

    answer = http.get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    assert "push_intents_consumed_total 3.0" in answer.text.splitlines()


def test_metrics_ignores_a_query_string(registry: CollectorRegistry, http: httpx.Client) -> None:
    Metrics(registry)

    answer = http.get("/metrics", params={"name[]": "push_in_flight_intents"})

    assert answer.status_code == 200
    assert "push_in_flight_intents 0.0" in answer.text.splitlines()


def test_an_unknown_path_is_404(http: httpx.Client) -> None:
    answer = http.get("/nope")

    assert answer.status_code == 404
    assert answer.text == "not found"


def test_healthz_is_200_while_starting_before_any_loop_turned(http: httpx.Client) -> None:
    answer = http.get("/healthz")

    assert (answer.status_code, answer.text) == (200, "starting")


def test_healthz_is_200_while_every_loop_turns(probes: Probes, http: httpx.Client) -> None:
    probes.beat("consume")
    probes.beat("linger")

    answer = http.get("/healthz")

    assert (answer.status_code, answer.text) == (200, "ok")


def test_healthz_is_503_naming_the_loop_that_stopped_turning(registry: CollectorRegistry) -> None:
    probes = Probes(stale_s=0.05)
    probes.beat("linger")
    time.sleep(0.2)  # the linger loop stops turning for longer than stale_s

    with serving(registry, probes) as http:
        answer = http.get("/healthz")

        assert answer.status_code == 503
        assert answer.text == "stalled: linger"


def test_readyz_is_503_until_the_readiness_check_passes_then_200(
    probes: Probes, http: httpx.Client
) -> None:
    assigned = False
    before_check = http.get("/readyz")
    probes.set_readiness(lambda: assigned)
    before_assignment = http.get("/readyz")
    assigned = True
    after_assignment = http.get("/readyz")

    assert (before_check.status_code, before_check.text) == (503, "not ready")
    assert (before_assignment.status_code, before_assignment.text) == (503, "not ready")
    assert (after_assignment.status_code, after_assignment.text) == (200, "ready")


def test_readyz_is_503_naming_the_kafka_client_that_is_down_even_when_assigned(
    probes: Probes, http: httpx.Client
) -> None:
    probes.set_readiness(lambda: True)
    probes.kafka_condition("intents-consumer", "authentication failed")
    down = http.get("/readyz")
    probes.kafka_condition("intents-consumer", None)
    again = http.get("/readyz")

    assert (down.status_code, down.text) == (
        503,
        "not ready: kafka intents-consumer: authentication failed",
    )
    assert (again.status_code, again.text) == (200, "ready")
