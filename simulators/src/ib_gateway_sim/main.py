"""`ib-gateway-sim`: the command line. Starts the TWS API server and the control API, and
stops both cleanly on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ib_gateway_sim.clock import Clock
from ib_gateway_sim.config import ConfigError, default_baseline, load_config
from ib_gateway_sim.control import create_app
from ib_gateway_sim.engine import CommissionSchedule, Engine
from ib_gateway_sim.faults import Faults
from ib_gateway_sim.gateway import Baseline, Gateway
from ib_gateway_sim.ratelimit import DEFAULT_DISCONNECT_FACTOR, DEFAULT_LIMIT

log = logging.getLogger("ib_gateway_sim")

DESCRIPTION = """\
IB Gateway simulator: speaks the TWS API socket protocol (server versions 157..178) so that
ib_async, the official ibapi client and others connect to it as to IB Gateway, trading paper
accounts against quotes you set. An HTTP control API seeds accounts and quotes, reads orders,
sets the clock and injects faults (see docs/simulators.md)."""

EPILOG = """\
control API (JSON) on --control-port:
  PUT /accounts/{id}   {"cash": 100000, "positions": {"SPY": 10}}
  GET /accounts/{id}   PUT /quotes {"SPY": {"bid": 560.1, "ask": 560.12, "last": 560.11}}
  GET /orders          PUT /clock {"now": "2024-07-03T15:30:00-04:00"}   POST /reset
  POST /faults {"drop_connections": true, "refuse_connections": false, "reject_orders": 2,
                "fill_delay_ms": 500, "partial_fill_ratio": 0.5}        GET /stats

example: ib-gateway-sim --port 4002 --control-port 4102 --config sim.json"""


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    control_host: str
    control_port: int
    config: Path | None
    rate_limit: int
    rate_limit_disconnect_factor: int
    commission_per_share: float
    commission_minimum: float
    commission_maximum_rate: float
    log_level: str


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ib-gateway-sim",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the TWS API listens on (default: %(default)s; 0.0.0.0 for all interfaces)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=4002,
        help="TWS API port; IB Gateway uses 4002 for paper, 4001 for live (default: %(default)s)",
    )
    parser.add_argument(
        "--control-host",
        default="127.0.0.1",
        help="address the HTTP control API listens on (default: %(default)s)",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        default=4102,
        help="HTTP control API port (default: %(default)s)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="JSON file with the starting accounts, quotes and clock; without it: one account "
        "DU1234567 with $100,000 and quotes for common ETFs (SPY, QQQ, TLT, GLD, ...)",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help="API messages per second a client may send (and at once), as IB enforces it; a "
        "faster message is refused with error 100 (0: no limit; default: %(default)s)",
    )
    parser.add_argument(
        "--rate-limit-disconnect-factor",
        type=int,
        default=DEFAULT_DISCONNECT_FACTOR,
        metavar="K",
        help="close a client's connection when it sends more than K times the rate limit in one "
        "second (default: %(default)s)",
    )
    parser.add_argument(
        "--commission-per-share",
        type=float,
        default=0.005,
        metavar="USD",
        help="commission per share, IB fixed pricing (default: %(default)s)",
    )
    parser.add_argument(
        "--commission-min",
        type=float,
        default=1.0,
        metavar="USD",
        help="minimum commission per order (default: %(default)s)",
    )
    parser.add_argument(
        "--commission-max-rate",
        type=float,
        default=0.01,
        metavar="RATE",
        help="maximum commission as a share of the trade value (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default: %(default)s)",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("port", "control_port"):
        port = getattr(args, name)
        if not 0 <= port <= 65535:
            parser.error(f"--{name.replace('_', '-')} {port} is not a TCP port (0..65535)")
    if args.rate_limit < 0:
        parser.error(f"--rate-limit {args.rate_limit} must be 0 (no limit) or more")
    if args.rate_limit_disconnect_factor < 1:
        parser.error("--rate-limit-disconnect-factor must be at least 1")
    return Options(
        host=args.host,
        port=args.port,
        control_host=args.control_host,
        control_port=args.control_port,
        config=args.config,
        rate_limit=args.rate_limit,
        rate_limit_disconnect_factor=args.rate_limit_disconnect_factor,
        commission_per_share=args.commission_per_share,
        commission_minimum=args.commission_min,
        commission_maximum_rate=args.commission_max_rate,
        log_level=args.log_level,
    )


def build_gateway(options: Options, baseline: Baseline) -> Gateway:
    faults = Faults()
    commissions = CommissionSchedule(
        per_share=options.commission_per_share,
        minimum=options.commission_minimum,
        maximum_rate=options.commission_maximum_rate,
    )
    return Gateway(
        Engine(faults, commissions),
        Clock(),
        faults,
        baseline,
        rate_limit=options.rate_limit,
        disconnect_factor=options.rate_limit_disconnect_factor,
    )


async def serve(options: Options, baseline: Baseline) -> None:
    gateway = build_gateway(options, baseline)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    await gateway.start(options.host, options.port)
    runner = web.AppRunner(create_app(gateway), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, options.control_host, options.control_port)
        await site.start()
        log.info(
            "simulator.ready api=%s:%s control=%s:%s accounts=%s symbols=%s",
            options.host,
            gateway.port,
            options.control_host,
            runner.addresses[0][1],
            ",".join(gateway.engine.account_ids()) or "-",
            len(gateway.engine.quotes),
        )
        await stop.wait()
        log.info("simulator.stopping")
    finally:
        await runner.cleanup()
        await gateway.stop()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(
        level=options.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        baseline = load_config(options.config) if options.config else default_baseline()
    except ConfigError as exc:
        print(f"ib-gateway-sim: --config: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(options, baseline))
    except OSError as exc:  # the port is taken, the address is wrong
        print(f"ib-gateway-sim: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
