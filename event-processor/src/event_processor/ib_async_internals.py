"""Every use of ib_async's non-public parts, each behind one small named function.

`ib.py` talks to ib_async through its public API and, where that falls short, only through these:
- pacing: the request throttle of ib_async's `Client` (`MaxRequests` per `RequestsInterval`);
- a one-shot account summary: `Wrapper.startReq` registers a future that the summary's end
  resolves, and the values land in `Wrapper.acctSummary` (ib_async's own `accountSummaryAsync`
  keeps the subscription open and then serves stale values);
- forgetting finished trades: ib_async's `trades`, `permId2Trade` and `fills` books, and the last
  value each eventkit event of a trade keeps (`_value`).
ib_async is capped below its next minor version in event-processor/pyproject.toml, and
tests/processor/test_ib_internals.py names whatever an upgrade changes underneath these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ib_async import IB, AccountValue, Trade

# ib_async's (eventkit's) Event; the name `Event` belongs to rebalancer_shared.events.Event.
from ib_async import Event as EventkitEvent

ALL_ACCOUNTS = "All"  # IB's account group naming every account of the login


def set_pacing(ib: IB, burst: int, interval_seconds: float) -> None:
    """ib_async sends at most `burst` messages within any `interval_seconds`; the rest wait."""
    ib.client.MaxRequests = burst
    # ib_async annotates the interval as int; its throttle compares it with loop seconds.
    ib.client.RequestsInterval = interval_seconds  # type: ignore[assignment]


def start_account_summary(ib: IB, tags: Sequence[str]) -> tuple[int, asyncio.Future[Any]]:
    """Ask IB once for `tags` of every account. Returns the request id (to cancel it with) and
    a future that resolves when IB has sent all values (or fails when the connection drops)."""
    req_id = ib.client.getReqId()
    ended: asyncio.Future[Any] = ib.wrapper.startReq(req_id)  # type: ignore[no-untyped-call]
    ib.client.reqAccountSummary(req_id, ALL_ACCOUNTS, ",".join(tags))  # type: ignore[no-untyped-call]
    return req_id, ended


def cancel_account_summary(ib: IB, req_id: int) -> None:
    """End the subscription an account-summary request opens at IB."""
    ib.client.cancelAccountSummary(req_id)  # type: ignore[no-untyped-call]


def account_summary_values(ib: IB) -> list[AccountValue]:
    """The latest account-summary value per account, tag and currency of this session."""
    return list(ib.wrapper.acctSummary.values())


def forget_trade(ib: IB, trade: Trade) -> bool:
    """Drop `trade` and its fills from ib_async's books if they still hold this very trade (a
    reconnect empties them and a new session may reuse the order key). Returns whether it did."""
    wrapper = ib.wrapper
    order = trade.order
    key = wrapper.orderKey(order.clientId, order.orderId, order.permId)
    if wrapper.trades.get(key) is not trade:
        return False
    del wrapper.trades[key]
    if wrapper.permId2Trade.get(order.permId) is trade:
        del wrapper.permId2Trade[order.permId]
    for fill in trade.fills:
        if wrapper.fills.get(fill.execution.execId) is fill:
            del wrapper.fills[fill.execution.execId]
    return True


def clear_last_emitted(trade: Trade) -> None:
    """Each of the trade's events keeps the last value it emitted, the trade itself: a cycle
    that only a full garbage collection frees, which comes seldom (issue 9). Break it."""
    for name in trade.events:
        getattr(trade, name)._value = EventkitEvent.NO_VALUE
