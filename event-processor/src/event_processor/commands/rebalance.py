"""`rebalance` and `print-rebalance`: SPEC section 6, steps 1 to 9.

    allocations ─▶ snapshot ─▶ hours (all or none) ─▶ quotes ─▶ cancel open orders ─▶ plan
        ─▶ sells (market) ─▶ actual cash ─▶ buys planned again ─▶ buys (limit)
        ─▶ top-up rounds from the cash the fills left below their limits, until one plans
           nothing ─▶ record

A failure at any step raises CommandFailed with what was done so far; the retry starts again
from the account's actual state, so a repeated rebalance converges and never double-buys.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from rebalancer_shared.log import get_logger

from event_processor.allocations import AllocationsError
from event_processor.commands.base import (
    CommandContext,
    CommandFailed,
    DelayUntil,
    Deleted,
    Details,
)
from event_processor.gateway import AccountSnapshot, GatewayError, OrderReport, OrderRequest
from event_processor.hours import all_open_at, earliest_all_open
from event_processor.planner import (
    Buy,
    Plan,
    PlanError,
    PlanInput,
    Quote,
    apply_replacements,
    plan_buys_after_sells,
)
from event_processor.planner import plan_rebalance as make_plan

log = get_logger(__name__)

MAX_TOP_UP_ROUNDS = 5
"""Top-up rounds at most: each spends what the last one's fills left, about 0.5 % of it, so the
second seldom buys a share and the third practically never."""


async def rebalance(ctx: CommandContext) -> Details:
    return await _run(ctx, place_orders=not ctx.settings.observe_only)


async def print_rebalance(ctx: CommandContext) -> Details:
    return await _run(ctx, place_orders=False)


async def _run(ctx: CommandContext, place_orders: bool) -> Details:
    details = ctx.details
    details["observe_only"] = not place_orders
    timings: dict[str, float] = {}
    details["timings"] = timings
    started = time.monotonic()

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 3)

    strategy = ctx.event.strategy_name or ctx.account.strategy_name
    try:
        allocations = await ctx.allocations.fetch(strategy)
    except AllocationsError as error:
        raise CommandFailed(str(error), details) from None
    details["strategy"] = strategy
    details["allocations"] = allocations.weights
    lap("allocations")

    snapshot = await _snapshot(ctx)
    details["cash_before"] = snapshot.cash
    details["net_liquidation_before"] = snapshot.net_liquidation
    details["positions_before"] = snapshot.positions
    lap("snapshot")

    plan_input = _plan_input(ctx, snapshot, allocations.weights, quotes={})
    symbols = sorted(
        {s for s, w in _targets_after_replacements(plan_input).items() if w > 0}
        | {s for s, q in snapshot.positions.items() if q != 0}
    )
    await _check_hours(ctx, symbols, details)
    lap("hours")

    quotes = await _quotes(ctx, symbols)
    details["quotes"] = {s: {"bid": q.bid, "ask": q.ask} for s, q in quotes.items()}
    lap("quotes")

    if place_orders:
        cancelled = await _cancel_open_orders(ctx)
        details["cancelled_open_orders"] = cancelled
        if cancelled:
            # A cancelled order may have filled in part before it went: plan on the real state.
            snapshot = await _snapshot(ctx)
        lap("cancel")

    plan = _plan(_plan_input(ctx, snapshot, allocations.weights, quotes))
    details["plan"] = _plan_record(plan)
    details["target_weights"] = dict(plan.target_weights)  # after replacements: for the drift
    lap("plan")
    if not place_orders:
        log.info("rebalance.planned", sells=len(plan.sells), buys=len(plan.buys))
        return details

    orders: list[dict[str, object]] = []
    details["orders"] = orders
    sells = [OrderRequest(s.symbol, "SELL", s.quantity) for s in plan.sells]
    if sells:
        await _before_batch(ctx)
        reports = await _execute(ctx, sells)
        orders += [report.as_record() for report in reports]
        _require_complete(reports, "sell", details)
        lap("sells")

    # The buys are planned again from the cash IB reports after the sells, not the estimate.
    after_sells = await _snapshot(ctx) if sells else snapshot
    details["cash_after_sells"] = after_sells.cash
    buys = _plan_buys(ctx, after_sells, allocations.weights, quotes, "planning the buys")
    details["buys_replanned"] = _buy_records(buys)
    state = after_sells
    if buys:
        reports = await _buy(ctx, buys, orders, details)
        state = _after_buys(state, reports)
        lap("buys")
        state = await _top_up(ctx, state, reports, allocations.weights, quotes, orders, lap)

    # The state after, from what IB booked for the buys (its executions and commission
    # reports): asking IB for the account again would cost messages every account pays.
    details["cash_after"] = round(state.cash, 2)
    details["positions_after"] = {
        symbol: count for symbol, count in state.positions.items() if count
    }
    lap("done")
    log.info("rebalance.done", orders=len(orders), cash_after=round(state.cash, 2))
    return details


async def _top_up(
    ctx: CommandContext,
    state: AccountSnapshot,
    reports: list[OrderReport],
    weights: dict[str, float],
    quotes: dict[str, Quote],
    orders: list[dict[str, object]],
    lap: Callable[[str], None],
) -> AccountSnapshot:
    """Buys are sized at their limit price (ask + slippage), so no fill can take the cash below
    the reserve, and fill at the ask or better: what that leaves (about the slippage on every
    dollar bought) is spent in more rounds, each planned the same way from the cash IB booked,
    until a round plans nothing. Each round's fills leave a little again (a round of $2,000
    leaves about $10, enough for one more share of a $22 symbol), so one round is not always
    enough: the account ends where planning again plans no buy, every symbol within one share
    of its target wherever the cash allows (docs/planner.md)."""
    details = ctx.details
    top_up: list[dict[str, object]] = []
    details["top_up"] = top_up
    for _ in range(MAX_TOP_UP_ROUNDS):
        _require_commissions(reports, details)
        more = _plan_buys(ctx, state, weights, quotes, "planning the top-up")
        if not more:
            return state
        top_up += _buy_records(more)
        reports = await _buy(ctx, more, orders, details)
        state = _after_buys(state, reports)
        lap("top_up")
    log.warning("rebalance.top_up_rounds_exhausted", rounds=MAX_TOP_UP_ROUNDS)
    return state


def _require_commissions(reports: list[OrderReport], details: Details) -> None:
    """The cash after the buys is computed from IB's executions and commission reports. Without
    a commission report that cash is unknown, and the account still short of its targets by
    what the fills left below their limits: fail, and the retry plans that top-up from IB's
    books (SPEC section 6, step 8)."""
    missing = [f"BUY {r.filled} {r.symbol}" for r in reports if not r.commissions_known]
    if missing:
        raise CommandFailed(
            "IB sent no commission report for " + "; ".join(missing) + " after the fill, so "
            "the cash left for the top-up is unknown; the retry plans it from IB's books",
            details,
        )


def _plan_buys(
    ctx: CommandContext,
    state: AccountSnapshot,
    weights: dict[str, float],
    quotes: dict[str, Quote],
    what: str,
) -> list[Buy]:
    try:
        return plan_buys_after_sells(_plan_input(ctx, state, weights, quotes))
    except PlanError as error:
        raise CommandFailed(f"{what} failed: {error}", ctx.details) from None


async def _buy(
    ctx: CommandContext, buys: Sequence[Buy], orders: list[dict[str, object]], details: Details
) -> list[OrderReport]:
    await _before_batch(ctx)
    requests = [OrderRequest(b.symbol, "BUY", b.quantity, b.limit_price) for b in buys]
    reports = await _execute(ctx, requests)
    orders += [report.as_record() for report in reports]
    _require_complete(reports, "buy", details)
    return reports


async def _before_batch(ctx: CommandContext) -> None:
    """The guard before every order batch (sells, buys, each top-up round). A delete through the
    management API stops the rebalance here: the account's working orders are cancelled, the
    orders already filled stay, and `Deleted` carries what was done to the worker."""
    try:
        await ctx.guard()
    except Deleted as deleted:
        log.warning("rebalance.deleted", orders=len(ctx.details.get("orders", [])))
        try:
            ctx.details["cancelled_at_delete"] = await ctx.gateway.cancel_open_orders(
                ctx.account.account_id, min(ctx.settings.order_timeout_seconds, 60.0)
            )
        except GatewayError as error:
            ctx.details["cancelled_at_delete"] = f"failed: {error}"
            log.error("rebalance.cancel_at_delete_failed", error=str(error))
        raise Deleted(str(deleted), ctx.details) from None


def _buy_records(buys: Sequence[Buy]) -> list[dict[str, object]]:
    return [
        {"symbol": b.symbol, "quantity": b.quantity, "limit_price": b.limit_price} for b in buys
    ]


def _after_buys(start: AccountSnapshot, reports: list[OrderReport]) -> AccountSnapshot:
    """The account once the buys filled: cash less what they cost with commissions. Net
    liquidation stays the one IB last reported (the buys lower it only by their costs, so the
    reserve taken of it errs on the safe side)."""
    cash = start.cash
    positions = dict(start.positions)
    for report in reports:
        cash -= report.filled * (report.average_price or 0.0) + report.commission
        positions[report.symbol] = positions.get(report.symbol, 0) + report.filled
    return dataclasses.replace(start, cash=cash, positions=positions)


def _plan_input(
    ctx: CommandContext,
    snapshot: AccountSnapshot,
    weights: dict[str, float],
    quotes: dict[str, Quote],
) -> PlanInput:
    settings = ctx.settings
    return PlanInput(
        net_liquidation=snapshot.net_liquidation,
        cash=snapshot.cash,
        positions=snapshot.positions,
        quotes=quotes,
        targets=weights,
        cash_reserve_percent=ctx.account.cash_reserve_percent,
        buy_slippage_percent=settings.buy_slippage_percent,
        replacements=ctx.account.replacements,
        min_trade_value=settings.min_trade_value,
        min_drift_percent=settings.min_drift_percent,
    )


def _targets_after_replacements(plan_input: PlanInput) -> dict[str, float]:
    return apply_replacements(plan_input.targets, plan_input.replacements)


async def _snapshot(ctx: CommandContext) -> AccountSnapshot:
    try:
        return await ctx.gateway.snapshot(ctx.account.account_id)
    except GatewayError as error:
        raise CommandFailed(f"reading account {ctx.account.account_id}: {error}") from None


async def _check_hours(ctx: CommandContext, symbols: list[str], details: Details) -> None:
    extended = ctx.settings.extended_hours_enabled
    try:
        sessions = await ctx.gateway.sessions(symbols, extended)
        now = await ctx.gateway.server_time()
    except GatewayError as error:
        raise CommandFailed(f"trading hours: {error}", details) from None
    if all_open_at(sessions, now):
        return
    ready_at = earliest_all_open(sessions, now)
    closed = sorted(
        symbol for symbol in symbols if not all_open_at({symbol: sessions[symbol]}, now)
    )
    if ready_at is None:
        raise CommandFailed(
            f"no trading session ahead for {', '.join(closed)} in IB's trading hours", details
        )
    kind = "extended" if extended else "regular"
    raise DelayUntil(
        ready_at,
        f"outside {kind} trading hours ({', '.join(closed)} closed); "
        f"runs at {ready_at.isoformat()}",
        details,
    )


async def _quotes(ctx: CommandContext, symbols: list[str]) -> dict[str, Quote]:
    try:
        quotes = await ctx.gateway.quotes(symbols)
    except GatewayError as error:
        raise CommandFailed(f"quotes: {error}", ctx.details) from None
    for symbol in symbols:
        quote = quotes.get(symbol)
        if quote is None or not (quote.bid > 0 and quote.ask > 0):
            raise CommandFailed(
                f"no usable price for {symbol}: {quote!r} (a zero, negative or missing price "
                "stops the rebalance)",
                ctx.details,
            )
    return quotes


def _plan(plan_input: PlanInput) -> Plan:
    try:
        return make_plan(plan_input)
    except PlanError as error:
        raise CommandFailed(f"planning failed: {error}") from None


def _plan_record(plan: Plan) -> dict[str, object]:
    return {
        "sells": [{"symbol": s.symbol, "quantity": s.quantity} for s in plan.sells],
        "buys": _buy_records(plan.buys),
        "expected_cash_after": plan.expected_cash_after,
    }


async def _cancel_open_orders(ctx: CommandContext) -> int:
    try:
        return await ctx.gateway.cancel_open_orders(
            ctx.account.account_id, min(ctx.settings.order_timeout_seconds, 60.0)
        )
    except GatewayError as error:
        raise CommandFailed(f"cancelling open orders: {error}", ctx.details) from None


async def _execute(ctx: CommandContext, requests: Sequence[OrderRequest]) -> list[OrderReport]:
    settings = ctx.settings
    try:
        return await ctx.gateway.execute(
            ctx.account.account_id,
            list(requests),
            time_in_force=settings.time_in_force.value,
            outside_rth=settings.extended_hours_enabled,
            timeout_seconds=settings.order_timeout_seconds,
        )
    except GatewayError as error:
        raise CommandFailed(f"placing orders: {error}", ctx.details) from None


def _require_complete(reports: list[OrderReport], side: str, details: Details) -> None:
    problems = [
        f"{r.action} {r.quantity} {r.symbol}: {r.status}, filled {r.filled}"
        + (f" ({r.error})" if r.error else "")
        for r in reports
        if not r.complete
    ]
    if problems:
        raise CommandFailed(f"{side} orders did not all fill: " + "; ".join(problems), details)
