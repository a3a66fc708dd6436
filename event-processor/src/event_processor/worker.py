"""The processor loop: take, dispatch, then complete / retry / delay. Nothing else decides an
event's fate.

Up to MAX_CONCURRENT_EVENTS events run at once (the queue never hands out two of one account).
Beside the slots run a heartbeat (so other instances know we live; if we were declared dead we
stop at once) and the upkeep that promotes due events and recovers dead instances' events.
SIGTERM: stop taking, let running events finish within a grace period, hand back the rest.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from rebalancer_shared import heartbeats, keys
from rebalancer_shared.backoff import sleep_unless
from rebalancer_shared.config import AccountsConfig
from rebalancer_shared.events import AccountSettings, Command, Event
from rebalancer_shared.log import get_logger
from rebalancer_shared.notify import Notifier
from rebalancer_shared.queue import DELETED_WHILE_RUNNING, EventQueue, NotOwnedError
from rebalancer_shared.settings import Settings
from redis.exceptions import RedisError

from event_processor.allocations import AllocationsClient
from event_processor.commands import COMMANDS
from event_processor.commands.base import (
    CommandContext,
    CommandFailed,
    DelayUntil,
    Deleted,
    Details,
    Interrupted,
)
from event_processor.gateway import Gateway, GatewayError

log = get_logger(__name__)
T = TypeVar("T")

REDIS_RETRY_SECONDS = 1.0
PAUSE_POLL_SECONDS = 0.5
UPKEEP_SECONDS = 1.0
CANCEL_WAIT_SECONDS = 2.0
"""At shutdown, how long a cancelled background task may take to end before we exit anyway."""


def new_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        *,
        settings: Settings,
        accounts: AccountsConfig,
        queue: EventQueue,
        gateway: Gateway,
        allocations: AllocationsClient,
        notifier: Notifier,
        consumer: str | None = None,
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        self.queue = queue
        self.gateway = gateway
        self.allocations = allocations
        self.notifier = notifier
        self.consumer = consumer or new_consumer_name()
        self.shutdown_grace_seconds = settings.shutdown_grace_seconds
        self._stopping = asyncio.Event()
        # Set once no event of ours runs any more (after the shutdown grace): the heartbeat and
        # the upkeep loop end then.
        self._finished = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        # After a take that failed, what it may have left in our processing list is handed
        # back while no take of ours is under way (`_take`).
        self._take_lock = asyncio.Lock()
        self._takes_under_way = 0
        self._no_take_under_way = asyncio.Event()
        self._no_take_under_way.set()
        self._taken: dict[str, int] = {}
        self._take_unsure = False
        self._paused = False
        self._gateway_down_since: float | None = None
        self._gateway_alert_sent = False
        self.ready = asyncio.Event()

    # --- lifecycle ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then shut down gracefully."""
        await self._redis_retry(lambda: self.queue.register_consumer(self.consumer))
        background = [
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._upkeep_loop(), name="upkeep"),
        ]
        slots = [
            asyncio.create_task(self._slot_loop(n), name=f"slot-{n}")
            for n in range(self.settings.max_concurrent_events)
        ]
        log.info("processor.started", consumer=self.consumer, slots=len(slots))
        self.ready.set()
        await stop.wait()
        log.info("processor.stopping", in_flight=len(self._running))
        self._stopping.set()
        # Running events may finish within the grace period; the rest are handed back.
        _, unfinished = await asyncio.wait(slots, timeout=self.shutdown_grace_seconds)
        events = list(self._running.values())
        for task in events:
            task.cancel()
        await asyncio.gather(*events, return_exceptions=True)
        self._finished.set()
        # The background loops end by themselves once finished is set; the cancel is for one in
        # the middle of a Redis call. A cancellation can be lost inside a library (Python 3.11's
        # asyncio.timeout turns one that meets its deadline into TimeoutError, which redis-py
        # reports as a RedisError), so the wait is bounded and never holds the exit.
        leftovers = [*unfinished, *background]
        for task in leftovers:
            task.cancel()
        if leftovers:
            _, stuck = await asyncio.wait(leftovers, timeout=CANCEL_WAIT_SECONDS)
            if stuck:
                log.warning("processor.tasks_left", tasks=sorted(t.get_name() for t in stuck))
        try:
            handed_back = await self.queue.unregister_consumer(self.consumer)
            await heartbeats.forget(self.queue.redis, self._service_name)
            if handed_back:
                log.warning("processor.handed_back", event_ids=handed_back)
        except RedisError as error:
            log.error("processor.unregister_failed", error=str(error))
        log.info("processor.stopped")

    @property
    def _service_name(self) -> str:
        return f"event-processor:{self.consumer}"

    # --- the slots ---------------------------------------------------------------------------

    async def _slot_loop(self, slot: int) -> None:
        while not self._stopping.is_set():
            if self._paused:
                await self._sleep_unless_stopping(PAUSE_POLL_SECONDS)
                continue
            try:
                event = await self._take()
            except RedisError as error:
                log.error("queue.take_failed", error=str(error), slot=slot)
                await self._sleep_unless_stopping(REDIS_RETRY_SECONDS)
                continue
            if event is None:
                continue
            try:
                earlier = self._running.get(event.event_id)
                if earlier is not None:
                    # We were declared dead and got the event back while our cancelled attempt
                    # is still unwinding: let it finish first, never two attempts at once.
                    await asyncio.wait([earlier])
                task = asyncio.create_task(self._process(event), name=f"event-{event.event_id}")
                self._running[event.event_id] = task
                try:
                    # Shielded: a stopping slot must not cancel the event; shutdown decides that.
                    await asyncio.shield(task)
                except asyncio.CancelledError:
                    if not task.done():
                        raise
                finally:
                    if task.done():
                        self._running.pop(event.event_id, None)
            finally:
                self._untake(event.event_id)

    async def _take(self) -> Event | None:
        """The next event for a slot.

        A take is two steps in Redis (move the id into our processing list, then claim it). When
        Redis dies before its answer reaches us, either may have happened: the event then sits
        in our processing list, claimed, with its account locked, and nobody runs it (the other
        instances recover the events of dead consumers only, and we live). So after a failed
        take, once no other take of ours is under way and before the next one starts, whatever
        our list holds that no slot took is handed back to the head of the queue."""
        async with self._take_lock:
            if self._take_unsure:
                await self._no_take_under_way.wait()
                await self._hand_back_untaken()
                self._take_unsure = False
            self._takes_under_way += 1
            self._no_take_under_way.clear()
        try:
            event = await self.queue.take(self.consumer, wait_seconds=1.0)
            if event is not None:
                self._taken[event.event_id] = self._taken.get(event.event_id, 0) + 1
            return event
        except RedisError:
            self._take_unsure = True
            raise
        finally:
            self._takes_under_way -= 1
            if not self._takes_under_way:
                self._no_take_under_way.set()

    def _untake(self, event_id: str) -> None:
        left = self._taken.get(event_id, 0) - 1
        if left > 0:
            self._taken[event_id] = left
        else:
            self._taken.pop(event_id, None)

    async def _hand_back_untaken(self) -> None:
        held = await self.queue.redis.lrange(keys.processing(self.consumer), 0, -1)
        for raw in held:
            event_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            if event_id in self._taken or event_id in self._running:
                continue
            result = await self.queue.release(self.consumer, event_id)
            log.warning(
                "event.handed_back",
                event_id=event_id,
                result=result,
                reason="a take whose answer Redis never sent (it went away) left it to us",
            )

    async def _process(self, event: Event) -> None:
        with structlog.contextvars.bound_contextvars(
            event_id=event.event_id, account_id=event.account_id, exec=event.exec.value
        ):
            try:
                await self._process_bound(event)
            finally:
                self._running.pop(event.event_id, None)

    async def _process_bound(self, event: Event) -> None:
        log.info("event.started", times_queued=event.times_queued)
        ctx: CommandContext | None = None
        try:
            account = self._account_for(event)
            ctx = CommandContext(
                event=event,
                account=account,
                settings=self.settings,
                gateway=self.gateway,
                allocations=self.allocations,
                guard=lambda: self._guard(event),
            )
            await self._connect()
            details = await COMMANDS[event.exec](ctx)
        except asyncio.CancelledError:
            await self._settle(lambda: self.queue.release(self.consumer, event.event_id))
            log.warning("event.handed_back", reason="shutdown")
            raise
        except Deleted as deleted:
            await self._finish_deleted(event, deleted.details)
        except Interrupted as interruption:
            await self._settle(lambda: self.queue.release(self.consumer, event.event_id))
            log.warning("event.handed_back", reason=str(interruption))
        except DelayUntil as delay:
            await self._delay(event, delay)
        except CommandFailed as failure:
            await self._fail(event, str(failure), failure.details)
        except Exception as error:  # a bug or an unexpected IB state: never lose the event
            log.exception("event.crashed")
            details = ctx.details if ctx else {}
            await self._fail(event, f"unexpected error: {type(error).__name__}: {error}", details)
        else:
            await self._complete(event, details)

    def _account_for(self, event: Event) -> AccountSettings:
        """The account as configured now; an account that may not trade fails clearly."""
        mode = self.settings.trading_mode
        account = self.accounts.find(event.account_id)
        if account is None or not account.enabled or account.type != mode:
            state = (
                "not in accounts file"
                if account is None
                else ("disabled" if not account.enabled else f"a {account.type.value} account")
            )
            raise CommandFailed(
                f"account {event.account_id} is {state}; this processor trades enabled "
                f"{mode.value} accounts only"
            )
        return self.accounts.settings_for(account)

    async def _connect(self) -> None:
        try:
            await self.gateway.ensure_connected()
        except GatewayError as error:
            raise CommandFailed(str(error)) from None

    async def _guard(self, event: Event) -> None:
        # The delete first: a deleted event stops for good, even while trading is paused.
        if await self.queue.deleted_while_running(event.event_id):
            raise Deleted(DELETED_WHILE_RUNNING)
        if await self.queue.paused():
            raise Interrupted("trading paused through the management API")
        if not await self.queue.owns(self.consumer, event.event_id):
            raise Interrupted("this processor no longer holds the event")

    # --- outcomes ----------------------------------------------------------------------------

    async def _complete(self, event: Event, details: Details) -> None:
        result = await self._settle(lambda: self.queue.complete(self.consumer, event, details))
        log.info("event.completed", result=result)
        if event.exec in (Command.REBALANCE, Command.PRINT_REBALANCE):
            orders = details.get("orders") or details.get("plan", {}).get("sells", [])
            observe = bool(details.get("observe_only"))
            planned = details.get("plan", {})
            shown = orders if not observe else planned.get("sells", []) + planned.get("buys", [])
            await self.notifier.rebalance_done(event.account_id, event.event_id, shown, observe)

    async def _finish_deleted(self, event: Event, details: Details) -> None:
        result = await self._settle(
            lambda: self.queue.finish_deleted(self.consumer, event, details)
        )
        log.warning(
            "event.deleted",
            result=result,
            orders=len(details.get("orders", [])),
            reason=DELETED_WHILE_RUNNING,
        )

    async def _fail(self, event: Event, error: str, details: Details) -> None:
        log.warning("event.failed", error=error, retry_in=self.settings.retry_delay_seconds)
        await self._settle(
            lambda: self.queue.fail(
                self.consumer, event, error, self.settings.retry_delay_seconds, details
            )
        )
        await self.notifier.event_failed(
            event.account_id, event.event_id, error, event.times_queued
        )

    async def _delay(self, event: Event, delay: DelayUntil) -> None:
        # The opening time is on IB's clock; the delayed set is scored on ours.
        try:
            ib_now = await self.gateway.server_time()
        except GatewayError:
            ib_now = datetime.now(UTC)
        ready_at = time.time() + max((delay.ready_at - ib_now).total_seconds(), 0.0)
        log.info("event.delayed", until=delay.ready_at.isoformat(), reason=delay.reason)
        await self._settle(
            lambda: self.queue.delay(self.consumer, event, ready_at, delay.reason, delay.details)
        )
        await self.notifier.delayed_to_open(
            event.account_id, event.event_id, delay.ready_at, delay.reason
        )

    async def _settle(self, action: Callable[[], Awaitable[T]]) -> T | None:
        """Record an outcome; Redis outages are waited out (the event stays ours meanwhile)."""
        try:
            return await self._redis_retry(action)
        except NotOwnedError as error:
            log.error("event.not_owned", error=str(error))
            return None

    async def _redis_retry(self, action: Callable[[], Awaitable[T]]) -> T:
        while True:
            try:
                return await action()
            except RedisError as error:
                log.error("redis.unavailable", error=str(error))
                if self._stopping.is_set():
                    raise
                await self._sleep_unless_stopping(REDIS_RETRY_SECONDS)

    # --- background --------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        # Beats on through the shutdown grace: events still running are ours until they end.
        while not self._finished.is_set():
            try:
                alive = await self.queue.heartbeat(self.consumer)
                if not alive:
                    await self._declared_dead()
                await heartbeats.beat(
                    self.queue.redis,
                    self._service_name,
                    self.settings.consumer_heartbeat_seconds,
                    consumer=self.consumer,
                    gateway_connected=self.gateway.connected,
                    in_flight=len(self._running),
                    paused=self._paused,
                )
                await self._watch_gateway()
            except RedisError as error:
                log.error("heartbeat.failed", error=str(error))
            await self._sleep_unless_finished(self.settings.consumer_heartbeat_seconds)

    async def _declared_dead(self) -> None:
        """Another instance recovered our events: stop working on them, then start afresh."""
        log.error("processor.declared_dead", in_flight=list(self._running))
        for task in list(self._running.values()):
            task.cancel()
        await self.queue.register_consumer(self.consumer)

    async def _watch_gateway(self) -> None:
        if self.gateway.connected:
            if self._gateway_alert_sent:
                await self.notifier.gateway_back()
            self._gateway_down_since, self._gateway_alert_sent = None, False
            return
        now = time.monotonic()
        if self._gateway_down_since is None:
            self._gateway_down_since = now
        down_minutes = (now - self._gateway_down_since) / 60
        if not self._gateway_alert_sent and down_minutes >= self.settings.gateway_alert_minutes:
            self._gateway_alert_sent = True
            await self.notifier.gateway_unreachable(down_minutes)

    async def _upkeep_loop(self) -> None:
        # On through the shutdown grace too: a pause must still reach the running events.
        while not self._finished.is_set():
            try:
                self._paused = await self.queue.paused() is not None
                await self.queue.promote_due()
                recovered = await self.queue.recover_dead_consumers(
                    self.settings.consumer_dead_after_seconds, exclude=self.consumer
                )
                if recovered:
                    log.warning("queue.recovered", event_ids=recovered)
            except RedisError as error:
                log.error("upkeep.failed", error=str(error))
            await self._sleep_unless_finished(UPKEEP_SECONDS)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        await sleep_unless(self._stopping, seconds)

    async def _sleep_unless_finished(self, seconds: float) -> None:
        await sleep_unless(self._finished, seconds)
