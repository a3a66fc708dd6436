"""The matching engine on plain values: fills, rests, rejects, commissions, cash and positions."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime

import pytest
from ib_gateway_sim.engine import (
    AccountChanged,
    CommissionSchedule,
    Engine,
    Event,
    OrderCancelled,
    OrderError,
    OrderFilled,
    OrderRejected,
    OrderRequest,
    OrderSubmitted,
)
from ib_gateway_sim.faults import Faults
from ib_gateway_sim.instruments import Quote, make_instrument
from ib_gateway_sim.messages import ErrorCode

NOW = datetime(2024, 7, 9, 19, 0, tzinfo=UTC)
ACCOUNT = "DU1111111"


def make_engine(cash: float = 10_000.0, positions: dict[str, int] | None = None) -> Engine:
    engine = Engine(Faults())
    engine.set_quotes(
        {
            "SPY": Quote(bid=540.10, ask=540.12, last=540.11),
            "TLT": Quote(bid=92.30, ask=92.32, last=92.31),
        },
        NOW,
    )
    engine.put_account(ACCOUNT, cash, positions or {})
    return engine


def order(
    order_id: int,
    action: str,
    quantity: float,
    symbol: str = "SPY",
    limit: float | None = None,
    account: str = ACCOUNT,
    client_id: int = 1,
) -> OrderRequest:
    return OrderRequest(
        client_id=client_id,
        order_id=order_id,
        account=account,
        instrument=make_instrument(symbol),
        action=action,
        quantity=quantity,
        order_type="MKT" if limit is None else "LMT",
        limit_price=limit,
    )


def kinds(events: list[Event]) -> list[str]:
    return [type(event).__name__ for event in events]


def test_market_buy_fills_at_the_ask_and_pays_price_plus_commission() -> None:
    engine = make_engine(cash=10_000.0)
    events = engine.place(order(1, "BUY", 10), NOW)
    assert kinds(events) == ["OrderSubmitted", "OrderFilled", "AccountChanged"]
    fill = events[1]
    assert isinstance(fill, OrderFilled)
    assert (fill.execution.price, fill.execution.shares, fill.execution.commission) == (
        540.12,
        10,
        1.00,
    )
    account = engine.accounts[ACCOUNT]
    assert account.cash == pytest.approx(10_000.0 - 5_401.20 - 1.00)
    position = account.positions["SPY"]
    assert position.quantity == 10
    assert position.avg_cost == pytest.approx((5_401.20 + 1.00) / 10)


def test_market_sell_fills_at_the_bid_and_books_realized_pnl() -> None:
    engine = make_engine(cash=0.0, positions={"TLT": 100})  # bought at the mark, 92.31
    events = engine.place(order(1, "SELL", 100, "TLT"), NOW)
    fill = events[1]
    assert isinstance(fill, OrderFilled)
    assert fill.execution.price == 92.30
    assert fill.execution.realized_pnl == pytest.approx((92.30 - 92.31) * 100 - 1.00)
    account = engine.accounts[ACCOUNT]
    assert account.cash == pytest.approx(9_230.0 - 1.00)
    assert account.positions == {}


def test_limit_buy_below_the_ask_rests_and_fills_at_the_ask_when_the_quote_reaches_it() -> None:
    engine = make_engine()
    assert kinds(engine.place(order(1, "BUY", 5, limit=539.50), NOW)) == ["OrderSubmitted"]
    assert engine.working_orders()[0].order_id == 1

    events = engine.set_quotes({"SPY": Quote(bid=539.40, ask=539.45, last=539.42)}, NOW)
    filled = [e for e in events if isinstance(e, OrderFilled)]
    assert [f.execution.price for f in filled] == [539.45]  # the ask, better than the limit
    assert engine.working_orders() == []


def test_marketable_limit_sell_fills_at_the_bid() -> None:
    engine = make_engine(positions={"SPY": 5})
    events = engine.place(order(1, "SELL", 5, limit=540.00), NOW)
    assert isinstance(events[1], OrderFilled) and events[1].execution.price == 540.10


def test_limit_sell_above_the_bid_rests() -> None:
    engine = make_engine(positions={"SPY": 5})
    assert kinds(engine.place(order(1, "SELL", 5, limit=545.00), NOW)) == ["OrderSubmitted"]


def test_buy_beyond_cash_including_commission_is_rejected() -> None:
    # 10 x 540.12 = 5,401.20 plus $1.00 commission: 5,402.19 is one cent short.
    engine = make_engine(cash=5_402.19)
    [event] = engine.place(order(1, "BUY", 10), NOW)
    assert isinstance(event, OrderRejected)
    assert event.code == ErrorCode.ORDER_REJECTED
    assert "5402.19 USD" in event.reason and "5402.20 USD" in event.reason
    assert engine.accounts[ACCOUNT].cash == 5_402.19
    assert engine.orders[0].status == "Rejected"

    engine = make_engine(cash=5_402.20)
    assert kinds(engine.place(order(1, "BUY", 10), NOW))[1] == "OrderFilled"
    assert engine.accounts[ACCOUNT].cash == pytest.approx(0.0, abs=1e-9)


def test_working_buy_orders_commit_cash_for_later_buys() -> None:
    engine = make_engine(cash=6_000.0)
    engine.place(order(1, "BUY", 10, limit=500.00), NOW)  # rests, may cost 5,001
    [event] = engine.place(order(2, "BUY", 2, limit=500.00), NOW)  # 1,001 more: too much
    assert isinstance(event, OrderRejected)


def test_sell_of_more_than_held_is_rejected_counting_working_sells() -> None:
    engine = make_engine(positions={"SPY": 10})
    [event] = engine.place(order(1, "SELL", 11), NOW)
    assert isinstance(event, OrderRejected) and "SELLING 11 SPY" in event.reason

    engine.place(order(2, "SELL", 6, limit=600.00), NOW)  # rests
    [event] = engine.place(order(3, "SELL", 5), NOW)
    assert isinstance(event, OrderRejected) and "HAS 4 SHARES FREE" in event.reason


@pytest.mark.parametrize(
    ("shares", "price", "commission"),
    [
        (10, 540.12, 1.00),  # minimum $1 per order
        (400, 540.12, 2.00),  # $0.005 per share
        (1_000, 92.32, 5.00),
        (50, 1.00, 0.50),  # at most 1% of the value
    ],
)
def test_commission_is_ib_fixed_pricing(shares: int, price: float, commission: float) -> None:
    assert CommissionSchedule().total(shares, shares * price) == commission


def test_partial_fill_fault_fills_half_and_leaves_the_rest_working() -> None:
    engine = make_engine(cash=100_000.0)
    engine.faults.partial_fill_ratio = 0.5
    events = engine.place(order(1, "BUY", 11), NOW)
    fill = events[1]
    assert isinstance(fill, OrderFilled) and fill.execution.shares == 5
    [working] = engine.working_orders()
    assert (working.filled, working.remaining) == (5, 6)
    # The rest never fills, even when the quote moves.
    engine.set_quotes({"SPY": Quote(bid=530.0, ask=530.02, last=530.01)}, NOW)
    assert engine.working_orders()[0].filled == 5
    cancelled = engine.cancel(1, 1, NOW)
    assert isinstance(cancelled[0], OrderCancelled)
    assert engine.accounts[ACCOUNT].positions["SPY"].quantity == 5


def test_commissions_of_partial_executions_add_up_to_the_order_commission() -> None:
    engine = make_engine(cash=1_000_000.0, positions={})
    engine.faults.partial_fill_ratio = 0.5
    engine.place(order(1, "BUY", 1_000, limit=541.0), NOW)
    engine.faults.partial_fill_ratio = None
    first = engine.executions[0]
    assert (first.shares, first.commission) == (500, 2.50)


def test_reject_orders_fault_rejects_the_next_n_orders_only() -> None:
    engine = make_engine(cash=100_000.0)
    engine.faults.reject_orders = 2
    results = [kinds(engine.place(order(n, "BUY", 1), NOW))[0] for n in (1, 2, 3)]
    assert results == ["OrderRejected", "OrderRejected", "OrderSubmitted"]


def test_deferred_order_fills_only_when_released() -> None:
    engine = make_engine()
    assert kinds(engine.place(order(1, "BUY", 1), NOW, defer_fill=True)) == ["OrderSubmitted"]
    perm_id = engine.orders[0].perm_id
    assert kinds(engine.release(perm_id, NOW)) == ["OrderFilled", "AccountChanged"]


def test_cancel_errors_name_unknown_and_finished_orders() -> None:
    engine = make_engine()
    [unknown] = engine.cancel(1, 99, NOW)
    assert isinstance(unknown, OrderError) and unknown.code == ErrorCode.CANNOT_FIND_ORDER
    engine.place(order(1, "BUY", 1), NOW)
    [filled] = engine.cancel(1, 1, NOW)
    assert isinstance(filled, OrderError) and filled.code == ErrorCode.CANNOT_CANCEL_FILLED


def test_global_cancel_cancels_working_orders_of_every_client() -> None:
    engine = make_engine(cash=100_000.0)
    engine.place(order(1, "BUY", 1, limit=500.0, client_id=1), NOW)
    engine.place(order(1, "BUY", 1, limit=500.0, client_id=2), NOW)
    events = engine.global_cancel(NOW)
    assert kinds(events) == ["OrderCancelled", "OrderCancelled"]
    assert engine.working_orders() == []


def test_same_order_id_modifies_a_working_order_and_is_a_duplicate_once_done() -> None:
    engine = make_engine(cash=100_000.0)
    engine.place(order(1, "BUY", 5, limit=500.0), NOW)
    events = engine.place(order(1, "BUY", 5, limit=541.0), NOW)  # now marketable
    assert kinds(events) == ["OrderSubmitted", "OrderFilled", "AccountChanged"]
    [duplicate] = engine.place(order(1, "BUY", 5, limit=541.0), NOW)
    assert isinstance(duplicate, OrderError) and duplicate.code == ErrorCode.DUPLICATE_ORDER_ID


def test_next_valid_id_follows_each_clients_highest_order_id() -> None:
    engine = make_engine(cash=100_000.0)
    assert engine.next_valid_id(7) == 1
    engine.place(order(41, "BUY", 1, client_id=7), NOW)
    assert (engine.next_valid_id(7), engine.next_valid_id(8)) == (42, 1)


def test_orders_without_an_account_need_a_single_account_login() -> None:
    engine = make_engine()
    events = engine.place(order(1, "BUY", 1, account=""), NOW)
    assert kinds(events)[0] == "OrderSubmitted"  # one account: it is the default
    engine.put_account("DU2222222", 1_000.0, {})
    [event] = engine.place(order(2, "BUY", 1, account=""), NOW)
    assert isinstance(event, OrderRejected) and event.code == ErrorCode.FA_ALLOCATION_MISSING


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (order(1, "BUY", 1, account="DU9999999"), ErrorCode.ORDER_REJECTED),
        (order(1, "HOLD", 1), ErrorCode.ORDER_REJECTED),
        (order(1, "BUY", 0), ErrorCode.ORDER_SIZE_ZERO),
        (order(1, "BUY", 1.5), ErrorCode.ORDER_REJECTED),
        (order(1, "BUY", 1, limit=0.0), ErrorCode.ORDER_REJECTED),
    ],
)
def test_invalid_orders_are_rejected_with_ibs_code(request_: OrderRequest, code: ErrorCode) -> None:
    [event] = make_engine().place(request_, NOW)
    assert isinstance(event, OrderRejected) and event.code == code


def test_quote_change_revalues_holders_and_events_snapshot_the_order() -> None:
    engine = make_engine(positions={"TLT": 10})
    events = engine.set_quotes({"TLT": Quote(bid=95.0, ask=95.02, last=95.01)}, NOW)
    assert AccountChanged(ACCOUNT, frozenset({"TLT"})) in events
    assert engine.valuation(engine.accounts[ACCOUNT]).stock_value == pytest.approx(950.10)

    submitted = engine.place(order(1, "BUY", 1), NOW)[0]
    assert isinstance(submitted, OrderSubmitted)
    assert (submitted.order.status, submitted.order.filled) == ("Submitted", 0)


def test_positions_need_a_quote() -> None:
    engine = make_engine()
    with pytest.raises(ValueError, match="no quote for XYZ"):
        engine.put_account(ACCOUNT, 0.0, {"XYZ": 1})


def test_immediate_or_cancel_limit_cancels_what_does_not_fill_at_once() -> None:
    engine = make_engine(cash=100_000.0)
    request = order(1, "BUY", 5, limit=530.0)
    events = engine.place(dataclasses.replace(request, tif="IOC"), NOW)
    assert kinds(events) == ["OrderSubmitted", "OrderCancelled"]
    assert engine.working_orders() == []


def test_unsupported_time_in_force_is_rejected() -> None:
    [event] = make_engine().place(dataclasses.replace(order(1, "BUY", 1), tif="OPG"), NOW)
    assert isinstance(event, OrderRejected) and "time in force 'OPG'" in event.reason


def test_hundreds_of_orders_over_many_accounts_stay_cheap() -> None:
    engine = make_engine()
    accounts = [f"DU{n:07d}" for n in range(50)]
    for account in accounts:
        engine.put_account(account, 1_000_000.0, {"TLT": 1_000})
    started = time.perf_counter()
    for n in range(2_000):
        account = accounts[n % len(accounts)]
        if n % 4 == 0:
            engine.place(order(n + 1, "BUY", 3, "TLT", limit=90.0, account=account), NOW)
        else:
            engine.place(order(n + 1, "SELL" if n % 2 else "BUY", 3, "TLT", account=account), NOW)
    engine.set_quotes({"TLT": Quote(bid=89.90, ask=89.95, last=89.92)}, NOW)
    elapsed = time.perf_counter() - started
    assert len(engine.orders) == 2_000 and engine.working_orders() == []
    assert elapsed < 2.0, f"2,000 orders took {elapsed:.2f}s"
