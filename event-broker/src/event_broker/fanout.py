"""Pure: one strategy event -> one queued Event per enabled account of that strategy.

Only accounts whose `type` is the trading mode and that are enabled get one (SPEC section 3).
Each Event carries the account's settings as they are at enqueue time, so the processor trades
with what the user configured when the event arrived.
"""

from __future__ import annotations

from rebalancer_shared.config import AccountsConfig
from rebalancer_shared.events import Command, Event, EventSource
from rebalancer_shared.settings import TradingMode

from event_broker.messages import StreamMessage


def events_for_message(
    message: StreamMessage, config: AccountsConfig, mode: TradingMode
) -> list[Event]:
    """One Event per enabled account of the message's strategy, carrying the whole message."""
    return [
        Event(
            account_id=account.account_id,
            exec=message.command,
            strategy_name=message.strategy,
            source=EventSource.ZEHNLABS,
            payload=dict(message.payload),
            account=config.settings_for(account),
        )
        for account in config.for_strategy(message.strategy, mode)
    ]


def catch_up_events(
    strategy: str, last_rebalance_on: str, config: AccountsConfig, mode: TradingMode
) -> list[Event]:
    """The rebalance a strategy's accounts missed while the broker was away."""
    return [
        Event(
            account_id=account.account_id,
            exec=Command.REBALANCE,
            strategy_name=strategy,
            source=EventSource.ZEHNLABS,
            payload={"catch_up": True, "last_rebalance_on": last_rebalance_on},
            account=config.settings_for(account),
        )
        for account in config.for_strategy(strategy, mode)
    ]
