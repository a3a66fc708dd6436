"""Accounts, events and queue states a trader would recognise, for the management tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rebalancer_shared.events import Event
from rebalancer_shared.queue import EventQueue

TOKEN = "s3cret-management-token-4f9a"
BASE_URL = "http://127.0.0.1:8000"
INTENT = {"X-Rebalancer-Request": "1"}
"""The header a state-changing call sends when no token is set (a web form cannot send it)."""
CONSUMER = "proc-1"

ACCOUNTS_YAML = """\
- account_id: DU1234567
  type: paper
  enabled: true
  strategy_name: etf-blend-200-35
  cash_reserve_percent: 1.0
- account_id: DU7654321
  type: paper
  enabled: true
  strategy_name: tqqq-fang
  cash_reserve_percent: 2.5
  replacement_set: ira
- account_id: DU5555555
  type: paper
  enabled: false
  strategy_name: etf-blend-200-35
  cash_reserve_percent: 1.0
- account_id: U1234567
  type: live
  enabled: true
  strategy_name: etf-blend-200-35
  cash_reserve_percent: 1.0
"""

REPLACEMENT_SETS_YAML = """\
ira:
  - {source: SPY, target: VOO, scale: 1.0}
"""

SPY_BUY = {"symbol": "SPY", "action": "BUY", "quantity": 12, "price": 512.34, "status": "Filled"}
QQQ_SELL = {"symbol": "QQQ", "action": "SELL", "quantity": 5, "price": 440.1, "status": "Filled"}


def write_accounts(directory: Path) -> Path:
    accounts = directory / "accounts.yaml"
    accounts.write_text(ACCOUNTS_YAML)
    (directory / "replacement-sets.yaml").write_text(REPLACEMENT_SETS_YAML)
    return accounts


def make_event(account_id: str = "DU1234567", command: str = "rebalance", **fields: Any) -> Event:
    return Event.model_validate(
        {"account_id": account_id, "exec": command, "strategy_name": "etf-blend-200-35", **fields}
    )


async def enqueued(queue: EventQueue, event: Event) -> Event:
    result = await queue.enqueue(event)
    assert result.enqueued, result
    return event


async def taken(queue: EventQueue, event: Event) -> Event:
    """Enqueue `event` and take it as consumer proc-1: it is in flight now."""
    await queue.register_consumer(CONSUMER)
    await enqueued(queue, event)
    running = await queue.take(CONSUMER, wait_seconds=1.0)
    assert running is not None and running.event_id == event.event_id
    return running


async def in_retry(
    queue: EventQueue, event: Event, error: str = "IB error 201: order rejected"
) -> Event:
    """An event that failed once and waits in the delayed set for its retry."""
    running = await taken(queue, event)
    await queue.fail(CONSUMER, running, error, retry_delay_seconds=600)
    return running


async def delayed_to_open(queue: EventQueue, event: Event) -> Event:
    """An event that arrived outside trading hours and waits for the next open."""
    running = await taken(queue, event)
    await queue.delay(CONSUMER, running, time.time() + 3600, "market closed until 09:30 ET")
    return running


async def succeeded(queue: EventQueue, event: Event, details: dict[str, Any]) -> Event:
    running = await taken(queue, event)
    await queue.complete(CONSUMER, running, details)
    return running
