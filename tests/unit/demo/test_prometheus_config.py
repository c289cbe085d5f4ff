"""The demo's Prometheus config: the repository's, pointed at the demo, at a chosen pace."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from push_tools.demo.prometheus import PrometheusError, adapt_config

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "prometheus" / "prometheus.yml"


def test_a_scrape_interval_sets_every_scrape_and_evaluation_to_it() -> None:
    text = CONFIG.read_text().replace("metrics_path:", "scrape_interval: 30s\n    metrics_path:")
    adapted = yaml.safe_load(
        adapt_config(text, CONFIG.parent, "127.0.0.1:9464", "127.0.0.1:9090", "5s")
    )
    assert adapted["global"]["scrape_interval"] == "5s"
    assert adapted["global"]["evaluation_interval"] == "5s"
    assert adapted["global"]["scrape_timeout"] == "5s"  # never longer than the interval
    (job,) = adapted["scrape_configs"]
    assert "scrape_interval" not in job  # the job's own 30s would win over the global
    assert job["static_configs"] == [{"targets": ["127.0.0.1:9464"]}]


def test_without_a_scrape_interval_the_repositorys_pace_is_kept() -> None:
    adapted = yaml.safe_load(
        adapt_config(CONFIG.read_text(), CONFIG.parent, "127.0.0.1:9464", "127.0.0.1:9090")
    )
    assert adapted["global"]["scrape_interval"] == "15s"


@pytest.mark.parametrize(
    ("text", "message"),
    [("global: [", "not valid YAML"), ("- a list", "must be a mapping"), ("{}", "no scrape job")],
)
def test_a_broken_config_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(PrometheusError, match=message):
        adapt_config(text, CONFIG.parent, "127.0.0.1:9464", "127.0.0.1:9090", "5s")
