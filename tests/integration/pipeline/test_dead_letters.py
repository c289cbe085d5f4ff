"""Bad input never stops the pipeline: it lands in the dead-letter topic, with its origin."""

from __future__ import annotations

import pytest

from consumer.avro import encode_intent
from consumer.model import OutcomeStatus
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush
from tests.integration.pipeline.harness import (
    Sims,
    azure_intent,
    produce_intents,
    produce_raw,
    read_outcomes,
    read_topic,
    responsys_intent,
    running,
    settings_for,
    with_topics,
)

pytestmark = pytest.mark.integration


def test_bad_messages_go_to_the_dead_letter_topic_and_good_ones_still_flow(
    kafka_bootstrap: str, sims: Sims
) -> None:
    settings = with_topics(settings_for(kafka_bootstrap, sims), partitions=1)
    good = [azure_intent(f"good-{i}", 1, [f"dev-{i}"]) for i in range(20)]
    good_bytes = encode_intent(good[0])
    protected = azure_intent("bad-protected", 1, ["d"])
    protected = protected.__class__(
        protected.intent_id,
        protected.account,
        protected.created_at,
        AzurePush(AzureKind.ANNOUNCEMENTS, 1, ("d",), {"pushMode": "x"}, '{"pushMode":"x"}'),
    )
    two_attributes = responsys_intent("bad-profile", "C", ["c1"])
    two_attributes = two_attributes.__class__(
        two_attributes.intent_id,
        two_attributes.account,
        two_attributes.created_at,
        ResponsysPush("C", (Recipient(ListType.PROFILE, customer_id="c", email_address="e@x"),)),
    )
    unknown_account = azure_intent("bad-account", 1, ["d"])
    unknown_account = unknown_account.__class__(
        "bad-account", "nobody", unknown_account.created_at, unknown_account.push
    )
    bad_values: list[bytes | None] = [
        b"\x00garbage that is not avro",
        b"\x00\x00\x00\x03\xe7" + good_bytes[10:],  # Confluent framing, schema id 999
        b"\xc3\x01" + b"\x11" * 8 + good_bytes[10:],  # single-object, unknown fingerprint
        good_bytes[:12],  # truncated
        None,  # a tombstone is not an intent
    ]
    produce_intents(kafka_bootstrap, settings.topics.intents, good[:10])
    produce_raw(kafka_bootstrap, settings.topics.intents, bad_values)
    produce_intents(kafka_bootstrap, settings.topics.intents, [protected, two_attributes])
    produce_intents(kafka_bootstrap, settings.topics.intents, [unknown_account, *good[10:]])

    with running(settings):
        dead = read_topic(kafka_bootstrap, settings.topics.dlq, 8)
        outcomes = read_outcomes(kafka_bootstrap, settings.topics.outcomes, 23)

    assert len(dead) == 8
    values = [value for _, value, _ in dead]
    assert values[:5] == bad_values, "dead letters keep the original bytes, in order"
    for key, _, headers in dead[:5]:
        assert key == b"raw"
        found = dict(headers)
        assert found["origin"] == b"test", "the original headers are kept"
        assert found["dlq.source.topic"] == settings.topics.intents.encode()
        assert found["dlq.source.partition"] == b"0"
        assert int(found["dlq.source.offset"]) >= 10
        assert found["dlq.error.message"]
    classes = [dict(h)["dlq.error.class"] for _, _, h in dead]
    assert classes[1] == b"UnknownSchemaError"
    assert classes[2] == b"UnknownSchemaError"
    assert classes[5:] == [b"ValidationError"] * 3
    reasons = {dict(h)["dlq.error.reason"] for _, _, h in dead[5:]}
    assert len(reasons) == 3, "each broken rule is named"
    for _, _, headers in dead:  # Kafka Connect's dead-letter headers, beside our own
        found = dict(headers)
        assert found["__connect.errors.topic"] == found["dlq.source.topic"]
        assert found["__connect.errors.partition"] == found["dlq.source.partition"]
        assert found["__connect.errors.offset"] == found["dlq.source.offset"]
        assert found["__connect.errors.exception.message"] == found["dlq.error.message"]
        class_name = found["__connect.errors.exception.class.name"].decode()
        assert class_name == f"consumer.errors.{found['dlq.error.class'].decode()}"
        stacktrace = found["__connect.errors.exception.stacktrace"].decode()
        assert stacktrace.startswith("Traceback (most recent call last):")
        assert stacktrace.splitlines()[-1].startswith(f"{class_name}: "), "ends where raised"

    by_id = {o.intent_id: o for o in outcomes}
    assert {f"good-{i}" for i in range(20)} <= set(by_id)
    assert all(by_id[f"good-{i}"].status is OutcomeStatus.ACCEPTED for i in range(20))
    for intent_id in ("bad-protected", "bad-profile", "bad-account"):
        assert by_id[intent_id].status is OutcomeStatus.INVALID
        assert by_id[intent_id].final
        assert by_id[intent_id].error_message
