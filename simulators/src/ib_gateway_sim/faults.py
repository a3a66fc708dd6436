"""Faults injected through the control API (`POST /faults`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """Standing faults. Dropping all connections is an action, not a state, so it is not here."""

    refuse_connections: bool = False
    reject_orders: int = 0  # the next N orders are rejected with error 201
    fill_delay_ms: int = 0  # each new order waits this long before it can fill
    partial_fill_ratio: float | None = None  # fill this share of an order, leave the rest working

    def take_reject(self) -> bool:
        """True (and one fewer to go) when the next order is to be rejected."""
        if self.reject_orders <= 0:
            return False
        self.reject_orders -= 1
        return True

    def clear(self) -> None:
        self.refuse_connections = False
        self.reject_orders = 0
        self.fill_delay_ms = 0
        self.partial_fill_ratio = None

    def as_dict(self) -> dict[str, object]:
        return {
            "refuse_connections": self.refuse_connections,
            "reject_orders": self.reject_orders,
            "fill_delay_ms": self.fill_delay_ms,
            "partial_fill_ratio": self.partial_fill_ratio,
        }
