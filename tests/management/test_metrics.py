"""`GET /metrics`: Prometheus text read from Redis on every scrape."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rebalancer_shared import heartbeats, keys
from rebalancer_shared.queue import EventQueue
from redis.asyncio import Redis

from tests.management.conftest import api_client, make_settings
from tests.management.helpers import (
    SPY_BUY,
    delayed_to_open,
    enqueued,
    in_retry,
    make_event,
    succeeded,
)
from tests.support.processes import free_port


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_report_queue_outcomes_accounts_and_heartbeats(
    client: httpx.AsyncClient, queue: EventQueue, redis_client: Redis
) -> None:
    await succeeded(queue, make_event("DU1234567", "rebalance"), {"orders": [SPY_BUY]})
    await in_retry(queue, make_event("DU7654321", "rebalance"))
    await delayed_to_open(queue, make_event("DU1234567", "print-rebalance"))
    await enqueued(queue, make_event("DU1234567", "print-positions"))
    await queue.enqueue(make_event("DU1234567", "print-positions"))  # a duplicate
    await heartbeats.beat(redis_client, "event-processor:proc-1", gateway_connected=True)
    await queue.pause(by="ops")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)
    assert got[("rebalancer_redis_up", ())] == 1
    assert got[("rebalancer_queue_events", (("type", "queued"),))] == 1
    assert got[("rebalancer_queue_events", (("type", "retry"),))] == 1
    assert got[("rebalancer_queue_events", (("type", "delayed"),))] == 1
    assert got[("rebalancer_queue_events", (("type", "processing"),))] == 0
    assert got[("rebalancer_active_events", ())] == 3
    assert got[("rebalancer_events_total", (("outcome", "succeeded"),))] == 1
    assert got[("rebalancer_events_total", (("outcome", "failed"),))] == 1
    assert got[("rebalancer_events_total", (("outcome", "delayed"),))] == 1
    assert got[("rebalancer_events_total", (("outcome", "deleted"),))] == 0
    assert got[("rebalancer_duplicate_events_total", ())] == 1
    assert got[("rebalancer_orders_placed_total", ())] == 1  # the succeeded event's SPY buy
    assert got[("rebalancer_processing_paused", ())] == 1
    assert 0 <= got[("rebalancer_last_success_age_seconds", (("account_id", "DU1234567"),))] < 60
    assert ("rebalancer_last_success_age_seconds", (("account_id", "DU7654321"),)) not in got
    beat_key = (
        "rebalancer_service_heartbeat_age_seconds",
        (("service", "event-processor:proc-1"),),
    )
    assert 0 <= got[beat_key] < 60
    assert got[("rebalancer_gateway_connected", (("service", "event-processor:proc-1"),))] == 1


async def test_the_brokers_stream_state_and_dropped_messages_are_metrics(
    client: httpx.AsyncClient, redis_client: Redis
) -> None:
    await heartbeats.beat(
        redis_client, "event-broker", stream_connected=True, transport="ably", dropped_messages=12
    )

    got = samples((await client.get("/metrics")).text)

    broker = (("service", "event-broker"),)
    assert got[("rebalancer_stream_connected", broker)] == 1
    assert got[("rebalancer_stream_dropped_messages_total", broker)] == 12


async def test_orders_placed_counter_is_read_from_the_queue_counters(
    client: httpx.AsyncClient, redis_client: Redis
) -> None:
    assert samples((await client.get("/metrics")).text)[("rebalancer_orders_placed_total", ())] == 0

    await redis_client.hincrby(keys.COUNTERS, "orders_placed", 7)

    got = samples((await client.get("/metrics")).text)
    assert got[("rebalancer_orders_placed_total", ())] == 7


async def test_metrics_say_redis_is_down(accounts_file: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    redis = Redis.from_url(nowhere, decode_responses=True, socket_connect_timeout=1)
    async with api_client(make_settings(accounts_file, nowhere), redis) as client:
        response = await client.get("/metrics")
    await redis.aclose()

    assert response.status_code == 200
    assert samples(response.text) == {("rebalancer_redis_up", ()): 0}
