"""What a bench run stands on: a Kafka broker and both provider simulators, all local.

The broker is the one given (`--bootstrap-servers`) or a `LocalKafka` in a temporary
directory; the simulators are child processes on 127.0.0.1 without injected latency or
faults, with per-minute throttles off and no ledger records kept (only counters).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from push_tools.local.kafka import LocalKafka
from push_tools.sim.server import SimProcess

AZURE_TOKEN = "bench-token"  # noqa: S105 - the Azure simulator's static token, local only
RESPONSYS_USER = "sim-user"
RESPONSYS_PASSWORD = "sim-password"  # noqa: S105 - the Responsys simulator's default login

_AZURE_ARGS = ["--static-token", AZURE_TOKEN, "--ledger-records", "0"]
_RESPONSYS_ARGS = [
    "--ledger-records", "0", "--login-per-min", "0", "--trigger-per-min", "0",
    "--poll-per-min", "0",
]  # fmt: skip


class BenchEnvironment:
    """Starts (and stops, in reverse) the broker and the two simulators."""

    def __init__(self, bootstrap: str | None = None) -> None:
        self._given_bootstrap = bootstrap
        self._workdir: Path | None = None
        self._kafka: LocalKafka | None = None
        self.azure = SimProcess("azure", _AZURE_ARGS)
        self.responsys = SimProcess("responsys", _RESPONSYS_ARGS)

    @property
    def bootstrap(self) -> str:
        if self._given_bootstrap:
            return self._given_bootstrap
        if self._kafka is None:
            raise RuntimeError("the bench environment is not started")
        return self._kafka.bootstrap_servers

    def __enter__(self) -> BenchEnvironment:
        try:
            if not self._given_bootstrap:
                self._workdir = Path(tempfile.mkdtemp(prefix="push-bench-"))
                self._kafka = LocalKafka(self._workdir / "kafka", heap_mb=1024, optimize=True)
                self._kafka.start()
            self.azure.start()
            self.responsys.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.responsys.stop()
        self.azure.stop()
        if self._kafka is not None:
            self._kafka.stop()
            self._kafka = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def pids(self) -> dict[str, int]:
        """The processes a pipeline run leans on: the simulators, and the broker when local."""
        pids = {"azure_sim": self.azure.pid, "responsys_sim": self.responsys.pid}
        broker = self._kafka.pid if self._kafka is not None else None
        return {**pids, "broker": broker} if broker is not None else pids

    def ledgers(self) -> dict[str, dict[str, Any]]:
        """Each simulator's counters: calls, deliveries, duplicate_deliveries, unique_targets."""
        return {"azure": _ledger(self.azure.url), "responsys": _ledger(self.responsys.url)}

    def reset_ledgers(self) -> None:
        for url in (self.azure.url, self.responsys.url):
            httpx.delete(f"{url}/_admin/ledger", timeout=10).raise_for_status()


def _ledger(url: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/_admin/ledger", params={"records": "0"}, timeout=10)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    body.pop("records", None)
    return body
