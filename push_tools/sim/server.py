"""Run a simulator for real: in-process on a background thread, or as its own process.

with SimServer(azure_app(AzureSimConfig())) as sim:      # 127.0.0.1, a free port
    httpx.post(f"{sim.url}/...")

with SimProcess("azure", ["--token-ttl-s", "60"]) as sim:  # `python -m push_tools.sim`
    ...                                                    # its own core, sim.pid
"""

from __future__ import annotations

import os
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp

from consumer.errors import PushDispatchError
from push_tools.local.processes import stop_process

_URL_LINE = re.compile(r"listening on (http://\S+)")


class SimulatorError(PushDispatchError):
    """Raised when a simulator cannot be started or does not come up in time."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when
    # the socket says it is TCP; without it every kept-alive answer waits ~40 ms on Nagle.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SimulatorError(f"cannot listen on {host}:{port}: {exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_server(app: ASGIApp, *, access_log: bool = False) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        lifespan="off",
        access_log=access_log,
        log_level="warning",
        timeout_graceful_shutdown=1,  # hang faults must not hold shutdown for long
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


class SimServer:
    """Serve an ASGI app with uvicorn on a background thread; `.url` once entered."""

    def __init__(
        self, app: ASGIApp, host: str = "127.0.0.1", start_timeout_s: float = 10.0
    ) -> None:
        self._app = app
        self._host = host
        self._start_timeout_s = start_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321` (no trailing slash)."""
        if self._url is None:
            raise SimulatorError("the simulator is not running")
        return self._url

    def start(self) -> str:
        sock = bind_socket(self._host, 0)
        server = uvicorn_server(self._app)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="sim-server", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise SimulatorError("the simulator did not start")
            time.sleep(0.005)
        self._server, self._thread, self._url = server, thread, socket_url(sock)
        return self._url

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = self._url = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SimProcess:
    """`python -m push_tools.sim PROVIDER --port 0 ARGS...` as a child process; `.url`, `.pid`."""

    def __init__(
        self,
        provider: str,
        args: Sequence[str] = (),
        host: str = "127.0.0.1",
        start_timeout_s: float = 20.0,
        *,
        preexec_fn: Callable[[], None] | None = None,  # run in the child before exec
    ) -> None:
        self._preexec_fn = preexec_fn
        self._argv = [
            sys.executable,
            "-m",
            "push_tools.sim",
            provider,
            "--host",
            host,
            "--port",
            "0",
            *args,
        ]
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise SimulatorError("the simulator process is not running")
        return self._url

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise SimulatorError("the simulator process is not running")
        return self._proc.pid

    def start(self) -> str:
        proc = subprocess.Popen(
            self._argv,
            stdout=subprocess.PIPE,
            env=dict(os.environ),
            preexec_fn=self._preexec_fn,  # noqa: PLW1509 - the caller's; the demo's makes syscalls only
        )
        self._proc = proc
        assert proc.stdout is not None  # set by stdout=PIPE
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + self._start_timeout_s
            while time.monotonic() < deadline:
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                line = proc.stdout.readline().decode(errors="replace")
                if not line:
                    break
                found = _URL_LINE.search(line)
                if found:
                    self._url = found.group(1)
                    return self._url
        self.stop()
        raise SimulatorError(f"the simulator process did not start: {' '.join(self._argv)}")

    def stop(self) -> None:
        proc, self._proc, self._url = self._proc, None, None
        if proc is None:
            return
        stop_process(proc, 10)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
