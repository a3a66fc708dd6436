"""Settings from the environment (or `.env`): one set of names configures every service.

Every variable is documented in `.env.example`. Invalid values stop the service at start with a
message naming the variable and the value (a secret's value is never shown); a money-relevant
value is never silently replaced. `Settings(...)` itself only checks each value's kind;
`load_settings` also checks the URLs and the variables a service requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rebalancer_shared.errors import ConfigError, ConfigProblems


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
    # May carry Redis's password (redis://:PASSWORD@HOST:6379/0): kept out of repr, and handed
    # to the log redactor by secrets().
    redis_url: str = Field(default="redis://localhost:6379/0", repr=False)
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
        """Every configured secret value, for the log redactor (Redis's password in REDIS_URL
        too)."""
        values = [
            self.ib_password,
            self.rebalance_event_subscription_api_key,
            self.allocations_api_key,
            self.management_api_token,
            self.vnc_password,
            *self.notify_urls,
        ]
        found = [secret.get_secret_value() for secret in values if secret.get_secret_value()]
        redis_password = urlsplit(self.redis_url).password
        if redis_password:
            found.append(unquote(redis_password))  # the redactor also hides its URL-encoded form
        return found


def load_settings(
    *, required: Sequence[str] = (), needed_by: str = "this service", **overrides: object
) -> Settings:
    """Settings from the environment, or one ConfigError naming each bad variable (see
    `check_settings`)."""
    problems = ConfigProblems()
    settings = check_settings(problems, required=required, needed_by=needed_by, **overrides)
    problems.raise_if_any()
    return settings


def check_settings(
    problems: ConfigProblems,
    *,
    required: Sequence[str] = (),
    needed_by: str = "this service",
    **overrides: object,
) -> Settings:
    """The settings from the environment, each of their problems added to `problems`: a value
    that is not of its kind, a URL of the wrong kind, a `required` variable (like
    `ALLOCATIONS_API_KEY`) left empty. Each line names the variable; a secret is never shown.

    A refused variable holds its default in what is returned, so that the rest (the files the
    settings name, the notification URLs) can still be checked in the same run: use it for that
    only, and raise the problems before running anything. A `.env` that cannot be read raises
    ConfigError at once: nothing else can be judged without it.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        refused: set[str] = set()
    except UnicodeDecodeError as error:
        # Nothing else can be judged without the file; its bytes may be a secret's: not shown.
        raise ConfigError(
            f".env: is not UTF-8 text (at byte {error.start}): save it as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f".env: cannot be read: {error.strerror}") from None
    except ValidationError as error:
        problems.add(*_describe(error))
        fields = Settings.model_fields
        refused = {str(p["loc"][0]) for p in error.errors() if p["loc"]} & set(fields)
        defaults = {name: fields[name].get_default() for name in refused}
        settings = Settings(**{**overrides, **defaults})
    problems.add(*_url_problems(settings, refused))
    for name in required:
        if name.lower() in refused:
            continue  # already named above
        value = getattr(settings, name.lower())
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        if not text.strip():
            problems.add(f"environment: {name}: is empty: {needed_by} needs it (see .env.example)")
    return settings


def _describe(error: ValidationError) -> list[str]:
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]).upper() if problem["loc"] else "?"
        shown = "<hidden>" if _is_secret(name) else repr(problem.get("input"))
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"environment: {name}: {shown}: {message}")
    return lines


def _is_secret(name: str) -> bool:
    return any(word in name for word in ("PASSWORD", "KEY", "TOKEN", "NOTIFY_URLS", "REDIS_URL"))


# --- URLs ---------------------------------------------------------------------------------------

REDIS_URL_FORMS = "redis://HOST:6379/0, rediss://HOST:6379/0 (TLS) or unix:///path/to/redis.sock"


def _url_problems(settings: Settings, refused: set[str]) -> list[str]:
    """Each URL setting of the wrong kind. An empty Zehnlabs URL is left to the services that
    need it (`required`); REDIS_URL is needed by every service."""
    ably = settings.zehnlabs_events_transport is EventsTransport.ABLY
    checks: list[tuple[str, str, tuple[str, ...]]] = [
        ("ALLOCATIONS_API_URL", settings.allocations_api_url, ("http", "https"))
    ]
    if "zehnlabs_events_transport" not in refused:  # which schemes fit depends on it
        events_schemes = ("ws", "wss") if ably else ("http", "https", "ws", "wss")
        checks.insert(0, ("ZEHNLABS_EVENTS_URL", settings.zehnlabs_events_url, events_schemes))
    lines = []
    for name, value, schemes in checks:
        if value.strip() and not _is_url(value.strip(), schemes):
            # Worded as the event broker's own check words it (event_broker.settings).
            meaning = (
                " (for ZEHNLABS_EVENTS_TRANSPORT=ably: empty for Ably's own service)"
                if ably and name == "ZEHNLABS_EVENTS_URL"
                else ""
            )
            lines.append(
                f"environment: {name}: {value!r} is not a URL starting with "
                + " or ".join(f"{scheme}://" for scheme in schemes)
                + meaning
            )
    redis = _redis_url_problem(settings.redis_url.strip())
    if redis:
        lines.append(f"environment: REDIS_URL: {redis}")
    return lines


def _is_url(value: str, schemes: Sequence[str]) -> bool:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parts.scheme in schemes and bool(parts.hostname)


def _redis_url_problem(url: str) -> str | None:
    """What is wrong with REDIS_URL, told without showing it: it may hold Redis's password."""
    if not url:
        return "is empty (like redis://HOST:6379/0)"
    parts = urlsplit(url)
    scheme = parts.scheme if "://" in url else ""  # `localhost:6379` has none, not `localhost`
    if scheme not in ("redis", "rediss", "unix"):
        kind = f"a URL starting with {scheme}://" if scheme else "a URL without a scheme"
        return f"{kind} is not a Redis URL: write {REDIS_URL_FORMS}"
    if scheme == "unix":
        if not parts.path:
            return "unix:// needs the socket's path (like unix:///path/to/redis.sock)"
        return None
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "the port after the host is not a number (like redis://HOST:6379/0)"
    if not parts.hostname:
        return "has no host (like redis://HOST:6379/0)"
    database = parts.path.strip("/")
    if database and not database.isdigit():
        return "the database after the host is not a number (like redis://HOST:6379/0)"
    return None
