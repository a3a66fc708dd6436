"""`GET /health`: the original's fields, heartbeats, gateway state, pause, and 503 without Redis."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from rebalancer_shared import heartbeats, keys
from rebalancer_shared.queue import EventQueue
from redis.asyncio import Redis

from tests.management.conftest import api_client, make_settings
from tests.management.helpers import in_retry, make_event
from tests.support.processes import free_port


async def test_healthy_when_nothing_waits_for_retry(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["healthy"] is True
    assert body["retry_events_count"] == 0
    assert body["message"] == "No events waiting for retry"
    assert body["paused"] is False
    assert body["services"] == []
    assert body["gateway_connected"] is None


async def test_unhealthy_while_an_event_waits_for_retry(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    await in_retry(queue, make_event("DU1234567", "rebalance"))

    response = await client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["healthy"] is False
    assert body["retry_events_count"] == 1
    assert body["message"] == "1 event waiting for retry"


async def test_services_and_gateway_connection_from_heartbeats(
    client: httpx.AsyncClient, redis_client: Redis
) -> None:
    await heartbeats.beat(redis_client, "event-broker", stream_connected=True)
    await heartbeats.beat(
        redis_client, "event-processor:proc-1", gateway_connected=True, consumer="proc-1"
    )

    body = (await client.get("/health")).json()

    assert body["gateway_connected"] is True
    services = {service["name"]: service for service in body["services"]}
    assert set(services) == {"event-broker", "event-processor:proc-1"}
    assert services["event-broker"]["facts"] == {"stream_connected": True}
    assert services["event-processor:proc-1"]["facts"]["gateway_connected"] is True
    assert 0 <= services["event-broker"]["age_seconds"] < 5
    assert services["event-broker"]["stale"] is False


async def test_each_service_is_stale_after_missing_three_of_its_own_beats(
    client: httpx.AsyncClient, redis_client: Redis
) -> None:
    # The demo's broker beats every 5 s while the processors' dead time is 3 s: it must not
    # show as stale between two beats.
    now = time.time()
    beats = {
        "event-broker": {"at": now - 6, "every_seconds": 5.0, "stream_connected": True},
        "event-broker-b": {"at": now - 16, "every_seconds": 5.0},
        "event-processor:proc-1": {"at": now - 1, "every_seconds": 0.5},
        "event-processor:proc-2": {"at": now - 2, "every_seconds": 0.5},
    }
    for name, body in beats.items():
        await redis_client.hset(keys.SERVICE_HEARTBEATS, name, json.dumps(body))

    services = {s["name"]: s for s in (await client.get("/health")).json()["services"]}

    assert services["event-broker"]["stale"] is False  # 6 s, one beat late
    assert services["event-broker-b"]["stale"] is True  # 16 s: three beats missed
    assert services["event-processor:proc-1"]["stale"] is False
    assert services["event-processor:proc-2"]["stale"] is True  # 2 s: four beats of 0.5 s
    assert "every_seconds" not in services["event-broker"]["facts"]


async def test_gateway_counts_as_disconnected_when_the_processor_went_silent(
    client: httpx.AsyncClient, redis_client: Redis
) -> None:
    a_minute_ago = time.time() - 60
    await redis_client.hset(
        keys.SERVICE_HEARTBEATS,
        "event-processor:proc-1",
        json.dumps({"at": a_minute_ago, "gateway_connected": True}),
    )

    body = (await client.get("/health")).json()

    assert body["gateway_connected"] is False
    assert body["services"][0]["stale"] is True
    assert body["services"][0]["age_seconds"] >= 59


async def test_gateway_disconnected_reported_by_the_processor(
    client: httpx.AsyncClient, redis_client: Redis
) -> None:
    await heartbeats.beat(redis_client, "event-processor:proc-1", gateway_connected=False)

    assert (await client.get("/health")).json()["gateway_connected"] is False


async def test_health_shows_the_pause(client: httpx.AsyncClient, queue: EventQueue) -> None:
    await queue.pause(by="ops")

    body = (await client.get("/health")).json()

    assert body["paused"] is True
    assert body["paused_by"] == "ops"
    assert body["paused_at"]
    assert body["message"] == "No events waiting for retry; processing is paused"


async def test_health_is_503_error_when_redis_cannot_be_read(accounts_file: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    redis = Redis.from_url(nowhere, decode_responses=True, socket_connect_timeout=1)
    async with api_client(make_settings(accounts_file, nowhere), redis) as client:
        health = await client.get("/health")
        status = await client.get("/queue/status")
    await redis.aclose()

    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "error"
    assert body["healthy"] is False
    assert body["retry_events_count"] == 0
    assert body["message"].startswith("Redis cannot be read")
    assert status.status_code == 503
    assert status.json()["detail"].startswith("Redis cannot be read")
