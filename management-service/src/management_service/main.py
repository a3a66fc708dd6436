"""`management-service`: settings, logging, then uvicorn on MANAGEMENT_HOST:MANAGEMENT_PORT.

A bad environment or accounts.yaml stops it at start with the message naming the problem (exit
code 2). SIGTERM and SIGINT stop it gracefully: uvicorn finishes the requests in progress.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import uvicorn
from rebalancer_shared.errors import ConfigError
from rebalancer_shared.log import configure_logging, get_logger
from rebalancer_shared.settings import load_settings

from management_service.app import create_app

SERVICE_NAME = "management-service"
EXIT_CONFIG_ERROR = 2
GRACEFUL_SHUTDOWN_SECONDS = 10


def _after_graceful_shutdown(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the stop signal once it has shut down; by then we are done: exit 0."""


def main() -> None:
    try:
        settings = load_settings()
        configure_logging(SERVICE_NAME, settings.log_level, settings.secrets())
        app = create_app(settings)
    except ConfigError as error:
        print(f"{SERVICE_NAME}: configuration error:\n{error}", file=sys.stderr)
        sys.exit(EXIT_CONFIG_ERROR)
    log = get_logger(__name__)
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
