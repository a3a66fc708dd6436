"""Pause, SIGTERM and a Redis restart around a running rebalance."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rebalancer_shared import keys
from rebalancer_shared.events import EventStatus
from rebalancer_shared.queue import EventQueue
from redis.asyncio import Redis

from tests.processor.conftest import QUOTES
from tests.processor.flows import enqueue, outcomes, wait_outcome
from tests.support.redis_server import RedisServer
from tests.support.stack import MARKET_OPEN_MONDAY, Stack, eventually, log_events

TARGETS = {"SPY": 0.5, "TLT": 0.45}


async def test_pause_stops_new_orders_at_once_and_resume_finishes(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU5000001", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", TARGETS)
    stack.ib.put_account("DU5000001", cash=500, positions={"QQQ": 60, "GLD": 90})
    stack.ib.faults(fill_delay_ms=1500)  # the sells take a moment: we pause meanwhile
    stack.start_processor()

    event = await enqueue(stack, queue, "DU5000001")

    async def sells_working() -> bool:
        return len(stack.ib.orders("DU5000001")) >= 2

    await eventually(sells_working, 30, "the sells to be placed")
    await queue.pause(by="test")

    async def handed_back() -> bool:
        stored = await queue.get(event.event_id)
        return stored is not None and stored.status is EventStatus.QUEUED

    await eventually(handed_back, 30, "the event to be handed back")
    # The sells completed; no buy was placed after the pause.
    assert {o["action"] for o in stack.ib.orders("DU5000001")} == {"SELL"}
    assert await queue.redis.sismember(keys.ACTIVE, "DU5000001:rebalance")

    stack.ib.faults(fill_delay_ms=0)
    await queue.resume()
    await wait_outcome(queue, event.event_id, within=60)
    assert {o["symbol"] for o in stack.ib.orders("DU5000001") if o["action"] == "BUY"} == {
        "SPY",
        "TLT",
    }


async def test_sigterm_hands_an_unfinished_event_back(stack: Stack, queue: EventQueue) -> None:
    stack.write_accounts([{"account_id": "DU5000002", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", TARGETS)
    stack.ib.put_account("DU5000002", cash=40_000)
    stack.ib.faults(fill_delay_ms=600_000)  # the buys never fill before the stop
    processor = stack.start_processor(SHUTDOWN_GRACE_SECONDS="1", ORDER_TIMEOUT_SECONDS="60")

    event = await enqueue(stack, queue, "DU5000002")

    async def buys_working() -> bool:
        return len(stack.ib.orders("DU5000002")) >= 2

    await eventually(buys_working, 30, "the buys to be placed")
    assert processor.stop() == 0

    stored = await queue.get(event.event_id)
    assert stored is not None and stored.status is EventStatus.QUEUED
    assert await queue.redis.lrange(keys.QUEUE, 0, -1) == [event.event_id]
    assert await queue.redis.sismember(keys.ACTIVE, "DU5000002:rebalance")
    assert (await queue.counts()).processing_count == 0
    events = [r.get("event") for r in log_events(processor)]
    assert "event.handed_back" in events
    # Its working orders were cancelled on the way out: no other client could cancel them.
    assert "orders.cancelled_at_shutdown" in events
    assert {o["status"] for o in stack.ib.orders("DU5000002")} == {"Cancelled"}

    stack.ib.faults(fill_delay_ms=0)
    stack.start_processor("event-processor-2")
    await wait_outcome(queue, event.event_id, within=60)
    assert [r["outcome"] for r in await outcomes(queue, event.event_id)] == ["succeeded"]


async def test_redis_down_longer_than_the_dead_time_does_not_run_an_event_twice(
    tmp_path: Path,
) -> None:
    # Redis goes away mid-rebalance for longer than CONSUMER_DEAD_AFTER_SECONDS: when it is
    # back, the processor's own heartbeat looks old, yet it must not take its own event back.
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    stack = Stack(tmp_path / "stack", server.url)
    client = Redis.from_url(server.url, decode_responses=True)
    try:
        stack.start_ib_sim()
        stack.start_zehnlabs_sim()
        stack.ib.put_quotes(QUOTES)
        stack.ib.set_clock(MARKET_OPEN_MONDAY, running=True)
        stack.write_accounts([{"account_id": "DU5000003", "strategy_name": "growth"}])
        stack.zehnlabs.set_allocations("growth", TARGETS)
        stack.ib.put_account("DU5000003", cash=500, positions={"QQQ": 60, "GLD": 90})
        stack.ib.faults(fill_delay_ms=4000)  # the sells work while Redis is away
        processor = stack.start_processor(CONSUMER_DEAD_AFTER_SECONDS="2")
        queue = EventQueue(client)
        event = await enqueue(stack, queue, "DU5000003")

        async def sells_working() -> bool:
            return len(stack.ib.orders("DU5000003")) >= 2

        await eventually(sells_working, 30, "the sells to be placed")
        server.stop()
        await asyncio.sleep(3.5)  # longer than the dead time: the outage itself is the test
        server.start()
        stack.ib.faults(fill_delay_ms=0)
        await client.aclose()  # its connections died with the server
        client = Redis.from_url(server.url, decode_responses=True)
        queue = EventQueue(client)
        await wait_outcome(queue, event.event_id, within=60)

        records = await outcomes(queue, event.event_id)
        assert [r["outcome"] for r in records] == ["succeeded"]
        started = [r for r in log_events(processor) if r.get("event") == "event.started"]
        assert len(started) == 1, started
        assert not any(r.get("event") == "queue.recovered" for r in log_events(processor))
    finally:
        await client.aclose()
        stack.stop_all()
        server.stop()
