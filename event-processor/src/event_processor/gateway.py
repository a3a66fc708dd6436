"""What the commands need from IB, as plain values. `ib.py` implements it with ib_async.

Keeping this seam small and typed lets the commands read like the steps of SPEC section 6 and
keeps ib_async in one module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from event_processor.hours import Session
from event_processor.planner import Quote

Action = Literal["BUY", "SELL"]


@dataclass(frozen=True)
class AccountSnapshot:
    account_id: str
    net_liquidation: float
    cash: float
    positions: dict[str, int]


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    action: Action
    quantity: int
    limit_price: float | None = None  # None: market order


@dataclass
class OrderReport:
    """How one order ended. `status` is IB's final status (Filled, Cancelled, Inactive...)."""

    symbol: str
    action: Action
    quantity: int
    order_type: str
    limit_price: float | None
    order_id: int | None = None
    status: str = "PendingSubmit"
    filled: int = 0
    average_price: float | None = None
    commission: float = 0.0
    commissions_known: bool = True  # False: a fill's commission report never came
    error: str | None = None
    fills: list[dict[str, float | str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.status == "Filled" and self.filled == self.quantity

    def as_record(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "action": self.action,
            "quantity": self.quantity,
            "order_type": self.order_type,
            "limit_price": self.limit_price,
            "order_id": self.order_id,
            "status": self.status,
            "filled": self.filled,
            "average_price": self.average_price,
            "commission": round(self.commission, 4),
            "error": self.error,
        }


@dataclass(frozen=True)
class OpenOrder:
    order_id: int
    symbol: str
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    status: str


class GatewayError(Exception):
    """IB could not do what was asked; the message says what and why (with IB's code)."""


class Gateway(Protocol):
    @property
    def connected(self) -> bool: ...

    async def ensure_connected(self) -> None:
        """Connect if needed; GatewayError quickly when IB Gateway does not answer."""

    async def server_time(self) -> datetime:
        """IB's clock (the simulator's clock in tests), aware UTC."""

    async def snapshot(self, account_id: str) -> AccountSnapshot: ...

    async def sessions(
        self, symbols: list[str], extended_hours: bool
    ) -> dict[str, list[Session]]: ...

    async def quotes(self, symbols: list[str]) -> dict[str, Quote]: ...

    async def open_orders(self, account_id: str) -> list[OpenOrder]: ...

    async def cancel_open_orders(self, account_id: str, timeout_seconds: float) -> int:
        """Cancel every open order of the account and wait for IB's confirmation."""

    async def execute(
        self,
        account_id: str,
        orders: list[OrderRequest],
        time_in_force: str,
        outside_rth: bool,
        timeout_seconds: float,
    ) -> list[OrderReport]:
        """Place the orders and wait until each is filled, rejected, or the timeout passes
        (then the still-working ones are cancelled). Never raises for an order's own failure:
        the reports say what happened to each."""
