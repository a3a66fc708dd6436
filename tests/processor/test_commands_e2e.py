"""The other commands, and notifications delivered through apprise to a local endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from ib_async import IB, LimitOrder, Stock
from rebalancer_shared.queue import EventQueue

from tests.processor.flows import enqueue, wait_outcome
from tests.support.processes import free_port
from tests.support.stack import Stack, eventually


async def test_print_positions_equity_and_orders(stack: Stack, queue: EventQueue) -> None:
    stack.write_accounts([{"account_id": "DU4000001", "strategy_name": "growth"}])
    stack.ib.put_account("DU4000001", cash=12_345.67, positions={"SPY": 10, "TLT": 20})
    stack.start_processor()

    positions = await enqueue(stack, queue, "DU4000001", "print-positions")
    equity = await enqueue(stack, queue, "DU4000001", "print-equity")
    orders = await enqueue(stack, queue, "DU4000001", "print-orders")

    assert (await wait_outcome(queue, positions.event_id))["details"]["positions"] == {
        "SPY": 10,
        "TLT": 20,
    }
    values = (await wait_outcome(queue, equity.event_id))["details"]
    assert values["cash"] == pytest.approx(12_345.67)
    assert values["net_liquidation"] == pytest.approx(
        stack.ib.account("DU4000001")["net_liquidation"]
    )
    assert (await wait_outcome(queue, orders.event_id))["details"]["open_orders"] == []


async def test_an_order_of_another_client_blocks_trading_until_it_is_gone(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU4000002", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", {"SPY": 0.9})
    stack.ib.put_account("DU4000002", cash=50_000)
    # A limit order far below the market, placed by another API client: it rests. IB lets
    # only that client cancel it, and it could still fill: buying on top could buy twice.
    other = IB()
    await other.connectAsync("127.0.0.1", stack.ib_port, clientId=77, timeout=5)
    order = LimitOrder("BUY", 10, 100.0)
    order.account = "DU4000002"
    trade = other.placeOrder(Stock("SPY", "SMART", "USD"), order)

    async def resting() -> bool:
        return any(o["status"] == "Submitted" for o in stack.ib.orders("DU4000002"))

    await eventually(resting, 10, "the resting order")
    stack.start_processor()

    listed = await enqueue(stack, queue, "DU4000002", "print-orders")
    open_orders = (await wait_outcome(queue, listed.event_id))["details"]["open_orders"]
    assert [(o["symbol"], o["limit_price"]) for o in open_orders] == [("SPY", 100.0)]

    rebalance = await enqueue(stack, queue, "DU4000002")
    failed = await wait_outcome(queue, rebalance.event_id, "failed", within=30)
    assert "open orders this processor cannot cancel: BUY 10 SPY" in failed["error"]
    assert len(stack.ib.orders("DU4000002")) == 1, "nothing placed on top of it"

    other.cancelOrder(trade.order)  # the user cancels it where it was placed
    done = await wait_outcome(queue, rebalance.event_id, within=30)
    other.disconnect()
    assert done["details"]["orders"][0]["symbol"] == "SPY"
    assert stack.ib.account("DU4000002")["positions"]["SPY"] > 0


async def test_cancel_orders_with_nothing_open_succeeds_and_places_nothing(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU4000004", "strategy_name": "growth"}])
    stack.ib.put_account("DU4000004", cash=50_000, positions={"SPY": 5})
    stack.start_processor()
    cancel = await enqueue(stack, queue, "DU4000004", "cancel-orders")
    done = await wait_outcome(queue, cancel.event_id, within=30)
    assert done["details"]["cancelled_open_orders"] == 0
    assert stack.ib.orders("DU4000004") == []


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP endpoint that keeps what apprise's json:// posts to it."""
    received: list[dict[str, Any]] = []

    async def keep(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/notify", keep)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"json://127.0.0.1:{port}/notify", received
    await runner.cleanup()


async def test_notifications_reach_a_local_endpoint(
    stack: Stack, queue: EventQueue, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    stack.write_accounts([{"account_id": "DU4000003", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", {"SPY": 0.6, "TLT": 0.35})
    stack.ib.put_account("DU4000003", cash=30_000)
    stack.zehnlabs.fault("http_500", strategy="growth", times=1)
    stack.start_processor(NOTIFY_URLS=url)

    event = await enqueue(stack, queue, "DU4000003")
    await wait_outcome(queue, event.event_id, within=60)

    async def two_notices() -> bool:
        return len(received) >= 2

    await eventually(two_notices, 30, "a failure and a success notice")
    failure, success = received[0], received[-1]
    assert "DU4000003" in failure["title"] + failure["message"]
    assert "HTTP 500" in failure["message"]
    assert "DU4000003" in success["title"] + success["message"]
    assert "BUY" in success["message"] and "SPY" in success["message"]
