"""`GET /history` and `GET /accounts`: what ran, with orders and fills, and each account's last."""

from __future__ import annotations

import httpx
from rebalancer_shared.queue import EventQueue

from tests.management.helpers import (
    QQQ_SELL,
    SPY_BUY,
    in_retry,
    make_event,
    succeeded,
)


async def test_history_lists_finished_attempts_newest_first_with_orders(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    done = await succeeded(
        queue,
        make_event("DU1234567", "rebalance"),
        {"orders": [QQQ_SELL, SPY_BUY], "fills": [QQQ_SELL, SPY_BUY]},
    )
    failed = await in_retry(queue, make_event("DU7654321", "rebalance"))

    response = await client.get("/history")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest, oldest = body["entries"]
    assert newest["event_id"] == failed.event_id
    assert newest["outcome"] == "failed"
    assert newest["error"] == "IB error 201: order rejected"
    assert oldest["event_id"] == done.event_id
    assert oldest["outcome"] == "succeeded"
    assert oldest["exec"] == oldest["exec_command"] == "rebalance"
    assert oldest["strategy_name"] == "etf-blend-200-35"
    assert oldest["details"]["orders"] == [QQQ_SELL, SPY_BUY]
    assert oldest["details"]["fills"][1]["symbol"] == "SPY"
    assert oldest["finished_at"] and oldest["received_at"]


async def test_history_of_one_account(client: httpx.AsyncClient, queue: EventQueue) -> None:
    await succeeded(queue, make_event("DU1234567", "rebalance"), {"orders": [SPY_BUY]})
    await succeeded(queue, make_event("DU7654321", "print-positions"), {})

    body = (await client.get("/history", params={"account_id": "DU7654321"})).json()

    assert body["account_id"] == "DU7654321"
    assert [entry["account_id"] for entry in body["entries"]] == ["DU7654321"]


async def test_history_limit(client: httpx.AsyncClient, queue: EventQueue) -> None:
    for command in ("print-positions", "print-equity", "print-orders"):
        await succeeded(queue, make_event("DU1234567", command), {})

    body = (await client.get("/history", params={"limit": 2})).json()

    assert [entry["exec"] for entry in body["entries"]] == ["print-orders", "print-equity"]


async def test_history_rejects_bad_input(client: httpx.AsyncClient) -> None:
    bad_account = await client.get("/history", params={"account_id": "du-123"})
    bad_limit = await client.get("/history", params={"limit": 5000})

    assert bad_account.status_code == 422
    assert "is not an IB account id" in bad_account.json()["detail"][0]["msg"]
    assert bad_limit.status_code == 422


async def test_history_shows_deleted_and_cleared_events(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    retry = await in_retry(queue, make_event("DU1234567", "rebalance"))
    await client.delete(f"/queue/events/{retry.event_id}")
    await queue.enqueue(make_event("DU7654321", "rebalance"))
    await client.delete("/queue/events")

    entries = (await client.get("/history")).json()["entries"]

    assert [entry["outcome"] for entry in entries] == ["deleted", "deleted", "failed"]
    assert entries[1]["account_id"] == "DU1234567"


async def test_accounts_show_config_and_last_outcome(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    await succeeded(queue, make_event("DU1234567", "rebalance"), {"orders": [SPY_BUY]})
    await in_retry(queue, make_event("DU1234567", "print-rebalance"), "no quote for SPY")

    response = await client.get("/accounts")

    assert response.status_code == 200
    body = response.json()
    assert body["trading_mode"] == "paper"
    assert body["count"] == 4
    accounts = {account["account_id"]: account for account in body["accounts"]}
    main = accounts["DU1234567"]
    assert main["active"] is True
    assert main["strategy_name"] == "etf-blend-200-35"
    assert main["cash_reserve_percent"] == 1.0
    assert main["last_outcome"] == "failed"
    assert main["last_command"] == "print-rebalance"
    assert main["last_error"] == "no quote for SPY"
    assert main["last_event_at"] and main["last_success_at"]
    assert main["last_success_at"] < main["last_event_at"]
    assert main["drift"] is None  # the rebalance recorded no positions after
    ira = accounts["DU7654321"]
    assert ira["replacement_set"] == "ira"
    assert ira["last_outcome"] is None and ira["last_success_at"] is None
    assert accounts["DU5555555"]["active"] is False
    assert accounts["U1234567"]["active"] is False


async def test_accounts_show_the_drift_after_the_last_rebalance(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    details = {
        "orders": [SPY_BUY],
        "target_weights": {"SPY": 1.0},
        "quotes": {"SPY": {"bid": 500.0, "ask": 500.0}},
        "positions_after": {"SPY": 190},
        "cash_after": 5_000.0,
    }
    await succeeded(queue, make_event("DU1234567", "rebalance"), details)
    # A later print-rebalance is the last outcome, but the drift stays the rebalance's.
    await succeeded(queue, make_event("DU1234567", "print-rebalance"), {"plan": {}})

    body = (await client.get("/accounts")).json()
    main = next(a for a in body["accounts"] if a["account_id"] == "DU1234567")

    assert main["last_command"] == "print-rebalance"
    drift = main["drift"]
    assert drift["as_of"] is not None
    # $100,000: 95 % SPY against 99 % (1 % reserve), 5 % cash against 1 %.
    assert drift["symbols"] == [
        {
            "symbol": "SPY",
            "shares": 190,
            "target_shares": 198.0,
            "target_percent": 99.0,
            "actual_percent": 95.0,
            "drift_percent": -4.0,
        }
    ]
    assert drift["cash_drift_percent"] == 4.0
    assert drift["tracking_error_percent"] == 4.0
