"""Pydantic models of every request and response of the management API.

Field names of the original project's API are kept (`exec_command`, `times_queued`,
`retry_events_count`, `created_at`, `retry_after`, `execution_time`, `data`, ...); what is new
sits beside them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rebalancer_shared.events import (
    ACCOUNT_ID_PATTERN,
    AccountSettings,
    Command,
    Event,
    EventStatus,
    parse_command,
)
from rebalancer_shared.queue import EventListType

LIST_LIMIT_DEFAULT = 100
LIST_LIMIT_MAX = 1000
HISTORY_LIMIT_DEFAULT = 50
STRATEGY_NAME_MAX_LENGTH = 100

ACCOUNT_ID_JSON_PATTERN = r"^[A-Z]{1,4}[0-9]{1,12}$"
"""The shape of ACCOUNT_ID_PATTERN, for the OpenAPI schema (clients and fuzzers read it)."""


def check_account_id(value: str) -> str:
    """The account id unchanged, or ValueError saying what an IB account id looks like."""
    # fullmatch: `$` alone would accept a trailing newline.
    if not ACCOUNT_ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"account id {value!r} is not an IB account id (like U1234567 or DU1234567)"
        )
    return value


class ErrorResponse(BaseModel):
    """401, 404, 409 and 503 answers: what went wrong and what to do."""

    detail: str


# --- health -------------------------------------------------------------------------------------


class ServiceStatus(BaseModel):
    """One service's last heartbeat."""

    name: str = Field(examples=["event-processor:proc-1"])
    last_seen_at: datetime
    age_seconds: float
    stale: bool = Field(
        description="No heartbeat for 3 of the service's own heartbeat intervals (a processor: "
        "or for CONSUMER_DEAD_AFTER_SECONDS, after which its events are recovered)."
    )
    facts: dict[str, Any] = Field(
        description="What the service reports (gateway_connected, stream_connected, ...)."
    )


class HealthStatus(BaseModel):
    """`GET /health`: the original project's four fields, then services and the pause state."""

    status: Literal["healthy", "unhealthy", "error"]
    healthy: bool
    retry_events_count: int
    message: str
    delayed_events_count: int | None = None
    paused: bool | None = None
    paused_by: str | None = None
    paused_at: str | None = None
    gateway_connected: bool | None = Field(
        default=None,
        description="True when a live event-processor reports a gateway connection; "
        "null when no processor has reported yet.",
    )
    services: list[ServiceStatus] = Field(default_factory=list)


# --- queue --------------------------------------------------------------------------------------


class QueueStatus(BaseModel):
    queue_length: int = Field(description="Events ready to run (including parked ones).")
    active_events_count: int = Field(description="Every event queued, in flight or waiting.")
    retry_events_count: int
    delayed_events_count: int
    processing_count: int
    oldest_event_age_seconds: float | None = None


class EventListQueryType(StrEnum):
    """`type` of `GET /queue/events`; `all` (the default) lists every kind."""

    ALL = "all"
    ACTIVE = EventListType.ACTIVE.value
    RETRY = EventListType.RETRY.value
    DELAYED = EventListType.DELAYED.value
    PROCESSING = EventListType.PROCESSING.value


class QueueEvent(BaseModel):
    """One event as the queue holds it now."""

    event_id: str
    account_id: str
    exec_command: str = Field(description="The command (the original project's name).")
    exec: str = Field(description="The command (the event model's name).")
    strategy_name: str | None
    source: str
    type: EventListType = Field(description="The list it is in: active, retry, delayed, ...")
    status: EventStatus
    times_queued: int
    last_error: str | None
    received_at: datetime
    created_at: datetime = Field(description="Same as received_at (the original's name).")
    not_before: datetime | None = Field(description="When a waiting event becomes ready.")
    retry_after: datetime | None = Field(description="not_before of a retry event.")
    execution_time: datetime | None = Field(description="not_before of a delayed event.")
    consumer: str | None
    started_at: datetime | None
    rerun_pending: bool
    payload: dict[str, Any]
    data: dict[str, Any] = Field(description="Same as payload (the original's name).")
    account: AccountSettings | None

    @classmethod
    def of(cls, event: Event, list_type: EventListType) -> QueueEvent:
        is_retry = event.status is EventStatus.RETRY
        is_delayed = event.status is EventStatus.DELAYED
        return cls(
            event_id=event.event_id,
            account_id=event.account_id,
            exec_command=event.exec.value,
            exec=event.exec.value,
            strategy_name=event.strategy_name,
            source=event.source.value,
            type=list_type,
            status=event.status,
            times_queued=event.times_queued,
            last_error=event.last_error,
            received_at=event.received_at,
            created_at=event.received_at,
            not_before=event.not_before,
            retry_after=event.not_before if is_retry else None,
            execution_time=event.not_before if is_delayed else None,
            consumer=event.consumer,
            started_at=event.started_at,
            rerun_pending=event.rerun_pending,
            payload=event.payload,
            data=event.payload,
            account=event.account,
        )


class QueueEventList(BaseModel):
    events: list[QueueEvent]
    count: int
    type: EventListQueryType


class AddEventRequest(BaseModel):
    """`POST /queue/events`. Other fields are kept in the event's payload, as sent.

    The account's settings (cash reserve, replacement set) always come from accounts.yaml.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"account_id": "DU1234567", "exec_command": "rebalance"}],
        },
    )

    account_id: str = Field(
        json_schema_extra={"pattern": ACCOUNT_ID_JSON_PATTERN},
        description="An IB account id, like DU1234567 (paper) or U1234567 (live).",
    )
    exec_command: Command = Field(description="What to run for the account.")
    strategy_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=STRATEGY_NAME_MAX_LENGTH,
        description="Defaults to the account's strategy in accounts.yaml.",
    )
    payload: dict[str, Any] = Field(default_factory=dict)
    cash_reserve_percent: float | None = Field(
        default=None,
        description="Accepted for compatibility; must equal the account's value in accounts.yaml.",
    )

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, value: str) -> str:
        return check_account_id(value)

    @field_validator("strategy_name")
    @classmethod
    def _strategy(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("strategy_name is blank: leave it out to use the account's strategy")
        return value.strip() if value is not None else None

    @field_validator("exec_command", mode="before")
    @classmethod
    def _command(cls, value: object) -> Command:
        return parse_command(value)

    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class AddEventResponse(BaseModel):
    event_id: str
    status: Literal["queued", "rerun_marked"]
    message: str


class DuplicateEventResponse(BaseModel):
    """409: an event of the same account and command is already active."""

    detail: str
    event_id: str = Field(description="The id of the active event it duplicates.")
    status: Literal["duplicate"] = "duplicate"


class RemoveEventResponse(BaseModel):
    message: str
    event_id: str
    status: Literal["deleted", "deleted_in_flight"] = Field(
        description="`deleted`: it was waiting and is gone. `deleted_in_flight`: it is running; "
        "it stops before its next order batch (orders already filled stay, working orders are "
        "cancelled) and its history record, outcome `deleted`, lists the orders done so far."
    )
    running: bool = Field(
        default=False, description="Whether the event was running when it was deleted."
    )


class ClearQueueResponse(BaseModel):
    message: str
    deleted_count: int


class RetryEventResponse(BaseModel):
    message: str
    event_id: str
    status: Literal["queued"] = "queued"


# --- processing ---------------------------------------------------------------------------------


class ProcessingState(BaseModel):
    paused: bool
    paused_by: str | None = None
    paused_at: str | None = None
    message: str


# --- history and accounts -----------------------------------------------------------------------


class HistoryEntry(BaseModel):
    """One finished attempt: succeeded, failed, delayed or deleted."""

    event_id: str | None = None
    account_id: str | None = None
    exec: str | None = None
    exec_command: str | None = None
    strategy_name: str | None = None
    source: str | None = None
    outcome: str
    error: str | None = None
    times_queued: int | None = None
    received_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    consumer: str | None = None
    details: dict[str, Any] = Field(
        default_factory=dict, description="What the processor recorded: orders, fills, plan, ..."
    )

    @classmethod
    def of(cls, record: dict[str, Any]) -> HistoryEntry:
        fields = {name: record.get(name) for name in cls.model_fields}
        fields["exec_command"] = record.get("exec")
        fields["outcome"] = str(record.get("outcome") or "unknown")
        details = record.get("details")
        fields["details"] = details if isinstance(details, dict) else {}
        times = record.get("times_queued")
        fields["times_queued"] = times if isinstance(times, int) else None
        texts = (
            *("event_id", "account_id", "exec", "exec_command", "strategy_name", "source"),
            *("error", "received_at", "started_at", "finished_at", "consumer"),
        )
        for name in texts:
            value = fields[name]
            fields[name] = None if value is None else str(value)
        return cls.model_validate(fields)


class HistoryList(BaseModel):
    entries: list[HistoryEntry]
    count: int
    account_id: str | None = None


class SymbolDrift(BaseModel):
    symbol: str
    shares: int
    target_shares: float
    target_percent: float = Field(description="Weight x (1 - reserve), in percent.")
    actual_percent: float
    drift_percent: float = Field(description="actual_percent - target_percent.")


class AccountDrift(BaseModel):
    """Where the account stood against its targets right after its last rebalance, valued at
    the mid of the quotes that rebalance used (prices have moved since)."""

    as_of: str | None = Field(description="finished_at of the rebalance it comes from.")
    tracking_error_percent: float = Field(
        description="Half the sum of |drift| over every symbol and the cash line."
    )
    cash_percent: float
    cash_drift_percent: float
    symbols: list[SymbolDrift]


class AccountOverview(BaseModel):
    """An account of accounts.yaml with the last finished attempt of it."""

    account_id: str
    type: str
    enabled: bool
    active: bool = Field(description="Enabled and of the current TRADING_MODE: traded.")
    strategy_name: str
    cash_reserve_percent: float
    replacement_set: str | None
    last_outcome: str | None = None
    last_command: str | None = None
    last_event_at: str | None = Field(default=None, description="finished_at of the last attempt.")
    last_error: str | None = None
    last_success_at: str | None = None
    drift: AccountDrift | None = Field(
        default=None, description="Drift from target after the last successful rebalance."
    )


class AccountList(BaseModel):
    accounts: list[AccountOverview]
    count: int
    trading_mode: str
    history_scanned: int = Field(description="How many recent history entries were read.")
