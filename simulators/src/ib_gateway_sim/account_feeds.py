"""One client's subscriptions to accounts and positions, and the messages they bring it.

reqPositions, reqPositionsMulti, reqAccountUpdates, reqAccountUpdatesMulti and
reqAccountSummary each answer with a snapshot and an end marker, and from then on IB pushes every
change. Each method here returns the messages to send; the session sends them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from ib_gateway_sim import replies
from ib_gateway_sim.clock import Clock
from ib_gateway_sim.engine import Engine
from ib_gateway_sim.protocol import Field

Message = list[Field]
ALL_ACCOUNTS = ("", "All")


class UnknownAccount(Exception):
    """The request names an account this login does not manage."""

    def __init__(self, account: str) -> None:
        super().__init__(f"account {account!r} is not managed by this login")
        self.account = account


class AccountFeeds:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.positions_subscribed = False
        self.positions_multi: dict[int, tuple[str, str]] = {}
        self.account_updates: str | None = None
        self.account_multi: dict[int, tuple[str, str, bool]] = {}
        self.summaries: dict[int, list[str]] = {}

    # ---- requests --------------------------------------------------------------------------

    def req_positions(self) -> list[Message]:
        self.positions_subscribed = True
        return [*self._positions(self.engine.account_ids(), None), replies.position_end()]

    def cancel_positions(self) -> None:
        self.positions_subscribed = False

    def req_positions_multi(self, req_id: int, account: str, model: str) -> list[Message]:
        account_ids = self._accounts_named(account)
        self.positions_multi[req_id] = (account, model)
        messages = self._positions_multi(req_id, account_ids, model, None)
        return [*messages, replies.position_multi_end(req_id)]

    def cancel_positions_multi(self, req_id: int) -> None:
        self.positions_multi.pop(req_id, None)

    def req_account_updates(self, subscribe: bool, account: str) -> list[Message]:
        """The single-account subscription; an empty account means the first one."""
        if not subscribe:
            self.account_updates = None
            return []
        accounts = self.engine.account_ids()
        account_id = account or (accounts[0] if accounts else "")
        if account_id not in self.engine.accounts:
            raise UnknownAccount(account)
        self.account_updates = account_id
        return [*self._account_updates(account_id, None), replies.account_download_end(account_id)]

    def req_account_updates_multi(
        self, req_id: int, account: str, model: str, ledger_only: bool
    ) -> list[Message]:
        account_ids = self._accounts_named(account)
        self.account_multi[req_id] = (account, model, ledger_only)
        messages = self._account_multi(req_id, account_ids, model, ledger_only)
        return [*messages, replies.account_update_multi_end(req_id)]

    def cancel_account_updates_multi(self, req_id: int) -> None:
        self.account_multi.pop(req_id, None)

    def req_account_summary(self, req_id: int, tags: Sequence[str]) -> list[Message]:
        """Every account: "All" is the only group a paper login has."""
        self.summaries[req_id] = list(tags)
        messages = self._summary(req_id, tags, self.engine.account_ids())
        return [*messages, replies.account_summary_end(req_id)]

    def cancel_account_summary(self, req_id: int) -> None:
        self.summaries.pop(req_id, None)

    # ---- pushes ------------------------------------------------------------------------------

    def changed(self, account_id: str, symbols: Collection[str]) -> list[Message]:
        """What this client hears when an account's cash or positions changed."""
        if account_id not in self.engine.accounts:
            return []
        messages: list[Message] = []
        if self.positions_subscribed:
            messages += self._positions([account_id], symbols)
        for req_id, (account, model) in self.positions_multi.items():
            if account in (*ALL_ACCOUNTS, account_id):
                messages += self._positions_multi(req_id, [account_id], model, symbols)
        if self.account_updates == account_id:
            messages += self._account_updates(account_id, symbols)
        for req_id, (account, model, ledger_only) in self.account_multi.items():
            if account in (*ALL_ACCOUNTS, account_id):
                messages += self._account_multi(req_id, [account_id], model, ledger_only)
        for req_id, tags in self.summaries.items():
            messages += self._summary(req_id, tags, [account_id])
        return messages

    # ---- message building --------------------------------------------------------------------

    def _accounts_named(self, account: str) -> list[str]:
        if account in ALL_ACCOUNTS:
            return self.engine.account_ids()
        if account not in self.engine.accounts:
            raise UnknownAccount(account)
        return [account]

    def _holdings(
        self, account_id: str, symbols: Iterable[str] | None
    ) -> list[tuple[str, int, float]]:
        """(symbol, shares, average cost); a symbol no longer held is reported with 0 shares."""
        positions = self.engine.accounts[account_id].positions
        holdings = []
        for symbol in sorted(positions if symbols is None else symbols):
            held = positions.get(symbol)
            holdings.append((symbol, held.quantity if held else 0, held.avg_cost if held else 0.0))
        return holdings

    def _positions(
        self, account_ids: Iterable[str], symbols: Iterable[str] | None
    ) -> list[Message]:
        instruments = self.engine.instruments
        return [
            replies.position(account_id, instruments[symbol], shares, avg_cost)
            for account_id in account_ids
            for symbol, shares, avg_cost in self._holdings(account_id, symbols)
        ]

    def _positions_multi(
        self, req_id: int, account_ids: Iterable[str], model: str, symbols: Iterable[str] | None
    ) -> list[Message]:
        instruments = self.engine.instruments
        return [
            replies.position_multi(req_id, account_id, model, instruments[symbol], shares, cost)
            for account_id in account_ids
            for symbol, shares, cost in self._holdings(account_id, symbols)
        ]

    def _values(self, account_id: str) -> list[tuple[str, str, str]]:
        account = self.engine.accounts[account_id]
        return replies.account_values(account_id, self.engine.valuation(account))

    def _account_updates(self, account_id: str, symbols: Iterable[str] | None) -> list[Message]:
        messages = [
            replies.account_value(key, value, currency, account_id)
            for key, value, currency in self._values(account_id)
        ]
        for symbol, shares, avg_cost in self._holdings(account_id, symbols):
            mark = self.engine.quotes[symbol].mark
            instrument = self.engine.instruments[symbol]
            messages.append(replies.portfolio_value(account_id, instrument, shares, mark, avg_cost))
        messages.append(replies.account_update_time(self.clock.now()))
        return messages

    def _account_multi(
        self, req_id: int, account_ids: Iterable[str], model: str, ledger_only: bool
    ) -> list[Message]:
        wanted = (*replies.LEDGER_KEYS, "NetLiquidation")
        return [
            replies.account_update_multi(req_id, account_id, model, key, value, currency)
            for account_id in account_ids
            for key, value, currency in self._values(account_id)
            if not ledger_only or key in wanted
        ]

    def _summary(
        self, req_id: int, tags: Sequence[str], account_ids: Iterable[str]
    ) -> list[Message]:
        return [
            replies.account_summary(req_id, account_id, tag, value, currency)
            for account_id in account_ids
            for tag, value, currency in replies.summary_rows(tags, self._values(account_id))
        ]
