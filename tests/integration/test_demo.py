"""`push-consumer demo` end to end: real broker, simulators, pipeline and Prometheus.

The demo runs as a user would run it (a subprocess, plain output); the tests read its
final summary (counted from the outcomes and dead-letter topics before the broker stops)
and check with psutil that every process it started is gone afterwards.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
_RUN_TIMEOUT_S = 240.0
# The demo's stop steps' own timeouts added up: pipeline 45 s, Prometheus 15 s, two
# simulators 10 s each, topic count 30 s, Kafka 30 s; a stop past this is a hang.
_STOP_DEADLINE_S = 150.0


def _demo_command(data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "consumer", "demo", "--plain", "--rate", "50",
            "--seed", "7", "--data-dir", str(data_dir), *extra]  # fmt: skip


class DemoRun:
    """The demo as a subprocess, with every descendant it was ever seen to have."""

    def __init__(self, command: list[str], out: Path) -> None:
        self.out, self.err = out.with_suffix(".out"), out.with_suffix(".err")
        with self.out.open("w") as stdout, self.err.open("w") as stderr:
            # A session of its own: a signal to its group is what Ctrl-C in a terminal does.
            self.process = subprocess.Popen(
                command, cwd=REPO, stdout=stdout, stderr=stderr, start_new_session=True
            )
        self.descendants: dict[int, tuple[float, str]] = {}

    def watch(self, until_line: str | None = None, timeout_s: float = _RUN_TIMEOUT_S) -> None:
        """Record descendants until the demo exits (or prints `until_line`)."""
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None and time.monotonic() < deadline:
            self._record_descendants()
            if until_line is not None and until_line in self.out.read_text():
                return
            time.sleep(0.5)
        if self.process.poll() is None:
            self.process.kill()
            pytest.fail(f"the demo did not finish within {timeout_s}s:\n{self.output()}")

    def kill_survivors(self) -> None:
        """Clean-up after a failed test: no stray broker for the next one."""
        for pid, (created, _) in self.descendants.items():
            try:
                process = psutil.Process(pid)
                if process.create_time() == created:
                    process.kill()
            except psutil.NoSuchProcess:
                continue

    def _record_descendants(self) -> None:
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for child in children:
            try:
                command = " ".join(child.cmdline())
                created = child.create_time()
            except psutil.Error:
                continue
            # A process on its way out reads as an empty command line: keep what it ran.
            if command or child.pid not in self.descendants:
                self.descendants[child.pid] = (created, command)

    def survivors(self) -> list[str]:
        alive = []
        for pid, (created, command) in self.descendants.items():
            try:
                if psutil.Process(pid).create_time() == created:
                    alive.append(f"{pid}: {command}")
            except psutil.NoSuchProcess:
                continue
        return alive

    def output(self) -> str:
        return f"stdout:\n{self.out.read_text()}\nstderr:\n{self.err.read_text()[-4000:]}"

    def summary_counts(self, label: str) -> dict[str, int]:
        """`label: A=1 B=2` from the final summary, as a dict."""
        found = re.search(rf"^{re.escape(label)}: (.*)$", self.out.read_text(), re.MULTILINE)
        assert found, f"no '{label}' line in the summary:\n{self.output()}"
        return {key: int(value) for key, value in re.findall(r"(\S+)=(\d+)", found.group(1))}


def _processes_naming(marker: str) -> list[str]:
    named = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if marker in command:
            named.append(f"{process.info['pid']}: {command}")
    return named


@pytest.mark.integration
def test_demo_for_a_duration_publishes_outcomes_and_dead_letters_then_leaves_no_process(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "demo-data"
    demo = DemoRun(_demo_command(data_dir, "--duration", "20"), tmp_path / "demo")
    demo.watch()

    assert demo.process.returncode == 0, demo.output()
    lines_per_second = [line for line in demo.out.read_text().splitlines() if line.startswith("t=")]
    assert len(lines_per_second) >= 15, demo.output()
    outcomes = demo.summary_counts("outcomes topic")
    # The synthetic mix covers every outcome a synchronous and an asynchronous provider give.
    for status in ("ACCEPTED", "PARTIAL", "PENDING", "EXPIRED", "INVALID"):
        assert outcomes.get(status, 0) > 0, f"no {status} outcome: {outcomes}"
    dead_letters = demo.summary_counts("dead-letter topic")
    assert dead_letters.get("undecodable", 0) > 0, dead_letters  # the garbage bytes
    assert (
        dead_letters.get("protected_data_key", 0) + dead_letters.get("profile_attribute_count", 0)
        > 0
    ), dead_letters  # the rule-breaking intents
    commands = [command for _, command in demo.descendants.values()]
    assert any("kafka.Kafka" in c for c in commands), commands
    assert sum("push_tools.sim" in c for c in commands) == 2, "\n".join(commands)
    assert any("consumer run --config" in c for c in commands), commands
    assert demo.survivors() == []
    assert _processes_naming(str(data_dir)) == []


@pytest.mark.integration
def test_demo_stopped_by_ctrl_c_drains_the_pipeline_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "demo-data"
    demo = DemoRun(_demo_command(data_dir), tmp_path / "demo")
    demo.watch(until_line="t=    3s")
    assert demo.process.poll() is None, demo.output()
    os.killpg(demo.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    demo.watch()

    assert demo.process.returncode == 0, demo.output()
    assert "the pipeline exited with code" not in demo.err.read_text(), demo.output()
    assert demo.summary_counts("outcomes topic").get("ACCEPTED", 0) > 0, demo.output()
    assert demo.survivors() == []
    assert _processes_naming(str(data_dir)) == []


@pytest.mark.integration
def test_demo_sent_sighup_stops_everything_in_order_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "demo-data"
    demo = DemoRun(_demo_command(data_dir), tmp_path / "demo")
    try:
        demo.watch(until_line="t=    3s")
        assert demo.process.poll() is None, demo.output()
        # What a shell does to its jobs when its terminal closes: SIGHUP to the job's group.
        os.killpg(demo.process.pid, signal.SIGHUP)
        demo.watch(timeout_s=_STOP_DEADLINE_S)

        assert demo.process.returncode == 0, demo.output()
        # The children never saw the hang-up: the pipeline drained and exited 0 when asked.
        assert "the pipeline exited with code" not in demo.err.read_text(), demo.output()
        assert demo.summary_counts("outcomes topic").get("ACCEPTED", 0) > 0, demo.output()
        commands = [command for _, command in demo.descendants.values()]
        assert any("kafka.Kafka" in c for c in commands), commands
        assert any("prometheus" in c for c in commands), commands
        assert demo.survivors() == []
        assert _processes_naming(str(data_dir)) == []
    finally:
        demo.kill_survivors()


class PtyDemoRun(DemoRun):
    """The demo with a pseudo-terminal as its controlling terminal and its stdout."""

    def __init__(self, command: list[str], out: Path) -> None:
        self.out, self.err = out.with_suffix(".out"), out.with_suffix(".err")
        self.out.touch()
        self.master, slave = pty.openpty()
        os.set_blocking(self.master, False)
        with self.err.open("w") as stderr:
            self.process = subprocess.Popen(
                command, cwd=REPO, stdin=slave, stdout=slave, stderr=stderr,
                start_new_session=True,
                preexec_fn=_take_controlling_terminal,  # noqa: PLW1509 - one ioctl
            )  # fmt: skip
        os.close(slave)
        self.descendants = {}

    def _record_descendants(self) -> None:
        self._drain()
        super()._record_descendants()

    def _drain(self) -> None:
        """Copy what the demo wrote to its terminal into `out` (a full pty would block it)."""
        if self.master < 0:
            return
        with self.out.open("ab") as out:
            while True:
                try:
                    chunk = os.read(self.master, 65536)
                except (BlockingIOError, OSError):
                    return
                if not chunk:
                    return
                out.write(chunk.replace(b"\r\n", b"\n"))

    def close_terminal(self) -> None:
        self._drain()
        os.close(self.master)
        self.master = -1


def _take_controlling_terminal() -> None:
    """In the child, a session leader: make stdin (the pty) its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.integration
def test_demo_whose_terminal_closes_stops_everything_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "demo-data"
    demo = PtyDemoRun(_demo_command(data_dir), tmp_path / "demo")
    try:
        demo.watch(until_line="t=    3s")
        assert demo.process.poll() is None, demo.output()
        demo.close_terminal()  # the kernel hangs up: SIGHUP, and writes to it fail from now
        demo.watch(timeout_s=_STOP_DEADLINE_S)

        assert demo.process.returncode == 0, demo.output()
        # Its stop and summary went to demo.log, the terminal being gone.
        assert "outcomes topic:" in (data_dir / "demo.log").read_text(), demo.output()
        assert demo.survivors() == []
        assert _processes_naming(str(data_dir)) == []
    finally:
        demo.kill_survivors()


@pytest.mark.integration
def test_demo_killed_outright_takes_every_child_with_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    demo = DemoRun(_demo_command(data_dir), tmp_path / "demo")
    try:
        demo.watch(until_line="t=    3s")
        demo._record_descendants()
        assert len(demo.descendants) >= 5, demo.descendants  # broker, Prometheus, 2 sims, pipeline
        demo.process.kill()  # no handler runs: only the kernel's parent-death signal is left
        demo.process.wait(timeout=30)

        deadline = time.monotonic() + 30
        while demo.survivors() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert demo.survivors() == []
    finally:
        demo.kill_survivors()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--rate", "-1"], "--rate: must be greater than 0"),
        (["--rate", "fast"], "--rate: not a number"),
        (["--duration", "0"], "--duration: must be greater than 0"),
        (["--metrics-port", "70000"], "--metrics-port: must be within 1..65535"),
    ],
)
def test_demo_with_bad_arguments_exits_2_naming_the_argument(
    arguments: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "demo", *arguments],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
