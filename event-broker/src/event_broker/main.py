"""`event-broker`: the Zehnlabs event stream into the Redis queue, until SIGTERM or SIGINT.

Invalid configuration (environment, accounts.yaml, replacement-sets.yaml) stops the start with
one report, a line per problem naming the file or variable, the entry and the field, and exit
code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from rebalancer_shared.config import AccountsConfig, load_configuration
from rebalancer_shared.errors import ConfigError, exit_for_invalid_configuration
from rebalancer_shared.log import configure_logging
from rebalancer_shared.settings import Settings

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
    # Every problem of the environment (shared and BROKER_*) and both files in one report.
    tunables: list[BrokerSettings] = []
    try:
        settings, config = load_configuration(
            checks=[check_required, lambda _: tunables.append(load_broker_settings())]
        )
    except ConfigError as error:
        exit_for_invalid_configuration(SERVICE, error)
    configure_logging(SERVICE, settings.log_level, settings.secrets())
    return asyncio.run(_run(settings, tunables[0], config))


async def _run(settings: Settings, tunables: BrokerSettings, config: AccountsConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await Broker(settings, tunables, config).run(stop)


if __name__ == "__main__":
    sys.exit(main())
