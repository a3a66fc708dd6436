"""Container health check of the event broker and the event processor.

    python healthcheck.py event-broker|event-processor [--max-age SECONDS]

Exits 0 when this container's service wrote its heartbeat into Redis (hash `service_heartbeats`,
see rebalancer_shared/heartbeats.py) less than --max-age seconds ago, 1 otherwise, with the reason
on stdout (`docker inspect` shows it). The broker's field is `event-broker`; a processor's is
`event-processor:{hostname}-{pid}-{random}`, so a processor container looks only at the fields
that start with its own hostname (the container id): another instance's heartbeat never makes it
look healthy. Reads REDIS_URL like the services do.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

import redis

HEARTBEATS_KEY = "service_heartbeats"
DEFAULT_MAX_AGE_SECONDS = 30.0
REDIS_TIMEOUT_SECONDS = 3.0


def own_fields(service: str, fields: list[str], hostname: str) -> list[str]:
    if service == "event-broker":
        return [name for name in fields if name == "event-broker"]
    return [name for name in fields if name.startswith(f"event-processor:{hostname}-")]


def check(service: str, redis_url: str, max_age: float, hostname: str) -> str | None:
    """None when healthy, else what is wrong."""
    client = redis.Redis.from_url(
        redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        decode_responses=True,
    )
    try:
        beats: dict[str, str] = client.hgetall(HEARTBEATS_KEY)  # type: ignore[assignment]
    except (redis.RedisError, OSError) as error:
        return f"Redis cannot be read: {error}"
    finally:
        client.close()
    mine = own_fields(service, list(beats), hostname)
    if not mine:
        return f"no heartbeat of {service} on host {hostname} in {HEARTBEATS_KEY}"
    newest = max(_beat_time(beats[name]) for name in mine)
    age = time.time() - newest
    if age > max_age:
        return f"last heartbeat of {service} is {age:.0f}s old (limit {max_age:.0f}s)"
    return None


def _beat_time(value: str) -> float:
    try:
        return float(json.loads(value)["at"])
    except (ValueError, KeyError, TypeError):
        return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=["event-broker", "event-processor"])
    parser.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE_SECONDS)
    args = parser.parse_args(argv)
    redis_url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    problem = check(args.service, redis_url, args.max_age, socket.gethostname())
    if problem:
        print(f"unhealthy: {problem}")
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
