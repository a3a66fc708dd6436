"""Hands events to the shared queue, in arrival order, and holds them while Redis is away.

One `Delivery` is what one stream message (or one catch-up) puts into Redis: an Event per
account, then the bookkeeping that makes a repeat harmless (the message id marked as seen, the
strategy's `last_rebalance_on` recorded). Deliveries are worked off one at a time, first in,
first out. When Redis does not answer, the delivery at the head is retried with a delay that
doubles up to `retry_max_seconds`, logged at ERROR on every attempt, and everything behind it
waits in memory.

Order of writes, and why (each step is one Redis round trip):
1. each account's Event through `EventQueue.enqueue` (the queue's own `account_id:exec` dedup
   applies); an account whose enqueue was answered is not enqueued again on a retry;
2. then, in one MULTI/EXEC, the message id is marked seen (`SET NX EX ttl`) and the recorded
   `last_rebalance_on` moved on.
A crash between 1 and 2 leaves the message unmarked: a redelivery enqueues it again and the
queue's dedup drops it (or, when the first is already running, lets it run once more, which a
rebalance survives: it converges on the account's actual state). Marking first would lose the
message on such a crash. A delivery found already seen is dropped without enqueuing anything.

Memory is bounded: at most `capacity` events are held. A delivery that does not fit is dropped
whole and every one of its events is logged at CRITICAL: the one place the broker loses an event
while running. The other is exit: what is still held after the shutdown flush is logged at
CRITICAL, event by event, before the process ends.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from rebalancer_shared import keys
from rebalancer_shared.backoff import Backoff
from rebalancer_shared.events import Event
from rebalancer_shared.log import get_logger
from rebalancer_shared.queue import EnqueueOutcome, EventQueue
from redis.asyncio import Redis
from redis.exceptions import RedisError

from event_broker.timestamps import compare

log = get_logger(__name__)

RETRY_FIRST_SECONDS = 0.2

# What a Redis outage looks like from redis-py: its own errors, or a socket error underneath
# (TimeoutError is an OSError).
REDIS_DOWN = (RedisError, OSError)


@dataclass(frozen=True)
class Record:
    """Move the recorded `last_rebalance_on` of a strategy to this value (if it is newer)."""

    strategy: str
    last_rebalance_on: str


@dataclass(eq=False)
class Delivery:
    label: str  # for the log: "message <id>", "catch-up <strategy>", ...
    events: deque[Event] = field(default_factory=deque)
    message_id: str | None = None  # marked seen once every event is enqueued
    record: Record | None = None
    # Called once everything is written (not for a message found already seen, not if dropped).
    on_delivered: Callable[[], None] | None = None


async def read_recorded(redis: Redis, strategy: str) -> str | None:
    """The `last_rebalance_on` the broker recorded for a strategy, if any."""
    value = await redis.hget(keys.STREAM_LAST_REBALANCE, strategy)
    return value.decode() if isinstance(value, bytes) else value


class Outbox:
    def __init__(
        self,
        redis: Redis,
        queue: EventQueue,
        *,
        capacity: int,
        seen_ttl_seconds: int,
        retry_max_seconds: float,
    ) -> None:
        self._redis = redis
        self._queue = queue
        self._capacity = capacity
        self._seen_ttl = seen_ttl_seconds
        self._retry_max = retry_max_seconds
        self._pending: deque[Delivery] = deque()
        self._pending_ids: set[str] = set()
        self._held = 0
        self._wakeup = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self.redis_reachable = True

    @property
    def held_events(self) -> int:
        """Events received and not yet answered by Redis."""
        return self._held

    def submit(self, delivery: Delivery) -> bool:
        """Queue a delivery behind the others. False when it was dropped (memory full)."""
        if delivery.message_id is not None and delivery.message_id in self._pending_ids:
            log.info(
                "message.duplicate",
                message_id=delivery.message_id,
                reason="the same message id is already waiting to be enqueued",
            )
            return True
        if self._held + len(delivery.events) > self._capacity:
            for event in delivery.events:
                log.critical(
                    "event.dropped_memory_full",
                    delivery=delivery.label,
                    account_id=event.account_id,
                    exec=event.exec.value,
                    strategy=event.strategy_name,
                    held_events=self._held,
                    capacity=self._capacity,
                    reason="Redis is unreachable and the broker already holds as many events as "
                    "BROKER_MAX_HELD_EVENTS allows: this event is LOST",
                )
            return False
        self._pending.append(delivery)
        if delivery.message_id is not None:
            self._pending_ids.add(delivery.message_id)
        self._held += len(delivery.events)
        if not self.redis_reachable and delivery.events:
            log.warning(
                "events.held",
                delivery=delivery.label,
                events=len(delivery.events),
                held_events=self._held,
                reason="Redis is unreachable; held in memory and retried until it answers",
            )
        self._empty.clear()
        self._wakeup.set()
        return True

    async def run(self) -> None:
        """Work off deliveries forever (cancel to stop)."""
        backoff = Backoff(RETRY_FIRST_SECONDS, self._retry_max)
        while True:
            if not self._pending:
                self._empty.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            delivery = self._pending[0]
            try:
                await self._deliver(delivery)
            except REDIS_DOWN as error:
                self.redis_reachable = False
                delay = backoff.next()
                log.error(
                    "redis.unreachable",
                    error=f"{type(error).__name__}: {error}",
                    held_events=self._held,
                    retry_in_seconds=round(delay, 2),
                    reason="events are held in memory and retried until Redis answers",
                )
                await asyncio.sleep(delay)
                continue
            except Exception:
                # Not an outage: a bug. Retrying would block every delivery behind this one.
                log.critical(
                    "delivery.failed",
                    delivery=delivery.label,
                    lost_events=[event.dedup_key for event in delivery.events],
                    exc_info=True,
                )
                self._held -= len(delivery.events)
            self._pending.popleft()
            if delivery.message_id is not None:
                self._pending_ids.discard(delivery.message_id)
            if not self.redis_reachable:
                self.redis_reachable = True
                log.warning("redis.reachable_again", held_events=self._held)
            backoff.reset()

    async def drain(self, within_seconds: float) -> bool:
        """Wait until nothing is held (True) or `within_seconds` pass (False)."""
        try:
            await asyncio.wait_for(self._empty.wait(), within_seconds)
        except TimeoutError:
            return False
        return True

    def abandon(self) -> int:
        """At exit: log every event still held at CRITICAL. Returns how many."""
        lost = 0
        for delivery in self._pending:
            for event in delivery.events:
                lost += 1
                log.critical(
                    "event.lost_at_shutdown",
                    delivery=delivery.label,
                    account_id=event.account_id,
                    exec=event.exec.value,
                    strategy=event.strategy_name,
                    reason="Redis did not answer before the shutdown flush ended; if the "
                    "strategy event was a rebalance, the next start's catch-up enqueues it again",
                )
        return lost

    async def _deliver(self, delivery: Delivery) -> None:
        if delivery.message_id is not None and await self._redis.exists(
            keys.stream_seen(delivery.message_id)
        ):
            log.info(
                "message.duplicate",
                message_id=delivery.message_id,
                reason="this message id was enqueued before (a redelivery)",
            )
            self._held -= len(delivery.events)
            delivery.events.clear()
            return
        while delivery.events:
            event = delivery.events[0]
            with structlog.contextvars.bound_contextvars(
                event_id=event.event_id, account_id=event.account_id
            ):
                result = await self._queue.enqueue(event)
                delivery.events.popleft()
                self._held -= 1
                self._log_enqueue(delivery, event, result.outcome, result.event_id)
        await self._finish(delivery)
        if delivery.on_delivered is not None:
            try:
                delivery.on_delivered()
            except Exception:
                log.exception("delivery.callback_failed", delivery=delivery.label)

    async def _finish(self, delivery: Delivery) -> None:
        record = delivery.record
        replace = False
        if record is not None:
            recorded = await read_recorded(self._redis, record.strategy)
            replace = recorded is None or compare(record.last_rebalance_on, recorded).newer
        if delivery.message_id is None and not replace:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            if delivery.message_id is not None:
                pipe.set(keys.stream_seen(delivery.message_id), "1", nx=True, ex=self._seen_ttl)
            if record is not None and replace:
                pipe.hset(keys.STREAM_LAST_REBALANCE, record.strategy, record.last_rebalance_on)
            await pipe.execute()
        if record is not None and replace:
            log.info(
                "last_rebalance_on.recorded",
                strategy=record.strategy,
                last_rebalance_on=record.last_rebalance_on,
            )

    def _log_enqueue(
        self, delivery: Delivery, event: Event, outcome: EnqueueOutcome, twin_id: str
    ) -> None:
        fields = {
            "delivery": delivery.label,
            "exec": event.exec.value,
            "strategy": event.strategy_name,
        }
        if outcome is EnqueueOutcome.ENQUEUED:
            log.info("event.enqueued", **fields)
        elif outcome is EnqueueOutcome.RERUN_MARKED:
            log.info(
                "event.rerun_marked",
                twin_event_id=twin_id,
                reason="the same command for this account is running; it runs once more after",
                **fields,
            )
        else:
            log.info(
                "event.duplicate",
                twin_event_id=twin_id,
                reason="the same command for this account is already queued",
                **fields,
            )
