"""The outbox in-process against redis-server: seen ids, the recorded last_rebalance_on, and
what happens when memory for held events runs out."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import pytest
import structlog
from event_broker.outbox import Delivery, Outbox, Record
from rebalancer_shared import keys
from rebalancer_shared.events import Command, Event, EventSource
from rebalancer_shared.queue import EventListType, EventQueue
from redis.asyncio import Redis

from tests.support.processes import free_port

SEEN_TTL = 3600


def rebalance(account_id: str, message_id: str = "e-1") -> Event:
    return Event(
        account_id=account_id,
        exec=Command.REBALANCE,
        strategy_name="demo-etf-blend",
        source=EventSource.ZEHNLABS,
        payload={"id": message_id, "strategy": "demo-etf-blend", "exec": "rebalance"},
    )


def outbox_on(redis: Redis, capacity: int = 100) -> Outbox:
    return Outbox(
        redis,
        EventQueue(redis),
        capacity=capacity,
        seen_ttl_seconds=SEEN_TTL,
        retry_max_seconds=0.1,
    )


@pytest.fixture
def redis(redis_client: Redis) -> Redis:
    return redis_client


@pytest.fixture
async def unreachable() -> AsyncIterator[Redis]:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", decode_responses=True)
    yield client
    await client.aclose()


async def deliver_all(outbox: Outbox, *deliveries: Delivery) -> None:
    worker = asyncio.create_task(outbox.run())
    try:
        for delivery in deliveries:
            assert outbox.submit(delivery)
        assert await outbox.drain(5)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


async def test_a_message_seen_before_is_not_enqueued_again(redis: Redis) -> None:
    outbox = outbox_on(redis)
    first = Delivery("message e-1", deque([rebalance("DU1000001"), rebalance("DU1000002")]), "e-1")
    await deliver_all(outbox, first)
    queued = await EventQueue(redis).list_events(EventListType.ACTIVE)
    assert [event.account_id for event in queued] == ["DU1000001", "DU1000002"]
    assert 0 < await redis.ttl(keys.stream_seen("e-1")) <= SEEN_TTL

    # The processor finished them; then the stream delivers the same message again.
    await EventQueue(redis).clear()
    called: list[str] = []
    again = Delivery(
        "message e-1",
        deque([rebalance("DU1000001"), rebalance("DU1000002")]),
        "e-1",
        on_delivered=lambda: called.append("delivered"),
    )
    with structlog.testing.capture_logs() as logs:
        await deliver_all(outbox, again)
    assert await EventQueue(redis).list_events(EventListType.ACTIVE) == []
    assert [line["event"] for line in logs] == ["message.duplicate"]
    assert called == []  # a duplicate does not move last_rebalance_on
    assert outbox.held_events == 0


async def test_the_recorded_last_rebalance_on_only_moves_forward(redis: Redis) -> None:
    outbox = outbox_on(redis)
    await deliver_all(
        outbox,
        Delivery("first seen", record=Record("demo-etf-blend", "2026-03-02T20:50:00Z")),
        Delivery("late answer", record=Record("demo-etf-blend", "2026-03-02T21:50:00+02:00")),
    )
    assert await redis.hget(keys.STREAM_LAST_REBALANCE, "demo-etf-blend") == (
        "2026-03-02T20:50:00Z"
    )


async def test_the_same_message_waiting_twice_is_held_once(unreachable: Redis) -> None:
    outbox = outbox_on(unreachable)
    for _ in range(2):
        outbox.submit(Delivery("message e-1", deque([rebalance("DU1000001")]), "e-1"))
    assert outbox.held_events == 1


async def test_when_memory_is_full_a_delivery_is_dropped_and_each_event_logged_critical(
    unreachable: Redis,
) -> None:
    outbox = outbox_on(unreachable, capacity=3)
    worker = asyncio.create_task(outbox.run())
    try:
        assert outbox.submit(
            Delivery("message e-1", deque([rebalance("DU1000001"), rebalance("DU1000002")]), "e-1")
        )
        with structlog.testing.capture_logs() as logs:
            accepted = outbox.submit(
                Delivery(
                    "message e-2",
                    deque([rebalance("DU1000001", "e-2"), rebalance("DU1000002", "e-2")]),
                    "e-2",
                )
            )
        assert not accepted
        dropped = [line for line in logs if line["event"] == "event.dropped_memory_full"]
        assert [(line["account_id"], line["log_level"]) for line in dropped] == [
            ("DU1000001", "critical"),
            ("DU1000002", "critical"),
        ]
        assert "LOST" in dropped[0]["reason"]
        assert outbox.held_events == 2
        assert not await outbox.drain(0.3)  # Redis never answers: still held, not dropped
        assert outbox.held_events == 2
        assert outbox.redis_reachable is False
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    with structlog.testing.capture_logs() as logs:
        assert outbox.abandon() == 2
    assert {line["event"] for line in logs} == {"event.lost_at_shutdown"}
