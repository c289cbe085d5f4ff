"""The pipeline through a SASL_SSL listener, credentials from the environment.

`python -m consumer run` runs as a real process. The settings file holds what is not
secret (the listener, `security.protocol`, the mechanism, the CA); the user name and the
password come from `PUSH_KAFKA__CLIENT__SASL_USERNAME` / `..._SASL_PASSWORD`, as a
deployment's secret store would set them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumer.model import OutcomeStatus
from consumer.settings import load_settings, to_toml
from push_tools.local.kafka import LocalKafka, free_port
from tests.integration.pipeline.harness import (
    Sims,
    azure_intent,
    config_for,
    produce_intents,
    read_outcomes,
    with_topics,
)
from tests.integration.secured.conftest import USER

pytestmark = pytest.mark.integration

CLIENTS = ("intents-consumer", "producer", "status-consumer", "status-producer")


def credentials(user: str, password: str) -> dict[str, str]:
    """The environment a deployment sets for the Kafka credentials."""
    return {
        "PUSH_KAFKA__CLIENT__SASL_USERNAME": user,
        "PUSH_KAFKA__CLIENT__SASL_PASSWORD": password,
    }


def secured_config(broker: LocalKafka, sims: Sims, metrics_port: int) -> dict[str, Any]:
    """Settings of a pipeline on the SASL_SSL listener, without the credentials."""
    config = config_for(broker.sasl_bootstrap_servers, sims)
    config["kafka"]["client"] = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "ssl.ca.location": str(broker.ca_file),
    }
    config["metrics"]["port"] = metrics_port
    config["status"]["enabled"] = True  # its two clients go through the listener too
    return config


def create_topics_over_plaintext(broker: LocalKafka, config: dict[str, Any]) -> Any:
    plain = {**config, "kafka": {**config["kafka"], "bootstrap_servers": broker.bootstrap_servers}}
    plain["kafka"].pop("client")
    return with_topics(load_settings(None, **plain), partitions=2).topics


@contextmanager
def pipeline(
    config_file: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m consumer run`, stopped by SIGTERM at the end; its exit code is checked."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "consumer", "run", "--config", str(config_file)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, f"a clean stop; log:\n{log.read_text()[-3000:]}"


def gauge(port: int, client: str) -> float | None:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = re.search(rf'^push_kafka_connected{{client="{client}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else None


def readiness(port: int) -> tuple[int, str]:
    answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    return answer.status_code, answer.text


def wait_until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except httpx.HTTPError:
            value = None  # the probe server is not up yet
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_intents_over_sasl_ssl_yield_their_outcomes(
    sasl_kafka: LocalKafka, sims: Sims, tmp_path: Path
) -> None:
    port = free_port()
    config = secured_config(sasl_kafka, sims, port)
    topics = create_topics_over_plaintext(sasl_kafka, config)
    config_file = tmp_path / "settings.toml"
    config_file.write_text(to_toml(config))
    intents = [azure_intent(f"sasl-{n}", 7, [f"dev-{n}", f"invalid-{n}"]) for n in range(20)]
    produce_intents(sasl_kafka.bootstrap_servers, topics.intents, intents)

    with pipeline(config_file, credentials(USER.name, USER.password), tmp_path / "run.log"):
        outcomes = read_outcomes(sasl_kafka.bootstrap_servers, topics.outcomes, len(intents))
        connected = {c: wait_until(lambda c=c: gauge(port, c) == 1, 30, f"{c} up") for c in CLIENTS}

    assert {o.intent_id for o in outcomes} == {i.intent_id for i in intents}
    assert {o.status for o in outcomes} == {OutcomeStatus.PARTIAL}, "the sims answered for each"
    assert all(connected.values()), "every client reports its SASL_SSL connection up"


def test_wrong_password_is_one_line_and_an_unready_probe_while_the_process_stays_up(
    sasl_kafka: LocalKafka, sims: Sims, tmp_path: Path
) -> None:
    port = free_port()
    config = secured_config(sasl_kafka, sims, port)
    create_topics_over_plaintext(sasl_kafka, config)
    config_file = tmp_path / "settings.toml"
    config_file.write_text(to_toml(config))
    log = tmp_path / "run.log"

    with pipeline(config_file, credentials(USER.name, "not-the-password"), log) as process:
        readyz = wait_until(
            lambda: "authentication failed" in readiness(port)[1] and readiness(port),
            60,
            "/readyz naming the authentication failure",
        )
        # librdkafka retries (and reports) every second or so: watch a few rounds go by
        time.sleep(8)
        assert process.poll() is None, "the process stays up, waiting for a fix"
        gauges = {client: gauge(port, client) for client in CLIENTS}
        lines = log.read_text().splitlines()

    assert readyz[0] == 503
    assert readyz[1].startswith("not ready: kafka ")
    assert gauges == dict.fromkeys(CLIENTS, 0.0)
    ours = [line for line in lines if re.search(r" (WARNING|ERROR) consumer[.\w]*: ", line)]
    assert len(ours) == 1, "one line for the whole process:\n" + "\n".join(ours)
    assert "authentication failed" in ours[0]
    assert "check sasl.username, sasl.password" in ours[0]
    # beside it, librdkafka's own line (rate-limited by kafka.client_log), not one per retry
    loud = [line for line in lines if re.search(r" (WARNING|ERROR) [\w.]+: ", line)]
    assert len(loud) <= 3, "no flood:\n" + "\n".join(loud)
