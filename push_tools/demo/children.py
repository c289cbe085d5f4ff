"""Child-process hygiene for the demo.

Ctrl-C in a terminal signals the whole foreground process group. The demo wants to stop its
children itself, in order (the pipeline must still reach the simulators while it drains),
so children are started with SIGINT blocked (a blocked mask survives exec) or in a session
of their own. Whatever is still alive at the end is terminated, then killed.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator

import psutil

# librdkafka reports every refused connection (brokers starting or stopping) on stderr,
# over the live view; the demo's own clients log through this quiet logger instead.
QUIET_KAFKA_LOG = logging.getLogger("push_tools.demo.kafka_clients")
QUIET_KAFKA_LOG.setLevel(logging.CRITICAL)


@contextlib.contextmanager
def terminal_interrupts_blocked() -> Iterator[None]:
    """Children started inside this block do not receive the terminal's Ctrl-C."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def reap_leftovers(timeout_s: float = 5.0) -> list[str]:
    """Terminate (then kill) every descendant still alive; describe each one found."""
    leftovers = psutil.Process().children(recursive=True)
    found = []
    for child in leftovers:
        with contextlib.suppress(psutil.Error):
            found.append(f"pid {child.pid} ({child.name()})")
            child.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=timeout_s)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=timeout_s)
    return found
