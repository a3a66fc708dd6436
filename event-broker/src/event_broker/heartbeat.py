"""The broker's heartbeat in Redis, for the management API's health view."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rebalancer_shared import heartbeats
from rebalancer_shared.log import get_logger
from redis.asyncio import Redis

from event_broker.outbox import REDIS_DOWN

log = get_logger(__name__)

SERVICE = "event-broker"


async def heartbeat_loop(redis: Redis, every_seconds: float, facts: Callable[[], Any]) -> None:
    """Write `service_heartbeats["event-broker"]` every few seconds, forever (cancel to stop).

    `facts()` gives what the health view shows: `stream_connected`, `subscribed` (the strategies
    the server confirmed) and `held_events` (received, waiting for Redis).
    """
    failing = False
    while True:
        try:
            await heartbeats.beat(redis, SERVICE, every_seconds, **facts())
        except REDIS_DOWN as error:
            if not failing:
                log.warning("heartbeat.failed", error=f"{type(error).__name__}: {error}")
            failing = True
        else:
            if failing:
                log.info("heartbeat.restored")
            failing = False
        await asyncio.sleep(every_seconds)


async def forget(redis: Redis, timeout_seconds: float) -> None:
    """A clean exit removes the heartbeat (best effort: Redis may be away)."""
    try:
        await asyncio.wait_for(heartbeats.forget(redis, SERVICE), timeout_seconds)
    except REDIS_DOWN as error:
        log.warning("heartbeat.not_removed", error=f"{type(error).__name__}: {error}")
