"""One client connection: handshake, rate limit, request dispatch, subscriptions.

The session answers requests from the engine's state and turns engine events into the
messages IB would push to this client (its own orders' status, executions and commissions;
positions, account values and quotes it subscribed to).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ib_gateway_sim import calendar, replies
from ib_gateway_sim.account_feeds import AccountFeeds, UnknownAccount
from ib_gateway_sim.engine import (
    AccountChanged,
    Event,
    Execution,
    Order,
    OrderCancelled,
    OrderError,
    OrderFilled,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderSubmitted,
    QuotesChanged,
)
from ib_gateway_sim.instruments import Quote
from ib_gateway_sim.messages import (
    MAX_SERVER_VERSION,
    MIN_SERVER_VERSION,
    ClientMsg,
    ErrorCode,
    MarketDataType,
    TickType,
    error_text,
)
from ib_gateway_sim.protocol import (
    API_PREFIX,
    Field,
    FieldError,
    FieldReader,
    FrameDecoder,
    ProtocolError,
    encode_handshake_reply,
    encode_message,
    negotiate_version,
    parse_client_versions,
)
from ib_gateway_sim.ratelimit import RateLimiter, Verdict
from ib_gateway_sim.requests import (
    SILENT_REQUESTS,
    UNSUPPORTED_REQUESTS,
    ExecutionFilter,
    parse_contract_details,
    parse_executions,
    parse_historical_data,
    parse_market_data,
    parse_place_order,
    request_id_of,
)

if TYPE_CHECKING:
    from ib_gateway_sim.gateway import Gateway

log = logging.getLogger("ib_gateway_sim.session")

HANDSHAKE_TIMEOUT_SECONDS = 10.0
READ_CHUNK_BYTES = 64 * 1024
MAX_HISTORICAL_BARS = 1000
# Trading days in one unit of an IB duration string ("5 D", "2 W", "1 M", "1 Y").
_TRADING_DAYS_PER_UNIT = {"S": 1, "D": 1, "W": 5, "M": 21, "Y": 252}
_DURATION = re.compile(r"^(\d+)\s*([SDWMY])$")
_NO_SIZE = 0

Handler = Callable[[list[str]], None]


class Session:
    def __init__(
        self,
        gateway: Gateway,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        number: int,
    ) -> None:
        self.gateway = gateway
        self.reader = reader
        self.writer = writer
        self.number = number
        self.peer = str(writer.get_extra_info("peername"))
        self.version = 0
        self.client_id: int | None = None
        self.closed = False
        self.limiter = RateLimiter(gateway.rate_limit, gateway.disconnect_factor)
        # Subscriptions this client holds.
        self.market_data: dict[int, str] = {}
        self.market_data_type = MarketDataType.REALTIME
        self.feeds = AccountFeeds(gateway.engine, gateway.clock)
        self.handlers: dict[ClientMsg, Handler] = {
            ClientMsg.START_API: self._start_api,
            ClientMsg.REQ_IDS: self._req_ids,
            ClientMsg.REQ_MANAGED_ACCTS: self._req_managed_accounts,
            ClientMsg.REQ_CURRENT_TIME: self._req_current_time,
            ClientMsg.REQ_MARKET_DATA_TYPE: self._req_market_data_type,
            ClientMsg.REQ_MKT_DATA: self._req_market_data,
            ClientMsg.CANCEL_MKT_DATA: self._cancel_market_data,
            ClientMsg.REQ_CONTRACT_DATA: self._req_contract_details,
            ClientMsg.REQ_HISTORICAL_DATA: self._req_historical_data,
            ClientMsg.PLACE_ORDER: self._place_order,
            ClientMsg.CANCEL_ORDER: self._cancel_order,
            ClientMsg.REQ_GLOBAL_CANCEL: self._global_cancel,
            ClientMsg.REQ_OPEN_ORDERS: self._req_open_orders,
            ClientMsg.REQ_ALL_OPEN_ORDERS: self._req_all_open_orders,
            ClientMsg.REQ_AUTO_OPEN_ORDERS: self._ignore,
            ClientMsg.REQ_COMPLETED_ORDERS: self._req_completed_orders,
            ClientMsg.REQ_EXECUTIONS: self._req_executions,
            ClientMsg.REQ_POSITIONS: self._req_positions,
            ClientMsg.CANCEL_POSITIONS: self._cancel_positions,
            ClientMsg.REQ_POSITIONS_MULTI: self._req_positions_multi,
            ClientMsg.CANCEL_POSITIONS_MULTI: self._cancel_positions_multi,
            ClientMsg.REQ_ACCT_DATA: self._req_account_updates,
            ClientMsg.REQ_ACCOUNT_UPDATES_MULTI: self._req_account_updates_multi,
            ClientMsg.CANCEL_ACCOUNT_UPDATES_MULTI: self._cancel_account_updates_multi,
            ClientMsg.REQ_ACCOUNT_SUMMARY: self._req_account_summary,
            ClientMsg.CANCEL_ACCOUNT_SUMMARY: self._cancel_account_summary,
            ClientMsg.REQ_MATCHING_SYMBOLS: self._req_matching_symbols,
            ClientMsg.REQ_MARKET_RULE: self._req_market_rule,
            ClientMsg.REQ_FAMILY_CODES: self._req_family_codes,
            ClientMsg.REQ_USER_INFO: self._req_user_info,
            ClientMsg.REQ_SOFT_DOLLAR_TIERS: self._req_soft_dollar_tiers,
            ClientMsg.REQ_MKT_DEPTH_EXCHANGES: self._req_mkt_depth_exchanges,
            ClientMsg.REQ_NEWS_PROVIDERS: self._req_news_providers,
        }

    # ---- connection --------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the connection until the client leaves, misbehaves or is dropped."""
        try:
            decoder = await self._handshake()
            if decoder is None:
                return
            while self.is_open():
                data = await self.reader.read(READ_CHUNK_BYTES)
                if not data:
                    break
                # Every message of one read arrived together: the rate limit counts them at the
                # time they were read, not after the time spent answering the ones before.
                received_at = time.monotonic()
                for fields in decoder.feed(data):
                    self._on_message(fields, received_at)
                if self.is_open():
                    await self.writer.drain()
        except ProtocolError as exc:
            log.warning(
                "client.protocol_error session=%s peer=%s reason=%s", self.number, self.peer, exc
            )
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self.close()
            log.info("client.disconnected session=%s client_id=%s", self.number, self.client_id)

    async def _handshake(self) -> FrameDecoder | None:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_SECONDS):
            prefix = await self.reader.readexactly(len(API_PREFIX))
            if prefix != API_PREFIX:
                raise ProtocolError(f"handshake: expected 'API\\0', got {prefix!r}")
            decoder = FrameDecoder()
            messages: list[list[str]] = []
            while not messages:
                chunk = await self.reader.read(READ_CHUNK_BYTES)
                if not chunk:
                    return None
                messages = decoder.feed(chunk)
        text = messages[0][0] if messages[0] else ""
        client = parse_client_versions(text)
        version = negotiate_version(client, MIN_SERVER_VERSION, MAX_SERVER_VERSION)
        if version is None:
            log.warning(
                "client.version_mismatch session=%s client_range=%s..%s server_range=%s..%s",
                self.number,
                client.min_version,
                client.max_version,
                MIN_SERVER_VERSION,
                MAX_SERVER_VERSION,
            )
            return None
        self.version = version
        now = self.gateway.clock.now()
        self.writer.write(encode_handshake_reply(version, replies.connection_time(now)))
        log.info("client.connected session=%s peer=%s version=%s", self.number, self.peer, version)
        # Whatever followed the handshake in the same read (startApi, usually) is kept.
        received_at = time.monotonic()
        for extra in messages[1:]:
            self._on_message(extra, received_at)
        return decoder

    def is_open(self) -> bool:
        return not self.closed

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.gateway.unregister(self)
        with contextlib.suppress(RuntimeError):  # the event loop is already closing
            self.writer.close()

    def send(self, fields: Sequence[Field]) -> None:
        if not self.closed:
            self.writer.write(encode_message(fields))

    def send_error(self, req_id: int, code: ErrorCode, **values: object) -> None:
        self.send(replies.error(req_id, code, error_text(code, **values), self.version))

    # ---- dispatch ----------------------------------------------------------------------------

    def _on_message(self, fields: list[str], received_at: float) -> None:
        if self.closed:
            return
        verdict = self.limiter.record(received_at)
        self.gateway.note_message(self.limiter.in_window)
        if not fields:
            return
        try:
            message = ClientMsg(int(fields[0]))
        except ValueError:
            self.send_error(-1, ErrorCode.UNKNOWN_MESSAGE_ID)
            return
        if verdict is Verdict.DISCONNECT:
            log.warning(
                "client.rate_limit_disconnect session=%s client_id=%s in_window=%s limit=%s",
                self.number,
                self.client_id,
                self.limiter.in_window,
                self.limiter.limit,
            )
            self.close()
            return
        if verdict is Verdict.REFUSE:
            self.gateway.stats.messages_refused += 1
            self.send_error(
                request_id_of(message, fields),
                ErrorCode.MAX_RATE_EXCEEDED,
                limit=self.limiter.limit,
                received=self.limiter.in_window,
            )
            return
        if self.client_id is None and message is not ClientMsg.START_API:
            self.send_error(
                -1, ErrorCode.PROCESSING_ERROR, request=message.name, reason="startApi first"
            )
            return
        handler = self.handlers.get(message)
        try:
            if handler is not None:
                handler(fields)
            elif message in SILENT_REQUESTS:
                pass
            elif message in UNSUPPORTED_REQUESTS:
                self.send_error(
                    request_id_of(message, fields),
                    ErrorCode.PROCESSING_ERROR,
                    request=message.name,
                    reason="not supported by the IB Gateway simulator",
                )
            else:
                self.send_error(-1, ErrorCode.UNKNOWN_MESSAGE_ID)
        except FieldError as exc:
            self.send_error(
                request_id_of(message, fields),
                ErrorCode.READ_ERROR,
                request=message.name,
                reason=str(exc),
            )
        except Exception as exc:  # a simulator bug must not kill the connection silently
            log.exception("client.request_failed session=%s request=%s", self.number, message.name)
            self.send_error(
                request_id_of(message, fields),
                ErrorCode.PROCESSING_ERROR,
                request=message.name,
                reason=f"simulator error: {exc}",
            )

    def _ignore(self, fields: list[str]) -> None:
        pass

    # ---- session start -----------------------------------------------------------------------

    def _start_api(self, fields: list[str]) -> None:
        reader = FieldReader(fields, 2)
        client_id = reader.read_int()
        if self.gateway.client_id_in_use(client_id, self):
            log.warning("client.id_in_use session=%s client_id=%s", self.number, client_id)
            self.send_error(-1, ErrorCode.CLIENT_ID_IN_USE)
            self.close()
            return
        self.client_id = client_id
        accounts = self.gateway.engine.account_ids()
        if not accounts:
            log.warning(
                "client.no_accounts session=%s: seed one with PUT /accounts/{id}", self.number
            )
        self.send(replies.next_valid_id(self.gateway.engine.next_valid_id(client_id)))
        self.send(replies.managed_accounts(accounts))
        for code in (
            ErrorCode.MARKET_DATA_FARM_OK,
            ErrorCode.HMDS_FARM_OK,
            ErrorCode.SEC_DEF_FARM_OK,
        ):
            self.send_error(-1, code)
        log.info("client.api_started session=%s client_id=%s", self.number, client_id)

    def _req_ids(self, fields: list[str]) -> None:
        assert self.client_id is not None
        self.send(replies.next_valid_id(self.gateway.engine.next_valid_id(self.client_id)))

    def _req_managed_accounts(self, fields: list[str]) -> None:
        self.send(replies.managed_accounts(self.gateway.engine.account_ids()))

    def _req_current_time(self, fields: list[str]) -> None:
        self.send(replies.current_time(self.gateway.clock.now()))

    # ---- market data -------------------------------------------------------------------------

    def _req_market_data_type(self, fields: list[str]) -> None:
        requested = FieldReader(fields, 2).read_int()
        try:
            self.market_data_type = MarketDataType(requested)
        except ValueError:
            raise FieldError(f"market data type {requested} is not 1..4") from None
        self.send(replies.market_data_type(-1, self.market_data_type))

    def _req_market_data(self, fields: list[str]) -> None:
        request = parse_market_data(fields)
        instrument = self.gateway.resolve(request.contract)
        if instrument is None:
            self.send_error(request.req_id, ErrorCode.NO_SECURITY_DEFINITION)
            return
        # The simulator always has live data, and IB sends live data to a client that asked
        # for delayed data when the live data is there.
        self.send(replies.market_data_type(request.req_id, MarketDataType.REALTIME))
        self._send_quote(request.req_id, self.gateway.engine.quotes[instrument.symbol])
        if request.snapshot:
            self.send(replies.tick_snapshot_end(request.req_id))
        else:
            self.market_data[request.req_id] = instrument.symbol

    def _cancel_market_data(self, fields: list[str]) -> None:
        self.market_data.pop(FieldReader(fields, 2).read_int(), None)

    def _send_quote(self, req_id: int, quote: Quote) -> None:
        """Bid, ask and last as IB sends them: each price tick carries its size and is
        followed by a size tick; a side without a price is -1 with size 0."""
        sides = (
            (TickType.BID, TickType.BID_SIZE, quote.bid, quote.bid_size),
            (TickType.ASK, TickType.ASK_SIZE, quote.ask, quote.ask_size),
        )
        for price_tick, size_tick, price, size in sides:
            if price:
                self.send(replies.tick_price(req_id, price_tick, price, size, 1))
                self.send(replies.tick_size(req_id, size_tick, size))
            else:
                self.send(replies.tick_price(req_id, price_tick, -1, _NO_SIZE, 0))
                self.send(replies.tick_size(req_id, size_tick, _NO_SIZE))
        if quote.last:
            self.send(replies.tick_price(req_id, TickType.LAST, quote.last, quote.last_size, 0))
            self.send(replies.tick_size(req_id, TickType.LAST_SIZE, quote.last_size))
        close = quote.last or quote.mid
        if close:
            self.send(replies.tick_price(req_id, TickType.CLOSE, close, _NO_SIZE, 0))

    def _req_contract_details(self, fields: list[str]) -> None:
        request = parse_contract_details(fields)
        instrument = self.gateway.resolve(request.contract)
        if instrument is None:
            self.send_error(request.req_id, ErrorCode.NO_SECURITY_DEFINITION)
            return
        now = self.gateway.clock.now()
        exchange = request.contract.exchange or "SMART"
        self.send(
            replies.contract_details(
                request.req_id,
                instrument,
                exchange,
                calendar.trading_hours(now),
                calendar.liquid_hours(now),
                self.version,
            )
        )
        self.send(replies.contract_details_end(request.req_id))

    def _req_historical_data(self, fields: list[str]) -> None:
        request = parse_historical_data(fields)
        instrument = self.gateway.resolve(request.contract)
        if instrument is None:
            self.send_error(request.req_id, ErrorCode.NO_SECURITY_DEFINITION)
            return
        if request.bar_size.lower() not in ("1 day", "1 d", "1day"):
            self.send_error(
                request.req_id,
                ErrorCode.HISTORICAL_DATA_ERROR,
                reason=f"bar size {request.bar_size!r}: the simulator serves '1 day' bars only",
            )
            return
        quote = self.gateway.engine.quotes[instrument.symbol]
        price = {"BID": quote.bid, "ASK": quote.ask, "MIDPOINT": quote.mid}.get(
            request.what_to_show, quote.last or quote.mid
        )
        count = _trading_days(request.duration)
        if not price or count is None:
            reason = (
                f"HMDS query returned no data: no price for {instrument.symbol}"
                if not price
                else f"duration {request.duration!r} is not '<n> S|D|W|M|Y'"
            )
            self.send_error(request.req_id, ErrorCode.HISTORICAL_DATA_ERROR, reason=reason)
            return
        end = _parse_end(request.end) or self.gateway.clock.now()
        days = calendar.last_trading_days(end, count)
        start_text = f"{days[0]:%Y%m%d} 00:00:00"
        end_text = f"{end.astimezone(calendar.NEW_YORK):%Y%m%d %H:%M:%S}"
        bars = [(day, price) for day in days]
        self.send(replies.historical_data(request.req_id, start_text, end_text, bars))

    def _req_matching_symbols(self, fields: list[str]) -> None:
        reader = FieldReader(fields, 1)
        req_id = reader.read_int()
        pattern = reader.read_str().strip().upper()
        found = [
            instrument
            for symbol, instrument in sorted(self.gateway.engine.instruments.items())
            if pattern and symbol.startswith(pattern)
        ][:16]
        self.send(replies.symbol_samples(req_id, found, self.version))

    def _req_market_rule(self, fields: list[str]) -> None:
        self.send(replies.market_rule(FieldReader(fields, 1).read_int()))

    def _req_family_codes(self, fields: list[str]) -> None:
        self.send(replies.family_codes())

    def _req_user_info(self, fields: list[str]) -> None:
        self.send(replies.user_info(FieldReader(fields, 1).read_int()))

    def _req_soft_dollar_tiers(self, fields: list[str]) -> None:
        self.send(replies.soft_dollar_tiers(FieldReader(fields, 1).read_int()))

    def _req_mkt_depth_exchanges(self, fields: list[str]) -> None:
        self.send(replies.mkt_depth_exchanges())

    def _req_news_providers(self, fields: list[str]) -> None:
        self.send(replies.news_providers())

    # ---- orders ------------------------------------------------------------------------------

    def _place_order(self, fields: list[str]) -> None:
        assert self.client_id is not None
        request = parse_place_order(fields, self.version)
        instrument = self.gateway.resolve(request.contract)
        if instrument is None:
            self.send_error(request.order_id, ErrorCode.NO_SECURITY_DEFINITION)
            return
        order_request = OrderRequest(
            client_id=self.client_id,
            order_id=request.order_id,
            account=request.account,
            instrument=instrument,
            action=request.action,
            quantity=request.quantity,
            order_type=request.order_type,
            limit_price=request.limit_price,
            tif=request.tif,
            outside_rth=request.outside_rth,
            order_ref=request.order_ref,
        )
        if request.what_if:
            self._answer_what_if(order_request)
            return
        self.gateway.place(order_request)

    def _answer_what_if(self, request: OrderRequest) -> None:
        """A what-if order: margin and commission as if placed; nothing is placed."""
        preview = self.gateway.engine.preview(request, self.gateway.clock.now())
        if isinstance(preview, str):
            self.send_error(request.order_id, ErrorCode.ORDER_REJECTED, reason=preview)
            return
        equity, commission = preview.equity_before, preview.commission
        margins = ["0", "0", f"{equity:.2f}", "0", "0", f"{-commission:.2f}", "0", "0"]
        margins.append(f"{equity - commission:.2f}")
        message = replies.open_order(
            preview.order, self.version, what_if=margins, commission=commission
        )
        self.send(message)

    def _cancel_order(self, fields: list[str]) -> None:
        assert self.client_id is not None
        self.gateway.cancel(self.client_id, FieldReader(fields, 2).read_int())

    def _global_cancel(self, fields: list[str]) -> None:
        self.gateway.global_cancel()

    def _send_open_orders(self, orders: Iterable[Order]) -> None:
        for order in orders:
            self.send(replies.open_order(order, self.version))
            self.send(replies.order_status(order))
        self.send(replies.open_order_end())

    def _req_open_orders(self, fields: list[str]) -> None:
        orders = self.gateway.engine.working_orders()
        self._send_open_orders(o for o in orders if o.client_id == self.client_id)

    def _req_all_open_orders(self, fields: list[str]) -> None:
        self._send_open_orders(self.gateway.engine.working_orders())

    def _req_completed_orders(self, fields: list[str]) -> None:
        for order in self.gateway.engine.orders:
            if order.status in (OrderStatus.FILLED, OrderStatus.CANCELLED):
                self.send(replies.completed_order(order, self.version))
        self.send(replies.completed_orders_end())

    def _req_executions(self, fields: list[str]) -> None:
        wanted = parse_executions(fields)
        since = _parse_end(wanted.time) if wanted.time.strip() else None
        for execution in self.gateway.engine.executions:
            if _matches(execution, wanted, since):
                self.send(replies.exec_details(wanted.req_id, execution, self.version))
                self.send(replies.commission_report(execution))
        self.send(replies.exec_details_end(wanted.req_id))

    # ---- accounts and positions --------------------------------------------------------------

    def _send_all(self, messages: Iterable[Sequence[Field]]) -> None:
        for fields in messages:
            self.send(fields)

    def _unknown_account(self, req_id: int, request: str, problem: UnknownAccount) -> None:
        self.send_error(req_id, ErrorCode.PROCESSING_ERROR, request=request, reason=str(problem))

    def _req_positions(self, fields: list[str]) -> None:
        self._send_all(self.feeds.req_positions())

    def _cancel_positions(self, fields: list[str]) -> None:
        self.feeds.cancel_positions()

    def _req_positions_multi(self, fields: list[str]) -> None:
        reader = FieldReader(fields, 2)
        req_id, account, model = reader.read_int(), reader.read_str(), reader.read_str()
        try:
            self._send_all(self.feeds.req_positions_multi(req_id, account, model))
        except UnknownAccount as problem:
            self._unknown_account(req_id, "reqPositionsMulti", problem)

    def _cancel_positions_multi(self, fields: list[str]) -> None:
        self.feeds.cancel_positions_multi(FieldReader(fields, 2).read_int())

    def _req_account_updates(self, fields: list[str]) -> None:
        reader = FieldReader(fields, 2)
        subscribe, account = reader.read_bool(), reader.read_str().strip()
        try:
            self._send_all(self.feeds.req_account_updates(subscribe, account))
        except UnknownAccount as problem:
            self._unknown_account(-1, "reqAccountUpdates", problem)
            self.send(replies.account_download_end(account))  # so that the client stops waiting

    def _req_account_updates_multi(self, fields: list[str]) -> None:
        reader = FieldReader(fields, 2)
        req_id, account, model = reader.read_int(), reader.read_str(), reader.read_str()
        ledger_only = reader.read_bool()
        try:
            self._send_all(
                self.feeds.req_account_updates_multi(req_id, account, model, ledger_only)
            )
        except UnknownAccount as problem:
            self._unknown_account(req_id, "reqAccountUpdatesMulti", problem)

    def _cancel_account_updates_multi(self, fields: list[str]) -> None:
        self.feeds.cancel_account_updates_multi(FieldReader(fields, 2).read_int())

    def _req_account_summary(self, fields: list[str]) -> None:
        reader = FieldReader(fields, 2)
        req_id = reader.read_int()
        reader.skip()  # group
        tags = [tag.strip() for tag in reader.read_str().split(",") if tag.strip()]
        self._send_all(self.feeds.req_account_summary(req_id, tags))

    def _cancel_account_summary(self, fields: list[str]) -> None:
        self.feeds.cancel_account_summary(FieldReader(fields, 2).read_int())

    # ---- engine events -----------------------------------------------------------------------

    def on_events(self, events: Iterable[Event]) -> None:
        if self.closed or self.client_id is None:
            return
        for event in events:
            if isinstance(event, AccountChanged):
                self._send_all(self.feeds.changed(event.account_id, event.symbols))
            elif isinstance(event, QuotesChanged):
                for req_id, symbol in self.market_data.items():
                    if symbol in event.symbols:
                        self._send_quote(req_id, self.gateway.engine.quotes[symbol])
            elif isinstance(event, OrderError):
                if event.client_id == self.client_id:
                    self.send_error(event.order_id, event.code, **event.values)
            elif event.order.client_id == self.client_id:
                self._on_order_event(event)

    def _on_order_event(
        self, event: OrderSubmitted | OrderFilled | OrderCancelled | OrderRejected
    ) -> None:
        order = event.order
        if isinstance(event, OrderSubmitted):
            self.send(replies.open_order(order, self.version))
            self.send(replies.order_status(order))
        elif isinstance(event, OrderFilled):
            self._send_fill(order, event.execution)
        elif isinstance(event, OrderCancelled):
            self.send(replies.order_status(order, OrderStatus.CANCELLED.value))
            self.send_error(order.order_id, event.code, reason=event.reason)
        else:
            self.send_error(order.order_id, event.code, reason=event.reason)

    def _send_fill(self, order: Order, execution: Execution) -> None:
        """`order` as it was right after this execution."""
        self.send(replies.exec_details(-1, execution, self.version))
        if order.status == OrderStatus.FILLED:
            self.send(replies.open_order(order, self.version))
        self.send(replies.order_status(order))
        self.send(replies.commission_report(execution))


def _trading_days(duration: str) -> int | None:
    match = _DURATION.match(duration.strip().upper())
    if match is None:
        return None
    count = int(match.group(1)) * _TRADING_DAYS_PER_UNIT[match.group(2)]
    return max(1, min(count, MAX_HISTORICAL_BARS))


def _parse_end(text: str) -> datetime | None:
    """IB's end/since times: `YYYYMMDD HH:MM:SS [zone]`, `YYYYMMDD-HH:MM:SS` (UTC), `YYYYMMDD`."""
    text = text.strip()
    if not text:
        return None
    try:
        if "-" in text and " " not in text:
            return datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        parts = text.split()
        if len(parts) == 1 and len(text) == 8:
            day = datetime.strptime(text, "%Y%m%d")
            return (day + timedelta(hours=23, minutes=59, seconds=59)).replace(
                tzinfo=calendar.NEW_YORK
            )
        moment = datetime.strptime(" ".join(parts[:2]), "%Y%m%d %H:%M:%S")
    except ValueError:
        raise FieldError(f"time {text!r} is not 'YYYYMMDD HH:MM:SS [zone]'") from None
    zone = calendar.zone_named(parts[2]) if len(parts) > 2 else calendar.NEW_YORK
    return moment.replace(tzinfo=zone)


def _matches(execution: Execution, wanted: ExecutionFilter, since: datetime | None) -> bool:
    order = execution.order
    side = {"BUY": "BOT", "SELL": "SLD"}.get(wanted.side, wanted.side)
    return (
        (wanted.client_id <= 0 or order.client_id == wanted.client_id)
        and (not wanted.account or order.account_id == wanted.account)
        and (not wanted.symbol or order.symbol == wanted.symbol)
        and (not wanted.sec_type or wanted.sec_type == "STK")
        and (not side or execution.side == side)
        and (since is None or execution.time >= since)
    )
