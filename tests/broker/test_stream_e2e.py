"""The real `event-broker` against the real `zehnlabs-sim` and redis-server: what a published
event becomes in the queue, deduplication, reconnects, a wrong key, garbage, shutdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rebalancer_shared.events import AccountSettings, Command, EventSource, ReplacementRule

from tests.broker.helpers import (
    API_KEY,
    ETF_BLEND,
    SEEDED_LAST_REBALANCE_ON,
    TREASURY,
    WAIT,
    BrokerFactory,
    Sim,
    by_account,
    heartbeat,
    queued,
    recorded_last_rebalance,
    seen,
    write_config,
)
from tests.support.processes import wait_for


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("paper", {"DU1000001", "DU1000002"}), ("live", {"U2000001"})],
)
def test_event_reaches_exactly_the_enabled_accounts_of_its_strategy_in_the_trading_mode(
    sim: Sim, brokers: BrokerFactory, redis_url: str, mode: str, expected: set[str]
) -> None:
    broker = brokers.start(TRADING_MODE=mode)
    # A first start records where each strategy stands and trades nothing.
    assert queued(redis_url) == []
    assert recorded_last_rebalance(redis_url) == {
        ETF_BLEND: SEEDED_LAST_REBALANCE_ON,
        TREASURY: SEEDED_LAST_REBALANCE_ON,
    }

    message_id = sim.publish(ETF_BLEND, "rebalance", note="end of month")
    wait_for(lambda: seen(redis_url, message_id), WAIT, "the message marked as enqueued")

    events = by_account(queued(redis_url))
    assert set(events) == expected  # no disabled, other-mode or other-strategy account
    for account_id, event in events.items():
        assert event.exec is Command.REBALANCE
        assert event.strategy_name == ETF_BLEND
        assert event.source is EventSource.ZEHNLABS
        # The message data as sent: Ably's data, or Socket.IO's whole event object.
        envelope = (
            {"id": message_id, "strategy": ETF_BLEND} if brokers.transport == "socketio" else {}
        )
        assert event.payload == {**envelope, "exec": "rebalance", "note": "end of month"}
        assert event.account is not None and event.account.account_id == account_id
    if mode == "paper":
        assert events["DU1000001"].account == AccountSettings(
            account_id="DU1000001",
            type="paper",
            strategy_name=ETF_BLEND,
            cash_reserve_percent=2.5,
            replacement_set="ira",
            replacements=(ReplacementRule(source="SPY", target="VOO", scale=1.0),),
        )
        assert events["DU1000002"].account is not None
        assert events["DU1000002"].account.cash_reserve_percent == 0
        assert events["DU1000002"].account.replacements == ()
    # The live rebalance moved the recorded last_rebalance_on on with it.
    wait_for(
        lambda: recorded_last_rebalance(redis_url)[ETF_BLEND] == sim.last_rebalance_on(ETF_BLEND),
        WAIT,
        "the live rebalance recorded",
    )
    assert broker.logged("message.dropped") == []


def test_redelivered_message_is_enqueued_once_and_a_second_event_leaves_one_active(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    broker = brokers.start()
    first = sim.publish(ETF_BLEND, "rebalance")
    wait_for(lambda: seen(redis_url, first), WAIT, "the first message enqueued")
    before = {event.event_id for event in queued(redis_url)}
    assert len(before) == 2

    sim.control("POST", f"/control/strategies/{ETF_BLEND}/redeliver")
    broker.wait_logged("message.duplicate", message_id=first)
    assert {event.event_id for event in queued(redis_url)} == before

    # A new message (new id) for the same accounts and command while the first is queued:
    # the queue keeps one active event per account and command (SPEC section 5).
    second = sim.publish(ETF_BLEND, "rebalance")
    wait_for(lambda: seen(redis_url, second), WAIT, "the second message handled")
    assert {event.event_id for event in queued(redis_url)} == before
    assert len(broker.logged("event.duplicate")) == 2


@pytest.mark.parametrize("mode", ["drop", "server"])
def test_after_disconnect_all_the_broker_reconnects_resubscribes_and_gets_the_next_event(
    sim: Sim, brokers: BrokerFactory, redis_url: str, mode: str
) -> None:
    broker = brokers.start()
    assert sim.subscribers() == [[ETF_BLEND, TREASURY]]

    sim.control("POST", f"/control/disconnect-all?mode={mode}")
    broker.wait_logged("stream.disconnected")
    broker.wait_logged("stream.subscribed", count=2)
    wait_for(lambda: sim.subscribers() == [[ETF_BLEND, TREASURY]], WAIT, "resubscribed")

    message_id = sim.publish(TREASURY, "rebalance")
    wait_for(lambda: seen(redis_url, message_id), WAIT, "the event after the reconnect")
    assert set(by_account(queued(redis_url))) == {"DU1000004"}


def test_after_a_simulator_restart_the_broker_reconnects_and_gets_the_next_event(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    broker = brokers.start()
    sim.stop()
    broker.wait_logged("stream.disconnected")
    broker.wait_logged("stream.unreachable")  # tries while the simulator is away

    sim.start()
    broker.wait_logged("stream.subscribed", count=2)
    wait_for(lambda: sim.subscribers() == [[ETF_BLEND, TREASURY]], WAIT, "resubscribed")
    message_id = sim.publish(ETF_BLEND, "print-positions")
    wait_for(lambda: seen(redis_url, message_id), WAIT, "the event after the restart")
    events = queued(redis_url)
    assert {(e.account_id, e.exec) for e in events} == {
        ("DU1000001", Command.PRINT_POSITIONS),
        ("DU1000002", Command.PRINT_POSITIONS),
    }


def test_a_wrong_api_key_is_logged_clearly_and_retried_with_backoff(
    sim: Sim, brokers: BrokerFactory
) -> None:
    wrong_key = "zlsim.broker:not-the-key-9f8e7d"
    broker = brokers.start(ready=False, REBALANCE_EVENT_SUBSCRIPTION_API_KEY=wrong_key)

    refusals = broker.wait_logged("stream.refused", count=5)
    if brokers.transport == "ably":
        assert refusals[0]["code"] == 40101
        assert refusals[0]["reason"].startswith("40101: Invalid key in request")
    else:
        assert refusals[0]["reason"] == "invalid API key"
    assert "REBALANCE_EVENT_SUBSCRIPTION_API_KEY" in refusals[0]["hint"]
    assert refusals[0]["level"] == "error"
    delays = [line["retry_in_seconds"] for line in broker.logged("stream.reconnecting")]
    # 0.05 s doubling to 0.5 s, ±20 %: the fourth wait is clearly longer than the first.
    assert delays[3] > delays[0] * 3
    assert max(delays) <= 0.5 * 1.2 + 0.01
    assert broker.process.alive()
    assert sim.subscribers() == []
    log = broker.process.log_text()
    for secret in (wrong_key, API_KEY, "not-the-key-9f8e7d", "test-key-5c1e"):
        assert secret not in log
    assert broker.stop() == 0


GARBAGE: dict[str, list[Any]] = {
    # What a Socket.IO server can send that is not an event.
    "socketio": [
        ["not", {"an": "event"}],
        {"id": "m-1", "strategy": ETF_BLEND, "exec": "liquidate-everything"},
        {"strategy": ETF_BLEND, "exec": "rebalance"},
        {"id": "m-2", "strategy": "someone-elses-strategy", "exec": "rebalance"},
        None,  # `event` with no argument at all
    ],
    # What an Ably channel can carry as message data that is not an event.
    "ably": [
        ["not", {"an": "event"}],
        {"exec": "liquidate-everything"},
        {"note": "no exec at all"},
        "rebalance now, please",  # a string that is not JSON
        '"a JSON string, not an object"',
    ],
}
GARBAGE_REASONS = {
    "socketio": [
        "expected a JSON object, got a list: ['not', {'an': 'event'}]",
        "field id: missing",
        "expected one argument (the event object), got 0",
        "field exec: unknown command 'liquidate-everything'",
        "'someone-elses-strategy' is not followed",
    ],
    "ably": [
        "expected a JSON object, got a list: ['not', {'an': 'event'}]",
        "field exec: unknown command 'liquidate-everything'",
        "field exec: missing",
        "data: not JSON: 'rebalance now, please'",
        "expected a JSON object, got a string: 'a JSON string, not an object'",
    ],
}


def test_a_thousand_malformed_messages_are_dropped_and_the_broker_carries_on(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    broker = brokers.start()
    for body in GARBAGE[brokers.transport]:
        sim.raw(ETF_BLEND, body, count=200)

    # A bound for a loaded machine (it ends as soon as the 1000 are in): a thousand messages are
    # a thousand protocol messages, each parsed and logged.
    drops = broker.wait_logged("message.dropped", count=1000, within=60)
    assert len(drops) == 1000
    reasons = {line["reason"] for line in drops}
    for expected in GARBAGE_REASONS[brokers.transport]:
        assert any(expected in reason for reason in reasons), (expected, reasons)
    assert all(line["level"] == "warning" for line in drops)
    assert queued(redis_url) == []
    wait_for(
        lambda: (heartbeat(redis_url) or {}).get("dropped_messages") == 1000,
        WAIT,
        "the drops counted in the heartbeat",
    )

    # Still listening: the next real event is enqueued.
    message_id = sim.publish(ETF_BLEND, "print-equity")
    wait_for(lambda: seen(redis_url, message_id), WAIT, "a real event after the garbage")
    assert len(queued(redis_url)) == 2


def test_a_lone_surrogate_and_an_oversized_message_are_dropped_counted_and_cut_short(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    broker = brokers.start()
    envelope = {"strategy": ETF_BLEND} if brokers.transport == "socketio" else {}
    # Redis cannot store a lone surrogate: refused at the door, not at every redelivery.
    surrogate = {**envelope, "id": "m-surrogate", "exec": "rebalance", "note": "\ud800"}
    oversized = {**envelope, "id": "m-oversized", "exec": "rebalance", "note": "x" * 1_000_000}
    sim.raw(ETF_BLEND, surrogate, count=1)
    sim.raw(ETF_BLEND, oversized, count=1)

    drops = broker.wait_logged("message.dropped", count=2)
    assert drops[0]["reason"].startswith("not valid Unicode: a lone surrogate")
    assert drops[1]["reason"].endswith("bytes, at most 65536")
    assert all(len(json.dumps(line)) < 2048 for line in drops)
    wait_for(
        lambda: (heartbeat(redis_url) or {}).get("dropped_messages") == 2,
        WAIT,
        "the drops counted",
    )
    assert queued(redis_url) == []
    assert broker.logged("lost_events") == [] and broker.logged("stream.disconnected") == []


def test_heartbeat_while_running_and_sigterm_ends_it_cleanly(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    broker = brokers.start()
    wait_for(
        lambda: (heartbeat(redis_url) or {}).get("stream_connected") is True,
        WAIT,
        "a heartbeat saying the stream is connected",
    )
    beat = heartbeat(redis_url)
    assert beat is not None
    assert beat["subscribed"] == [ETF_BLEND, TREASURY]
    assert beat["held_events"] == 0

    assert broker.stop() == 0
    assert broker.logged("broker.stopped", lost_events=0)
    assert heartbeat(redis_url) is None
    wait_for(lambda: sim.subscribers() == [], WAIT, "the broker gone from the simulator")


@pytest.mark.parametrize("transport", ["ably"])  # the same start-up check for both
def test_invalid_accounts_file_stops_the_start_with_exit_code_2(
    sim: Sim, brokers: BrokerFactory, tmp_path: Path
) -> None:
    bad = [{"account_id": "DU1000001", "type": "paper", "enabled": True,
            "strategy_name": ETF_BLEND, "cash_reserve_percent": 140}]  # fmt: skip
    write_config(brokers.config_dir, bad)
    broker = brokers.start(ready=False)
    assert broker.process.proc is not None
    assert broker.process.proc.wait(timeout=WAIT) == 2
    assert (
        "accounts.yaml: entry 1 (account DU1000001): field cash_reserve_percent: 140 is not "
        "between 0 and 100" in broker.process.log_text()
    )


@pytest.mark.parametrize("transport", ["ably"])
def test_every_configuration_problem_is_reported_in_one_run_with_exit_code_2(
    brokers: BrokerFactory,
) -> None:
    bad = [{"account_id": "DU1000001", "type": "paper", "enabled": True,
            "strategy_name": ETF_BLEND, "cash_reserve_percent": 140}]  # fmt: skip
    write_config(brokers.config_dir, bad)
    broker = brokers.start(
        ready=False,
        REBALANCE_EVENT_SUBSCRIPTION_API_KEY="not-an-ably-key",
        BROKER_MAX_HELD_EVENTS="0",
        REDIS_URL="http://127.0.0.1:6379/0",
    )
    assert broker.process.proc is not None
    assert broker.process.proc.wait(timeout=WAIT) == 2
    lines = broker.process.log_text().splitlines()
    assert lines[0] == "event-broker: invalid configuration"
    assert lines[1].startswith("environment: REDIS_URL: a URL starting with http://")
    assert lines[2].startswith("environment: REBALANCE_EVENT_SUBSCRIPTION_API_KEY: is not an Ably")
    assert lines[3].startswith("environment: BROKER_MAX_HELD_EVENTS: '0'")
    assert lines[4].startswith("accounts.yaml: entry 1 (account DU1000001): field cash_reserve")
    assert "Traceback" not in broker.process.log_text()
    assert "not-an-ably-key" not in broker.process.log_text()


@pytest.mark.parametrize("transport", ["socketio"])  # for Ably, empty is Ably's own service
def test_missing_events_url_stops_the_start_with_exit_code_2(brokers: BrokerFactory) -> None:
    broker = brokers.start(ready=False, ZEHNLABS_EVENTS_URL="")
    assert broker.process.proc is not None
    assert broker.process.proc.wait(timeout=WAIT) == 2
    assert "ZEHNLABS_EVENTS_URL: is empty" in broker.process.log_text()
