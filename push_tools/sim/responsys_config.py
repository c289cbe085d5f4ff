"""Settings of the Oracle Responsys simulator (frozen, validated)."""

from __future__ import annotations

from dataclasses import dataclass, field

from consumer.errors import ConfigError
from push_tools.sim.faults import Faults


@dataclass(frozen=True, slots=True)
class ResponsysSimConfig:
    """How the Responsys simulator behaves. Times are simulated seconds (see SimClock)."""

    user_name: str = "sim-user"
    password: str = field(default="sim-password", repr=False)
    token_ttl_s: float = 7200.0
    endpoint: str | None = None  # `endPoint` handed out at login; None = this server's URL
    # Serve the API (push, poll, rate limits) only under this path, and hand it out in
    # `endPoint`: a client that calls the login host instead of `endPoint` gets 404, as it
    # would from a real pod. Login and refresh answer at both. "" = everything at the root.
    api_prefix: str = ""
    processing_s: float = 1.0  # a request answers PROCESSING_REQUEST this long, then SUCCESS
    never_finish: bool = False  # processing forever (until purged): for deadline tests
    message_expiration_s: int = 3600  # default when the Message-Expiration header is absent
    retention_s: float = 86_400.0  # RESPONSE_PURGED this long after submission
    poll_status: int = 200  # HTTP status of poll answers (the docs disagree: 200 or 202)
    # HTTP status of a throttled poll's API_LIMIT_EXCEEDED: the FAQ lists the code under 401,
    # the polling page says its errors are 200 unless noted. A client must read the code.
    poll_throttle_status: int = 401
    max_recipients: int = 200
    # The gateway drops a larger body: the connection closes with no HTTP answer (0 = off).
    # "10 MB" read as the smaller 10,000,000 bytes [INFERRED], the reading the client uses too.
    drop_body_over_bytes: int = 10_000_000
    # Opt-in: the push campaigns that exist. None = any name (demo, bench and tests use
    # arbitrary names); a set: a trigger for another name is accepted, then polls
    # CAMPAIGN_IS_INVALID.
    campaigns: frozenset[str] | None = None
    unknown_prefixes: tuple[str, ...] = ("norecipient",)  # unidentifiable: recipientId -1
    nodevice_prefixes: tuple[str, ...] = ("nodevice",)  # known, but no device registered
    unknown_recipient_ids: frozenset[int] = frozenset()
    login_per_min: int = 1000  # per-minute throttles; 0 = unlimited
    trigger_per_min: int = 6000
    poll_per_min: int = 30000
    time_zone: str = "India Standard Time"
    utc_offset_min: int = 330
    faults: Faults = field(default_factory=Faults)
    clock_speed: float = 1.0
    start_epoch_s: float | None = None
    ledger_records: int = 1000
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("token_ttl_s", "message_expiration_s", "retention_s", "clock_speed"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.processing_s < 0:
            raise ConfigError(f"processing_s must be >= 0, got {self.processing_s}")
        if self.poll_status not in (200, 202):
            raise ConfigError(f"poll_status must be 200 or 202, got {self.poll_status}")
        if self.api_prefix and (
            not self.api_prefix.startswith("/") or self.api_prefix.endswith("/")
        ):
            raise ConfigError(
                f"api_prefix must be empty or start with / and not end with one,"
                f" got {self.api_prefix!r}"
            )
        if self.poll_throttle_status not in (200, 401):
            raise ConfigError(
                f"poll_throttle_status must be 200 or 401, got {self.poll_throttle_status}"
            )
        if not 1 <= self.max_recipients <= 200:
            raise ConfigError(f"max_recipients must be within 1..200, got {self.max_recipients}")
        for name in (
            "login_per_min",
            "trigger_per_min",
            "poll_per_min",
            "ledger_records",
            "drop_body_over_bytes",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.user_name or not self.password:
            raise ConfigError("user_name and password must not be empty")
        if not -720 <= self.utc_offset_min <= 840:
            raise ConfigError(f"utc_offset_min must be within -720..840, got {self.utc_offset_min}")
