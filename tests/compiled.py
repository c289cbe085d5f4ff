"""Which build the tests run on: setup.py's modules compiled by mypyc, or pure Python."""

from __future__ import annotations

import ast
import importlib.machinery
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def compiled(module: ModuleType) -> bool:
    """True when `module` was imported from an extension module (mypyc's build)."""
    return (module.__file__ or "").endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def compiled_sources() -> list[str]:
    """setup.py's COMPILED list, read without running setup.py."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED":
            return list(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no COMPILED list")


def stale_builds() -> list[str]:
    """Compiled modules whose source changed after they were built (they would shadow it)."""
    stale = []
    for source in compiled_sources():
        path = ROOT / source
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            built = path.with_suffix(suffix)
            if built.exists() and built.stat().st_mtime < path.stat().st_mtime:
                stale.append(source)
    return stale
