"""Fixtures of the status tests: Responsys simulators configured per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from push_tools.sim import ResponsysSimConfig, SimServer, responsys_app
from tests.integration.pipeline.harness import Sims

SimFactory = Callable[..., Sims]


@pytest.fixture
def with_responsys(sims: Sims) -> Iterator[SimFactory]:
    """`with_responsys(processing_s=..., never_finish=...)`: the shared Azure simulator plus a
    Responsys simulator configured for this test."""
    with ExitStack() as stack:

        def start(**config: Any) -> Sims:
            server = stack.enter_context(SimServer(responsys_app(ResponsysSimConfig(**config))))
            return Sims(sims.azure, server.url)

        yield start
