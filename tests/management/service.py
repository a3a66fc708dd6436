"""The real `management-service` entry point as a subprocess, for end-to-end tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import ManagedProcess, free_port, port_open, wait_for

ENTRY_POINT = str(Path(sys.executable).parent / "management-service")
START_TIMEOUT_SECONDS = 20


def service_env(accounts_file: Path, redis_url: str, port: int, token: str = "") -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "ACCOUNTS_FILE": str(accounts_file),
        "REPLACEMENT_SETS_FILE": str(accounts_file.parent / "replacement-sets.yaml"),
        "TRADING_MODE": "paper",
        "MANAGEMENT_HOST": "127.0.0.1",
        "MANAGEMENT_PORT": str(port),
        "MANAGEMENT_API_TOKEN": token,
        "LOG_LEVEL": "INFO",
    }


@contextmanager
def running_service(
    accounts_file: Path, redis_url: str, token: str = ""
) -> Iterator[tuple[ManagedProcess, str]]:
    """Start the service on a free 127.0.0.1 port; yields it and its base URL; stops it."""
    port = free_port()
    workdir = accounts_file.parent
    env = service_env(accounts_file, redis_url, port, token)
    process = ManagedProcess("management-service", [ENTRY_POINT], workdir, env, cwd=workdir)
    process.start()
    try:
        wait_for(
            lambda: port_open(port) or not process.alive(),
            START_TIMEOUT_SECONDS,
            "management-service to listen",
        )
        assert process.alive(), process.log_text()
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.stop()
