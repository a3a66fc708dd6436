"""The broker: stream messages in, one queued event per account out. Wires the parts together.

EventSource ──message──▶ parse_message ──▶ events_for_message ──▶ Outbox ──▶ EventQueue
(Ably or Socket.IO)       (or dropped,        (one per enabled         (held while
     │                     and counted)       account)                  Redis is away)
     └──subscribed──▶ CatchUp ───────────────────────────────────────▶
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from functools import partial
from typing import Any

from rebalancer_shared.config import AccountsConfig
from rebalancer_shared.events import Command
from rebalancer_shared.log import get_logger
from rebalancer_shared.queue import EventQueue
from rebalancer_shared.settings import EventsTransport, Settings
from redis.asyncio import Redis

from event_broker.allocations import AllocationsReader
from event_broker.catchup import CatchUp
from event_broker.fanout import events_for_message
from event_broker.heartbeat import forget, heartbeat_loop
from event_broker.messages import Delivered, Dropped, parse_message
from event_broker.outbox import Delivery, Outbox
from event_broker.settings import BrokerSettings
from event_broker.socketio_source import SocketIOSource
from event_broker.source import EventSource

log = get_logger(__name__)

REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
STOP_LISTENING_TIMEOUT_SECONDS = 5.0
LOGGED_TEXT_LENGTH = 2048
"""A dropped message's fields are cut to this in its log line: garbage must not flood the log."""


class Broker:
    def __init__(self, settings: Settings, tunables: BrokerSettings, config: AccountsConfig):
        self.mode = settings.trading_mode
        self.config = config
        self.tunables = tunables
        self.strategies = config.strategies(self.mode)
        self.redis = Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
            socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        )
        self.outbox = Outbox(
            self.redis,
            EventQueue(self.redis),
            capacity=tunables.max_held_events,
            seen_ttl_seconds=tunables.seen_ttl_seconds,
            retry_max_seconds=tunables.redis_retry_max_seconds,
        )
        self.allocations = AllocationsReader(
            settings.allocations_api_url,
            settings.allocations_api_key,
            tunables.allocations_timeout_seconds,
        )
        self.dropped_messages = 0
        self.stream = self._source(settings, tunables)
        self.catch_up = CatchUp(
            self.redis,
            self.outbox,
            self.allocations,
            config,
            self.mode,
            current_connection=self.stream.current_connection,
            retry_min_seconds=tunables.catchup_retry_min_seconds,
            retry_max_seconds=tunables.catchup_retry_max_seconds,
        )

    def _source(self, settings: Settings, tunables: BrokerSettings) -> EventSource:
        common: dict[str, Any] = {
            "on_message": self.on_message,
            "on_subscribed": self.on_subscribed,
            "reconnect_min_seconds": tunables.reconnect_min_seconds,
            "reconnect_max_seconds": tunables.reconnect_max_seconds,
            "timeout_seconds": tunables.connect_timeout_seconds,
        }
        url = settings.zehnlabs_events_url
        key = settings.rebalance_event_subscription_api_key
        if settings.zehnlabs_events_transport is EventsTransport.SOCKETIO:
            return SocketIOSource(
                url, key, self.strategies, socketio_path=tunables.socketio_path, **common
            )
        # Imported here: the SDK is only loaded when it is used.
        from event_broker.ably_source import AblySource

        return AblySource(
            url,
            key,
            self.strategies,
            retry_seconds=tunables.ably_retry_seconds,
            binary_protocol=tunables.ably_binary_protocol,
            **common,
        )

    def on_message(self, delivered: Delivered | Dropped, connection: int) -> None:
        """One stream message: validate, fan out, hand to the outbox. Never raises."""
        try:
            parsed = (
                parse_message(delivered, self.strategies)
                if isinstance(delivered, Delivered)
                else delivered
            )
            if isinstance(parsed, Dropped):
                self._dropped(parsed)
                return
            events = events_for_message(parsed, self.config, self.mode)
            log.info(
                "message.received",
                message_id=parsed.id,
                strategy=parsed.strategy,
                exec=parsed.command.value,
                accounts=[event.account_id for event in events],
            )
            on_delivered = None
            if parsed.command is Command.REBALANCE:
                on_delivered = partial(
                    self.catch_up.live_rebalance_delivered, parsed.strategy, connection
                )
            self.outbox.submit(
                Delivery(
                    label=f"message {parsed.id}",
                    events=deque(events),
                    message_id=parsed.id,
                    on_delivered=on_delivered,
                )
            )
        except Exception:
            self.dropped_messages += 1
            log.exception("message.dropped", reason="unexpected error while handling it")

    def _dropped(self, dropped: Dropped) -> None:
        self.dropped_messages += 1
        log.warning(
            "message.dropped",
            reason=_cut(dropped.reason),
            message_id=_cut(dropped.message_id),
            strategy=_cut(dropped.strategy),
            transport=self.stream.transport,
        )

    def on_subscribed(self, connection: int, strategies: list[str]) -> None:
        self.catch_up.start(strategies)

    def facts(self) -> dict[str, Any]:
        return {
            "stream_connected": self.stream.connected,
            "transport": self.stream.transport,
            "subscribed": list(self.stream.subscribed),
            "dropped_messages": self.dropped_messages,
            "held_events": self.outbox.held_events,
            "trading_mode": self.mode.value,
        }

    async def run(self, stop: asyncio.Event) -> int:
        """Until `stop` is set; then stop listening, flush what Redis takes, exit 0."""
        log.info(
            "broker.starting",
            trading_mode=self.mode.value,
            strategies=self.strategies,
            accounts=[account.account_id for account in self.config.active(self.mode)],
            transport=self.stream.transport,
            events_url=self.stream.url,
        )
        if not self.strategies:
            log.warning(
                "broker.no_accounts",
                trading_mode=self.mode.value,
                reason="no enabled account of this trading mode in accounts.yaml: nothing to "
                "subscribe to",
            )
        tasks = {
            asyncio.create_task(self.outbox.run(), name="outbox"),
            asyncio.create_task(
                heartbeat_loop(self.redis, self.tunables.heartbeat_seconds, self.facts),
                name="heartbeat",
            ),
            asyncio.create_task(self.stream.run(stop), name="stream"),
        }
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
        exit_code = 0
        for task in done - {stopper}:
            # None of these ends by itself: one that did is a bug; exit so it gets restarted.
            log.critical(
                "broker.task_died",
                task=task.get_name(),
                error=repr(task.exception()) if not task.cancelled() else "cancelled",
            )
            exit_code = 1
        stop.set()
        log.info("broker.stopping", held_events=self.outbox.held_events)
        await self._shutdown(tasks)
        return exit_code

    async def _shutdown(self, tasks: set[asyncio.Task[None]]) -> None:
        by_name = {task.get_name(): task for task in tasks}
        stream = by_name["stream"]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stream, STOP_LISTENING_TIMEOUT_SECONDS)
        await self.catch_up.stop()
        by_name["heartbeat"].cancel()
        drained = await self.outbox.drain(self.tunables.shutdown_flush_seconds)
        by_name["outbox"].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        lost = 0 if drained else self.outbox.abandon()
        await forget(self.redis, REDIS_SOCKET_TIMEOUT_SECONDS)
        await self.allocations.close()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        log.info("broker.stopped", lost_events=lost)


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= LOGGED_TEXT_LENGTH:
        return text
    return text[: LOGGED_TEXT_LENGTH - 3] + "..."
