"""Each new alert fires on the fault it is for, and none fires while the pipeline is healthy.

A real pipeline runs on the real broker against the simulators, fed a steady stream of
intents; a Prometheus process of the test's own scrapes it every second and evaluates
prometheus/alerts.yml with every `for:` and range divided by DIVISOR (artefacts.
shortened_alerts: Prometheus waits out `for:` in real time, and the real durations would
make this test take an hour). First a healthy stretch longer than any rule's window plus its
`for:`, with no alert pending or firing; then the faults, switched on through the
simulators' fault switches and the settings:

- Azure answers every push 429 (Retry-After 1 s): throttled, intents parked and waiting;
- Responsys status polls fail (500): the poll backlog grows;
- an account with a refused password: its intents are FAILED;
- a second instance whose broker does not answer: not ready, no partitions, no connection;
- then Azure hangs every push: in-flight room fills, intake stops while lag grows.
"""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from confluent_kafka import Producer

from consumer.avro import encode_intent
from consumer.model import PushIntent
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush
from consumer.settings import Settings, load_settings
from push_tools.local.kafka import free_ports
from tests.integration.observability.artefacts import (
    ALERTS,
    duration_s,
    ranges,
    shortened_alerts,
)
from tests.integration.observability.prometheus_server import (
    PrometheusServer,
    eventually,
)
from tests.integration.pipeline.harness import Sims, config_for, running, with_topics

pytestmark = pytest.mark.integration

JOB = "push-pipeline"
UNREACHABLE_JOB = "push-pipeline-unreachable"  # its own job: partitions are summed per job
DIVISOR = 20  # 5m windows become 15 s, `for: 3m` becomes 9 s
BAD_ACCOUNT = "rs_refused"
# What each alert is shown on: (alert, the labels that say where it fired).
EXPECTED = {
    ("PushAccountThrottled", ("account", "az")),
    ("PushWaitingIntentsGrowing", ("account", "az")),
    ("PushAsyncBacklogGrowing", ("account", "rs")),
    ("PushFailedOutcomesHigh", ("account", BAD_ACCOUNT)),
    ("PushPipelineNotReady", ("job", UNREACHABLE_JOB)),
    ("PushNoPartitionsAssigned", ("job", UNREACHABLE_JOB)),
    ("PushKafkaUnreachable", ("job", UNREACHABLE_JOB)),
}
STALLED = ("PushConsumptionStalled", ("job", JOB))
NEW_ALERTS = {name for name, _ in EXPECTED} | {STALLED[0]}
FIRE_TIMEOUT_S = 180.0
# What the new alerts read while all is well: ready, connected, every consumer group owning
# partitions, no FAILED outcome, nothing parked.
HEALTHY_VALUES: dict[str, float | None] = {
    "min(push_ready)": 1.0,
    "min(push_kafka_connected)": 1.0,
    "min(push_assigned_partitions) > bool 0": 1.0,
    'sum(push_outcomes_total{status="FAILED"}) or vector(0)': 0.0,
    "sum(push_intents_parked_total) or vector(0)": 0.0,
}


class Traffic:
    """Intents for the given accounts, a few every 0.2 s, on a thread, until stopped."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
        self._topic = topic
        self._accounts = {"az": 2, "rs": 2}  # intents per tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="traffic", daemon=True)

    def also(self, account: str, per_tick: int) -> None:
        self._accounts = {**self._accounts, account: per_tick}

    def _loop(self) -> None:
        tick = 0
        while not self._stop.wait(0.2):
            tick += 1
            for account, count in self._accounts.items():
                for n in range(count):
                    intent = _intent(account, tick, n)
                    self._producer.produce(
                        self._topic, key=intent.push.campaign.encode(), value=encode_intent(intent)
                    )
            self._producer.poll(0)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._producer.flush(30)


def _intent(account: str, tick: int, n: int) -> PushIntent:
    intent_id = f"{account}-{tick}-{n}-{uuid.uuid4().hex[:6]}"
    push: Any
    if account == "az":
        push = AzurePush(AzureKind.ANNOUNCEMENTS, 100 + n, (f"dev-{intent_id}",))
    else:
        recipients = (Recipient(ListType.PROFILE, customer_id=f"cust-{intent_id}"),)
        push = ResponsysPush(f"Campaign_{n}", recipients)
    return PushIntent(intent_id, account, datetime.now(UTC), push)


def _metrics_on(settings: Settings, port: int) -> Settings:
    return settings.model_copy(
        update={"metrics": settings.metrics.model_copy(update={"port": port})}
    )


def _longest_window_and_for_s(rules: Path, names: set[str]) -> float:
    """The longest window plus `for:` of the named rules: a healthy stretch outlasts it."""
    return max(
        max((duration_s(window) for window in ranges(rule["expr"])), default=0.0)
        + duration_s(rule["for"])
        for group in yaml.safe_load(rules.read_text())["groups"]
        for rule in group["rules"]
        if rule["alert"] in names
    )


def _faults(url: str, **knobs: Any) -> None:
    httpx.put(f"{url}/_admin/faults", json=knobs, timeout=10).raise_for_status()


def _firing(prometheus: PrometheusServer) -> set[tuple[str, tuple[str, str]]]:
    """(alert, (label, value)) for every firing alert and each label that says where."""
    return {
        (labels["alertname"], (key, labels[key]))
        for labels in prometheus.alerts("firing")
        for key in ("account", "job")
        if key in labels
    }


def _pipeline_settings(kafka_bootstrap: str, sims: Sims) -> tuple[Settings, Settings]:
    """The healthy pipeline's settings and those of an instance whose broker never answers.

    Their metrics ports and the dead broker's are picked together: picked one at a time,
    two could be the same port.
    """
    port, dead_broker, unreachable_port = free_ports(3)
    config = config_for(kafka_bootstrap, sims)
    config["status"]["enabled"] = True  # the poll backlog needs the poller
    config["pipeline"]["max_in_flight_intents"] = 60  # hanging pushes fill it quickly
    az_limits = config["accounts"]["az"]["limits"]
    # Hanging calls end by timeout; a long breaker threshold keeps them hanging, not refused.
    az_limits.update({"timeout_s": 30.0, "max_attempts": 2, "breaker_failure_threshold": 10_000})
    config["accounts"][BAD_ACCOUNT] = {**config["accounts"]["rs"], "password": "refused"}
    settings = _metrics_on(with_topics(load_settings(None, **config)), port)
    dead = {**config, "kafka": {**config["kafka"], "bootstrap_servers": f"127.0.0.1:{dead_broker}"}}
    dead["status"] = {**config["status"], "enabled": False}
    unreachable = _metrics_on(load_settings(None, **dead), unreachable_port)
    return settings, unreachable


def test_each_new_alert_fires_on_its_fault_and_none_while_healthy(
    kafka_bootstrap: str, sims: Sims, tmp_path: Path
) -> None:
    rules = shortened_alerts(tmp_path, DIVISOR)
    healthy_s = 1.5 * _longest_window_and_for_s(rules, NEW_ALERTS)
    settings, unreachable = _pipeline_settings(kafka_bootstrap, sims)
    with (
        PrometheusServer(
            tmp_path,
            JOB,
            f"127.0.0.1:{settings.metrics.port}",
            [rules],
            more_jobs={UNREACHABLE_JOB: f"127.0.0.1:{unreachable.metrics.port}"},
        ) as prometheus,
        running(settings),
        Traffic(kafka_bootstrap, settings.topics.intents) as traffic,
        ExitStack() as later,
    ):
        eventually(
            lambda: (prometheus.scalar('sum(push_outcomes_total{status="ACCEPTED"})') or 0) > 100,
            120,
            "healthy traffic to reach its outcomes",
        )
        # A healthy stretch longer than any rule's window plus its `for:`.
        time.sleep(healthy_s)
        quiet = prometheus.alerts("firing") + prometheus.alerts("pending")
        # Silent because healthy, not because the series the alerts read are missing.
        healthy = {expr: prometheus.scalar(expr) for expr in HEALTHY_VALUES}

        _faults(sims.azure, throttle_rate=1.0, retry_after_s=1)
        _faults(sims.responsys, error_rate=1.0, endpoints=["poll"])
        traffic.also(BAD_ACCOUNT, 2)
        later.enter_context(running(unreachable))
        eventually(
            lambda: _firing(prometheus) >= EXPECTED,
            FIRE_TIMEOUT_S,
            lambda: f"{sorted(EXPECTED - _firing(prometheus))} to fire",
        )
        fired = _firing(prometheus)

        _faults(sims.azure, hang_rate=1.0, hang_s=40)  # pushes hang until their timeout
        eventually(
            lambda: STALLED in _firing(prometheus),
            FIRE_TIMEOUT_S,
            lambda: f"{STALLED} to fire; firing: {sorted(_firing(prometheus))}",
        )
        _faults(sims.azure)  # answer again, so the pipeline drains and stops in time

    assert quiet == [], f"alerts while healthy: {quiet}"
    assert healthy == HEALTHY_VALUES
    assert fired >= EXPECTED


def test_the_faults_cover_every_new_alert_and_the_rules_file_has_them() -> None:
    names = {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"]
             for rule in group["rules"]}  # fmt: skip

    assert len(NEW_ALERTS) == 8  # the new alerts, each shown on a fault above
    assert names >= NEW_ALERTS
