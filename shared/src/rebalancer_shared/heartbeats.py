"""Service heartbeats in Redis, for the management API's health view.

Each running service writes `service_heartbeats[name] = {"at": unix time, ...facts}` every few
seconds. Processor instances use `event-processor:{consumer}` as name so several can run; their
facts include `gateway_connected`. The broker writes `event-broker` with `stream_connected`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from rebalancer_shared import keys


@dataclass(frozen=True)
class ServiceHeartbeat:
    name: str
    at: float
    facts: dict[str, Any] = field(default_factory=dict)

    def age_seconds(self, now: float | None = None) -> float:
        return max((now or time.time()) - self.at, 0.0)


async def beat(redis: Redis, name: str, **facts: Any) -> None:
    await redis.hset(keys.SERVICE_HEARTBEATS, name, json.dumps({"at": time.time(), **facts}))


async def forget(redis: Redis, name: str) -> None:
    """A clean shutdown removes its heartbeat, so the health view does not show a stale one."""
    await redis.hdel(keys.SERVICE_HEARTBEATS, name)


async def read_all(redis: Redis) -> list[ServiceHeartbeat]:
    raw: dict[Any, Any] = await redis.hgetall(keys.SERVICE_HEARTBEATS)
    beats = []
    for name, value in raw.items():
        data = json.loads(value)
        at = float(data.pop("at", 0.0))
        key = name.decode() if isinstance(name, bytes) else str(name)
        beats.append(ServiceHeartbeat(name=key, at=at, facts=data))
    return sorted(beats, key=lambda beat: beat.name)
