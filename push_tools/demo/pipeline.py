"""The pipeline as a child process: `python -m consumer run --config <generated TOML>`.

The settings file points the pipeline at the demo's broker and simulators, with short
timeouts and fast polling so a demo shows results within seconds.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from consumer.errors import PushDispatchError
from push_tools.demo.children import child_setup
from push_tools.local.processes import stop_process

AZURE_STATIC_TOKEN = "demo-static-token"  # noqa: S105 - the simulator's test token
RESPONSYS_USER = "sim-user"
RESPONSYS_PASSWORD = "sim-password"  # noqa: S105 - the simulator's default login
GROUP_ID = "push-dispatch-demo"


class PipelineError(PushDispatchError):
    """Raised when the demo's pipeline process does not start or become ready."""


def demo_settings(
    bootstrap_servers: str, azure_url: str, responsys_url: str, metrics_port: int
) -> dict[str, Any]:
    """Settings values (as the TOML file holds them) for the demo's pipeline."""
    limits = {"rate_per_s": 200.0, "concurrency": 16, "timeout_s": 5.0, "max_attempts": 3,
              "backoff_base_s": 0.1, "backoff_max_s": 1.0}  # fmt: skip
    return {
        "kafka": {"bootstrap_servers": bootstrap_servers, "group_id": GROUP_ID},
        "pipeline": {"linger_ms": 50, "shutdown_timeout_s": 15.0},
        "status": {
            "group_id": f"{GROUP_ID}-status",
            "first_poll_s": 0.5,
            "max_poll_interval_s": 2.0,
        },
        "metrics": {"host": "127.0.0.1", "port": metrics_port},
        "accounts": {
            "azure-main": {
                "provider": "azure",
                "base_url": azure_url,
                "subscription_id": "demo-subscription",
                "resource_group": "demo-rg",
                "app_collection": "demo-collection",
                "app_name": "demo-app",
                "static_token": AZURE_STATIC_TOKEN,
                "limits": limits,
            },
            "responsys-main": {
                "provider": "responsys",
                "login_url": responsys_url,
                "user_name": RESPONSYS_USER,
                "password": RESPONSYS_PASSWORD,
                "throttle_wait_s": 2.0,
                "limits": limits,
            },
        },
    }


class PipelineProcess:
    """`python -m consumer run` on a settings file; its output goes to `log_path`."""

    def __init__(self, config_path: Path, metrics_url: str, log_path: Path) -> None:
        self._config_path = config_path
        self._metrics_url = metrics_url.rstrip("/")
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, ready_timeout_s: float = 90.0) -> None:
        command = [sys.executable, "-m", "consumer", "run", "--config", str(self._config_path)]
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=child_setup,  # noqa: PLW1509 - system calls only (children.py)
            )
        self._wait_ready(ready_timeout_s)

    def stop(self, timeout_s: float) -> int | None:
        """SIGTERM (a clean stop: flush, publish, commit) and wait; None if never started."""
        process, self._process = self._process, None
        return None if process is None else stop_process(process, timeout_s)

    def log_tail(self, lines: int = 30) -> str:
        if not self._log_path.exists():
            return ""
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise PipelineError(f"the pipeline exited during start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self._metrics_url}/readyz", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                pass  # not listening or not ready yet
            time.sleep(0.3)
        raise PipelineError(
            f"the pipeline was not ready within {timeout_s:.0f}s:\n{self.log_tail()}"
        )
