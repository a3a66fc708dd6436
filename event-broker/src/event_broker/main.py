"""`event-broker`: the Zehnlabs event stream into the Redis queue, until SIGTERM or SIGINT.

Invalid configuration (environment, accounts.yaml, replacement-sets.yaml) stops the start with
one message naming the file or variable, the entry and the field, and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from rebalancer_shared.config import AccountsConfig, load_accounts
from rebalancer_shared.errors import ConfigError
from rebalancer_shared.log import configure_logging
from rebalancer_shared.settings import Settings, load_settings

from event_broker.broker import Broker
from event_broker.heartbeat import SERVICE
from event_broker.settings import BrokerSettings, check_required, load_broker_settings


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="event-broker",
        description=(
            "Listens to the Zehnlabs event stream and enqueues one event per enabled account of "
            "the event's strategy in Redis. Configured by environment variables (.env) and "
            "accounts.yaml; see docs/event-broker.md."
        ),
    ).parse_args(argv)
    try:
        settings = load_settings()
        check_required(settings)
        tunables = load_broker_settings()
        config = load_accounts(settings.accounts_file, settings.replacement_sets_file)
    except ConfigError as error:
        print(f"event-broker: invalid configuration\n{error}", file=sys.stderr)
        return 2
    configure_logging(SERVICE, settings.log_level, settings.secrets())
    return asyncio.run(_run(settings, tunables, config))


async def _run(settings: Settings, tunables: BrokerSettings, config: AccountsConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await Broker(settings, tunables, config).run(stop)


if __name__ == "__main__":
    sys.exit(main())
