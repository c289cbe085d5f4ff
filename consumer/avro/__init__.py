"""Avro boundary: schema loading, both wire framings, decoding and encoding.

Only this package imports fastavro and the Schema Registry client. Records are read by a
reader compiled from their writer schema (`compiled`), outcomes written a run of shared
fields at a time (`repeating`); fastavro reads and writes everything those leave to it.

    decoder = IntentDecoder(SchemaSet.load(), registry=None)
    intent = decoder.decode(message_value)      # DecodeError / UnknownSchemaError
    payload = OutcomeEncoder().encode(outcome)  # single-object; Confluent with a registry
"""

from consumer.avro.decoding import IntentDecoder, OutcomeDecoder, PendingDecoder, RecordDecoder
from consumer.avro.encoding import (
    EncodeError,
    Encoder,
    IntentEncoder,
    OutcomeEncoder,
    PendingEncoder,
    RecordEncoder,
    encode_intent,
)
from consumer.avro.framing import Framing, framing_of
from consumer.avro.registry import SchemaRegistry
from consumer.avro.schemas import DEFAULT_SCHEMA_DIR, AvroSchema, SchemaSet

__all__ = [
    "DEFAULT_SCHEMA_DIR",
    "AvroSchema",
    "EncodeError",
    "Encoder",
    "Framing",
    "IntentDecoder",
    "IntentEncoder",
    "OutcomeDecoder",
    "OutcomeEncoder",
    "PendingDecoder",
    "PendingEncoder",
    "RecordDecoder",
    "RecordEncoder",
    "SchemaRegistry",
    "SchemaSet",
    "encode_intent",
    "framing_of",
]
