"""`event-processor`: take events from Redis and trade them at IB Gateway.

Starts as soon as Redis answers (no fixed sleeps); connects to the gateway at once and keeps
reconnecting in the background, while events that find it down fail fast and are retried.
Invalid configuration (environment, accounts.yaml, replacement-sets.yaml) stops it before that:
every problem on one report, exit code 2.
"""

from __future__ import annotations

import asyncio
import signal

from rebalancer_shared.backoff import Backoff, sleep_unless
from rebalancer_shared.config import AccountsConfig, load_configuration
from rebalancer_shared.errors import ConfigError, exit_for_invalid_configuration
from rebalancer_shared.log import configure_logging, get_logger
from rebalancer_shared.notify import Notifier
from rebalancer_shared.queue import EventQueue
from rebalancer_shared.settings import Settings
from redis.asyncio import Redis
from redis.exceptions import RedisError

from event_processor.allocations import AllocationsClient
from event_processor.gateway import GatewayError
from event_processor.ib import IBGateway
from event_processor.trading_mode import WrongTradingMode
from event_processor.worker import Worker

log = get_logger(__name__)

SERVICE = "event-processor"
REQUIRED_SETTINGS = ("ALLOCATIONS_API_URL", "ALLOCATIONS_API_KEY")
REDIS_WAIT_FIRST_SECONDS = 0.05
REDIS_WAIT_MAX_SECONDS = 5.0
GATEWAY_RETRY_SECONDS = 5.0


async def wait_for_redis(redis: Redis, stop: asyncio.Event) -> bool:
    """Ping until Redis answers (backing off to 5 s); False if told to stop meanwhile."""
    backoff = Backoff(REDIS_WAIT_FIRST_SECONDS, REDIS_WAIT_MAX_SECONDS)
    while not stop.is_set():
        try:
            await redis.ping()
            return True
        except (RedisError, OSError) as error:
            delay = backoff.next()
            log.warning("redis.waiting", error=str(error), retry_in=round(delay, 3))
            await sleep_unless(stop, delay)
    return False


async def keep_gateway_connected(gateway: IBGateway, stop: asyncio.Event) -> str | None:
    """Connect, and connect again whenever the connection is lost, until `stop`. A gateway of
    the other trading mode stops the processor: its reason is returned."""
    was_connected = False
    while not stop.is_set():
        try:
            await gateway.ensure_connected()
            if not was_connected:
                log.info("gateway.ready", host=gateway.host, port=gateway.port)
            was_connected = True
        except WrongTradingMode as error:
            log.critical("gateway.wrong_trading_mode", reason=str(error), consequence="stopping")
            stop.set()
            return str(error)
        except GatewayError as error:
            if was_connected:
                log.error("gateway.lost", error=str(error))
            else:
                log.warning("gateway.unreachable", error=str(error))
            was_connected = False
        await sleep_unless(stop, GATEWAY_RETRY_SECONDS)
    return None


def warn_when_no_account_matches(settings: Settings, accounts: AccountsConfig) -> None:
    """Loudly, at start: with no enabled account of the trading mode nothing is ever traded,
    which is almost always TRADING_MODE or a `type` in accounts.yaml set wrong."""
    mode = settings.trading_mode.value
    if accounts.active(settings.trading_mode):
        return
    others = sorted({a.type.value for a in accounts.accounts if a.enabled} - {mode})
    log.error(
        "processor.no_accounts",
        trading_mode=mode,
        accounts_file=str(settings.accounts_file),
        reason=f"no enabled account in accounts.yaml has type {mode}: nothing will be traded",
        hint=(
            f"the enabled accounts are {' and '.join(others)}: check TRADING_MODE and each "
            "account's type"
            if others
            else "enable an account, or check TRADING_MODE and each account's type"
        ),
    )


async def run(settings: Settings, accounts: AccountsConfig) -> str | None:
    """Until SIGTERM/SIGINT; returns why it stopped by itself (a gateway of the other trading
    mode), or None."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    gateway = IBGateway(settings.ib_host, settings.ib_port, trading_mode=settings.trading_mode)
    allocations = AllocationsClient(
        settings.allocations_api_url, settings.allocations_api_key.get_secret_value()
    )
    notifier = Notifier([url.get_secret_value() for url in settings.notify_urls])
    try:
        if not await wait_for_redis(redis, stop):
            return None
        worker = Worker(
            settings=settings,
            accounts=accounts,
            queue=EventQueue(redis),
            gateway=gateway,
            allocations=allocations,
            notifier=notifier,
        )
        warn_when_no_account_matches(settings, accounts)
        keeper = asyncio.create_task(keep_gateway_connected(gateway, stop))
        log.info(
            "processor.ready",
            mode=settings.trading_mode.value,
            observe_only=settings.observe_only,
            accounts=len(accounts.active(settings.trading_mode)),
        )
        await worker.run(stop)
        return await keeper
    finally:
        gateway.disconnect()
        await allocations.aclose()
        await redis.aclose()


def main() -> None:
    try:
        settings, accounts = load_configuration(
            required=REQUIRED_SETTINGS,
            needed_by="the event processor",
            checks=[Notifier.from_settings],  # NOTIFY_URLS apprise cannot use
        )
    except ConfigError as error:
        exit_for_invalid_configuration(SERVICE, error)
    configure_logging(SERVICE, settings.log_level, settings.secrets())
    wrong_mode = asyncio.run(run(settings, accounts))
    if wrong_mode is not None:
        # Like a configuration error: exit 2 with the one line that says what to fix.
        exit_for_invalid_configuration(SERVICE, ConfigError(wrong_mode))


if __name__ == "__main__":
    main()
