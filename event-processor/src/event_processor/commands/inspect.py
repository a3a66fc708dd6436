"""The read-only commands: print-positions, print-equity, print-orders. Each records what IB
reports for the account in the event's history entry (and the log); nothing is placed."""

from __future__ import annotations

from rebalancer_shared.log import get_logger

from event_processor.commands.base import CommandContext, CommandFailed, Details
from event_processor.gateway import GatewayError

log = get_logger(__name__)


async def print_positions(ctx: CommandContext) -> Details:
    try:
        snapshot = await ctx.gateway.snapshot(ctx.account.account_id)
    except GatewayError as error:
        raise CommandFailed(f"reading positions: {error}") from None
    log.info("account.positions", positions=snapshot.positions)
    return {"positions": snapshot.positions}


async def print_equity(ctx: CommandContext) -> Details:
    try:
        snapshot = await ctx.gateway.snapshot(ctx.account.account_id)
    except GatewayError as error:
        raise CommandFailed(f"reading account values: {error}") from None
    log.info("account.equity", net_liquidation=snapshot.net_liquidation, cash=snapshot.cash)
    return {"net_liquidation": snapshot.net_liquidation, "cash": snapshot.cash}


async def print_orders(ctx: CommandContext) -> Details:
    try:
        orders = await ctx.gateway.open_orders(ctx.account.account_id)
    except GatewayError as error:
        raise CommandFailed(f"reading open orders: {error}") from None
    records = [
        {
            "order_id": o.order_id,
            "symbol": o.symbol,
            "action": o.action,
            "quantity": o.quantity,
            "order_type": o.order_type,
            "limit_price": o.limit_price,
            "status": o.status,
        }
        for o in orders
    ]
    log.info("account.open_orders", count=len(records))
    return {"open_orders": records}
