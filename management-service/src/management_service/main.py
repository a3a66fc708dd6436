"""`management-service`: settings, logging, then uvicorn on MANAGEMENT_HOST:MANAGEMENT_PORT.

A bad environment, accounts.yaml or replacement-sets.yaml stops it at start with every problem on
one report (exit code 2). SIGTERM and SIGINT stop it gracefully: uvicorn finishes the requests in
progress.
"""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn
from rebalancer_shared.config import load_configuration
from rebalancer_shared.errors import ConfigError, exit_for_invalid_configuration
from rebalancer_shared.log import configure_logging, get_logger
from rebalancer_shared.settings import Settings

from management_service.app import create_app
from management_service.security import parse_allowed_hosts

log = get_logger(__name__)

SERVICE_NAME = "management-service"
GRACEFUL_SHUTDOWN_SECONDS = 10


def _after_graceful_shutdown(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the stop signal once it has shut down; by then we are done: exit 0."""


def _check_allowed_hosts(settings: Settings) -> None:
    parse_allowed_hosts(settings.management_allowed_hosts)


def main() -> None:
    try:
        settings, accounts = load_configuration(checks=[_check_allowed_hosts])
        configure_logging(SERVICE_NAME, settings.log_level, settings.secrets())
        app = create_app(settings, accounts_config=accounts)
    except ConfigError as error:
        exit_for_invalid_configuration(SERVICE_NAME, error)
    log.info(
        "management.listen",
        host=settings.management_host,
        port=settings.management_port,
        auth=bool(settings.management_api_token.get_secret_value()),
        allowed_hosts=settings.management_allowed_hosts,
        trading_mode=settings.trading_mode.value,
    )
    config = uvicorn.Config(
        app,
        host=settings.management_host,
        port=settings.management_port,
        log_config=None,  # our JSON logging (configured above) handles uvicorn's loggers too
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )
    # uvicorn takes SIGTERM/SIGINT while serving (graceful shutdown), then restores these.
    signal.signal(signal.SIGTERM, _after_graceful_shutdown)
    signal.signal(signal.SIGINT, _after_graceful_shutdown)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
