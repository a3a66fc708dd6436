"""Helpers for the ib-gateway-sim tests: a simulator (TWS API + control API on free ports of
127.0.0.1), in-process or as the real entry point, and ib_async clients connected to it over TCP.

Timing-sensitive checks (the rate limit as a paced client meets it) use the separate process: in
one event loop the simulator reads a burst only when the client yields, so it sees the burst later
than it was sent, which no real deployment does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from ib_async import IB, Contract, Stock
from ib_gateway_sim.config import ConfigFile, baseline_from
from ib_gateway_sim.control import create_app
from ib_gateway_sim.main import build_gateway, parse_args

from tests.support.processes import ManagedProcess, free_port, port_open, wait_for

SIM_SCRIPT = Path(sys.executable).parent / "ib-gateway-sim"
# Generous for a loaded CI machine, yet a broken test fails in seconds.
WAIT = 5.0
ACCOUNT = "DU1111111"
OTHER_ACCOUNT = "DU2222222"
# Wednesday 3 July 2024, 10:00 in New York: an early-close day before a holiday.
EARLY_CLOSE_MORNING = "2024-07-03T10:00:00-04:00"
# Tuesday 9 July 2024, 15:00 in New York: an ordinary afternoon.
TUESDAY_AFTERNOON = "2024-07-09T15:00:00-04:00"

QUOTES: dict[str, dict[str, float]] = {
    "SPY": {"bid": 540.10, "ask": 540.12, "last": 540.11},
    "TLT": {"bid": 92.30, "ask": 92.32, "last": 92.31},
    "GLD": {"bid": 215.50, "ask": 215.55, "last": 215.52},
}


@dataclass
class Simulator:
    api_port: int
    control: httpx.AsyncClient

    async def put(self, path: str, body: Any) -> httpx.Response:
        return await self.control.put(path, json=body)

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.control.post(path, json=body)

    async def get(self, path: str) -> httpx.Response:
        return await self.control.get(path)

    async def json(self, method: str, path: str, body: Any = None) -> Any:
        """Call the control API and return the JSON of a 2xx answer (fail otherwise)."""
        response = await self.control.request(method, path, json=body)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


@contextlib.asynccontextmanager
async def running_simulator(
    *cli_args: str, clock: str | None = TUESDAY_AFTERNOON
) -> AsyncIterator[Simulator]:
    """A simulator with the QUOTES above, no accounts, and the clock standing at `clock`."""
    options = parse_args(list(cli_args))
    config = ConfigFile.model_validate(
        {"accounts": {}, "quotes": QUOTES, "clock": {"now": clock} if clock else None}
    )
    gateway = build_gateway(options, baseline_from(config))
    await gateway.start("127.0.0.1", 0)
    runner = web.AppRunner(create_app(gateway), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    control_port = runner.addresses[0][1]
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{control_port}", timeout=WAIT)
    try:
        yield Simulator(gateway.port, client)
    finally:
        await client.aclose()
        await runner.cleanup()
        await gateway.stop()


def simulator_config(clock: str | None = TUESDAY_AFTERNOON) -> dict[str, Any]:
    return {"accounts": {}, "quotes": QUOTES, "clock": {"now": clock} if clock else None}


@contextlib.asynccontextmanager
async def simulator_process(log_dir: Path, *cli_args: str) -> AsyncIterator[Simulator]:
    """The real `ib-gateway-sim` entry point with the same starting state, stopped with SIGTERM."""
    config = log_dir / "ib-gateway-sim.json"
    config.write_text(json.dumps(simulator_config()))
    api_port, control_port = free_port(), free_port()
    argv = [str(SIM_SCRIPT), "--port", str(api_port), "--control-port", str(control_port)]
    process = ManagedProcess(
        "ib-gateway-sim", [*argv, "--config", str(config), *cli_args], log_dir
    ).start()
    try:
        await asyncio.to_thread(
            wait_for,
            lambda: (port_open(api_port) and port_open(control_port)) or not process.alive(),
            15,
            "ib-gateway-sim to listen",
        )
        assert process.alive(), process.log_text()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{control_port}", timeout=WAIT
        ) as client:
            yield Simulator(api_port, client)
    finally:
        process.stop()


@contextlib.asynccontextmanager
async def connected_ib(port: int, client_id: int = 1) -> AsyncIterator[IB]:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=WAIT)
    try:
        yield ib
    finally:
        ib.disconnect()


async def qualify(ib: IB, *symbols: str) -> list[Contract]:
    """US stocks on SMART, qualified (conId, primary exchange) by the simulator."""
    found = await ib.qualifyContractsAsync(*(Stock(symbol, "SMART", "USD") for symbol in symbols))
    contracts = [contract for contract in found if isinstance(contract, Contract)]
    assert len(contracts) == len(symbols), f"could not qualify {symbols}: {found}"
    return contracts


async def seed_account(
    sim: Simulator, account_id: str, cash: float, positions: dict[str, int] | None = None
) -> None:
    await sim.json("PUT", f"/accounts/{account_id}", {"cash": cash, "positions": positions or {}})


async def until(condition: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Wait (without blocking the event loop) until `condition` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {within:.1f}s waiting for {what}")
        await asyncio.sleep(0.01)


def decoder_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages ib_async failed to decode: a wrong layout shows up here, nowhere else."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "ib_async.Decoder" and record.levelno >= logging.ERROR
    ]
