"""Every dashboard query and alert rule, evaluated by a real Prometheus scraping a live pipeline.

The pipeline runs on the real broker against the simulators (the Azure one failing some calls
on purpose, so error and retry panels have data); a Prometheus process of the test's own
scrapes it every second and loads prometheus/alerts.yml.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import httpx
import pytest

from consumer.model import PushIntent
from consumer.settings import Settings, load_settings
from tests.integration.observability.artefacts import (
    ALERTS,
    PanelQuery,
    alert_rules,
    metric_names,
    panel_queries,
)
from tests.integration.observability.prometheus_server import (
    PrometheusServer,
    eventually,
    free_port,
)
from tests.integration.pipeline.harness import (
    Sims,
    azure_intent,
    config_for,
    produce_intents,
    produce_raw,
    responsys_intent,
    running,
    with_topics,
)

pytestmark = pytest.mark.integration

JOB = "push-pipeline"  # the job name prometheus/prometheus.yml and the alerts use

# Panels that may be empty under healthy traffic, each with the reason.
# With the poller running every panel has data, but these, which only a provider that is
# down or throttling fills (tests/integration/pipeline/test_provider_faults.py makes one).
MAY_BE_EMPTY: dict[str, str] = {
    "Intents waiting for their provider": "no intent is parked while calls succeed on retry",
    "Longest wait of a parked intent": "no parked intent is read back",
    "Throttled and short-circuited": "no throttling and no open circuit",
}

AZURE_CAMPAIGNS, AZURE_PER_CAMPAIGN = 30, 5
RESPONSYS_CAMPAIGNS, RESPONSYS_PER_CAMPAIGN = 6, 10
BAD_MESSAGES = 10


def wave(number: int) -> list[PushIntent]:
    """A few hundred intents for both providers; each Azure intent has one rejected device."""
    azure = [
        azure_intent(
            f"az-{number}-{c}-{i}",
            number * 1000 + c,
            [f"dev-{number}-{c}-{i}-{d}" for d in range(4)] + [f"invalid-{number}-{c}-{i}"],
        )
        for c in range(AZURE_CAMPAIGNS)
        for i in range(AZURE_PER_CAMPAIGN)
    ]
    responsys = [
        responsys_intent(
            f"rs-{number}-{c}-{i}",
            f"Campaign_{number}_{c}",
            [f"cust-{number}-{c}-{i}", f"nodevice-{number}-{c}-{i}"],
        )
        for c in range(RESPONSYS_CAMPAIGNS)
        for i in range(RESPONSYS_PER_CAMPAIGN)
    ]
    return azure + responsys


def send_wave(settings: Settings, bootstrap: str, number: int) -> int:
    """Produce a wave; return how many outcomes it makes (PENDING + final for Responsys)."""
    intents = wave(number)
    produce_intents(bootstrap, settings.topics.intents, intents)
    bad = [b"not an avro intent"] * (BAD_MESSAGES - 1) + [None]  # a tombstone is not an intent
    produce_raw(bootstrap, settings.topics.intents, bad)
    return len(intents) + RESPONSYS_CAMPAIGNS * RESPONSYS_PER_CAMPAIGN


def metrics_on(settings: Settings, port: int) -> Settings:
    return settings.model_copy(
        update={"metrics": settings.metrics.model_copy(update={"port": port})}
    )


def has_data(result: list[dict[str, object]]) -> bool:
    """Grafana draws something: at least one finite value (NaN/Inf draw nothing)."""
    return any(math.isfinite(float(sample["value"][1])) for sample in result)  # type: ignore[index]


# Outcomes per stage, not counting DELAYED: an intent whose call met an injected fault
# waits (parked) and says so once, then gets its final outcome like the others.
STAGE_OUTCOMES = 'sum(push_outcomes_total{status!="DELAYED"})'


def has_data_now(prometheus: PrometheusServer, query: PanelQuery) -> bool:
    body = prometheus.api("query", query=query.promql)
    return body["status"] == "success" and has_data(body["data"]["result"])


def test_every_panel_and_alert_query_evaluates_on_a_live_pipeline(
    kafka_bootstrap: str, sims: Sims, tmp_path: Path
) -> None:
    faults = {"error_rate": 0.15, "drop_rate": 0.05}  # 5xx and dropped connections: retries
    httpx.put(f"{sims.azure}/_admin/faults", json=faults, timeout=10).raise_for_status()
    port = free_port()
    config = config_for(kafka_bootstrap, sims)
    config["status"]["enabled"] = True  # the async panels need the poller
    settings = metrics_on(with_topics(load_settings(None, **config)), port)
    queries = panel_queries()
    rules = alert_rules()

    with (
        PrometheusServer(tmp_path, JOB, f"127.0.0.1:{port}", [ALERTS]) as prometheus,
        running(settings),
    ):
        eventually(lambda: prometheus.scalar(f'up{{job="{JOB}"}}') == 1, 60, "a first scrape")
        # Two waves, a scrape apart, so every rate() window sees counters increase.
        first = send_wave(settings, kafka_bootstrap, 1)
        eventually(
            lambda: prometheus.scalar(STAGE_OUTCOMES) == first,
            120,
            f"Prometheus to see {first} outcomes",
        )
        second = send_wave(settings, kafka_bootstrap, 2)
        total = first + second
        eventually(
            lambda: (
                prometheus.scalar(STAGE_OUTCOMES) == total
                and prometheus.scalar("sum(push_intents_dead_lettered_total)") == 2 * BAD_MESSAGES
            ),
            120,
            f"Prometheus to see {total} outcomes and {2 * BAD_MESSAGES} dead letters",
        )
        expected = [q for q in queries if q.panel not in MAY_BE_EMPTY]

        def without_data() -> list[str]:
            return [f"{q.panel} [{q.ref_id}]" for q in expected if not has_data_now(prometheus, q)]

        eventually(  # the lag gauge is refreshed every 5 s
            lambda: not without_data(),
            30,
            lambda: f"data on every panel that should have it; none yet on {without_data()}",
        )

        panel_results = {q: prometheus.api("query", query=q.promql) for q in queries}
        alert_results = {r["alert"]: prometheus.api("query", query=r["expr"]) for r in rules}
        consumed = prometheus.scalar("sum(push_intents_consumed_total)")
        decoded = {
            s["metric"]["provider"]: float(s["value"][1])
            for s in prometheus.vector("sum by (provider) (push_intents_decoded_total)")
        }
        eventually(
            lambda: all(
                r["health"] != "unknown"
                for g in prometheus.api("rules")["data"]["groups"]
                for r in g["rules"]
            ),
            30,
            "every rule to be evaluated once",
        )
        loaded = prometheus.api("rules", type="alert")["data"]["groups"]
        present, with_account = (
            {s["metric"]["__name__"] for s in prometheus.vector(f"count by (__name__) ({q})")}
            for q in ('{__name__=~"push_.+"}', '{__name__=~"push_.+", account!=""}')
        )
        rejected = {
            s["metric"]["provider"]: float(s["value"][1])
            for s in prometheus.vector("sum by (provider) (push_targets_rejected_total)")
        }

    assert prometheus.returncode == 0, f"Prometheus did not stop cleanly:\n{prometheus.log_tail()}"
    errors = {
        f"{q.panel} [{q.ref_id}]: {body.get('error')}"
        for q, body in panel_results.items()
        if body["status"] != "success"
    }
    assert not errors, errors
    empty = [
        f"{q.panel} [{q.ref_id}]"
        for q, body in panel_results.items()
        if q.panel not in MAY_BE_EMPTY and not has_data(body["data"]["result"])
    ]
    assert not empty, f"panels without data under traffic: {empty}"
    failed_alerts = {name: body.get("error") for name, body in alert_results.items()
                     if body["status"] != "success"}  # fmt: skip
    assert not failed_alerts, failed_alerts
    # Prometheus counted exactly what was produced.
    azure = AZURE_CAMPAIGNS * AZURE_PER_CAMPAIGN * 2
    responsys = RESPONSYS_CAMPAIGNS * RESPONSYS_PER_CAMPAIGN * 2
    assert consumed == azure + responsys + 2 * BAD_MESSAGES
    assert decoded == {"azure": azure, "responsys": responsys}
    # One rejected device per Azure intent; one recipient per Responsys intent has no device.
    assert rejected == {"azure": azure, "responsys": responsys}
    assert not account_filter_mismatches(queries, present, with_account)
    loaded_rules = {r["name"]: r for g in loaded for r in g["rules"]}
    assert set(loaded_rules) == {r["alert"] for r in rules}
    unhealthy = {n: r.get("lastError") for n, r in loaded_rules.items() if r["health"] != "ok"}
    assert not unhealthy, unhealthy


def account_filter_mismatches(
    queries: list[PanelQuery], present: set[str], with_account: set[str]
) -> list[str]:
    """Selectors whose `account=~"$account"` filter disagrees with their series' labels
    (of the metrics `present` in Prometheus).

    A metric without an `account` label filtered by it shows nothing at all (`.+` needs the
    label); one with it left unfiltered ignores the variable.
    """
    wrong = []
    for query in queries:
        for name in metric_names(query.expr) & present:
            filtered = re.search(rf'\b{name}\{{[^}}]*account=~"\$account"', query.expr)
            if bool(filtered) != (name in with_account):
                wrong.append(f"{query.panel} [{query.ref_id}]: {name}")
    return wrong


def test_the_panels_allowed_to_be_empty_exist_on_the_dashboard() -> None:
    titles = {query.panel for query in panel_queries()}

    assert set(MAY_BE_EMPTY) <= titles
