"""Run `zehnlabs-sim` and `event-broker` as the real entry points, and look at what they did:
the broker's JSON log lines, the simulator's control API, the queue in Redis."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from rebalancer_shared import keys
from rebalancer_shared.events import Event
from rebalancer_shared.queue import EventListType, EventQueue
from redis.asyncio import Redis

from tests.support.processes import ManagedProcess, free_port, port_open, wait_for

BIN = Path(sys.executable).parent
API_KEY = "zlsim.broker:test-key-5c1e"  # an Ably key's shape; Socket.IO takes any string
TRANSPORTS = ("ably", "socketio")
ETF_BLEND = "demo-etf-blend"
TREASURY = "demo-treasury-rotation"
SEEDED_LAST_REBALANCE_ON = "2026-01-02T20:45:00Z"
WAIT = 10.0
"""Generous for a loaded machine; every wait ends as soon as its condition holds."""

# Short delays so a reconnect, a Redis retry or a catch-up retry takes a fraction of a second.
FAST_BROKER = {
    "BROKER_RECONNECT_MIN_SECONDS": "0.05",
    "BROKER_RECONNECT_MAX_SECONDS": "0.5",
    "BROKER_CONNECT_TIMEOUT_SECONDS": "3",
    "BROKER_REDIS_RETRY_MAX_SECONDS": "0.3",
    "BROKER_CATCHUP_RETRY_MIN_SECONDS": "0.1",
    "BROKER_CATCHUP_RETRY_MAX_SECONDS": "0.5",
    "BROKER_HEARTBEAT_SECONDS": "0.2",
    "BROKER_ABLY_RETRY_SECONDS": "0.2",
    "BROKER_SHUTDOWN_FLUSH_SECONDS": "2",
}

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


# --- the simulator --------------------------------------------------------------------------


class Sim:
    """One `zehnlabs-sim` on a fixed port, so it can be stopped and started again in place."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: ManagedProcess | None = None
        self.starts = 0

    def start(self, strategies: list[dict[str, Any]] | None = None) -> Sim:
        """Start (again); `strategies` replaces the two demo strategies (simulator --config)."""
        self.starts += 1
        argv = [str(BIN / "zehnlabs-sim"), "--port", str(self.port), "--api-key", API_KEY]
        if strategies is not None:
            config = self.log_dir / f"strategies-{self.starts}.json"
            config.write_text(json.dumps({"strategies": strategies}))
            argv += ["--config", str(config)]
        process = ManagedProcess(f"zehnlabs-sim-{self.starts}", argv, self.log_dir).start()
        self.process = process
        wait_for(lambda: port_open(self.port) or not process.alive(), WAIT, "zehnlabs-sim")
        assert process.alive(), process.log_text()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}{path}", json=body, timeout=WAIT)
        assert response.status_code < 300, response.text
        return response.json()

    def publish(self, strategy: str, exec: str = "rebalance", **fields: Any) -> str:
        answer = self.control(
            "POST", f"/control/strategies/{strategy}/events", {"exec": exec, **fields}
        )
        return str(answer["id"])

    def raw(self, strategy: str, body: Any, count: int) -> None:
        # JSON with escapes, so that a lone surrogate (not encodable as UTF-8) can be sent too.
        content = b"" if body is None else json.dumps(body).encode("ascii")
        response = httpx.post(
            f"{self.url}/control/strategies/{strategy}/raw?count={count}",
            content=content,
            headers={"content-type": "application/json"},
            timeout=WAIT,
        )
        assert response.status_code == 200, response.text

    def state(self) -> dict[str, Any]:
        return dict(self.control("GET", "/control/state"))

    def last_rebalance_on(self, strategy: str) -> str:
        return str(self.state()["strategies"][strategy]["last_rebalance_on"])

    def subscribers(self) -> list[list[str]]:
        return [client["subscriptions"] for client in self.state()["clients"]]


# --- accounts.yaml ----------------------------------------------------------------------------

ACCOUNTS = [
    # Followers of demo-etf-blend: two paper accounts traded, one paused, one live.
    {"account_id": "DU1000001", "type": "paper", "enabled": True, "strategy_name": ETF_BLEND,
     "cash_reserve_percent": 2.5, "replacement_set": "ira"},
    {"account_id": "DU1000002", "type": "paper", "enabled": True, "strategy_name": ETF_BLEND,
     "cash_reserve_percent": 0},
    {"account_id": "DU1000003", "type": "paper", "enabled": False, "strategy_name": ETF_BLEND,
     "cash_reserve_percent": 1},
    {"account_id": "U2000001", "type": "live", "enabled": True, "strategy_name": ETF_BLEND,
     "cash_reserve_percent": 1},
    # Followers of demo-treasury-rotation.
    {"account_id": "DU1000004", "type": "paper", "enabled": True, "strategy_name": TREASURY,
     "cash_reserve_percent": 5},
    {"account_id": "U2000002", "type": "live", "enabled": True, "strategy_name": TREASURY,
     "cash_reserve_percent": 0},
]  # fmt: skip

REPLACEMENT_SETS = {"ira": [{"source": "SPY", "target": "VOO", "scale": 1.0}]}


def write_config(directory: Path, accounts: list[dict[str, Any]] | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # JSON is YAML: no quoting surprises.
    (directory / "accounts.yaml").write_text(json.dumps(accounts or ACCOUNTS))
    (directory / "replacement-sets.yaml").write_text(json.dumps(REPLACEMENT_SETS))


# --- the broker -------------------------------------------------------------------------------


class Broker:
    """One run of `event-broker`; each run logs to a file of its own."""

    def __init__(self, process: ManagedProcess) -> None:
        self.process = process

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.process.log_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append(record)
        return found

    def logged(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines()
            if line.get("event") == event and all(line.get(k) == v for k, v in match.items())
        ]

    def wait_logged(
        self, event: str, count: int = 1, within: float = WAIT, **match: Any
    ) -> list[dict[str, Any]]:
        wait_for(
            lambda: len(self.logged(event, **match)) >= count or not self.process.alive(),
            within,
            f"{count} x {event} {match or ''} in the broker log",
        )
        assert self.process.alive(), self.process.log_text()[-3000:]
        return self.logged(event, **match)

    def wait_ready(self) -> None:
        """Connected, subscribed, and the catch-up of this connection done."""
        self.wait_logged("catch_up.done")

    def stop(self) -> int | None:
        return self.process.stop()


@dataclass
class BrokerFactory:
    """Starts brokers against one simulator and one Redis; stops every one it started."""

    sim: Sim
    redis_url: str
    config_dir: Path
    log_dir: Path
    started: list[Broker]
    transport: str = "ably"

    def env(self, **overrides: str) -> dict[str, str]:
        events_url = self.sim.url.replace("http://", "ws://") if self.transport == "ably" else ""
        return {
            "ZEHNLABS_EVENTS_TRANSPORT": self.transport,
            "ZEHNLABS_EVENTS_URL": events_url or self.sim.url,
            "REBALANCE_EVENT_SUBSCRIPTION_API_KEY": API_KEY,
            "ALLOCATIONS_API_URL": f"{self.sim.url}/api/v1/strategies",
            "ALLOCATIONS_API_KEY": API_KEY,
            "REDIS_URL": self.redis_url,
            "ACCOUNTS_FILE": str(self.config_dir / "accounts.yaml"),
            "REPLACEMENT_SETS_FILE": str(self.config_dir / "replacement-sets.yaml"),
            "TRADING_MODE": "paper",
            "LOG_LEVEL": "INFO",
            **FAST_BROKER,
            **overrides,
        }

    def start(self, ready: bool = True, **env: str) -> Broker:
        name = f"event-broker-{len(self.started) + 1}"
        process = ManagedProcess(
            name, [str(BIN / "event-broker")], self.log_dir, self.env(**env), cwd=self.config_dir
        )
        broker = Broker(process.start())
        self.started.append(broker)
        if ready:
            broker.wait_ready()
        return broker

    def stop_all(self) -> None:
        for broker in self.started:
            broker.stop()


# --- the queue --------------------------------------------------------------------------------


async def _with_redis(url: str, use: Callable[[Redis], Coroutine[Any, Any, T]]) -> T:
    redis = Redis.from_url(url, decode_responses=True)
    try:
        return await use(redis)
    finally:
        await redis.aclose()


def queued(redis_url: str) -> list[Event]:
    """Every event waiting to run, in queue order."""

    async def read(redis: Redis) -> list[Event]:
        return await EventQueue(redis).list_events(EventListType.ACTIVE, limit=100_000)

    return run(_with_redis(redis_url, read))


def clear_queue(redis_url: str) -> None:
    """As if the processor had run everything queued."""

    async def clear(redis: Redis) -> int:
        return await EventQueue(redis).clear()

    run(_with_redis(redis_url, clear))


def recorded_last_rebalance(redis_url: str) -> dict[str, str]:
    async def read(redis: Redis) -> dict[str, str]:
        raw = await redis.hgetall(keys.STREAM_LAST_REBALANCE)
        return {str(key): str(value) for key, value in raw.items()}

    return run(_with_redis(redis_url, read))


def record_last_rebalance(redis_url: str, values: Mapping[str, str]) -> None:
    async def write(redis: Redis) -> None:
        for strategy, value in values.items():
            await redis.hset(keys.STREAM_LAST_REBALANCE, strategy, value)

    run(_with_redis(redis_url, write))


def seen(redis_url: str, message_id: str) -> bool:
    async def read(redis: Redis) -> bool:
        return bool(await redis.exists(keys.stream_seen(message_id)))

    return run(_with_redis(redis_url, read))


def heartbeat(redis_url: str) -> dict[str, Any] | None:
    async def read(redis: Redis) -> dict[str, Any] | None:
        raw = await redis.hget(keys.SERVICE_HEARTBEATS, "event-broker")
        return json.loads(raw) if raw else None

    return run(_with_redis(redis_url, read))


def by_account(events: list[Event]) -> dict[str, Event]:
    return {event.account_id: event for event in events}
