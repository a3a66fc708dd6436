"""The seam between a Zehnlabs event transport and the rest of the broker.

An event source connects, subscribes to a set of strategies, and hands every message over as a
`Delivered` (or a `Dropped` when the transport itself can tell it is garbage), together with the
number of the connection it arrived on. It says when a strategy must be checked by catch-up
(`on_subscribed`), and reports its state (`connected`, `subscribed`) for the heartbeat.
Everything after it (validation, dedup, fan-out, outbox, heartbeat, catch-up) is written once.

Connection numbers: a number stays the same while the stream is continuous (nothing can have
been missed) and goes up when continuity is lost. The catch-up records a live rebalance only if
the connection it arrived on is still the current one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from event_broker.messages import Delivered, Dropped

# (what arrived, the number of the connection it arrived on)
MessageHandler = Callable[[Delivered | Dropped, int], None]
# (the connection, the strategies to check for a rebalance they may have missed)
SubscribedHandler = Callable[[int, list[str]], None]


class EventSource(Protocol):
    transport: str
    url: str
    connected: bool
    subscribed: list[str]

    def current_connection(self) -> int | None:
        """The number of the connection in use, or None while disconnected."""
        ...

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected and subscribed until `stop` is set; never returns before."""
        ...
