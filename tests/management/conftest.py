"""Fixtures of the management API tests: accounts files, settings, the app on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import pytest
from management_service.app import create_app
from playwright.async_api import Browser, async_playwright
from rebalancer_shared.settings import Settings, load_settings
from redis.asyncio import Redis

from tests.management.helpers import BASE_URL, INTENT, TOKEN, write_accounts
from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    return write_accounts(tmp_path)


def make_settings(
    accounts_file: Path, redis_url: str, token: str = "", allowed_hosts: str = ""
) -> Settings:
    """Settings of the tests only: no `.env`, paper mode, the private redis-server."""
    return load_settings(
        _env_file=None,
        redis_url=redis_url,
        accounts_file=accounts_file,
        replacement_sets_file=accounts_file.parent / "replacement-sets.yaml",
        trading_mode="paper",
        management_api_token=token,
        management_allowed_hosts=allowed_hosts,
    )


@pytest.fixture
def settings(accounts_file: Path, redis_url: str) -> Settings:
    return make_settings(accounts_file, redis_url)


def api_client(
    settings: Settings, redis: Redis, headers: Mapping[str, str] = INTENT
) -> httpx.AsyncClient:
    """A client of the app as curl or the dashboard on this machine calls it: Host 127.0.0.1:8000
    and, without a token, the header that tells the API a web form did not send the request."""
    app = create_app(settings, redis)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=headers
    )


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
    # No X-Rebalancer-Request: with a token set, the token alone proves the caller's intent.
    async with api_client(token_settings, redis_client, headers={}) as http:
        yield http


# --- headless Chromium (the dashboard and /docs) --------------------------------------------------


@pytest.fixture
def chromium_executable() -> str:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install -y chromium"
    return CHROMIUM


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def browser(chromium_executable: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_executable, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()
