"""The ib_async adapter in-process against ib-gateway-sim: what it leaves in ib_async's books."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import AsyncIterator, Iterator

import pytest
from event_processor.gateway import OrderRequest
from event_processor.ib import IBGateway

from tests.support.stack import Stack, eventually

ACCOUNT = "DU4000010"
KEPT_SECONDS = 0.2  # how long finished trades stay in ib_async's books, shortened for the test


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[IBGateway]:
    stack.ib.put_account(ACCOUNT, cash=100_000)
    gateway = IBGateway("127.0.0.1", stack.ib_port, done_trades_kept_seconds=KEPT_SECONDS)
    await gateway.ensure_connected()
    yield gateway
    gateway.disconnect()


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """Only reference counting frees objects meanwhile: what is left for the cyclic collector
    stays, as it does for a long while in a busy processor."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def booked_order_ids(gateway: IBGateway) -> set[int]:
    """Order ids of every trade ib_async still keeps for this session."""
    wrapper = gateway.ib.wrapper
    trades = [*wrapper.trades.values(), *wrapper.permId2Trade.values()]
    return {t.order.orderId for t in trades} | {f.execution.orderId for f in wrapper.fills.values()}


@pytest.mark.usefixtures("no_cyclic_gc")
async def test_finished_trades_leave_ib_async_and_working_ones_stay(
    gateway: IBGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="ib_async")
    # A buy limit far below the market rests: its execute waits for it while the others run.
    resting = asyncio.create_task(
        gateway.execute(ACCOUNT, [OrderRequest("SPY", "BUY", 5, 300.00)], "DAY", False, 120)
    )

    async def working() -> bool:
        return len(await gateway.open_orders(ACCOUNT)) == 1

    await eventually(working, 10, "the resting SPY order to work")
    buys = [
        OrderRequest("QQQ", "BUY", 40),
        OrderRequest("TLT", "BUY", 200),
        OrderRequest("GLD", "BUY", 30),
        OrderRequest("IEF", "BUY", 100, limit_price=95.10),
    ]
    bought = await gateway.execute(ACCOUNT, buys, "DAY", False, 30)
    assert [r.complete for r in bought] == [True] * 4
    assert all(r.commissions_known and r.fills for r in bought)
    filled_ids = {r.order_id for r in bought}
    assert filled_ids <= booked_order_ids(gateway)
    filled = [weakref.ref(t) for t in gateway.ib.trades() if t.order.orderId in filled_ids]

    async def filled_ones_forgotten() -> bool:
        return not filled_ids & booked_order_ids(gateway)

    await eventually(filled_ones_forgotten, 5, "the filled trades to leave ib_async's books")
    [still_working] = await gateway.open_orders(ACCOUNT)
    assert still_working.symbol == "SPY" and still_working.status not in ("Filled", "Cancelled")
    assert still_working.order_id in booked_order_ids(gateway)

    # A later batch on the same connection trades as before, reports and all.
    [sold] = await gateway.execute(ACCOUNT, [OrderRequest("TLT", "SELL", 50)], "DAY", False, 30)
    assert sold.complete and sold.average_price == pytest.approx(90.00, abs=0.05)
    assert (await gateway.snapshot(ACCOUNT)).positions == {
        "QQQ": 40,
        "TLT": 150,
        "GLD": 30,
        "IEF": 100,
    }

    # The working order is still ours to cancel (IB lets only the placing client do it).
    assert await gateway.cancel_open_orders(ACCOUNT, timeout_seconds=10) == 1
    [cancelled] = await asyncio.wait_for(resting, 10)
    assert cancelled.status == "Cancelled" and cancelled.filled == 0

    async def all_forgotten() -> bool:
        return not booked_order_ids(gateway)

    await eventually(all_forgotten, 5, "every finished trade to leave ib_async's books")
    assert gateway.ib.wrapper.fills == {}
    assert [t() for t in filled] == [None] * 4  # freed at once, not left for the collector
    assert await gateway.open_orders(ACCOUNT) == []
    # A status update for a forgotten order, had any come, would be logged as an unknown order.
    assert not [r for r in caplog.records if "No order found" in r.getMessage()]
