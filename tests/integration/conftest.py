"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from push_tools.sim import AzureSimConfig, ResponsysSimConfig, SimServer, azure_app, responsys_app
from tests.integration.pipeline.harness import AZURE_TOKEN, Sims


@pytest.fixture
def sims() -> Iterator[Sims]:
    """Fresh provider simulators per test, so ledgers count only that test's calls."""
    azure = SimServer(azure_app(AzureSimConfig(static_token=AZURE_TOKEN)))
    responsys = SimServer(responsys_app(ResponsysSimConfig(processing_s=0.3)))
    with azure, responsys:
        yield Sims(azure.url, responsys.url)
