"""A queued event to filled orders: the processor as a subprocess against redis-server,
ib-gateway-sim and zehnlabs-sim over TCP (unmodified ib_async inside the processor)."""

from __future__ import annotations

from typing import Any

from event_processor.planner import Plan, PlanInput, Quote, plan_rebalance
from rebalancer_shared import keys
from rebalancer_shared.queue import EventQueue
from rebalancer_testkit.targets import beyond_one_share

from tests.processor.conftest import QUOTES
from tests.processor.flows import bought_and_sold, enqueue, outcomes, wait_outcome
from tests.support.stack import Stack

ASKS = {symbol: ask for symbol, (_, ask, _) in QUOTES.items()}


def planned(
    stack: Stack,
    account_id: str,
    targets: dict[str, float],
    reserve: float,
    replacements: tuple[Any, ...] = (),
) -> Plan:
    """What the planner aims for from the account's state at the simulator right now."""
    state = stack.ib.account(account_id)
    return plan_rebalance(
        PlanInput(
            net_liquidation=state["net_liquidation"],
            cash=state["cash"],
            positions=state["positions"],
            quotes={s: Quote(bid=b, ask=a) for s, (b, a, _) in QUOTES.items()},
            targets=targets,
            cash_reserve_percent=reserve,
            replacements=replacements,
        )
    )


def planned_positions(plan: Plan) -> dict[str, int]:
    return {symbol: quantity for symbol, quantity in plan.positions_after.items() if quantity}


async def test_all_cash_goes_to_the_targets(stack: Stack, queue: EventQueue) -> None:
    stack.write_accounts([{"account_id": "DU1000001", "strategy_name": "growth"}])
    targets = {"SPY": 0.40, "TLT": 0.30, "GLD": 0.28}
    stack.zehnlabs.set_allocations("growth", targets)
    stack.ib.put_account("DU1000001", cash=100_000)
    plan = planned(stack, "DU1000001", targets, 1.0)
    stack.start_processor()

    event = await enqueue(stack, queue, "DU1000001")
    record = await wait_outcome(queue, event.event_id)

    account = stack.ib.account("DU1000001")
    nlv = account["net_liquidation"]
    # Every symbol within one share of its target, and the cash never below the reserve.
    assert beyond_one_share(account, targets, 1.0, ASKS) == {}
    assert account["cash"] >= 0.01 * nlv - 0.01
    details = record["details"]
    # The buys are sized at their limit price (ask + slippage) and filled at the ask; the
    # top-up spent what that saved, so less than a share of the dearest target stays idle.
    assert details["buys_replanned"] == [
        {"symbol": b.symbol, "quantity": b.quantity, "limit_price": b.limit_price}
        for b in plan.buys
    ], "the first round is the plan"
    assert details["top_up"], "the fills left enough below their limits for a top-up"
    assert account["cash"] - (0.01 + 0.02 * 0.99) * nlv < ASKS["SPY"]
    # The recorded state after is what IB booked: the simulator agrees to the cent.
    assert abs(details["cash_after"] - account["cash"]) < 0.01
    assert details["positions_after"] == account["positions"]
    assert {o["symbol"] for o in details["orders"]} == {"SPY", "TLT", "GLD"}
    assert len(details["orders"]) == 3 + len(details["top_up"])
    assert all(o["status"] == "Filled" and o["action"] == "BUY" for o in details["orders"])
    assert details["cash_before"] == 100_000
    assert details["target_weights"] == targets  # for the overview's drift
    assert await queue.redis.scard(keys.ACTIVE) == 0


async def test_rotation_sells_first_then_buys_on_the_real_cash(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU1000002", "strategy_name": "rotation"}])
    targets = {"SPY": 0.5, "IEF": 0.45}
    stack.zehnlabs.set_allocations("rotation", targets)
    # An old allocation: QQQ and GLD, neither in the new targets, and a little IEF.
    stack.ib.put_account("DU1000002", cash=2_000, positions={"QQQ": 100, "GLD": 150, "IEF": 50})
    expected = planned_positions(planned(stack, "DU1000002", targets, 1.0))
    stack.start_processor()

    event = await enqueue(stack, queue, "DU1000002")
    record = await wait_outcome(queue, event.event_id)

    account = stack.ib.account("DU1000002")
    assert "QQQ" not in account["positions"] and "GLD" not in account["positions"]
    assert set(account["positions"]) == set(expected)
    assert beyond_one_share(account, targets, 1.0, ASKS) == {}
    orders = record["details"]["orders"]
    actions = [o["action"] for o in orders]
    assert actions == sorted(actions, key=lambda a: a != "SELL"), "sells come before buys"
    assert {o["symbol"] for o in orders if o["action"] == "SELL"} == {"QQQ", "GLD"}
    # The buys were planned from the cash IB reported after the sells.
    assert 89_900 < record["details"]["cash_after_sells"] < 90_000  # 2,000 + 52,000 + 36,000
    assert account["cash"] >= 0.01 * account["net_liquidation"] - 0.01


async def test_ira_replacement_buys_the_target_symbol_scaled(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_replacement_sets({"ira": [{"source": "SPY", "target": "VOO", "scale": 1.5}]})
    stack.write_accounts(
        [{"account_id": "DU1000003", "strategy_name": "blend", "replacement_set": "ira"}]
    )
    targets = {"SPY": 0.3, "TLT": 0.35, "GLD": 0.35}
    stack.zehnlabs.set_allocations("blend", targets)
    stack.ib.put_account("DU1000003", cash=50_000, positions={"SPY": 10})
    stack.start_processor()

    event = await enqueue(stack, queue, "DU1000003")
    await wait_outcome(queue, event.event_id)

    positions = stack.ib.account("DU1000003")["positions"]
    assert "SPY" not in positions, "the source symbol held is sold"
    nlv = stack.ib.account("DU1000003")["net_liquidation"]
    voo_weight = positions["VOO"] * QUOTES["VOO"][2] / nlv
    # SPY 0.30 x 1.5 = 0.45; TLT and GLD shrink to 0.275 each so the total stays 1.0.
    assert abs(voo_weight - 0.45 * 0.99) < 0.02
    assert abs(positions["TLT"] * QUOTES["TLT"][2] / nlv - 0.275 * 0.99) < 0.02


async def test_the_cash_reserve_is_respected(stack: Stack, queue: EventQueue) -> None:
    stack.write_accounts(
        [{"account_id": "DU1000004", "strategy_name": "all-in", "cash_reserve_percent": 10}]
    )
    stack.zehnlabs.set_allocations("all-in", {"SPY": 0.5, "QQQ": 0.5})
    stack.ib.put_account("DU1000004", cash=80_000)
    stack.start_processor()

    event = await enqueue(stack, queue, "DU1000004")
    await wait_outcome(queue, event.event_id)

    account = stack.ib.account("DU1000004")
    nlv = account["net_liquidation"]
    assert account["cash"] >= 0.10 * nlv
    # Spare cash above the reserve: under one share of the dearer target (the top-up spent
    # what the buys saved by filling at the ask rather than at their limit).
    assert account["cash"] - 0.10 * nlv < QUOTES["SPY"][1]
    targets = {"SPY": 0.5, "QQQ": 0.5}
    assert beyond_one_share(account, targets, 10.0, ASKS) == {}


async def test_print_rebalance_places_nothing_and_records_the_plan(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU1000005", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", {"SPY": 0.6, "TLT": 0.4})
    stack.ib.put_account("DU1000005", cash=30_000, positions={"GLD": 20})
    stack.start_processor()

    event = await enqueue(stack, queue, "DU1000005", "print-rebalance")
    record = await wait_outcome(queue, event.event_id)

    assert stack.ib.orders("DU1000005") == []
    plan = record["details"]["plan"]
    assert plan["sells"] == [{"symbol": "GLD", "quantity": 20}]
    assert {b["symbol"] for b in plan["buys"]} == {"SPY", "TLT"}
    assert record["details"]["observe_only"] is True


async def test_observe_only_turns_rebalance_into_a_plan(stack: Stack, queue: EventQueue) -> None:
    stack.write_accounts([{"account_id": "DU1000006", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", {"SPY": 1.0})
    stack.ib.put_account("DU1000006", cash=30_000)
    stack.start_processor(OBSERVE_ONLY="true")

    event = await enqueue(stack, queue, "DU1000006")
    record = await wait_outcome(queue, event.event_id)

    assert stack.ib.orders("DU1000006") == []
    assert record["details"]["plan"]["buys"][0]["symbol"] == "SPY"


async def test_outside_hours_waits_for_the_open_then_runs(stack: Stack, queue: EventQueue) -> None:
    stack.write_accounts([{"account_id": "DU1000007", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", {"SPY": 0.5, "TLT": 0.45})
    stack.ib.put_account("DU1000007", cash=20_000)
    # Three seconds before Monday's open, the simulator's clock running on from there.
    stack.ib.set_clock("2026-11-23T09:29:57-05:00", running=True)
    stack.start_processor()

    event = await enqueue(stack, queue, "DU1000007")
    delayed = await wait_outcome(queue, event.event_id, "delayed", within=30)
    assert "outside regular trading hours" in delayed["error"]
    assert stack.ib.orders("DU1000007") == []

    await wait_outcome(queue, event.event_id, "succeeded", within=60)
    assert set(stack.ib.account("DU1000007")["positions"]) == {"SPY", "TLT"}
    fills = [o for o in stack.ib.orders("DU1000007") if o["filled"]]
    assert fills and all(o["status"] == "Filled" for o in fills)


async def test_repeated_rebalance_converges_without_trading_again(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU1000008", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", {"SPY": 0.5, "TLT": 0.45})
    stack.ib.put_account("DU1000008", cash=40_000)
    # The top-up's own fills save a few dollars below their limits: not worth a trade.
    stack.start_processor(MIN_TRADE_VALUE="500")

    first = await enqueue(stack, queue, "DU1000008")
    await wait_outcome(queue, first.event_id)
    placed = len(stack.ib.orders("DU1000008"))
    second = await enqueue(stack, queue, "DU1000008")
    record = await wait_outcome(queue, second.event_id)

    assert record["details"]["orders"] == []
    assert len(stack.ib.orders("DU1000008")) == placed
    assert [r["outcome"] for r in await outcomes(queue, first.event_id)] == ["succeeded"]
    assert bought_and_sold(stack, "DU1000008")["SPY"]["SELL"] == 0
