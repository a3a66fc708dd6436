"""Client requests parsed from their fields, for the layouts of server versions 157..178.

Only requests with more than a couple of fields live here; the session reads the small ones
(an id and a flag) inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ib_gateway_sim.messages import V_FA_PROFILE_DESUPPORT, ClientMsg
from ib_gateway_sim.protocol import UNSET_DOUBLE, FieldError, FieldReader


@dataclass(frozen=True)
class ContractSpec:
    """The contract fields a client sends to name an instrument."""

    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str

    def describe(self) -> str:
        name = self.symbol or self.local_symbol or f"conId {self.con_id}"
        return f"{self.sec_type or '?'} {name} {self.exchange} {self.currency}".strip()


def read_contract(reader: FieldReader) -> ContractSpec:
    """conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange,
    primaryExchange, currency, localSymbol, tradingClass."""
    con_id = reader.read_int()
    symbol = reader.read_str()
    sec_type = reader.read_str()
    reader.skip(4)  # lastTradeDateOrContractMonth, strike, right, multiplier
    exchange = reader.read_str()
    primary_exchange = reader.read_str()
    currency = reader.read_str()
    local_symbol = reader.read_str()
    reader.skip()  # tradingClass
    return ContractSpec(
        con_id=con_id,
        symbol=symbol.strip().upper(),
        sec_type=sec_type.strip().upper(),
        exchange=exchange.strip().upper(),
        primary_exchange=primary_exchange.strip().upper(),
        currency=currency.strip().upper(),
        local_symbol=local_symbol.strip().upper(),
    )


@dataclass(frozen=True)
class MarketDataRequest:
    req_id: int
    contract: ContractSpec
    generic_ticks: str
    snapshot: bool


def parse_market_data(fields: Sequence[str]) -> MarketDataRequest:
    reader = FieldReader(fields, 2)  # id, version
    req_id = reader.read_int()
    contract = read_contract(reader)
    if contract.sec_type == "BAG":
        raise FieldError("combo (BAG) contracts are not supported")
    if reader.read_bool():  # delta-neutral contract
        reader.skip(3)
    generic_ticks = reader.read_str()
    snapshot = reader.read_bool()
    return MarketDataRequest(req_id, contract, generic_ticks, snapshot)


@dataclass(frozen=True)
class ContractDetailsRequest:
    req_id: int
    contract: ContractSpec


def parse_contract_details(fields: Sequence[str]) -> ContractDetailsRequest:
    reader = FieldReader(fields, 2)  # id, version
    req_id = reader.read_int()
    return ContractDetailsRequest(req_id, read_contract(reader))


@dataclass(frozen=True)
class HistoricalDataRequest:
    req_id: int
    contract: ContractSpec
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool


def parse_historical_data(fields: Sequence[str]) -> HistoricalDataRequest:
    reader = FieldReader(fields, 1)  # id (no version field since server version 124)
    req_id = reader.read_int()
    contract = read_contract(reader)
    reader.skip()  # includeExpired
    end = reader.read_str()
    bar_size = reader.read_str()
    duration = reader.read_str()
    use_rth = reader.read_bool()
    what_to_show = reader.read_str()
    format_date = reader.read_int(1)
    if contract.sec_type == "BAG":
        raise FieldError("combo (BAG) contracts are not supported")
    keep_up_to_date = reader.read_bool() if reader.remaining else False
    return HistoricalDataRequest(
        req_id,
        contract,
        end,
        bar_size.strip(),
        duration.strip(),
        use_rth,
        what_to_show.strip().upper(),
        format_date,
        keep_up_to_date,
    )


@dataclass(frozen=True)
class ExecutionFilter:
    req_id: int
    client_id: int
    account: str
    time: str
    symbol: str
    sec_type: str
    exchange: str
    side: str


def parse_executions(fields: Sequence[str]) -> ExecutionFilter:
    reader = FieldReader(fields, 2)  # id, version
    return ExecutionFilter(
        req_id=reader.read_int(),
        client_id=reader.read_int(),
        account=reader.read_str(),
        time=reader.read_str(),
        symbol=reader.read_str().upper(),
        sec_type=reader.read_str().upper(),
        exchange=reader.read_str().upper(),
        side=reader.read_str().upper(),
    )


@dataclass(frozen=True)
class PlaceOrderRequest:
    order_id: int
    contract: ContractSpec
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    tif: str
    account: str
    order_ref: str
    transmit: bool
    outside_rth: bool
    what_if: bool


def parse_place_order(fields: Sequence[str], server_version: int) -> PlaceOrderRequest:
    """placeOrder, read up to and including `whatIf`; what follows does not matter here."""
    reader = FieldReader(fields, 1)  # id (no version field since server version 145)
    order_id = reader.read_int()
    contract = read_contract(reader)
    reader.skip(2)  # secIdType, secId
    action = reader.read_str().strip().upper()
    quantity = reader.read_float()
    order_type = reader.read_str().strip().upper()
    limit = reader.read_float(UNSET_DOUBLE)
    reader.skip()  # auxPrice
    tif = reader.read_str().strip().upper()
    reader.skip()  # ocaGroup
    account = reader.read_str().strip()
    reader.skip(2)  # openClose, origin
    order_ref = reader.read_str()
    transmit = reader.read_bool()
    reader.skip(5)  # parentId, blockOrder, sweepToFill, displaySize, triggerMethod
    outside_rth = reader.read_bool()
    reader.skip()  # hidden
    if contract.sec_type == "BAG":
        raise FieldError("combo (BAG) orders are not supported")
    # sharesAllocation, discretionaryAmt, goodAfterTime, goodTillDate, faGroup, faMethod,
    # faPercentage, [faProfile], modelCode
    reader.skip(7 if server_version >= V_FA_PROFILE_DESUPPORT else 8)
    reader.skip()  # modelCode
    # shortSaleSlot .. volatilityType: 21 fields
    reader.skip(21)
    delta_neutral_order_type = reader.read_str()
    reader.skip()  # deltaNeutralAuxPrice
    if delta_neutral_order_type:
        reader.skip(8)
    # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent,
    # scaleInitLevelSize, scaleSubsLevelSize
    reader.skip(6)
    scale_price_increment = reader.read_float()
    if 0 < scale_price_increment < UNSET_DOUBLE:
        reader.skip(7)
    reader.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if reader.read_str():  # hedgeType
        reader.skip()  # hedgeParam
    reader.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if reader.read_bool():  # delta-neutral contract
        reader.skip(3)
    if reader.read_str():  # algoStrategy
        reader.skip(2 * reader.read_int())
    reader.skip()  # algoId
    what_if = reader.read_bool()
    return PlaceOrderRequest(
        order_id=order_id,
        contract=contract,
        action=action,
        quantity=quantity,
        order_type=order_type,
        limit_price=None if limit >= UNSET_DOUBLE else limit,
        tif=tif,
        account=account,
        order_ref=order_ref,
        transmit=transmit,
        outside_rth=outside_rth,
        what_if=what_if,
    )


# Where each request carries its request (or order) id; an error about it is sent to that id.
REQUEST_ID_INDEX: dict[ClientMsg, int] = {
    ClientMsg.REQ_MKT_DATA: 2,
    ClientMsg.CANCEL_MKT_DATA: 2,
    ClientMsg.PLACE_ORDER: 1,
    ClientMsg.CANCEL_ORDER: 2,
    ClientMsg.REQ_EXECUTIONS: 2,
    ClientMsg.REQ_CONTRACT_DATA: 2,
    ClientMsg.REQ_MKT_DEPTH: 2,
    ClientMsg.REPLACE_FA: 4,
    ClientMsg.REQ_HISTORICAL_DATA: 1,
    ClientMsg.EXERCISE_OPTIONS: 2,
    ClientMsg.REQ_SCANNER_SUBSCRIPTION: 1,
    ClientMsg.REQ_REAL_TIME_BARS: 2,
    ClientMsg.REQ_FUNDAMENTAL_DATA: 2,
    ClientMsg.REQ_CALC_IMPLIED_VOLAT: 2,
    ClientMsg.REQ_CALC_OPTION_PRICE: 2,
    ClientMsg.REQ_ACCOUNT_SUMMARY: 2,
    ClientMsg.QUERY_DISPLAY_GROUPS: 2,
    ClientMsg.SUBSCRIBE_TO_GROUP_EVENTS: 2,
    ClientMsg.UPDATE_DISPLAY_GROUP: 2,
    ClientMsg.REQ_POSITIONS_MULTI: 2,
    ClientMsg.REQ_ACCOUNT_UPDATES_MULTI: 2,
    ClientMsg.REQ_SEC_DEF_OPT_PARAMS: 1,
    ClientMsg.REQ_SOFT_DOLLAR_TIERS: 1,
    ClientMsg.REQ_MATCHING_SYMBOLS: 1,
    ClientMsg.REQ_SMART_COMPONENTS: 1,
    ClientMsg.REQ_NEWS_ARTICLE: 1,
    ClientMsg.REQ_HISTORICAL_NEWS: 1,
    ClientMsg.REQ_HEAD_TIMESTAMP: 1,
    ClientMsg.REQ_HISTOGRAM_DATA: 1,
    ClientMsg.REQ_PNL: 1,
    ClientMsg.REQ_PNL_SINGLE: 1,
    ClientMsg.REQ_HISTORICAL_TICKS: 1,
    ClientMsg.REQ_TICK_BY_TICK_DATA: 1,
    ClientMsg.REQ_WSH_META_DATA: 1,
    ClientMsg.REQ_WSH_EVENT_DATA: 1,
    ClientMsg.REQ_USER_INFO: 1,
}

# Requests the simulator does not serve. They get IB's error 322 (to their request id when
# they have one) so that a client waiting for an answer fails fast instead of timing out.
UNSUPPORTED_REQUESTS = frozenset(
    {
        ClientMsg.REQ_MKT_DEPTH,
        ClientMsg.REQ_FA,
        ClientMsg.REPLACE_FA,
        ClientMsg.EXERCISE_OPTIONS,
        ClientMsg.REQ_SCANNER_SUBSCRIPTION,
        ClientMsg.REQ_SCANNER_PARAMETERS,
        ClientMsg.REQ_REAL_TIME_BARS,
        ClientMsg.REQ_FUNDAMENTAL_DATA,
        ClientMsg.REQ_CALC_IMPLIED_VOLAT,
        ClientMsg.REQ_CALC_OPTION_PRICE,
        ClientMsg.VERIFY_REQUEST,
        ClientMsg.VERIFY_MESSAGE,
        ClientMsg.QUERY_DISPLAY_GROUPS,
        ClientMsg.SUBSCRIBE_TO_GROUP_EVENTS,
        ClientMsg.UPDATE_DISPLAY_GROUP,
        ClientMsg.VERIFY_AND_AUTH_REQUEST,
        ClientMsg.VERIFY_AND_AUTH_MESSAGE,
        ClientMsg.REQ_SEC_DEF_OPT_PARAMS,
        ClientMsg.REQ_SMART_COMPONENTS,
        ClientMsg.REQ_NEWS_ARTICLE,
        ClientMsg.REQ_HISTORICAL_NEWS,
        ClientMsg.REQ_HEAD_TIMESTAMP,
        ClientMsg.REQ_HISTOGRAM_DATA,
        ClientMsg.REQ_PNL,
        ClientMsg.REQ_PNL_SINGLE,
        ClientMsg.REQ_HISTORICAL_TICKS,
        ClientMsg.REQ_TICK_BY_TICK_DATA,
        ClientMsg.REQ_WSH_META_DATA,
        ClientMsg.REQ_WSH_EVENT_DATA,
    }
)

# Cancellations and settings with nothing to answer: IB answers these with silence too.
SILENT_REQUESTS = frozenset(
    {
        ClientMsg.CANCEL_MKT_DEPTH,
        ClientMsg.REQ_NEWS_BULLETINS,  # a subscription; the simulator has no bulletins
        ClientMsg.CANCEL_NEWS_BULLETINS,
        ClientMsg.SET_SERVER_LOGLEVEL,
        ClientMsg.CANCEL_SCANNER_SUBSCRIPTION,
        ClientMsg.CANCEL_HISTORICAL_DATA,
        ClientMsg.CANCEL_REAL_TIME_BARS,
        ClientMsg.CANCEL_FUNDAMENTAL_DATA,
        ClientMsg.CANCEL_CALC_IMPLIED_VOLAT,
        ClientMsg.CANCEL_CALC_OPTION_PRICE,
        ClientMsg.UNSUBSCRIBE_FROM_GROUP_EVENTS,
        ClientMsg.CANCEL_HISTOGRAM_DATA,
        ClientMsg.CANCEL_HEAD_TIMESTAMP,
        ClientMsg.CANCEL_PNL,
        ClientMsg.CANCEL_PNL_SINGLE,
        ClientMsg.CANCEL_TICK_BY_TICK_DATA,
        ClientMsg.CANCEL_WSH_META_DATA,
        ClientMsg.CANCEL_WSH_EVENT_DATA,
    }
)


def request_id_of(message: ClientMsg, fields: Sequence[str]) -> int:
    """The request (or order) id a request carries, or -1 when it has none."""
    position = REQUEST_ID_INDEX.get(message)
    if position is None or position >= len(fields):
        return -1
    try:
        return int(fields[position])
    except ValueError:
        return -1
