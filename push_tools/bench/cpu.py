"""CPU seconds spent by each process of a run, between two snapshots.

On a shared machine wall-clock throughput moves with the neighbours' load; CPU time per
intent does not (much), so it is the figure to compare across runs and against the
baseline. Processes are sampled with psutil (user + system time, all threads).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

import psutil


class CpuMeter:
    """CPU seconds per named process since `start` (a process that ended reports None)."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._start: dict[str, float | None] = {}

    def start(self) -> CpuMeter:
        self._start = {name: _cpu(process) for name, process in self._processes.items()}
        return self

    def seconds(self) -> dict[str, float | None]:
        used: dict[str, float | None] = {}
        for name, process in self._processes.items():
            now, then = _cpu(process), self._start.get(name)
            used[name] = None if now is None or then is None else now - then
        return used


def per_intent_us(seconds: Mapping[str, float | None], intents: int) -> dict[str, float | None]:
    """CPU microseconds per intent, per process."""
    return {
        name: None if value is None or intents <= 0 else value / intents * 1e6
        for name, value in seconds.items()
    }


class ThreadMeter:
    """CPU seconds of one process's threads, grouped by thread name, since `start`.

    librdkafka names its threads (`rdk:main`, `rdk:broker1`, ...), so the split shows how
    much of a process's CPU is the client's C threads and how much its Python threads
    (which all carry the process's name). A thread that ended meanwhile is not counted.
    """

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._start: dict[int, tuple[str, float]] = {}

    def start(self) -> ThreadMeter:
        self._start = _threads(self._pid)
        return self

    def seconds(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for tid, (name, now) in _threads(self._pid).items():
            _, then = self._start.get(tid, (name, 0.0))
            used[name] = used.get(name, 0.0) + now - then
        return {
            name: round(used[name], 3) for name in sorted(used, key=used.__getitem__, reverse=True)
        }


_TICKS = os.sysconf("SC_CLK_TCK")


def _threads(pid: int) -> dict[int, tuple[str, float]]:
    """Each thread of `pid`: its name without digits, and its CPU seconds so far."""
    found: dict[int, tuple[str, float]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                line = stat.read()
        except FileNotFoundError:
            continue  # ended meanwhile
        name = line[line.index("(") + 1 : line.rindex(")")]
        fields = line[line.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
        found[int(tid)] = (re.sub(r"[-\d]+$", "", name), seconds)
    return found


def _cpu(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def pin(pid: int, cores: Iterable[int]) -> None:
    """Every thread of `pid` onto `cores` (what `taskset -a -p` does); new threads inherit it.

    `sched_setaffinity(pid)` alone moves only the main thread: librdkafka's and the JVM's
    threads would stay free, so each thread of /proc/PID/task is moved.
    """
    chosen = set(cores)
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError as exc:
        raise ProcessLookupError(f"no process {pid} to pin") from exc
    for tid in threads:
        try:
            os.sched_setaffinity(int(tid), chosen)
        except ProcessLookupError:
            continue  # a thread that ended meanwhile


def affinity(pid: int) -> dict[int, frozenset[int]]:
    """The cores each thread of `pid` may run on, by thread id."""
    found: dict[int, frozenset[int]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            found[int(tid)] = frozenset(os.sched_getaffinity(int(tid)))
        except ProcessLookupError:
            continue
    return found
