"""A small HTTP server speaking the Beacon test provider's API, recording every call."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from tests.integration.extension.beacon import MAX_HANDLES

KEY = "beacon-key-1"


class BeaconServer:
    """`with BeaconServer() as server:` serves on a free port; `calls` lists handle lists."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.refused = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = self.path.strip("/").split("/")
                handles = json.loads(body).get("handles", [])
                if self.headers.get("X-Key") != KEY:
                    self._answer(401, {})
                elif len(parts) != 3 or parts[0] != "channels" or parts[2] != "send":
                    self._answer(404, {})
                elif not 0 < len(handles) <= MAX_HANDLES:
                    server.refused += 1
                    self._answer(400, {"error": f"1..{MAX_HANDLES} handles per call"})
                else:
                    server.calls.append((parts[1], handles))
                    self._answer(200, {"unknown": [h for h in handles if h.startswith("nobody")]})

            def _answer(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return None

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> BeaconServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._http.shutdown()
        self._http.server_close()
