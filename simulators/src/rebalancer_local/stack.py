"""The whole system on the simulators, as subprocesses, for end-to-end tests.

    stack = Stack(tmp_path, redis_url)
    stack.start_ib_sim(); stack.start_zehnlabs_sim()
    stack.write_accounts([...]); stack.zehnlabs.set_allocations("growth", {"SPY": 0.6, ...})
    processor = stack.start_processor()
    ...
    stack.stop_all()

Every process binds 127.0.0.1 and is stopped by `stop_all()`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from rebalancer_local.processes import ManagedProcess, free_port, port_open, wait_for

BIN = Path(sys.executable).parent
ZEHNLABS_KEY = "zlsim.local:test-zehnlabs-key"  # shaped like an Ably key, as Zehnlabs hands out
MARKET_OPEN_MONDAY = "2026-11-23T14:00:00-05:00"  # a regular Monday, two hours before the close


def entry_point(name: str) -> str:
    return str(BIN / name)


class IBSimControl:
    """The IB Gateway simulator's HTTP control API."""

    def __init__(self, port: int) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def _ok(self, response: httpx.Response) -> Any:
        response.raise_for_status()
        return response.json()

    def put_account(
        self, account_id: str, cash: float, positions: Mapping[str, int] | None = None
    ) -> Any:
        body = {"cash": cash, "positions": dict(positions or {})}
        return self._ok(self.http.put(f"/accounts/{account_id}", json=body))

    def account(self, account_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.http.get(f"/accounts/{account_id}"))
        return result

    def put_quotes(self, quotes: Mapping[str, tuple[float, float, float]]) -> Any:
        body = {s: {"bid": b, "ask": a, "last": last} for s, (b, a, last) in quotes.items()}
        return self._ok(self.http.put("/quotes", json=body))

    def orders(self, account_id: str | None = None) -> list[dict[str, Any]]:
        params = {"account_id": account_id} if account_id else {}
        result: list[dict[str, Any]] = self._ok(self.http.get("/orders", params=params))
        return result

    def set_clock(self, now: str | None, running: bool = True) -> Any:
        return self._ok(self.http.put("/clock", json={"now": now, "running": running}))

    def faults(self, **faults: Any) -> Any:
        return self._ok(self.http.post("/faults", json=faults))

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.http.get("/stats"))
        return result

    def reset(self) -> Any:
        return self._ok(self.http.post("/reset"))


class ZehnlabsControl:
    """The Zehnlabs simulator's control API."""

    def __init__(self, port: int) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def set_allocations(self, strategy: str, weights: Mapping[str, float]) -> Any:
        body = {"allocations": [{"symbol": s, "allocation": w} for s, w in weights.items()]}
        response = self.http.put(f"/control/strategies/{strategy}/allocations", json=body)
        response.raise_for_status()
        return response.json()

    def publish(self, strategy: str, exec_command: str = "rebalance", **extra: Any) -> Any:
        response = self.http.post(
            f"/control/strategies/{strategy}/events", json={"exec": exec_command, **extra}
        )
        response.raise_for_status()
        return response.json()

    def fault(self, mode: str | None, strategy: str | None = None, times: int | None = None) -> Any:
        body: dict[str, Any] = {"mode": mode}
        if strategy:
            body["strategy"] = strategy
        if times is not None:
            body["times"] = times
        response = self.http.put("/control/allocations-fault", json=body)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        response = self.http.get("/control/state")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


class Stack:
    def __init__(self, workdir: Path, redis_url: str) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.redis_url = redis_url
        self.ib_port = free_port()
        self.ib_control_port = free_port()
        self.zehnlabs_port = free_port()
        self.processes: list[ManagedProcess] = []
        self.management_port = 0
        self.ib = IBSimControl(self.ib_control_port)
        self.zehnlabs = ZehnlabsControl(self.zehnlabs_port)
        self.accounts_file = workdir / "accounts.yaml"
        self.sets_file = workdir / "replacement-sets.yaml"
        self.write_replacement_sets({})

    # --- configuration ------------------------------------------------------------------------

    def write_accounts(self, accounts: Iterable[Mapping[str, Any]]) -> None:
        rows = [
            {"type": "paper", "enabled": True, "cash_reserve_percent": 1.0, **account}
            for account in accounts
        ]
        self.accounts_file.write_text(yaml.safe_dump(rows, sort_keys=False))

    def write_replacement_sets(self, sets: Mapping[str, list[Mapping[str, Any]]]) -> None:
        self.sets_file.write_text(yaml.safe_dump(dict(sets), sort_keys=False))

    # --- processes ----------------------------------------------------------------------------

    def _start(
        self, name: str, argv: list[str], env: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        process = ManagedProcess(name, argv, self.workdir, env=env, cwd=self.workdir).start()
        self.processes.append(process)
        return process

    def start_ib_sim(self, *extra: str) -> ManagedProcess:
        process = self._start(
            f"ib-gateway-sim-{len(self.processes)}",
            [
                entry_point("ib-gateway-sim"),
                "--port", str(self.ib_port),
                "--control-port", str(self.ib_control_port),
                *extra,
            ],
        )  # fmt: skip
        wait_for(lambda: port_open(self.ib_control_port), 15, "ib-gateway-sim control port")
        wait_for(lambda: port_open(self.ib_port), 15, "ib-gateway-sim API port")
        return process

    def start_zehnlabs_sim(self) -> ManagedProcess:
        process = self._start(
            f"zehnlabs-sim-{len(self.processes)}",
            [
                entry_point("zehnlabs-sim"),
                "--port", str(self.zehnlabs_port),
                "--api-key", ZEHNLABS_KEY,
            ],
        )  # fmt: skip
        wait_for(lambda: port_open(self.zehnlabs_port), 15, "zehnlabs-sim port")
        return process

    def service_env(self, **overrides: str) -> dict[str, str]:
        env = {
            "REDIS_URL": self.redis_url,
            "TRADING_MODE": "paper",
            "IB_HOST": "127.0.0.1",
            "IB_PORT": str(self.ib_port),
            # The default transport, as Zehnlabs serves it: Ably, here the simulator's endpoint.
            "ZEHNLABS_EVENTS_TRANSPORT": "ably",
            "ZEHNLABS_EVENTS_URL": f"ws://127.0.0.1:{self.zehnlabs_port}",
            "REBALANCE_EVENT_SUBSCRIPTION_API_KEY": ZEHNLABS_KEY,
            "ALLOCATIONS_API_URL": f"http://127.0.0.1:{self.zehnlabs_port}/api/v1/strategies",
            "ALLOCATIONS_API_KEY": ZEHNLABS_KEY,
            "ACCOUNTS_FILE": str(self.accounts_file),
            "REPLACEMENT_SETS_FILE": str(self.sets_file),
            "RETRY_DELAY_SECONDS": "1",
            "ORDER_TIMEOUT_SECONDS": "5",
            "CONSUMER_HEARTBEAT_SECONDS": "0.5",
            "CONSUMER_DEAD_AFTER_SECONDS": "3",
            "SHUTDOWN_GRACE_SECONDS": "5",
            "MAX_CONCURRENT_EVENTS": "4",
            "LOG_LEVEL": "INFO",
            "NOTIFY_URLS": "",
        }
        env.update(overrides)
        return env

    def start_processor(self, name: str = "event-processor", **env: str) -> ManagedProcess:
        process = self._start(name, [entry_point("event-processor")], self.service_env(**env))
        wait_for(
            lambda: '"processor.started"' in process.log_text() or not process.alive(),
            20,
            f"{name} to start",
        )
        assert process.alive(), process.log_text()
        return process

    def print_logs(self, lines: int = 60) -> None:
        """The last lines of every process's log, for a failing test's report."""
        for process in self.processes:
            tail = process.log_text().splitlines()[-lines:]
            print(f"----- {process.name} ({process.log_path})", *tail, sep="\n")

    def start_broker(self, name: str = "event-broker", **env: str) -> ManagedProcess:
        """The broker, returned once connected, subscribed and its first catch-up done."""
        overrides = {"BROKER_RECONNECT_MIN_SECONDS": "0.2", "BROKER_RECONNECT_MAX_SECONDS": "2"}
        process = self._start(
            name, [entry_point("event-broker")], self.service_env(**overrides, **env)
        )
        wait_for(
            lambda: '"catch_up.done"' in process.log_text() or not process.alive(),
            30,
            f"{name} to connect and catch up",
        )
        assert process.alive(), process.log_text()
        return process

    def start_management(
        self, name: str = "management-service", port: int | None = None, **env: str
    ) -> ManagedProcess:
        self.management_port = port or free_port()
        process = self._start(
            name,
            [entry_point("management-service")],
            self.service_env(MANAGEMENT_PORT=str(self.management_port), **env),
        )
        wait_for(
            lambda: port_open(self.management_port) or not process.alive(),
            30,
            f"{name} to listen",
        )
        assert process.alive(), process.log_text()
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.ib.http.close()
        self.zehnlabs.http.close()


def log_events(process: ManagedProcess) -> list[dict[str, Any]]:
    """The JSON log lines a service wrote (other lines are skipped)."""
    found = []
    for line in process.log_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float, what: str, interval: float = 0.05
) -> None:
    """Await `check()` until it is true; fail naming what we waited for."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise TimeoutError(f"timed out after {within:.0f}s waiting for {what}")
