"""The ib_async adapter in-process against ib-gateway-sim: what it leaves in ib_async's books."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import AsyncIterator, Iterator

import pytest
from event_processor.gateway import GatewayError, OrderRequest
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


HELD = {"SPY": 40, "TLT": 300, "GLD": 25}


async def test_no_snapshot_from_a_connection_whose_positions_are_not_synced_yet(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The chaos test drops the gateway connection: a reconnect's API is up (IB sent the
    # accounts and the next order id) a moment before its positions are in, and ib_async calls
    # itself connected. A rebalance reading the account in that moment got IB's cash and net
    # liquidation with no positions, and would plan an invested account as if it held nothing.
    # Here the positions request is held back to keep that moment open.
    stack.ib.put_account(ACCOUNT, cash=20_000, positions=HELD)
    gateway = IBGateway("127.0.0.1", stack.ib_port)
    asked_for_positions = gateway.ib.reqPositionsAsync
    release = asyncio.Event()

    async def positions_after_release() -> object:
        await release.wait()
        return await asked_for_positions()

    monkeypatch.setattr(gateway.ib, "reqPositionsAsync", positions_after_release)
    connecting = asyncio.create_task(gateway.ensure_connected())
    try:

        async def api_up() -> bool:
            return gateway.ib.client.isReady()

        await eventually(api_up, 10, "the API connection, positions not yet synced")
        assert not gateway.connected, "not ready to trade before the positions are in"
        with pytest.raises(GatewayError, match="not connected"):
            await gateway.snapshot(ACCOUNT)

        # Another event arriving now waits for the sync instead of reading half a session.
        async def event_reads_the_account() -> dict[str, int]:
            await gateway.ensure_connected()
            return (await gateway.snapshot(ACCOUNT)).positions

        reading = asyncio.create_task(event_reads_the_account())
        await asyncio.sleep(0.2)
        assert not reading.done()
        release.set()
        await asyncio.wait_for(connecting, 10)
        assert await asyncio.wait_for(reading, 10) == HELD
    finally:
        release.set()
        gateway.disconnect()


async def test_a_snapshot_across_a_dropped_connection_fails_instead_of_losing_positions(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The account values arrived, then the connection dropped before the positions were read:
    # ib_async has emptied its books, so the positions read as none. A chaos run under load
    # recorded such a snapshot (positions_before {} for an account holding $182k of GLD and QQQ);
    # that attempt failed at its next step only because the connection was not back yet.
    stack.ib.put_account(ACCOUNT, cash=20_000, positions=HELD)
    gateway = IBGateway("127.0.0.1", stack.ib_port)
    await gateway.ensure_connected()
    try:
        assert (await gateway.snapshot(ACCOUNT)).positions == HELD
        read_values = gateway._summary._fetch

        async def values_then_drop() -> dict[str, dict[str, float]]:
            values = await read_values()
            stack.ib.faults(drop_connections=True)

            async def dropped() -> bool:
                return not gateway.ib.client.isReady()

            await eventually(dropped, 10, "the drop to reach ib_async")
            return values

        monkeypatch.setattr(gateway._summary, "_fetch", values_then_drop)
        with pytest.raises(GatewayError, match="DU4000010"):
            await gateway.snapshot(ACCOUNT)
    finally:
        gateway.disconnect()
