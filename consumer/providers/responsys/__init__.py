"""Oracle Responsys: "Trigger Push Message API (HA Async)" (200 recipients per call, polled).

push.py     the `push.ResponsysPush` branch of an intent, its records and its rules
account.py  `[accounts.<name>]` settings with `provider = "responsys"`
auth.py     the login session: token, endPoint, refresh
wire.py     calls and answers as pure functions: body (ASCII JSON), requests, verdicts
poll.py     a status poll answer as the provider-neutral `status.answers.PollAnswer`
client.py   `ResponsysClient`: triggers a planned call, polls request ids
"""

from consumer.providers.base import ProviderSpec
from consumer.providers.responsys import push
from consumer.providers.responsys.account import ResponsysAccount
from consumer.providers.responsys.client import ResponsysClient

PROVIDER = ProviderSpec(
    name=push.NAME,
    push_schema=push.SCHEMA,
    account_settings=ResponsysAccount,
    push_from_record=push.push_from_record,
    push_to_record=push.push_to_record,
    validate=push.validate,
    build_client=ResponsysClient,
)

__all__ = ["PROVIDER", "ResponsysAccount", "ResponsysClient"]
