"""Server messages as field lists, in the layout of the negotiated server version.

Each function returns the fields of one message; `protocol.encode_message` frames them.
The layouts follow what the `ibapi` and `ib_async` decoders read at each version; the version
field that IB still sends in many messages (and that clients skip) is kept, because a message
without it is silently mis-parsed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from ib_gateway_sim.calendar import IB_TIME_ZONE_ID, NEW_YORK
from ib_gateway_sim.engine import Execution, Order, OrderStatus, Valuation
from ib_gateway_sim.instruments import CURRENCY, MIN_TICK, ROUTING_EXCHANGES, Instrument
from ib_gateway_sim.messages import (
    V_ADVANCED_ORDER_REJECT,
    V_AUTO_CANCEL_PARENT,
    V_BOND_ISSUERID,
    V_DURATION,
    V_FA_PROFILE_DESUPPORT,
    V_FRACTIONAL_SIZE_SUPPORT,
    V_PEGBEST_PEGMID_OFFSETS,
    V_PENDING_PRICE_REVISION,
    V_POST_TO_ATS,
    V_SIZE_RULES,
    ErrorCode,
    ServerMsg,
    TickType,
)
from ib_gateway_sim.protocol import UNSET_DOUBLE, Field

ORDER_TYPES = "ALLOC,DAY,GTC,LMT,MKT,RTH,WHATIF"
VALID_EXCHANGES = ",".join(ROUTING_EXCHANGES)
MARKET_RULE_ID = 26  # IB's rule for US stocks: $0.01 increments


def ib_datetime(moment: datetime) -> str:
    """`YYYYMMDD HH:MM:SS US/Eastern`, the form both clients parse with its time zone."""
    return f"{moment.astimezone(NEW_YORK):%Y%m%d %H:%M:%S} {IB_TIME_ZONE_ID}"


def connection_time(moment: datetime) -> str:
    """The server time in the handshake reply, e.g. `20240703 15:30:00 EDT`."""
    return moment.astimezone(NEW_YORK).strftime("%Y%m%d %H:%M:%S %Z")


def _contract(instrument: Instrument, exchange: str) -> list[Field]:
    """conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange, currency,
    localSymbol, tradingClass: the contract block of openOrder, execDetails and positions."""
    symbol = instrument.symbol
    return [instrument.con_id, symbol, "STK", "", 0, "", "", exchange, CURRENCY, symbol, symbol]


# ---- connection ----------------------------------------------------------------------------


def managed_accounts(accounts: Iterable[str]) -> list[Field]:
    return [ServerMsg.MANAGED_ACCTS, 1, ",".join(accounts)]


def next_valid_id(order_id: int) -> list[Field]:
    return [ServerMsg.NEXT_VALID_ID, 1, order_id]


def error(req_id: int, code: ErrorCode, text: str, version: int) -> list[Field]:
    fields: list[Field] = [ServerMsg.ERR_MSG, 2, req_id, int(code), text]
    if version >= V_ADVANCED_ORDER_REJECT:
        fields.append("")  # advancedOrderRejectJson
    return fields


def current_time(moment: datetime) -> list[Field]:
    return [ServerMsg.CURRENT_TIME, 1, int(moment.timestamp())]


# ---- market data ---------------------------------------------------------------------------


def market_data_type(req_id: int, data_type: int) -> list[Field]:
    return [ServerMsg.MARKET_DATA_TYPE, 1, req_id, data_type]


def tick_price(req_id: int, tick: TickType, price: float, size: int, mask: int) -> list[Field]:
    return [ServerMsg.TICK_PRICE, 6, req_id, int(tick), price, size, mask]


def tick_size(req_id: int, tick: TickType, size: int) -> list[Field]:
    return [ServerMsg.TICK_SIZE, 6, req_id, int(tick), size]


def tick_snapshot_end(req_id: int) -> list[Field]:
    return [ServerMsg.TICK_SNAPSHOT_END, 1, req_id]


def contract_details(
    req_id: int,
    instrument: Instrument,
    exchange: str,
    trading_hours: str,
    liquid_hours: str,
    version: int,
) -> list[Field]:
    symbol = instrument.symbol
    fields: list[Field] = [ServerMsg.CONTRACT_DATA]
    if version < V_SIZE_RULES:
        fields.append(8)
    fields += [req_id, symbol, "STK", "", 0, "", exchange, CURRENCY, symbol, symbol, symbol]
    fields += [instrument.con_id, MIN_TICK]
    if version < V_SIZE_RULES:
        fields.append(1)  # mdSizeMultiplier
    is_fund = instrument.stock_type == "ETF"
    fields += [
        "",  # multiplier
        ORDER_TYPES,
        VALID_EXCHANGES,
        1,  # priceMagnifier
        0,  # underConId
        instrument.long_name,
        instrument.primary_exchange,
        "",  # contractMonth
        "Funds" if is_fund else "",  # industry
        "Equity Fund" if is_fund else "",  # category
        "",  # subcategory
        IB_TIME_ZONE_ID,
        trading_hours,
        liquid_hours,
        "",  # evRule
        "",  # evMultiplier
        0,  # secIdList count
        1,  # aggGroup
        "",  # underSymbol
        "",  # underSecType
        ",".join(str(MARKET_RULE_ID) for _ in ROUTING_EXCHANGES),
        "",  # realExpirationDate
        instrument.stock_type,
    ]
    if version == V_FRACTIONAL_SIZE_SUPPORT:
        fields.append("0.0001")  # sizeMinTick
    if version >= V_SIZE_RULES:
        fields += ["0.0001", "0.0001", "100"]  # minSize, sizeIncrement, suggestedSizeIncrement
    return fields


def contract_details_end(req_id: int) -> list[Field]:
    return [ServerMsg.CONTRACT_DATA_END, 1, req_id]


def historical_data(
    req_id: int, start: str, end: str, bars: Sequence[tuple[date, float]]
) -> list[Field]:
    """Daily bars, each flat at its price: date, open, high, low, close, volume, WAP, count."""
    fields: list[Field] = [ServerMsg.HISTORICAL_DATA, req_id, start, end, len(bars)]
    for day, price in bars:
        fields += [day.strftime("%Y%m%d"), price, price, price, price, 0, price, 0]
    return fields


def market_rule(rule_id: int) -> list[Field]:
    return [ServerMsg.MARKET_RULE, rule_id, 1, 0, MIN_TICK]


def symbol_samples(req_id: int, instruments: Sequence[Instrument], version: int) -> list[Field]:
    fields: list[Field] = [ServerMsg.SYMBOL_SAMPLES, req_id, len(instruments)]
    for instrument in instruments:
        fields += [instrument.con_id, instrument.symbol, "STK", instrument.primary_exchange]
        fields += [CURRENCY, 0]  # no derivative sec types
        if version >= V_BOND_ISSUERID:
            fields += [instrument.long_name, ""]  # description, issuerId
    return fields


# ---- orders --------------------------------------------------------------------------------


def _price(value: float | None) -> Field:
    return "" if value is None else value


def open_order(
    order: Order,
    version: int,
    what_if: Sequence[str] | None = None,
    commission: float | None = None,
) -> list[Field]:
    """openOrder. `what_if` (9 margin strings) marks a what-if answer: nothing is placed."""
    status = "PreSubmitted" if what_if is not None else order.status.value
    fields: list[Field] = [ServerMsg.OPEN_ORDER, order.order_id]
    fields += _contract(order.instrument, "SMART")
    fields += [
        order.action,
        order.quantity,
        order.order_type,
        _price(order.limit_price),
        "",  # auxPrice
        order.tif,
        "",  # ocaGroup
        order.account_id,
        "",  # openClose
        0,  # origin: customer
        order.order_ref,
        order.client_id,
        order.perm_id,
        order.outside_rth,
        False,  # hidden
        0,  # discretionaryAmt
        "",  # goodAfterTime
        "",  # sharesAllocation (deprecated)
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
    ]
    if version < V_FA_PROFILE_DESUPPORT:
        fields.append("")  # faProfile
    fields += [
        "",  # modelCode
        "",  # goodTillDate
        "",  # rule80A
        "",  # percentOffset
        "",  # settlingFirm
        0,  # shortSaleSlot
        "",  # designatedLocation
        -1,  # exemptCode
        0,  # auctionStrategy
        "",  # startingPrice
        "",  # stockRefPrice
        "",  # delta
        "",  # stockRangeLower
        "",  # stockRangeUpper
        "",  # displaySize
        False,  # blockOrder
        False,  # sweepToFill
        False,  # allOrNone
        "",  # minQty
        0,  # ocaType
        False,  # eTradeOnly
        False,  # firmQuoteOnly
        "",  # nbboPriceCap
        0,  # parentId
        0,  # triggerMethod
        "",  # volatility
        0,  # volatilityType
        "",  # deltaNeutralOrderType
        "",  # deltaNeutralAuxPrice
        False,  # continuousUpdate
        0,  # referencePriceType
        "",  # trailStopPrice
        "",  # trailingPercent
        "",  # basisPoints
        "",  # basisPointsType
        "",  # comboLegsDescrip
        0,  # comboLegs count
        0,  # orderComboLegs count
        0,  # smartComboRoutingParams count
        "",  # scaleInitLevelSize
        "",  # scaleSubsLevelSize
        "",  # scalePriceIncrement
        "",  # hedgeType
        False,  # optOutSmartRouting
        "",  # clearingAccount
        "",  # clearingIntent
        False,  # notHeld
        False,  # deltaNeutralContract present
        "",  # algoStrategy
        False,  # solicited
        what_if is not None,  # whatIf
        status,
    ]
    margins: Sequence[str] = what_if if what_if is not None else [""] * 9
    fields += list(margins)
    fields += [
        "" if commission is None else commission,  # commission
        "",  # minCommission
        "",  # maxCommission
        CURRENCY if commission is not None else "",  # commissionCurrency
        "",  # warningText
        False,  # randomizeSize
        False,  # randomizePrice
        0,  # conditions count
        "",  # adjustedOrderType
        "",  # triggerPrice
        "",  # trailStopPrice
        "",  # lmtPriceOffset
        "",  # adjustedStopPrice
        "",  # adjustedStopLimitPrice
        "",  # adjustedTrailingAmount
        0,  # adjustableTrailingUnit
        "",  # softDollarTier name
        "",  # softDollarTier value
        "",  # softDollarTier displayName
        "",  # cashQty
        False,  # dontUseAutoPriceForHedge
        False,  # isOmsContainer
        False,  # discretionaryUpToLimitPrice
        False,  # usePriceMgmtAlgo
    ]
    if version >= V_DURATION:
        fields.append("")  # duration
    if version >= V_POST_TO_ATS:
        fields.append("")  # postToAts
    if version >= V_AUTO_CANCEL_PARENT:
        fields.append(False)  # autoCancelParent
    if version >= V_PEGBEST_PEGMID_OFFSETS:
        fields += ["", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf
    return fields


def open_order_end() -> list[Field]:
    return [ServerMsg.OPEN_ORDER_END, 1]


def order_status(order: Order, status: str | None = None) -> list[Field]:
    return [
        ServerMsg.ORDER_STATUS,
        order.order_id,
        status or order.status.value,
        order.filled,
        order.remaining,
        order.avg_fill_price,
        order.perm_id,
        0,  # parentId
        order.last_fill_price,
        order.client_id,
        "",  # whyHeld
        0,  # mktCapPrice
    ]


def completed_order(order: Order, version: int) -> list[Field]:
    fields: list[Field] = [ServerMsg.COMPLETED_ORDER]
    fields += _contract(order.instrument, "SMART")
    fields += [
        order.action,
        order.quantity,
        order.order_type,
        _price(order.limit_price),
        "",  # auxPrice
        order.tif,
        "",  # ocaGroup
        order.account_id,
        "",  # openClose
        0,  # origin
        order.order_ref,
        order.perm_id,
        order.outside_rth,
        False,  # hidden
        0,  # discretionaryAmt
        "",  # goodAfterTime
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
    ]
    if version < V_FA_PROFILE_DESUPPORT:
        fields.append("")  # faProfile
    status = "Filled" if order.status == OrderStatus.FILLED else "Cancelled"
    fields += [
        "",  # modelCode
        "",  # goodTillDate
        "",  # rule80A
        "",  # percentOffset
        "",  # settlingFirm
        0,  # shortSaleSlot
        "",  # designatedLocation
        -1,  # exemptCode
        "",  # startingPrice
        "",  # stockRefPrice
        "",  # delta
        "",  # stockRangeLower
        "",  # stockRangeUpper
        "",  # displaySize
        False,  # sweepToFill
        False,  # allOrNone
        "",  # minQty
        0,  # ocaType
        0,  # triggerMethod
        "",  # volatility
        0,  # volatilityType
        "",  # deltaNeutralOrderType
        "",  # deltaNeutralAuxPrice
        False,  # continuousUpdate
        0,  # referencePriceType
        "",  # trailStopPrice
        "",  # trailingPercent
        "",  # comboLegsDescrip
        0,  # comboLegs count
        0,  # orderComboLegs count
        0,  # smartComboRoutingParams count
        "",  # scaleInitLevelSize
        "",  # scaleSubsLevelSize
        "",  # scalePriceIncrement
        "",  # hedgeType
        "",  # clearingAccount
        "",  # clearingIntent
        False,  # notHeld
        False,  # deltaNeutralContract present
        "",  # algoStrategy
        False,  # solicited
        status,
        False,  # randomizeSize
        False,  # randomizePrice
        0,  # conditions count
        "",  # trailStopPrice
        "",  # lmtPriceOffset
        "",  # cashQty
        False,  # dontUseAutoPriceForHedge
        False,  # isOmsContainer
        "",  # autoCancelDate
        order.filled,
        0,  # refFuturesConId
        False,  # autoCancelParent
        "",  # shareholder
        False,  # imbalanceOnly
        False,  # routeMarketableToBbo
        0,  # parentPermId
        ib_datetime(order.completed_at or order.placed_at),
        status if not order.reason else f"{status}: {order.reason}",
    ]
    if version >= V_PEGBEST_PEGMID_OFFSETS:
        fields += ["", "", "", "", ""]
    return fields


def completed_orders_end() -> list[Field]:
    return [ServerMsg.COMPLETED_ORDERS_END]


def exec_details(req_id: int, execution: Execution, version: int) -> list[Field]:
    order = execution.order
    exchange = order.instrument.primary_exchange
    fields: list[Field] = [ServerMsg.EXECUTION_DATA, req_id, order.order_id]
    fields += _contract(order.instrument, exchange)
    fields += [
        execution.exec_id,
        ib_datetime(execution.time),
        order.account_id,
        exchange,
        execution.side,
        execution.shares,
        execution.price,
        order.perm_id,
        order.client_id,
        0,  # liquidation
        execution.cum_qty,
        execution.avg_price,
        order.order_ref,
        "",  # evRule
        "",  # evMultiplier
        "",  # modelCode
        2,  # lastLiquidity: removed liquidity
    ]
    if version >= V_PENDING_PRICE_REVISION:
        fields.append(False)
    return fields


def exec_details_end(req_id: int) -> list[Field]:
    return [ServerMsg.EXECUTION_DATA_END, 1, req_id]


def commission_report(execution: Execution) -> list[Field]:
    # IB reports no realized P&L on an opening trade as its "unset" double.
    realized = execution.realized_pnl if execution.side == "SLD" else UNSET_DOUBLE
    return [
        ServerMsg.COMMISSION_REPORT,
        1,
        execution.exec_id,
        execution.commission,
        CURRENCY,
        realized,
        "",  # yield
        "",  # yieldRedemptionDate
    ]


# ---- accounts and positions ----------------------------------------------------------------


def position(
    account_id: str, instrument: Instrument, quantity: int, avg_cost: float
) -> list[Field]:
    fields: list[Field] = [ServerMsg.POSITION_DATA, 3, account_id]
    fields += _contract(instrument, instrument.primary_exchange)
    return [*fields, quantity, avg_cost]


def position_end() -> list[Field]:
    return [ServerMsg.POSITION_END, 1]


def position_multi(
    req_id: int,
    account_id: str,
    model_code: str,
    instrument: Instrument,
    quantity: int,
    avg_cost: float,
) -> list[Field]:
    fields: list[Field] = [ServerMsg.POSITION_MULTI, 1, req_id, account_id]
    fields += _contract(instrument, instrument.primary_exchange)
    return [*fields, quantity, avg_cost, model_code]


def position_multi_end(req_id: int) -> list[Field]:
    return [ServerMsg.POSITION_MULTI_END, 1, req_id]


def account_value(key: str, value: str, currency: str, account_id: str) -> list[Field]:
    return [ServerMsg.ACCT_VALUE, 2, key, value, currency, account_id]


def portfolio_value(
    account_id: str,
    instrument: Instrument,
    quantity: int,
    market_price: float,
    avg_cost: float,
) -> list[Field]:
    """updatePortfolio. Realized P&L is reported per account (RealizedPnL), not per position."""
    symbol = instrument.symbol
    market_value = quantity * market_price
    unrealized = market_value - quantity * avg_cost
    return [
        ServerMsg.PORTFOLIO_VALUE,
        8,
        instrument.con_id,
        symbol,
        "STK",
        "",  # lastTradeDate
        0,  # strike
        "",  # right
        "",  # multiplier
        instrument.primary_exchange,
        CURRENCY,
        symbol,
        symbol,
        quantity,
        market_price,
        round(market_value, 2),
        avg_cost,
        round(unrealized, 2),
        0,  # realizedPNL
        account_id,
    ]


def account_update_time(moment: datetime) -> list[Field]:
    return [ServerMsg.ACCT_UPDATE_TIME, 1, moment.astimezone(NEW_YORK).strftime("%H:%M")]


def account_download_end(account_id: str) -> list[Field]:
    return [ServerMsg.ACCT_DOWNLOAD_END, 1, account_id]


def account_summary(
    req_id: int, account_id: str, tag: str, value: str, currency: str
) -> list[Field]:
    return [ServerMsg.ACCOUNT_SUMMARY, 1, req_id, account_id, tag, value, currency]


def account_summary_end(req_id: int) -> list[Field]:
    return [ServerMsg.ACCOUNT_SUMMARY_END, 1, req_id]


def account_update_multi(
    req_id: int, account_id: str, model_code: str, key: str, value: str, currency: str
) -> list[Field]:
    return [ServerMsg.ACCOUNT_UPDATE_MULTI, 1, req_id, account_id, model_code, key, value, currency]


def account_update_multi_end(req_id: int) -> list[Field]:
    return [ServerMsg.ACCOUNT_UPDATE_MULTI_END, 1, req_id]


def _money(value: float) -> str:
    return f"{value:.2f}"


def account_values(account_id: str, valuation: Valuation) -> list[tuple[str, str, str]]:
    """(key, value, currency) as reqAccountUpdates reports them for a cash account."""
    cash = _money(valuation.cash)
    net = _money(valuation.net_liquidation)
    stock = _money(valuation.stock_value)
    realized = _money(valuation.realized_pnl)
    unrealized = _money(valuation.unrealized_pnl)
    values = [
        ("AccountCode", account_id, ""),
        ("AccountType", "INDIVIDUAL", ""),
        ("AccountReady", "true", ""),
        ("Currency", CURRENCY, CURRENCY),
        ("NetLiquidation", net, CURRENCY),
        ("TotalCashValue", cash, CURRENCY),
        ("SettledCash", cash, CURRENCY),
        ("AccruedCash", "0.00", CURRENCY),
        ("AvailableFunds", cash, CURRENCY),
        ("BuyingPower", cash, CURRENCY),
        ("ExcessLiquidity", cash, CURRENCY),
        ("EquityWithLoanValue", net, CURRENCY),
        ("GrossPositionValue", stock, CURRENCY),
        ("InitMarginReq", "0.00", CURRENCY),
        ("MaintMarginReq", "0.00", CURRENCY),
        ("FullAvailableFunds", cash, CURRENCY),
        ("FullExcessLiquidity", cash, CURRENCY),
        ("FullInitMarginReq", "0.00", CURRENCY),
        ("FullMaintMarginReq", "0.00", CURRENCY),
        ("Cushion", "1", ""),
        ("DayTradesRemaining", "-1", ""),
        ("Leverage-S", "0.00", ""),
    ]
    for currency in ("BASE", CURRENCY):
        values += [
            ("CashBalance", cash, currency),
            ("TotalCashBalance", cash, currency),
            ("NetLiquidationByCurrency", net, currency),
            ("StockMarketValue", stock, currency),
            ("RealizedPnL", realized, currency),
            ("UnrealizedPnL", unrealized, currency),
        ]
    return values


# Tags reqAccountSummary can ask for, and the account-values key (and currency) behind each.
SUMMARY_TAGS: dict[str, tuple[str, str]] = {
    "AccountType": ("AccountType", ""),
    "NetLiquidation": ("NetLiquidation", CURRENCY),
    "TotalCashValue": ("TotalCashValue", CURRENCY),
    "SettledCash": ("SettledCash", CURRENCY),
    "AccruedCash": ("AccruedCash", CURRENCY),
    "BuyingPower": ("BuyingPower", CURRENCY),
    "EquityWithLoanValue": ("EquityWithLoanValue", CURRENCY),
    "PreviousDayEquityWithLoanValue": ("EquityWithLoanValue", CURRENCY),
    "GrossPositionValue": ("GrossPositionValue", CURRENCY),
    "RegTEquity": ("NetLiquidation", CURRENCY),
    "RegTMargin": ("InitMarginReq", CURRENCY),
    "SMA": ("AvailableFunds", CURRENCY),
    "InitMarginReq": ("InitMarginReq", CURRENCY),
    "MaintMarginReq": ("MaintMarginReq", CURRENCY),
    "AvailableFunds": ("AvailableFunds", CURRENCY),
    "ExcessLiquidity": ("ExcessLiquidity", CURRENCY),
    "Cushion": ("Cushion", ""),
    "FullInitMarginReq": ("FullInitMarginReq", CURRENCY),
    "FullMaintMarginReq": ("FullMaintMarginReq", CURRENCY),
    "FullAvailableFunds": ("FullAvailableFunds", CURRENCY),
    "FullExcessLiquidity": ("FullExcessLiquidity", CURRENCY),
    "LookAheadInitMarginReq": ("InitMarginReq", CURRENCY),
    "LookAheadMaintMarginReq": ("MaintMarginReq", CURRENCY),
    "LookAheadAvailableFunds": ("AvailableFunds", CURRENCY),
    "LookAheadExcessLiquidity": ("ExcessLiquidity", CURRENCY),
    "DayTradesRemaining": ("DayTradesRemaining", ""),
    "Leverage": ("Leverage-S", ""),
}
LEDGER_KEYS = (
    "CashBalance",
    "TotalCashBalance",
    "NetLiquidationByCurrency",
    "StockMarketValue",
    "RealizedPnL",
    "UnrealizedPnL",
)


def summary_rows(
    tags: Sequence[str], values: Sequence[tuple[str, str, str]]
) -> list[tuple[str, str, str]]:
    """(tag, value, currency) rows answering reqAccountSummary's tag list."""
    by_key = {(key, currency): value for key, value, currency in values}
    rows: list[tuple[str, str, str]] = []
    for tag in tags:
        if tag in SUMMARY_TAGS:
            key, currency = SUMMARY_TAGS[tag]
            rows.append((tag, by_key[(key, currency)], currency))
        elif tag.startswith("$LEDGER"):
            wanted = tag.partition(":")[2] or CURRENCY
            currencies = ("BASE", CURRENCY) if wanted == "ALL" else (wanted,)
            for currency in currencies:
                for key in LEDGER_KEYS:
                    if (key, currency) in by_key:
                        rows.append((key, by_key[(key, currency)], currency))
    return rows


def family_codes() -> list[Field]:
    return [ServerMsg.FAMILY_CODES, 0]


def user_info(req_id: int) -> list[Field]:
    return [ServerMsg.USER_INFO, req_id, ""]


def soft_dollar_tiers(req_id: int) -> list[Field]:
    return [ServerMsg.SOFT_DOLLAR_TIERS, req_id, 0]


def mkt_depth_exchanges() -> list[Field]:
    return [ServerMsg.MKT_DEPTH_EXCHANGES, 0]


def news_providers() -> list[Field]:
    return [ServerMsg.NEWS_PROVIDERS, 0]
