"""Stopping child processes: ask first, kill when they will not stop."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def stop_process(
    process: subprocess.Popen[Any], timeout_s: float, signum: int = signal.SIGTERM
) -> int:
    """Send `signum` (a clean stop), wait up to `timeout_s`, then SIGKILL; the exit code."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode
