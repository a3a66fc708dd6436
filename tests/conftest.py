"""Fixtures every test area shares: a private redis-server and a log directory; and the one
place that says which tests are `slow`.

A test is slow when it starts a process of its own (a service, a simulator, a browser, a
redis-server it can kill, a command-line tool): `pytest_collection_modifyitems` marks it from
the fixtures it uses and the module it is in, nothing file by file. The fast loop (`make check`)
runs the rest with REBALANCER_FAST_TESTS=1, which also makes starting a process an error, so a
test that starts one and is not listed here says so at once. The one redis-server of the session
is allowed: it starts in a few milliseconds and the queue's tests need real Lua and blocking.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rebalancer_shared.queue import EventQueue
from redis.asyncio import Redis

from tests.support import profiles  # noqa: F401  (registers and loads the Hypothesis profile)
from tests.support.redis_server import RedisServer

FAST_LOOP = os.environ.get("REBALANCER_FAST_TESTS") == "1"

SLOW_FIXTURES = frozenset(
    {
        "aof_redis",  # a redis-server of the test's own, restarted or killed
        "brokers",  # event-broker processes
        "sim",  # a zehnlabs-sim process (tests/broker, tests/processor, tests/simulators)
        "running_sim",
        "zehnlabs_sim",
        "stack",  # the simulators and services of tests/processor
        "browser",  # Chromium
        "service",  # the management-service entry point
        "vnc_screen",  # Xvfb, x11vnc, noVNC
        "novnc_port",
    }
)
SLOW_MODULES = frozenset(
    {
        # Tests that start their processes themselves, without a fixture (a module, or one
        # test of a module as `module::name`).
        "tests/chaos/test_chaos_e2e.py",
        "tests/chaos/test_scale_out_e2e.py",
        "tests/demo/test_demo.py",
        "tests/deploy/test_compose.py",  # check-jsonschema
        "tests/deploy/test_dockerfiles.py",  # hadolint, a replay of the Docker builds
        "tests/deploy/test_healthcheck.py",
        "tests/deploy/test_novnc.py",
        "tests/management/test_docs_browser.py",
        "tests/management/test_entry_point.py",
        "tests/processor/test_config_e2e.py",
        "tests/processor/test_lifecycle_e2e.py",
        "tests/processor/test_plan_cli.py",
        "tests/processor/test_shutdown_e2e.py",
        "tests/shared/test_queue_crashes.py",
        "tests/simulators/test_ib_cli.py",
        "tests/simulators/test_ib_gateway_ib_async.py",
        "tests/simulators/test_zehnlabs_ably.py",
        "tests/simulators/test_zehnlabs_sim.py::test_sigterm_stops_cleanly_with_clients_and_hanging_requests",
        "tests/simulators/test_zehnlabs_sim.py::test_config_file_seeds_the_strategies",
        "tests/simulators/test_zehnlabs_sim.py::test_an_invalid_config_stops_the_start_naming_file_entry_and_field",
        "tests/simulators/test_zehnlabs_sim.py::test_help_documents_every_flag_and_the_key_is_required",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        module = Path(str(item.path)).relative_to(root).as_posix()
        test = f"{module}::{getattr(item, 'originalname', item.name)}"
        fixtures = set(getattr(item, "fixturenames", ()))
        if module in SLOW_MODULES or test in SLOW_MODULES or fixtures & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=FAST_LOOP)
def no_process_in_the_fast_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the fast loop, a test that starts a process (other than the session's redis-server)
    fails, naming the place to mark it slow."""
    original = subprocess.Popen.__init__

    def refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **options: Any) -> None:
        argv = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
        if Path(os.fsdecode(argv[0])).name != "redis-server":
            raise AssertionError(
                f"this test starts a process ({os.fsdecode(argv[0])}): list its fixture or module "
                "in SLOW_FIXTURES or SLOW_MODULES in tests/conftest.py"
            )
        original(self, args, *rest, **options)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


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
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """An asyncio client of the session's redis-server, on a flushed database."""
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def queue(redis_client: Redis) -> EventQueue:
    return EventQueue(redis_client)


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own with append-only persistence, to restart or kill."""
    server = RedisServer(tmp_path / "redis-aof", appendonly=True).start()
    yield server
    server.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell that a test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return bool(report is not None and report.failed)
