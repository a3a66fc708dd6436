"""Concurrency against a real redis-server: dedup under a burst, exclusivity across consumers."""

from __future__ import annotations

import asyncio
import random

from rebalancer_shared import keys
from rebalancer_shared.events import COMMAND_NAMES
from rebalancer_shared.queue import EnqueueOutcome, EventQueue
from redis.asyncio import Redis

from tests.shared.factories import make_event


async def test_fifty_concurrent_enqueues_leave_exactly_one_active_event(redis_url: str) -> None:
    clients = [Redis.from_url(redis_url, decode_responses=True) for _ in range(50)]
    queues = [EventQueue(client) for client in clients]
    results = await asyncio.gather(*(q.enqueue(make_event()) for q in queues))
    outcomes = [result.outcome for result in results]
    assert outcomes.count(EnqueueOutcome.ENQUEUED) == 1
    assert outcomes.count(EnqueueOutcome.DUPLICATE) == 49
    redis = clients[0]
    assert await redis.smembers(keys.ACTIVE) == {"DU1234567:rebalance"}
    assert await redis.llen(keys.QUEUE) == 1
    assert await redis.hlen(keys.EVENTS) == 1
    assert len({result.event_id for result in results}) == 1
    for client in clients:
        await client.aclose()


async def test_two_consumers_never_hold_two_events_of_one_account(redis_url: str) -> None:
    accounts = [f"DU10000{n:02d}" for n in range(4)]
    producer = EventQueue(Redis.from_url(redis_url, decode_responses=True))
    events = [make_event(account, command) for account in accounts for command in COMMAND_NAMES]
    random.Random(7).shuffle(events)
    for event in events:
        assert (await producer.enqueue(event)).enqueued

    running: dict[str, str] = {}
    violations: list[str] = []
    done: list[str] = []

    async def consume(name: str) -> None:
        queue = EventQueue(Redis.from_url(redis_url, decode_responses=True))
        await queue.register_consumer(name)
        rng = random.Random(name)
        while len(done) < len(events):
            event = await queue.take(name, wait_seconds=0.2)
            if event is None:
                continue
            if event.account_id in running:
                violations.append(
                    f"{name} took {event.dedup_key} while {running[event.account_id]}"
                )
            running[event.account_id] = f"{name}:{event.dedup_key}"
            await asyncio.sleep(rng.uniform(0, 0.01))  # the rebalance, yielding to the other
            del running[event.account_id]
            await queue.complete(name, event, {})
            done.append(event.event_id)
        await queue.redis.aclose()

    await asyncio.wait_for(asyncio.gather(consume("processor-a"), consume("processor-b")), 60)
    assert violations == []
    assert sorted(done) == sorted(event.event_id for event in events)
    assert await producer.redis.scard(keys.ACTIVE) == 0
    await producer.redis.aclose()
