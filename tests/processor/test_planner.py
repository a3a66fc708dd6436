"""The planner on accounts a trader recognises, and on input it must refuse."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from event_processor.planner import (
    Buy,
    Plan,
    PlanError,
    PlanInput,
    Quote,
    Replacement,
    Sell,
    apply_replacements,
    limit_price,
    plan_buys_after_sells,
    plan_rebalance,
    tracking_error,
)

ETF_QUOTES = {
    "SPY": Quote(bid=452.29, ask=452.31),
    "QQQ": Quote(bid=389.08, ask=389.12),
    "TLT": Quote(bid=92.39, ask=92.41),
    "GLD": Quote(bid=185.58, ask=185.62),
}


def cash_after(inp: PlanInput, plan: Plan) -> float:
    """Cash once the plan has run: sells at the bid, buys at their limit price."""
    cash = inp.cash
    cash += sum(sell.quantity * inp.quotes[sell.symbol].bid for sell in plan.sells)
    cash -= sum(buy.quantity * buy.limit_price for buy in plan.buys)
    return cash


def positions_after(inp: PlanInput, plan: Plan) -> dict[str, int]:
    positions = dict(inp.positions)
    for sell in plan.sells:
        positions[sell.symbol] -= sell.quantity
    for buy in plan.buys:
        positions[buy.symbol] = positions.get(buy.symbol, 0) + buy.quantity
    return {symbol: count for symbol, count in positions.items() if count}


def result_of(inp: PlanInput, plan: Plan) -> PlanInput:
    """The account as it stands once the plan has filled at its planned prices."""
    return replace(inp, positions=positions_after(inp, plan), cash=cash_after(inp, plan))


def cheapest_limit(inp: PlanInput) -> float:
    return min(limit_price(inp.quotes[s].ask, inp.buy_slippage_percent) for s in inp.targets)


def test_all_cash_goes_into_four_etfs_down_to_the_reserve() -> None:
    inp = PlanInput(
        net_liquidation=100_000.0,
        cash=100_000.0,
        positions={},
        quotes=ETF_QUOTES,
        targets={"SPY": 0.25, "QQQ": 0.25, "TLT": 0.25, "GLD": 0.25},
        cash_reserve_percent=1.0,
    )
    plan = plan_rebalance(inp)

    assert plan.sells == ()
    assert [buy.symbol for buy in plan.buys] == ["GLD", "QQQ", "SPY", "TLT"]
    assert {buy.symbol: buy.limit_price for buy in plan.buys} == {
        "GLD": 186.55,  # 185.62 x 1.005 = 186.5481, rounded up to the cent
        "QQQ": 391.07,
        "SPY": 454.58,
        "TLT": 92.88,
    }
    for buy in plan.buys:  # each about $24,750: a quarter of what is above the $1,000 reserve
        assert abs(buy.quantity * buy.limit_price - 24_750) < buy.limit_price
    assert plan.expected_cash_after == pytest.approx(cash_after(inp, plan), abs=1e-6)
    assert plan.expected_cash_after >= 1_000.0
    assert plan.expected_cash_after - 1_000.0 < cheapest_limit(inp)  # no whole share left idle
    assert plan.tracking_error < 0.003


def test_plain_per_symbol_rounding_leaves_more_error_than_the_plan() -> None:
    inp = PlanInput(
        net_liquidation=100_000.0,
        cash=100_000.0,
        positions={},
        quotes=ETF_QUOTES,
        targets={"SPY": 0.25, "QQQ": 0.25, "TLT": 0.25, "GLD": 0.25},
        cash_reserve_percent=1.0,
    )
    plan = plan_rebalance(inp)
    prices = {symbol: limit_price(q.ask, 0.5) for symbol, q in ETF_QUOTES.items()}
    naive = {s: math.floor(99_000 * 0.25 / prices[s]) for s in ETF_QUOTES}
    naive_cash = 100_000 - sum(naive[s] * prices[s] for s in naive)
    weights = {s: 0.25 * 0.99 for s in ETF_QUOTES}

    assert plan.tracking_error < tracking_error(naive, naive_cash, prices, weights)


def test_a_full_rotation_sells_everything_held_and_buys_the_new_targets() -> None:
    inp = PlanInput(
        net_liquidation=50_000.0,
        cash=120.0,
        positions={"IEF": 250, "VNQ": 275},
        quotes={
            "IEF": Quote(bid=95.10, ask=95.12),
            "VNQ": Quote(bid=94.35, ask=94.37),
            "SPY": Quote(bid=452.29, ask=452.31),
            "GLD": Quote(bid=185.58, ask=185.62),
        },
        targets={"SPY": 0.6, "GLD": 0.4},
        cash_reserve_percent=2.0,
    )
    plan = plan_rebalance(inp)

    assert plan.sells == (Sell("IEF", 250), Sell("VNQ", 275))
    proceeds = 120.0 + 250 * 95.10 + 275 * 94.35
    assert plan.expected_cash_after == pytest.approx(
        proceeds - sum(b.quantity * b.limit_price for b in plan.buys), abs=1e-6
    )
    gld, spy = (buy.quantity for buy in plan.buys)
    assert [buy.symbol for buy in plan.buys] == ["GLD", "SPY"]
    assert abs(spy * 454.58 - 0.6 * (proceeds - 1_000)) <= 454.58
    assert abs(gld * 186.55 - 0.4 * (proceeds - 1_000)) <= 186.55
    assert 1_000.0 <= plan.expected_cash_after < 1_000.0 + 186.55


def test_a_tiny_account_where_one_share_is_thirty_percent_uses_the_best_whole_shares() -> None:
    # $1,000 account; one SPY share is about 30% of it, one QQQ share about 15%.
    inp = PlanInput(
        net_liquidation=1_000.0,
        cash=1_000.0,
        positions={},
        quotes={"SPY": Quote(bid=299.90, ask=300.10), "QQQ": Quote(bid=149.90, ask=150.10)},
        targets={"SPY": 0.5, "QQQ": 0.5},
        cash_reserve_percent=0.0,
        buy_slippage_percent=0.0,
    )
    plan = plan_rebalance(inp)

    # 2 SPY + 2 QQQ ($900.40) has the least tracking error of all whole-share portfolios, but
    # leaves QQQ 1.33 shares below its 3.33; 1 SPY + 4 QQQ ($900.50) is the best with every
    # symbol within one share of its target. Per-symbol rounding (1 SPY, 3 QQQ) would leave
    # $249.60 idle.
    prices, weights = {"SPY": 300.10, "QQQ": 150.10}, {"SPY": 0.5, "QQQ": 0.5}
    portfolios = [(s, q) for s in range(4) for q in range(7) if s * 300.10 + q * 150.10 <= 1_000]

    def error(s: int, q: int) -> float:
        return tracking_error(
            {"SPY": s, "QQQ": q}, 1_000 - s * 300.10 - q * 150.10, prices, weights
        )

    def within_one_share(s: int, q: int) -> bool:
        return abs(s - 500 / 300.10) <= 1 and abs(q - 500 / 150.10) <= 1

    best_within = min(error(s, q) for s, q in portfolios if within_one_share(s, q))
    assert plan.tracking_error == pytest.approx(best_within)
    assert plan.tracking_error - min(error(s, q) for s, q in portfolios) < 0.0002
    assert {b.symbol: b.quantity for b in plan.buys} == {"SPY": 1, "QQQ": 4}
    assert plan.expected_cash_after < 150.10  # less than one share of the cheapest target


def test_an_ira_replacement_with_scale_one_and_a_half_sells_the_source_and_buys_the_target() -> (
    None
):
    # The IRA may not hold the 3x fund TQQQ: it buys QQQ with 1.5 times the weight instead,
    # and the other symbols give up that extra weight in proportion.
    inp = PlanInput(
        net_liquidation=200_000.0,
        cash=2_000.0,
        positions={"TQQQ": 1_000, "SPY": 200, "TLT": 400},
        quotes={
            "TQQQ": Quote(bid=61.20, ask=61.22),
            "QQQ": Quote(bid=389.08, ask=389.12),
            "SPY": Quote(bid=452.29, ask=452.31),
            "TLT": Quote(bid=92.39, ask=92.41),
        },
        targets={"TQQQ": 0.2, "SPY": 0.4, "TLT": 0.4},
        cash_reserve_percent=1.0,
        replacements=[Replacement(source="TQQQ", target="QQQ", scale=1.5)],
    )
    plan = plan_rebalance(inp)

    assert plan.target_weights == pytest.approx({"QQQ": 0.3, "SPY": 0.35, "TLT": 0.35})
    assert Sell("TQQQ", 1_000) in plan.sells
    assert all(buy.symbol != "TQQQ" for buy in plan.buys)
    qqq = next(buy for buy in plan.buys if buy.symbol == "QQQ")
    assert qqq.limit_price == 391.07
    after = plan.positions_after
    value = plan.expected_cash_after + sum(
        after[s] * limit_price(inp.quotes[s].ask, 0.5) for s in after
    )
    assert after["QQQ"] * 391.07 / value == pytest.approx(0.3 * 0.99, abs=0.002)
    assert plan.expected_cash_after >= plan.cash_reserve


def test_replacement_weights_land_on_one_symbol_and_add_up() -> None:
    weights = apply_replacements(
        {"SPY": 0.3, "VOO": 0.2, "TLT": 0.5},
        [Replacement("SPY", "VOO", 1.0)],
    )
    assert weights == pytest.approx({"VOO": 0.5, "TLT": 0.5})


def test_a_replacement_scaled_down_leaves_the_difference_in_cash() -> None:
    weights = apply_replacements({"TQQQ": 0.4, "SHY": 0.6}, [Replacement("TQQQ", "QQQ", 0.5)])
    assert weights == pytest.approx({"QQQ": 0.2, "SHY": 0.6})


def test_a_replacement_that_needs_more_weight_than_the_rest_holds_is_refused() -> None:
    with pytest.raises(PlanError, match=r"TQQQ -> QQQ x 1.5 add weight 0.4"):
        apply_replacements({"TQQQ": 0.8, "SHY": 0.2}, [Replacement("TQQQ", "QQQ", 1.5)])


def test_a_chain_of_replacements_is_refused() -> None:
    with pytest.raises(PlanError, match="chains of replacements are not supported"):
        apply_replacements(
            {"SPY": 1.0}, [Replacement("SPY", "VOO", 1.0), Replacement("VOO", "IVV", 1.0)]
        )


def test_an_over_weight_position_is_trimmed_to_fund_the_under_weight_one() -> None:
    inp = PlanInput(
        net_liquidation=100_000.0,
        cash=1_000.0,
        positions={"SPY": 150, "TLT": 300},  # about 68% / 28% against 50 / 50
        quotes=ETF_QUOTES,
        targets={"SPY": 0.5, "TLT": 0.5},
        cash_reserve_percent=1.0,
    )
    plan = plan_rebalance(inp)

    assert [sell.symbol for sell in plan.sells] == ["SPY"]
    assert [buy.symbol for buy in plan.buys] == ["TLT"]
    assert abs(plan.positions_after["SPY"] * 454.58 - plan.positions_after["TLT"] * 92.88) < 500
    assert plan.expected_cash_after >= plan.cash_reserve


def test_a_plans_result_plans_nothing() -> None:
    inp = PlanInput(
        net_liquidation=100_000.0,
        cash=1_000.0,
        positions={"SPY": 150, "TLT": 300, "IEF": 20},
        quotes={**ETF_QUOTES, "IEF": Quote(bid=95.10, ask=95.12)},
        targets={"SPY": 0.4, "TLT": 0.3, "GLD": 0.3},
        cash_reserve_percent=2.0,
    )
    plan = plan_rebalance(inp)
    again = plan_rebalance(result_of(inp, plan))
    assert (again.sells, again.buys) == ((), ())


def test_cash_below_the_reserve_is_restored_by_selling() -> None:
    inp = PlanInput(
        net_liquidation=100_000.0,
        cash=0.0,
        positions={"SPY": 110, "TLT": 544},  # fully invested, 50 / 50
        quotes=ETF_QUOTES,
        targets={"SPY": 0.5, "TLT": 0.5},
        cash_reserve_percent=5.0,
    )
    plan = plan_rebalance(inp)

    assert plan.buys == ()
    assert {sell.symbol for sell in plan.sells} == {"SPY", "TLT"}
    assert plan.expected_cash_after >= 5_000.0
    assert plan.expected_cash_after < 5_000.0 + 452.29  # no more than needed


def test_small_trades_are_skipped_but_a_non_target_is_always_sold() -> None:
    inp = PlanInput(
        net_liquidation=100_000.0,
        cash=300.0,
        positions={"SPY": 109, "TLT": 535, "IEF": 1},
        quotes={**ETF_QUOTES, "IEF": Quote(bid=95.10, ask=95.12)},
        targets={"SPY": 0.5, "TLT": 0.5},
        cash_reserve_percent=0.0,
        min_trade_value=1_000.0,
    )
    plan = plan_rebalance(inp)

    assert plan.sells == (Sell("IEF", 1),)  # $95 of IEF, below the minimum, still sold
    assert plan.buys == ()  # topping SPY and TLT up by a share or two is below $1,000


def test_minimum_drift_skips_trades_smaller_than_that_share_of_the_account() -> None:
    inp = PlanInput(
        net_liquidation=100_000.0,
        cash=2_000.0,
        positions={"SPY": 106, "TLT": 520},
        quotes=ETF_QUOTES,
        targets={"SPY": 0.5, "TLT": 0.5},
        cash_reserve_percent=0.0,
    )
    assert plan_rebalance(inp).buys  # $2,000 to spend: some buys
    assert plan_rebalance(replace(inp, min_drift_percent=2.5)).buys == ()  # none is 2.5%


def test_buys_planned_again_from_the_actual_cash_match_the_plan_when_the_fills_match() -> None:
    inp = PlanInput(
        net_liquidation=60_000.0,
        cash=500.0,
        positions={"IEF": 300, "SPY": 40},
        quotes={**ETF_QUOTES, "IEF": Quote(bid=95.10, ask=95.12)},
        targets={"SPY": 0.5, "GLD": 0.5},
        cash_reserve_percent=1.0,
    )
    plan = plan_rebalance(inp)
    after_sells = replace(
        inp,
        positions={s: n for s, n in positions_after(inp, replace(plan, buys=())).items()},
        cash=inp.cash + sum(sell.quantity * inp.quotes[sell.symbol].bid for sell in plan.sells),
    )
    assert plan_buys_after_sells(after_sells) == list(plan.buys)


def test_buys_planned_again_from_less_cash_than_expected_never_go_below_the_reserve() -> None:
    inp = PlanInput(
        net_liquidation=60_000.0,
        cash=30_000.0,
        positions={"SPY": 66},
        quotes=ETF_QUOTES,
        targets={"SPY": 0.5, "GLD": 0.5},
        cash_reserve_percent=1.0,
    )
    buys = plan_buys_after_sells(replace(inp, cash=29_000.0))  # the sells filled lower
    spent = sum(buy.quantity * buy.limit_price for buy in buys)
    assert [buy.symbol for buy in buys] == ["GLD"]
    assert 29_000.0 - spent >= 600.0


def test_a_held_symbol_the_sells_missed_is_not_sold_by_the_second_phase() -> None:
    inp = PlanInput(
        net_liquidation=60_000.0,
        cash=30_000.0,
        positions={"SPY": 66, "IEF": 10},
        quotes={**ETF_QUOTES, "IEF": Quote(bid=95.10, ask=95.12)},
        targets={"SPY": 0.5, "GLD": 0.5},
        cash_reserve_percent=1.0,
    )
    buys = plan_buys_after_sells(inp)
    assert all(isinstance(buy, Buy) and buy.symbol == "GLD" for buy in buys)


def test_limit_prices_round_up_to_the_cent() -> None:
    assert limit_price(100.0, 0.5) == 100.5
    assert limit_price(100.0, 0.0) == 100.0
    assert limit_price(452.37, 0.5) == 454.64  # 454.63185
    assert limit_price(0.0523, 0.5) == 0.06


def test_exactly_the_reserve_is_allowed_and_no_float_sum_goes_under_it() -> None:
    inp = PlanInput(
        net_liquidation=10_000.0,
        cash=10_000.0,
        positions={},
        quotes={"SPY": Quote(bid=99.99, ask=100.0)},
        targets={"SPY": 1.0},
        cash_reserve_percent=0.0,
        buy_slippage_percent=0.0,
    )
    plan = plan_rebalance(inp)
    assert plan.buys == (Buy("SPY", 100, 100.0),)
    assert plan.expected_cash_after == 0.0


def test_a_symbol_with_weight_zero_is_a_non_target_and_is_sold() -> None:
    inp = PlanInput(
        net_liquidation=10_000.0,
        cash=5_000.0,
        positions={"TLT": 50},
        quotes=ETF_QUOTES,
        targets={"SPY": 0.9, "TLT": 0.0},
        cash_reserve_percent=0.0,
    )
    plan = plan_rebalance(inp)
    assert plan.sells == (Sell("TLT", 50),)
    assert "TLT" not in plan.target_weights


GOOD = PlanInput(
    net_liquidation=10_000.0,
    cash=10_000.0,
    positions={"SPY": 2},
    quotes={"SPY": Quote(bid=452.29, ask=452.31), "TLT": Quote(bid=92.39, ask=92.41)},
    targets={"SPY": 0.5, "TLT": 0.5},
    cash_reserve_percent=1.0,
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quotes": {"SPY": Quote(0.0, 452.31), "TLT": Quote(92.39, 92.41)}}, "SPY bid 0.0"),
        ({"quotes": {"SPY": Quote(452.29, -1.0), "TLT": Quote(92.39, 92.41)}}, "SPY ask -1.0"),
        ({"quotes": {"SPY": Quote(452.29, 452.31), "TLT": Quote(math.nan, 92.41)}}, "TLT bid nan"),
        ({"quotes": {"SPY": Quote(452.4, 452.3), "TLT": Quote(92.39, 92.41)}}, "SPY is crossed"),
        ({"quotes": {"SPY": Quote(452.29, 452.31)}}, "no quote for TLT"),
        ({"positions": {"SPY": 2, "IEF": 5}}, r"no quote for IEF \(held, not a target\)"),
        ({"targets": {"SPY": 0.6, "TLT": 0.5}}, "weights sum to 1.1"),
        ({"targets": {"SPY": math.nan, "TLT": 0.5}}, "SPY weight: nan"),
        ({"targets": {"SPY": -0.1, "TLT": 0.5}}, "SPY weight: -0.1 is not between 0 and 1"),
        ({"net_liquidation": 0.0}, "net_liquidation: 0.0 is not positive"),
        ({"cash": math.inf}, "cash: inf is not a finite number"),
        ({"cash_reserve_percent": 140.0}, "cash_reserve_percent: 140.0 is not between 0 and 100"),
        ({"buy_slippage_percent": -0.5}, "buy_slippage_percent: -0.5"),
        ({"min_trade_value": math.nan}, "min_trade_value: nan"),
        ({"positions": {"SPY": -3}}, "SPY is -3 \\(short\\)"),
        ({"positions": {"SPY": 2.5}}, "SPY quantity 2.5 is not a whole number"),
        ({"replacements": [Replacement("SPY", "VOO", 0.0)]}, "scale 0.0 is not a positive"),
        ({"replacements": [Replacement("SPY", "SPY", 1.0)]}, "cannot replace itself"),
    ],
)
def test_bad_input_raises_one_precise_error(change: dict[str, object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan_rebalance(replace(GOOD, **change))  # type: ignore[arg-type]


def test_a_strategy_of_thirty_symbols_is_planned_and_keeps_the_reserve() -> None:
    # The exact search is exponential in the number of targets; past its node budget the best
    # plan found so far is taken. It must still be a valid plan.
    symbols = [f"ETF{n:02d}" for n in range(30)]
    quotes = {s: Quote(bid=20.0 + 7 * n, ask=20.05 + 7 * n) for n, s in enumerate(symbols)}
    inp = PlanInput(
        net_liquidation=250_000.0,
        cash=250_000.0,
        positions={},
        quotes=quotes,
        targets={s: 0.98 / 30 for s in symbols},
        cash_reserve_percent=1.0,
    )
    plan = plan_rebalance(inp)
    assert {buy.symbol for buy in plan.buys} == set(symbols)
    assert plan.expected_cash_after >= 2_500.0
    assert plan.tracking_error < 0.01


def test_weights_summing_a_little_over_one_are_scaled_to_one() -> None:
    inp = PlanInput(
        net_liquidation=100_000.0,
        cash=100_000.0,
        positions={},
        quotes=ETF_QUOTES,
        targets={"SPY": 0.335, "QQQ": 0.67},  # 1.005: rounding at the source
        cash_reserve_percent=0.0,
    )
    plan = plan_rebalance(inp)

    assert plan.target_weights == pytest.approx({"SPY": 0.335 / 1.005, "QQQ": 0.67 / 1.005})
    assert plan.expected_cash_after >= 0
