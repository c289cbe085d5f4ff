"""Packaging: every install is pinned by constraints.txt, images cache their dependencies,
and building the package prints no warnings."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for raw in (ROOT / "constraints.txt").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt: {line!r} is not an exact pin (name==version)"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(text) for text in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements += [Requirement(text) for text in extra]
    return [r for r in requirements if canonicalize_name(r.name) != "push-dispatch"]


@pytest.mark.parametrize("requirement", _declared(), ids=str)
def test_every_declared_dependency_is_pinned_within_its_range(requirement: Requirement) -> None:
    pins = _pins()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement.name} is not in constraints.txt: run `make lock`"
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"constraints.txt pins {requirement.name}=={pins[name]}, outside {requirement}"
    )


def test_every_pip_install_in_the_makefile_and_the_image_uses_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"^\t(\S*pip install.*)$", makefile, flags=re.MULTILINE)
    for line in installs:
        if "LOCK_VENV" in line:  # `make lock` resolves afresh: that is its job
            continue
        assert line.startswith("$(PIP_INSTALL)") or "--constraint" in line, line
    assert "--constraint constraints.txt" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    dependency_install = next(ln for ln in dockerfile.splitlines() if "pip install" in ln)
    assert "--constraint constraints.txt" in dependency_install


def test_the_image_installs_dependencies_before_it_copies_the_source() -> None:
    """A code change must not invalidate the dependency layer (a full reinstall)."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    first_source_copy = next(i for i, ln in enumerate(lines) if ln.startswith("COPY consumer"))
    dependency_install = next(i for i, ln in enumerate(lines) if "--constraint" in ln)
    assert dependency_install < first_source_copy
    copies_before = [ln for ln in lines[:dependency_install] if ln.startswith("COPY")]
    assert copies_before == ["COPY pyproject.toml constraints.txt ./"]


def test_building_the_package_prints_no_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "warning" not in output.lower(), output
    assert list(tmp_path.glob("push_dispatch-*.whl"))


def test_make_demo_installs_the_demo_tools_and_not_the_test_tools() -> None:
    """`make demo` on a fresh clone (every target rebuilt: -B) installs `.[dev]` only."""
    plan = subprocess.run(
        ["make", "-n", "-B", "demo"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    installs = [
        ln
        for ln in plan.splitlines()
        if "pip install" in ln and "-e" in ln and "--no-deps" not in ln  # not the compile step
    ]
    assert installs, plan
    assert all("'.[dev]'" in ln for ln in installs), installs
    assert "[test]" not in plan
