"""`cancel-orders`: cancel every open order of the account and wait for IB's confirmation."""

from __future__ import annotations

from rebalancer_shared.log import get_logger

from event_processor.commands.base import CommandContext, CommandFailed, Details
from event_processor.gateway import GatewayError

log = get_logger(__name__)


async def cancel_orders(ctx: CommandContext) -> Details:
    await ctx.guard()
    try:
        cancelled = await ctx.gateway.cancel_open_orders(
            ctx.account.account_id, min(ctx.settings.order_timeout_seconds, 60.0)
        )
    except GatewayError as error:
        raise CommandFailed(f"cancelling open orders: {error}") from None
    log.info("account.orders_cancelled", count=cancelled)
    return {"cancelled_open_orders": cancelled}
