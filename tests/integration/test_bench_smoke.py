"""`push-consumer bench` end to end with a tiny N: every figure is there and counts add up.

No timing assertions: the figures depend on the machine; only their presence and the
counts (one outcome per intent in every mode, never fewer calls than the ideal) are checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consumer.cli import main

pytestmark = pytest.mark.integration

INTENTS = 2_000
NAIVE = 200


@pytest.fixture(scope="module")
def results(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    output = tmp_path_factory.mktemp("bench") / "bench.json"
    code = main([
        "bench", "--bootstrap-servers", kafka_bootstrap, "--intents", str(INTENTS),
        "--naive-intents", str(NAIVE), "--latency-seconds", "3", "--latency-rate", "200",
        "--partitions", "3", "--timeout-s", "240", "--output", str(output),
    ])  # fmt: skip
    assert code == 0
    return json.loads(Path(output).read_text())


def test_every_mode_publishes_one_outcome_per_intent(results: dict) -> None:
    assert results["baseline"]["outcomes"] == INTENTS
    assert results["pipeline"]["outcomes"] == INTENTS
    assert results["naive"]["outcomes"] == NAIVE
    assert results["latency"]["outcomes"] == results["latency"]["intents"] > 0


def test_provider_calls_are_never_fewer_than_the_ideal(results: dict) -> None:
    for phase in ("pipeline", "latency", "naive"):
        figures = results[phase]
        assert figures["provider_calls"]["total"] >= figures["ideal_calls"]["total"] > 0
    # the naive consumer makes exactly one call per intent
    assert results["naive"]["provider_calls"]["total"] == NAIVE


def test_the_json_holds_every_figure_and_the_parameters(results: dict) -> None:
    for mode in ("baseline", "pipeline", "naive"):
        for figure in ("intents_per_s", "targets_per_s", "seconds", "wall_seconds"):
            assert results[mode][figure] is not None, (mode, figure)
    assert results["pipeline"]["peak_rss_mb"] > 0
    assert results["pipeline"]["duplicate_deliveries"] == 0
    for figure in ("p50_ms", "p99_ms", "max_ms", "rate_per_s", "cores_busy"):
        assert results["latency"][figure] is not None, figure
    # the latency from the bench's own send leaves out its lateness, so it is never more
    latency = results["latency"]
    assert 0 <= latency["producer_late_p50_ms"] <= latency["producer_late_p99_ms"]
    assert 0 < latency["from_sent_p50_ms"] <= latency["p50_ms"]
    assert latency["from_sent_p99_ms"] <= latency["p99_ms"]
    # ... and splits into the wait for a call (at least most of the linger), the call, and
    # the outcome's write after the answer
    stages = latency["stages_ms"]
    assert set(stages) == {"to_call", "call", "to_outcome"}
    assert stages["to_call"]["p99"] >= results["parameters"]["linger_ms"] * 0.8
    assert all(0 <= stage["p50"] <= stage["p99"] for stage in stages.values())
    # the latency phase ran the pipeline on a core of its own, the rest on the others
    cores = results["latency"]["cores"]
    assert cores["pipeline"]
    assert cores["others"]
    assert len(results["rounds"]) == 1 == results["parameters"]["rounds"]
    assert "broker_cpu_per_intent_pipeline_over_baseline" in results["ratios"]
    assert "broker_busy_pipeline_over_baseline" in results["ratios"]
    for mode in ("baseline", "pipeline"):
        # CPU per intent of the consuming process, measured over the drain
        assert results[mode]["cpu_us_per_intent"]["consumer"] > 0, mode
    # the pipeline's meter starts at its first outcome: most of the drain comes after it
    assert INTENTS // 2 < results["pipeline"]["cpu_intents"] <= INTENTS
    # the simulators' CPU is measured beside the pipeline's (the broker here is not ours)
    assert set(results["pipeline"]["cpu_seconds"]) == {"consumer", "azure_sim", "responsys_sim"}
    ratios = (
        "pipeline_over_baseline",
        "calls_over_ideal",
        "pipeline_over_naive",
        "cpu_per_intent_pipeline_over_baseline",
    )
    for ratio in ratios:
        assert results["ratios"][ratio] is not None, ratio
    assert results["parameters"]["intents"] == INTENTS
    assert results["parameters"]["naive_intents"] == NAIVE
    assert set(results["targets"]) >= {"pipeline_over_baseline_min", "calls_over_ideal_max"}
