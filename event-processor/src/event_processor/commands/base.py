"""What every command gets, and the three ways a command can end other than success."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rebalancer_shared.events import AccountSettings, Event
from rebalancer_shared.settings import Settings

from event_processor.allocations import AllocationsClient
from event_processor.gateway import Gateway

Details = dict[str, Any]


@dataclass
class CommandContext:
    event: Event
    account: AccountSettings
    settings: Settings
    gateway: Gateway
    allocations: AllocationsClient
    # Raises Deleted when the event was deleted through the management API while running, and
    # Interrupted when trading was paused or the event is no longer ours. Called right before
    # every batch of orders, so a delete or a pause stops new orders at once.
    guard: Callable[[], Awaitable[None]]
    details: Details = field(default_factory=dict)


class CommandFailed(Exception):
    """The event failed; it will be retried. `details` (orders so far...) go to history."""

    def __init__(self, message: str, details: Details | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class DelayUntil(Exception):
    """Outside trading hours: run again at `ready_at` (IB's clock)."""

    def __init__(self, ready_at: datetime, reason: str, details: Details | None = None) -> None:
        super().__init__(reason)
        self.ready_at = ready_at
        self.reason = reason
        self.details = details or {}


class Interrupted(Exception):
    """Stop before placing more orders (paused, or the event was taken from us): hand it back."""


class Deleted(Exception):
    """Deleted through the management API while running: stop before the next order batch. The
    worker records `deleted` with `details` (the orders placed and filled so far)."""

    def __init__(self, message: str, details: Details | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


Command = Callable[[CommandContext], Awaitable[Details]]
