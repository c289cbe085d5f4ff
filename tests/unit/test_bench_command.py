"""The bench's own arguments: variants of the pipeline and the number of rounds."""

from __future__ import annotations

import pytest

from consumer.cli import main
from consumer.errors import ConfigError
from push_tools.bench.command import _ratios_over, _variants


def test_a_variant_is_a_name_and_environment_overrides() -> None:
    assert _variants(["commit-1s PUSH_PIPELINE__COMMIT_INTERVAL_MS=1000 A=b=c"]) == {
        "commit-1s": {"PUSH_PIPELINE__COMMIT_INTERVAL_MS": "1000", "A": "b=c"}
    }


@pytest.mark.parametrize(
    "spec",
    ["", "only-a-name", "A=1", "name =1", "pipeline A=1", "baseline A=1", "'unclosed A=1"],
)
def test_a_malformed_variant_is_refused_by_name(spec: str) -> None:
    with pytest.raises(ConfigError, match="--variant"):
        _variants([spec])


def test_a_repeated_variant_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="new name"):
        _variants(["v A=1", "v A=2"])


def test_zero_rounds_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--rounds", "0", "--bootstrap-servers", "127.0.0.1:1"]) != 0
    assert "--rounds" in capsys.readouterr().err


def test_ratios_over_rounds_are_the_median_and_the_range() -> None:
    rounds = [
        {"baseline": {"intents_per_s": 100.0}, "pipeline": {"intents_per_s": r}, "ratios": {}}
        for r in (50.0, 70.0, 60.0)
    ]
    medians, ranges = _ratios_over({"rounds": rounds})
    assert medians["pipeline_over_baseline"] == pytest.approx(0.6)
    assert ranges["pipeline_over_baseline"] == [pytest.approx(0.5), pytest.approx(0.7)]


def test_the_broker_ratio_per_second_is_its_per_intent_ratio_times_the_throughput_ratio() -> None:
    # the same broker load a second (0.3 cores) over a drain half as fast: twice per intent
    pair = {
        "baseline": {"intents_per_s": 20_000.0, "cpu_us_per_intent": {"broker": 15.0}},
        "pipeline": {"intents_per_s": 10_000.0, "cpu_us_per_intent": {"broker": 30.0}},
        "ratios": {},
    }
    medians, _ = _ratios_over({"rounds": [pair]})
    assert medians["broker_cpu_per_intent_pipeline_over_baseline"] == pytest.approx(2.0)
    assert medians["broker_busy_pipeline_over_baseline"] == pytest.approx(1.0)


def test_the_broker_ratio_per_second_is_none_without_a_broker_figure() -> None:
    # an external broker is not metered: no ratio rather than a made-up one
    pair = {
        "baseline": {"intents_per_s": 20_000.0, "cpu_us_per_intent": {}},
        "pipeline": {"intents_per_s": 10_000.0, "cpu_us_per_intent": {}},
        "ratios": {},
    }
    medians, _ = _ratios_over({"rounds": [pair]})
    assert medians["broker_busy_pipeline_over_baseline"] is None
