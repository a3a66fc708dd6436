"""The worker's take when Redis goes away before answering it (the chaos test kills Redis).

A take is two steps in Redis: the id moves into the consumer's processing list, then a script
claims it (state in flight, account locked). With `appendfsync always` both are on disk before
the answer leaves; a SIGKILL in between loses only the answer. In a chaos run under load
(seed 25, one slot) that left an event claimed in the live processor's list: nobody ran it,
nobody recovered it (only dead consumers' events are), and its account kept its old positions,
hundreds of shares off target, with three publications lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

import yaml
from event_processor.allocations import AllocationsClient
from event_processor.gateway import AccountSnapshot
from event_processor.worker import Worker
from rebalancer_shared import keys
from rebalancer_shared.config import load_accounts
from rebalancer_shared.events import Event
from rebalancer_shared.notify import Notifier
from rebalancer_shared.queue import EventQueue
from rebalancer_shared.settings import Settings
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.processor.flows import wait_outcome

ACCOUNT = "DU6000001"


class AnswerLost(EventQueue):
    """The queue as the worker sees it when Redis dies after doing its first take: the take is
    done in Redis, and the worker gets a connection error instead of the event."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis)
        self.lost: list[str] = []

    async def take(self, consumer: str, wait_seconds: float = 1.0) -> Event | None:
        event = await super().take(consumer, wait_seconds)
        if event is not None and not self.lost:
            self.lost.append(event.event_id)
            raise RedisConnectionError("Connection closed by server.")
        return event


class Account:
    connected = True

    async def ensure_connected(self) -> None:
        return None

    async def snapshot(self, account_id: str) -> AccountSnapshot:
        return AccountSnapshot(account_id, 25_000.0, 1_000.0, {"SPY": 40})


async def test_an_event_whose_take_lost_its_answer_is_handed_back_and_runs(
    redis_client: Redis, tmp_path: Path
) -> None:
    accounts_file, sets_file = tmp_path / "accounts.yaml", tmp_path / "replacement-sets.yaml"
    row = {
        "account_id": ACCOUNT,
        "type": "paper",
        "strategy_name": "growth",
        "cash_reserve_percent": 1,
    }
    accounts_file.write_text(yaml.safe_dump([{**row, "enabled": True}]))
    sets_file.write_text("{}\n")
    accounts = load_accounts(accounts_file, sets_file)
    queue = AnswerLost(redis_client)
    configured = accounts.find(ACCOUNT)
    assert configured is not None
    event = Event(
        account_id=ACCOUNT,
        exec="print-positions",
        strategy_name="growth",
        account=accounts.settings_for(configured),
        received_at=datetime.now(UTC),
    )
    assert (await queue.enqueue(event)).enqueued
    worker = Worker(
        settings=Settings(_env_file=None, max_concurrent_events=2, retry_delay_seconds=1),
        accounts=accounts,
        queue=queue,
        gateway=Account(),  # type: ignore[arg-type]
        allocations=AllocationsClient("http://127.0.0.1:9", "unused"),
        notifier=Notifier(),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        record = await wait_outcome(queue, event.event_id, within=15)
        held = await redis_client.llen(keys.processing(worker.consumer))
        locks = await redis_client.hlen(keys.ACCOUNT_LOCKS)
    finally:
        stop.set()
        await stopped(running)

    assert queue.lost == [event.event_id]
    assert record["details"]["positions"] == {"SPY": 40}
    assert record["times_queued"] == 1, "handed back, not failed: it never ran"
    assert held == locks == 0


async def stopped(running: asyncio.Task[None]) -> None:
    """The worker stopped, within a bound: its shutdown is not what this test is about."""
    await asyncio.wait([running], timeout=5)
    if not running.done():
        running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(running, 5)
