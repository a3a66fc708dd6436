"""A second, independent client: IB's official Python client (`ibapi`, from PyPI as
ibapi-stable) connects over TCP, lists positions and places an order that fills."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.wrapper import EWrapper

from tests.simulators.ib_helpers import (
    ACCOUNT,
    OTHER_ACCOUNT,
    WAIT,
    running_simulator,
    seed_account,
    until,
)


class OfficialClient(EWrapper, EClient):  # type: ignore[misc]  # ibapi has no type hints
    """Records what TWS tells it; the test waits on the events."""

    def __init__(self) -> None:
        EClient.__init__(self, self)
        self.next_order_id: int | None = None
        self.accounts = ""
        self.positions: dict[tuple[str, str], tuple[Decimal, float]] = {}
        self.statuses: list[tuple[int, str, Decimal]] = []
        self.executions: list[Any] = []
        self.commissions: list[float] = []
        self.errors: list[tuple[int, int, str]] = []
        self.ready = threading.Event()
        self.accounts_known = threading.Event()
        self.positions_done = threading.Event()
        self.filled = threading.Event()
        self.commission_reported = threading.Event()

    def nextValidId(self, orderId: int) -> None:
        self.next_order_id = orderId
        self.ready.set()

    def managedAccounts(self, accountsList: str) -> None:
        self.accounts = accountsList
        self.accounts_known.set()

    def error(
        self,
        reqId: int,
        errorTime: int,
        errorCode: int,
        errorString: str,
        advancedOrderRejectJson: str = "",
    ) -> None:
        self.errors.append((reqId, errorCode, errorString))

    def position(self, account: str, contract: Contract, position: Decimal, avgCost: float) -> None:
        self.positions[(account, contract.symbol)] = (position, avgCost)

    def positionEnd(self) -> None:
        self.positions_done.set()

    def orderStatus(self, orderId: int, status: str, filled: Decimal, *rest: Any) -> None:
        self.statuses.append((orderId, status, filled))
        if status == "Filled":
            self.filled.set()

    def execDetails(self, reqId: int, contract: Contract, execution: Any) -> None:
        self.executions.append(execution)

    def commissionAndFeesReport(self, commissionAndFeesReport: Any) -> None:
        self.commissions.append(commissionAndFeesReport.commissionAndFees)
        self.commission_reported.set()


def stock(symbol: str) -> Contract:
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        symbol,
        "STK",
        "SMART",
        "USD",
    )
    return contract


def market_order(action: str, quantity: int, account: str) -> Order:
    order = Order()
    order.action, order.totalQuantity, order.orderType, order.account = (
        action,
        Decimal(quantity),
        "MKT",
        account,
    )
    return order


async def wait(event: threading.Event, what: str) -> None:
    assert await asyncio.to_thread(event.wait, WAIT), f"timed out waiting for {what}"


async def test_official_client_lists_positions_and_places_an_order_that_fills() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 20_000.0, {"SPY": 10})
        await seed_account(sim, OTHER_ACCOUNT, 5_000.0, {"TLT": 40})

        app = OfficialClient()
        # connect() blocks until the handshake is answered: off the loop the simulator runs on.
        await asyncio.to_thread(app.connect, "127.0.0.1", sim.api_port, 11)
        reader = threading.Thread(target=app.run, name="ibapi-reader", daemon=True)
        reader.start()
        try:
            await wait(app.ready, "nextValidId")
            await wait(app.accounts_known, "managedAccounts")
            assert app.serverVersion() == 178
            assert sorted(app.accounts.split(",")) == [ACCOUNT, OTHER_ACCOUNT]

            app.reqPositions()
            await wait(app.positions_done, "positionEnd")
            assert {key: qty for key, (qty, _) in app.positions.items()} == {
                (ACCOUNT, "SPY"): Decimal(10),
                (OTHER_ACCOUNT, "TLT"): Decimal(40),
            }

            assert app.next_order_id is not None
            app.placeOrder(app.next_order_id, stock("TLT"), market_order("BUY", 20, ACCOUNT))
            await wait(app.filled, "the order to fill")
            await wait(app.commission_reported, "the commission report")
            assert app.statuses[0][1] == "Submitted"
            assert app.statuses[-1] == (app.next_order_id, "Filled", Decimal(20))
            [execution] = app.executions
            assert (execution.side, execution.shares, execution.price) == (
                "BOT",
                Decimal(20),
                92.32,
            )
            assert app.commissions == [1.0]
            # The positions subscription hears about the fill too.
            assert app.positions[(ACCOUNT, "TLT")][0] == Decimal(20)
            assert [code for _, code, _ in app.errors] == [2104, 2106, 2158]  # farm notices only
        finally:
            # ibapi's reader trips over a disconnect while messages are still queued.
            await until(app.msg_queue.empty, "ibapi to handle what it received")
            await asyncio.to_thread(app.disconnect)
            await asyncio.to_thread(reader.join, WAIT)

        account = await sim.json("GET", f"/accounts/{ACCOUNT}")
        assert account["positions"] == {"SPY": 10, "TLT": 20}
        assert account["cash"] == 20_000.0 - 20 * 92.32 - 1.0
