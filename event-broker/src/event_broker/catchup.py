"""Catch-up: the rebalance a strategy published while the broker was not listening.

Neither stream keeps anything for a client that was away (Ably only within a resumed
connection). After every successful subscribe without continuity (so at start, after every
Socket.IO reconnect, and after an Ably reconnect or attach that did not resume) each such
strategy is checked: its
`last_rebalance_on` from the allocations API against the one recorded in Redis
(`zehnlabs_last_rebalance_on`).

- nothing recorded (a fresh install, or a strategy new in accounts.yaml): record it, enqueue
  nothing. A fresh install never trades by surprise.
- the API's value is newer: enqueue a `rebalance` for every enabled account of the strategy
  (payload `{"catch_up": true, "last_rebalance_on": ...}`), then record the value. Both go
  through the outbox, in that order, so a crash in between repeats the catch-up (deduplicated by
  the queue) rather than skipping it.
- otherwise: nothing to do.

The subscribe comes first: anything published after it arrives live, anything before it shows
in `last_rebalance_on`. A check that fails (API or Redis down) is retried with a growing delay
until it works or the connection ends (the next connection checks again).

A live `rebalance` moves the recorded value on too, or a restart would catch up on a publication
already enqueued: once its events are enqueued, `last_rebalance_on` is read from the API and
recorded, but only if the connection it arrived on is still up (checked before and after the
read). After a disconnect the value could already include a publication the broker missed, and
that one must be left for the next connection's catch-up to find. What remains: a connection
that is dead but not yet noticed (up to the Engine.IO ping timeout) while a second rebalance of
the same strategy is published and the first one's read happens after it. The second is then
recorded without being enqueued; the first one's events, if not yet run, trade to the latest
weights anyway.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from rebalancer_shared.backoff import Backoff
from rebalancer_shared.config import AccountsConfig
from rebalancer_shared.log import get_logger
from rebalancer_shared.settings import TradingMode
from redis.asyncio import Redis

from event_broker.allocations import AllocationsError, AllocationsReader
from event_broker.fanout import catch_up_events
from event_broker.outbox import REDIS_DOWN, Delivery, Outbox, Record, read_recorded
from event_broker.timestamps import compare

log = get_logger(__name__)

LIVE_RECORD_ATTEMPTS = 5
"""Reads of `last_rebalance_on` after a live rebalance before giving up on recording it."""


class CatchUp:
    def __init__(
        self,
        redis: Redis,
        outbox: Outbox,
        allocations: AllocationsReader,
        config: AccountsConfig,
        mode: TradingMode,
        current_connection: Callable[[], int | None],
        retry_min_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        self._redis = redis
        self._outbox = outbox
        self._allocations = allocations
        self._config = config
        self._mode = mode
        self._current_connection = current_connection
        self._retry_min = retry_min_seconds
        self._retry_max = retry_max_seconds
        self._task: asyncio.Task[None] | None = None
        # The strategies of the running round that are not checked yet.
        self._unchecked: list[str] = []
        self._live_tasks: set[asyncio.Task[None]] = set()
        # (strategy, last_rebalance_on) catch-ups handed to the outbox and not yet written.
        self._in_outbox: set[tuple[str, str]] = set()

    # --- after a (re)connect ---------------------------------------------------------------

    def start(self, strategies: Sequence[str]) -> None:
        """Check these strategies now. A round still running is replaced by one that checks
        its unchecked strategies too (an Ably source asks per channel, one after another)."""
        pending = list(strategies)
        if self._task is not None and not self._task.done():
            self._task.cancel()
            pending = list(dict.fromkeys([*self._unchecked, *pending]))
        self._unchecked = pending
        self._task = asyncio.create_task(self._run(list(pending)), name="catch-up")

    async def _run(self, strategies: list[str]) -> None:
        backoff = Backoff(self._retry_min, self._retry_max)
        pending = strategies
        while pending:
            failed = []
            for strategy in pending:
                try:
                    await self._check(strategy)
                except (AllocationsError, *REDIS_DOWN) as error:
                    failed.append(strategy)
                    log.warning("catch_up.check_failed", strategy=strategy, error=str(error))
                else:
                    if strategy in self._unchecked:
                        self._unchecked.remove(strategy)
            pending = failed
            if pending:
                delay = backoff.next()
                log.warning(
                    "catch_up.retrying",
                    strategies=pending,
                    retry_in_seconds=round(delay, 2),
                    reason="a rebalance published while the broker was away is only found by "
                    "this check",
                )
                await asyncio.sleep(delay)
        log.info("catch_up.done", strategies=strategies)

    async def _check(self, strategy: str) -> None:
        published = await self._allocations.last_rebalance_on(strategy)
        recorded = await read_recorded(self._redis, strategy)
        fields = {"strategy": strategy, "last_rebalance_on": published, "recorded": recorded}
        if recorded is None:
            log.info(
                "catch_up.first_seen",
                reason="no last_rebalance_on recorded for this strategy yet: recorded only, "
                "nothing enqueued",
                **fields,
            )
            self._outbox.submit(
                Delivery(label=f"first seen {strategy}", record=Record(strategy, published))
            )
            return
        comparison = compare(published, recorded)
        if comparison.as_strings:
            log.warning(
                "catch_up.unparsable_timestamp",
                reason="last_rebalance_on is not ISO-8601; compared as strings",
                **fields,
            )
        if not comparison.newer:
            log.info("catch_up.up_to_date", **fields)
            return
        if (strategy, published) in self._in_outbox:
            log.info("catch_up.already_pending", **fields)
            return
        events = catch_up_events(strategy, published, self._config, self._mode)
        log.warning(
            "catch_up.missed_rebalance",
            accounts=[event.account_id for event in events],
            reason="a rebalance was published while the broker was not listening; enqueueing it",
            **fields,
        )
        key = (strategy, published)
        delivery = Delivery(
            label=f"catch-up {strategy}",
            events=deque(events),
            record=Record(strategy, published),
            on_delivered=lambda: self._in_outbox.discard(key),
        )
        if self._outbox.submit(delivery):
            self._in_outbox.add(key)

    # --- after a live rebalance --------------------------------------------------------------

    def live_rebalance_delivered(self, strategy: str, connection: int) -> None:
        """A live `rebalance` of `strategy`, received on `connection`, is enqueued."""
        if connection != self._current_connection():
            log.info(
                "catch_up.live_record_skipped",
                strategy=strategy,
                reason="reconnected since the event arrived: the new connection's catch-up decides",
            )
            return
        task = asyncio.create_task(self._record_live(strategy, connection))
        self._live_tasks.add(task)
        task.add_done_callback(self._live_tasks.discard)

    async def _record_live(self, strategy: str, connection: int) -> None:
        backoff = Backoff(self._retry_min, self._retry_max)
        for _ in range(LIVE_RECORD_ATTEMPTS):
            try:
                published = await self._allocations.last_rebalance_on(strategy)
            except AllocationsError as error:
                log.warning("catch_up.live_record_failed", strategy=strategy, error=str(error))
                await asyncio.sleep(backoff.next())
                continue
            if connection != self._current_connection():
                log.info(
                    "catch_up.live_record_skipped",
                    strategy=strategy,
                    reason="disconnected while reading last_rebalance_on: the next "
                    "connection's catch-up decides",
                )
                return
            self._outbox.submit(
                Delivery(label=f"live rebalance {strategy}", record=Record(strategy, published))
            )
            return
        log.warning(
            "catch_up.live_record_gave_up",
            strategy=strategy,
            consequence="the next catch-up may enqueue this rebalance once more (the queue "
            "drops it while the first is still waiting; a repeated rebalance converges)",
        )

    async def stop(self) -> None:
        tasks = [*self._live_tasks, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
