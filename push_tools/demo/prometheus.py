"""Prometheus as a child process, scraping the demo's pipeline on localhost.

The repository's `prometheus/prometheus.yml` is written for docker-compose (targets such as
`pipeline:9464`). `adapt_config` keeps its scrape settings and rule files and points every
pipeline target at the demo's metrics port; targets on other services are dropped.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from consumer.errors import PushDispatchError
from push_tools.demo.children import child_setup
from push_tools.local.processes import stop_process

PIPELINE_PORT = 9464  # the settings' default metrics port, used by the compose targets
_PIPELINE_HOSTS = ("pipeline", "consumer", "push", "localhost", "127.0.0.1")


class PrometheusError(PushDispatchError):
    """Raised when the repository's Prometheus config cannot be adapted or Prometheus fails."""


def adapt_config(
    text: str,
    config_dir: Path,
    pipeline_target: str,
    self_target: str,
    scrape_interval: str | None = None,
) -> str:
    """The scrape config with pipeline targets on `pipeline_target`, rule paths absolute,
    and every scrape and rule evaluation `scrape_interval` apart when one is given."""
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PrometheusError(f"prometheus.yml is not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise PrometheusError("prometheus.yml must be a mapping")
    config.pop("alerting", None)  # no Alertmanager in the demo
    if scrape_interval is not None:  # a short run (the picture) wants more than a few points
        timing = {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval,
                  "scrape_timeout": scrape_interval}  # fmt: skip
        config["global"] = {**(config.get("global") or {}), **timing}
        for job in config.get("scrape_configs") or []:
            for key in ("scrape_interval", "scrape_timeout"):
                job.pop(key, None)
    config["rule_files"] = [
        str(config_dir / Path(rule).name)
        for rule in config.get("rule_files") or []
        if (config_dir / Path(rule).name).exists()
    ]
    jobs = [
        _adapt_job(job, pipeline_target, self_target) for job in config.get("scrape_configs") or []
    ]
    config["scrape_configs"] = [job for job in jobs if job is not None]
    if not config["scrape_configs"]:
        raise PrometheusError("prometheus.yml has no scrape job for the pipeline")
    return yaml.safe_dump(config, sort_keys=False)


def _adapt_job(
    job: dict[str, Any], pipeline_target: str, self_target: str
) -> dict[str, Any] | None:
    targets = []
    for static in job.get("static_configs") or []:
        for target in static.get("targets") or []:
            host, _, port = str(target).rpartition(":")
            if port == "9090":
                targets.append(self_target)
            elif port == str(PIPELINE_PORT) or host.startswith(_PIPELINE_HOSTS):
                targets.append(pipeline_target)
    if not targets:
        return None
    adapted = {k: v for k, v in job.items() if k not in ("static_configs", "dns_sd_configs")}
    adapted["static_configs"] = [{"targets": sorted(set(targets))}]
    return adapted


class PrometheusProcess:
    """`prometheus` on an adapted config, storage under `workdir`, on 127.0.0.1:`port`."""

    def __init__(self, executable: str, config_text: str, workdir: Path, port: int) -> None:
        self._executable = executable
        self._config_text = config_text
        self._workdir = workdir
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def find() -> str | None:
        return shutil.which("prometheus")

    def start(self, ready_timeout_s: float = 30.0) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        config = self._workdir / "prometheus.yml"
        config.write_text(self._config_text)
        command = [
            self._executable,
            f"--config.file={config}",
            f"--storage.tsdb.path={self._workdir / 'data'}",
            f"--web.listen-address={self.url.removeprefix('http://')}",
        ]
        with (self._workdir / "prometheus.log").open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=child_setup,  # noqa: PLW1509 - system calls only (children.py)
            )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PrometheusError(f"prometheus exited; see {self._workdir / 'prometheus.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.3)
        raise PrometheusError(f"prometheus was not ready within {ready_timeout_s:.0f}s")

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def stop(self, timeout_s: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, timeout_s)
