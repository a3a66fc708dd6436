"""SIGTERM and SIGINT stop the real `event-processor` within SHUTDOWN_GRACE_SECONDS in every
state of its gateway: unreachable (connection refused) and logged out (IB Gateway's port open
behind socat while the gateway waits for 2FA: a connection that is accepted and never
answered). Mid-order shutdown (cancelling the working orders) is in test_lifecycle_e2e.py."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.management.helpers import write_accounts
from tests.support.processes import ManagedProcess, free_port, wait_for
from tests.support.stack import entry_point

GRACE_SECONDS = 8
STARTED_WITHIN_SECONDS = 30


@contextlib.contextmanager
def silent_gateway() -> Iterator[int]:
    """A port that accepts connections and never says a word, as IB Gateway's API port does
    behind the image's socat while the gateway is not logged in."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stopping.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        server.close()


@contextlib.contextmanager
def processor(tmp_path: Path, redis_url: str, ib_port: int) -> Iterator[ManagedProcess]:
    env = {
        "ACCOUNTS_FILE": str(write_accounts(tmp_path)),
        "REPLACEMENT_SETS_FILE": str(tmp_path / "replacement-sets.yaml"),
        "TRADING_MODE": "paper",
        "REDIS_URL": redis_url,
        "IB_HOST": "127.0.0.1",
        "IB_PORT": str(ib_port),
        "ALLOCATIONS_API_URL": "http://127.0.0.1:1/api/v1/strategies",
        "ALLOCATIONS_API_KEY": "alloc-key-1234",
        "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        "NOTIFY_URLS": "",
        "LOG_LEVEL": "INFO",
    }
    process = ManagedProcess("event-processor", [entry_point("event-processor")], tmp_path, env)
    process.start()
    try:
        yield process
    finally:
        process.stop(timeout=2)


def stops_within_grace(process: ManagedProcess, signum: int) -> int:
    assert process.proc is not None
    process.proc.send_signal(signum)
    try:
        return process.proc.wait(timeout=GRACE_SECONDS)
    except Exception:
        pytest.fail(
            f"still running {GRACE_SECONDS}s after {signal.Signals(signum).name}:\n"
            + process.log_text()[-3000:]
        )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_it_stops_in_time_while_the_gateway_refuses_connections(
    tmp_path: Path, redis_url: str, signum: int
) -> None:
    closed_port = free_port()
    with processor(tmp_path, redis_url, closed_port) as process:
        wait_for(
            lambda: '"gateway.unreachable"' in process.log_text() or not process.alive(),
            STARTED_WITHIN_SECONDS,
            "the processor to find the gateway unreachable",
        )
        assert stops_within_grace(process, signum) == 0
        assert '"processor.stopped"' in process.log_text()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_it_stops_in_time_while_the_gateway_waits_for_2fa(
    tmp_path: Path, redis_url: str, signum: int
) -> None:
    with silent_gateway() as port, processor(tmp_path, redis_url, port) as process:
        wait_for(
            lambda: '"processor.started"' in process.log_text() or not process.alive(),
            STARTED_WITHIN_SECONDS,
            "the processor to start",
        )
        # Mid-connect: the handshake is sent and never answered.
        assert stops_within_grace(process, signum) == 0
        assert '"processor.stopped"' in process.log_text()
