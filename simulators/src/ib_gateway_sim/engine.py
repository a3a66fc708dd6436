"""The matching engine: paper accounts, quotes, orders, fills, commissions. Pure: no I/O, no clock.

Every operation takes the current time as an argument and returns the events it caused; the
gateway turns events into messages for the connected clients.

Rules:
- A market BUY fills at the ask, a market SELL at the bid.
- A limit BUY fills (at the ask) when its limit is at or above the ask; a limit SELL fills (at the
  bid) when its limit is at or below the bid; otherwise it rests until a quote change makes it
  marketable, or until it is cancelled. An IOC order cancels what does not fill at once. TIF (DAY,
  GTC, IOC; others are rejected) and outsideRth are recorded and reported back but do not gate
  fills: an order fills whenever the quote allows, whatever the clock says.
- No margin: a BUY whose cost (with commission), plus what the account's other working BUY
  orders may cost, exceeds the cash is rejected (error 201). No shorting: a SELL of more shares
  than held (less what other working SELL orders already sell) is rejected (error 201).
- Commission (IB's fixed pricing): $0.005 per share, at least $1.00 per order, at most 1% of the
  trade value; charged per execution so that an order's executions add up to that.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ib_gateway_sim.faults import Faults
from ib_gateway_sim.instruments import Instrument, Quote, make_instrument
from ib_gateway_sim.messages import ErrorCode

# Money compared against cash may differ from it by float rounding only; this much is noise.
CASH_TOLERANCE = 1e-6
FIRST_PERM_ID = 1_000_001
SUPPORTED_TIFS = ("DAY", "GTC", "IOC")


class OrderStatus(StrEnum):
    SUBMITTED = "Submitted"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    REJECTED = "Rejected"


WORKING = frozenset({OrderStatus.SUBMITTED})


class Action(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


@dataclass(frozen=True)
class CommissionSchedule:
    per_share: float = 0.005
    minimum: float = 1.00
    maximum_rate: float = 0.01

    def total(self, shares: int, value: float) -> float:
        """What an order that has traded `shares` for `value` dollars costs in all."""
        if shares <= 0:
            return 0.0
        return round(min(max(self.per_share * shares, self.minimum), self.maximum_rate * value), 2)


@dataclass
class Position:
    quantity: int
    avg_cost: float


@dataclass
class Account:
    account_id: str
    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    realized_pnl: float = 0.0


@dataclass(frozen=True)
class OrderRequest:
    """A placeOrder as the client sent it, with the contract already resolved."""

    client_id: int
    order_id: int
    account: str
    instrument: Instrument
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    tif: str = "DAY"
    outside_rth: bool = False
    order_ref: str = ""


@dataclass
class Order:
    perm_id: int
    client_id: int
    order_id: int
    account_id: str
    instrument: Instrument
    action: str
    quantity: int
    order_type: str
    limit_price: float | None
    tif: str
    outside_rth: bool
    order_ref: str
    placed_at: datetime
    status: OrderStatus = OrderStatus.SUBMITTED
    filled: int = 0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    commission: float = 0.0
    completed_at: datetime | None = None
    reason: str = ""
    # A partial fill (fault) leaves the rest working but never filling.
    held: bool = False
    # A fill delay (fault) keeps a new order from matching until the gateway releases it.
    awaiting_release: bool = False

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def remaining(self) -> int:
        if self.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            return 0
        return self.quantity - self.filled

    @property
    def is_working(self) -> bool:
        return self.status in WORKING


@dataclass(frozen=True)
class Execution:
    exec_id: str
    order: Order
    shares: int
    price: float
    time: datetime
    cum_qty: int
    avg_price: float
    commission: float
    realized_pnl: float

    @property
    def side(self) -> str:
        """IB's execution side: BOT or SLD."""
        return "BOT" if self.order.action == Action.BUY else "SLD"


@dataclass(frozen=True)
class Valuation:
    cash: float
    stock_value: float
    realized_pnl: float
    unrealized_pnl: float

    @property
    def net_liquidation(self) -> float:
        return self.cash + self.stock_value


@dataclass(frozen=True)
class Preview:
    """A what-if order: what it would cost; nothing is placed."""

    order: Order
    commission: float
    equity_before: float


# Events: what changed, for the gateway to tell the clients.


@dataclass(frozen=True)
class OrderSubmitted:
    order: Order


@dataclass(frozen=True)
class OrderFilled:
    order: Order
    execution: Execution


@dataclass(frozen=True)
class OrderCancelled:
    order: Order
    code: ErrorCode
    reason: str


@dataclass(frozen=True)
class OrderRejected:
    order: Order
    code: ErrorCode
    reason: str


@dataclass(frozen=True)
class OrderError:
    """A request about an order id that cannot be honoured and leaves no order behind."""

    client_id: int
    order_id: int
    code: ErrorCode
    values: Mapping[str, object]


@dataclass(frozen=True)
class AccountChanged:
    account_id: str
    symbols: frozenset[str]


@dataclass(frozen=True)
class QuotesChanged:
    symbols: frozenset[str]


Event = (
    OrderSubmitted
    | OrderFilled
    | OrderCancelled
    | OrderRejected
    | OrderError
    | AccountChanged
    | QuotesChanged
)


class Engine:
    def __init__(self, faults: Faults, commissions: CommissionSchedule | None = None) -> None:
        self.faults = faults
        self.commissions = commissions or CommissionSchedule()
        self.instruments: dict[str, Instrument] = {}
        self.quotes: dict[str, Quote] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: list[Order] = []
        # Working orders by permId, in the order they were placed: what matching looks at.
        self._working: dict[int, Order] = {}
        self.executions: list[Execution] = []
        self._by_client_order: dict[tuple[int, int], Order] = {}
        self._by_perm: dict[int, Order] = {}
        self._next_order_ids: dict[int, int] = {}
        # Never reset: a client that stays connected across a reset must not see a permId twice.
        self._perm_seq = FIRST_PERM_ID
        self._exec_seq = 1

    # ---- state set up through the control API -------------------------------------------

    def reset(self) -> None:
        """Forget accounts, orders and executions (instruments and quotes stay)."""
        self.accounts.clear()
        self.orders.clear()
        self._working.clear()
        self.executions.clear()
        self._by_client_order.clear()
        self._by_perm.clear()
        self._next_order_ids.clear()

    def add_instrument(self, instrument: Instrument) -> None:
        self.instruments[instrument.symbol] = instrument

    def set_quotes(self, quotes: Mapping[str, Quote], now: datetime) -> list[Event]:
        """Set quotes (a new symbol becomes an instrument) and fill what became marketable."""
        for symbol, quote in quotes.items():
            if symbol not in self.instruments:
                self.instruments[symbol] = make_instrument(symbol)
            self.quotes[symbol] = quote
        changed = frozenset(quotes)
        events: list[Event] = [QuotesChanged(changed)]
        for order in [o for o in self._working.values() if o.symbol in changed]:
            events += self._match(order, now)
        for account in self.accounts.values():
            held = changed.intersection(account.positions)
            if held:
                events.append(AccountChanged(account.account_id, frozenset(held)))
        return events

    def put_account(
        self, account_id: str, cash: float, positions: Mapping[str, int]
    ) -> list[Event]:
        """Create or replace an account. Positions are valued at cost = today's mark."""
        unknown = sorted(symbol for symbol in positions if symbol not in self.quotes)
        if unknown:
            raise ValueError(
                f"account {account_id}: no quote for {', '.join(unknown)}; "
                "set quotes (PUT /quotes) before holding a symbol"
            )
        before = set(self.accounts[account_id].positions) if account_id in self.accounts else set()
        self.accounts[account_id] = Account(
            account_id=account_id,
            cash=float(cash),
            positions={
                symbol: Position(quantity, self.quotes[symbol].mark)
                for symbol, quantity in positions.items()
                if quantity != 0
            },
        )
        return [AccountChanged(account_id, frozenset(before | set(positions)))]

    # ---- reading state ---------------------------------------------------------------------

    def account_ids(self) -> list[str]:
        return sorted(self.accounts)

    def valuation(self, account: Account) -> Valuation:
        stock_value = 0.0
        unrealized = 0.0
        for symbol, position in account.positions.items():
            mark = self.quotes[symbol].mark if symbol in self.quotes else 0.0
            stock_value += position.quantity * mark
            unrealized += position.quantity * (mark - position.avg_cost)
        return Valuation(account.cash, stock_value, account.realized_pnl, unrealized)

    def next_valid_id(self, client_id: int) -> int:
        return self._next_order_ids.get(client_id, 1)

    def order_for(self, client_id: int, order_id: int) -> Order | None:
        return self._by_client_order.get((client_id, order_id))

    def order_by_perm(self, perm_id: int) -> Order | None:
        return self._by_perm.get(perm_id)

    def working_orders(self) -> list[Order]:
        return list(self._working.values())

    # ---- orders ------------------------------------------------------------------------------

    def place(self, request: OrderRequest, now: datetime, defer_fill: bool = False) -> list[Event]:
        """Accept (and try to fill) or reject an order; the same id again modifies it."""
        key = (request.client_id, request.order_id)
        self._next_order_ids[request.client_id] = max(
            self.next_valid_id(request.client_id), request.order_id + 1
        )
        existing = self._by_client_order.get(key)
        if existing is not None:
            return self._modify(existing, request, now)

        order = self._new_order(request, now)
        problem = self._validate(order, request)
        if problem is None and self.faults.take_reject():
            problem = (ErrorCode.ORDER_REJECTED, "simulated rejection (fault injection)")
        if problem is not None:
            code, reason = problem
            order.reason = reason
            self._finish(order, OrderStatus.REJECTED, now)
            return [OrderRejected(_snapshot(order), code, reason)]

        self._working[order.perm_id] = order
        order.awaiting_release = defer_fill
        events: list[Event] = [OrderSubmitted(_snapshot(order))]
        return events + self._match(order, now) + self._expire_ioc(order, now)

    def preview(self, request: OrderRequest, now: datetime) -> Preview | str:
        """Commission and equity for a what-if order, or why it cannot be placed."""
        accounts = self.account_ids()
        account_id = request.account or (accounts[0] if len(accounts) == 1 else "")
        account = self.accounts.get(account_id)
        if account is None:
            return f"account {account_id or '(none)'} is not managed by this login"
        quantity = float(request.quantity)
        order = Order(
            perm_id=0,
            client_id=request.client_id,
            order_id=request.order_id,
            account_id=account_id,
            instrument=request.instrument,
            action=request.action,
            quantity=int(quantity) if quantity.is_integer() else 0,
            order_type=request.order_type,
            limit_price=request.limit_price,
            tif=request.tif or "DAY",
            outside_rth=request.outside_rth,
            order_ref=request.order_ref,
            placed_at=now,
        )
        price = self._estimated_price(order) or 0.0
        commission = self.commissions.total(order.quantity, order.quantity * price)
        return Preview(order, commission, self.valuation(account).net_liquidation)

    def release(self, perm_id: int, now: datetime) -> list[Event]:
        """End a fill delay: the order may fill from now on."""
        order = self._by_perm.get(perm_id)
        if order is None or not order.awaiting_release:
            return []
        order.awaiting_release = False
        return self._match(order, now) + self._expire_ioc(order, now)

    def cancel(self, client_id: int, order_id: int, now: datetime) -> list[Event]:
        order = self._by_client_order.get((client_id, order_id))
        if order is None:
            return [
                OrderError(client_id, order_id, ErrorCode.CANNOT_FIND_ORDER, {"order_id": order_id})
            ]
        if not order.is_working:
            return [
                OrderError(
                    client_id,
                    order_id,
                    ErrorCode.CANNOT_CANCEL_FILLED,
                    {"order_id": order_id, "state": order.status.value},
                )
            ]
        return self._cancel(order, now, ErrorCode.ORDER_CANCELLED, "")

    def global_cancel(self, now: datetime) -> list[Event]:
        events: list[Event] = []
        for order in self.working_orders():
            events += self._cancel(order, now, ErrorCode.ORDER_CANCELLED, "")
        return events

    # ---- internals ---------------------------------------------------------------------------

    def _new_order(self, request: OrderRequest, now: datetime) -> Order:
        quantity = float(request.quantity)
        order = Order(
            perm_id=self._perm_seq,
            client_id=request.client_id,
            order_id=request.order_id,
            account_id=request.account,
            instrument=request.instrument,
            action=request.action,
            quantity=int(quantity) if math.isfinite(quantity) and quantity.is_integer() else 0,
            order_type=request.order_type,
            limit_price=request.limit_price,
            tif=request.tif or "DAY",
            outside_rth=request.outside_rth,
            order_ref=request.order_ref,
            placed_at=now,
        )
        self._perm_seq += 1
        self.orders.append(order)
        self._by_perm[order.perm_id] = order
        self._by_client_order[(order.client_id, order.order_id)] = order
        return order

    def _validate(self, order: Order, request: OrderRequest) -> tuple[ErrorCode, str] | None:
        if not order.account_id:
            if len(self.accounts) != 1:
                return ErrorCode.FA_ALLOCATION_MISSING, "no account given"
            order.account_id = next(iter(self.accounts))
        account = self.accounts.get(order.account_id)
        if account is None:
            return (
                ErrorCode.ORDER_REJECTED,
                f"account {order.account_id} is not managed by this login",
            )
        if order.action not in (Action.BUY, Action.SELL):
            return ErrorCode.ORDER_REJECTED, f"action {order.action!r} is not BUY or SELL"
        if order.order_type not in ("MKT", "LMT"):
            return (
                ErrorCode.UNSUPPORTED_ORDER_TYPE,
                f"order type {order.order_type!r}: the simulator takes MKT and LMT",
            )
        if request.quantity == 0:
            return ErrorCode.ORDER_SIZE_ZERO, "quantity is zero"
        if order.quantity <= 0:
            return (
                ErrorCode.ORDER_REJECTED,
                f"quantity {request.quantity} is not a positive whole number of shares",
            )
        if order.tif not in SUPPORTED_TIFS:
            return (
                ErrorCode.ORDER_REJECTED,
                f"time in force {order.tif!r}: the simulator takes {', '.join(SUPPORTED_TIFS)}",
            )
        if order.order_type == "LMT" and not (order.limit_price and order.limit_price > 0):
            return ErrorCode.ORDER_REJECTED, "a limit order needs a positive limit price"
        if order.action == Action.BUY:
            return self._check_cash(order, account)
        return self._check_shares(order, account)

    def _estimated_price(self, order: Order) -> float | None:
        if order.order_type == "LMT":
            return order.limit_price
        quote = self.quotes.get(order.symbol)
        if quote is None:
            return None
        return quote.ask if order.action == Action.BUY else quote.bid

    def _estimated_cost(self, order: Order, shares: int) -> float:
        price = self._estimated_price(order) or 0.0
        return shares * price + self.commissions.total(shares, shares * price)

    def _check_cash(self, order: Order, account: Account) -> tuple[ErrorCode, str] | None:
        if self._estimated_price(order) is None:
            return ErrorCode.ORDER_REJECTED, f"no ask price for {order.symbol}"
        committed = sum(
            self._estimated_cost(other, other.remaining)
            for other in self._working.values()
            if other is not order
            and other.account_id == account.account_id
            and other.action == Action.BUY
        )
        available = account.cash - committed
        cost = self._estimated_cost(order, order.quantity)
        if cost > available + CASH_TOLERANCE:
            return (
                ErrorCode.ORDER_REJECTED,
                "YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR "
                f"AVAILABLE FUNDS [{available:.2f} USD] MUST EXCEED THE ORDER COST "
                f"[{cost:.2f} USD] (cash account: no margin)",
            )
        return None

    def _check_shares(self, order: Order, account: Account) -> tuple[ErrorCode, str] | None:
        if order.order_type == "MKT" and self._estimated_price(order) is None:
            return ErrorCode.ORDER_REJECTED, f"no bid price for {order.symbol}"
        held = account.positions[order.symbol].quantity if order.symbol in account.positions else 0
        committed = sum(
            other.remaining
            for other in self._working.values()
            if other is not order
            and other.account_id == account.account_id
            and other.symbol == order.symbol
            and other.action == Action.SELL
        )
        free = held - committed
        if order.quantity > free:
            return (
                ErrorCode.ORDER_REJECTED,
                f"YOUR ORDER IS NOT ACCEPTED. SELLING {order.quantity} {order.symbol} WOULD "
                f"OPEN A SHORT POSITION: ACCOUNT {account.account_id} HAS {free} SHARES FREE "
                "TO SELL (no short sales)",
            )
        return None

    def _modify(self, order: Order, request: OrderRequest, now: datetime) -> list[Event]:
        if not order.is_working:
            return [OrderError(order.client_id, order.order_id, ErrorCode.DUPLICATE_ORDER_ID, {})]
        changes_identity = (
            request.instrument.symbol != order.symbol
            or request.action != order.action
            or (request.account and request.account != order.account_id)
        )
        new_quantity = float(request.quantity)
        if changes_identity or not new_quantity.is_integer() or new_quantity < order.filled:
            return [
                OrderError(
                    order.client_id,
                    order.order_id,
                    ErrorCode.ORDER_REJECTED,
                    {"reason": "a modification may change only quantity, limit price and TIF"},
                )
            ]
        order.quantity = int(new_quantity)
        order.limit_price = request.limit_price
        order.order_type = request.order_type
        order.tif = request.tif or order.tif
        order.outside_rth = request.outside_rth
        if order.remaining == 0:
            self._finish(order, OrderStatus.FILLED, now)
            return [OrderSubmitted(_snapshot(order))]
        events: list[Event] = [OrderSubmitted(_snapshot(order))]
        return events + self._match(order, now)

    def _cancel(self, order: Order, now: datetime, code: ErrorCode, reason: str) -> list[Event]:
        order.reason = reason
        self._finish(order, OrderStatus.CANCELLED, now)
        return [OrderCancelled(_snapshot(order), code, reason)]

    def _finish(self, order: Order, status: OrderStatus, now: datetime) -> None:
        order.status = status
        order.completed_at = now
        self._working.pop(order.perm_id, None)

    def _expire_ioc(self, order: Order, now: datetime) -> list[Event]:
        """An immediate-or-cancel order cancels what did not fill at once."""
        if order.tif != "IOC" or not order.is_working or order.awaiting_release:
            return []
        return self._cancel(order, now, ErrorCode.ORDER_CANCELLED, "immediate-or-cancel")

    def _match(self, order: Order, now: datetime) -> list[Event]:
        if not order.is_working or order.held or order.awaiting_release:
            return []
        quote = self.quotes.get(order.symbol)
        if quote is None:
            return []
        if order.action == Action.BUY:
            price = quote.ask
            marketable = bool(price) and (
                order.order_type == "MKT" or (order.limit_price or 0) >= (price or 0)
            )
        else:
            price = quote.bid
            marketable = bool(price) and (
                order.order_type == "MKT" or (order.limit_price or math.inf) <= (price or 0)
            )
        if not marketable or price is None:
            return []

        shares = order.remaining
        ratio = self.faults.partial_fill_ratio
        if ratio is not None and order.filled == 0 and ratio < 1:
            shares = math.floor(order.remaining * ratio)
            order.held = True
            if shares <= 0:
                return []
        return self._fill(order, shares, price, now)

    def _fill(self, order: Order, shares: int, price: float, now: datetime) -> list[Event]:
        account = self.accounts.get(order.account_id)
        if account is None:
            return self._cancel(order, now, ErrorCode.ORDER_REJECTED, "account no longer exists")
        cum_shares = order.filled + shares
        cum_value = order.avg_fill_price * order.filled + price * shares
        commission = round(self.commissions.total(cum_shares, cum_value) - order.commission, 2)
        position = account.positions.get(order.symbol)
        held = position.quantity if position else 0
        realized = 0.0

        if order.action == Action.BUY:
            cost = shares * price + commission
            if cost > account.cash + CASH_TOLERANCE:
                return self._cancel(
                    order,
                    now,
                    ErrorCode.ORDER_REJECTED,
                    f"cash {account.cash:.2f} USD does not cover {cost:.2f} USD at fill",
                )
            account.cash -= cost
            old_cost = position.avg_cost * held if position else 0.0
            account.positions[order.symbol] = Position(
                held + shares, (old_cost + shares * price + commission) / (held + shares)
            )
        else:
            if shares > held or position is None:
                return self._cancel(
                    order,
                    now,
                    ErrorCode.ORDER_REJECTED,
                    f"account holds {held} {order.symbol} at fill, cannot sell {shares}",
                )
            account.cash += shares * price - commission
            realized = round((price - position.avg_cost) * shares - commission, 2)
            account.realized_pnl += realized
            if held == shares:
                del account.positions[order.symbol]
            else:
                position.quantity = held - shares

        order.filled = cum_shares
        order.avg_fill_price = cum_value / cum_shares
        order.last_fill_price = price
        order.commission += commission
        if order.remaining == 0:
            self._finish(order, OrderStatus.FILLED, now)
        execution = Execution(
            exec_id=f"{self._exec_seq:08x}.{order.perm_id:08x}.01.01",
            order=order,
            shares=shares,
            price=price,
            time=now,
            cum_qty=cum_shares,
            avg_price=order.avg_fill_price,
            commission=commission,
            realized_pnl=realized,
        )
        self._exec_seq += 1
        self.executions.append(execution)
        return [
            OrderFilled(_snapshot(order), execution),
            AccountChanged(account.account_id, frozenset({order.symbol})),
        ]


def _snapshot(order: Order) -> Order:
    """The order as it is now: an event must not show what happened to it afterwards."""
    return copy.copy(order)
