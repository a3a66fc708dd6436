"""Faults, each ending with the account on target and no symbol bought twice."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping

from rebalancer_shared import keys
from rebalancer_shared.queue import EventQueue

from tests.processor.flows import bought_and_sold, enqueue, outcomes, wait_outcome
from tests.support.processes import ManagedProcess
from tests.support.stack import Stack, eventually, log_events

TARGETS = {"SPY": 0.5, "TLT": 0.45}


def assert_each_symbol_bought_once(
    stack: Stack, account_id: str, initial: Mapping[str, int]
) -> None:
    """Every share bought is still held: nothing was bought twice and sold back."""
    final = stack.ib.account(account_id)["positions"]
    for symbol, sides in bought_and_sold(stack, account_id).items():
        net = final.get(symbol, 0) - initial.get(symbol, 0)
        assert sides["BUY"] == max(net, 0), (symbol, sides, initial, final)
        assert sides["SELL"] == max(-net, 0), (symbol, sides, initial, final)


def assert_on_target(stack: Stack, account_id: str, weights: Mapping[str, float]) -> None:
    account = stack.ib.account(account_id)
    nlv = account["net_liquidation"]
    assert set(account["positions"]) == set(weights)
    quotes = stack.ib.http.get("/quotes").json()
    for symbol, weight in weights.items():
        price = quotes[symbol]["last"]
        held = account["positions"][symbol] * price / nlv
        # Within one share (plus slippage left as cash) of the target weight after the reserve.
        assert abs(held - weight * 0.99) <= price / nlv + 0.01, (symbol, held, weight)


async def test_gateway_down_at_start_retries_without_orders(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU2000001", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", TARGETS)
    stack.ib.put_account("DU2000001", cash=50_000)
    stack.ib.faults(refuse_connections=True)
    processor = stack.start_processor()

    event = await enqueue(stack, queue, "DU2000001")
    failed = await wait_outcome(queue, event.event_id, "failed", within=30)
    assert "did not answer" in failed["error"]
    assert stack.ib.orders("DU2000001") == []

    stack.ib.faults(refuse_connections=False)
    await wait_outcome(queue, event.event_id, "succeeded", within=60)
    assert_on_target(stack, "DU2000001", TARGETS)
    assert_each_symbol_bought_once(stack, "DU2000001", {})
    assert any(r.get("event") == "gateway.ready" for r in log_events(processor))


async def test_connection_dropped_between_sells_and_buys(stack: Stack, queue: EventQueue) -> None:
    initial = {"QQQ": 60, "GLD": 100}
    stack.write_accounts([{"account_id": "DU2000002", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", TARGETS)
    stack.ib.put_account("DU2000002", cash=1_000, positions=initial)
    # Sells fill a second after they are placed; the connection drops while we wait for them.
    stack.ib.faults(fill_delay_ms=1500)
    stack.start_processor()

    event = await enqueue(stack, queue, "DU2000002")

    async def sells_placed() -> bool:
        return len(stack.ib.orders("DU2000002")) >= 2

    await eventually(sells_placed, 30, "the sells to be placed")
    stack.ib.faults(drop_connections=True, fill_delay_ms=0)

    await wait_outcome(queue, event.event_id, "succeeded", within=60)
    records = await outcomes(queue, event.event_id)
    assert [r["outcome"] for r in records][-2:] == ["failed", "succeeded"]
    assert "connection" in records[-2]["error"].lower()
    assert_on_target(stack, "DU2000002", TARGETS)
    assert_each_symbol_bought_once(stack, "DU2000002", initial)


async def test_a_rejected_order_fails_the_event_and_the_retry_converges(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU2000003", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", TARGETS)
    stack.ib.put_account("DU2000003", cash=60_000)
    stack.ib.faults(reject_orders=1)
    stack.start_processor()

    event = await enqueue(stack, queue, "DU2000003")
    await wait_outcome(queue, event.event_id, "succeeded", within=60)

    records = await outcomes(queue, event.event_id)
    assert [r["outcome"] for r in records] == ["failed", "succeeded"]
    assert "IB error 201" in records[0]["error"]
    assert_on_target(stack, "DU2000003", TARGETS)
    assert_each_symbol_bought_once(stack, "DU2000003", {})


async def test_fills_that_never_come_time_out_and_are_cancelled(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU2000004", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", TARGETS)
    stack.ib.put_account("DU2000004", cash=45_000)
    stack.ib.faults(fill_delay_ms=600_000)
    stack.start_processor(ORDER_TIMEOUT_SECONDS="1.5")

    event = await enqueue(stack, queue, "DU2000004")
    failed = await wait_outcome(queue, event.event_id, "failed", within=30)
    assert "no fill within 1.5s" in failed["error"]
    assert all(o["status"] == "Cancelled" for o in stack.ib.orders("DU2000004"))
    assert stack.ib.account("DU2000004")["positions"] == {}

    stack.ib.faults(fill_delay_ms=0)
    await wait_outcome(queue, event.event_id, "succeeded", within=60)
    assert_on_target(stack, "DU2000004", TARGETS)
    assert_each_symbol_bought_once(stack, "DU2000004", {})


async def test_partial_fills_fail_the_event_and_the_retry_completes_the_rest(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU2000005", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", TARGETS)
    stack.ib.put_account("DU2000005", cash=45_000)
    stack.ib.faults(partial_fill_ratio=0.5)
    stack.start_processor(ORDER_TIMEOUT_SECONDS="1")

    event = await enqueue(stack, queue, "DU2000005")
    failed = await wait_outcome(queue, event.event_id, "failed", within=30)
    assert "did not all fill" in failed["error"]
    stack.ib.faults(partial_fill_ratio=None)

    await wait_outcome(queue, event.event_id, "succeeded", within=60)
    assert_on_target(stack, "DU2000005", TARGETS)
    assert_each_symbol_bought_once(stack, "DU2000005", {})


async def test_bad_allocations_trade_nothing_and_record_the_error(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts([{"account_id": "DU2000006", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", TARGETS)
    stack.ib.put_account("DU2000006", cash=45_000)
    stack.start_processor()
    expected = {
        "http_500": "HTTP 500",
        "malformed_json": "malformed JSON",
        "overweight": "sum to 1.3",
        "timeout": "did not answer",
    }
    for mode, message in expected.items():
        stack.zehnlabs.fault(mode, strategy="growth")
        event = await enqueue(stack, queue, "DU2000006", "print-rebalance")
        failed = await wait_outcome(queue, event.event_id, "failed", within=40)
        assert message in failed["error"], (mode, failed["error"])
        stack.zehnlabs.fault(None)
        await wait_outcome(queue, event.event_id, "succeeded", within=40)
    assert stack.ib.orders("DU2000006") == []


async def test_processor_killed_during_the_sells_completes_after_restart(
    stack: Stack, queue: EventQueue
) -> None:
    initial = {"QQQ": 80, "GLD": 120}
    stack.write_accounts([{"account_id": "DU2000007", "strategy_name": "growth"}])
    stack.zehnlabs.set_allocations("growth", TARGETS)
    stack.ib.put_account("DU2000007", cash=500, positions=initial)
    stack.ib.faults(fill_delay_ms=2000)  # the sells are working when the processor dies
    first: ManagedProcess = stack.start_processor("processor-1")

    event = await enqueue(stack, queue, "DU2000007")

    async def sells_working() -> bool:
        return len(stack.ib.orders("DU2000007")) >= 2

    await eventually(sells_working, 30, "the sells to be placed")
    first.kill()  # SIGKILL mid-rebalance
    assert first.proc is not None and first.proc.returncode == -signal.SIGKILL
    stack.ib.faults(fill_delay_ms=0)

    stack.start_processor("processor-2")
    await wait_outcome(queue, event.event_id, "succeeded", within=60)

    assert await queue.redis.scard(keys.ACTIVE) == 0, "no dedup key left behind"
    assert (await queue.counts()).processing_count == 0
    assert_on_target(stack, "DU2000007", TARGETS)
    assert_each_symbol_bought_once(stack, "DU2000007", initial)


async def test_twenty_accounts_of_one_strategy_event(stack: Stack, queue: EventQueue) -> None:
    accounts = [f"DU30000{n:02d}" for n in range(20)]
    stack.write_accounts([{"account_id": a, "strategy_name": "growth"} for a in accounts])
    stack.zehnlabs.set_allocations("growth", TARGETS)
    for n, account in enumerate(accounts):
        stack.ib.put_account(account, cash=20_000 + 1_000 * n, positions={"GLD": 10 + n})
    processor = stack.start_processor(MAX_CONCURRENT_EVENTS="8")

    events = []
    for account in accounts:
        events.append(await enqueue(stack, queue, account))
        # A second event of the same account, competing for it while the rebalance runs.
        events.append(await enqueue(stack, queue, account, "print-orders"))
    await asyncio.gather(*(wait_outcome(queue, e.event_id, within=120) for e in events))

    for account in accounts:
        assert_on_target(stack, account, TARGETS)
    # Never two events of one account at once, in the processor's own log.
    running: dict[str, str] = {}
    for record in log_events(processor):
        if record.get("event") == "event.started":
            assert record["account_id"] not in running, record
            running[record["account_id"]] = record["event_id"]
        elif record.get("event") in ("event.completed", "event.failed", "event.delayed"):
            running.pop(record["account_id"], None)
    stats = stack.ib.stats()
    assert stats["peak_messages_per_second"] <= 50
    assert "IB error 100" not in processor.log_text()
    assert "Max rate" not in processor.log_text()
