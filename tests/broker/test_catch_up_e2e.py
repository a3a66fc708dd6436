"""Catch-up: a rebalance published while the broker was not listening is enqueued when it comes
back; a first start, and a strategy seen for the first time, only record where they stand."""

from __future__ import annotations

from rebalancer_shared.events import Command, EventSource

from tests.broker.helpers import (
    API_KEY,
    ETF_BLEND,
    SEEDED_LAST_REBALANCE_ON,
    TREASURY,
    WAIT,
    BrokerFactory,
    Sim,
    by_account,
    clear_queue,
    queued,
    record_last_rebalance,
    recorded_last_rebalance,
)
from tests.support.processes import wait_for


def test_rebalance_published_while_the_broker_was_stopped_is_enqueued_at_its_next_start(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    first = brokers.start()
    first.wait_logged("catch_up.first_seen", count=2)
    assert queued(redis_url) == []  # a fresh install trades nothing by surprise
    assert first.stop() == 0

    sim.publish(ETF_BLEND, "rebalance")  # nobody listening
    published = sim.last_rebalance_on(ETF_BLEND)
    assert published != SEEDED_LAST_REBALANCE_ON

    second = brokers.start()
    missed = second.wait_logged("catch_up.missed_rebalance")
    assert missed[0]["strategy"] == ETF_BLEND
    wait_for(
        lambda: recorded_last_rebalance(redis_url)[ETF_BLEND] == published,
        WAIT,
        "the new last_rebalance_on recorded",
    )
    events = by_account(queued(redis_url))
    assert set(events) == {"DU1000001", "DU1000002"}  # not the treasury account
    for event in events.values():
        assert event.exec is Command.REBALANCE
        assert event.source is EventSource.ZEHNLABS
        assert event.strategy_name == ETF_BLEND
        assert event.payload == {"catch_up": True, "last_rebalance_on": published}
        assert event.account is not None
    assert events["DU1000001"].account is not None
    assert events["DU1000001"].account.cash_reserve_percent == 2.5
    assert recorded_last_rebalance(redis_url)[TREASURY] == SEEDED_LAST_REBALANCE_ON

    # Once processed, a further restart finds nothing new.
    clear_queue(redis_url)
    assert second.stop() == 0
    third = brokers.start()
    assert len(third.logged("catch_up.up_to_date")) == 2
    assert queued(redis_url) == []


def test_a_live_rebalance_followed_by_a_restart_is_not_caught_up_again(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    broker = brokers.start()
    sim.publish(ETF_BLEND, "rebalance")
    published = sim.last_rebalance_on(ETF_BLEND)
    wait_for(
        lambda: recorded_last_rebalance(redis_url).get(ETF_BLEND) == published,
        WAIT,
        "the live rebalance recorded",
    )
    assert len(queued(redis_url)) == 2
    clear_queue(redis_url)  # the processor ran them
    assert broker.stop() == 0

    again = brokers.start()
    assert again.logged("catch_up.missed_rebalance") == []
    assert queued(redis_url) == []


def test_a_missed_rebalance_during_a_disconnect_is_caught_up_after_the_reconnect(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    broker = brokers.start()
    sim.stop()
    broker.wait_logged("stream.disconnected")
    # Back, and the treasury strategy rebalanced while the broker was not connected.
    sim.start(
        strategies=[
            {"name": ETF_BLEND, "last_rebalance_on": SEEDED_LAST_REBALANCE_ON},
            {"name": TREASURY, "last_rebalance_on": "2026-03-02T20:50:00Z"},
        ]
    )
    broker.wait_logged("catch_up.missed_rebalance", strategy=TREASURY)
    wait_for(
        lambda: recorded_last_rebalance(redis_url)[TREASURY] == "2026-03-02T20:50:00Z",
        WAIT,
        "the catch-up recorded",
    )
    events = queued(redis_url)
    assert [(e.account_id, e.payload["catch_up"]) for e in events] == [("DU1000004", True)]


def test_a_strategy_new_in_accounts_yaml_is_only_recorded(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    # Installed and running with the etf-blend accounts only for a while...
    record_last_rebalance(redis_url, {ETF_BLEND: SEEDED_LAST_REBALANCE_ON})
    sim.publish(ETF_BLEND, "rebalance")
    sim.publish(TREASURY, "rebalance")
    # ...then the user adds the treasury account to accounts.yaml and restarts.
    broker = brokers.start()
    first_seen = broker.logged("catch_up.first_seen")
    assert [line["strategy"] for line in first_seen] == [TREASURY]
    wait_for(
        lambda: recorded_last_rebalance(redis_url).get(TREASURY) == sim.last_rebalance_on(TREASURY),
        WAIT,
        "the new strategy recorded",
    )
    assert set(by_account(queued(redis_url))) == {"DU1000001", "DU1000002"}


def test_catch_up_retries_while_the_allocations_api_fails(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    record_last_rebalance(
        redis_url, {ETF_BLEND: SEEDED_LAST_REBALANCE_ON, TREASURY: SEEDED_LAST_REBALANCE_ON}
    )
    sim.publish(ETF_BLEND, "rebalance")
    sim.control(
        "PUT", "/control/allocations-fault", {"mode": "http_500", "strategy": ETF_BLEND, "times": 3}
    )
    broker = brokers.start(ready=False)
    failures = broker.wait_logged("catch_up.check_failed", count=3)
    assert "HTTP 500" in failures[0]["error"]
    broker.wait_logged("catch_up.done")
    assert set(by_account(queued(redis_url))) == {"DU1000001", "DU1000002"}
    assert API_KEY not in broker.process.log_text()


def test_only_enabled_accounts_of_the_trading_mode_are_caught_up(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    record_last_rebalance(redis_url, {ETF_BLEND: SEEDED_LAST_REBALANCE_ON})
    sim.publish(ETF_BLEND, "rebalance")
    brokers.start(TRADING_MODE="live")
    wait_for(lambda: len(queued(redis_url)) > 0, WAIT, "the catch-up")
    assert set(by_account(queued(redis_url))) == {"U2000001"}
