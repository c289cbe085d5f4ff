"""The build the tests run on is the one asked for: `make test` runs on the compiled
build and says so (PUSH_DISPATCH_COMPILED=1); a bare `pytest` on a pure install."""

from __future__ import annotations

import importlib
import os

import pytest

from consumer.errors import DecodeError, caused_by
from tests.compiled import compiled, compiled_sources

COMPILED_BUILD = os.environ.get("PUSH_DISPATCH_COMPILED") == "1"


@pytest.mark.parametrize("source", compiled_sources())
def test_each_listed_module_runs_as_the_build_asked(source: str) -> None:
    module = importlib.import_module(source.removesuffix(".py").replace("/", "."))
    assert compiled(module) is COMPILED_BUILD, module.__file__


def test_caused_by_sets_the_cause_as_raise_from_does() -> None:
    cause = KeyError("type")
    error = caused_by(DecodeError("unreadable", b"x"), cause)
    assert error.__cause__ is cause
    assert error.__suppress_context__  # the traceback shows the cause, not the context
