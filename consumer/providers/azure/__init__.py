"""Azure Mobile Engagement: "Push campaign" (synchronous, 1000 devices per call).

push.py     the `push.AzurePush` branch of an intent, its records and its rules
data.py     the `data` content override (JSON text in Avro)
account.py  `[accounts.<name>]` settings with `provider = "azure"`
auth.py     Azure AD tokens (client credentials, or static)
wire.py     calls and answers as pure functions: body, URL, 413 split, verdicts
client.py   `AzureClient`: sends a planned call, folds the answer per part
"""

from consumer.providers.azure import push
from consumer.providers.azure.account import AzureAccount
from consumer.providers.azure.client import AzureClient
from consumer.providers.base import ProviderSpec

PROVIDER = ProviderSpec(
    name=push.NAME,
    push_schema=push.SCHEMA,
    account_settings=AzureAccount,
    push_from_record=push.push_from_record,
    push_to_record=push.push_to_record,
    validate=push.validate,
    build_client=AzureClient,
)

__all__ = ["PROVIDER", "AzureAccount", "AzureClient"]
