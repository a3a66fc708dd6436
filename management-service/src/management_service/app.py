"""The FastAPI application: routers, auth, the browser guards, and a 503 when Redis is down."""

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
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from management_service.deps import ServiceState, require_token
from management_service.methods import AllowedMethods
from management_service.models import ErrorResponse
from management_service.routers import (
    accounts,
    dashboard,
    docs,
    health,
    history,
    metrics,
    processing,
    queue,
)
from management_service.security import (
    INTENT_HEADER,
    INTENT_VALUE,
    RequestGuard,
    declare_intent_header,
    parse_allowed_hosts,
)

log = get_logger(__name__)

REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
REDIS_RECONNECT_RETRIES = 1
"""After a Redis restart every pooled connection is dead, and redis-py finds out only when a
command fails on one: the command is sent once more on a new connection instead of answering 503.
Safe to repeat: each write is one atomic script, and a repeat of one that did run is answered as
a duplicate (enqueue), not found (delete) or the same state (pause, resume)."""

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "Redis cannot be read."}
}
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."}
}

DESCRIPTION = f"""\
Watch and control the rebalancer: queue, history, accounts, pause/resume, metrics.

When `MANAGEMENT_API_TOKEN` is set, every endpoint but `/health` and `/metrics` needs
`Authorization: Bearer <token>`. Without a token, every POST and DELETE needs the header
`{INTENT_HEADER}: {INTENT_VALUE}` (or a JSON body): a form of another web page cannot send it.
The dashboard is at `/`.
"""


class ManagementAPI(FastAPI):
    """FastAPI whose schema also names the header state changes need (when no token is set)."""

    declares_intent_header = False

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None and self.declares_intent_header:
            declare_intent_header(super().openapi())
        return super().openapi()


def redis_client(url: str) -> Redis:
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
        socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        # Not on TimeoutError: a Redis that hangs would then hold each request twice as long.
        retry=Retry(NoBackoff(), REDIS_RECONNECT_RETRIES, supported_errors=(RedisConnectionError,)),
    )


def create_app(
    settings: Settings, redis: Redis | None = None, accounts_config: AccountsConfig | None = None
) -> FastAPI:
    """The service over `redis` (or one it opens at start from REDIS_URL).

    accounts.yaml is read here when `accounts_config` is not given: a bad file (or a bad
    MANAGEMENT_ALLOWED_HOSTS) raises ConfigError, so the service never starts half-configured.
    """
    allowed_hosts = parse_allowed_hosts(settings.management_allowed_hosts)
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
        log.info("management.started", accounts=len(accounts_config.accounts))
        try:
            yield
        finally:
            if owned and service.redis is not None:
                await service.redis.aclose()
                service.redis, service.queue = None, None
            log.info("management.stopped")

    app = ManagementAPI(
        title="IBKR Portfolio Rebalancer: management API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=UNAVAILABLE,
        # Served by routers/docs.py from the swagger-ui-bundle package (FastAPI's load from a
        # CDN); ReDoc has no offline copy here, so it is not served.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service

    token_set = bool(settings.management_api_token.get_secret_value())
    # With a token, the token proves intent; without, state changes need the header (security.py).
    app.declares_intent_header = not token_set
    guarded: dict[str, Any] = (
        {"dependencies": [Depends(require_token)], "responses": UNAUTHORIZED} if token_set else {}
    )
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)
    app.include_router(docs.router)
    for router in (queue.router, processing.router, history.router, accounts.router):
        app.include_router(router, **guarded)

    @app.exception_handler(RedisError)
    async def redis_unavailable(request: Request, error: RedisError) -> JSONResponse:
        log.warning("redis.unavailable", path=request.url.path, error=str(error))
        body = ErrorResponse(detail=f"Redis cannot be read: {error}")
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, content=body.model_dump()
        )

    # The last added runs first: the Host allow-list before anything else.
    app.add_middleware(AllowedMethods, routes=app.router.routes)
    app.add_middleware(RequestGuard, allowed_hosts=allowed_hosts, check_intent=not token_set)
    return app
