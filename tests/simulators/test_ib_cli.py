"""The real `ib-gateway-sim` entry point: its help, its config file, a client trading through
it, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
from ib_async import MarketOrder
from ib_gateway_sim.main import build_parser

from tests.simulators.ib_helpers import WAIT, connected_ib, qualify, until
from tests.support.processes import ManagedProcess, free_port, port_open, wait_for

SIM_SCRIPT = Path(sys.executable).parent / "ib-gateway-sim"


def test_help_documents_every_flag() -> None:
    result = subprocess.run(
        [str(SIM_SCRIPT), "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    flags = [
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--")
    ]
    assert {"--host", "--port", "--control-port", "--config", "--rate-limit"} <= set(flags)
    for action in build_parser()._actions:
        assert action.help, f"{action.option_strings} has no help text"
    for flag in flags:
        assert flag in result.stdout, f"{flag} is missing from --help"
    assert "PUT /accounts/{id}" in result.stdout


def test_a_config_file_with_a_mistake_stops_the_start_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"accounts": {"DU1234567": {"cash": -10}}}))
    result = subprocess.run(
        [str(SIM_SCRIPT), "--config", str(config), "--port", "0", "--control-port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "accounts.DU1234567.cash" in result.stderr
    assert str(config) in result.stderr


async def test_entry_point_serves_clients_from_its_config_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    config = tmp_path / "sim.json"
    config.write_text(
        json.dumps(
            {
                "accounts": {"DU7654321": {"cash": 20_000, "positions": {"QQQ": 4}}},
                "quotes": {
                    "QQQ": {"bid": 480.25, "ask": 480.28, "last": 480.26, "exchange": "NASDAQ"},
                    "BND": {"bid": 73.05, "ask": 73.06, "last": 73.05},
                },
                "clock": {"now": "2024-07-09T15:00:00-04:00"},
            }
        )
    )
    api_port, control_port = free_port(), free_port()
    sim = ManagedProcess(
        "ib-gateway-sim",
        [
            str(SIM_SCRIPT),
            "--port",
            str(api_port),
            "--control-port",
            str(control_port),
            "--config",
            str(config),
        ],
        tmp_path,
    ).start()
    try:
        await asyncio.to_thread(
            wait_for,
            lambda: (port_open(api_port) and port_open(control_port)) or not sim.alive(),
            15,
            "ib-gateway-sim to listen",
        )
        assert sim.alive(), sim.log_text()

        async with connected_ib(api_port) as ib:
            assert ib.managedAccounts() == ["DU7654321"]
            assert {p.contract.symbol: p.position for p in ib.positions()} == {"QQQ": 4}
            [bnd] = await qualify(ib, "BND")
            trade = ib.placeOrder(bnd, MarketOrder("BUY", 100, account="DU7654321"))
            await until(trade.isDone, "the BND order")
            assert (trade.orderStatus.status, trade.orderStatus.avgFillPrice) == ("Filled", 73.06)

        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{control_port}", timeout=WAIT
        ) as http:
            account = (await http.get("/accounts/DU7654321")).json()
            assert account["positions"] == {"BND": 100, "QQQ": 4}
            assert (await http.get("/clock")).json()["now"] == "2024-07-09T19:00:00+00:00"
    finally:
        code = sim.stop(timeout=10)
    assert code == 0, sim.log_text()
    assert not port_open(api_port) and not port_open(control_port)
    assert "simulator.ready" in sim.log_text()
