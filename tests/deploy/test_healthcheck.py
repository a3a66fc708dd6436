"""docker/healthcheck.py, the broker's and processor's container health check, against a real Redis.

It runs as the images run it (`python /app/healthcheck.py SERVICE`, REDIS_URL from the
environment) and must say healthy only for a fresh heartbeat of its own container's service.
And the redis container's own command and health check from docker-compose.yml, run by `sh` as
the container runs them, against this machine's redis-server and redis-cli.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.deploy.files import COMPOSE, DOCKER, interpolate, load_compose
from tests.support.processes import ManagedProcess, free_port, port_open, wait_for

HOSTNAME = socket.gethostname()  # in a container: the container id


def healthcheck(service: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DOCKER / "healthcheck.py"), service],
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=30,
    )


def beat(redis_url: str, name: str, seconds_ago: float, **facts: object) -> None:
    client = redis.Redis.from_url(redis_url)
    value = json.dumps({"at": time.time() - seconds_ago, **facts})
    client.hset("service_heartbeats", name, value)
    client.close()


def test_broker_with_a_fresh_heartbeat_is_healthy(redis_url: str) -> None:
    beat(redis_url, "event-broker", seconds_ago=3, stream_connected=False)
    result = healthcheck("event-broker", redis_url)
    assert (result.returncode, result.stdout.strip()) == (0, "healthy")


def test_broker_whose_heartbeat_stopped_is_unhealthy(redis_url: str) -> None:
    beat(redis_url, "event-broker", seconds_ago=95)
    result = healthcheck("event-broker", redis_url)
    assert result.returncode == 1
    assert re.search(r"event-broker is 9\ds old \(limit 30s\)", result.stdout), result.stdout


def test_service_that_never_beat_is_unhealthy(redis_url: str) -> None:
    result = healthcheck("event-broker", redis_url)
    assert result.returncode == 1
    assert "no heartbeat of event-broker" in result.stdout


def test_processor_is_judged_by_its_own_containers_heartbeat_only(redis_url: str) -> None:
    # Another processor instance (another container) beats; this one does not.
    beat(redis_url, "event-processor:4f1c2a9d0b7e-1-a1b2c3", seconds_ago=1, gateway_connected=True)
    assert healthcheck("event-processor", redis_url).returncode == 1

    beat(redis_url, f"event-processor:{HOSTNAME}-1-d4e5f6", seconds_ago=1, gateway_connected=False)
    result = healthcheck("event-processor", redis_url)
    # Healthy while the gateway waits for 2FA: restarting the processor would not help it.
    assert (result.returncode, result.stdout.strip()) == (0, "healthy")


def test_unreachable_redis_is_unhealthy_without_showing_the_url() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = healthcheck("event-processor", url)
    assert result.returncode == 1
    assert "Redis cannot be read" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


REDIS_PASSWORD = "5e884898da28047151d0e56f8dc62927"


def compose_redis(env: dict[str, str]) -> dict[str, object]:
    model = load_compose(COMPOSE)
    credentials = {"IB_USERNAME": "jdoe123", "IB_PASSWORD": "hunter2", "VNC_PASSWORD": "vnc-pass"}
    redis_service: dict[str, object] = interpolate(model, {**credentials, **env})["services"][
        "redis"
    ]
    return redis_service


def stand_ins(folder: Path, port: int) -> Path:
    """redis-server and redis-cli as the container has them, on a free port and a scratch folder
    instead of 6379 and /data: each runs this machine's binary with those arguments first."""
    folder.mkdir()
    for tool, options in (
        ("redis-server", f"--port {port} --bind 127.0.0.1 --dir {folder} --save ''"),
        ("redis-cli", f"-p {port}"),
    ):
        binary = shutil.which(tool)
        assert binary, f"{tool} is not installed"
        script = folder / tool
        script.write_text(f'#!/bin/sh\nexec {binary} {options} "$@"\n')
        script.chmod(0o755)
    return folder


def health(check: list[str], env: dict[str, str]) -> int:
    assert check[0] == "CMD-SHELL"
    return subprocess.run(["sh", "-c", check[1]], env=env, timeout=10).returncode


def test_redis_container_asks_for_the_password_its_health_check_gives(tmp_path: Path) -> None:
    service = compose_redis({"REDIS_PASSWORD": REDIS_PASSWORD})
    environment = service["environment"]
    assert isinstance(environment, dict) and environment["REDIS_PASSWORD"] == REDIS_PASSWORD
    port = free_port()
    bin_dir = stand_ins(tmp_path / "bin", port)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **environment}
    command = service["command"]
    assert isinstance(command, list)
    server = ManagedProcess("redis", command, tmp_path, env=env, cwd=tmp_path).start()
    try:
        wait_for(lambda: port_open(port) or not server.alive(), 10, "redis-server to listen")
        assert server.alive(), server.log_text()
        # `sh` exec'd redis-server: it is the container's main process and gets the SIGTERM of
        # `docker stop`. The password is not on its command line, which `ps` shows to everyone.
        redis_server = Path(str(shutil.which("redis-server"))).resolve()
        assert Path(os.readlink(f"/proc/{server.pid}/exe")) == redis_server
        assert REDIS_PASSWORD.encode() not in Path(f"/proc/{server.pid}/cmdline").read_bytes()

        anonymous = redis.Redis(
            port=port, retry=Retry(NoBackoff(), 0)
        )  # refused at once, no retries
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.ping()
        anonymous.close()
        client = redis.Redis.from_url(f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0")
        assert client.ping()
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.close()

        check = service["healthcheck"]
        assert isinstance(check, dict)
        assert health(check["test"], env) == 0
        assert health(check["test"], {**env, "REDIS_PASSWORD": "not-the-password"}) != 0
    finally:
        assert server.stop() == 0, server.log_text()
