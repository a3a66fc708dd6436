"""Deleting a running rebalance through the queue (as the management API does) stops it before
its next order batch, with the real processor against ib-gateway-sim."""

from __future__ import annotations

from rebalancer_shared import keys
from rebalancer_shared.queue import EventQueue

from tests.processor.flows import enqueue, outcomes, wait_outcome
from tests.support.stack import Stack, eventually

TARGETS = {"SPY": 0.5, "TLT": 0.45}


async def test_delete_while_the_sells_fill_stops_before_the_buys(
    stack: Stack, queue: EventQueue
) -> None:
    stack.write_accounts(
        [
            {"account_id": "DU2100001", "strategy_name": "growth"},
            {"account_id": "DU2100002", "strategy_name": "growth"},
        ]
    )
    stack.zehnlabs.set_allocations("growth", TARGETS)
    # Must sell QQQ and GLD, then buy SPY and TLT.
    stack.ib.put_account("DU2100001", cash=1_000, positions={"QQQ": 60, "GLD": 100})
    stack.ib.put_account("DU2100002", cash=40_000)
    stack.ib.faults(fill_delay_ms=4000)  # the sells stay working for four seconds
    stack.start_processor()

    event = await enqueue(stack, queue, "DU2100001")

    async def sells_placed() -> bool:
        return len(stack.ib.orders("DU2100001")) >= 2

    await eventually(sells_placed, 30, "the sells to be placed")
    assert await queue.delete(event.event_id) == "deleted_in_flight"
    stack.ib.faults(fill_delay_ms=0)

    record = await wait_outcome(queue, event.event_id, "deleted", within=30)
    assert record["error"] == "deleted through the management API while running"
    sold = sorted((o["action"], o["symbol"], o["filled"]) for o in record["details"]["orders"])
    assert sold == [("SELL", "GLD", 100), ("SELL", "QQQ", 60)]
    assert [r["outcome"] for r in await outcomes(queue, event.event_id)] == ["deleted"]
    assert {o["action"] for o in stack.ib.orders("DU2100001")} == {"SELL"}, "no buy went"
    assert not await queue.redis.hexists(keys.EVENTS, event.event_id)
    assert not await queue.redis.sismember(keys.ACTIVE, event.dedup_key)
    assert not await queue.redis.exists(keys.deleted(event.event_id))
    assert (await queue.counts()).processing_count == 0

    # The processor goes on with the next event as usual.
    following = await enqueue(stack, queue, "DU2100002")
    await wait_outcome(queue, following.event_id, "succeeded", within=60)
    assert {o["action"] for o in stack.ib.orders("DU2100002")} == {"BUY"}
    assert {o["action"] for o in stack.ib.orders("DU2100001")} == {"SELL"}
