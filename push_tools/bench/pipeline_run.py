"""The pipeline under test: `python -m consumer run --config FILE` as a child process.

Its settings are written as TOML (status poller off, so the pipeline itself is measured;
provider limits generous, so the simulators are not throttled by our own client) and its
resident set size is sampled on a thread until it stops.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from push_tools.bench.environment import AZURE_TOKEN, RESPONSYS_PASSWORD, RESPONSYS_USER
from push_tools.bench.workload import AZURE_ACCOUNT, RESPONSYS_ACCOUNT
from push_tools.local.processes import stop_process

# Default concurrency: each pooled connection adds per-call work in httpcore, so a bigger
# pool than the round trip needs only costs CPU.
_LIMITS = {
    "rate_per_s": 100_000.0, "timeout_s": 30.0, "max_attempts": 3,
    "backoff_base_s": 0.05, "backoff_max_s": 0.5, "breaker_failure_threshold": 50,
}  # fmt: skip


def pipeline_config(
    bootstrap: str,
    *,
    azure_url: str,
    responsys_url: str,
    topics: dict[str, str],
    group: str,
    linger_ms: int,
) -> dict[str, Any]:
    """Settings values, as the TOML file holds them, for a pipeline on the simulators."""
    return {
        "kafka": {"bootstrap_servers": bootstrap, "group_id": group},
        "topics": topics,
        "pipeline": {"linger_ms": linger_ms},
        "status": {"enabled": False},
        "metrics": {"host": "127.0.0.1", "port": 0},
        "accounts": {
            AZURE_ACCOUNT: {
                "provider": "azure",
                "base_url": azure_url,
                "subscription_id": "bench",
                "resource_group": "rg",
                "app_collection": "ac",
                "app_name": "app",
                "static_token": AZURE_TOKEN,
                "limits": _LIMITS,
            },
            RESPONSYS_ACCOUNT: {
                "provider": "responsys",
                "login_url": responsys_url,
                "user_name": RESPONSYS_USER,
                "password": RESPONSYS_PASSWORD,
                "limits": _LIMITS,
            },
        },
    }


class PipelineProcess:
    """The pipeline child process; `peak_rss_bytes` is sampled every `sample_s` while it runs."""

    def __init__(
        self,
        config: Path,
        log: Path,
        sample_s: float = 0.05,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._env = {**os.environ, **env} if env else None  # a variant's settings overrides
        # -P: no working directory first on sys.path, where `-m` puts it, so a variant's
        # PYTHONPATH tree is the code that runs (from the repository root, the checkout's
        # `consumer/` would otherwise shadow it); without one, the installed package runs.
        self._argv = [sys.executable, "-P", "-m", "consumer", "--log-level", "WARNING", "run"]
        self._argv += ["--config", str(config)]
        self._log = log
        self._sample_s = sample_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self.peak_rss_bytes = 0

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the pipeline process is not running")
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> PipelineProcess:
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                self._argv, stdout=log, stderr=subprocess.STDOUT, env=self._env
            )
        self._sampler.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM (a clean stop), SIGKILL after `timeout_s`; the exit code."""
        proc = self._proc
        if proc is None:
            return None
        stop_process(proc, timeout_s)
        self._stop.set()
        if self._sampler.is_alive():
            self._sampler.join()
        return proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def _sample(self) -> None:
        try:
            process = psutil.Process(self.pid)
            while not self._stop.wait(self._sample_s):
                self.peak_rss_bytes = max(self.peak_rss_bytes, process.memory_info().rss)
        except psutil.Error:
            return  # the process ended
