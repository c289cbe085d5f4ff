"""py-spy on a running process: sample until stopped, then rank frames.

`py-spy record --format raw` writes collapsed stacks (`frame;frame;... count`). A frame's
self share is how often it was the innermost frame; its total share how often it was
anywhere on the stack. Idle frames (waiting in select/poll/sleep) are counted apart, so
the shares describe where busy time goes.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from push_tools.local.processes import stop_process

_IDLE = ("select (selectors", "_run_once (asyncio", "poll (", "wait (threading", "sleep (")


@dataclass(frozen=True, slots=True)
class FrameShare:
    """One frame (`function (file:line)`) and its share of busy samples."""

    frame: str
    self_share: float
    total_share: float


def py_spy() -> str | None:
    """The py-spy executable beside this Python, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class PySpy:
    """`py-spy record` on `pid` while the context is open; SIGINT makes it write `output`."""

    def __init__(self, pid: int, output: Path, rate_hz: int = 100) -> None:
        executable = py_spy()
        if executable is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy into the venv)")
        self.output = output
        self._argv = [
            executable, "record", "--pid", str(pid), "--rate", str(rate_hz), "--format", "raw",
            "--output", str(output), "--nonblocking", "--threads",
        ]  # fmt: skip
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpy:
        self._proc = subprocess.Popen(
            self._argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            stop_process(self._proc, 30, signal.SIGINT)  # py-spy writes its report on SIGINT


def rank(collapsed: Path, top: int = 25, only: str = "") -> list[FrameShare]:
    """The `top` frames by self share of busy samples (frames containing `only`)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    busy = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [frame for frame in stack.split(";") if not frame.startswith("thread (")]
        if not frames or any(frames[-1].startswith(idle) for idle in _IDLE):
            continue
        count = int(count_text)
        busy += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    if busy == 0:
        return []
    ordered = anywhere if only else own
    chosen = [frame for frame, _ in ordered.most_common() if only in frame][:top]
    return [FrameShare(frame, own[frame] / busy, anywhere[frame] / busy) for frame in chosen]
