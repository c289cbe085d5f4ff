"""The schema files: naming, docs, and the single-object fingerprint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastavro.schema import to_parsing_canonical_form

from consumer.avro import DEFAULT_SCHEMA_DIR, SchemaSet
from consumer.errors import ConfigError

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
FILES = sorted(DEFAULT_SCHEMA_DIR.glob("*.avsc")) + sorted(
    (DEFAULT_SCHEMA_DIR / "versions").glob("*.avsc")
)


def _crc64_avro(data: bytes) -> bytes:
    """CRC-64-AVRO as written in the Avro specification, little-endian bytes."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def _records(node: object) -> list[dict[str, object]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") == "record" else []
        for value in node.values():
            found += _records(value)
        return found
    if isinstance(node, list):
        return [record for item in node for record in _records(item)]
    return []


def test_every_current_schema_file_is_named_by_the_full_name_it_defines() -> None:
    for path in sorted(DEFAULT_SCHEMA_DIR.glob("*.avsc")):
        schema = json.loads(path.read_text())
        assert f"{schema['namespace']}.{schema['name']}.avsc" == path.name


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_record_and_field_has_a_doc_and_a_snake_case_field_name(path: Path) -> None:
    for record in _records(json.loads(path.read_text())):
        assert record.get("doc"), f"{record['name']} has no doc"
        for field in record["fields"]:  # type: ignore[attr-defined]
            assert field.get("doc"), f"{record['name']}.{field['name']} has no doc"
            assert SNAKE.match(field["name"]), field["name"]


def test_fingerprint_is_crc64_avro_of_the_parsing_canonical_form(schemas: SchemaSet) -> None:
    for schema in [*schemas.current.values(), *schemas.older["push.PushIntent"]]:
        canonical = to_parsing_canonical_form(schema.parsed)
        assert schema.fingerprint == _crc64_avro(canonical.encode())


def test_fingerprint_of_int_matches_the_avro_reference_value() -> None:
    # The Avro spec's reference fingerprint of "int" is 0x7275d51a3f395c8f.
    assert _crc64_avro(b'"int"') == (0x7275D51A3F395C8F).to_bytes(8, "little")


def test_missing_schema_directory_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"schema directory .*nowhere does not exist"):
        SchemaSet.load(tmp_path / "nowhere")


def test_schema_file_named_after_another_type_raises_config_error(tmp_path: Path) -> None:
    (tmp_path / "push.Wrong.avsc").write_text(
        '{"type": "record", "name": "Right", "namespace": "push", "fields": []}'
    )
    with pytest.raises(ConfigError, match=r"defines push.Right; name it push.Right.avsc"):
        SchemaSet.load(tmp_path)
