"""A broker of this package's own with a SASL_SSL (SCRAM-SHA-512) listener beside PLAINTEXT.

Tests set topics up and read results over PLAINTEXT, as an operator's admin tooling would,
and run the pipeline only through SASL_SSL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from push_tools.local.kafka import LocalKafka, ScramUser

USER = ScramUser("push-dispatch", "scram-secret-1")


@pytest.fixture(scope="package")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(tmp_path_factory.mktemp("sasl-kafka"), scram_user=USER)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
