"""`GET /metrics`: Prometheus text read from Redis on every scrape.

Each scrape reads the queue once (asynchronously) into a `Snapshot`; a custom collector turns
the snapshot into metric families on a registry of that scrape only, so nothing is cached
between scrapes and several service instances report the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rebalancer_shared import heartbeats
from rebalancer_shared.events import Outcome
from rebalancer_shared.queue import QueueCounts
from redis.exceptions import RedisError

from management_service.deps import Queue, RedisClient
from management_service.routers.accounts import HISTORY_SCAN, last_attempts
from management_service.timefmt import parse_iso

router = APIRouter(tags=["metrics"])

OUTCOMES = tuple(outcome.value for outcome in Outcome)
ORDERS_PLACED = "orders_placed"
DUPLICATES = "duplicates"


@dataclass
class Snapshot:
    """What one scrape read from Redis."""

    redis_up: bool
    counts: QueueCounts | None = None
    counters: dict[str, int] = field(default_factory=dict)
    paused: bool = False
    last_success_age: dict[str, float] = field(default_factory=dict)
    heartbeat_age: dict[str, float] = field(default_factory=dict)
    gateway_connected: dict[str, bool] = field(default_factory=dict)
    stream_connected: dict[str, bool] = field(default_factory=dict)
    dropped_messages: dict[str, int] = field(default_factory=dict)


class SnapshotCollector(Collector):
    """Metric families of one snapshot; names start with `rebalancer_`."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        yield GaugeMetricFamily(
            "rebalancer_redis_up", "1 when Redis could be read for this scrape.", snap.redis_up
        )
        if snap.counts is None:
            return
        counts = snap.counts
        sizes = GaugeMetricFamily(
            "rebalancer_queue_events", "Events in the queue by type.", labels=["type"]
        )
        sizes.add_metric(["queued"], counts.queue_length)
        sizes.add_metric(["retry"], counts.retry_events_count)
        sizes.add_metric(["delayed"], counts.delayed_events_count)
        sizes.add_metric(["processing"], counts.processing_count)
        yield sizes
        yield GaugeMetricFamily(
            "rebalancer_active_events",
            "Events queued, in flight or waiting (one per account and command).",
            counts.active_events_count,
        )
        yield GaugeMetricFamily(
            "rebalancer_oldest_event_age_seconds",
            "Age of the oldest active event (0 when none).",
            counts.oldest_event_age_seconds or 0.0,
        )
        done = CounterMetricFamily(
            "rebalancer_events", "Finished attempts by outcome.", labels=["outcome"]
        )
        for outcome in OUTCOMES:
            done.add_metric([outcome], snap.counters.get(outcome, 0))
        yield done
        yield CounterMetricFamily(
            "rebalancer_duplicate_events",
            "Events dropped at enqueue as duplicates of an active one.",
            snap.counters.get(DUPLICATES, 0),
        )
        yield CounterMetricFamily(
            "rebalancer_orders_placed",
            "Orders placed with IB Gateway.",
            snap.counters.get(ORDERS_PLACED, 0),
        )
        yield GaugeMetricFamily(
            "rebalancer_processing_paused", "1 while processing is paused.", int(snap.paused)
        )
        success = GaugeMetricFamily(
            "rebalancer_last_success_age_seconds",
            "Seconds since each account's last successful event.",
            labels=["account_id"],
        )
        for account, age in sorted(snap.last_success_age.items()):
            success.add_metric([account], age)
        yield success
        beats = GaugeMetricFamily(
            "rebalancer_service_heartbeat_age_seconds",
            "Seconds since each service's last heartbeat.",
            labels=["service"],
        )
        for name, age in sorted(snap.heartbeat_age.items()):
            beats.add_metric([name], age)
        yield beats
        gateway = GaugeMetricFamily(
            "rebalancer_gateway_connected",
            "1 when the event-processor instance reports a connection to IB Gateway.",
            labels=["service"],
        )
        for name, connected in sorted(snap.gateway_connected.items()):
            gateway.add_metric([name], int(connected))
        yield gateway
        stream = GaugeMetricFamily(
            "rebalancer_stream_connected",
            "1 when the event-broker instance reports a connection to the Zehnlabs stream.",
            labels=["service"],
        )
        for name, connected in sorted(snap.stream_connected.items()):
            stream.add_metric([name], int(connected))
        yield stream
        dropped = CounterMetricFamily(
            "rebalancer_stream_dropped_messages",
            "Stream messages the broker dropped as invalid since it started (see its log).",
            labels=["service"],
        )
        for name, count in sorted(snap.dropped_messages.items()):
            dropped.add_metric([name], count)
        yield dropped


async def read_snapshot(queue: Queue, redis: RedisClient) -> Snapshot:
    now = time.time()
    try:
        counts = await queue.counts(now)
        counters = await queue.counters()
        paused = await queue.paused()
        records = await queue.history(limit=HISTORY_SCAN)
        beats = await heartbeats.read_all(redis)
    except (RedisError, OSError):
        return Snapshot(redis_up=False)
    _, success = last_attempts(records)
    last_success_age = {}
    for account, record in success.items():
        finished = parse_iso(record.get("finished_at"))
        if finished is not None:
            last_success_age[account] = max(now - finished.timestamp(), 0.0)
    return Snapshot(
        redis_up=True,
        counts=counts,
        counters=counters,
        paused=paused is not None,
        last_success_age=last_success_age,
        heartbeat_age={beat.name: beat.age_seconds(now) for beat in beats},
        gateway_connected={
            beat.name: bool(beat.facts["gateway_connected"])
            for beat in beats
            if "gateway_connected" in beat.facts
        },
        stream_connected={
            beat.name: bool(beat.facts["stream_connected"])
            for beat in beats
            if "stream_connected" in beat.facts
        },
        dropped_messages={
            beat.name: int(beat.facts["dropped_messages"])
            for beat in beats
            if isinstance(beat.facts.get("dropped_messages"), int)
        },
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(queue: Queue, redis: RedisClient) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(await read_snapshot(queue, redis)))
    return Response(content=generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)
