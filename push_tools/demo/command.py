"""`push-consumer demo`: run everything locally with a live view; Ctrl-C stops it all.

Ctrl-C, SIGTERM and a closing terminal (SIGHUP) all stop every part in order; after a
hang-up the demo's own output goes to `demo.log` in the data directory (the terminal is gone).

Starts a local Apache Kafka broker (or uses `--bootstrap-servers`), creates the topics,
runs both provider simulators, Prometheus (when installed), the pipeline and a synthetic
producer at `--rate` intents/s, and shows what the pipeline's /metrics say once a second.
`--duration S --plain` runs unattended: a line per second, a final summary, exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.live import Live

from push_tools.demo.children import reap_leftovers
from push_tools.demo.scrape import MetricsSnapshot, scrape
from push_tools.demo.stack import DemoOptions, DemoStack
from push_tools.demo.view import Frame, live_view, plain_line, summary

_REFRESH_S = 1.0
_WINDOW_S = 10.0  # rates and latency quantiles are over this much of the recent past


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be within 1..65535, got {text}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate",
        type=_positive(float),
        default=50.0,
        help="synthetic intents per second (default 50)",
    )
    parser.add_argument(
        "--duration",
        type=_positive(float),
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds of traffic (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--plain", action="store_true", help="a plain line per second instead of the live view"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".cache/demo"),
        help="broker data, settings and logs (default .cache/demo)",
    )
    parser.add_argument(
        "--bootstrap-servers",
        default=None,
        metavar="HOST:PORT",
        help="use this Kafka cluster instead of starting a local broker",
    )
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        help="the pipeline's metrics port (default 9464, or a free one)",
    )
    parser.add_argument(
        "--prometheus-config",
        type=Path,
        default=Path("prometheus/prometheus.yml"),
        help="scrape config to adapt (default prometheus/prometheus.yml)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for the synthetic traffic")


def run(args: argparse.Namespace) -> int:
    options = DemoOptions(
        data_dir=args.data_dir.resolve(),
        rate=args.rate,
        bootstrap_servers=args.bootstrap_servers,
        metrics_port=args.metrics_port,
        prometheus_config=args.prometheus_config,
        seed=args.seed,
    )
    options.data_dir.mkdir(parents=True, exist_ok=True)
    plain = args.plain or not sys.stdout.isatty()
    stop = StopRequest(options.data_dir / "demo.log")
    stop.install()
    stack = DemoStack(options)
    frame: Frame | None = None
    try:
        print(f"starting the demo (data and logs in {options.data_dir}) ...", flush=True)
        if stack.start(stop.event):
            frame = _watch(stack, stop, args.duration, plain)
    finally:
        stop.leave_terminal_if_hung_up()
        print("stopping: producer, pipeline, simulators, prometheus, kafka ...", flush=True)
        stack.close()
        leftovers = reap_leftovers(stack.groups)
    if frame is not None:
        print(summary(frame, stack.tally, stack.endpoints), flush=True)
    if leftovers:
        print(f"processes left behind and killed: {', '.join(leftovers)}", file=sys.stderr)
        return 1
    return 0


class StopRequest:
    """SIGINT, SIGTERM and SIGHUP only set a flag; the main loop stops everything in order."""

    def __init__(self, hang_up_log: Path) -> None:
        self.event = threading.Event()
        self._hung_up = False
        self._hang_up_log = hang_up_log
        self._on_terminal: tuple[int, ...] = ()

    def install(self) -> None:
        # Asked now: once the terminal has hung up, it may no longer say it is one.
        self._on_terminal = tuple(s.fileno() for s in (sys.stdout, sys.stderr) if s.isatty())
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._request)

    def _request(self, signum: int, _frame: FrameType | None) -> None:
        self._hung_up = self._hung_up or signum == signal.SIGHUP
        self.event.set()

    def leave_terminal_if_hung_up(self) -> None:
        """After a hang-up, point what went to the terminal at `demo.log`: writing to a
        closed terminal fails (EIO), and the stop must not fail on a progress line."""
        if not self._hung_up or not self._on_terminal:
            return
        with self._hang_up_log.open("ab") as log:
            for stream in (sys.stdout, sys.stderr):
                if stream.fileno() in self._on_terminal:
                    with contextlib.suppress(OSError):  # that output was for the gone terminal
                        stream.flush()
                    os.dup2(log.fileno(), stream.fileno())
        self._on_terminal = ()


def _watch(stack: DemoStack, stop: StopRequest, duration_s: float | None, plain: bool) -> Frame:
    """Refresh the view about once a second until stopped or `duration_s` has passed."""
    started = time.monotonic()
    recent: deque[tuple[float, MetricsSnapshot]] = deque()  # the window's snapshots
    frame = Frame(0.0, {}, None, None, _REFRESH_S)
    console = Console()
    live = None if plain else Live(console=console, auto_refresh=False, transient=False)
    if live is not None:
        live.start()
    try:
        while not stop.event.wait(_REFRESH_S):
            now_t = time.monotonic()
            snapshot = scrape(stack.endpoints.metrics_url)
            while len(recent) > 1 and now_t - recent[1][0] >= _WINDOW_S:
                recent.popleft()
            then, before = recent[0] if recent else (now_t, None)
            frame = Frame(now_t - started, stack.produced(), snapshot, before, now_t - then,
                          stack.live_tally())  # fmt: skip
            if snapshot is not None:
                recent.append((now_t, snapshot))
            if live is None:
                print(plain_line(frame), flush=True)
            else:
                live.update(live_view(frame, stack.endpoints), refresh=True)
            if duration_s is not None and frame.elapsed_s >= duration_s:
                break
    finally:
        stop.leave_terminal_if_hung_up()
        if live is not None:
            live.stop()
    final = scrape(stack.endpoints.metrics_url)  # the last numbers before the pipeline stops
    now_t = time.monotonic()
    then, before = recent[0] if recent else (now_t, None)
    return Frame(now_t - started, stack.produced(), final or frame.now, before, now_t - then)
