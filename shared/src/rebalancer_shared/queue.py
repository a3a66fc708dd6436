"""The reliable event queue of SPEC section 5.

Every rule that writes more than one key is one Lua script (in `lua/`), so a crash between two
writes cannot lose or duplicate an event. The flow of one event:

    enqueue ──▶ rebalance_queue ──take──▶ rebalance_processing:{consumer} ──complete──▶ history
                     ▲                         │  fail / delay
                     └──promote_due── rebalance_delayed_set ◀┘

`take` is `BLMOVE` followed by a claim script that takes the account's lock; an event whose
account is busy (another event of it in flight, in any instance) is parked until that one ends.
Consumers heartbeat; `recover_dead_consumers` hands the in-flight events of a consumer that
stopped heartbeating back to the head of the queue. An event leaves only by success or by an
explicit delete.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from rebalancer_shared import keys
from rebalancer_shared.events import Event, EventStatus, Outcome

HISTORY_LIMIT = 10_000
"""How many finished attempts `rebalance_history` keeps (newest first)."""

DELETED_TTL_SECONDS = 86_400
"""How long the tombstone of an event deleted while running lives: far beyond any rebalance (its
processor drops it when it reports; the TTL only cleans up after one that never does)."""

DELETED_WHILE_RUNNING = "deleted through the management API while running"


class EnqueueOutcome(StrEnum):
    ENQUEUED = "enqueued"
    DUPLICATE = "duplicate"  # dropped: an event with the same account:exec is active
    RERUN_MARKED = "rerun_marked"  # dropped, but its in-flight twin will run once more


@dataclass(frozen=True)
class EnqueueResult:
    outcome: EnqueueOutcome
    event_id: str  # the new id when enqueued, else the active twin's id

    @property
    def enqueued(self) -> bool:
        return self.outcome is EnqueueOutcome.ENQUEUED


class EventListType(StrEnum):
    ACTIVE = "active"  # ready to run (in the queue, or parked behind its account's running event)
    RETRY = "retry"
    DELAYED = "delayed"
    PROCESSING = "processing"


@dataclass(frozen=True)
class QueueCounts:
    queue_length: int
    active_events_count: int
    retry_events_count: int
    delayed_events_count: int
    processing_count: int
    oldest_event_age_seconds: float | None


class NotOwnedError(Exception):
    """The consumer no longer holds the event (it was declared dead and the event recovered)."""


def _now() -> float:
    return time.time()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _load_script_source(name: str) -> str:
    prelude = resources.files("rebalancer_shared.lua").joinpath("prelude.lua").read_text()
    body = resources.files("rebalancer_shared.lua").joinpath(f"{name}.lua").read_text()
    names = {name: getattr(keys, name) for name in dir(keys) if name.isupper()}
    for key_name, value in names.items():
        prelude = prelude.replace("{" + key_name + "}", value)
    return prelude + "\n" + body


_SCRIPT_NAMES = (
    "enqueue",
    "claim",
    "complete",
    "reschedule",
    "release",
    "promote",
    "heartbeat",
    "recover",
    "delete",
    "retry_now",
    "clear",
    "counts",
)


class EventQueue:
    """The queue over one Redis connection pool (created with `decode_responses=True`)."""

    def __init__(self, redis: Redis, history_limit: int = HISTORY_LIMIT) -> None:
        self.redis = redis
        self.history_limit = history_limit
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(_load_script_source(name)) for name in _SCRIPT_NAMES
        }

    async def _run(self, name: str, args: list[Any], script_keys: list[str] | None = None) -> Any:
        return await self._scripts[name](keys=script_keys or [], args=args)

    # --- producers ---------------------------------------------------------------------------

    async def enqueue(self, event: Event, now: float | None = None) -> EnqueueResult:
        """Rule 1: add the event unless its `account_id:exec` is already active."""
        outcome, event_id = await self._run(
            "enqueue",
            [event.event_id, event.dedup_key, event.account_id, event.body_json(), now or _now()],
        )
        return EnqueueResult(EnqueueOutcome(outcome), event_id)

    # --- consumers ---------------------------------------------------------------------------

    async def register_consumer(self, consumer: str, now: float | None = None) -> None:
        await self._run("heartbeat", [consumer, now or _now(), "1"])

    async def heartbeat(self, consumer: str, now: float | None = None) -> bool:
        """Refresh the consumer's heartbeat. False: it was declared dead; stop its work."""
        return bool(await self._run("heartbeat", [consumer, now or _now(), "0"]))

    async def take(self, consumer: str, wait_seconds: float = 1.0) -> Event | None:
        """Rule 2: the next event this consumer may run, or None after `wait_seconds`.

        Events whose account is busy are parked (not returned) and the next one is tried.
        """
        deadline = time.monotonic() + wait_seconds
        while True:
            remaining = max(deadline - time.monotonic(), 0.01)
            # Redis takes fractional seconds here; redis-py's stub says int.
            event_id = await self.redis.blmove(
                keys.QUEUE,
                keys.processing(consumer),
                remaining,  # type: ignore[arg-type]
                "LEFT",
                "RIGHT",
            )
            if event_id is None:
                return None
            reply = await self._run("claim", [consumer, event_id, _now()])
            if reply[0] == "claimed":
                return _event_from(reply[1], _pairs(reply[2]))
            if time.monotonic() >= deadline:
                return None

    async def owns(self, consumer: str, event_id: str) -> bool:
        """Whether the event is still in this consumer's processing list (check before orders)."""
        position = await self.redis.lpos(keys.processing(consumer), event_id)
        return position is not None

    async def complete(self, consumer: str, event: Event, details: dict[str, Any]) -> str:
        """Rule 3: done. Returns 'completed', 'rerun_enqueued' or 'deleted'."""
        record = self._record(event, Outcome.SUCCEEDED, None, details)
        reply = await self._run(
            "complete",
            [consumer, event.event_id, _now(), record, self.history_limit, _orders(details)],
        )
        return self._owned(reply[0], event)

    async def fail(
        self,
        consumer: str,
        event: Event,
        error: str,
        retry_delay_seconds: float,
        details: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> str:
        """Rule 4: back to waiting until now + delay, `times_queued` + 1, `last_error` set."""
        now = now or _now()
        record = self._record(event, Outcome.FAILED, error, details or {})
        reply = await self._run(
            "reschedule",
            [
                consumer,
                event.event_id,
                now,
                now + retry_delay_seconds,
                EventStatus.RETRY.value,
                error,
                record,
                self.history_limit,
                _orders(details or {}),
            ],
        )
        return self._owned(reply[0], event)

    async def delay(
        self,
        consumer: str,
        event: Event,
        until: float,
        reason: str,
        details: dict[str, Any] | None = None,
    ) -> str:
        """Rule 5: outside trading hours; waits in the delayed set until `until`."""
        record = self._record(event, Outcome.DELAYED, reason, details or {})
        reply = await self._run(
            "reschedule",
            [
                consumer,
                event.event_id,
                _now(),
                until,
                EventStatus.DELAYED.value,
                reason,
                record,
                self.history_limit,
                _orders(details or {}),
            ],
        )
        return self._owned(reply[0], event)

    async def deleted_while_running(self, event_id: str) -> bool:
        """Whether the event was deleted while in flight (its tombstone): stop before the next
        order batch. One `EXISTS`: cheap enough to ask before every batch."""
        return bool(await self.redis.exists(keys.deleted(event_id)))

    async def finish_deleted(self, consumer: str, event: Event, details: dict[str, Any]) -> str:
        """A deleted running event stopped: record `deleted` with what was done (`details`) and
        let it go (processing entry, account lock, state, tombstone). Returns 'deleted'."""
        record = self._record(event, Outcome.DELETED, DELETED_WHILE_RUNNING, details)
        reply = await self._run(
            "complete",
            [consumer, event.event_id, _now(), record, self.history_limit, _orders(details)],
        )
        return self._owned(reply[0], event)

    async def release(self, consumer: str, event_id: str) -> str:
        """Hand an unfinished event back to the head of the queue (graceful shutdown)."""
        reply = await self._run("release", [consumer, event_id])
        return str(reply[0])

    async def unregister_consumer(self, consumer: str) -> list[str]:
        """Clean exit: hand back everything still held, then forget the consumer."""
        ids: list[str] = await self._run("recover", [consumer, "+inf", "handed back at shutdown"])
        return ids

    async def promote_due(self, now: float | None = None, limit: int = 1000) -> int:
        """Rule 6: due waiting events to the tail of the queue. Returns how many moved."""
        return int(await self._run("promote", [now or _now(), limit]))

    async def recover_dead_consumers(
        self, dead_after_seconds: float, now: float | None = None, exclude: str | None = None
    ) -> list[str]:
        """Rule 7: in-flight events of consumers silent for `dead_after_seconds` go back.

        A consumer passes itself as `exclude`: after a Redis outage its own heartbeat may look
        old, but it is alive and still working on its events (its next heartbeat says so)."""
        now = now or _now()
        deadline = now - dead_after_seconds
        candidates = set(_strs(await self.redis.zrangebyscore(keys.CONSUMERS, "-inf", deadline)))
        # Processing lists of consumers that never registered (or were removed) count as dead.
        registered = set(_strs(await self.redis.zrange(keys.CONSUMERS, 0, -1)))
        async for key in self.redis.scan_iter(match=f"{keys.PROCESSING_PREFIX}*", count=500):
            consumer = _str(key).removeprefix(keys.PROCESSING_PREFIX)
            if consumer not in registered:
                candidates.add(consumer)
        candidates.discard(exclude or "")
        recovered: list[str] = []
        for consumer in sorted(candidates):
            reason = f"recovered: consumer {consumer} stopped heartbeating"
            recovered += await self._run("recover", [consumer, deadline, reason])
        return recovered

    # --- management --------------------------------------------------------------------------

    async def get(self, event_id: str) -> Event | None:
        body, state = await self._read(event_id)
        return _event_from(body, state) if body else None

    async def delete(self, event_id: str) -> str:
        """Rule 8. Returns 'deleted', 'deleted_in_flight' or 'not_found'.

        An event in flight keeps running until its next order batch: the delete leaves a
        tombstone (`keys.deleted`) that its processor reads before every batch; it then cancels
        the account's working orders, stops and records `deleted` with the orders so far."""
        event = await self.get(event_id)
        record = in_flight = ""
        if event:
            reason = "deleted through the management API"
            record = self._record(event, Outcome.DELETED, reason, {})
            in_flight = self._record(event, Outcome.DELETED, DELETED_WHILE_RUNNING, {})
        reply = await self._run(
            "delete", [event_id, record, self.history_limit, in_flight, DELETED_TTL_SECONDS]
        )
        return str(reply[0])

    async def clear(self) -> int:
        """Delete every event that is not in flight; in-flight ones finish normally."""
        waiting = [k async for k in self.redis.scan_iter(match=f"{keys.ACCOUNT_WAITING_PREFIX}*")]
        return int(await self._run("clear", [_iso(_now()), self.history_limit], waiting))

    async def retry_now(self, event_id: str) -> bool:
        """A waiting (retry or delayed) event goes to the head of the queue now."""
        return bool(await self._run("retry_now", [event_id]))

    async def list_events(self, list_type: EventListType, limit: int = 100) -> list[Event]:
        ids: list[str]
        if list_type is EventListType.ACTIVE:
            ids = _strs(await self.redis.lrange(keys.QUEUE, 0, limit - 1))
            async for key in self.redis.scan_iter(match=f"{keys.ACCOUNT_WAITING_PREFIX}*"):
                ids += _strs(await self.redis.lrange(key, 0, -1))
        elif list_type is EventListType.PROCESSING:
            ids = []
            async for key in self.redis.scan_iter(match=f"{keys.PROCESSING_PREFIX}*"):
                ids += _strs(await self.redis.lrange(key, 0, -1))
        else:
            ids = _strs(await self.redis.zrange(keys.DELAYED, 0, -1))
        events = [event for event in await self._read_many(ids) if event is not None]
        if list_type in (EventListType.RETRY, EventListType.DELAYED):
            wanted = EventStatus(list_type.value)
            events = [event for event in events if event.status is wanted]
        return events[:limit]

    async def counts(self, now: float | None = None) -> QueueCounts:
        processing = [k async for k in self.redis.scan_iter(match=f"{keys.PROCESSING_PREFIX}*")]
        waiting = [k async for k in self.redis.scan_iter(match=f"{keys.ACCOUNT_WAITING_PREFIX}*")]
        queued, parked, active, retry, delayed, in_flight, oldest = await self._run(
            "counts", [len(processing)], processing + waiting
        )
        age = max((now or _now()) - float(oldest), 0.0) if oldest else None
        return QueueCounts(
            queue_length=int(queued) + int(parked),
            active_events_count=int(active),
            retry_events_count=int(retry),
            delayed_events_count=int(delayed),
            processing_count=int(in_flight),
            oldest_event_age_seconds=age,
        )

    async def history(self, limit: int = 50, account_id: str | None = None) -> list[dict[str, Any]]:
        """Finished attempts, newest first, optionally of one account."""
        found: list[dict[str, Any]] = []
        start, chunk = 0, max(limit, 200)
        while len(found) < limit:
            rows = await self.redis.lrange(keys.HISTORY, start, start + chunk - 1)
            if not rows:
                break
            for row in rows:
                record = json.loads(row)
                if account_id is None or record.get("account_id") == account_id:
                    found.append(record)
            start += chunk
        return found[:limit]

    async def counters(self) -> dict[str, int]:
        raw = await self.redis.hgetall(keys.COUNTERS)
        duplicates = await self.redis.get(keys.DUPLICATES_TOTAL)
        return {**{_str(k): int(v) for k, v in raw.items()}, "duplicates": int(duplicates or 0)}

    # --- pause (the kill switch) -------------------------------------------------------------

    async def pause(self, by: str = "api") -> None:
        await self.redis.set(keys.PAUSED, json.dumps({"by": by, "at": _iso(_now())}))

    async def resume(self) -> None:
        await self.redis.delete(keys.PAUSED)

    async def paused(self) -> dict[str, Any] | None:
        raw = await self.redis.get(keys.PAUSED)
        return json.loads(raw) if raw else None

    # --- internals ---------------------------------------------------------------------------

    def _owned(self, reply: str, event: Event) -> str:
        if reply == "not_owned":
            raise NotOwnedError(
                f"event {event.event_id} ({event.dedup_key}) is no longer held by this consumer"
            )
        return str(reply)

    def _record(
        self, event: Event, outcome: Outcome, error: str | None, details: dict[str, Any]
    ) -> str:
        return json.dumps(
            {
                "event_id": event.event_id,
                "account_id": event.account_id,
                "exec": event.exec.value,
                "strategy_name": event.strategy_name,
                "source": event.source.value,
                "outcome": outcome.value,
                "error": error,
                "times_queued": event.times_queued,
                "received_at": event.received_at.isoformat(),
                "started_at": event.started_at.isoformat() if event.started_at else None,
                "finished_at": _iso(_now()),
                "consumer": event.consumer,
                "details": details,
            },
            default=str,
        )

    async def _read(self, event_id: str) -> tuple[str | None, dict[str, str]]:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(keys.EVENTS, event_id)
            pipe.hgetall(keys.state(event_id))
            body, state = await pipe.execute()
        return body, state

    async def _read_many(self, ids: list[str]) -> list[Event | None]:
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.hget(keys.EVENTS, event_id)
                pipe.hgetall(keys.state(event_id))
            replies = await pipe.execute()
        return [
            _event_from(body, state) if body else None
            for body, state in zip(replies[::2], replies[1::2], strict=True)
        ]


def _orders(details: dict[str, Any]) -> int:
    """Orders an attempt placed, from its history details (`orders`: one entry per order)."""
    orders = details.get("orders")
    return len(orders) if isinstance(orders, list) else 0


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _strs(values: Any) -> list[str]:
    return [_str(value) for value in values]


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None


def _event_from(body: str, state: dict[str, str]) -> Event:
    """The stored body with the queue's live state laid over it."""
    event = Event.model_validate_json(body)
    return event.model_copy(
        update={
            "status": EventStatus(state.get("status", EventStatus.QUEUED.value)),
            "times_queued": int(state.get("times_queued", event.times_queued)),
            "last_error": state.get("last_error") or state.get("delay_reason"),
            "not_before": _timestamp(state.get("not_before")),
            "consumer": state.get("consumer"),
            "started_at": _timestamp(state.get("started_at")),
            "rerun_pending": "rerun_id" in state,
        }
    )
