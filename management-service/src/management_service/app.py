"""The FastAPI application: routers, auth, and a 503 for every route when Redis is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse
from rebalancer_shared.config import AccountsConfig, load_accounts
from rebalancer_shared.log import get_logger
from rebalancer_shared.queue import EventQueue
from rebalancer_shared.settings import Settings
from redis.asyncio import Redis
from redis.exceptions import RedisError

from management_service.deps import ServiceState, require_token
from management_service.models import ErrorResponse
from management_service.routers import (
    accounts,
    dashboard,
    health,
    history,
    metrics,
    processing,
    queue,
)

# Loggers are taken where they are used: `get_logger()` binds at once, so a logger made at import
# time (before `configure_logging`) would keep structlog's default, unredacted console output.

REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "Redis cannot be read."}
}
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."}
}

DESCRIPTION = """\
Watch and control the rebalancer: queue, history, accounts, pause/resume, metrics.

When `MANAGEMENT_API_TOKEN` is set, every endpoint but `/health` and `/metrics` needs
`Authorization: Bearer <token>`. The dashboard is at `/`.
"""


def redis_client(url: str) -> Redis:
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
        socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
    )


def create_app(
    settings: Settings, redis: Redis | None = None, accounts_config: AccountsConfig | None = None
) -> FastAPI:
    """The service over `redis` (or one it opens at start from REDIS_URL).

    accounts.yaml is read here when `accounts_config` is not given: a bad file raises
    ConfigError, so the service never starts half-configured.
    """
    if accounts_config is None:
        accounts_config = load_accounts(settings.accounts_file, settings.replacement_sets_file)
    service = ServiceState(settings=settings, accounts=accounts_config)
    if redis is not None:
        service.redis, service.queue = redis, EventQueue(redis)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service.redis is None
        if owned:
            service.redis = redis_client(settings.redis_url)
            service.queue = EventQueue(service.redis)
        get_logger(__name__).info("management.started", accounts=len(accounts_config.accounts))
        try:
            yield
        finally:
            if owned and service.redis is not None:
                await service.redis.aclose()
                service.redis, service.queue = None, None
            get_logger(__name__).info("management.stopped")

    app = FastAPI(
        title="IBKR Portfolio Rebalancer: management API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=UNAVAILABLE,
    )
    app.state.service = service

    token_set = bool(settings.management_api_token.get_secret_value())
    guarded: dict[str, Any] = (
        {"dependencies": [Depends(require_token)], "responses": UNAUTHORIZED} if token_set else {}
    )
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)
    for router in (queue.router, processing.router, history.router, accounts.router):
        app.include_router(router, **guarded)

    @app.exception_handler(RedisError)
    async def redis_unavailable(request: Request, error: RedisError) -> JSONResponse:
        get_logger(__name__).warning("redis.unavailable", path=request.url.path, error=str(error))
        body = ErrorResponse(detail=f"Redis cannot be read: {error}")
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, content=body.model_dump()
        )

    return app
