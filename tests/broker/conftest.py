"""Fixtures of the broker tests: a simulator and a broker factory per test, all stopped after.

Every test that uses `brokers` runs over both transports (the `transport` fixture); a test about
one transport only parametrizes `transport` itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker.helpers import TRANSPORTS, BrokerFactory, Sim, write_config


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    simulator = Sim(tmp_path / "logs").start()
    yield simulator
    simulator.stop()


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def brokers(sim: Sim, redis_url: str, tmp_path: Path, transport: str) -> Iterator[BrokerFactory]:
    config_dir = tmp_path / "config"
    write_config(config_dir)
    factory = BrokerFactory(sim, redis_url, config_dir, tmp_path / "logs", [], transport)
    yield factory
    factory.stop_all()
