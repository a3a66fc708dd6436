"""IB's books kept in plain values, behind the processor's Gateway seam: fills at the ask (a
buy's limit is ask + slippage) or the bid, IB's fixed commissions, net liquidation at the last
price. The same rules as ib-gateway-sim, without a process, for the rebalance command's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from event_processor.allocations import StrategyAllocations
from event_processor.commands.base import CommandContext
from event_processor.gateway import AccountSnapshot, OpenOrder, OrderReport, OrderRequest
from event_processor.hours import Session
from event_processor.planner import Quote
from rebalancer_shared.events import AccountSettings, Command, Event
from rebalancer_shared.settings import Settings

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
