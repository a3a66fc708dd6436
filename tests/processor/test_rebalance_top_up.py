"""The rebalance command's buying rounds against IB's books kept in plain values: fills at the
ask (a buy's limit is ask + slippage) or the bid, IB's fixed commissions, net liquidation at the
last price. The same rules as ib-gateway-sim, without a process: the rounds are exact here."""

from __future__ import annotations

import pytest
from event_processor.commands.base import CommandFailed, Details
from event_processor.commands.rebalance import rebalance
from event_processor.planner import PlanInput, plan_buys_after_sells
from rebalancer_testkit.targets import shares_off_target

from tests.processor.books import ASKS, PRICES, Books, context

# A $469k account moving from bonds to a cheap commodity fund: seed 25 of the chaos test.
WEIGHTS = {"DBC": 0.524, "VTI": 0.441}
RESERVE = 1.0


async def test_the_top_up_repeats_until_planning_again_buys_nothing() -> None:
    books = Books(400_917.00, {"LQD": 192, "IEF": 204, "VTI": 96})

    details: Details = await rebalance(context(books, WEIGHTS, RESERVE))

    # Every symbol within one share of its target (taken of the net liquidation the buys were
    # planned with, after the sells). The first top-up, 48 DBC and 4 VTI, filled at the ask
    # and left $11.60 (less $2 commissions) below its limits: one DBC more. After that round
    # alone the account ended 1.008 DBC short.
    after_sells = books.snapshots[-1]
    off = shares_off_target(
        books.positions, books.cash, after_sells.net_liquidation, WEIGHTS, RESERVE, ASKS
    )
    assert all(abs(shares) <= 1.0 for shares in off.values()), off
    assert [len(batch) for batch in books.batches] == [2, 2, 2, 1]
    assert details["top_up"] == [
        {"symbol": "DBC", "quantity": 48, "limit_price": 22.64},
        {"symbol": "VTI", "quantity": 4, "limit_price": 291.5},
        {"symbol": "DBC", "quantity": 1, "limit_price": 22.64},
    ]
    # Where the rebalance ends, planning again buys nothing: the planner's own fixed point.
    again = PlanInput(
        net_liquidation=after_sells.net_liquidation,
        cash=books.cash,
        positions=books.positions,
        quotes=await books.quotes(sorted(PRICES)),
        targets=WEIGHTS,
        cash_reserve_percent=RESERVE,
    )
    assert plan_buys_after_sells(again) == []
    assert details["cash_after"] == pytest.approx(books.cash, abs=0.005)
    assert details["positions_after"] == {"DBC": 10_796, "VTI": 706}


async def test_a_missing_commission_report_fails_the_event_instead_of_ending_short() -> None:
    books = Books(400_917.00, {"LQD": 192, "IEF": 204, "VTI": 96})
    books.commission_reports = False  # IB's reports came later than the processor waited

    with pytest.raises(CommandFailed, match="no commission report for BUY 10747 DBC") as failed:
        await rebalance(context(books, WEIGHTS, RESERVE))

    # Nothing was topped up on a guess: the retry plans it from IB's books.
    assert [len(batch) for batch in books.batches] == [2, 2]
    assert failed.value.details["top_up"] == []
    off = shares_off_target(
        books.positions, books.cash, books.net_liquidation, WEIGHTS, RESERVE, ASKS
    )
    assert off["DBC"] < -40, "without the top-up the account stays far below its target"
