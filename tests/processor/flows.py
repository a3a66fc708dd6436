"""Helpers for end-to-end processor tests: enqueue like the broker does, wait for outcomes."""

from __future__ import annotations

from typing import Any

from rebalancer_shared.config import load_accounts
from rebalancer_shared.events import Event, EventSource
from rebalancer_shared.queue import EventQueue
from rebalancer_shared.settings import TradingMode

from tests.support.stack import Stack, eventually


async def enqueue(
    stack: Stack, queue: EventQueue, account_id: str, command: str = "rebalance"
) -> Event:
    config = load_accounts(stack.accounts_file, stack.sets_file)
    account = config.find(account_id)
    assert account is not None
    event = Event(
        account_id=account_id,
        exec=command,
        strategy_name=account.strategy_name,
        source=EventSource.ZEHNLABS,
        payload={"id": f"test-{account_id}-{command}"},
        account=config.settings_for(account),
    )
    result = await queue.enqueue(event)
    assert result.enqueued, result
    assert config.active(TradingMode.PAPER)
    return event


async def outcomes(queue: EventQueue, event_id: str) -> list[dict[str, Any]]:
    """History records of one event, oldest first."""
    return [r for r in reversed(await queue.history(limit=1000)) if r["event_id"] == event_id]


async def wait_outcome(
    queue: EventQueue, event_id: str, outcome: str = "succeeded", within: float = 60
) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def reached() -> bool:
        for record in await outcomes(queue, event_id):
            if record["outcome"] == outcome:
                found.update(record)
                return True
        return False

    await eventually(reached, within, f"event {event_id} to end {outcome}")
    return found


def bought_and_sold(stack: Stack, account_id: str) -> dict[str, dict[str, int]]:
    """Filled shares per symbol and side at the simulator (the ground truth)."""
    totals: dict[str, dict[str, int]] = {}
    for order in stack.ib.orders(account_id):
        side = totals.setdefault(order["symbol"], {"BUY": 0, "SELL": 0})
        side[order["action"]] += int(order["filled"])
    return totals
