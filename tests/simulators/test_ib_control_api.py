"""The simulator's HTTP control API: what tests, benchmarks and the demo use to set the scene."""

from __future__ import annotations

from typing import Any

import pytest
from ib_async import MarketOrder

from tests.simulators.ib_helpers import (
    ACCOUNT,
    connected_ib,
    qualify,
    running_simulator,
    seed_account,
    until,
)


async def test_put_account_creates_then_replaces_and_get_values_it() -> None:
    async with running_simulator() as sim:
        created = await sim.put(f"/accounts/{ACCOUNT}", {"cash": 1_000.0, "positions": {"spy": 2}})
        assert created.status_code == 201
        assert created.json() == {
            "account_id": ACCOUNT,
            "cash": 1_000.0,
            "positions": {"SPY": 2},
            "net_liquidation": 2_080.22,  # 1,000 + 2 x 540.11
        }
        replaced = await sim.put(f"/accounts/{ACCOUNT}", {"cash": 50.0})
        assert replaced.status_code == 200
        assert await sim.json("GET", f"/accounts/{ACCOUNT}") == {
            "account_id": ACCOUNT,
            "cash": 50.0,
            "positions": {},
            "net_liquidation": 50.0,
        }
        missing = await sim.get("/accounts/DU0000000")
        assert missing.status_code == 404
        assert "DU0000000" in missing.json()["error"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"cash": -5.0}, "cash: Input should be greater than or equal to 0"),
        ({"cash": "lots"}, "cash: Input should be a valid number"),
        ({"positions": {}}, "cash: Field required"),
        (
            {"cash": 1.0, "positions": {"SPY": 1.5}},
            "positions.SPY: Input should be a valid integer",
        ),
        ({"cash": 1.0, "positions": {"SPY": -1}}, "positions.SPY: Input should be greater than"),
        ({"cash": 1.0, "positions": {"NOPE": 1}}, "no quote for NOPE"),
        ({"cash": 1.0, "positions": {"not a symbol": 1}}, "is not a stock symbol"),
        ({"cash": 1.0, "margin": True}, "margin: Extra inputs are not permitted"),
    ],
)
async def test_bad_account_input_gets_422_with_the_reason(
    body: dict[str, Any], reason: str
) -> None:
    async with running_simulator() as sim:
        response = await sim.put(f"/accounts/{ACCOUNT}", body)
        assert response.status_code == 422
        assert reason in response.json()["error"]
        assert response.json()["error"].startswith(f"PUT /accounts/{ACCOUNT}: ")


async def test_bad_account_id_and_bad_json_get_422() -> None:
    async with running_simulator() as sim:
        response = await sim.put("/accounts/DU1,DU2", {"cash": 1.0})
        assert response.status_code == 422 and "account id" in response.json()["error"]
        response = await sim.control.put(f"/accounts/{ACCOUNT}", content=b"{cash: 1")
        assert response.status_code == 422 and "not valid JSON" in response.json()["error"]
        response = await sim.control.put(f"/accounts/{ACCOUNT}")
        assert response.status_code == 422 and "JSON body is required" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"SPY": {"bid": 541.0, "ask": 540.0, "last": 540.5}}, "bid 541.0 is above ask 540.0"),
        ({"SPY": {"bid": -1.0, "ask": 540.0, "last": 540.5}}, "SPY.bid: Input should be greater"),
        ({"SPY": {"bid": 540.0, "ask": 540.1}}, "SPY.last: Field required"),
        (
            {"SPY": {"bid": 540.0, "ask": "x", "last": 1.0}},
            "SPY.ask: Input should be a valid number",
        ),
        ({}, "no quotes given"),
        ([1, 2], "Input should be a valid dictionary"),
    ],
)
async def test_bad_quotes_get_422_with_the_reason(body: Any, reason: str) -> None:
    async with running_simulator() as sim:
        response = await sim.put("/quotes", body)
        assert response.status_code == 422
        assert reason in response.json()["error"]


async def test_a_new_quote_makes_a_new_tradable_instrument() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        answer = await sim.json(
            "PUT",
            "/quotes",
            {"vxus": {"bid": 61.20, "ask": 61.22, "last": 61.21, "exchange": "NASDAQ"}},
        )
        assert answer == {"symbols": ["VXUS"]}
        quotes = await sim.json("GET", "/quotes")
        assert quotes["VXUS"]["exchange"] == "NASDAQ"
        async with connected_ib(sim.api_port) as ib:
            [vxus] = await qualify(ib, "VXUS")
            assert (vxus.primaryExchange, vxus.conId) == ("NASDAQ", quotes["VXUS"]["con_id"])
            trade = ib.placeOrder(vxus, MarketOrder("BUY", 10, account=ACCOUNT))
            await until(trade.isDone, "the VXUS order")
            assert trade.orderStatus.avgFillPrice == 61.22


async def test_a_quote_without_a_bid_has_no_market_to_sell_into() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 0.0, {"GLD": 5})
        await sim.json("PUT", "/quotes", {"GLD": {"bid": None, "ask": 215.55, "last": 215.52}})
        async with connected_ib(sim.api_port) as ib:
            [gld] = await qualify(ib, "GLD")
            [ticker] = await ib.reqTickersAsync(gld)
            assert (ticker.bid, ticker.bidSize) == (-1, 0)  # ib_async's empty price: no bid
            assert ticker.ask == 215.55
            trade = ib.placeOrder(gld, MarketOrder("SELL", 5, account=ACCOUNT))
            await until(trade.isDone, "the rejected sell")
            assert trade.orderStatus.status == "Cancelled"
            assert "no bid price for GLD" in trade.log[-1].message


async def test_clock_can_be_set_to_a_moment_and_back_to_real_time() -> None:
    async with running_simulator() as sim:
        answer = await sim.json("PUT", "/clock", {"now": "2024-11-29T12:30:00-05:00"})
        assert answer == {"now": "2024-11-29T17:30:00+00:00", "real_time": False, "running": False}
        answer = await sim.json("PUT", "/clock", {"now": None})
        assert (answer["real_time"], answer["running"]) == (True, True)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"now": "2024-11-29T12:30:00"}, "now: Input should have timezone info"),
        ({"now": "friday"}, "now: Input should be a valid datetime"),
        ({}, "now: Field required"),
    ],
)
async def test_bad_clock_input_gets_422(body: dict[str, Any], reason: str) -> None:
    async with running_simulator() as sim:
        response = await sim.put("/clock", body)
        assert response.status_code == 422
        assert reason in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"reject_orders": -1}, "reject_orders: Input should be greater than or equal to 0"),
        ({"fill_delay_ms": 1.5}, "fill_delay_ms: Input should be a valid integer"),
        (
            {"partial_fill_ratio": 1.5},
            "partial_fill_ratio: Input should be less than or equal to 1",
        ),
        ({"partial_fill_ratio": 0}, "partial_fill_ratio: Input should be greater than 0"),
        ({"slow_network": True}, "slow_network: Extra inputs are not permitted"),
        ({}, "name at least one fault"),
    ],
)
async def test_bad_faults_get_422(body: dict[str, Any], reason: str) -> None:
    async with running_simulator() as sim:
        response = await sim.post("/faults", body)
        assert response.status_code == 422
        assert reason in response.json()["error"]


async def test_faults_are_set_individually_and_shown() -> None:
    async with running_simulator() as sim:
        await sim.json("POST", "/faults", {"reject_orders": 3, "fill_delay_ms": 250})
        await sim.json("POST", "/faults", {"partial_fill_ratio": 0.5})
        assert await sim.json("GET", "/faults") == {
            "refuse_connections": False,
            "reject_orders": 3,
            "fill_delay_ms": 250,
            "partial_fill_ratio": 0.5,
        }
        await sim.json("POST", "/faults", {"partial_fill_ratio": None})
        assert (await sim.json("GET", "/faults"))["partial_fill_ratio"] is None


async def test_reset_forgets_accounts_orders_and_faults_but_keeps_the_configured_quotes() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        await sim.json("PUT", "/quotes", {"SPY": {"bid": 1.0, "ask": 1.01, "last": 1.0}})
        await sim.json("PUT", "/quotes", {"VXUS": {"bid": 61.2, "ask": 61.22, "last": 61.21}})
        await sim.json("POST", "/faults", {"reject_orders": 1})
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            trade = ib.placeOrder(spy, MarketOrder("BUY", 1, account=ACCOUNT))
            await until(trade.isDone, "the rejected order")
        await sim.json("POST", "/faults", {"refuse_connections": True})

        assert (await sim.json("POST", "/reset")) == {"status": "reset"}
        assert await sim.json("GET", "/accounts") == []
        assert await sim.json("GET", "/orders") == []
        assert await sim.json("GET", "/faults") == {
            "refuse_connections": False,
            "reject_orders": 0,
            "fill_delay_ms": 0,
            "partial_fill_ratio": None,
        }
        quotes = await sim.json("GET", "/quotes")
        assert sorted(quotes) == ["GLD", "SPY", "TLT"]
        assert quotes["SPY"]["bid"] == 540.10
        clock = await sim.json("GET", "/clock")
        assert clock["now"] == "2024-07-09T19:00:00+00:00"  # the configured clock again


async def test_orders_can_be_filtered_by_account_and_status() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 10_000.0)
        async with connected_ib(sim.api_port) as ib:
            [spy] = await qualify(ib, "SPY")
            for quantity in (1, 100):  # the second is beyond cash
                trade = ib.placeOrder(spy, MarketOrder("BUY", quantity, account=ACCOUNT))
                await until(trade.isDone, "the order")
        filled = await sim.json("GET", f"/orders?account_id={ACCOUNT}&status=Filled")
        rejected = await sim.json("GET", "/orders?status=Rejected")
        assert [o["quantity"] for o in filled] == [1]
        assert [o["quantity"] for o in rejected] == [100]
        assert "AVAILABLE FUNDS" in rejected[0]["reason"]
