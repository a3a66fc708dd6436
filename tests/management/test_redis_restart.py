"""A Redis restart (an upgrade, a crash, `docker compose restart redis`) is not seen by the user:
the first request after it is answered, not 503. The service's own Redis client is used (the one
it opens at start from REDIS_URL), against a redis-server the test restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from management_service.app import create_app

from tests.management.conftest import make_settings
from tests.management.helpers import BASE_URL, INTENT
from tests.support.redis_server import RedisServer


async def test_first_request_after_a_redis_restart_is_answered(
    accounts_file: Path, aof_redis: RedisServer
) -> None:
    app = create_app(make_settings(accounts_file, aof_redis.url))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=INTENT) as http,
    ):
        assert (await http.get("/queue/status")).status_code == 200
        assert (await http.post("/processing/pause")).status_code == 200

        await asyncio.to_thread(aof_redis.restart)
        status = await http.get("/queue/status")
        health = await http.get("/health")

        await asyncio.to_thread(aof_redis.restart, hard=True)
        resumed = await http.post("/processing/resume")

    assert status.status_code == 200, status.text
    assert health.status_code == 200, health.text
    assert health.json()["paused"] is True  # append-only file: the pause survived the restart
    assert resumed.status_code == 200, resumed.text
