from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumer.avro import SchemaSet
from consumer.model import PushIntent
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush


@pytest.fixture(scope="session")
def schemas() -> SchemaSet:
    return SchemaSet.load()


@pytest.fixture
def azure_intent() -> PushIntent:
    return PushIntent(
        intent_id="az-1",
        account="azure-main",
        created_at=datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC),
        push=AzurePush(
            kind=AzureKind.DATA_PUSHES,
            campaign_id=9_000_000_001,
            device_ids=("dev-a", "dev-b", "dév-ü"),
            data={"notificationTitle": "Hi €", "z": [1, 2], "a": {"n": None}},
            data_json='{"a":{"n":null},"notificationTitle":"Hi €","z":[1,2]}',
        ),
        expires_at=datetime(2024, 5, 2, tzinfo=UTC),
        correlation_id="corr-1",
    )


@pytest.fixture
def responsys_intent() -> PushIntent:
    return PushIntent(
        intent_id="rs-1",
        account="responsys-main",
        created_at=datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
        push=ResponsysPush(
            campaign_name="Summer_Push",
            recipients=(
                Recipient(
                    list_type=ListType.PROFILE,
                    recipient_id=131006807,
                    optional_data=(("CUSTOM1", "WELCOME10"), ("CITY", "Zürich")),
                ),
                Recipient(list_type=ListType.PROFILE, email_sha256_hash="ab" * 32, api_key="k"),
                Recipient(list_type=ListType.PUSH, device_id="d-1", api_key="app-1"),
            ),
        ),
    )
