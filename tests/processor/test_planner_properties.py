"""Properties of every plan, over thousands of generated accounts (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

from event_processor.planner import (
    Plan,
    PlanInput,
    Quote,
    Replacement,
    limit_price,
    plan_buys_after_sells,
    plan_rebalance,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.profiles import examples

# Deadline and health checks come from the profile (tests/support/profiles.py).
SETTINGS = settings(max_examples=examples(1_500))
UNIVERSE = ["SPY", "QQQ", "TLT", "GLD", "IEF", "VNQ", "SHY", "TQQQ"]


@st.composite
def accounts(draw: st.DrawFn, thresholds: bool = False) -> PlanInput:
    """A consistent account: net liquidation is cash plus positions at mid prices."""
    symbols = draw(st.lists(st.sampled_from(UNIVERSE), min_size=2, max_size=7, unique=True))
    quotes: dict[str, Quote] = {}
    for symbol in symbols:
        mid = draw(st.floats(5.0, 900.0))
        spread = draw(st.floats(0.01, max(0.02, mid * 0.004)))
        bid = round(mid - spread / 2, 2)
        quotes[symbol] = Quote(bid=max(0.01, bid), ask=round(max(0.01, bid) + spread, 2) + 0.01)
    n_targets = draw(st.integers(1, len(symbols)))
    raw = [draw(st.floats(0.05, 1.0)) for _ in range(n_targets)]
    total = draw(st.sampled_from([1.0, 1.0, 0.9, 1.005]))
    targets = {
        s: min(1.0, round(total * w / sum(raw), 4)) for s, w in zip(symbols, raw, strict=False)
    }
    if draw(st.booleans()):
        targets[symbols[-1]] = 0.0  # weight 0: a non-target
    positions = {
        s: draw(st.integers(0, 3_000)) for s in symbols if draw(st.integers(0, 2)) and s in quotes
    }
    cash = draw(st.floats(0.0, 500_000.0))
    mids = {s: (q.bid + q.ask) / 2 for s, q in quotes.items()}
    value = cash + sum(count * mids[s] for s, count in positions.items())
    if value < 100:
        cash += 1_000.0
        value += 1_000.0
    replacements: list[Replacement] = []
    if draw(st.integers(0, 4)) == 0 and len(targets) >= 2:
        source = next(iter(targets))
        target = draw(
            st.sampled_from([s for s in UNIVERSE if s != source and s in quotes] or [source])
        )
        if target != source:
            replacements.append(Replacement(source, target, draw(st.sampled_from([0.5, 1.0]))))
    return PlanInput(
        net_liquidation=round(value, 2),
        cash=round(cash, 2),
        positions={s: n for s, n in positions.items() if n},
        quotes=quotes,
        targets=targets,
        cash_reserve_percent=draw(st.sampled_from([0.0, 1.0, 2.0, 5.0, 10.0])),
        buy_slippage_percent=draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])),
        replacements=replacements,
        min_trade_value=draw(st.sampled_from([0.0, 100.0, 1_000.0])) if thresholds else 0.0,
        min_drift_percent=draw(st.sampled_from([0.0, 0.25, 1.0])) if thresholds else 0.0,
    )


def cash_after(inp: PlanInput, plan: Plan) -> float:
    cash = inp.cash + sum(s.quantity * inp.quotes[s.symbol].bid for s in plan.sells)
    return cash - sum(b.quantity * b.limit_price for b in plan.buys)


def result_of(inp: PlanInput, plan: Plan) -> PlanInput:
    positions = dict(inp.positions)
    for sell in plan.sells:
        positions[sell.symbol] -= sell.quantity
    for buy in plan.buys:
        positions[buy.symbol] = positions.get(buy.symbol, 0) + buy.quantity
    return replace(
        inp,
        positions={s: n for s, n in positions.items() if n},
        cash=cash_after(inp, plan),
    )


@SETTINGS
@given(accounts())
def test_whole_shares_no_shorts_and_never_below_the_reserve(inp: PlanInput) -> None:
    plan = plan_rebalance(inp)
    reserve = inp.net_liquidation * inp.cash_reserve_percent / 100
    for quantity in [sell.quantity for sell in plan.sells] + [buy.quantity for buy in plan.buys]:
        assert type(quantity) is int and quantity > 0
    for sell in plan.sells:
        assert sell.quantity <= inp.positions[sell.symbol]  # never more than held
    assert all(count >= 0 for count in plan.positions_after.values())
    assert abs(plan.expected_cash_after - cash_after(inp, plan)) < 1e-6
    if plan.buys:
        assert cash_after(inp, plan) >= reserve - 1e-6
    elif cash_after(inp, plan) < reserve - 1e-6:  # only when even selling all cannot reach it
        assert not any(plan.positions_after.values())
    for buy in plan.buys:  # a buy's limit is the ask plus slippage, rounded up to the cent
        ask = inp.quotes[buy.symbol].ask
        assert buy.limit_price >= ask * (1 + inp.buy_slippage_percent / 100) - 1e-9
        assert abs(buy.limit_price * 100 - round(buy.limit_price * 100)) < 1e-6  # whole cents


@SETTINGS
@given(accounts())
def test_every_non_target_position_is_liquidated(inp: PlanInput) -> None:
    plan = plan_rebalance(inp)
    for symbol in inp.positions:
        if symbol not in plan.target_weights:
            assert plan.positions_after[symbol] == 0, symbol
            assert all(buy.symbol != symbol for buy in plan.buys)


@SETTINGS
@given(accounts())
def test_planning_the_result_again_plans_nothing(inp: PlanInput) -> None:
    plan = plan_rebalance(inp)
    again = plan_rebalance(result_of(inp, plan))
    assert (again.sells, again.buys) == ((), ())


@settings(max_examples=examples(800))
@given(accounts(thresholds=True))
def test_with_thresholds_planning_the_result_again_finds_no_trade_worth_making(
    inp: PlanInput,
) -> None:
    plan = plan_rebalance(inp)
    again = plan_rebalance(result_of(inp, plan))
    assert (again.sells, again.buys) == ((), ())


@settings(max_examples=examples(500))
@given(accounts())
def test_buys_planned_after_the_sells_respect_the_reserve_and_never_sell(inp: PlanInput) -> None:
    plan = plan_rebalance(inp)
    after_sells = result_of(inp, replace(plan, buys=()))
    buys = plan_buys_after_sells(after_sells)
    reserve = inp.net_liquidation * inp.cash_reserve_percent / 100
    spent = sum(buy.quantity * buy.limit_price for buy in buys)
    assert not buys or after_sells.cash - spent >= reserve - 1e-6
    assert all(buy.quantity > 0 for buy in buys)


@SETTINGS
@given(accounts())
def test_every_symbol_ends_within_one_share_of_its_target_where_the_cash_allows(
    inp: PlanInput,
) -> None:
    """Targets as the planner takes them: weight x (value - reserve), the value being cash plus
    every position at its limit price once the plan has filled. A symbol may end more than a
    share below its target only when the cash above the reserve cannot buy one more share."""
    plan = plan_rebalance(inp)
    after = plan.positions_after
    limits = {s: limit_price(q.ask, inp.buy_slippage_percent) for s, q in inp.quotes.items()}
    value = plan.expected_cash_after + sum(n * limits[s] for s, n in after.items())
    spare = plan.expected_cash_after - plan.cash_reserve
    for symbol, weight in plan.target_weights.items():
        target = weight * (value - plan.cash_reserve) / limits[symbol]
        off = after.get(symbol, 0) - target
        assert off <= 1 + 1e-6, (symbol, off)
        assert off >= -1 - 1e-6 or spare < limits[symbol], (symbol, off, spare)
