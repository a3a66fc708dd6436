"""Fixtures of the broker tests: a simulator and a broker factory per test, all stopped after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker.helpers import BrokerFactory, Sim, write_config


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    simulator = Sim(tmp_path / "logs").start()
    yield simulator
    simulator.stop()


@pytest.fixture
def brokers(sim: Sim, redis_url: str, tmp_path: Path) -> Iterator[BrokerFactory]:
    config_dir = tmp_path / "config"
    write_config(config_dir)
    factory = BrokerFactory(sim, redis_url, config_dir, tmp_path / "logs", [])
    yield factory
    factory.stop_all()
