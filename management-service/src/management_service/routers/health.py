"""`GET /health`: healthy while nothing waits for retry (as the original), plus who is alive."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response, status
from rebalancer_shared import heartbeats
from rebalancer_shared.heartbeats import ServiceHeartbeat
from redis.exceptions import RedisError

from management_service.deps import Queue, RedisClient, State
from management_service.models import HealthStatus, ServiceStatus
from management_service.timefmt import from_unix

router = APIRouter(tags=["health"])

PROCESSOR_PREFIX = "event-processor"


def service_statuses(
    beats: list[ServiceHeartbeat], dead_after_seconds: float, now: float
) -> list[ServiceStatus]:
    return [
        ServiceStatus(
            name=beat.name,
            last_seen_at=from_unix(beat.at),
            age_seconds=round(beat.age_seconds(now), 3),
            # A processor not heard of for the dead time has its events recovered by others:
            # stale for sure; any service after missing a few of its own beats.
            stale=beat.stale(now, dead_after_seconds)
            or (is_processor(beat.name) and beat.age_seconds(now) > dead_after_seconds),
            facts=beat.facts,
        )
        for beat in beats
    ]


def is_processor(name: str) -> bool:
    return name.split(":", 1)[0] == PROCESSOR_PREFIX


def gateway_connected(services: list[ServiceStatus]) -> bool | None:
    """Whether a live processor is connected to IB Gateway; None when no processor reported."""
    processors = [s for s in services if is_processor(s.name)]
    if not processors:
        return None
    return any(s.facts.get("gateway_connected") is True and not s.stale for s in processors)


@router.get(
    "/health",
    response_model=HealthStatus,
    summary="Service health",
    responses={503: {"model": HealthStatus, "description": "Redis cannot be read."}},
)
async def health(
    state: State, queue: Queue, redis: RedisClient, response: Response
) -> HealthStatus:
    try:
        counts = await queue.counts()
        paused = await queue.paused()
        beats = await heartbeats.read_all(redis)
    except (RedisError, OSError) as error:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthStatus(
            status="error",
            healthy=False,
            retry_events_count=0,
            message=f"Redis cannot be read: {error}",
        )
    services = service_statuses(beats, state.settings.consumer_dead_after_seconds, time.time())
    retry = counts.retry_events_count
    healthy = retry == 0
    message = (
        "No events waiting for retry"
        if healthy
        else f"{retry} event{'s' if retry != 1 else ''} waiting for retry"
    )
    if paused:
        message += "; processing is paused"
    return HealthStatus(
        status="healthy" if healthy else "unhealthy",
        healthy=healthy,
        retry_events_count=retry,
        message=message,
        delayed_events_count=counts.delayed_events_count,
        paused=paused is not None,
        paused_by=str(paused.get("by")) if paused else None,
        paused_at=str(paused.get("at")) if paused else None,
        gateway_connected=gateway_connected(services),
        services=services,
    )
