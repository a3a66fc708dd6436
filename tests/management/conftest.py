"""Fixtures of the management API tests: accounts files, settings, the app on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from management_service.app import create_app
from rebalancer_shared.settings import Settings, load_settings
from redis.asyncio import Redis

from tests.management.helpers import TOKEN, write_accounts


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    return write_accounts(tmp_path)


def make_settings(accounts_file: Path, redis_url: str, token: str = "") -> Settings:
    """Settings of the tests only: no `.env`, paper mode, the private redis-server."""
    return load_settings(
        _env_file=None,
        redis_url=redis_url,
        accounts_file=accounts_file,
        replacement_sets_file=accounts_file.parent / "replacement-sets.yaml",
        trading_mode="paper",
        management_api_token=token,
    )


@pytest.fixture
def settings(accounts_file: Path, redis_url: str) -> Settings:
    return make_settings(accounts_file, redis_url)


def api_client(settings: Settings, redis: Redis) -> httpx.AsyncClient:
    app = create_app(settings, redis)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client(settings: Settings, redis_client: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings, redis_client) as http:
        yield http


@pytest.fixture
def token_settings(accounts_file: Path, redis_url: str) -> Settings:
    return make_settings(accounts_file, redis_url, token=TOKEN)


@pytest.fixture
async def token_client(
    token_settings: Settings, redis_client: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(token_settings, redis_client) as http:
        yield http
