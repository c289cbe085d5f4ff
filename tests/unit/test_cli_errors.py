"""Bad user input anywhere in the CLI: one line naming the problem on stderr, exit code 2,
never a traceback. (Cases that need a broker are in tests/integration/test_topics.py.)"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer.cli import COMMANDS, main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Exit code and stderr of `push-consumer argv`; an exception escaping fails the test."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def only_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def intents_file(tmp_path: Path) -> Path:
    path = tmp_path / "intents.jsonl"
    path.write_text("")
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_an_unknown_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "--log-level", "LOUD", "run")
    assert code == 2
    assert err.splitlines()[-1] == (
        "push-consumer: error: argument --log-level: unknown level 'LOUD'; choose one of"
        " DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )


def test_a_log_level_in_lower_case_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "--log-level", "debug", "run", "--workers", "0")
    assert code == 2  # it got as far as the subcommand's own check
    assert only_line(err) == "push-consumer run: --workers must be at least 1, got 0"


def test_an_unknown_librdkafka_setting_of_produce_is_named(
    capsys: pytest.CaptureFixture[str], intents_file: Path
) -> None:
    args = ["produce", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t"]
    code, err = cli(capsys, *args, "-X", "linger_ms=5", str(intents_file))
    assert code == 2
    assert only_line(err) == (
        "push-consumer produce: -X: librdkafka refused a setting: No such configuration"
        ' property: "linger_ms"'
    )


def test_a_bad_librdkafka_value_of_produce_is_named(
    capsys: pytest.CaptureFixture[str], intents_file: Path
) -> None:
    args = ["produce", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t"]
    code, err = cli(capsys, *args, "-X", "linger.ms=soon", str(intents_file))
    assert code == 2
    line = only_line(err)
    assert line.startswith("push-consumer produce: -X: librdkafka refused a setting: ")
    assert "Invalid value for configuration property" in line


def test_a_produce_setting_without_a_value_is_named(
    capsys: pytest.CaptureFixture[str], intents_file: Path
) -> None:
    args = ["produce", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t", "-X", "acks"]
    code, err = cli(capsys, *args, str(intents_file))
    assert code == 2
    assert only_line(err) == "push-consumer produce: -X 'acks' must be key=value"


@pytest.mark.parametrize(
    ("name", "problem"),
    [("nonexistent.jsonl", "No such file or directory"), ("", "Is a directory")],
)
def test_a_produce_file_that_cannot_be_read_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, problem: str
) -> None:
    path = tmp_path / name
    args = ["produce", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t", str(path)]
    code, err = cli(capsys, *args)
    assert code == 2
    assert only_line(err) == f"push-consumer produce: cannot read {path}: {problem}"


@pytest.mark.parametrize("command", ["run", "status", "redrive"])
def test_a_missing_settings_file_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    extra = ["--all"] if command == "redrive" else []
    code, err = cli(capsys, command, "--config", str(tmp_path / "nope.toml"), *extra)
    assert code == 2
    assert (
        only_line(err)
        == f"push-consumer {command}: settings file {tmp_path}/nope.toml does not exist"
    )


def test_a_settings_file_that_is_not_toml_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[kafka\n")
    code, err = cli(capsys, "run", "--config", str(path))
    assert code == 2
    assert only_line(err).startswith(f"push-consumer run: settings file {path} is not valid TOML: ")


def test_a_settings_number_that_is_not_a_number_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[pipeline]\nlinger_ms = "soon"\n')
    code, err = cli(capsys, "status", "--config", str(path))
    assert code == 2
    assert err.startswith("push-consumer status: invalid settings:\n")
    assert "  pipeline.linger_ms: Input should be a valid integer" in err


@pytest.mark.parametrize(
    ("workers", "message"),
    [
        ("0", "push-consumer run: --workers must be at least 1, got 0"),
        ("many", "push-consumer run: error: argument --workers: invalid int value: 'many'"),
    ],
)
def test_a_bad_worker_count_is_named(
    capsys: pytest.CaptureFixture[str], workers: str, message: str
) -> None:
    code, err = cli(capsys, "run", "--workers", workers)
    assert code == 2
    assert err.strip().splitlines()[-1] == message


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "redirve")
    assert code == 2
    assert "push-consumer: error: argument COMMAND: invalid choice: 'redirve'" in err


def test_the_kafka_command_names_an_impossible_port(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "kafka", "--port", "70000")
    assert code == 2
    assert only_line(err) == "push-consumer kafka: --port must be 0..65535, got 70000"


@pytest.fixture
def own_signal_handlers() -> Iterator[None]:
    """The commands install SIGINT/SIGTERM handlers; the test session gets its own back."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("command", ["kafka", "demo"])
@pytest.mark.usefixtures("own_signal_handlers")
def test_a_data_directory_that_cannot_be_made_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, err = cli(capsys, command, "--data-dir", str(blocker / "data"))
    assert code == 2
    line = only_line(err)
    assert line.startswith(f"push-consumer {command}: [Errno 20] Not a directory: ")
    assert str(blocker) in line


def test_a_simulator_port_in_use_is_named(
    capsys: pytest.CaptureFixture[str], busy_port: int
) -> None:
    code, err = cli(capsys, "simulate", "azure", "--port", str(busy_port))
    assert code == 2
    line = only_line(err)
    assert line.startswith(f"push-consumer simulate: cannot listen on 127.0.0.1:{busy_port}: ")
    assert "Address already in use" in line


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--intents", "0", "intents, devices_per_intent and campaigns must be >= 1"),
        (
            "--partitions",
            "0",
            "--partitions, --latency-seconds, --naive-concurrency, --rounds must be > 0",
        ),
        ("--timeout-s", "-1", "--timeout-s and --latency-rate must be > 0"),
        ("--latency-rate", "0", "--timeout-s and --latency-rate must be > 0"),
        ("--backlog", "-5", "--naive-intents, --backlog and --linger-ms must not be negative"),
    ],
)
def test_bad_bench_numbers_are_named_before_anything_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str, value: str, message: str
) -> None:
    output = tmp_path / "results" / "bench.json"
    code, err = cli(capsys, "bench", "--output", str(output), option, value)
    assert code == 2
    assert only_line(err) == f"push-consumer bench: {message}"
    assert not output.parent.exists(), "nothing is made for a run that cannot start"


def test_help_imports_no_subcommand_and_no_kafka_or_settings_library() -> None:
    """`--help` stays fast: it imports none of the subcommands, nor what they need."""
    heavy = {module for module, _ in COMMANDS.values()} | {
        "confluent_kafka", "pydantic", "httpx", "fastavro", "prometheus_client",
    }  # fmt: skip
    code = (
        "import contextlib, io, json, sys\n"
        "from consumer.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert {name for name in loaded if name in heavy or name.partition(".")[0] in heavy} == set()
