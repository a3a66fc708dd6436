"""`zehnlabs-sim`: run the Zehnlabs simulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from zehnlabs_sim.ably_hub import DEFAULT_CONNECTION_STATE_TTL_MS, DEFAULT_MAX_IDLE_INTERVAL_MS
from zehnlabs_sim.allocations_api import ALLOCATIONS_PREFIX
from zehnlabs_sim.app import create_app
from zehnlabs_sim.seed import DEMO_STRATEGIES, ConfigError, load_config
from zehnlabs_sim.simulator import DEFAULT_HANG_SECONDS, Settings
from zehnlabs_sim.stream import SOCKETIO_PATH

log = logging.getLogger("zehnlabs_sim")

API_KEY_ENV = "ZEHNLABS_SIM_API_KEY"
ALLOCATIONS_API_KEY_ENV = "ZEHNLABS_SIM_ALLOCATIONS_API_KEY"

# In-flight handlers get this long at shutdown; hanging requests are released before it starts.
SHUTDOWN_TIMEOUT_SECONDS = 5.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="zehnlabs-sim",
        description=(
            "Zehnlabs simulator: strategy events over Socket.IO (path /socket.io) and over the "
            "subset of Ably's realtime protocol the `ably` SDK needs (a WebSocket at /: "
            'AblyRealtime(key=KEY, endpoint="HOST:PORT", tls=False)), the allocations API '
            f"({ALLOCATIONS_PREFIX}/{{name}}/allocations) and a control API (/control/...) in "
            "one process, on one port. See docs/simulators.md."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=4200, help="TCP port; 0 picks a free one (default: 4200)"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help="key clients must present (Socket.IO auth, the Ably `key` parameter, x-api-key); "
        "an Ably client needs the Ably form appId.keyId:secret; "
        f"default: ${API_KEY_ENV}",
    )
    parser.add_argument(
        "--allocations-api-key",
        default=os.environ.get(ALLOCATIONS_API_KEY_ENV),
        help="a different key for the allocations API only "
        f"(default: ${ALLOCATIONS_API_KEY_ENV}, else --api-key)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help='JSON file {"strategies": [{"name", "strategy_long_name", "last_rebalance_on", '
        '"allocations": [{"symbol", "allocation"}]}]} to start with (default: two demo '
        "strategies, demo-etf-blend and demo-treasury-rotation)",
    )
    parser.add_argument(
        "--hang-seconds",
        type=float,
        default=DEFAULT_HANG_SECONDS,
        help="how long the `timeout` allocations fault holds a request before answering 504 "
        f"(default: {DEFAULT_HANG_SECONDS:g})",
    )
    parser.add_argument(
        "--ably-max-idle-interval-ms",
        type=int,
        default=DEFAULT_MAX_IDLE_INTERVAL_MS,
        help="maxIdleInterval the Ably endpoint announces; it sends a HEARTBEAT after half of it "
        f"without traffic (default: {DEFAULT_MAX_IDLE_INTERVAL_MS})",
    )
    parser.add_argument(
        "--ably-connection-state-ttl-ms",
        type=int,
        default=DEFAULT_CONNECTION_STATE_TTL_MS,
        help="how long an Ably connection whose socket broke can still be resumed "
        f"(connectionStateTtl; default: {DEFAULT_CONNECTION_STATE_TTL_MS})",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level; DEBUG adds an access log line per HTTP request (default: INFO)",
    )
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error(f"--api-key is required (or set {API_KEY_ENV})")
    if args.hang_seconds <= 0:
        parser.error(f"--hang-seconds: {args.hang_seconds} is not above 0")
    for flag in ("ably_max_idle_interval_ms", "ably_connection_state_ttl_ms"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')}: {getattr(args, flag)} is not above 0")
    return args


async def serve(settings: Settings, host: str, port: int, access_log: bool) -> None:
    runner = web.AppRunner(
        create_app(settings),
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        access_log=logging.getLogger("aiohttp.access") if access_log else None,
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = _bound_port(runner, port)
        base = f"http://{host}:{bound_port}"
        log.info(
            "zehnlabs_sim.listening events_url=%s socketio_path=/%s ably_url=ws://%s:%d "
            "allocations_api_url=%s%s control_url=%s/control strategies=%d",
            base,
            SOCKETIO_PATH,
            host,
            bound_port,
            base,
            ALLOCATIONS_PREFIX,
            base,
            len(settings.seeds),
        )
        await stop.wait()
        log.info("zehnlabs_sim.stopping")
    finally:
        await runner.cleanup()
    log.info("zehnlabs_sim.stopped")


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    # With --port 0 the OS picks; report the real one so a caller can find the server.
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        seeds = load_config(args.config) if args.config else DEMO_STRATEGIES
    except ConfigError as exc:
        print(f"zehnlabs-sim: invalid configuration\n{exc}", file=sys.stderr)
        return 2
    settings = Settings(
        api_key=args.api_key,
        allocations_api_key=args.allocations_api_key or args.api_key,
        seeds=seeds,
        hang_seconds=args.hang_seconds,
        ably_max_idle_interval_ms=args.ably_max_idle_interval_ms,
        ably_connection_state_ttl_ms=args.ably_connection_state_ttl_ms,
    )
    asyncio.run(serve(settings, args.host, args.port, access_log=args.log_level == "DEBUG"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
