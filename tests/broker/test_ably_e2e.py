"""What only the Ably transport has: resume (nothing missed, no catch-up), continuity lost
(catch-up), a channel the key may not attach, and the wire formats. The real `event-broker`
(through the unmodified `ably` SDK) against the real `zehnlabs-sim` and redis-server."""

from __future__ import annotations

import json

import pytest

from tests.broker.helpers import (
    ETF_BLEND,
    TREASURY,
    WAIT,
    BrokerFactory,
    Sim,
    by_account,
    heartbeat,
    queued,
    recorded_last_rebalance,
    seen,
)
from tests.support.processes import wait_for

pytestmark = pytest.mark.parametrize("transport", ["ably"])


def connections_refused(sim: Sim, refused: bool) -> None:
    sim.control("PUT", "/control/ably", {"refuse_connections": refused})


def test_a_resumed_connection_delivers_what_was_published_meanwhile_without_catch_up(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    broker = brokers.start()
    first = broker.logged("stream.connected")[0]["connection"]
    connections_refused(sim, True)
    sim.control("POST", "/control/disconnect-all?mode=drop")
    broker.wait_logged("stream.disconnected")
    broker.wait_logged("stream.unreachable")  # it tries while refused

    # Published while the broker is away: Ably keeps it for the resumed connection.
    message_id = sim.publish(TREASURY, "rebalance")
    connections_refused(sim, False)
    broker.wait_logged("stream.connected", resumed=True)
    broker.wait_logged("stream.channel_resumed", count=2)
    wait_for(lambda: seen(redis_url, message_id), WAIT, "the message published while away")

    assert [(e.account_id, e.strategy_name) for e in queued(redis_url)] == [("DU1000004", TREASURY)]
    assert broker.logged("stream.connected", resumed=True)[0]["connection"] == first
    # Continuity kept: no channel attached anew, so no catch-up round after the first.
    assert len(broker.logged("stream.subscribed")) == 2
    assert len(broker.logged("catch_up.done")) == 1
    assert len(broker.logged("message.received", message_id=message_id)) == 1


def test_a_connection_that_cannot_resume_runs_catch_up_and_finds_the_missed_rebalance(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    broker = brokers.start()
    connections_refused(sim, True)
    # The simulator forgets the connection: the reconnect is a new one (Ably error 80008).
    sim.control("POST", "/control/disconnect-all?mode=expire")
    broker.wait_logged("stream.disconnected")
    missed = sim.publish(TREASURY, "rebalance")
    connections_refused(sim, False)

    [reconnected] = broker.wait_logged("stream.connected", resumed=False, connection=2)
    assert reconnected["reason"].startswith("80008: Unable to recover connection")
    broker.wait_logged("catch_up.missed_rebalance", strategy=TREASURY)
    wait_for(
        lambda: recorded_last_rebalance(redis_url)[TREASURY] == sim.last_rebalance_on(TREASURY),
        WAIT,
        "the missed rebalance recorded",
    )
    events = queued(redis_url)
    assert [(e.account_id, e.payload.get("catch_up")) for e in events] == [("DU1000004", True)]
    assert not seen(redis_url, missed)  # never delivered live: found by catch-up alone
    assert broker.logged("catch_up.missed_rebalance", strategy=ETF_BLEND) == []


def test_a_channel_the_key_may_not_attach_is_logged_per_strategy_and_retried(
    sim: Sim, brokers: BrokerFactory, redis_url: str
) -> None:
    sim.control("PUT", "/control/ably", {"denied_channels": [TREASURY]})
    broker = brokers.start(ready=False)

    refusals = broker.wait_logged("stream.channel_refused", count=3, strategy=TREASURY)
    assert refusals[0]["code"] == 40160
    assert refusals[0]["level"] == "error"
    assert "strategy_name in accounts.yaml" in refusals[0]["hint"]
    assert broker.logged("stream.channel_refused", strategy=ETF_BLEND) == []
    # The other strategy works meanwhile.
    wait_for(
        lambda: (heartbeat(redis_url) or {}).get("subscribed") == [ETF_BLEND],
        WAIT,
        "a heartbeat with the one attached channel",
    )
    message_id = sim.publish(ETF_BLEND, "print-positions")
    wait_for(lambda: seen(redis_url, message_id), WAIT, "the allowed strategy's event")

    # The key gets the channel (Zehnlabs fixed the subscription): attached on the next retry.
    sim.control("PUT", "/control/ably", {"denied_channels": []})
    broker.wait_logged("stream.subscribed", strategies=[TREASURY])
    wait_for(
        lambda: (heartbeat(redis_url) or {}).get("subscribed") == [ETF_BLEND, TREASURY],
        WAIT,
        "both channels attached",
    )
    later = sim.publish(TREASURY, "print-positions")
    wait_for(lambda: seen(redis_url, later), WAIT, "the event of the channel attached late")
    assert set(by_account(queued(redis_url))) == {"DU1000001", "DU1000002", "DU1000004"}


@pytest.mark.parametrize("binary", ["true", "false"], ids=["msgpack", "json"])
def test_a_lone_surrogate_and_an_oversized_message_are_dropped_on_either_wire_format(
    sim: Sim, brokers: BrokerFactory, redis_url: str, binary: str
) -> None:
    broker = brokers.start(BROKER_ABLY_BINARY_PROTOCOL=binary)
    surrogate = json.loads('{"exec": "rebalance", "note": "\\ud800"}')
    oversized = {"exec": "rebalance", "note": "x" * (70 * 1024)}
    sim.raw(ETF_BLEND, surrogate, count=1)
    sim.raw(ETF_BLEND, oversized, count=1)

    drops = broker.wait_logged("message.dropped", count=2)
    assert drops[0]["reason"].startswith("not valid Unicode: a lone surrogate")
    assert drops[1]["reason"].endswith("bytes, at most 65536")
    assert all(len(json.dumps(line)) < 2048 for line in drops)  # one short line each
    assert queued(redis_url) == []
    assert broker.logged("stream.disconnected") == []  # the connection is kept
    message_id = sim.publish(ETF_BLEND, "print-equity")
    wait_for(lambda: seen(redis_url, message_id), WAIT, "a real event after the garbage")
