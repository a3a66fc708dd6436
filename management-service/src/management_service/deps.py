"""Dependencies of the routes: the queue, the configuration, the bearer-token check and JSON.

Each is `async def` though none awaits: FastAPI runs a plain `def` dependency in a worker thread,
a thread hop per dependency and request, and a thread whose malloc arena stays resident (issue 9).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from rebalancer_shared.config import AccountsConfig
from rebalancer_shared.queue import EventQueue
from rebalancer_shared.settings import Settings
from redis.asyncio import Redis

from management_service.security import is_json


@dataclass
class ServiceState:
    """What the routes share, kept on `app.state.service` (the Redis client is set at start)."""

    settings: Settings
    accounts: AccountsConfig
    redis: Redis | None = None
    queue: EventQueue | None = None


async def service_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


State = Annotated[ServiceState, Depends(service_state)]


async def get_queue(state: State) -> EventQueue:
    if state.queue is None:
        raise RuntimeError("the management service was not started: no Redis client yet")
    return state.queue


async def get_redis(state: State) -> Redis:
    if state.redis is None:
        raise RuntimeError("the management service was not started: no Redis client yet")
    return state.redis


Queue = Annotated[EventQueue, Depends(get_queue)]
RedisClient = Annotated[Redis, Depends(get_redis)]

bearer = HTTPBearer(
    auto_error=False,
    description="The MANAGEMENT_API_TOKEN of the service, as `Authorization: Bearer <token>`.",
)


async def require_token(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """401 unless the request carries the configured token (compared in constant time)."""
    expected = state.settings.management_api_token.get_secret_value()
    if not expected:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=(
                "missing or wrong bearer token: send the MANAGEMENT_API_TOKEN as "
                "'Authorization: Bearer <token>'"
            ),
            headers={"WWW-Authenticate": "Bearer"},
        )


async def json_body(request: Request) -> None:
    """415 for a body sent as something else than JSON (a form, text): FastAPI would read it as a
    string and answer 422 about the fields, hiding what is really wrong. No Content-Type at all
    is read as JSON, as FastAPI does."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json(content_type):
        raise HTTPException(
            status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail=f"{request.method} {request.url.path} takes a JSON body: send it with "
            f"'Content-Type: application/json' (this one came as {content_type!r})",
        )
