"""The wire format, checked against both client implementations at every server version:
each message the simulator sends is decoded by ib_async's and by ibapi's decoder (ibapi must
consume every field), and each placeOrder both clients encode is read back by the simulator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from ib_async import LimitOrder, MarketOrder, Stock, TagValue
from ib_async.client import Client
from ib_async.decoder import Decoder as AsyncDecoder
from ib_gateway_sim import replies
from ib_gateway_sim.engine import (
    Engine,
    Execution,
    Order,
    OrderRequest,
    OrderStatus,
    Valuation,
)
from ib_gateway_sim.faults import Faults
from ib_gateway_sim.instruments import Quote, make_instrument
from ib_gateway_sim.messages import ErrorCode, TickType
from ib_gateway_sim.protocol import (
    UNSET_DOUBLE,
    ClientVersions,
    FieldReader,
    FrameDecoder,
    ProtocolError,
    encode_message,
    negotiate_version,
    parse_client_versions,
)
from ib_gateway_sim.protocol import Field as WireField
from ib_gateway_sim.requests import PlaceOrderRequest, parse_place_order
from ibapi import comm
from ibapi.client import EClient
from ibapi.contract import Contract as ApiContract
from ibapi.decoder import Decoder as ApiDecoder
from ibapi.order import Order as ApiOrder
from ibapi.tag_value import TagValue as ApiTagValue

VERSIONS = [157, 158, 160, 162, 163, 164, 166, 169, 170, 176, 177, 178]
WHEN = datetime(2024, 7, 9, 19, 30, 5, tzinfo=UTC)  # 15:30:05 in New York
SPY = make_instrument("SPY")
HOURS = "20240709:0930-20240709:1600;20240710:0930-20240710:1600"
EXTENDED = "20240709:0400-20240709:2000;20240710:0400-20240710:2000"


class Recorder:
    """A client wrapper that records every callback."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.ib = SimpleNamespace(TimezoneTWS=None)  # read by ib_async's execDetails
        self.defaultTimezone = UTC

    def __getattr__(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]


def ib_async_reads(message: Sequence[WireField], version: int) -> Recorder:
    payload = encode_message(message)[4:].decode()
    fields = payload.split("\0")
    fields.pop()
    recorder = Recorder()
    decoder = AsyncDecoder(recorder, version)  # type: ignore[arg-type]
    decoder.handlers[int(fields[0])](fields)
    return recorder


def ibapi_reads(message: Sequence[WireField], version: int) -> Recorder:
    _, text, _ = comm.read_msg(encode_message(message))
    msg_id = int(text[: text.index(b"\0")])
    fields = comm.read_fields(text[text.index(b"\0") + 1 :])
    recorder = Recorder()
    decoder = ApiDecoder(recorder, version)
    handler = decoder.msgId2handleInfo[msg_id]
    if handler.wrapperMeth is not None:
        decoder.interpretWithSignature(fields, handler)
    else:
        remaining = iter(fields)
        handler.processMeth(decoder, remaining)
        left = list(remaining)
        assert left == [], f"ibapi left {len(left)} fields unread: {left}"
    return recorder


def filled_order() -> Order:
    order = Order(
        perm_id=1_000_123,
        client_id=7,
        order_id=42,
        account_id="DU1111111",
        instrument=SPY,
        action="BUY",
        quantity=10,
        order_type="LMT",
        limit_price=541.0,
        tif="GTC",
        outside_rth=True,
        order_ref="rebalance-1",
        placed_at=WHEN,
    )
    order.status = OrderStatus.FILLED
    order.filled = 10
    order.avg_fill_price = 540.12
    order.last_fill_price = 540.12
    order.commission = 1.0
    order.completed_at = WHEN
    return order


def execution() -> Execution:
    return Execution(
        exec_id="00000001.000f4a1b.01.01",
        order=filled_order(),
        shares=10,
        price=540.12,
        time=WHEN,
        cum_qty=10,
        avg_price=540.12,
        commission=1.0,
        realized_pnl=0.0,
    )


# ---- framing and handshake -------------------------------------------------------------------


def test_messages_are_length_prefixed_nul_terminated_fields() -> None:
    data = encode_message([9, 1, 42, True, None, 540.12, 100.0])
    payload = b"9\x001\x0042\x001\x00\x00540.12\x00100\x00"
    assert data == len(payload).to_bytes(4, "big") + payload
    decoder = FrameDecoder()
    assert decoder.feed(data[:7]) == []
    assert decoder.feed(data[7:] + data) == [["9", "1", "42", "1", "", "540.12", "100"]] * 2


def test_handshake_versions_are_read_and_the_highest_common_one_chosen() -> None:
    assert parse_client_versions("v157..178") == ClientVersions(157, 178, "")
    assert parse_client_versions("v100..226 +PACEAPI") == ClientVersions(100, 226, "+PACEAPI")
    assert negotiate_version(parse_client_versions("v100..226"), 157, 178) == 178
    assert negotiate_version(parse_client_versions("v157..170"), 157, 178) == 170
    assert negotiate_version(parse_client_versions("v100..150"), 157, 178) is None
    with pytest.raises(ProtocolError):
        parse_client_versions("hello")


def test_field_reader_takes_ibs_empty_and_decimal_forms() -> None:
    reader = FieldReader(["", "10.0", "Infinite", "1", "x"])
    assert reader.read_int(-1) == -1
    assert reader.read_int() == 10
    assert reader.read_float() == float("inf")
    assert reader.read_bool() is True
    assert reader.read_str() == "x"


# ---- what the simulator sends, as both clients read it ---------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_contract_details_layout_matches_both_clients(version: int) -> None:
    message = replies.contract_details(7, SPY, "SMART", EXTENDED, HOURS, version)
    [(req_id, details)] = ib_async_reads(message, version).named("contractDetails")
    [(api_req_id, api_details)] = ibapi_reads(message, version).named("contractDetails")
    for got_id, got in ((req_id, details), (api_req_id, api_details)):
        assert got_id == 7
        assert got.contract.conId == SPY.con_id
        assert (got.contract.symbol, got.contract.primaryExchange) == ("SPY", "ARCA")
        assert got.contract.exchange == "SMART"
        assert (got.timeZoneId, got.liquidHours, got.tradingHours) == (
            "US/Eastern",
            HOURS,
            EXTENDED,
        )
        assert got.minTick == 0.01
        assert got.longName == "SPDR S&P 500 ETF TRUST"
        assert got.stockType == "ETF"


@pytest.mark.parametrize("version", VERSIONS)
def test_open_order_layout_matches_both_clients(version: int) -> None:
    message = replies.open_order(filled_order(), version)
    [(order_id, contract, order, state)] = ib_async_reads(message, version).named("openOrder")
    [api] = ibapi_reads(message, version).named("openOrder")
    assert api[0] == order_id == 42
    for got_contract, got_order, got_state in ((contract, order, state), api[1:]):
        assert (got_contract.conId, got_contract.symbol) == (SPY.con_id, "SPY")
        assert (got_order.action, got_order.totalQuantity, got_order.orderType) == (
            "BUY",
            10,
            "LMT",
        )
        assert (got_order.lmtPrice, got_order.tif, got_order.outsideRth) == (541.0, "GTC", True)
        assert (got_order.account, got_order.orderRef) == ("DU1111111", "rebalance-1")
        assert (got_order.clientId, got_order.permId) == (7, 1_000_123)
        assert got_order.whatIf is False
        assert got_state.status == "Filled"


@pytest.mark.parametrize("version", VERSIONS)
def test_what_if_answer_carries_margin_and_commission(version: int) -> None:
    margins = ["0", "0", "10000.00", "0", "0", "-1.00", "0", "0", "9999.00"]
    message = replies.open_order(filled_order(), version, what_if=margins, commission=1.0)
    [(_, _, order, state)] = ib_async_reads(message, version).named("openOrder")
    assert order.whatIf is True
    assert (state.initMarginChange, state.equityWithLoanAfter, state.commission) == (
        "0",
        "9999.00",
        1.0,
    )
    [api] = ibapi_reads(message, version).named("openOrder")
    assert api[3].commissionAndFees == 1.0


@pytest.mark.parametrize("version", VERSIONS)
def test_completed_order_layout_matches_both_clients(version: int) -> None:
    message = replies.completed_order(filled_order(), version)
    [(contract, order, state)] = ib_async_reads(message, version).named("completedOrder")
    [(_, api_order, api_state)] = ibapi_reads(message, version).named("completedOrder")
    assert contract.symbol == "SPY"
    assert (order.permId, order.filledQuantity, state.status) == (1_000_123, 10, "Filled")
    assert (api_order.permId, api_order.filledQuantity, api_state.status) == (
        1_000_123,
        Decimal(10),
        "Filled",
    )
    assert state.completedTime == api_state.completedTime == "20240709 15:30:05 US/Eastern"


@pytest.mark.parametrize("version", VERSIONS)
def test_execution_and_commission_report_match_both_clients(version: int) -> None:
    message = replies.exec_details(-1, execution(), version)
    [(req_id, contract, fill)] = ib_async_reads(message, version).named("execDetails")
    assert (req_id, contract.symbol, fill.orderId, fill.permId) == (-1, "SPY", 42, 1_000_123)
    assert (fill.side, fill.shares, fill.price, fill.clientId) == ("BOT", 10, 540.12, 7)
    assert fill.time == WHEN
    [(_, _, api_fill)] = ibapi_reads(message, version).named("execDetails")
    assert (api_fill.execId, api_fill.acctNumber) == ("00000001.000f4a1b.01.01", "DU1111111")

    report = replies.commission_report(execution())
    [(commission,)] = ib_async_reads(report, version).named("commissionReport")
    assert (commission.execId, commission.commission, commission.currency) == (
        "00000001.000f4a1b.01.01",
        1.0,
        "USD",
    )
    [(api_commission,)] = ibapi_reads(report, version).named("commissionAndFeesReport")
    assert api_commission.commissionAndFees == 1.0


@pytest.mark.parametrize("version", VERSIONS)
def test_error_message_carries_code_and_text_at_every_version(version: int) -> None:
    message = replies.error(42, ErrorCode.ORDER_REJECTED, "Order rejected - reason:cash", version)
    [(req_id, code, text, _)] = ib_async_reads(message, version).named("error")
    [(api_req_id, _, api_code, api_text, _)] = ibapi_reads(message, version).named("error")
    assert (
        (req_id, code, text)
        == (api_req_id, api_code, api_text)
        == (42, 201, "Order rejected - reason:cash")
    )


def test_prices_come_with_sizes_as_ib_sends_them() -> None:
    price = replies.tick_price(3, TickType.BID, 540.10, 500, 1)
    [(req_id, tick, value, size)] = ib_async_reads(price, 178).named("priceSizeTick")
    assert (req_id, tick, value, size) == (3, 1, 540.10, 500)
    api = ibapi_reads(price, 178)
    assert [args[:3] for args in api.named("tickPrice")] == [(3, 1, 540.10)]
    assert api.named("tickSize") == [(3, 0, Decimal(500))]
    size = replies.tick_size(3, TickType.ASK_SIZE, 400)
    assert ib_async_reads(size, 178).named("tickSize") == [(3, 3, 400.0)]


def valuation() -> Valuation:
    return Valuation(cash=1_000.0, stock_value=5_401.10, realized_pnl=0.0, unrealized_pnl=-1.0)


SIMPLE_MESSAGES: list[tuple[str, list[WireField], str, str]] = [
    ("next valid id", replies.next_valid_id(17), "nextValidId", "nextValidId"),
    (
        "managed accounts",
        replies.managed_accounts(["DU1", "DU2"]),
        "managedAccounts",
        "managedAccounts",
    ),
    ("current time", replies.current_time(WHEN), "currentTime", "currentTime"),
    ("market data type", replies.market_data_type(3, 1), "marketDataType", "marketDataType"),
    ("snapshot end", replies.tick_snapshot_end(3), "tickSnapshotEnd", "tickSnapshotEnd"),
    ("details end", replies.contract_details_end(3), "contractDetailsEnd", "contractDetailsEnd"),
    ("order status", replies.order_status(filled_order()), "orderStatus", "orderStatus"),
    ("open order end", replies.open_order_end(), "openOrderEnd", "openOrderEnd"),
    ("completed end", replies.completed_orders_end(), "completedOrdersEnd", "completedOrdersEnd"),
    ("executions end", replies.exec_details_end(3), "execDetailsEnd", "execDetailsEnd"),
    ("position", replies.position("DU1", SPY, 10, 540.2), "position", "position"),
    ("position end", replies.position_end(), "positionEnd", "positionEnd"),
    (
        "position multi",
        replies.position_multi(4, "DU1", "", SPY, 10, 540.2),
        "positionMulti",
        "positionMulti",
    ),
    ("position multi end", replies.position_multi_end(4), "positionMultiEnd", "positionMultiEnd"),
    (
        "account value",
        replies.account_value("NetLiquidation", "6401.10", "USD", "DU1"),
        "updateAccountValue",
        "updateAccountValue",
    ),
    (
        "portfolio",
        replies.portfolio_value("DU1", SPY, 10, 540.11, 540.2),
        "updatePortfolio",
        "updatePortfolio",
    ),
    ("account time", replies.account_update_time(WHEN), "updateAccountTime", "updateAccountTime"),
    (
        "download end",
        replies.account_download_end("DU1"),
        "accountDownloadEnd",
        "accountDownloadEnd",
    ),
    (
        "summary",
        replies.account_summary(5, "DU1", "NetLiquidation", "6401.10", "USD"),
        "accountSummary",
        "accountSummary",
    ),
    ("summary end", replies.account_summary_end(5), "accountSummaryEnd", "accountSummaryEnd"),
    (
        "account multi",
        replies.account_update_multi(6, "DU1", "", "TotalCashValue", "1000.00", "USD"),
        "accountUpdateMulti",
        "accountUpdateMulti",
    ),
    (
        "account multi end",
        replies.account_update_multi_end(6),
        "accountUpdateMultiEnd",
        "accountUpdateMultiEnd",
    ),
    ("market rule", replies.market_rule(26), "marketRule", "marketRule"),
    ("family codes", replies.family_codes(), "familyCodes", "familyCodes"),
    ("user info", replies.user_info(8), "userInfo", "userInfo"),
    ("soft dollar tiers", replies.soft_dollar_tiers(8), "softDollarTiers", "softDollarTiers"),
    ("depth exchanges", replies.mkt_depth_exchanges(), "mktDepthExchanges", "mktDepthExchanges"),
    ("news providers", replies.news_providers(), "newsProviders", "newsProviders"),
]


@pytest.mark.parametrize("version", [157, 166, 176, 178])
@pytest.mark.parametrize(
    ("message", "async_callback", "api_callback"),
    [pytest.param(m, a, b, id=name) for name, m, a, b in SIMPLE_MESSAGES],
)
def test_every_reply_is_read_by_both_clients(
    message: list[WireField], async_callback: str, api_callback: str, version: int
) -> None:
    assert len(ib_async_reads(message, version).named(async_callback)) == 1
    assert len(ibapi_reads(message, version).named(api_callback)) == 1


@pytest.mark.parametrize("version", [157, 176, 178])
def test_historical_bars_and_symbol_samples_are_read_by_both_clients(version: int) -> None:
    bars = replies.historical_data(
        9,
        "20240708 00:00:00",
        "20240709 15:30:05",
        [(date(2024, 7, 8), 539.0), (date(2024, 7, 9), 540.11)],
    )
    async_side = ib_async_reads(bars, version)
    assert [bar.close for _, bar in async_side.named("historicalData")] == [539.0, 540.11]
    assert len(async_side.named("historicalDataEnd")) == 1
    api_side = ibapi_reads(bars, version)
    assert [bar.date for _, bar in api_side.named("historicalData")] == ["20240708", "20240709"]

    samples = replies.symbol_samples(4, [SPY, make_instrument("SPYG")], version)
    [(_, found)] = ib_async_reads(samples, version).named("symbolSamples")
    assert [d.contract.symbol for d in found] == ["SPY", "SPYG"]
    [(_, api_found)] = ibapi_reads(samples, version).named("symbolSamples")
    assert [d.contract.conId for d in api_found] == [SPY.con_id, make_instrument("SPYG").con_id]


def test_account_values_report_cash_and_net_liquidation_in_usd() -> None:
    values = {(k, c): v for k, v, c in replies.account_values("DU1", valuation())}
    assert values[("NetLiquidation", "USD")] == "6401.10"
    assert values[("TotalCashValue", "USD")] == "1000.00"
    assert values[("CashBalance", "BASE")] == "1000.00"
    rows = replies.summary_rows(
        ["NetLiquidation", "BuyingPower", "$LEDGER"],
        list(replies.account_values("DU1", valuation())),
    )
    assert ("NetLiquidation", "6401.10", "USD") in rows
    assert ("BuyingPower", "1000.00", "USD") in rows
    assert ("CashBalance", "1000.00", "USD") in rows


# ---- what the clients send, as the simulator reads it ----------------------------------------


class CapturingConnection:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def isConnected(self) -> bool:
        return True

    def sendMsg(self, data: bytes) -> None:
        self.sent.append(data)


def frames(data: list[bytes]) -> list[list[str]]:
    decoder = FrameDecoder()
    return [fields for chunk in data for fields in decoder.feed(chunk)]


async def ib_async_place(version: int, order_id: int, order: Any) -> PlaceOrderRequest:
    new_client: Any = Client  # ib_async's client is not annotated
    client = new_client(Recorder())
    connection = CapturingConnection()
    client._serverVersion = version
    client.connState = Client.CONNECTED
    client.conn = connection
    client.placeOrder(order_id, Stock("SPY", "SMART", "USD"), order)
    [fields] = frames(connection.sent)
    return parse_place_order(fields, version)


def ibapi_place(version: int, order_id: int, order: ApiOrder) -> PlaceOrderRequest:
    client = EClient(Recorder())
    connection = CapturingConnection()
    client.conn = connection
    client.connState = EClient.CONNECTED
    client.serverVersion_ = version
    contract = ApiContract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        "SPY",
        "STK",
        "SMART",
        "USD",
    )
    client.placeOrder(order_id, contract, order)
    [fields] = frames(connection.sent)
    return parse_place_order(fields, version)


def api_order(action: str, quantity: int, order_type: str, limit: float | None = None) -> ApiOrder:
    order = ApiOrder()
    order.action, order.totalQuantity, order.orderType = action, Decimal(quantity), order_type
    if limit is not None:
        order.lmtPrice = limit
    return order


@pytest.mark.parametrize("version", VERSIONS)
async def test_place_order_of_ib_async_is_read_at_every_version(version: int) -> None:
    market = await ib_async_place(version, 5, MarketOrder("BUY", 10, account="DU1111111"))
    assert (market.order_id, market.contract.symbol, market.action, market.quantity) == (
        5,
        "SPY",
        "BUY",
        10,
    )
    assert (market.order_type, market.limit_price, market.account) == ("MKT", None, "DU1111111")
    assert market.what_if is False

    adaptive = LimitOrder(
        "SELL", 3, 92.5, tif="GTC", outsideRth=True, algoStrategy="Adaptive", whatIf=True
    )
    adaptive.algoParams = [TagValue("adaptivePriority", "Normal")]
    limit = await ib_async_place(version, 6, adaptive)
    assert (limit.action, limit.quantity, limit.order_type, limit.limit_price) == (
        "SELL",
        3,
        "LMT",
        92.5,
    )
    assert (limit.tif, limit.outside_rth, limit.what_if) == ("GTC", True, True)


@pytest.mark.parametrize("version", VERSIONS)
def test_place_order_of_ibapi_is_read_at_every_version(version: int) -> None:
    market = ibapi_place(version, 5, api_order("BUY", 10, "MKT"))
    assert (market.order_id, market.action, market.quantity, market.order_type) == (
        5,
        "BUY",
        10,
        "MKT",
    )
    assert market.limit_price is None and market.what_if is False

    limit = api_order("SELL", 3, "LMT", 92.5)
    limit.algoStrategy = "Adaptive"
    limit.algoParams = [ApiTagValue("adaptivePriority", "Urgent")]
    limit.whatIf = True
    read = ibapi_place(version, 6, limit)
    assert (read.action, read.quantity, read.limit_price, read.what_if) == ("SELL", 3, 92.5, True)


def test_engine_orders_survive_a_round_trip_through_both_clients() -> None:
    """An order the engine fills, sent as openOrder, reads back the same in both clients."""
    engine = Engine(Faults())
    engine.set_quotes({"SPY": Quote(540.10, 540.12, 540.11)}, WHEN)
    engine.put_account("DU1111111", 10_000.0, {})
    engine.place(OrderRequest(7, 42, "DU1111111", SPY, "BUY", 10.0, "MKT", None), WHEN)
    [order] = engine.orders
    message = replies.open_order(order, 178)
    [(_, _, got, state)] = ib_async_reads(message, 178).named("openOrder")
    assert (got.totalQuantity, got.orderType, state.status) == (10, "MKT", "Filled")
    assert got.lmtPrice == UNSET_DOUBLE  # a market order has no limit price
    [(_, _, api_got, _)] = ibapi_reads(message, 178).named("openOrder")
    assert api_got.lmtPrice == UNSET_DOUBLE
