"""`rebalancer-demo`: the whole system on the simulators, one command, nothing to configure.

It starts a private redis-server, the IB Gateway and Zehnlabs simulators and the three
services, seeds three paper accounts, publishes a rebalance of two strategies, waits for the
orders to fill, and prints what was traded. Then it keeps running (dashboard and API up) until
Ctrl-C, which stops everything it started. `--once` stops right after the summary.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from rebalancer_local.processes import free_port, port_open, wait_for
from rebalancer_local.redis_server import RedisServer
from rebalancer_local.stack import MARKET_OPEN_MONDAY, Stack

ACCOUNTS: list[dict[str, Any]] = [
    # All cash, following a five-ETF blend.
    {"account_id": "DU1234567", "strategy_name": "demo-etf-blend", "cash_reserve_percent": 1.0},
    # An old portfolio in the same strategy: what it holds outside the targets is sold first.
    {"account_id": "DU7654321", "strategy_name": "demo-etf-blend", "cash_reserve_percent": 2.0},
    # An IRA that may not hold BIL: it buys SHY instead (replacement set "ira").
    {
        "account_id": "DU5550001",
        "strategy_name": "demo-treasury-rotation",
        "cash_reserve_percent": 0.5,
        "replacement_set": "ira",
    },
]
CASH_AND_POSITIONS: dict[str, tuple[float, dict[str, int]]] = {
    "DU1234567": (100_000.0, {}),
    "DU7654321": (5_000.0, {"VTI": 120, "BND": 300, "EEM": 400}),
    "DU5550001": (60_000.0, {"LQD": 100}),
}
REPLACEMENT_SETS: dict[str, list[Mapping[str, Any]]] = {
    "ira": [{"source": "BIL", "target": "SHY", "scale": 1.0}]
}
STRATEGIES = ("demo-etf-blend", "demo-treasury-rotation")
DEFAULT_MANAGEMENT_PORT = 8000


def say(text: str = "") -> None:
    print(text, flush=True)


def start(workdir: Path, management_port: int | None) -> tuple[RedisServer, Stack]:
    say(f"Starting the demo in {workdir} (logs of every process are there)")
    redis = RedisServer(workdir / "redis").start()
    say(f"  redis-server          127.0.0.1:{redis.port} (its own, not your 6379)")
    stack = Stack(workdir, redis.url)
    try:
        stack.start_ib_sim()
        say(f"  ib-gateway-sim        127.0.0.1:{stack.ib_port} (control {stack.ib_control_port})")
        stack.start_zehnlabs_sim()
        say(f"  zehnlabs-sim          127.0.0.1:{stack.zehnlabs_port}")
        # The simulator's clock stands at a trading Monday afternoon and runs on, so the demo
        # trades whatever the time is where you are.
        stack.ib.set_clock(MARKET_OPEN_MONDAY, running=True)
        for account_id, (cash, positions) in CASH_AND_POSITIONS.items():
            stack.ib.put_account(account_id, cash, positions)
        stack.write_replacement_sets(REPLACEMENT_SETS)
        stack.write_accounts(ACCOUNTS)
        port = _preferred_port() if management_port is None else (management_port or free_port())
        stack.start_management(port=port)
        say(f"  management-service    http://127.0.0.1:{port}")
        stack.start_processor(MAX_CONCURRENT_EVENTS="4")
        say("  event-processor       connected to the simulated gateway")
        stack.start_broker()
        say("  event-broker          subscribed to " + ", ".join(STRATEGIES))
    except BaseException:
        stack.stop_all()
        redis.stop()
        raise
    return redis, stack


def _preferred_port() -> int:
    return DEFAULT_MANAGEMENT_PORT if not port_open(DEFAULT_MANAGEMENT_PORT) else free_port()


def rebalance(stack: Stack) -> list[dict[str, Any]]:
    """Publish a rebalance of both strategies and wait until every account's event is done."""
    api = httpx.Client(base_url=f"http://127.0.0.1:{stack.management_port}", timeout=10)
    started = time.monotonic()
    for strategy in STRATEGIES:
        published = stack.zehnlabs.publish(strategy)
        say(f"Published a rebalance of {strategy} (message {published['id']})")

    def finished() -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = api.get("/history", params={"limit": 50}).json()["entries"]
        return [e for e in entries if e["outcome"] == "succeeded" and e["exec"] == "rebalance"]

    wait_for(lambda: len(finished()) >= len(ACCOUNTS), 120, "every demo account's rebalance")
    say(f"All {len(ACCOUNTS)} accounts rebalanced in {time.monotonic() - started:.1f} s")
    records = finished()
    api.close()
    return records


def summary(stack: Stack, records: list[dict[str, Any]]) -> None:
    for record in sorted(records, key=lambda r: str(r["account_id"])):
        account_id = record["account_id"]
        state = stack.ib.account(account_id)
        say()
        say(f"{account_id}  ({record['strategy_name']})")
        for order in record["details"].get("orders", []):
            price = order.get("average_price") or order.get("limit_price") or 0.0
            say(
                f"  {order['action']:<4} {order['filled']:>5} {order['symbol']:<5} @ {price:>9.2f}"
                f"  {order['status']}"
            )
        held = ", ".join(f"{q} {s}" for s, q in sorted(state["positions"].items()))
        say(f"  now holds {held}")
        say(f"  cash {state['cash']:,.2f} of net liquidation {state['net_liquidation']:,.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rebalancer-demo",
        description="Run the whole rebalancer on the simulators and show one rebalance.",
    )
    parser.add_argument("--once", action="store_true", help="stop after the summary")
    parser.add_argument(
        "--management-port",
        type=int,
        default=None,
        help=f"port of the management API and dashboard (default {DEFAULT_MANAGEMENT_PORT}, "
        "or a free one if taken; 0: any free port)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where logs and data go")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rebalancer-demo-"))

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    redis, stack = None, None
    try:
        redis, stack = start(workdir, args.management_port)
        summary(stack, rebalance(stack))
        url = f"http://127.0.0.1:{stack.management_port}"
        say()
        say(f"Dashboard:       {url}/")
        say(f"API docs:        {url}/docs")
        say(f"Queue status:    curl {url}/queue/status")
        say(f"Trade history:   curl '{url}/history?account_id=DU1234567'")
        say(
            f"Another event:   curl -X POST {url}/queue/events -H 'content-type: application/json'"
            ' -d \'{"account_id": "DU1234567", "exec_command": "print-positions"}\''
        )
        if not args.once:
            say()
            say("Running. Press Ctrl-C to stop everything.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        say()
        say("Stopping ...")
    finally:
        if stack is not None:
            stack.stop_all()
        if redis is not None:
            redis.stop()
        say("Stopped everything the demo started.")
    sys.exit(0)


if __name__ == "__main__":
    main()
