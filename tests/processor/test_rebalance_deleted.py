"""Deleting a running rebalance stops it before its next order batch (IB's books in plain values,
tests/processor/books.py: no process)."""

from __future__ import annotations

import pytest
from event_processor.commands.base import CommandContext, Deleted
from event_processor.commands.rebalance import rebalance

from tests.processor.books import Books, context
from tests.processor.test_rebalance_top_up import RESERVE, WEIGHTS


class HeldBooks(Books):
    """Books that remember every cancel of the account's working orders."""

    def __init__(self, cash: float, positions: dict[str, int]) -> None:
        super().__init__(cash, positions)
        self.cancels: list[int] = []  # the batch count at each cancel

    async def cancel_open_orders(self, account_id: str, timeout_seconds: float) -> int:
        self.cancels.append(len(self.batches))
        return 0


def deleted_after(books: Books, batches: int, ctx: CommandContext) -> CommandContext:
    """The guard finds the tombstone once `batches` order batches went out."""

    async def guard() -> None:
        if len(books.batches) >= batches:
            raise Deleted("deleted through the management API while running")

    ctx.guard = guard
    return ctx


async def test_a_delete_after_the_sells_stops_before_the_buys() -> None:
    books = HeldBooks(400_917.00, {"LQD": 192, "IEF": 204, "VTI": 96})

    with pytest.raises(Deleted) as stopped:
        await rebalance(deleted_after(books, 1, context(books, WEIGHTS, RESERVE)))

    # The sells went and filled; no buy was placed; the working orders were cancelled.
    assert [[o.action for o in batch] for batch in books.batches] == [["SELL", "SELL"]]
    assert books.cancels == [0, 1]  # the usual cancel before the plan, then the delete's
    orders = stopped.value.details["orders"]
    assert [(o["action"], o["symbol"], o["filled"]) for o in orders] == [
        ("SELL", "IEF", 204),
        ("SELL", "LQD", 192),
    ]


async def test_a_delete_before_the_first_batch_places_nothing() -> None:
    books = HeldBooks(400_917.00, {"LQD": 192, "IEF": 204, "VTI": 96})

    with pytest.raises(Deleted) as stopped:
        await rebalance(deleted_after(books, 0, context(books, WEIGHTS, RESERVE)))

    assert books.batches == []
    assert stopped.value.details["orders"] == []


async def test_a_delete_during_the_buys_stops_before_the_top_up() -> None:
    books = HeldBooks(400_917.00, {"LQD": 192, "IEF": 204, "VTI": 96})

    with pytest.raises(Deleted):
        await rebalance(deleted_after(books, 2, context(books, WEIGHTS, RESERVE)))

    assert [len(batch) for batch in books.batches] == [2, 2]  # sells, buys; no top-up round
    assert books.cancels[-1] == 2
