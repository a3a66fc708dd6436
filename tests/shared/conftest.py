"""Queue fixtures: the real redis-server by default; fakeredis where speed helps."""

from __future__ import annotations

from collections.abc import AsyncIterator

import fakeredis
import pytest
from rebalancer_shared.queue import EventQueue
from redis.asyncio import Redis


@pytest.fixture(params=["redis-server", "fakeredis"])
async def any_queue(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[EventQueue]:
    """For rules that do not block: run them on the real server and on fakeredis (fast)."""
    client: Redis
    if request.param == "fakeredis":
        client = fakeredis.FakeAsyncRedis(decode_responses=True)
    else:
        client = Redis.from_url(redis_url, decode_responses=True)
    yield EventQueue(client)
    await client.aclose()
