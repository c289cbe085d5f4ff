"""What the process's /metrics port serves, as `runtime()` wires it (no broker needed)."""

from __future__ import annotations

import platform

import confluent_kafka
import httpx
from prometheus_client.parser import text_string_to_metric_families

from consumer import __version__
from consumer.service import runtime
from consumer.settings import load_settings
from push_tools.local.kafka import free_port


def scrape(port: int) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


async def test_the_metrics_port_serves_process_build_and_readiness_without_created_series() -> None:
    port = free_port()
    account = {"provider": "azure", "base_url": "http://127.0.0.1:9", "subscription_id": "s",
               "resource_group": "g", "app_collection": "c", "app_name": "a",
               "static_token": "t"}  # fmt: skip
    settings = load_settings(
        None, metrics={"host": "127.0.0.1", "port": port}, accounts={"az": account}
    )
    async with runtime(settings) as rt:
        text, before = scrape(port)
        rt.probes.set_readiness(lambda: True)  # what the pipeline does once assigned
        _, after = scrape(port)

    assert before[("process_resident_memory_bytes", ())] > 0
    assert ("process_cpu_seconds_total", ()) in before
    build = (
        ("confluent_kafka", confluent_kafka.version()[0]),
        ("librdkafka", confluent_kafka.libversion()[0]),
        ("python", platform.python_version()),
        ("version", __version__),
    )
    assert before[("push_build_info", build)] == 1
    assert before[("push_ready", ())] == 0, "nothing assigned yet: /readyz says 503"
    assert after[("push_ready", ())] == 1
    assert "_created" not in text
