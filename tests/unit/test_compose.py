"""docker-compose.yml, checked without a Docker engine.

Every bind-mounted host path exists, every PUSH_* variable lands in a real setting, the
ports match what the programs listen on, dependencies name real services, monitoring does
not wait for the pipeline, the traffic producer publishes valid intents where the pipeline
reads them, the pipeline runs the runtime-only image while the simulators and the producer
get the development tools (`EXTRAS=dev`), and Debian's `docker-compose` accepts the file
(`config -q`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import SecretStr

from consumer.providers.registry import load_registry
from consumer.settings import MetricsSettings, Settings, load_settings
from consumer.validation import IntentValidator
from push_tools.produce import parse_accounts, parse_intent_line
from push_tools.sim.azure_config import AzureSimConfig
from push_tools.sim.responsys_config import ResponsysSimConfig

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
PIPELINE_SERVICES = ("pipeline", "topics")
SIMULATOR_SERVICES = ("azure-sim", "responsys-sim")
DOCKERFILE = (REPO / "Dockerfile").read_text()


def _binds(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts."""
    pairs = []
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith((".", "/")):
            pairs.append((host, container))
    return pairs


def _settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Load settings as the container would: its PUSH_* env and its mounted settings file."""
    env = service["environment"]
    mounts = {container: host for host, container in _binds(service)}
    assert env["PUSH_CONFIG"] in mounts, "PUSH_CONFIG must name a mounted file"
    for name in [name for name in os.environ if name.startswith("PUSH_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    return load_settings(REPO / mounts[env["PUSH_CONFIG"]])


def _setting(settings: Settings, env_name: str) -> object:
    """The value an env var `PUSH_A__B__C` names: settings.a.b[c] ..."""
    value: Any = settings
    for part in env_name.removeprefix("PUSH_").lower().split("__"):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _build_args(service: dict[str, Any]) -> dict[str, str]:
    """The build arguments of a service built from the Dockerfile (`build: .` has none)."""
    build = service["build"]
    if isinstance(build, str):
        return {}
    assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    return {str(k): str(v) for k, v in build.get("args", {}).items()}


def _port_option(command: list[str]) -> int:
    return int(command[command.index("--port") + 1])


def _container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(mapping).rsplit(":", 1)[-1]) for mapping in service.get("ports", [])}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_bind_mounted_host_path_exists_in_the_repository(name: str) -> None:
    for host, _ in _binds(SERVICES[name]):
        assert (REPO / host).exists(), f"{name} mounts {host}, which does not exist"


@pytest.mark.parametrize("name", PIPELINE_SERVICES)
def test_every_push_env_var_lands_in_the_setting_it_names(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = SERVICES[name]
    settings = _settings_of(service, monkeypatch)
    for env_name, value in service["environment"].items():
        if env_name == "PUSH_CONFIG":
            continue  # read by `push-consumer run`, not a setting
        assert str(_setting(settings, env_name)) == str(value), env_name


def test_pipeline_publishes_its_metrics_port_and_prometheus_scrapes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _settings_of(SERVICES["pipeline"], monkeypatch).metrics.port
    assert port in _container_ports(SERVICES["pipeline"])
    scrape = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in scrape["scrape_configs"] for c in job["static_configs"]
               for t in c["targets"]]  # fmt: skip
    assert f"pipeline:{port}" in targets


@pytest.mark.parametrize("name", ["azure-sim", "responsys-sim"])
def test_simulator_ports_match_the_command_and_the_pipeline_urls(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = SERVICES[name]
    port = _port_option(service["command"])
    assert port in _container_ports(service)
    assert f":{port}/" in " ".join(service["healthcheck"]["test"])
    settings = _settings_of(SERVICES["pipeline"], monkeypatch)
    urls = [getattr(a, "base_url", None) or getattr(a, "login_url", None)
            for a in settings.accounts.values()]  # fmt: skip
    assert f"http://{name}:{port}" in urls, "the pipeline must call this simulator"


def test_pipeline_bootstrap_servers_name_the_kafka_service_listener(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bootstrap = _settings_of(SERVICES["pipeline"], monkeypatch).kafka.bootstrap_servers
    advertised = SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"//{bootstrap}" in advertised
    assert urlsplit(f"//{bootstrap}").hostname == "kafka"


def test_grafana_datasource_points_at_the_prometheus_service() -> None:
    text = (REPO / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    urls = re.findall(r"url:\s*(\S+)", text)
    ports = _container_ports(SERVICES["prometheus"])
    assert any(urlsplit(u).hostname == "prometheus" and urlsplit(u).port in ports for u in urls)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_depends_on_names_existing_services_with_known_conditions(name: str) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for dependency, rule in SERVICES[name].get("depends_on", {}).items():
        assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"
        assert rule["condition"] in conditions
        if rule["condition"] == "service_healthy":
            # The pipeline's health check comes with its image (the Dockerfile's HEALTHCHECK).
            built = "build" in SERVICES[dependency] and "HEALTHCHECK" in DOCKERFILE
            assert "healthcheck" in SERVICES[dependency] or built, dependency


def test_docker_compose_accepts_the_file() -> None:
    executable = shutil.which("docker-compose")
    assert executable is not None, "install Debian's docker-compose package"
    result = subprocess.run(
        [executable, "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_image_health_check_probes_healthz_on_the_default_metrics_port() -> None:
    check = next(line for line in DOCKERFILE.splitlines() if "/healthz" in line)
    default = re.search(r"PUSH_METRICS__PORT', '(\d+)'", check)
    assert default is not None
    assert int(default.group(1)) == MetricsSettings().port
    assert re.search(r'^ENTRYPOINT \["push-consumer"\]', DOCKERFILE, re.MULTILINE)
    assert re.search(r"^USER (?!root)\S+", DOCKERFILE, re.MULTILINE)  # not root


@pytest.mark.parametrize("name", PIPELINE_SERVICES)
def test_pipeline_services_build_the_runtime_only_image(name: str) -> None:
    assert _build_args(SERVICES[name]).get("EXTRAS", "") == ""


@pytest.mark.parametrize("name", SIMULATOR_SERVICES)
def test_simulators_build_the_image_with_the_dev_extra(name: str) -> None:
    assert _build_args(SERVICES[name])["EXTRAS"] == "dev"
    assert SERVICES[name]["command"][0] == "simulate"


def test_each_image_tag_is_built_one_way_only() -> None:
    builds: dict[str, dict[str, str]] = {}
    for name, service in SERVICES.items():
        if "build" in service:
            args = builds.setdefault(service["image"], _build_args(service))
            assert args == _build_args(service), f"{name}: {service['image']} built two ways"
    assert len(builds) == 2  # the runtime image and the one with the development tools


def test_image_installs_extras_only_when_asked_and_dependencies_before_the_source() -> None:
    assert re.search(r'^ARG EXTRAS=""$', DOCKERFILE, re.MULTILINE)
    lines = DOCKERFILE.splitlines()
    with_deps = next(i for i, line in enumerate(lines) if '".${EXTRAS:+[$EXTRAS]}"' in line)
    source = next(i for i, line in enumerate(lines) if line.startswith("COPY consumer "))
    assert with_deps < source, "dependencies are installed before the source is copied"
    assert "COPY push_tools ./push_tools" in lines
    assert any("pip install --no-build-isolation --no-deps ." in line for line in lines[source:])


def _depends_on_closure(name: str) -> set[str]:
    """Every service `name` waits for, directly or through the services it waits for."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dependency in SERVICES[todo.pop()].get("depends_on", {}):
            if dependency not in seen:
                seen.add(dependency)
                todo.append(dependency)
    return seen


@pytest.mark.parametrize("name", ["prometheus", "grafana"])
def test_monitoring_starts_whether_or_not_the_pipeline_is_healthy(name: str) -> None:
    # Prometheus waiting for a healthy pipeline could never fire an alert about its start.
    assert "pipeline" not in _depends_on_closure(name)


def _traffic_command() -> list[str]:
    """The `push-consumer produce ...` arguments the traffic service runs in its loop."""
    entrypoint = SERVICES["traffic"]["entrypoint"]
    assert entrypoint[:2] == ["sh", "-c"]
    words = shlex.split(entrypoint[2])
    start = words.index("push-consumer")
    end = next(i for i in range(start, len(words)) if words[i].endswith(";"))  # `; do ...`
    command = [*words[start:end], words[end].removesuffix(";")]
    assert command[1] == "produce"
    return command


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_traffic_service_loops_produce_with_the_development_tools_after_the_topics_exist() -> None:
    service = SERVICES["traffic"]
    script = service["entrypoint"][2]

    assert script.startswith("while ")
    assert "do sleep" in script  # a pass every few seconds, not a busy loop
    assert _build_args(service)["EXTRAS"] == "dev"  # `produce` is a development tool
    assert service["depends_on"] == {"topics": {"condition": "service_completed_successfully"}}
    assert service.get("restart") == "unless-stopped"


def test_traffic_goes_to_the_pipelines_intents_topic_and_accounts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings_of(SERVICES["pipeline"], monkeypatch)
    command = _traffic_command()

    assert _option(command, "--bootstrap-servers") == settings.kafka.bootstrap_servers
    assert _option(command, "--topic") == settings.topics.intents
    declared = parse_accounts(_option(command, "--accounts"), load_registry().names)
    assert {name: a.provider for name, a in declared.items()} == {
        name: account.provider for name, account in settings.accounts.items()
    }
    mounts = {container: host for host, container in _binds(SERVICES["traffic"])}
    assert command[-1] in mounts, "the traffic file must be mounted"


def test_traffic_lines_are_valid_intents_for_both_accounts_with_some_rejected_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings_of(SERVICES["pipeline"], monkeypatch)
    command = _traffic_command()
    host = {c: h for h, c in _binds(SERVICES["traffic"])}[command[-1]]
    declared = parse_accounts(_option(command, "--accounts"), load_registry().names)
    validator = IntentValidator(load_registry(), declared)
    lines = (REPO / host).read_text().splitlines()
    now = datetime.now(UTC)

    intents = [parse_intent_line(line, now=now) for line in lines]
    for intent in intents:
        validator.validate(intent)  # `produce` would skip a line that fails here
    assert {intent.account for intent in intents} == set(settings.accounts)
    assert not any('"intent_id"' in line or '"created_at"' in line for line in lines), (
        "each pass must publish new intents"
    )
    targets = " ".join(lines)
    rejected = (*AzureSimConfig().invalid_prefixes, *ResponsysSimConfig().nodevice_prefixes)
    assert sum(targets.count(f'"{prefix}') for prefix in rejected) >= 2  # rejected panels
