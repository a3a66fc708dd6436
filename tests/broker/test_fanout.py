"""One strategy event -> one Event per enabled account of the strategy in the trading mode."""

from __future__ import annotations

from event_broker.fanout import catch_up_events, events_for_message
from event_broker.messages import StreamMessage
from rebalancer_shared.config import AccountsConfig, parse_accounts, parse_replacement_sets
from rebalancer_shared.events import Command, EventSource, ReplacementRule
from rebalancer_shared.settings import TradingMode

from tests.broker.helpers import ACCOUNTS, ETF_BLEND, REPLACEMENT_SETS, TREASURY


def config() -> AccountsConfig:
    sets = parse_replacement_sets(REPLACEMENT_SETS, "replacement-sets.yaml")
    accounts = parse_accounts(ACCOUNTS, "accounts.yaml", sets, "replacement-sets.yaml")
    return AccountsConfig(accounts=tuple(accounts), replacement_sets=sets)


def test_each_enabled_account_of_the_mode_gets_its_own_event_with_its_settings() -> None:
    message = StreamMessage(
        id="e-1",
        strategy=ETF_BLEND,
        command=Command.PRINT_REBALANCE,
        payload={"id": "e-1", "strategy": ETF_BLEND, "exec": "print-rebalance"},
    )
    events = events_for_message(message, config(), TradingMode.PAPER)
    assert [event.account_id for event in events] == ["DU1000001", "DU1000002"]
    assert len({event.event_id for event in events}) == 2
    first = events[0]
    assert first.exec is Command.PRINT_REBALANCE
    assert first.source is EventSource.ZEHNLABS
    assert first.strategy_name == ETF_BLEND
    assert first.payload == message.payload
    assert first.account is not None
    assert first.account.cash_reserve_percent == 2.5
    assert first.account.replacements == (ReplacementRule(source="SPY", target="VOO", scale=1.0),)


def test_live_mode_uses_only_live_accounts() -> None:
    message = StreamMessage(id="e-2", strategy=TREASURY, command=Command.REBALANCE, payload={})
    events = events_for_message(message, config(), TradingMode.LIVE)
    assert [event.account_id for event in events] == ["U2000002"]


def test_catch_up_events_say_what_they_catch_up_on() -> None:
    events = catch_up_events(TREASURY, "2026-03-02T20:50:00Z", config(), TradingMode.PAPER)
    assert [(e.account_id, e.exec, e.payload) for e in events] == [
        (
            "DU1000004",
            Command.REBALANCE,
            {"catch_up": True, "last_rebalance_on": "2026-03-02T20:50:00Z"},
        )
    ]
