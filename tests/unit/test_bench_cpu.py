"""The bench's CPU meter: seconds per process between snapshots, and per-intent figures."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time

import pytest

from push_tools.bench.cpu import CpuMeter, ThreadMeter, affinity, per_intent_us, pin


def _burn(seconds: float) -> None:
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass


def test_it_counts_the_cpu_a_process_spent_since_start() -> None:
    meter = CpuMeter({"me": os.getpid()}).start()
    _burn(0.3)  # psutil counts in clock ticks (10 ms)
    spent = meter.seconds()["me"]
    assert spent is not None
    assert spent >= 0.25


def test_a_process_that_ended_reports_none_not_a_number() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        meter = CpuMeter({"child": child.pid, "me": os.getpid()}).start()
    finally:
        child.kill()
        child.wait()
    used = meter.seconds()
    assert used["child"] is None
    assert used["me"] is not None


def test_per_intent_figures_are_microseconds_and_none_when_unknown() -> None:
    figures = per_intent_us({"a": 2.0, "b": None}, 1_000)
    assert figures == {"a": 2_000.0, "b": None}
    assert per_intent_us({"a": 1.0}, 0) == {"a": None}


def test_pin_moves_every_thread_of_a_process_and_new_threads_follow() -> None:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return  # nothing to choose between on one core
    code = (
        "import sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "sys.stdin.readline()\n"
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "time.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        while len(affinity(child.pid)) < 2:
            time.sleep(0.01)
        pin(child.pid, [cores[-1]])
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.flush()
        while len(affinity(child.pid)) < 3:
            time.sleep(0.01)
        assert set(affinity(child.pid).values()) == {frozenset([cores[-1]])}
    finally:
        child.kill()
        child.communicate()


def test_pin_names_a_process_that_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(ProcessLookupError, match=str(child.pid)):
        pin(child.pid, [0])


def test_a_live_named_thread_is_counted_under_its_name_without_digits() -> None:
    started, stop = threading.Event(), threading.Event()

    def named_burn() -> None:
        ctypes.CDLL(None).prctl(15, b"rdk:broker12", 0, 0, 0)
        started.set()
        while not stop.is_set():
            pass

    worker = threading.Thread(target=named_burn)
    worker.start()
    started.wait()
    try:
        meter = ThreadMeter(os.getpid()).start()
        time.sleep(0.4)
        used = meter.seconds()
    finally:
        stop.set()
        worker.join()
    assert used.get("rdk:broker", 0.0) >= 0.1
