"""docker/healthcheck.py, the broker's and processor's container health check, against a real Redis.

It runs as the images run it (`python /app/healthcheck.py SERVICE`, REDIS_URL from the
environment) and must say healthy only for a fresh heartbeat of its own container's service.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import redis

from tests.deploy.files import DOCKER
from tests.support.processes import free_port

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
