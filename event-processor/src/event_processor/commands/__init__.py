"""One module per command; `COMMANDS` maps each `exec` name to its coroutine."""

from __future__ import annotations

from rebalancer_shared.events import Command as CommandName

from event_processor.commands.base import Command
from event_processor.commands.cancel_orders import cancel_orders
from event_processor.commands.inspect import print_equity, print_orders, print_positions
from event_processor.commands.rebalance import print_rebalance, rebalance

COMMANDS: dict[CommandName, Command] = {
    CommandName.REBALANCE: rebalance,
    CommandName.PRINT_REBALANCE: print_rebalance,
    CommandName.PRINT_POSITIONS: print_positions,
    CommandName.PRINT_EQUITY: print_equity,
    CommandName.PRINT_ORDERS: print_orders,
    CommandName.CANCEL_ORDERS: cancel_orders,
}
