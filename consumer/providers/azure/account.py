"""`[accounts.<name>]` with `provider = "azure"`: one Azure Mobile Engagement app."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from consumer.providers.accounts import AccountSettings, http_url, non_blank, secret
from consumer.providers.azure.auth import AzureClientCredentials, StaticToken

MAX_TARGETS = 1000  # device ids per push call (seed)
MAX_BODY_BYTES = 4 * 1024 * 1024  # ARM's request size cap; the seed states no number


class AzureAccount(AccountSettings):
    """ARM coordinates of the app, how to get a token, and the call limits."""

    provider: Literal["azure"] = "azure"
    base_url: str = "https://management.azure.com"  # or a simulator
    subscription_id: str
    resource_group: str
    app_collection: str
    app_name: str  # the app's resource name, not its display name
    static_token: SecretStr | None = None
    token_url: str = "https://login.microsoftonline.com"  # noqa: S105 - a URL, not a secret
    tenant: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    token_refresh_margin_s: float = Field(default=300.0, ge=0)
    max_targets: int = Field(default=MAX_TARGETS, gt=0, le=MAX_TARGETS)
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, gt=0, le=MAX_BODY_BYTES)

    _urls = field_validator("base_url", "token_url")(http_url)
    _texts = field_validator("subscription_id", "resource_group", "app_collection", "app_name")(
        non_blank
    )

    @field_validator("static_token", "client_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else secret(value)

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> AzureAccount:
        credentials = (self.tenant, self.client_id, self.client_secret)
        if self.static_token is None and not all(credentials):
            raise ValueError(
                "needs either static_token or all of tenant, client_id and client_secret"
            )
        return self

    def credentials(self) -> AzureClientCredentials | StaticToken:
        """How this account gets its bearer token."""
        if self.static_token is not None:
            return StaticToken(self.static_token)
        return AzureClientCredentials(
            self.token_url,
            self.tenant or "",  # all three were checked by the validator above
            self.client_id or "",
            self.client_secret or SecretStr(""),
            refresh_margin_s=self.token_refresh_margin_s,
        )
