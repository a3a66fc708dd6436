"""A private redis-server for tests: its own port and directory, never the machine's 6379, and a
password, as in Docker, so every service is exercised authenticating to Redis."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import redis

from rebalancer_local.processes import ManagedProcess, free_port, wait_for


class RedisServer:
    """One redis-server process the tests own: start, stop, kill -9, restart on the same data
    (and the same password: a new one for each server, in its URL and its client)."""

    def __init__(self, workdir: Path, appendonly: bool = False, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.port = port or free_port()
        self.password = secrets.token_hex(16)  # URL-safe as it is, like the one of Docker's .env
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, decode_responses=True
        )

    def start(self) -> RedisServer:
        argv = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--protected-mode", "yes",
            "--requirepass", self.password,
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = ManagedProcess(f"redis-{self.port}", argv, self.workdir).start()
        wait_for(self._answers, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.exceptions.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def restart(self, hard: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL when hard) and start again on the same port and data."""
        self.kill() if hard else self.stop()
        self.start()

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()
