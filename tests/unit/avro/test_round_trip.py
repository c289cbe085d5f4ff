"""Every schema round-trips in both framings; older writers still decode."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import fastavro
import pytest

from consumer.avro import (
    Framing,
    IntentDecoder,
    IntentEncoder,
    OutcomeDecoder,
    OutcomeEncoder,
    PendingDecoder,
    PendingEncoder,
    SchemaRegistry,
    SchemaSet,
    encode_intent,
    framing_of,
)
from consumer.errors import UnknownSchemaError
from consumer.model import (
    AsyncPending,
    OutcomeStatus,
    PendingIntent,
    PushIntent,
    PushOutcome,
    RejectedTarget,
)
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.responsys.push import ResponsysPush

OUTCOME = PushOutcome(
    intent_id="rs-1",
    correlation_id="corr-1",
    account="responsys-main",
    provider="responsys",
    campaign="Summer_Push",
    status=OutcomeStatus.PARTIAL,
    final=True,
    created_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    completed_at=datetime(2024, 5, 1, 12, 0, 3, 250000, tzinfo=UTC),
    rejected_targets=(RejectedTarget("customer_id:42", "RECIPIENT_NOT_FOUND"), RejectedTarget("x")),
    request_id="YjN1aWowOjoxNjQzOTUyMjI0",
    async_status="SUCCESS",
    http_status=200,
    error_code=None,
    error_message=None,
    attempts=2,
    provider_calls=1,
    dispatched_at=datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC),
)
MINIMAL_OUTCOME = PushOutcome(
    intent_id="i",
    account="a",
    provider="azure",
    campaign="polls/1",
    status=OutcomeStatus.INVALID,
    final=True,
    created_at=None,
    completed_at=datetime(2024, 1, 1, tzinfo=UTC),
)
PENDING = AsyncPending(
    request_id="WGlJSWhsOjoxNTIxMzU5OTI1",
    account="responsys-main",
    campaign="Summer_Push",
    batch_ref="batch-7",
    submitted_at=datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC),
    next_poll_at=datetime(2024, 5, 1, 12, 0, 6, tzinfo=UTC),
    deadline_at=datetime(2024, 5, 2, 11, 0, 1, tzinfo=UTC),
    poll_attempts=3,
    intents=(
        PendingIntent(
            intent_id="rs-1",
            correlation_id="corr-1",
            created_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
            dispatched_at=datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC),
            attempts=1,
            recipient_keys=("recipient_id:131006807", "device_id:d-1"),
        ),
        PendingIntent(
            intent_id="rs-2",
            created_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
            dispatched_at=datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC),
            attempts=2,
            provider_calls=1,
            recipient_keys=("customer_id:7",),
        ),
    ),
)


def _same_intent(decoded: PushIntent, expected: PushIntent) -> None:
    if isinstance(expected.push, AzurePush):
        assert isinstance(decoded.push, AzurePush)
        assert dict(decoded.push.data or {}) == dict(expected.push.data or {})
        assert decoded.push.data_json == expected.push.data_json
        # data is compared above; the rest must be equal field by field
        expected_push = AzurePush(
            expected.push.kind, expected.push.campaign_id, expected.push.device_ids
        )
        decoded_push = AzurePush(
            decoded.push.kind, decoded.push.campaign_id, decoded.push.device_ids
        )
        assert decoded_push == expected_push
        assert decoded.intent_id == expected.intent_id
        assert decoded.created_at == expected.created_at
        assert decoded.expires_at == expected.expires_at
        assert decoded.correlation_id == expected.correlation_id
        assert decoded.account == expected.account
    else:
        assert decoded == expected


def test_azure_intent_round_trips_in_single_object_encoding(azure_intent: PushIntent) -> None:
    value = encode_intent(azure_intent)
    assert framing_of(value) is Framing.SINGLE_OBJECT
    _same_intent(IntentDecoder().decode(value), azure_intent)


def test_responsys_intent_round_trips_in_single_object_encoding(
    responsys_intent: PushIntent,
) -> None:
    assert IntentDecoder().decode(encode_intent(responsys_intent)) == responsys_intent


def test_azure_data_given_without_canonical_json_is_written_canonically() -> None:
    intent = PushIntent(
        intent_id="x",
        account="a",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        push=AzurePush(AzureKind.POLLS, 1, ("d",), data={"b": 1, "a": 2}),
    )
    decoded = IntentDecoder().decode(encode_intent(intent))
    assert isinstance(decoded.push, AzurePush)
    assert decoded.push.data_json == '{"a":2,"b":1}'


def test_intent_round_trips_in_confluent_framing_with_a_registry(
    schemas: SchemaSet, azure_intent: PushIntent, responsys_intent: PushIntent
) -> None:
    registry = SchemaRegistry("mock://round-trip")
    encoder = IntentEncoder(schemas, registry, subject="push.intents-value")
    decoder = IntentDecoder(schemas, registry)
    for intent in (azure_intent, responsys_intent):
        value = encoder.encode(intent)
        assert framing_of(value) is Framing.CONFLUENT
        _same_intent(decoder.decode(value), intent)


def test_confluent_framing_decodes_a_schema_registered_by_someone_else(
    schemas: SchemaSet, responsys_intent: PushIntent
) -> None:
    registry = SchemaRegistry("mock://foreign")
    registry.register("other-subject", schemas.schema("push.OutcomeStatus").text)
    schema_id = registry.register("push.intents-value", schemas.schema("push.PushIntent").text)
    decoder = IntentDecoder(schemas, registry)
    body = encode_intent(responsys_intent)[10:]
    value = b"\x00" + schema_id.to_bytes(4, "big") + body
    assert decoder.decode(value) == responsys_intent
    assert decoder.decode(value) == responsys_intent  # second time from the cached plan


def test_outcome_round_trips_in_both_framings(schemas: SchemaSet) -> None:
    registry = SchemaRegistry("mock://outcomes")
    for encoder, decoder in (
        (OutcomeEncoder(schemas), OutcomeDecoder(schemas)),
        (OutcomeEncoder(schemas, registry), OutcomeDecoder(schemas, registry)),
    ):
        assert decoder.decode(encoder.encode(OUTCOME)) == OUTCOME
        assert decoder.decode(encoder.encode(MINIMAL_OUTCOME)) == MINIMAL_OUTCOME


def test_pending_record_round_trips_in_both_framings(schemas: SchemaSet) -> None:
    registry = SchemaRegistry("mock://pending")
    for encoder, decoder in (
        (PendingEncoder(schemas), PendingDecoder(schemas)),
        (PendingEncoder(schemas, registry), PendingDecoder(schemas, registry)),
    ):
        assert decoder.decode(encoder.encode(PENDING)) == PENDING


def test_intent_written_with_the_v1_schema_decodes_with_defaults(schemas: SchemaSet) -> None:
    (v1,) = schemas.older["push.PushIntent"]
    record = {
        "intent_id": "old-1",
        "account": "azure-main",
        "created_at": datetime(2023, 1, 1, tzinfo=UTC),
        "push": ("push.AzurePush", {"kind": "polls", "campaign_id": 5, "device_ids": ["d1"]}),
    }
    stream = io.BytesIO()
    fastavro.schemaless_writer(stream, v1.parsed, record)
    value = b"\xc3\x01" + v1.fingerprint + stream.getvalue()

    decoded = IntentDecoder(schemas).decode(value)

    assert decoded == PushIntent(
        intent_id="old-1",
        account="azure-main",
        created_at=datetime(2023, 1, 1, tzinfo=UTC),
        push=AzurePush(AzureKind.POLLS, 5, ("d1",)),
        expires_at=None,
        correlation_id=None,
    )


def test_responsys_intent_written_with_v1_in_confluent_framing_decodes(
    schemas: SchemaSet,
) -> None:
    (v1,) = schemas.older["push.PushIntent"]
    registry = SchemaRegistry("mock://v1")
    schema_id = registry.register("push.intents-value", v1.text)
    record = {
        "intent_id": "old-2",
        "account": "rs",
        "created_at": datetime(2023, 1, 1, tzinfo=UTC),
        "push": (
            "push.ResponsysPush",
            {
                "campaign_name": "C",
                "recipients": [{"list_type": "PUSH", "device_id": "d", "api_key": "k"}],
            },
        ),
    }
    stream = io.BytesIO()
    fastavro.schemaless_writer(stream, v1.parsed, record)
    value = b"\x00" + schema_id.to_bytes(4, "big") + stream.getvalue()

    decoded = IntentDecoder(schemas, registry).decode(value)

    assert isinstance(decoded.push, ResponsysPush)
    assert decoded.push.recipients[0].device_id == "d"
    assert decoded.correlation_id is None


def test_decode_many_keeps_order_and_puts_errors_in_place(
    azure_intent: PushIntent, responsys_intent: PushIntent
) -> None:
    decoder = IntentDecoder()
    results = decoder.decode_many(
        [
            encode_intent(responsys_intent),
            b"\xc3\x01" + b"\x00" * 8,
            encode_intent(responsys_intent),
        ]
    )
    assert results[0] == responsys_intent
    assert isinstance(results[1], UnknownSchemaError)
    assert results[2] == responsys_intent


def test_outcome_bytes_are_not_accepted_as_an_intent() -> None:
    with pytest.raises(UnknownSchemaError, match=r"unknown push\.PushIntent schema fingerprint"):
        IntentDecoder().decode(OutcomeEncoder().encode(OUTCOME))
