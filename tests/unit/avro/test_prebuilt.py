"""The bundled schemas' readers, made ahead of time: current, used, and exact."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, cast

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.avro import IntentDecoder, OutcomeDecoder, PendingDecoder, RecordDecoder
from consumer.avro.compiled import compile_reader, reader_key
from consumer.avro.prebuilt import READERS
from consumer.avro.schemas import INTENT
from push_tools.prebuilt_readers import DECODED, TARGET, module_text
from tests.unit.avro.test_compiled import schemas, values_of, written


def test_the_module_is_what_the_generator_writes_from_the_bundled_schemas() -> None:
    assert TARGET.read_text() == module_text(), (
        "consumer/avro/prebuilt.py is stale: run `.venv/bin/python -m push_tools.prebuilt_readers`"
    )


@pytest.mark.parametrize("decoder", [IntentDecoder, OutcomeDecoder, PendingDecoder])
def test_each_decoder_reads_its_current_schema_with_a_prebuilt_reader(
    decoder: Callable[[], RecordDecoder[Any]],
) -> None:
    plans = decoder()._plans
    current = plans[next(iter(plans))]
    assert current.compiled is not None
    assert current.compiled in READERS.values()


@pytest.mark.parametrize(("name", "named_unions"), list(DECODED.items()))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_prebuilt_readers_read_every_value_as_fastavro_does(
    name: str, named_unions: bool, data: st.DataObject
) -> None:
    schema = schemas().schema(name).compiled
    encoded = written(schema, data.draw(values_of(schema)))
    read = READERS[reader_key(schema, named_unions=named_unions)]
    expected = fastavro.schemaless_reader(
        io.BytesIO(encoded), schema, None, return_record_name=named_unions
    )
    assert read(encoded, 0) == (expected, len(encoded))


def test_a_schema_that_is_not_bundled_is_compiled_when_first_seen() -> None:
    bundled = schemas().schema(INTENT).compiled
    fields = [*bundled["fields"], {"name": "extra", "type": "long"}]
    changed = cast(dict[str, Any], fastavro.parse_schema({**bundled, "fields": fields}))
    read = compile_reader(changed, named_unions=True, prebuilt=READERS)
    assert read not in READERS.values()
    assert reader_key(changed, named_unions=True) not in READERS
    # the same schema read with the other union naming is another reader, too
    assert reader_key(bundled, named_unions=False) not in READERS
