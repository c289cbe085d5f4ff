"""`PushIntent` <-> the Avro record dict of `push.PushIntent`."""

from __future__ import annotations

from typing import Any

from consumer.avro.data_override import canonical_data_json, parse_data_override
from consumer.model import AzureKind, AzurePush, ListType, PushIntent, Recipient, ResponsysPush

AZURE_PUSH = "push.AzurePush"
RESPONSYS_PUSH = "push.ResponsysPush"

_KINDS = {kind.value: kind for kind in AzureKind}
_LIST_TYPES = {list_type.value: list_type for list_type in ListType}


def intent_from_record(record: dict[str, Any]) -> PushIntent:
    """Build the model from a record read with the current reader schema.

    Raises ValueError (bad `data` JSON) or KeyError/TypeError on a malformed record.
    """
    push_record = record["push"]
    push: AzurePush | ResponsysPush
    if "campaign_name" in push_record:
        push = ResponsysPush(
            campaign_name=push_record["campaign_name"],
            recipients=tuple(_recipient(item) for item in push_record["recipients"]),
        )
    else:
        data_text = push_record["data"]
        data, data_json = (None, None) if data_text is None else parse_data_override(data_text)
        push = AzurePush(
            kind=_KINDS[push_record["kind"]],
            campaign_id=push_record["campaign_id"],
            device_ids=tuple(push_record["device_ids"]),
            data=data,
            data_json=data_json,
        )
    return PushIntent(
        intent_id=record["intent_id"],
        account=record["account"],
        created_at=record["created_at"],
        push=push,
        expires_at=record["expires_at"],
        correlation_id=record["correlation_id"],
    )


def _recipient(item: dict[str, Any]) -> Recipient:
    optional = item["optional_data"]
    return Recipient(
        list_type=_LIST_TYPES[item["list_type"]],
        recipient_id=item["recipient_id"],
        customer_id=item["customer_id"],
        email_address=item["email_address"],
        mobile_number=item["mobile_number"],
        email_sha256_hash=item["email_sha256_hash"],
        email_md5_hash=item["email_md5_hash"],
        device_id=item["device_id"],
        api_key=item["api_key"],
        optional_data=tuple((pair["name"], pair["value"]) for pair in optional) if optional else (),
    )


def intent_to_record(intent: PushIntent) -> dict[str, Any]:
    """The record to write; the union branch is named so the writer never guesses."""
    push = intent.push
    branch: tuple[str, dict[str, Any]]
    if isinstance(push, AzurePush):
        data_json = push.data_json
        if data_json is None and push.data is not None:
            data_json = canonical_data_json(push.data)
        branch = (
            AZURE_PUSH,
            {
                "kind": push.kind.value,
                "campaign_id": push.campaign_id,
                "device_ids": list(push.device_ids),
                "data": data_json,
            },
        )
    else:
        branch = (
            RESPONSYS_PUSH,
            {
                "campaign_name": push.campaign_name,
                "recipients": [_recipient_record(item) for item in push.recipients],
            },
        )
    return {
        "intent_id": intent.intent_id,
        "account": intent.account,
        "created_at": intent.created_at,
        "push": branch,
        "expires_at": intent.expires_at,
        "correlation_id": intent.correlation_id,
    }


def _recipient_record(recipient: Recipient) -> dict[str, Any]:
    return {
        "list_type": recipient.list_type.value,
        "recipient_id": recipient.recipient_id,
        "customer_id": recipient.customer_id,
        "email_address": recipient.email_address,
        "mobile_number": recipient.mobile_number,
        "email_sha256_hash": recipient.email_sha256_hash,
        "email_md5_hash": recipient.email_md5_hash,
        "device_id": recipient.device_id,
        "api_key": recipient.api_key,
        "optional_data": [
            {"name": name, "value": value} for name, value in recipient.optional_data
        ],
    }
