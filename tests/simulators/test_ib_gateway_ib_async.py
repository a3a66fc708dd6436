"""Unmodified ib_async against the simulator over TCP: connect, read accounts, quotes and hours,
trade, and live through faults, as the event processor will."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock, Trade

from tests.simulators.ib_helpers import (
    ACCOUNT,
    EARLY_CLOSE_MORNING,
    OTHER_ACCOUNT,
    WAIT,
    connected_ib,
    decoder_errors,
    qualify,
    running_simulator,
    seed_account,
    simulator_process,
    until,
)


def account_value(ib: IB, account: str, tag: str) -> float:
    [value] = [v for v in ib.accountValues(account) if v.tag == tag and v.currency == "USD"]
    return float(value.value)


def untyped(obj: object) -> Any:
    """ib_async leaves some methods unannotated; call them without mypy's complaint."""
    return obj


def errors_of(ib: IB) -> list[tuple[int, int, str]]:
    """Collect (reqId, code, message) of every error ib_async reports from now on."""
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, message, contract: seen.append((req_id, code, message))
    return seen


async def done(trade: Trade) -> Trade:
    await until(trade.isDone, f"order {trade.order.orderId} to be done")
    return trade


async def test_connect_sees_every_managed_account_with_cash_net_liquidation_and_positions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 25_000.0, {"SPY": 10, "TLT": 100})
        await seed_account(sim, OTHER_ACCOUNT, 5_000.0, {"GLD": 3})

        async with connected_ib(sim.api_port) as ib:
            assert sorted(ib.managedAccounts()) == [ACCOUNT, OTHER_ACCOUNT]
            # SPY 10 x 540.11 + TLT 100 x 92.31 + 25,000 cash
            assert account_value(ib, ACCOUNT, "NetLiquidation") == pytest.approx(39_632.10)
            assert account_value(ib, ACCOUNT, "TotalCashValue") == pytest.approx(25_000.0)
            assert account_value(ib, OTHER_ACCOUNT, "NetLiquidation") == pytest.approx(5_646.56)
            held = {(p.account, p.contract.symbol): p.position for p in ib.positions()}
            assert held == {(ACCOUNT, "SPY"): 10, (ACCOUNT, "TLT"): 100, (OTHER_ACCOUNT, "GLD"): 3}

            summary = await ib.accountSummaryAsync(OTHER_ACCOUNT)
            by_tag = {v.tag: v.value for v in summary}
            assert float(by_tag["NetLiquidation"]) == pytest.approx(5_646.56)
            assert float(by_tag["TotalCashValue"]) == pytest.approx(5_000.0)
    assert decoder_errors(caplog) == []


async def test_one_account_login_gets_account_updates_and_portfolio() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 1_000.0, {"SPY": 2})
        async with connected_ib(sim.api_port) as ib:
            assert account_value(ib, ACCOUNT, "NetLiquidation") == pytest.approx(2_080.22)
            [item] = ib.portfolio(ACCOUNT)
            assert (item.contract.symbol, item.position, item.marketPrice) == ("SPY", 2, 540.11)


async def test_qualified_stock_has_contract_details_with_hours_from_the_clock() -> None:
    async with running_simulator(clock=EARLY_CLOSE_MORNING) as sim:
        await seed_account(sim, ACCOUNT, 1_000.0)
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            assert spy.conId > 0 and spy.primaryExchange == "ARCA"

            [details] = await ib.reqContractDetailsAsync(spy)
            assert details.timeZoneId == "US/Eastern"
            assert details.liquidHours == (
                "20240703:0930-20240703:1300;20240704:CLOSED;20240705:0930-20240705:1600;"
                "20240706:CLOSED;20240707:CLOSED;20240708:0930-20240708:1600;"
                "20240709:0930-20240709:1600"
            )
            assert details.tradingHours.startswith(
                "20240703:0400-20240703:1700;20240704:CLOSED;20240705:0400-20240705:2000;"
            )

            when = await ib.reqCurrentTimeAsync()
            assert when == dt.datetime(2024, 7, 3, 14, 0, tzinfo=dt.UTC)


async def test_unknown_symbol_gets_error_200() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 1_000.0)
        async with connected_ib(sim.api_port) as ib:
            errors = errors_of(ib)
            assert await ib.qualifyContractsAsync(Stock("NOPE", "SMART", "USD")) == [None]
            assert [code for _, code, _ in errors] == [200]
            assert errors[0][2] == "No security definition has been found for the request"


async def test_snapshot_quote_has_bid_ask_last_with_sizes_per_symbol() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 1_000.0)
        async with connected_ib(sim.api_port) as ib:
            spy, tlt = await qualify(ib, "SPY", "TLT")
            ib.reqMarketDataType(3)  # delayed if live is not subscribed: live is there, so live
            spy_ticker, tlt_ticker = await ib.reqTickersAsync(spy, tlt)
            assert spy_ticker.marketDataType == 1
            assert (spy_ticker.bid, spy_ticker.ask, spy_ticker.last) == (540.10, 540.12, 540.11)
            assert spy_ticker.bidSize > 0 and spy_ticker.askSize > 0 and spy_ticker.lastSize > 0
            assert (tlt_ticker.bid, tlt_ticker.ask) == (92.30, 92.32)
            assert tlt_ticker.close == 92.31


async def test_streaming_quote_follows_quote_changes() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 1_000.0)
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            ticker = ib.reqMktData(spy)
            await until(lambda: ticker.bid == 540.10, "the first SPY quote")
            await sim.json("PUT", "/quotes", {"SPY": {"bid": 541.0, "ask": 541.02, "last": 541.01}})
            await until(lambda: ticker.bid == 541.0 and ticker.ask == 541.02, "the new SPY quote")
            ib.cancelMktData(spy)


async def test_historical_daily_bars_end_on_the_clock_date_at_the_last_price() -> None:
    async with running_simulator() as sim:  # Tuesday 9 July 2024
        await seed_account(sim, ACCOUNT, 1_000.0)
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            bars = await ib.reqHistoricalDataAsync(spy, "", "5 D", "1 day", "TRADES", True)
            assert [bar.date for bar in bars] == [
                dt.date(2024, 7, 2),
                dt.date(2024, 7, 3),
                dt.date(2024, 7, 5),  # 4 July is a holiday
                dt.date(2024, 7, 8),
                dt.date(2024, 7, 9),
            ]
            assert bars[-1].close == 540.11


async def test_market_buy_fills_at_the_ask_with_execution_commission_cash_and_position(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            trade = await done(ib.placeOrder(spy, MarketOrder("BUY", 10, account=ACCOUNT)))

            assert trade.orderStatus.status == "Filled"
            assert trade.orderStatus.avgFillPrice == 540.12
            [fill] = trade.fills
            assert (fill.execution.side, fill.execution.shares, fill.execution.price) == (
                "BOT",
                10,
                540.12,
            )
            await until(lambda: fill.commissionReport.commission > 0, "the commission report")
            assert fill.commissionReport.commission == 1.00  # $0.005 x 10, at least $1

            cash_after = 10_000.0 - 10 * 540.12 - 1.00
            await until(
                lambda: account_value(ib, ACCOUNT, "TotalCashValue") == pytest.approx(cash_after),
                "the cash update",
            )
            assert {p.contract.symbol: p.position for p in ib.positions(ACCOUNT)} == {"SPY": 10}

        account = await sim.json("GET", f"/accounts/{ACCOUNT}")
        assert account["cash"] == pytest.approx(cash_after)
        assert account["positions"] == {"SPY": 10}
        [order] = await sim.json("GET", "/orders")
        assert order == {
            **order,
            "order_id": trade.order.orderId,
            "account_id": ACCOUNT,
            "symbol": "SPY",
            "action": "BUY",
            "quantity": 10,
            "order_type": "MKT",
            "limit_price": None,
            "status": "Filled",
            "filled": 10,
        }
    assert decoder_errors(caplog) == []


async def test_market_sell_fills_at_the_bid_and_frees_the_position() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 0.0, {"TLT": 50})
        async with connected_ib(sim.api_port) as ib:
            [tlt] = await qualify(ib, "TLT")
            trade = await done(ib.placeOrder(tlt, MarketOrder("SELL", 50, account=ACCOUNT)))
            assert (trade.orderStatus.status, trade.orderStatus.avgFillPrice) == ("Filled", 92.30)
            await until(lambda: not ib.positions(ACCOUNT), "the position to close")
        account = await sim.json("GET", f"/accounts/{ACCOUNT}")
        assert account["cash"] == pytest.approx(50 * 92.30 - 1.00)
        assert account["positions"] == {}


async def test_limit_order_below_the_ask_rests_until_cancelled() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            trade = ib.placeOrder(spy, LimitOrder("BUY", 5, 530.00, account=ACCOUNT))
            await until(lambda: trade.orderStatus.status == "Submitted", "the order to rest")
            assert [t.order.orderId for t in await ib.reqOpenOrdersAsync()] == [trade.order.orderId]

            ib.cancelOrder(trade.order)
            await done(trade)
            assert trade.orderStatus.status == "Cancelled"
            assert trade.fills == []
        [order] = await sim.json("GET", "/orders")
        assert (order["status"], order["filled"], order["limit_price"]) == ("Cancelled", 0, 530.0)


async def test_resting_limit_order_fills_when_the_quote_comes_to_it() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            trade = ib.placeOrder(spy, LimitOrder("BUY", 5, 539.50, account=ACCOUNT))
            await until(lambda: trade.orderStatus.status == "Submitted", "the order to rest")
            await sim.json(
                "PUT", "/quotes", {"SPY": {"bid": 539.40, "ask": 539.45, "last": 539.42}}
            )
            await done(trade)
            assert (trade.orderStatus.status, trade.orderStatus.avgFillPrice) == ("Filled", 539.45)


async def test_buy_that_cash_cannot_cover_is_rejected_with_201() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 1_000.0)
        async with connected_ib(sim.api_port) as ib:
            errors = errors_of(ib)
            [spy] = await qualify(ib, "SPY")
            trade = await done(ib.placeOrder(spy, MarketOrder("BUY", 2, account=ACCOUNT)))
            assert trade.orderStatus.status == "Cancelled"
            [(req_id, code, message)] = errors
            assert (req_id, code) == (trade.order.orderId, 201)
            assert message.startswith("Order rejected - reason:")
            assert "1000.00 USD" in message
        [order] = await sim.json("GET", "/orders")
        assert order["status"] == "Rejected"
        assert (await sim.json("GET", f"/accounts/{ACCOUNT}"))["cash"] == 1_000.0


async def test_sell_of_more_shares_than_held_is_rejected_with_201() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 0.0, {"SPY": 3})
        async with connected_ib(sim.api_port) as ib:
            errors = errors_of(ib)
            [spy] = await qualify(ib, "SPY")
            trade = await done(ib.placeOrder(spy, MarketOrder("SELL", 4, account=ACCOUNT)))
            assert trade.orderStatus.status == "Cancelled"
            assert [code for _, code, _ in errors] == [201]
            assert {p.contract.symbol: p.position for p in ib.positions(ACCOUNT)} == {"SPY": 3}


async def test_global_cancel_cancels_every_working_order() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 50_000.0, {"TLT": 10})
        async with connected_ib(sim.api_port) as ib:
            spy, tlt = await qualify(ib, "SPY", "TLT")
            trades = [
                ib.placeOrder(spy, LimitOrder("BUY", 1, 500.0, account=ACCOUNT)),
                ib.placeOrder(spy, LimitOrder("BUY", 2, 501.0, account=ACCOUNT)),
                ib.placeOrder(tlt, LimitOrder("SELL", 10, 99.0, account=ACCOUNT)),
            ]
            await until(
                lambda: all(t.orderStatus.status == "Submitted" for t in trades), "orders to rest"
            )
            untyped(ib).reqGlobalCancel()
            for trade in trades:
                await done(trade)
            assert [t.orderStatus.status for t in trades] == ["Cancelled"] * 3
        assert {o["status"] for o in await sim.json("GET", "/orders")} == {"Cancelled"}


async def test_orders_of_one_client_get_distinct_increasing_ids() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 100_000.0)
        async with connected_ib(sim.api_port, client_id=5) as ib:
            [spy] = await qualify(ib, "SPY")
            trades = [ib.placeOrder(spy, MarketOrder("BUY", 1, account=ACCOUNT)) for _ in range(20)]
            for trade in trades:
                await done(trade)
            ids = [t.order.orderId for t in trades]
            assert ids == sorted(set(ids))
            assert all(t.orderStatus.status == "Filled" for t in trades)
        # A reconnecting client is told to continue after the ids it used.
        async with connected_ib(sim.api_port, client_id=5) as ib:
            assert ib.client.getReqId() > max(ids)


async def test_client_sees_its_fills_again_after_reconnecting() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port, client_id=3) as ib:
            [spy] = await qualify(ib, "SPY")
            trade = await done(ib.placeOrder(spy, MarketOrder("BUY", 3, account=ACCOUNT)))
        async with connected_ib(sim.api_port, client_id=3) as ib:
            [fill] = ib.fills()
            assert (fill.execution.orderId, fill.execution.shares) == (trade.order.orderId, 3)
            assert fill.commissionReport.commission == 1.00
            assert [t.orderStatus.status for t in ib.trades()] == ["Filled"]


async def test_a_dropped_connection_is_noticed_and_the_client_reconnects() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            disconnected = asyncio.Event()
            ib.disconnectedEvent += disconnected.set
            answer = await sim.json("POST", "/faults", {"drop_connections": True})
            assert answer["dropped_connections"] == 1
            await asyncio.wait_for(disconnected.wait(), WAIT)
            assert not ib.isConnected()

            await ib.connectAsync("127.0.0.1", sim.api_port, clientId=1, timeout=WAIT)
            [spy] = await qualify(ib, "SPY")
            trade = await done(ib.placeOrder(spy, MarketOrder("BUY", 1, account=ACCOUNT)))
            assert trade.orderStatus.status == "Filled"


async def failed_connect(port: int, client_id: int) -> tuple[list[str], list[int]]:
    """Try to connect; return ib_async's connection errors and the IB error codes it got, once
    the simulator has closed the connection (ib_async itself would wait out its timeout)."""
    ib = IB()
    connection_errors: list[str] = []
    codes: list[int] = []
    ib.client.apiError += connection_errors.append
    ib.errorEvent += lambda req_id, code, message, contract: codes.append(code)
    attempt = asyncio.create_task(ib.connectAsync("127.0.0.1", port, clientId=client_id))
    try:
        await until(lambda: bool(connection_errors), "the simulator to close the connection")
    finally:
        attempt.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError):
            await attempt
        ib.disconnect()
    return connection_errors, codes


async def test_refused_connections_fail_to_connect_until_lifted() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        await sim.json("POST", "/faults", {"refuse_connections": True})
        # The socket is accepted and closed at once, before any handshake ...
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.api_port)
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
        writer.close()
        # ... so ib_async never gets its API ready and gives up at its timeout.
        ib = IB()
        with pytest.raises(TimeoutError):
            await ib.connectAsync("127.0.0.1", sim.api_port, clientId=1, timeout=0.5)
        ib.disconnect()
        await sim.json("POST", "/faults", {"refuse_connections": False})
        async with connected_ib(sim.api_port) as ib:
            assert ib.managedAccounts() == [ACCOUNT]


async def test_second_connection_with_a_client_id_in_use_is_refused_with_326() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port, client_id=9) as first:
            connection_errors, codes = await failed_connect(sim.api_port, client_id=9)
            assert 326 in codes
            assert "Peer closed connection" in connection_errors[0]
            assert first.isConnected()


async def test_flooding_past_fifty_messages_a_second_gets_error_100() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            errors = errors_of(ib)
            ib.client.MaxRequests = 0  # switch off ib_async's own pacing, as a careless client
            for _ in range(80):
                untyped(ib.client).reqCurrentTime()
            await until(lambda: len(errors) >= 20, "the rate-limit errors")
            codes = {code for _, code, _ in errors}
            assert codes == {100}
            assert "Max rate of messages per second has been exceeded" in errors[0][2]
            assert ib.isConnected()

            # The allowance refills at 50 a second: after a short pause it is served again.
            await asyncio.sleep(0.1)
            assert await asyncio.wait_for(ib.reqCurrentTimeAsync(), WAIT)
        stats = await sim.json("GET", "/stats")
        assert stats["peak_messages_per_second"] > 50
        assert stats["messages_refused"] >= 20


async def test_a_client_that_keeps_flooding_is_disconnected() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            disconnected = asyncio.Event()
            ib.disconnectedEvent += disconnected.set
            ib.client.MaxRequests = 0
            for _ in range(150):
                untyped(ib.client).reqCurrentTime()
            await asyncio.wait_for(disconnected.wait(), WAIT)


async def test_ib_async_own_pacing_stays_under_the_limit(tmp_path: Path) -> None:
    async with simulator_process(tmp_path) as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            errors = errors_of(ib)
            [spy] = await qualify(ib, "SPY")
            await asyncio.gather(*(ib.reqContractDetailsAsync(spy) for _ in range(60)))
            assert [code for _, code, _ in errors if code == 100] == []
        stats = await sim.json("GET", "/stats")
        assert stats["messages_refused"] == 0
        assert stats["peak_messages_per_second"] >= 45


async def test_fill_delay_holds_a_market_order_submitted_before_it_fills() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        await sim.json("POST", "/faults", {"fill_delay_ms": 300})
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            loop = asyncio.get_running_loop()
            started = loop.time()
            trade = ib.placeOrder(spy, MarketOrder("BUY", 1, account=ACCOUNT))
            await until(lambda: trade.orderStatus.status == "Submitted", "the order to be working")
            await done(trade)
            assert trade.orderStatus.status == "Filled"
            assert loop.time() - started >= 0.25


async def test_partial_fill_leaves_the_rest_working_until_cancelled() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        await sim.json("POST", "/faults", {"partial_fill_ratio": 0.5})
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            trade = ib.placeOrder(spy, MarketOrder("BUY", 10, account=ACCOUNT))
            await until(lambda: trade.orderStatus.filled == 5, "half of the order to fill")
            assert (trade.orderStatus.status, trade.orderStatus.remaining) == ("Submitted", 5)
            ib.cancelOrder(trade.order)
            await done(trade)
            assert (trade.orderStatus.status, trade.filled()) == ("Cancelled", 5)
        assert (await sim.json("GET", f"/accounts/{ACCOUNT}"))["positions"] == {"SPY": 5}


async def test_reject_orders_fault_rejects_exactly_the_next_n_orders() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        await sim.json("POST", "/faults", {"reject_orders": 2})
        async with connected_ib(sim.api_port) as ib:
            errors = errors_of(ib)
            [spy] = await qualify(ib, "SPY")
            trades = [ib.placeOrder(spy, MarketOrder("BUY", 1, account=ACCOUNT)) for _ in range(3)]
            for trade in trades:
                await done(trade)
            assert [t.orderStatus.status for t in trades] == ["Cancelled", "Cancelled", "Filled"]
            assert [code for _, code, _ in errors] == [201, 201]


async def test_what_if_order_answers_commission_and_places_nothing() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            state = await asyncio.wait_for(
                ib.whatIfOrderAsync(spy, MarketOrder("BUY", 400, account=ACCOUNT)), WAIT
            )
            assert state.commission == 2.00
        assert await sim.json("GET", "/orders") == []


async def test_requests_the_simulator_does_not_serve_get_an_error_not_silence() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            errors = errors_of(ib)
            [spy] = await qualify(ib, "SPY")
            report = await asyncio.wait_for(ib.reqFundamentalDataAsync(spy, "ReportSnapshot"), WAIT)
            assert not report  # answered at once, with IB's error instead of a report
            assert [code for _, code, _ in errors] == [322]


@pytest.mark.parametrize("client_max_version", [157, 163, 166, 170, 176, 177])
async def test_older_negotiated_versions_connect_qualify_and_trade(
    client_max_version: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0, {"TLT": 5})
        ib = IB()
        ib.client.MaxClientVersion = client_max_version
        await ib.connectAsync("127.0.0.1", sim.api_port, clientId=1, timeout=WAIT)
        try:
            assert ib.client.serverVersion() == client_max_version
            assert {p.contract.symbol: p.position for p in ib.positions()} == {"TLT": 5}
            [spy] = await qualify(ib, "SPY")
            [details] = await ib.reqContractDetailsAsync(spy)
            assert details.liquidHours.startswith("20240709:0930-20240709:1600;")
            trade = await done(ib.placeOrder(spy, LimitOrder("BUY", 2, 541.0, account=ACCOUNT)))
            assert (trade.orderStatus.status, trade.orderStatus.avgFillPrice) == ("Filled", 540.12)
        finally:
            ib.disconnect()
    assert decoder_errors(caplog) == []


async def test_stats_count_messages_connections_and_orders() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            await done(ib.placeOrder(spy, MarketOrder("BUY", 1, account=ACCOUNT)))
            stats = await sim.json("GET", "/stats")
            assert stats["connections"] == 1
            assert stats["orders"] == 1
            assert stats["messages_received"] >= 8  # startApi, the connect requests, the order
            assert 0 < stats["peak_messages_per_second"] <= 50
            assert stats["messages_refused"] == 0
        await sim.json("POST", "/reset")
        stats = await sim.json("GET", "/stats")
        assert (stats["messages_received"], stats["orders"]) == (0, 0)


async def test_fifty_accounts_connect_within_the_rate_limit_with_values_for_each(
    tmp_path: Path,
) -> None:
    async with simulator_process(tmp_path) as sim:
        accounts = [f"DU{3_000_000 + n}" for n in range(50)]
        for n, account in enumerate(accounts):
            await seed_account(sim, account, 1_000.0 + n, {"TLT": n})
        async with connected_ib(sim.api_port) as ib:
            assert sorted(ib.managedAccounts()) == accounts
            for n, account in enumerate(accounts):
                assert account_value(ib, account, "TotalCashValue") == 1_000.0 + n
                assert account_value(ib, account, "NetLiquidation") == pytest.approx(
                    1_000.0 + n + n * 92.31
                )
            assert len(ib.positions()) == 49  # the first account holds no TLT
        stats = await sim.json("GET", "/stats")
        assert stats["messages_refused"] == 0
