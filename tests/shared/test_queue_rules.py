"""Every queue rule of SPEC section 5, one behaviour per test, on a real redis-server.

Rules that do not block also run on fakeredis (`any_queue`), which keeps the pure logic fast.
"""

from __future__ import annotations

import json
import time

from rebalancer_shared import keys
from rebalancer_shared.events import Event, EventStatus
from rebalancer_shared.queue import (
    EnqueueOutcome,
    EventListType,
    EventQueue,
    NotOwnedError,
)
from redis.asyncio import Redis

from tests.shared.factories import make_event

CONSUMER = "processor-a"


async def test_enqueue_writes_id_body_and_dedup_key_together(any_queue: EventQueue) -> None:
    event = make_event()
    result = await any_queue.enqueue(event)
    redis = any_queue.redis
    assert result.outcome is EnqueueOutcome.ENQUEUED
    assert await redis.lrange(keys.QUEUE, 0, -1) == [event.event_id]
    assert await redis.smembers(keys.ACTIVE) == {"DU1234567:rebalance"}
    stored = await any_queue.get(event.event_id)
    assert stored is not None
    assert stored.account_id == "DU1234567"
    assert stored.status is EventStatus.QUEUED
    assert stored.times_queued == 1


async def test_duplicate_of_a_queued_event_is_dropped_and_counted(any_queue: EventQueue) -> None:
    first = make_event()
    await any_queue.enqueue(first)
    second = await any_queue.enqueue(make_event())
    assert second.outcome is EnqueueOutcome.DUPLICATE
    assert second.event_id == first.event_id
    assert await any_queue.redis.llen(keys.QUEUE) == 1
    assert (await any_queue.counters())["duplicates"] == 1


async def test_enqueueing_the_same_event_again_is_idempotent(queue: EventQueue) -> None:
    # A producer whose reply was lost sends the same event (same id) again, even after a
    # processor took it: it must not become a rerun of itself.
    event = make_event()
    assert (await queue.enqueue(event)).enqueued
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    again = await queue.enqueue(event)
    assert again.outcome is EnqueueOutcome.ENQUEUED and again.event_id == event.event_id
    assert await queue.complete(CONSUMER, taken, {}) == "completed"
    assert await queue.redis.scard(keys.ACTIVE) == 0
    assert (await queue.counters())["duplicates"] == 0


async def test_other_command_of_same_account_is_not_a_duplicate(any_queue: EventQueue) -> None:
    await any_queue.enqueue(make_event(command="rebalance"))
    result = await any_queue.enqueue(make_event(command="print-positions"))
    assert result.enqueued
    assert await any_queue.redis.scard(keys.ACTIVE) == 2


async def test_duplicate_while_in_flight_runs_once_more(queue: EventQueue) -> None:
    first = make_event(payload={"id": "msg-1"})
    await queue.enqueue(first)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    update = make_event(payload={"id": "msg-2"})
    marked = await queue.enqueue(update)
    assert marked.outcome is EnqueueOutcome.RERUN_MARKED
    # A third one while still running replaces the second: one extra run, not two.
    assert (await queue.enqueue(make_event())).outcome is EnqueueOutcome.RERUN_MARKED

    assert await queue.complete(CONSUMER, taken, {"orders": []}) == "rerun_enqueued"

    again = await queue.take(CONSUMER, wait_seconds=1)
    assert again is not None
    assert again.event_id != first.event_id
    assert again.dedup_key == "DU1234567:rebalance"
    assert await queue.complete(CONSUMER, again, {}) == "completed"
    assert await queue.redis.scard(keys.ACTIVE) == 0
    assert await queue.take(CONSUMER, wait_seconds=0.1) is None


async def test_take_moves_the_id_into_the_consumers_processing_list(queue: EventQueue) -> None:
    event = make_event()
    await queue.enqueue(event)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None and taken.event_id == event.event_id
    assert taken.status is EventStatus.IN_FLIGHT
    assert taken.consumer == CONSUMER
    assert await queue.redis.lrange(keys.processing(CONSUMER), 0, -1) == [event.event_id]
    assert await queue.redis.llen(keys.QUEUE) == 0
    assert await queue.owns(CONSUMER, event.event_id)


async def test_take_blocks_until_an_event_arrives(queue: EventQueue, redis_url: str) -> None:
    import asyncio

    await queue.register_consumer(CONSUMER)
    waiter = asyncio.create_task(queue.take(CONSUMER, wait_seconds=5))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    producer = EventQueue(Redis.from_url(redis_url, decode_responses=True))
    event = make_event()
    await producer.enqueue(event)
    taken = await asyncio.wait_for(waiter, timeout=5)
    assert taken is not None and taken.event_id == event.event_id
    await producer.redis.aclose()


async def test_take_returns_none_when_the_queue_stays_empty(queue: EventQueue) -> None:
    started = time.monotonic()
    assert await queue.take(CONSUMER, wait_seconds=0.3) is None
    assert time.monotonic() - started >= 0.25


async def test_success_removes_everything_and_appends_history(queue: EventQueue) -> None:
    event = make_event()
    await queue.enqueue(event)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    assert await queue.complete(CONSUMER, taken, {"orders": [{"symbol": "SPY", "qty": 3}]}) == (
        "completed"
    )
    redis = queue.redis
    assert await redis.llen(keys.processing(CONSUMER)) == 0
    assert await redis.scard(keys.ACTIVE) == 0
    assert await redis.hlen(keys.EVENTS) == 0
    assert not await redis.exists(keys.state(event.event_id))
    assert not await redis.hgetall(keys.ACCOUNT_LOCKS)
    [record] = await queue.history()
    assert record["outcome"] == "succeeded"
    assert record["details"]["orders"] == [{"symbol": "SPY", "qty": 3}]


async def test_failure_waits_for_retry_and_keeps_the_dedup_key(queue: EventQueue) -> None:
    event = make_event()
    await queue.enqueue(event)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    before = time.time()
    await queue.fail(CONSUMER, taken, "IB error 201: order rejected", retry_delay_seconds=60)
    redis = queue.redis
    score = await redis.zscore(keys.DELAYED, event.event_id)
    assert score is not None and before + 59 <= score <= time.time() + 61
    assert await redis.llen(keys.processing(CONSUMER)) == 0
    assert await redis.smembers(keys.ACTIVE) == {"DU1234567:rebalance"}
    waiting = await queue.get(event.event_id)
    assert waiting is not None
    assert waiting.status is EventStatus.RETRY
    assert waiting.times_queued == 2
    assert waiting.last_error == "IB error 201: order rejected"
    assert (await queue.enqueue(make_event())).outcome is EnqueueOutcome.DUPLICATE
    assert (await queue.history())[0]["outcome"] == "failed"


async def test_retries_never_stop_by_themselves(queue: EventQueue) -> None:
    event = make_event()
    await queue.enqueue(event)
    await queue.register_consumer(CONSUMER)
    for attempt in range(1, 26):
        taken = await queue.take(CONSUMER, wait_seconds=1)
        assert taken is not None
        await queue.fail(CONSUMER, taken, f"attempt {attempt}", retry_delay_seconds=0)
        assert await queue.promote_due(now=time.time() + 1) == 1
    stored = await queue.get(event.event_id)
    assert stored is not None and stored.times_queued == 26


async def test_delay_to_the_open_keeps_times_queued(queue: EventQueue) -> None:
    event = make_event()
    await queue.enqueue(event)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    opens_at = time.time() + 3600
    await queue.delay(CONSUMER, taken, opens_at, "market closed: SPY opens 09:30 US/Eastern")
    stored = await queue.get(event.event_id)
    assert stored is not None
    assert stored.status is EventStatus.DELAYED
    assert stored.times_queued == 1
    assert stored.not_before is not None and abs(stored.not_before.timestamp() - opens_at) < 1
    assert await queue.redis.zscore(keys.DELAYED, event.event_id) == opens_at
    assert [e.event_id for e in await queue.list_events(EventListType.DELAYED)] == [event.event_id]
    assert await queue.list_events(EventListType.RETRY) == []


async def test_promotion_moves_only_due_events_to_the_tail_in_due_order(
    any_queue: EventQueue,
) -> None:
    queue = any_queue
    ready_now = make_event("DU1111111")
    await queue.enqueue(ready_now)
    now = time.time()
    # Put three events in the delayed set directly through the fail path.
    await queue.register_consumer(CONSUMER)
    late, early, future = make_event("DU2222222"), make_event("DU3333333"), make_event("DU4444444")
    for event in (late, early, future):
        await queue.enqueue(event)
    await queue.redis.lrem(keys.QUEUE, 0, late.event_id)
    await queue.redis.lrem(keys.QUEUE, 0, early.event_id)
    await queue.redis.lrem(keys.QUEUE, 0, future.event_id)
    await queue.redis.zadd(
        keys.DELAYED, {late.event_id: now - 10, early.event_id: now - 20, future.event_id: now + 60}
    )
    assert await queue.promote_due(now=now) == 2
    assert await queue.redis.lrange(keys.QUEUE, 0, -1) == [
        ready_now.event_id,
        early.event_id,
        late.event_id,
    ]
    assert await queue.redis.zrange(keys.DELAYED, 0, -1) == [future.event_id]


async def test_delete_removes_the_event_from_every_structure(any_queue: EventQueue) -> None:
    queued, waiting = make_event("DU1111111"), make_event("DU2222222")
    await any_queue.enqueue(queued)
    await any_queue.enqueue(waiting)
    await any_queue.redis.lrem(keys.QUEUE, 0, waiting.event_id)
    await any_queue.redis.zadd(keys.DELAYED, {waiting.event_id: time.time() + 60})
    assert await any_queue.delete(queued.event_id) == "deleted"
    assert await any_queue.delete(waiting.event_id) == "deleted"
    assert await any_queue.delete("no-such-id") == "not_found"
    redis = any_queue.redis
    assert await redis.llen(keys.QUEUE) == 0
    assert await redis.zcard(keys.DELAYED) == 0
    assert await redis.scard(keys.ACTIVE) == 0
    assert await redis.hlen(keys.EVENTS) == 0
    assert await redis.hlen(keys.ACTIVE_IDS) == 0
    assert [r["outcome"] for r in await any_queue.history()] == ["deleted", "deleted"]
    # The account:command is free again.
    assert (await any_queue.enqueue(make_event("DU1111111"))).enqueued


async def test_delete_of_an_in_flight_event_keeps_the_account_busy_until_it_reports(
    queue: EventQueue,
) -> None:
    running, next_one = make_event(command="rebalance"), make_event(command="print-positions")
    await queue.enqueue(running)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    assert await queue.delete(running.event_id) == "deleted_in_flight"
    await queue.enqueue(next_one)
    # The account is still locked by the deleted-but-running event: the next one parks.
    assert await queue.take("processor-b", wait_seconds=0.2) is None
    assert await queue.complete(CONSUMER, taken, {}) == "deleted"
    after = await queue.take("processor-b", wait_seconds=1)
    assert after is not None and after.event_id == next_one.event_id


async def test_delete_of_an_in_flight_event_leaves_a_tombstone_for_its_processor(
    queue: EventQueue,
) -> None:
    running, waiting = make_event("DU1111111"), make_event("DU2222222")
    await queue.enqueue(running)
    await queue.enqueue(waiting)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None and taken.event_id == running.event_id
    assert not await queue.deleted_while_running(running.event_id)

    # A waiting event is simply gone: no tombstone.
    assert await queue.delete(waiting.event_id) == "deleted"
    assert not await queue.redis.exists(keys.deleted(waiting.event_id))

    # The running one: body and dedup key go and the tombstone appears in the same script; its
    # TTL outlives any rebalance, the history waits for the processor's record (with orders).
    assert await queue.delete(running.event_id) == "deleted_in_flight"
    assert await queue.deleted_while_running(running.event_id)
    assert 0 < await queue.redis.ttl(keys.deleted(running.event_id)) <= 86_400
    assert await queue.redis.hlen(keys.EVENTS) == 0
    assert await queue.redis.scard(keys.ACTIVE) == 0
    assert [r["event_id"] for r in await queue.history()] == [waiting.event_id]

    sold = [{"symbol": "QQQ", "action": "SELL", "quantity": 60, "filled": 60}]
    assert await queue.finish_deleted(CONSUMER, taken, {"orders": sold}) == "deleted"
    [record, _] = await queue.history()
    assert record["event_id"] == running.event_id
    assert record["outcome"] == "deleted"
    assert record["error"] == "deleted through the management API while running"
    assert record["details"]["orders"] == sold
    assert not await queue.redis.exists(keys.deleted(running.event_id))
    assert not await queue.redis.exists(keys.state(running.event_id))
    counters = await queue.counters()
    assert counters["deleted"] == 2 and counters.get("succeeded", 0) == 0
    assert counters["orders_placed"] == 1
    assert (await queue.counts()).processing_count == 0
    # The account:command is free again.
    assert (await queue.enqueue(make_event("DU1111111"))).enqueued


async def test_a_deleted_running_event_handed_back_is_recorded_once(queue: EventQueue) -> None:
    # Paused or shut down after the delete: the processor hands it back unfinished, and the
    # history still gets its one `deleted` record (the tombstone's).
    running = make_event()
    await queue.enqueue(running)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    assert await queue.delete(running.event_id) == "deleted_in_flight"
    assert await queue.release(CONSUMER, taken.event_id) == "deleted"
    assert [r["outcome"] for r in await queue.history()] == ["deleted"]
    assert not await queue.redis.exists(keys.deleted(running.event_id))


async def test_clear_all_deletes_waiting_events_and_spares_in_flight_ones(
    queue: EventQueue,
) -> None:
    running = make_event("DU1111111")
    await queue.enqueue(running)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    for account in ("DU2222222", "DU3333333", "DU4444444"):
        await queue.enqueue(make_event(account))
    assert await queue.clear() == 3
    counts = await queue.counts()
    assert counts.queue_length == 0
    assert counts.active_events_count == 1
    assert counts.processing_count == 1
    assert await queue.complete(CONSUMER, taken, {}) == "completed"
    assert (await queue.counts()).active_events_count == 0


async def test_retry_now_moves_a_waiting_event_to_the_head(queue: EventQueue) -> None:
    first, second = make_event("DU1111111"), make_event("DU2222222")
    await queue.enqueue(first)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    await queue.fail(CONSUMER, taken, "gateway unreachable", retry_delay_seconds=600)
    await queue.enqueue(second)
    assert await queue.retry_now(first.event_id)
    assert not await queue.retry_now(first.event_id)
    assert await queue.redis.lrange(keys.QUEUE, 0, -1) == [first.event_id, second.event_id]
    stored = await queue.get(first.event_id)
    assert stored is not None and stored.status is EventStatus.QUEUED


async def test_lists_by_type_and_status_counts(queue: EventQueue) -> None:
    await queue.register_consumer(CONSUMER)
    events = {name: make_event(account) for name, account in [
        ("processing", "DU1000001"), ("retry", "DU1000002"), ("delayed", "DU1000003"),
        ("active", "DU1000004"),
    ]}  # fmt: skip
    for event in events.values():
        await queue.enqueue(event)
    in_flight = []
    for _ in range(3):
        taken = await queue.take(CONSUMER, wait_seconds=1)
        assert taken is not None
        in_flight.append(taken)
    by_account = {event.account_id: event for event in in_flight}
    await queue.fail(CONSUMER, by_account["DU1000002"], "boom", retry_delay_seconds=60)
    await queue.delay(CONSUMER, by_account["DU1000003"], time.time() + 600, "closed")

    def ids(found: list[Event]) -> list[str]:
        return [event.event_id for event in found]

    assert ids(await queue.list_events(EventListType.ACTIVE)) == [events["active"].event_id]
    assert ids(await queue.list_events(EventListType.RETRY)) == [events["retry"].event_id]
    assert ids(await queue.list_events(EventListType.DELAYED)) == [events["delayed"].event_id]
    assert ids(await queue.list_events(EventListType.PROCESSING)) == [events["processing"].event_id]
    counts = await queue.counts()
    assert counts.queue_length == 1
    assert counts.active_events_count == 4
    assert counts.retry_events_count == 1
    assert counts.delayed_events_count == 1
    assert counts.processing_count == 1
    assert counts.oldest_event_age_seconds is not None
    assert 0 <= counts.oldest_event_age_seconds < 60


async def test_history_filters_by_account_and_is_capped(redis_client: Redis) -> None:
    queue = EventQueue(redis_client, history_limit=5)
    await queue.register_consumer(CONSUMER)
    for index in range(8):
        account = "DU1111111" if index % 2 else "DU2222222"
        await queue.enqueue(make_event(account))
        taken = await queue.take(CONSUMER, wait_seconds=1)
        assert taken is not None
        await queue.complete(CONSUMER, taken, {"n": index})
    assert await redis_client.llen(keys.HISTORY) == 5
    records = await queue.history(limit=10, account_id="DU1111111")
    assert [record["details"]["n"] for record in records] == [7, 5, 3]
    assert all(json.dumps(record) for record in records)


async def test_a_consumer_declared_dead_cannot_complete(queue: EventQueue) -> None:
    await queue.enqueue(make_event())
    await queue.register_consumer(CONSUMER, now=time.time() - 100)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    assert await queue.recover_dead_consumers(dead_after_seconds=15) == [taken.event_id]
    assert not await queue.heartbeat(CONSUMER)
    assert not await queue.owns(CONSUMER, taken.event_id)
    try:
        await queue.complete(CONSUMER, taken, {})
    except NotOwnedError as error:
        assert taken.event_id in str(error)
    else:
        raise AssertionError("a dead consumer completed an event it no longer holds")
    # The event is back and intact.
    assert await queue.redis.lrange(keys.QUEUE, 0, -1) == [taken.event_id]
    assert await queue.redis.smembers(keys.ACTIVE) == {"DU1234567:rebalance"}


async def test_recovery_puts_in_flight_events_back_at_the_head_in_order(
    queue: EventQueue,
) -> None:
    dead, alive = "processor-dead", "processor-alive"
    now = time.time()
    await queue.register_consumer(dead, now=now - 60)
    await queue.register_consumer(alive, now=now)
    first, second, later = make_event("DU1111111"), make_event("DU2222222"), make_event("DU3333333")
    for event in (first, second):
        await queue.enqueue(event)
    a = await queue.take(dead, wait_seconds=1)
    b = await queue.take(dead, wait_seconds=1)
    assert a is not None and b is not None
    await queue.enqueue(later)
    recovered = await queue.recover_dead_consumers(dead_after_seconds=15, now=now)
    assert sorted(recovered) == sorted([first.event_id, second.event_id])
    assert await queue.redis.lrange(keys.QUEUE, 0, -1) == [
        first.event_id,
        second.event_id,
        later.event_id,
    ]
    assert not await queue.redis.exists(keys.processing(dead))
    assert not await queue.redis.hgetall(keys.ACCOUNT_LOCKS)
    stored = await queue.get(first.event_id)
    assert stored is not None and stored.status is EventStatus.QUEUED
    assert stored.last_error is not None and "processor-dead" in stored.last_error


async def test_a_live_consumer_is_never_recovered(queue: EventQueue) -> None:
    await queue.enqueue(make_event())
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    assert await queue.heartbeat(CONSUMER)
    assert await queue.recover_dead_consumers(dead_after_seconds=15) == []
    assert await queue.owns(CONSUMER, taken.event_id)


async def test_release_hands_an_event_back_to_the_head(queue: EventQueue) -> None:
    first, second = make_event("DU1111111"), make_event("DU2222222")
    await queue.enqueue(first)
    await queue.enqueue(second)
    await queue.register_consumer(CONSUMER)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    assert await queue.release(CONSUMER, taken.event_id) == "released"
    assert await queue.redis.lrange(keys.QUEUE, 0, -1) == [first.event_id, second.event_id]
    assert await queue.redis.smembers(keys.ACTIVE) == {
        "DU1111111:rebalance",
        "DU2222222:rebalance",
    }


async def test_two_events_of_one_account_never_run_at_once(queue: EventQueue) -> None:
    rebalance = make_event(command="rebalance")
    positions = make_event(command="print-positions")
    other_account = make_event("DU7654321")
    for event in (rebalance, positions, other_account):
        await queue.enqueue(event)
    first = await queue.take("processor-a", wait_seconds=1)
    assert first is not None and first.event_id == rebalance.event_id
    # Another instance skips the busy account's event and gets the next account's.
    second = await queue.take("processor-b", wait_seconds=1)
    assert second is not None and second.event_id == other_account.event_id
    assert await queue.take("processor-b", wait_seconds=0.2) is None
    await queue.fail("processor-a", first, "boom", retry_delay_seconds=60)
    # Freed: the parked event is back at the head.
    third = await queue.take("processor-b", wait_seconds=1)
    assert third is not None and third.event_id == positions.event_id


async def test_pause_and_resume(any_queue: EventQueue) -> None:
    assert await any_queue.paused() is None
    await any_queue.pause(by="alice")
    state = await any_queue.paused()
    assert state is not None and state["by"] == "alice"
    await any_queue.resume()
    assert await any_queue.paused() is None


async def test_counters_count_outcomes_and_orders_placed(queue: EventQueue) -> None:
    await queue.register_consumer(CONSUMER)
    for account in ("DU1111111", "DU2222222"):
        await queue.enqueue(make_event(account))
    first = await queue.take(CONSUMER, wait_seconds=1)
    second = await queue.take(CONSUMER, wait_seconds=1)
    assert first is not None and second is not None
    orders = [{"symbol": "SPY", "action": "BUY"}, {"symbol": "TLT", "action": "BUY"}]
    await queue.complete(CONSUMER, first, {"orders": orders})
    await queue.fail(CONSUMER, second, "buy rejected", 60, {"orders": orders[:1]})
    counters = await queue.counters()
    assert counters["succeeded"] == 1
    assert counters["failed"] == 1
    assert counters["orders_placed"] == 3


async def test_clear_records_who_was_cleared(queue: EventQueue) -> None:
    await queue.enqueue(make_event("DU1111111", "print-positions"))
    assert await queue.clear() == 1
    [record] = await queue.history()
    assert record["account_id"] == "DU1111111"
    assert record["exec"] == "print-positions"
    assert record["outcome"] == "deleted"


async def test_a_consumer_never_recovers_its_own_events(queue: EventQueue) -> None:
    # After a Redis outage our own heartbeat looks old; we are alive all the same.
    await queue.enqueue(make_event())
    await queue.register_consumer(CONSUMER, now=time.time() - 100)
    taken = await queue.take(CONSUMER, wait_seconds=1)
    assert taken is not None
    assert await queue.recover_dead_consumers(dead_after_seconds=15, exclude=CONSUMER) == []
    assert await queue.owns(CONSUMER, taken.event_id)
    assert await queue.heartbeat(CONSUMER)
