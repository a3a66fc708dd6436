"""The rebalance command's buying rounds against IB's books kept in plain values: fills at the
ask (a buy's limit is ask + slippage) or the bid, IB's fixed commissions, net liquidation at the
last price. The same rules as ib-gateway-sim, without a process: the rounds are exact here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from event_processor.allocations import StrategyAllocations
from event_processor.commands.base import CommandContext, CommandFailed, Details
from event_processor.commands.rebalance import rebalance
from event_processor.gateway import AccountSnapshot, OpenOrder, OrderReport, OrderRequest
from event_processor.hours import Session
from event_processor.planner import PlanInput, Quote, plan_buys_after_sells
from rebalancer_shared.events import AccountSettings, Command, Event
from rebalancer_shared.settings import Settings

from tests.support.targets import shares_off_target

ACCOUNT = "DU5000116"
PRICES = {
    # symbol: (bid, ask, last), as in the chaos test
    "DBC": (22.50, 22.52, 22.51),
    "VTI": (290.00, 290.04, 290.02),
    "LQD": (108.00, 108.03, 108.01),
    "IEF": (95.00, 95.02, 95.01),
}
ASKS = {symbol: ask for symbol, (_, ask, _) in PRICES.items()}


def commission(shares: int, value: float) -> float:
    """IB's fixed pricing: $0.005 a share, at least $1, at most 1 % of the value."""
    return round(min(max(0.005 * shares, 1.00), 0.01 * value), 2)


class Books:
    """One account at IB: every order fills at once, at the ask (buy) or the bid (sell)."""

    def __init__(self, cash: float, positions: dict[str, int]) -> None:
        self.cash = cash
        self.positions = dict(positions)
        self.batches: list[list[OrderRequest]] = []
        self.commission_reports = True
        self.snapshots: list[AccountSnapshot] = []

    @property
    def connected(self) -> bool:
        return True

    @property
    def net_liquidation(self) -> float:
        return self.cash + sum(n * PRICES[s][2] for s, n in self.positions.items())

    async def ensure_connected(self) -> None:
        return None

    async def server_time(self) -> datetime:
        return datetime(2026, 11, 23, 19, 0, tzinfo=UTC)  # Monday 14:00 in New York

    async def snapshot(self, account_id: str) -> AccountSnapshot:
        held = {s: n for s, n in self.positions.items() if n}
        self.snapshots.append(AccountSnapshot(account_id, self.net_liquidation, self.cash, held))
        return self.snapshots[-1]

    async def sessions(self, symbols: list[str], extended_hours: bool) -> dict[str, list[Session]]:
        now = await self.server_time()
        return {s: [Session(now - timedelta(hours=4), now + timedelta(hours=2))] for s in symbols}

    async def quotes(self, symbols: list[str]) -> dict[str, Quote]:
        return {s: Quote(bid=PRICES[s][0], ask=PRICES[s][1]) for s in symbols}

    async def open_orders(self, account_id: str) -> list[OpenOrder]:
        return []

    async def cancel_open_orders(self, account_id: str, timeout_seconds: float) -> int:
        return 0

    async def execute(
        self,
        account_id: str,
        orders: list[OrderRequest],
        time_in_force: str,
        outside_rth: bool,
        timeout_seconds: float,
    ) -> list[OrderReport]:
        self.batches.append(list(orders))
        reports: list[OrderReport] = []
        for order in orders:
            bid, ask, _ = PRICES[order.symbol]
            price = ask if order.action == "BUY" else bid
            assert order.limit_price is None or order.limit_price >= price
            paid = commission(order.quantity, order.quantity * price)
            sign = 1 if order.action == "BUY" else -1
            self.cash -= sign * order.quantity * price + paid
            self.positions[order.symbol] = (
                self.positions.get(order.symbol, 0) + sign * order.quantity
            )
            reports.append(
                OrderReport(
                    symbol=order.symbol,
                    action=order.action,
                    quantity=order.quantity,
                    order_type="MKT" if order.limit_price is None else "LMT",
                    limit_price=order.limit_price,
                    order_id=len(self.batches) * 100 + len(reports),
                    status="Filled",
                    filled=order.quantity,
                    average_price=price,
                    commission=paid if self.commission_reports else 0.0,
                    commissions_known=self.commission_reports,
                )
            )
        return reports


class Allocations:
    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = weights

    async def fetch(self, strategy_name: str) -> StrategyAllocations:
        return StrategyAllocations(strategy_name, None, None, dict(self.weights))


def context(books: Books, weights: dict[str, float], reserve_percent: float) -> CommandContext:
    account = AccountSettings(
        account_id=ACCOUNT,
        type="paper",
        strategy_name="all-weather",
        cash_reserve_percent=reserve_percent,
    )
    event = Event(account_id=ACCOUNT, exec=Command.REBALANCE, account=account)

    async def guard() -> None:
        return None

    return CommandContext(
        event=event,
        account=account,
        settings=Settings(_env_file=None),
        gateway=books,
        allocations=Allocations(weights),  # type: ignore[arg-type]
        guard=guard,
    )


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
