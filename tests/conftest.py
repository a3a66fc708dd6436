"""Fixtures every test area shares: a private redis-server and a log directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; each test that uses `redis_url` starts it empty."""
    server = RedisServer(tmp_path_factory.mktemp("redis-session")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    client: redis.Redis = redis_server.client()
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own with append-only persistence, to restart or kill."""
    server = RedisServer(tmp_path / "redis-aof", appendonly=True).start()
    yield server
    server.stop()
