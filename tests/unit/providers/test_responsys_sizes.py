"""The batcher's byte estimate for Responsys recipients never undercounts the real body."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from consumer.providers.responsys.push import ListType, Recipient
from consumer.providers.responsys.wire import recipient_bytes, recipient_data, trigger_body


def dumps(value: object) -> str:
    """The wire's encoding: compact, every non-ASCII character escaped."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


texts = st.none() | st.text(max_size=40)


@given(
    customer=texts,
    email=texts,
    device=texts,
    api_key=texts,
    recipient_id=st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    optional=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=5),
)
def test_estimate_is_an_upper_bound_of_the_escaped_json(
    customer, email, device, api_key, recipient_id, optional
) -> None:
    recipient = Recipient(
        ListType.PROFILE,
        recipient_id=recipient_id,
        customer_id=customer,
        email_address=email,
        device_id=device,
        api_key=api_key,
        optional_data=tuple(optional),
    )
    actual = len(dumps(recipient_data(recipient))) + 1  # its JSON and a comma
    assert recipient_bytes(recipient) >= actual


def test_estimate_stays_close_for_a_plain_recipient() -> None:
    recipient = Recipient(ListType.PROFILE, customer_id="customer-0001")
    actual = len(dumps(recipient_data(recipient))) + 1
    assert actual <= recipient_bytes(recipient) <= actual + 60


@given(
    recipients=st.lists(
        st.builds(
            Recipient,
            list_type=st.sampled_from(ListType),
            recipient_id=st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
            customer_id=texts,
            email_address=texts,
            device_id=texts,
            api_key=texts,
            optional_data=st.lists(
                st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=3
            ).map(tuple),
        ),
        max_size=5,
    ),
    reference=st.text(max_size=20),
)
def test_trigger_body_is_byte_for_byte_the_escaped_compact_json(recipients, reference) -> None:
    body = trigger_body(recipients, reference)
    expected = {
        "recipientData": [recipient_data(recipient) for recipient in recipients],
        "referenceData": reference,
    }
    assert body == dumps(expected).encode("ascii")


def test_a_del_character_is_escaped_as_json_dumps_escapes_it() -> None:
    # orjson writes DEL (0x7f) raw; the body must stay byte-for-byte json.dumps' (found
    # by the property test above, now and then)
    recipient = Recipient(ListType.PROFILE, customer_id="a\x7fb")
    assert b"\\u007f" in trigger_body([recipient], "r")
