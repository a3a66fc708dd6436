"""`event-processor`: take events from Redis and trade them at IB Gateway.

Starts as soon as Redis answers (no fixed sleeps); connects to the gateway at once and keeps
reconnecting in the background, while events that find it down fail fast and are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from rebalancer_shared.config import load_accounts
from rebalancer_shared.errors import ConfigError
from rebalancer_shared.log import configure_logging, get_logger
from rebalancer_shared.notify import Notifier
from rebalancer_shared.queue import EventQueue
from rebalancer_shared.settings import Settings, load_settings
from redis.asyncio import Redis
from redis.exceptions import RedisError

from event_processor.allocations import AllocationsClient
from event_processor.gateway import GatewayError
from event_processor.ib import IBGateway
from event_processor.worker import Worker

log = get_logger(__name__)

REDIS_WAIT_MAX_SECONDS = 5.0
GATEWAY_RETRY_SECONDS = 5.0


async def wait_for_redis(redis: Redis, stop: asyncio.Event) -> bool:
    """Ping until Redis answers (backing off to 5 s); False if told to stop meanwhile."""
    delay = 0.05
    while not stop.is_set():
        try:
            await redis.ping()
            return True
        except (RedisError, OSError) as error:
            log.warning("redis.waiting", error=str(error), retry_in=delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            delay = min(delay * 2, REDIS_WAIT_MAX_SECONDS)
    return False


async def keep_gateway_connected(gateway: IBGateway, stop: asyncio.Event) -> None:
    was_connected = False
    while not stop.is_set():
        try:
            await gateway.ensure_connected()
            if not was_connected:
                log.info("gateway.ready", host=gateway.host, port=gateway.port)
            was_connected = True
        except GatewayError as error:
            if was_connected:
                log.error("gateway.lost", error=str(error))
            else:
                log.warning("gateway.unreachable", error=str(error))
            was_connected = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), GATEWAY_RETRY_SECONDS)


async def run(settings: Settings) -> None:
    accounts = load_accounts(settings.accounts_file, settings.replacement_sets_file)
    if not settings.allocations_api_url:
        raise ConfigError("environment: ALLOCATIONS_API_URL is not set")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    gateway = IBGateway(settings.ib_host, settings.ib_port)
    allocations = AllocationsClient(
        settings.allocations_api_url, settings.allocations_api_key.get_secret_value()
    )
    notifier = Notifier([url.get_secret_value() for url in settings.notify_urls])
    try:
        if not await wait_for_redis(redis, stop):
            return
        worker = Worker(
            settings=settings,
            accounts=accounts,
            queue=EventQueue(redis),
            gateway=gateway,
            allocations=allocations,
            notifier=notifier,
        )
        keeper = asyncio.create_task(keep_gateway_connected(gateway, stop))
        log.info(
            "processor.ready",
            mode=settings.trading_mode.value,
            observe_only=settings.observe_only,
            accounts=len(accounts.active(settings.trading_mode)),
        )
        await worker.run(stop)
        await keeper
    finally:
        gateway.disconnect()
        await allocations.aclose()
        await redis.aclose()


def main() -> None:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"event-processor: invalid configuration:\n{error}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging("event-processor", settings.log_level, settings.secrets())
    try:
        asyncio.run(run(settings))
    except ConfigError as error:
        print(f"event-processor: invalid configuration:\n{error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
