"""Redis goes away while strategy events arrive: the broker holds them and delivers every one
when Redis is back, in the order they arrived."""

from __future__ import annotations

from pathlib import Path

from rebalancer_shared.events import Command

from tests.broker.helpers import (
    ETF_BLEND,
    TREASURY,
    WAIT,
    BrokerFactory,
    Sim,
    heartbeat,
    queued,
    seen,
    write_config,
)
from tests.support.processes import wait_for
from tests.support.redis_server import RedisServer


def test_events_arriving_while_redis_is_down_are_all_queued_when_it_is_back(
    sim: Sim, aof_redis: RedisServer, tmp_path: Path
) -> None:
    config_dir = tmp_path / "config"
    write_config(config_dir)
    brokers = BrokerFactory(sim, aof_redis.url, config_dir, tmp_path / "logs", [])
    try:
        broker = brokers.start()
        aof_redis.stop()

        ids = [
            sim.publish(ETF_BLEND, "rebalance"),  # DU1000001, DU1000002
            sim.publish(ETF_BLEND, "print-positions"),  # DU1000001, DU1000002
            sim.publish(TREASURY, "rebalance"),  # DU1000004
        ]
        # Loud: every retry is an ERROR line saying how many events wait in memory.
        unreachable = broker.wait_logged("redis.unreachable", count=2, held_events=5)
        assert unreachable[-1]["level"] == "error"
        assert broker.logged("events.held")  # messages arriving during the outage say so
        assert broker.process.alive()

        aof_redis.start()
        wait_for(lambda: all(seen(aof_redis.url, i) for i in ids), WAIT, "every message handled")
        events = queued(aof_redis.url)
        # In arrival order, one per account of each message.
        assert [(e.account_id, e.exec) for e in events] == [
            ("DU1000001", Command.REBALANCE),
            ("DU1000002", Command.REBALANCE),
            ("DU1000001", Command.PRINT_POSITIONS),
            ("DU1000002", Command.PRINT_POSITIONS),
            ("DU1000004", Command.REBALANCE),
        ]
        broker.wait_logged("redis.reachable_again")
        wait_for(
            lambda: (heartbeat(aof_redis.url) or {}).get("held_events") == 0,
            WAIT,
            "a heartbeat with nothing held",
        )
        assert broker.stop() == 0
    finally:
        brokers.stop_all()


def test_events_still_held_at_sigterm_are_reported_lost_one_by_one(
    sim: Sim, aof_redis: RedisServer, tmp_path: Path
) -> None:
    config_dir = tmp_path / "config"
    write_config(config_dir)
    brokers = BrokerFactory(sim, aof_redis.url, config_dir, tmp_path / "logs", [])
    try:
        broker = brokers.start()
        aof_redis.stop()
        sim.publish(ETF_BLEND, "rebalance")
        broker.wait_logged("redis.unreachable", held_events=2)

        assert broker.stop() == 0  # after BROKER_SHUTDOWN_FLUSH_SECONDS (2 s in tests)
        lost = broker.logged("event.lost_at_shutdown")
        assert {line["account_id"] for line in lost} == {"DU1000001", "DU1000002"}
        assert all(line["level"] == "critical" for line in lost)
        assert broker.logged("broker.stopped", lost_events=2)
    finally:
        brokers.stop_all()


def test_started_before_redis_it_listens_at_once_and_catches_up_when_redis_answers(
    sim: Sim, aof_redis: RedisServer, tmp_path: Path
) -> None:
    config_dir = tmp_path / "config"
    write_config(config_dir)
    brokers = BrokerFactory(sim, aof_redis.url, config_dir, tmp_path / "logs", [])
    aof_redis.stop()
    try:
        broker = brokers.start(ready=False)
        broker.wait_logged("stream.subscribed")  # no waiting for Redis to listen
        broker.wait_logged("catch_up.check_failed", count=2)
        message_id = sim.publish(TREASURY, "cancel-orders")
        broker.wait_logged("message.received", message_id=message_id)

        aof_redis.start()
        wait_for(lambda: seen(aof_redis.url, message_id), WAIT, "the held message written")
        assert [(e.account_id, e.exec) for e in queued(aof_redis.url)] == [
            ("DU1000004", Command.CANCEL_ORDERS)
        ]
        broker.wait_logged("catch_up.done")
        assert broker.logged("catch_up.missed_rebalance") == []  # a first start: recorded only
        assert broker.stop() == 0
    finally:
        brokers.stop_all()
