"""A real Prometheus process of the test's own: its config, data dir and free port."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from push_tools.local.kafka import free_port
from tests.integration.observability.artefacts import tool


def eventually(
    condition: Callable[[], bool], timeout_s: float, what: str | Callable[[], str]
) -> None:
    """Poll `condition` until it holds; fail with `what` (computed then) when it never does."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {detail}")
        time.sleep(0.5)


class PrometheusServer:
    """`prometheus` scraping `target` (and `more_jobs`, job name to target) every second and
    evaluating `rule_files` every second."""

    def __init__(
        self,
        workdir: Path,
        job: str,
        target: str,
        rule_files: list[Path],
        more_jobs: Mapping[str, str] | None = None,
    ) -> None:
        jobs = {job: target, **(more_jobs or {})}
        self._workdir = workdir
        self._config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": name, "static_configs": [{"targets": [address]}]}
                for name, address in jobs.items()
            ],
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = workdir / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def __enter__(self) -> PrometheusServer:
        config = self._workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config))
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    tool("prometheus"),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self._workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            eventually(self._ready, 60, f"Prometheus to be ready; log:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ready(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            raise AssertionError(f"prometheus exited at start:\n{self.log_tail()}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> int | None:
        """SIGTERM and wait: a clean shutdown exits 0 (kept in `returncode`)."""
        if self._process is None or self.returncode is not None:
            return self.returncode
        self._process.send_signal(signal.SIGTERM)
        try:
            self.returncode = self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            self.returncode = -signal.SIGKILL
        return self.returncode

    def api(self, path: str, **params: str) -> dict[str, Any]:
        """The JSON body of `/api/v1/<path>`, error bodies included (status "error")."""
        answer = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body: dict[str, Any] = answer.json()
        return body

    def vector(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result; a query error fails the test with Prometheus' message."""
        body = self.api("query", query=expr)
        assert body["status"] == "success", f"{expr}: {body.get('error')}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        """The single value of an aggregated expression, None while it has no data."""
        result = self.vector(expr)
        return float(result[0]["value"][1]) if result else None

    def alerts(self, state: str = "firing") -> list[dict[str, str]]:
        """The labels of every alert in `state` (firing or pending) now."""
        body = self.api("alerts")
        assert body["status"] == "success", body.get("error")
        return [a["labels"] for a in body["data"]["alerts"] if a["state"] == state]

    def log_tail(self, lines: int = 30) -> str:
        if not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
