"""The adapter over ib_async: one connection to IB Gateway, used by every command. Nothing else
imports ib_async but `ib_async_internals.py`, which owns every use of its non-public parts.

IB accepts about 50 API messages per second per client, so what can be shared is shared:
- account values come from one account-summary request for all accounts, and callers that
  arrive while one is under way share the next one (`_NextResult`);
- positions come from the positions subscription opened at connect (IB pushes changes);
- contract details (trading hours) are cached per symbol and IB day, quotes for a few seconds;
- server time and the open-order list are shared the same way as account values.
ib_async keeps every trade and fill of a session; ours are dropped from its books a few seconds
after they are done and reported, so a long session's memory does not grow with its orders.
ib_async itself paces what we send to 45 messages per second, at most 10 at once, so that no
second ever holds more than 50.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from ib_async import (
    IB,
    Contract,
    ContractDetails,
    LimitOrder,
    MarketOrder,
    RequestError,
    StartupFetch,
    Stock,
    Trade,
)
from rebalancer_shared.log import get_logger
from rebalancer_shared.settings import TradingMode

from event_processor.gateway import (
    AccountSnapshot,
    GatewayError,
    OpenOrder,
    OrderReport,
    OrderRequest,
)
from event_processor.hours import Session, parse_hours, pick_hours
from event_processor.ib_async_internals import (
    account_summary_values,
    cancel_account_summary,
    clear_last_emitted,
    forget_trade,
    set_pacing,
    start_account_summary,
)
from event_processor.planner import Quote
from event_processor.trading_mode import WrongTradingMode, mode_mismatch

log = get_logger(__name__)
T = TypeVar("T")

MARKET_DATA_DELAYED = 3  # live where subscribed, delayed otherwise (IB's market data type 3)
CANCEL_CONFIRM_SECONDS = 10.0
COMMISSION_WAIT_SECONDS = 2.0
SERVER_TIME_REUSE_SECONDS = 2.0
PACING_PER_SECOND = 45  # messages ib_async sends per second at most (IB allows 50)
PACING_BURST = 10  # messages sent at once at most; any one second then holds at most 50
DONE_STATES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
# How long a finished trade stays in ib_async's books: IB may still send a last orderStatus or
# openOrder for it, which must find it (or ib_async logs an unknown order, or books it anew).
DONE_TRADES_KEPT_SECONDS = 5.0


class _NextResult(Generic[T]):
    """Single flight for fresh data: a caller gets the result of a request that started after
    it asked. Callers arriving while one runs wait and share the next one."""

    def __init__(self, fetch: Callable[[], Awaitable[T]]) -> None:
        self._fetch = fetch
        self._task: asyncio.Task[T] | None = None
        self._generation = 0

    async def get(self) -> T:
        needed = self._generation + 1
        while True:
            task = self._task
            if task is not None and self._generation >= needed:
                return await asyncio.shield(task)
            if task is not None and not task.done():
                await asyncio.wait([task])
                continue
            self._generation += 1
            self._task = asyncio.ensure_future(self._fetch())

    def reset(self) -> None:
        self._task = None


@dataclass
class _Cached(Generic[T]):
    value: T
    at: float


class IBGateway:
    """The Gateway of `gateway.py`, over ib_async."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float = 4.0,
        request_timeout: float = 15.0,
        quote_ttl_seconds: float = 10.0,
        market_data_type: int = MARKET_DATA_DELAYED,
        done_trades_kept_seconds: float = DONE_TRADES_KEPT_SECONDS,
        trading_mode: TradingMode | None = None,
    ) -> None:
        self.host = host
        # When set, a connection whose managed accounts are of the other mode is refused.
        self.trading_mode = trading_mode
        self.port = port
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.quote_ttl_seconds = quote_ttl_seconds
        self.market_data_type = market_data_type
        self.done_trades_kept_seconds = done_trades_kept_seconds
        self.client_id: int | None = None
        self.ib = IB()
        # Chaos/bench (issue 9): ib_async's default pacing sends up to 45 messages at once and
        # the next 45 as that second ends, so two bursts can reach IB within one second (the
        # simulator counted 65 during a fan-out). At most 10 per 10/45 s is the same 45 a second
        # and no second holds more than 50; one account's rebalance (about 10 in all) seldom waits.
        set_pacing(self.ib, PACING_BURST, PACING_BURST / PACING_PER_SECOND)
        self.ib.RaiseRequestErrors = True
        self.ib.errorEvent += self._on_error
        self._connect_lock = asyncio.Lock()
        # Each connect starts a session; it is ready once ib_async's startup sync (the
        # positions) is done. ib_async calls itself connected as soon as the API is up, a moment
        # before the positions are in, and empties its books when a connection drops.
        self._session = 0
        self._ready_session: int | None = None
        self._details: dict[str, _Cached[ContractDetails]] = {}
        self._details_day: dict[str, date] = {}
        self._quotes: dict[str, _Cached[Quote]] = {}
        self._inflight_quotes: dict[str, asyncio.Future[Quote]] = {}
        self._inflight_details: dict[str, asyncio.Future[ContractDetails]] = {}
        self._order_errors: dict[int, str] = {}
        self._summary = _NextResult(self._request_summary)
        self._open_orders = _NextResult(self._request_open_orders)
        self._time = _NextResult(self._request_time)
        self._time_read: tuple[float, datetime] | None = None

    # --- connection ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Connected and synced: the positions of this session are in ib_async's books."""
        return self._ready()

    def _ready(self) -> bool:
        return self.ib.isConnected() and self._ready_session == self._session

    async def ensure_connected(self) -> None:
        if self._ready():
            return
        async with self._connect_lock:
            if self._ready():  # another caller connected while we waited
                return
            # A random client id: a second processor or a stale session never collides (seeds).
            self.client_id = random.randint(1000, 2_000_000_000)
            self._session += 1
            self._forget_session()
            try:
                await self.ib.connectAsync(
                    self.host,
                    self.port,
                    clientId=self.client_id,
                    timeout=self.connect_timeout,
                    fetchFields=StartupFetch.POSITIONS,
                    raiseSyncErrors=True,
                )
                self.ib.reqMarketDataType(self.market_data_type)
            except (OSError, TimeoutError, ConnectionError) as error:
                self.ib.disconnect()
                reason = str(error) or type(error).__name__
                raise GatewayError(
                    f"IB Gateway at {self.host}:{self.port} did not answer within "
                    f"{self.connect_timeout:g}s ({reason}); is it running and logged in?"
                ) from None
            self._check_trading_mode()
            self._ready_session = self._session
            log.info(
                "gateway.connected",
                client_id=self.client_id,
                accounts=len(self.ib.managedAccounts()),
            )

    def _check_trading_mode(self) -> None:
        """Before anything can be traded on a new connection: its accounts are of our mode."""
        if self.trading_mode is None:
            return
        problem = mode_mismatch(
            self.trading_mode, self.ib.managedAccounts(), f"{self.host}:{self.port}"
        )
        if problem is not None:
            self.ib.disconnect()
            raise WrongTradingMode(problem)

    def disconnect(self) -> None:
        self.ib.disconnect()

    def _forget_session(self) -> None:
        # Subscriptions and request ids belong to a session: start clean after a reconnect.
        self._summary.reset()
        self._open_orders.reset()
        self._time.reset()
        self._time_read = None
        self._inflight_quotes.clear()
        self._inflight_details.clear()

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if req_id > 0:
            self._order_errors[req_id] = f"IB error {code}: {message}"

    async def _timed(self, awaitable: Awaitable[T], what: str) -> T:
        try:
            return await asyncio.wait_for(awaitable, self.request_timeout)
        except TimeoutError:
            raise GatewayError(
                f"IB did not answer {what} within {self.request_timeout:g}s"
            ) from None
        except RequestError as error:
            raise GatewayError(f"IB refused {what}: error {error.code}: {error.message}") from None
        except ConnectionError as error:
            raise GatewayError(f"connection to IB Gateway lost during {what}: {error}") from None

    def _require_connection(self) -> None:
        if not self.connected:
            raise GatewayError(f"not connected to IB Gateway at {self.host}:{self.port}")

    # --- time ---------------------------------------------------------------------------------

    async def server_time(self) -> datetime:
        """IB's clock. A reading younger than SERVER_TIME_REUSE_SECONDS is moved on by our own
        monotonic clock instead of asking again: every account of a fan-out needs the time."""
        self._require_connection()
        if self._time_read is not None:
            read_at, moment = self._time_read
            age = time.monotonic() - read_at
            if age < SERVER_TIME_REUSE_SECONDS:
                return moment + timedelta(seconds=age)
        moment = await self._time.get()
        self._time_read = (time.monotonic(), moment)
        return moment

    async def _request_time(self) -> datetime:
        moment = await self._timed(self.ib.reqCurrentTimeAsync(), "the current time")
        return moment.astimezone(UTC)

    # --- account ------------------------------------------------------------------------------

    async def snapshot(self, account_id: str) -> AccountSnapshot:
        self._require_connection()
        session = self._session
        values = await self._summary.get()
        if not self.connected or self._session != session:
            # The connection dropped after the values came: ib_async emptied its books, so the
            # positions would read as none (and the plan would buy as if nothing were held).
            raise GatewayError(
                f"connection to IB Gateway lost while reading account {account_id}; its "
                "positions are unknown"
            )
        account = values.get(account_id)
        if account is None or "NetLiquidation" not in account or "TotalCashValue" not in account:
            known = ", ".join(sorted(values)) or "none"
            raise GatewayError(f"IB reports no values for account {account_id} (known: {known})")
        positions: dict[str, int] = {}
        for position in self.ib.positions(account_id):
            if position.contract.secType != "STK" or position.position == 0:
                continue
            quantity = position.position
            if quantity != int(quantity):
                raise GatewayError(
                    f"account {account_id} holds a fractional position of "
                    f"{position.contract.symbol} ({quantity}); fractional shares are not supported"
                )
            positions[position.contract.symbol] = int(quantity)
        return AccountSnapshot(
            account_id=account_id,
            net_liquidation=account["NetLiquidation"],
            cash=account["TotalCashValue"],
            positions=positions,
        )

    async def _request_summary(self) -> dict[str, dict[str, float]]:
        """One account-summary request for all accounts, cancelled once it ended."""
        # Not ib_async's accountSummaryAsync: it keeps the subscription and serves stale values.
        req_id, ended = start_account_summary(self.ib, ["NetLiquidation", "TotalCashValue"])
        try:
            await self._timed(ended, "the account summary")
        finally:
            if self.connected:
                cancel_account_summary(self.ib, req_id)
        values: dict[str, dict[str, float]] = {}
        for item in account_summary_values(self.ib):
            if item.currency not in ("USD", "BASE", ""):
                continue
            try:
                values.setdefault(item.account, {})[item.tag] = float(item.value)
            except ValueError:
                continue
        return values

    # --- contracts, hours and quotes ------------------------------------------------------------

    async def _details_for(self, symbol: str) -> ContractDetails:
        cached = self._details.get(symbol)
        today = datetime.now(UTC).date()
        if cached is not None and self._details_day.get(symbol) == today:
            return cached.value
        pending = self._inflight_details.get(symbol)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ContractDetails] = asyncio.get_running_loop().create_future()
        self._inflight_details[symbol] = future
        try:
            found = await self._timed(
                self.ib.reqContractDetailsAsync(Stock(symbol, "SMART", "USD")),
                f"contract details of {symbol}",
            )
            if not found:
                raise GatewayError(f"IB knows no US stock {symbol} (no security definition)")
            details = found[0]
            self._details[symbol] = _Cached(details, time.monotonic())
            self._details_day[symbol] = today
            future.set_result(details)
            return details
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: other waiters get it; no "never retrieved" warning
            raise
        finally:
            self._inflight_details.pop(symbol, None)

    async def sessions(self, symbols: list[str], extended_hours: bool) -> dict[str, list[Session]]:
        self._require_connection()
        details = await asyncio.gather(*(self._details_for(s) for s in symbols))
        result: dict[str, list[Session]] = {}
        for symbol, detail in zip(symbols, details, strict=True):
            hours = pick_hours(detail.liquidHours, detail.tradingHours, extended_hours)
            result[symbol] = parse_hours(hours, detail.timeZoneId)
        return result

    async def quotes(self, symbols: list[str]) -> dict[str, Quote]:
        self._require_connection()
        found = await asyncio.gather(*(self._quote(symbol) for symbol in symbols))
        return dict(zip(symbols, found, strict=True))

    async def _quote(self, symbol: str) -> Quote:
        cached = self._quotes.get(symbol)
        if cached is not None and time.monotonic() - cached.at < self.quote_ttl_seconds:
            return cached.value
        pending = self._inflight_quotes.get(symbol)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Quote] = asyncio.get_running_loop().create_future()
        self._inflight_quotes[symbol] = future
        try:
            quote = await self._fetch_quote(symbol)
            self._quotes[symbol] = _Cached(quote, time.monotonic())
            future.set_result(quote)
            return quote
        except BaseException as error:
            future.set_exception(error)
            future.exception()
            raise
        finally:
            self._inflight_quotes.pop(symbol, None)

    async def _fetch_quote(self, symbol: str) -> Quote:
        contract = (await self._details_for(symbol)).contract
        assert contract is not None
        [ticker] = await self._timed(self.ib.reqTickersAsync(contract), f"a quote for {symbol}")
        bid, ask = _positive(ticker.bid), _positive(ticker.ask)
        if bid is not None and ask is not None and bid <= ask:
            return Quote(bid=bid, ask=ask)
        # No live or delayed bid/ask (not subscribed, or outside hours): the last price or the
        # last close, from the ticker or from daily bars.
        last = _positive(ticker.last) or _positive(ticker.close) or await self._last_close(contract)
        if last is None:
            raise GatewayError(f"IB gives no price for {symbol} (no bid/ask, last or close)")
        log.warning("quote.fallback", symbol=symbol, price=last)
        return Quote(bid=last, ask=last)

    async def _last_close(self, contract: Contract) -> float | None:
        bars = await self._timed(
            self.ib.reqHistoricalDataAsync(
                contract,
                endDateTime="",
                durationStr="5 D",
                barSizeSetting="1 day",
                whatToShow="TRADES",
                useRTH=True,
            ),
            f"daily bars of {contract.symbol}",
        )
        return _positive(bars[-1].close) if bars else None

    # --- orders -------------------------------------------------------------------------------

    async def open_orders(self, account_id: str) -> list[OpenOrder]:
        self._require_connection()
        trades = await self._open_orders.get()
        return [
            OpenOrder(
                order_id=t.order.orderId,
                symbol=t.contract.symbol,
                action=t.order.action,
                quantity=float(t.order.totalQuantity),
                order_type=t.order.orderType,
                limit_price=_positive(t.order.lmtPrice),
                status=t.orderStatus.status,
            )
            for t in trades
            if t.order.account == account_id and t.orderStatus.status not in DONE_STATES
        ]

    async def _request_open_orders(self) -> list[Trade]:
        return list(await self._timed(self.ib.reqAllOpenOrdersAsync(), "the open orders"))

    async def cancel_open_orders(self, account_id: str, timeout_seconds: float) -> int:
        self._require_connection()
        trades = [
            t
            for t in await self._open_orders.get()
            if t.order.account == account_id and t.orderStatus.status not in DONE_STATES
        ]
        # IB lets only the client that placed an order cancel it (reqGlobalCancel would cancel
        # every account's orders). An order of another client or an earlier session of ours
        # may still fill: trading on top of it could buy twice, so the event waits instead.
        foreign = [t for t in trades if t.order.clientId != self.client_id]
        if foreign:
            listed = ", ".join(
                f"{t.order.action} {t.order.totalQuantity:g} {t.contract.symbol} "
                f"(order {t.order.orderId} of client {t.order.clientId})"
                for t in foreign
            )
            raise GatewayError(
                f"account {account_id} has open orders this processor cannot cancel: {listed}; "
                "IB lets only the placing client cancel them. Cancel them in TWS or the IBKR "
                "app (or let them fill or expire); the event retries meanwhile"
            )
        for trade in trades:
            self.ib.cancelOrder(trade.order)
        if trades:
            pending = await self._wait_done(trades, timeout_seconds)
            if pending:
                ids = ", ".join(str(t.order.orderId) for t in pending)
                raise GatewayError(
                    f"IB did not confirm the cancel of order(s) {ids} of {account_id} within "
                    f"{timeout_seconds:g}s"
                )
            log.info("orders.cancelled", count=len(trades))
            self._forget_later(trades)
        return len(trades)

    async def execute(
        self,
        account_id: str,
        orders: list[OrderRequest],
        time_in_force: str,
        outside_rth: bool,
        timeout_seconds: float,
    ) -> list[OrderReport]:
        self._require_connection()
        contracts = await asyncio.gather(*(self._details_for(o.symbol) for o in orders))
        trades: list[tuple[OrderReport, Trade]] = []
        for request, details in zip(orders, contracts, strict=True):
            order = (
                MarketOrder(request.action, request.quantity)
                if request.limit_price is None
                else LimitOrder(request.action, request.quantity, request.limit_price)
            )
            order.account = account_id
            order.tif = time_in_force
            order.outsideRth = outside_rth
            contract = details.contract
            assert contract is not None
            trade = self.ib.placeOrder(contract, order)
            report = OrderReport(
                symbol=request.symbol,
                action=request.action,
                quantity=request.quantity,
                order_type=order.orderType,
                limit_price=request.limit_price,
                order_id=order.orderId,
            )
            log.info(
                "order.placed",
                order_id=order.orderId,
                symbol=request.symbol,
                action=request.action,
                quantity=request.quantity,
                limit_price=request.limit_price,
            )
            trades.append((report, trade))
        all_trades = [trade for _, trade in trades]
        try:
            pending = await self._wait_done(all_trades, timeout_seconds)
        except asyncio.CancelledError:
            await self._cancel_working(all_trades)
            raise
        if pending:
            log.warning("orders.timeout", pending=[t.order.orderId for t in pending])
            for trade in pending:
                if self.connected:
                    self.ib.cancelOrder(trade.order)
            await self._wait_done(pending, CANCEL_CONFIRM_SECONDS)
        await self._wait_commissions(all_trades)
        reports = [self._report(report, trade) for report, trade in trades]
        self._forget_later(all_trades)
        if pending and not self.connected:
            raise GatewayError(
                "connection to IB Gateway lost while waiting for fills: "
                + "; ".join(
                    f"{r.action} {r.quantity} {r.symbol} filled {r.filled}" for r in reports
                )
            )
        timed_out = {trade.order.orderId for trade in pending}
        for report in reports:
            if report.order_id in timed_out and report.status != "Filled":
                # Our own cancel's "202 Order Canceled" says less than why we cancelled.
                report.error = f"no fill within {timeout_seconds:g}s, so cancelled"
        return reports

    async def _cancel_working(self, trades: list[Trade]) -> None:
        """Shutdown mid-order: cancel what still works. Only this client can (IB's rule), so an
        order left behind would block the account for the next processor until it fills."""
        working = [t for t in trades if t.orderStatus.status not in DONE_STATES]
        if not working or not self.connected:
            return
        for trade in working:
            self.ib.cancelOrder(trade.order)
        await self._wait_done(working, CANCEL_CONFIRM_SECONDS)
        log.warning(
            "orders.cancelled_at_shutdown",
            orders=[
                {
                    "order_id": t.order.orderId,
                    "symbol": t.contract.symbol,
                    "action": t.order.action,
                    "filled": float(t.filled()),
                    "status": t.orderStatus.status,
                }
                for t in working
            ],
        )

    def _forget_later(self, trades: list[Trade]) -> None:
        """Drop our done trades from ib_async's books once DONE_TRADES_KEPT_SECONDS passed.
        ib_async keeps every trade, its log and its fills for the whole session: a fan-out to 200
        accounts left 1,600 of them, about 13 MiB (issue 9). Working orders are never dropped:
        ib_async still books their updates, and the cancel at shutdown needs them."""
        done = [
            t
            for t in trades
            if t.order.clientId == self.client_id and t.orderStatus.status in DONE_STATES
        ]
        if done:
            loop = asyncio.get_running_loop()
            loop.call_later(self.done_trades_kept_seconds, self._forget, done)

    def _forget(self, trades: list[Trade]) -> None:
        for trade in trades:
            if trade.orderStatus.status not in DONE_STATES:
                continue  # working again
            if not forget_trade(self.ib, trade):
                continue  # the books were reset by a reconnect
            self._order_errors.pop(trade.order.orderId, None)
            clear_last_emitted(trade)

    def _report(self, report: OrderReport, trade: Trade) -> OrderReport:
        report.status = trade.orderStatus.status
        report.filled = int(trade.filled())
        fills = trade.fills
        if fills:
            shares = sum(f.execution.shares for f in fills)
            report.average_price = round(
                sum(f.execution.shares * f.execution.price for f in fills) / shares, 6
            )
            report.commission = sum(f.commissionReport.commission for f in fills)
            report.commissions_known = all(f.commissionReport.execId for f in fills)
            report.fills = [
                {
                    "exec_id": f.execution.execId,
                    "shares": f.execution.shares,
                    "price": f.execution.price,
                    "commission": f.commissionReport.commission,
                    "time": f.execution.time.isoformat() if f.execution.time else "",
                }
                for f in fills
            ]
        error = self._order_errors.get(trade.order.orderId)
        if error is None:
            messages = [entry.message for entry in trade.log if entry.errorCode]
            error = messages[-1] if messages else None
        report.error = error
        return report

    async def _wait_done(self, trades: list[Trade], timeout_seconds: float) -> list[Trade]:
        """Wait until every trade is done (or the connection drops); returns the unfinished."""

        def unfinished() -> list[Trade]:
            return [t for t in trades if t.orderStatus.status not in DONE_STATES]

        await self._wait_for(trades, "statusEvent", lambda: not unfinished(), timeout_seconds)
        return unfinished()

    async def _wait_commissions(self, trades: list[Trade]) -> None:
        """Commission reports follow executions; wait for them so the record is whole."""

        def complete() -> bool:
            return all(f.commissionReport.execId for t in trades for f in t.fills)

        await self._wait_for(trades, "commissionReportEvent", complete, COMMISSION_WAIT_SECONDS)

    async def _wait_for(
        self, trades: list[Trade], event_name: str, done: Callable[[], bool], seconds: float
    ) -> None:
        """Wake on the trades' `event_name` events (and on disconnect) until `done()`."""
        changed = asyncio.Event()

        def wake(*_: object) -> None:
            changed.set()

        for trade in trades:
            getattr(trade, event_name).connect(wake)
        self.ib.disconnectedEvent += wake
        deadline = time.monotonic() + seconds
        try:
            while not done() and self.connected:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except TimeoutError:
                    return
        finally:
            for trade in trades:
                getattr(trade, event_name).disconnect(wake)
            self.ib.disconnectedEvent -= wake


def _positive(value: float | Decimal | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    if math.isnan(number) or number <= 0:
        return None
    return number
