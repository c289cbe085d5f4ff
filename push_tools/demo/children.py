"""Child-process hygiene for the demo: no terminal signal to children, no process left behind.

Ctrl-C and a closing terminal (SIGHUP) signal the terminal's foreground process group. The
demo wants to stop its children itself, in order (the pipeline must still reach the
simulators and the broker while it drains), so every child is started by `child_setup`:

- in a process group of its own (its pgid is its pid), which terminal signals never reach;
- with a parent-death signal (Linux `prctl(PR_SET_PDEATHSIG, SIGKILL)`): should the demo be
  killed outright (SIGKILL, an OOM kill), the kernel kills its children too. SIGKILL, not
  SIGTERM, because nothing would be left to wait for a clean stop; the demo's broker data
  is thrown away at every start anyway.

`ChildGroups` remembers those groups; `reap_leftovers` terminates, then kills, whatever is
still alive at the end: the demo's process tree and every member of those groups (a
grandchild whose parent died is no longer in the tree, but still in its group).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator

import psutil

# librdkafka reports every refused connection (brokers starting or stopping) on stderr,
# over the live view; the demo's own clients log through this quiet logger instead.
QUIET_KAFKA_LOG = logging.getLogger("push_tools.demo.kafka_clients")
QUIET_KAFKA_LOG.setLevel(logging.CRITICAL)

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# Loaded here, before any fork: the child then only makes system calls (no dlopen, no lock
# another thread could hold), which keeps `preexec_fn` safe beside librdkafka's threads.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGHUP)


def child_setup() -> None:
    """A `preexec_fn`: own process group, and die with the demo (Linux). Runs in the child."""
    if os.getpgid(0) != os.getpid():  # a session leader (start_new_session) has its own already
        os.setpgid(0, 0)
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() == 1:  # the demo died before prctl took effect: follow it now
            os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def terminal_interrupts_blocked() -> Iterator[None]:
    """Short-lived helpers started inside this block (not by `child_setup`) ignore the
    terminal's Ctrl-C and hang-up: a blocked signal mask survives exec."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(TERMINAL_SIGNALS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ChildGroups:
    """The process groups of the demo's children (each child's pid is its group's id)."""

    def __init__(self) -> None:
        self._since = time.time()  # wall clock: psutil's create_time is epoch seconds
        self._groups: set[int] = set()

    def add(self, pid: int | None) -> None:
        if pid is not None:
            self._groups.add(pid)

    def members(self) -> list[psutil.Process]:
        """Live processes of those groups created since the demo began (no reused ids)."""
        found = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if os.getpgid(process.pid) in self._groups and (
                    process.create_time() >= self._since - 1.0
                ):
                    found.append(process)
        return found


def reap_leftovers(groups: ChildGroups | None = None, timeout_s: float = 5.0) -> list[str]:
    """Terminate (then kill) every descendant and group member still alive; describe each."""
    own = os.getpid()
    leftovers = {p.pid: p for p in psutil.Process().children(recursive=True)}
    if groups is not None:
        leftovers.update({p.pid: p for p in groups.members() if p.pid != own})
    found = []
    for child in leftovers.values():
        with contextlib.suppress(psutil.Error):
            found.append(f"pid {child.pid} ({child.name()})")
            child.terminate()
    _, alive = psutil.wait_procs(list(leftovers.values()), timeout=timeout_s)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=timeout_s)
    return found
