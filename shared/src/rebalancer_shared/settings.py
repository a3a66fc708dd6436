"""Settings from the environment (or `.env`): one set of names configures every service.

Every variable is documented in `.env.example`. Invalid values stop the service at start with a
message naming the variable and the value; a money-relevant value is never silently replaced.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rebalancer_shared.errors import ConfigError


class TradingMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


class EventsTransport(StrEnum):
    """How the broker receives Zehnlabs events (SPEC section 4)."""

    ABLY = "ably"  # what Zehnlabs serves
    SOCKETIO = "socketio"  # our own contract, also served by the simulator


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # IB Gateway login (used by the gateway container, never logged)
    ib_username: str = ""
    ib_password: SecretStr = SecretStr("")
    trading_mode: TradingMode = TradingMode.PAPER
    ib_host: str = "127.0.0.1"
    ib_port: int = Field(default=4002, ge=1, le=65535)

    # Zehnlabs
    zehnlabs_events_transport: EventsTransport = EventsTransport.ABLY
    zehnlabs_events_url: str = ""
    rebalance_event_subscription_api_key: SecretStr = SecretStr("")
    allocations_api_url: str = ""
    allocations_api_key: SecretStr = SecretStr("")

    # Trading
    time_in_force: TimeInForce = TimeInForce.DAY
    extended_hours_enabled: bool = False
    observe_only: bool = False
    buy_slippage_percent: float = Field(default=0.5, ge=0, le=5)
    min_trade_value: float = Field(default=0.0, ge=0)
    min_drift_percent: float = Field(default=0.0, ge=0, le=100)
    order_timeout_seconds: float = Field(default=60.0, gt=0)

    # Queue and processing
    redis_url: str = "redis://localhost:6379/0"
    retry_delay_seconds: float = Field(default=60.0, gt=0)
    max_concurrent_events: int = Field(default=4, ge=1, le=64)
    consumer_heartbeat_seconds: float = Field(default=2.0, gt=0)
    consumer_dead_after_seconds: float = Field(default=15.0, gt=0)
    # On SIGTERM, running events may finish for this long; the rest are handed back.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # Notify when IB Gateway has been unreachable for this many minutes.
    gateway_alert_minutes: float = Field(default=10.0, gt=0)

    # Files
    accounts_file: Path = Path("accounts.yaml")
    replacement_sets_file: Path = Path("replacement-sets.yaml")

    # Management service
    management_host: str = "127.0.0.1"
    management_port: int = Field(default=8000, ge=1, le=65535)
    management_api_token: SecretStr = SecretStr("")
    # Host names the API answers besides localhost, 127.0.0.1, [::1] and management-service,
    # comma-separated (read by management_service.security, which refuses a malformed one).
    management_allowed_hosts: str = ""

    # Operations
    log_level: str = "INFO"
    notify_urls: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    vnc_password: SecretStr = SecretStr("")
    auto_restart_time: str = ""

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("notify_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        # Apprise URLs separated by commas, spaces or newlines, as apprise itself accepts them.
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split() if part)
        return value

    def secrets(self) -> list[str]:
        """Every configured secret value, for the log redactor."""
        values = [
            self.ib_password,
            self.rebalance_event_subscription_api_key,
            self.allocations_api_key,
            self.management_api_token,
            self.vnc_password,
            *self.notify_urls,
        ]
        return [secret.get_secret_value() for secret in values if secret.get_secret_value()]


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, or ConfigError naming each bad variable and its value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            name = str(problem["loc"][0]).upper() if problem["loc"] else "?"
            shown = "<hidden>" if _is_secret(name) else repr(problem.get("input"))
            lines.append(f"environment: {name}: {shown}: {problem['msg']}")
        raise ConfigError("\n".join(lines)) from None


def _is_secret(name: str) -> bool:
    return any(word in name for word in ("PASSWORD", "KEY", "TOKEN", "NOTIFY_URLS"))
