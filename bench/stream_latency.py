"""Publish -> queued latency of the event broker, for each transport, from the same publishes.

Two extra brokers run beside the bench's stack, one per transport, against the same
`zehnlabs-sim`, each with its own accounts.yaml (one account following `bench-stream`) and its
own Redis database, so neither disturbs the other nor the processor. Each run publishes one
`print-positions` through the simulator's control API (which sends it to the Socket.IO room and
the Ably channel at once) and measures, per transport, from just before the publish call to the
moment the message is marked enqueued in Redis (`zehnlabs_seen:{id}`, written right after the
account's event). Both databases are emptied between runs so every run enqueues.

The brokers' resident memory after the runs is reported too: the Ably one has the SDK loaded.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import redis
import yaml
from rebalancer_local.processes import ManagedProcess, wait_for
from rebalancer_local.stack import Stack
from rebalancer_shared import keys

STRATEGY = "bench-stream"
ACCOUNT = "DU7900001"
TRANSPORTS = {"ably": 14, "socketio": 15}  # transport -> its Redis database
POLL_SECONDS = 0.001
PAUSE_SECONDS = 0.05


def measure_stream_latency(stack: Stack, redis_url: str, runs: int, rss_mib: Any) -> dict[str, Any]:
    """`runs` publishes; per transport p50/p95/max in milliseconds and the broker's RSS."""
    accounts = stack.workdir / "stream-bench-accounts.yaml"
    row = {"account_id": ACCOUNT, "type": "paper", "enabled": True}
    accounts.write_text(
        yaml.safe_dump([{**row, "strategy_name": STRATEGY, "cash_reserve_percent": 1.0}])
    )
    stack.zehnlabs.set_allocations(STRATEGY, {"SPY": 0.5})
    clients: dict[str, redis.Redis] = {}
    brokers: dict[str, ManagedProcess] = {}
    for transport, database in TRANSPORTS.items():
        url = _database_url(redis_url, database)
        clients[transport] = redis.Redis.from_url(url, decode_responses=True)
        clients[transport].flushdb()
        brokers[transport] = stack.start_broker(
            f"event-broker-{transport}",
            REDIS_URL=url,
            ACCOUNTS_FILE=str(accounts),
            ZEHNLABS_EVENTS_TRANSPORT=transport,
            ZEHNLABS_EVENTS_URL=_events_url(stack, transport),
        )
    try:
        latencies: dict[str, list[float]] = {transport: [] for transport in TRANSPORTS}
        for run in range(runs):
            for client in clients.values():
                client.flushdb()  # its own database: nothing else lives there
            started = time.perf_counter()
            message_id = stack.zehnlabs.publish(STRATEGY, "print-positions")["id"]
            waiting = set(TRANSPORTS)

            def arrived(
                message_id: str = message_id, waiting: set[str] = waiting, started: float = started
            ) -> bool:
                for transport in list(waiting):
                    if clients[transport].exists(keys.stream_seen(message_id)):
                        latencies[transport].append((time.perf_counter() - started) * 1000)
                        waiting.discard(transport)
                return not waiting

            wait_for(arrived, 30, f"stream latency run {run + 1}", POLL_SECONDS)
            time.sleep(PAUSE_SECONDS)
        return {
            transport: {
                **_summary_ms(values),
                "broker_rss_mib": round(rss_mib(brokers[transport].pid), 1),
            }
            for transport, values in latencies.items()
        }
    finally:
        for transport, process in brokers.items():
            process.stop()
            clients[transport].flushdb()
            clients[transport].close()


def _events_url(stack: Stack, transport: str) -> str:
    scheme = "ws" if transport == "ably" else "http"
    return f"{scheme}://127.0.0.1:{stack.zehnlabs_port}"


def _database_url(redis_url: str, database: int) -> str:
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    return f"{base}/{database}"


def _summary_ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "runs": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
    }


def table_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f"publish -> queued, {transport}",
            f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, max {figures['max_ms']} ms "
            f"({figures['runs']} runs); broker RSS {figures['broker_rss_mib']} MiB",
        )
        for transport, figures in results.items()
    ]
