"""`/metrics`, `/healthz` and `/readyz` on one small HTTP port (a thread of its own).

`/healthz` answers 200 while every registered loop has turned within `stale_s`;
`/readyz` answers 200 once the process is connected and assigned, or deliberately idle, and
while no Kafka client of it is down (`kafka.health`: a wrong password, no broker reachable);
its body then names the client and why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class Probes:
    """Liveness and readiness state, written by the loops and read by the HTTP server."""

    def __init__(self, stale_s: float = 30.0) -> None:
        self._beats: dict[str, float] = {}
        self._stale_s = stale_s
        self._ready: Callable[[], bool] = lambda: False
        self._kafka_down: dict[str, str] = {}  # client -> condition, written by callbacks

    def beat(self, loop: str) -> None:
        self._beats[loop] = time.monotonic()

    def set_readiness(self, check: Callable[[], bool]) -> None:
        self._ready = check

    def alive(self) -> tuple[bool, str]:
        now = time.monotonic()
        stale = [name for name, at in self._beats.items() if now - at > self._stale_s]
        if not self._beats:
            return True, "starting"
        if stale:
            return False, "stalled: " + ", ".join(sorted(stale))
        return True, "ok"

    def kafka_condition(self, client: str, condition: str | None) -> None:
        """Kafka `client` is down for `condition`, or (None) not down any more."""
        if condition is None:
            self._kafka_down.pop(client, None)
        else:
            self._kafka_down[client] = condition

    def kafka_conditions(self) -> dict[str, str]:
        """The Kafka clients that are down, and why."""
        return dict(self._kafka_down)

    def ready(self) -> bool:
        return self.readiness()[0]

    def readiness(self) -> tuple[bool, str]:
        """Ready or not, and why not."""
        down = self.kafka_conditions()
        if down:
            return False, "not ready: " + "; ".join(
                f"kafka {client}: {condition}" for client, condition in sorted(down.items())
            )
        if not self._ready():
            return False, "not ready"
        return True, "ready"


class ProbeServer:
    """Serves the probes and the registry's metrics until `close()`."""

    def __init__(self, registry: CollectorRegistry, probes: Probes, host: str, port: int) -> None:
        handler = _handler(registry, probes)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="probes", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> ProbeServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(registry: CollectorRegistry, probes: Probes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                alive, detail = probes.alive()
                self._answer(200 if alive else 503, detail.encode())
            elif path == "/readyz":
                ready, detail = probes.readiness()
                self._answer(200 if ready else 503, detail.encode())
            else:
                self._answer(404, b"not found")

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Scrapes are not worth a log line each."""

    return Handler
