"""The broker's own tunables (`BROKER_*`), beside the shared settings every service reads.

The defaults suit a home server; tests shorten the delays so the suite stays fast. None of them
changes what is traded, only how patiently the broker waits and how much it may hold.
"""

from __future__ import annotations

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from rebalancer_shared.errors import ConfigError
from rebalancer_shared.settings import EventsTransport, Settings

SEVEN_DAYS = 7 * 24 * 3600


class BrokerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BROKER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # Stream: reconnect delays double from the first to the max (with jitter), forever. For Ably
    # they apply to what the SDK does not retry itself (a refused key, a refused channel); the
    # max is also its retry interval while SUSPENDED.
    reconnect_min_seconds: float = Field(default=1.0, gt=0)
    reconnect_max_seconds: float = Field(default=30.0, gt=0)
    # Ably: the SDK's own retry interval after a disconnect (its default, 15 s) and the wire
    # format (msgpack, the SDK's default, or JSON when false).
    ably_retry_seconds: float = Field(default=15.0, gt=0)
    ably_binary_protocol: bool = True
    # Where the Socket.IO server listens under ZEHNLABS_EVENTS_URL's host (a path in that URL is
    # not used by Socket.IO clients; this is).
    socketio_path: str = "socket.io"
    # How long one connect attempt, and the subscribe acknowledgement, may take.
    connect_timeout_seconds: float = Field(default=10.0, gt=0)

    # Redis unreachable: events wait in memory (at most this many) and are retried with a delay
    # that doubles up to the max.
    max_held_events: int = Field(default=10_000, ge=1)
    redis_retry_max_seconds: float = Field(default=5.0, gt=0)
    # How long a stream message id is remembered as already enqueued.
    seen_ttl_seconds: int = Field(default=SEVEN_DAYS, ge=60)

    # Catch-up: allocations API requests, and retries of strategies whose check failed.
    allocations_timeout_seconds: float = Field(default=10.0, gt=0)
    catchup_retry_min_seconds: float = Field(default=5.0, gt=0)
    catchup_retry_max_seconds: float = Field(default=300.0, gt=0)

    heartbeat_seconds: float = Field(default=5.0, gt=0)
    # On SIGTERM: how long held events may take to reach Redis before the broker exits anyway.
    shutdown_flush_seconds: float = Field(default=10.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> BrokerSettings:
        for low, high in (
            ("reconnect_min_seconds", "reconnect_max_seconds"),
            ("catchup_retry_min_seconds", "catchup_retry_max_seconds"),
        ):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"BROKER_{low.upper()} is above BROKER_{high.upper()}")
        return self


def load_broker_settings() -> BrokerSettings:
    """The BROKER_* settings, or ConfigError naming each bad variable and its value."""
    try:
        return BrokerSettings()
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            if problem["loc"]:
                name = f"BROKER_{str(problem['loc'][0]).upper()}"
                lines.append(f"environment: {name}: {problem.get('input')!r}: {problem['msg']}")
            else:
                lines.append(f"environment: {problem['msg'].removeprefix('Value error, ')}")
        raise ConfigError("\n".join(lines)) from None


def check_required(settings: Settings) -> None:
    """What the broker needs beyond the shared checks (URL kinds are checked for every service
    in rebalancer_shared.settings): its required settings, named in one ConfigError, and a key
    of Ably's shape for the Ably transport."""
    ably = settings.zehnlabs_events_transport is EventsTransport.ABLY
    key = settings.rebalance_event_subscription_api_key.get_secret_value().strip()
    required = [
        # For Ably an empty URL means Ably's own service.
        *([] if ably else [("ZEHNLABS_EVENTS_URL", settings.zehnlabs_events_url)]),
        ("REBALANCE_EVENT_SUBSCRIPTION_API_KEY", key),
        ("ALLOCATIONS_API_URL", settings.allocations_api_url),
        ("ALLOCATIONS_API_KEY", settings.allocations_api_key.get_secret_value()),
    ]
    problems = [
        f"environment: {name}: is empty: the event broker needs it (see .env.example)"
        for name, value in required
        if not value.strip()
    ]
    if ably and key and not _looks_like_ably_key(key):
        # The value is a secret: described, never shown.
        problems.append(
            "environment: REBALANCE_EVENT_SUBSCRIPTION_API_KEY: is not an Ably API key "
            "(appId.keyId:secret) as ZEHNLABS_EVENTS_TRANSPORT=ably needs: paste the whole key "
            "Zehnlabs gave you, or set ZEHNLABS_EVENTS_TRANSPORT=socketio"
        )
    if problems:
        raise ConfigError("\n".join(problems))


def _looks_like_ably_key(key: str) -> bool:
    name, colon, secret = key.partition(":")
    return bool(colon and secret and "." in name and not any(c.isspace() for c in key))
