"""The event model and the command names of SPEC section 4."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

ACCOUNT_ID_PATTERN = re.compile(r"[A-Z]{1,4}[0-9]{1,12}")
"""IB account ids: U1234567 (live), DU1234567 (paper), F/I-prefixed advisor accounts. Use with
fullmatch (a `$` anchor would let a trailing newline through)."""


class Command(StrEnum):
    """What an event asks the processor to do (the `exec` field)."""

    REBALANCE = "rebalance"
    PRINT_REBALANCE = "print-rebalance"
    PRINT_POSITIONS = "print-positions"
    PRINT_EQUITY = "print-equity"
    PRINT_ORDERS = "print-orders"
    CANCEL_ORDERS = "cancel-orders"


COMMAND_NAMES: tuple[str, ...] = tuple(command.value for command in Command)


class UnknownCommandError(ValueError):
    def __init__(self, value: object) -> None:
        super().__init__(f"unknown command {value!r}: expected one of {', '.join(COMMAND_NAMES)}")


def parse_command(value: object) -> Command:
    """The command named by `value`, or UnknownCommandError naming the choices."""
    if isinstance(value, str):
        try:
            return Command(value.strip())
        except ValueError:
            pass
    raise UnknownCommandError(value)


class EventSource(StrEnum):
    ZEHNLABS = "zehnlabs"
    API = "api"


class EventStatus(StrEnum):
    """Where an event is in the queue (SPEC section 5)."""

    QUEUED = "queued"  # in rebalance_queue (or parked behind another event of its account)
    IN_FLIGHT = "in_flight"  # claimed by a consumer
    RETRY = "retry"  # failed; in rebalance_delayed_set until now + RETRY_DELAY_SECONDS
    DELAYED = "delayed"  # outside trading hours; in rebalance_delayed_set until the open


class Outcome(StrEnum):
    """How one attempt ended, as recorded in rebalance_history."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DELAYED = "delayed"
    DELETED = "deleted"


class ReplacementRule(BaseModel):
    """Buy `target` instead of `source`, with the source's weight times `scale`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    target: str
    scale: float


class AccountSettings(BaseModel):
    """The account's configuration as carried inside an event (copied at enqueue time)."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    type: str
    strategy_name: str
    cash_reserve_percent: float
    replacement_set: str | None = None
    replacements: tuple[ReplacementRule, ...] = ()


def new_event_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """One unit of work for one account: run `exec` for `account_id`.

    `status`, `times_queued`, `last_error` and `not_before` are kept up to date by the queue;
    the rest is fixed when the event is created.
    """

    model_config = ConfigDict(populate_by_name=True)

    event_id: str = Field(default_factory=new_event_id)
    account_id: str
    exec: Command
    strategy_name: str | None = None
    source: EventSource = EventSource.API
    payload: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime = Field(default_factory=utc_now)
    account: AccountSettings | None = None
    times_queued: int = 0
    status: EventStatus = EventStatus.QUEUED
    last_error: str | None = None
    not_before: datetime | None = None
    consumer: str | None = None
    started_at: datetime | None = None
    rerun_pending: bool = False

    @field_validator("account_id")
    @classmethod
    def _account_id_shape(cls, value: str) -> str:
        if not ACCOUNT_ID_PATTERN.fullmatch(value):
            raise ValueError(
                f"account id {value!r} is not an IB account id (like U1234567 or DU1234567)"
            )
        return value

    @field_validator("exec", mode="before")
    @classmethod
    def _known_command(cls, value: object) -> Command:
        return parse_command(value)

    @property
    def dedup_key(self) -> str:
        """`account_id:exec`: at most one active event per key (SPEC section 5, rule 1)."""
        return f"{self.account_id}:{self.exec.value}"

    def body_json(self) -> str:
        """The immutable part stored in `rebalance_events` (queue state lives beside it)."""
        return self.model_dump_json(
            exclude={
                "times_queued",
                "status",
                "last_error",
                "not_before",
                "consumer",
                "started_at",
                "rerun_pending",
            }
        )
