"""Crash safety: consumers killed with SIGKILL at every step, and Redis restarted with AOF.

Whatever the moment of death, each event ends up exactly once in the system (or finished
exactly once), with its dedup key intact while it is active.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from rebalancer_shared import keys
from rebalancer_shared.events import EventStatus
from rebalancer_shared.queue import EventQueue
from redis.asyncio import Redis

from tests.shared.factories import make_event
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def start_consumer(redis_url: str, consumer: str, step: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.shared.crash_consumer", redis_url, consumer, step],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def places_of(redis: Redis, event_id: str) -> list[str]:
    """Every structure that holds the id (an event must be in exactly one while active)."""
    places = [
        f"queue#{i}" for i, x in enumerate(await redis.lrange(keys.QUEUE, 0, -1)) if x == event_id
    ]
    if await redis.zscore(keys.DELAYED, event_id) is not None:
        places.append("delayed")
    async for key in redis.scan_iter(match=f"{keys.PROCESSING_PREFIX}*"):
        places += [key for x in await redis.lrange(key, 0, -1) if x == event_id]
    async for key in redis.scan_iter(match=f"{keys.ACCOUNT_WAITING_PREFIX}*"):
        places += [key for x in await redis.lrange(key, 0, -1) if x == event_id]
    return places


async def test_consumer_killed_mid_event_loses_nothing(queue: EventQueue, redis_url: str) -> None:
    event = make_event()
    await queue.enqueue(event)
    consumer = start_consumer(redis_url, "processor-doomed", "wait")
    assert consumer.stdout is not None
    assert consumer.stdout.readline().strip() == f"taken {event.event_id}"
    consumer.kill()  # SIGKILL from outside, mid-rebalance
    consumer.wait(timeout=10)

    # Until its heartbeat expires, a consumer is presumed alive: nothing moves.
    assert await queue.recover_dead_consumers(dead_after_seconds=30) == []
    assert await places_of(queue.redis, event.event_id) == [keys.processing("processor-doomed")]

    deadline = time.monotonic() + 10
    recovered: list[str] = []
    while not recovered and time.monotonic() < deadline:
        recovered = await queue.recover_dead_consumers(dead_after_seconds=0.5)
    assert recovered == [event.event_id]
    assert await places_of(queue.redis, event.event_id) == ["queue#0"]
    assert await queue.redis.smembers(keys.ACTIVE) == {"DU1234567:rebalance"}
    stored = await queue.get(event.event_id)
    assert stored is not None and stored.status is EventStatus.QUEUED
    assert stored.times_queued == 2
    assert not await queue.redis.hgetall(keys.ACCOUNT_LOCKS)


@pytest.mark.parametrize("step", ["after_blmove", "after_claim", "after_complete", "after_fail"])
async def test_consumer_dying_between_any_two_steps_never_duplicates(
    queue: EventQueue, redis_url: str, step: str
) -> None:
    event, bystander = make_event("DU1111111"), make_event("DU2222222")
    await queue.enqueue(event)
    await queue.enqueue(bystander)
    consumer = start_consumer(redis_url, "processor-doomed", step)
    consumer.wait(timeout=20)
    assert consumer.returncode == -9, consumer.stderr.read() if consumer.stderr else ""

    await queue.recover_dead_consumers(dead_after_seconds=0, now=time.time() + 1)
    await queue.promote_due(now=time.time() + 1)

    places = await places_of(queue.redis, event.event_id)
    history = [r for r in await queue.history() if r["event_id"] == event.event_id]
    if step == "after_complete":
        assert places == []
        assert [r["outcome"] for r in history] == ["succeeded"]
        assert await queue.redis.smembers(keys.ACTIVE) == {"DU2222222:rebalance"}
    else:
        assert len(places) == 1, places
        assert await queue.redis.smembers(keys.ACTIVE) == {
            "DU1111111:rebalance",
            "DU2222222:rebalance",
        }
    assert await places_of(queue.redis, bystander.event_id) != []
    assert not await queue.redis.hgetall(keys.ACCOUNT_LOCKS)
    # And the queue still works to the end: both events can be finished exactly once.
    finished = []
    await queue.register_consumer("processor-next")
    while (taken := await queue.take("processor-next", wait_seconds=0.2)) is not None:
        finished.append(taken.event_id)
        await queue.complete("processor-next", taken, {})
    expected = (
        [bystander.event_id] if step == "after_complete" else [event.event_id, bystander.event_id]
    )
    assert sorted(finished) == sorted(expected)
    assert await queue.redis.scard(keys.ACTIVE) == 0


async def test_redis_restart_with_aof_loses_no_queued_delayed_or_in_flight_event(
    aof_redis: RedisServer,
) -> None:
    redis = Redis.from_url(aof_redis.url, decode_responses=True)
    queue = EventQueue(redis)
    queued, retrying, delayed, in_flight = (
        make_event(account) for account in ("DU1000001", "DU1000002", "DU1000003", "DU1000004")
    )
    for event in (retrying, delayed, in_flight, queued):
        await queue.enqueue(event)
    await queue.register_consumer("processor-a")
    taken = [await queue.take("processor-a", wait_seconds=1) for _ in range(3)]
    assert all(taken)
    by_id = {event.event_id: event for event in taken if event is not None}
    await queue.fail("processor-a", by_id[retrying.event_id], "boom", retry_delay_seconds=60)
    await queue.delay("processor-a", by_id[delayed.event_id], time.time() + 600, "closed")
    before = await queue.counts()
    await redis.aclose()

    aof_redis.restart(hard=True)  # SIGKILL: no chance to save anything at shutdown

    redis = Redis.from_url(aof_redis.url, decode_responses=True)
    queue = EventQueue(redis)
    after = await queue.counts()
    assert (after.queue_length, after.retry_events_count, after.delayed_events_count) == (1, 1, 1)
    assert after.processing_count == 1
    assert after.active_events_count == before.active_events_count == 4
    for event in (queued, retrying, delayed, in_flight):
        assert await queue.get(event.event_id) is not None
    assert await queue.redis.lrange(keys.processing("processor-a"), 0, -1) == [in_flight.event_id]
    # The in-flight event still completes normally after the restart.
    assert await queue.complete("processor-a", by_id[in_flight.event_id], {}) == "completed"
    await redis.aclose()
