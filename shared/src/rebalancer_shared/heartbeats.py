"""Service heartbeats in Redis, for the management API's health view.

Each running service writes `service_heartbeats[name] = {"at": unix time, "every_seconds": its
interval, ...facts}` every few seconds; a heartbeat is stale after STALE_AFTER_BEATS of its own
intervals without a new one (each service beats at its own pace). Processor instances use
`event-processor:{consumer}` as name so several can run; their facts include
`gateway_connected`. The broker writes `event-broker` with `stream_connected`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from rebalancer_shared import keys

STALE_AFTER_BEATS = 3
"""Missed beats before a heartbeat counts as stale: one late beat on a loaded machine is not."""


@dataclass(frozen=True)
class ServiceHeartbeat:
    name: str
    at: float
    facts: dict[str, Any] = field(default_factory=dict)
    every_seconds: float | None = None

    def age_seconds(self, now: float | None = None) -> float:
        return max((now or time.time()) - self.at, 0.0)

    def stale(self, now: float, otherwise_after: float) -> bool:
        """No beat for STALE_AFTER_BEATS of its own intervals (`otherwise_after` seconds for a
        heartbeat that does not say its interval)."""
        limit = (
            STALE_AFTER_BEATS * self.every_seconds
            if self.every_seconds is not None
            else otherwise_after
        )
        return self.age_seconds(now) > limit


async def beat(redis: Redis, name: str, every_seconds: float | None = None, **facts: Any) -> None:
    """Write `name`'s heartbeat; `every_seconds` is how often it beats (its staleness rule)."""
    interval = {} if every_seconds is None else {"every_seconds": every_seconds}
    body = json.dumps({"at": time.time(), **interval, **facts})
    await redis.hset(keys.SERVICE_HEARTBEATS, name, body)


async def forget(redis: Redis, name: str) -> None:
    """A clean shutdown removes its heartbeat, so the health view does not show a stale one."""
    await redis.hdel(keys.SERVICE_HEARTBEATS, name)


async def read_all(redis: Redis) -> list[ServiceHeartbeat]:
    raw: dict[Any, Any] = await redis.hgetall(keys.SERVICE_HEARTBEATS)
    beats = []
    for name, value in raw.items():
        data = json.loads(value)
        at = float(data.pop("at", 0.0))
        every = data.pop("every_seconds", None)
        key = name.decode() if isinstance(name, bytes) else str(name)
        interval = float(every) if isinstance(every, int | float) and every > 0 else None
        beats.append(ServiceHeartbeat(name=key, at=at, facts=data, every_seconds=interval))
    return sorted(beats, key=lambda beat: beat.name)
