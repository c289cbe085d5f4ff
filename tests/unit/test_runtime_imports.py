"""The runtime loads none of the development tools or their dependencies.

`consumer` is what the container image runs; `push_tools` (simulators, demo, bench, local
broker, produce) and the `dev` extra (starlette, uvicorn, rich, psutil, pyyaml) stay out of
its process. Each check runs in a fresh interpreter, so nothing this test session imported
counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from consumer.cli import COMMANDS, NEEDS_TOOLS

TOOLS_MODULES = ("push_tools", "starlette", "uvicorn", "rich", "psutil", "yaml", "matplotlib")
TOOLS_COMMANDS = [name for name, (module, _) in COMMANDS.items() if module.startswith("push_")]

# httpx imports its optional command line (`httpx._main`: click, pygments, rich) whenever
# those happen to be installed, as they are beside the dev extra. The runtime image has none
# of them; the checks below block `httpx._main` to see the runtime's own imports, as there.
HTTPX_CLI = "httpx._main"

# Prints the loaded modules of TOOLS_MODULES (top-level names) as JSON, after `body`.
_REPORT = """
import json, sys
tools = {{name.partition(".")[0] for name in sys.modules}} & set({tools!r})
print(json.dumps(sorted(tools)))
"""

# Makes the modules `blocked` names (and everything below them) unimportable.
_BLOCK = """
import importlib.abc, sys
class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in {blocked!r}):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
"""


def _python(
    code: str, *args: str, blocked: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter, where the modules `blocked` names are not installed."""
    prelude = _BLOCK.format(blocked=blocked) if blocked else ""
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _loaded_tools(body: str) -> list[str]:
    """Which of TOOLS_MODULES `body` loads (httpx's optional command line left out)."""
    result = _python(
        textwrap.dedent(body) + _REPORT.format(tools=TOOLS_MODULES), blocked=(HTTPX_CLI,)
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


RUN_PATH = """
import consumer.service, consumer.cli, consumer.app, consumer.status, consumer.status.command
consumer.cli.build_parser("run")
consumer.cli.build_parser("status")
"""


def test_the_service_and_its_run_path_import_no_tools():
    assert _loaded_tools(RUN_PATH) == []


def test_the_service_and_its_run_path_import_without_the_dev_extra():
    result = _python(RUN_PATH, blocked=TOOLS_MODULES)
    assert result.returncode == 0, result.stderr


def test_help_exits_zero_lists_every_command_and_imports_no_tools():
    result = _python("from consumer.cli import main; raise SystemExit(main(['--help']))")
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert f"    {name} " in result.stdout, (name, result.stdout)
    body = """
    import contextlib, io
    from consumer.cli import main
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
        main(["--help"])
    """
    assert _loaded_tools(body) == []


def test_python_m_consumer_help_lists_every_command():
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert all(f"    {name} " in result.stdout for name in COMMANDS), result.stdout


@pytest.mark.parametrize("command", TOOLS_COMMANDS)
def test_a_tools_command_without_the_dev_extra_says_how_to_install_it(command: str):
    code = "import sys; from consumer.cli import main; raise SystemExit(main(sys.argv[1:]))"
    result = _python(code, "--log-level", "WARNING", command, "--help", blocked=TOOLS_MODULES)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip() == f"push-consumer {command}: {NEEDS_TOOLS}"
    assert NEEDS_TOOLS == "needs the development tools: pip install 'push-dispatch[dev]'"


def test_the_runtime_commands_work_without_the_dev_extra():
    code = """
    import contextlib, io
    from consumer.cli import main
    for command in ("run", "status"):
        out = io.StringIO()
        with contextlib.suppress(SystemExit), contextlib.redirect_stdout(out):
            main([command, "--help"])
        assert "usage: push-consumer " + command in out.getvalue(), out.getvalue()
    """
    result = _python(code, blocked=TOOLS_MODULES)
    assert result.returncode == 0, result.stderr


def test_every_tools_command_module_is_in_push_tools():
    assert TOOLS_COMMANDS == ["kafka", "produce", "simulate", "demo", "bench", "picture"]
    for name in TOOLS_COMMANDS:
        assert COMMANDS[name][0].startswith("push_tools."), name
