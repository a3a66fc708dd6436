"""Message ids, server versions, tick types and error codes of the TWS API socket protocol.

Names follow IB's own (`EClient` requests, `EWrapper` callbacks) so that a reader can look
each one up in IB's documentation or in the `ibapi` / `ib_async` sources.
"""

from __future__ import annotations

from enum import IntEnum

# The server versions this simulator speaks. A client announces its range in the handshake
# (`v157..178` for ib_async 2.x); the simulator answers with the highest version in both.
MIN_SERVER_VERSION = 157
MAX_SERVER_VERSION = 178

# Server versions at which a message layout changes (names as in ibapi/server_versions.py).
V_DURATION = 158
V_MARKET_DATA_IN_SHARES = 159
V_POST_TO_ATS = 160
V_AUTO_CANCEL_PARENT = 162
V_FRACTIONAL_SIZE_SUPPORT = 163
V_SIZE_RULES = 164
V_ADVANCED_ORDER_REJECT = 166
V_MANUAL_ORDER_TIME = 169
V_PEGBEST_PEGMID_OFFSETS = 170
V_BOND_ISSUERID = 176
V_FA_PROFILE_DESUPPORT = 177
V_PENDING_PRICE_REVISION = 178


class ClientMsg(IntEnum):
    """Requests a client sends (IB's `OUT` ids, seen from the client)."""

    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCT_DATA = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DATA = 9
    REQ_MKT_DEPTH = 10
    CANCEL_MKT_DEPTH = 11
    REQ_NEWS_BULLETINS = 12
    CANCEL_NEWS_BULLETINS = 13
    SET_SERVER_LOGLEVEL = 14
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_MANAGED_ACCTS = 17
    REQ_FA = 18
    REPLACE_FA = 19
    REQ_HISTORICAL_DATA = 20
    EXERCISE_OPTIONS = 21
    REQ_SCANNER_SUBSCRIPTION = 22
    CANCEL_SCANNER_SUBSCRIPTION = 23
    REQ_SCANNER_PARAMETERS = 24
    CANCEL_HISTORICAL_DATA = 25
    REQ_CURRENT_TIME = 49
    REQ_REAL_TIME_BARS = 50
    CANCEL_REAL_TIME_BARS = 51
    REQ_FUNDAMENTAL_DATA = 52
    CANCEL_FUNDAMENTAL_DATA = 53
    REQ_CALC_IMPLIED_VOLAT = 54
    REQ_CALC_OPTION_PRICE = 55
    CANCEL_CALC_IMPLIED_VOLAT = 56
    CANCEL_CALC_OPTION_PRICE = 57
    REQ_GLOBAL_CANCEL = 58
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    VERIFY_REQUEST = 65
    VERIFY_MESSAGE = 66
    QUERY_DISPLAY_GROUPS = 67
    SUBSCRIBE_TO_GROUP_EVENTS = 68
    UPDATE_DISPLAY_GROUP = 69
    UNSUBSCRIBE_FROM_GROUP_EVENTS = 70
    START_API = 71
    VERIFY_AND_AUTH_REQUEST = 72
    VERIFY_AND_AUTH_MESSAGE = 73
    REQ_POSITIONS_MULTI = 74
    CANCEL_POSITIONS_MULTI = 75
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_SEC_DEF_OPT_PARAMS = 78
    REQ_SOFT_DOLLAR_TIERS = 79
    REQ_FAMILY_CODES = 80
    REQ_MATCHING_SYMBOLS = 81
    REQ_MKT_DEPTH_EXCHANGES = 82
    REQ_SMART_COMPONENTS = 83
    REQ_NEWS_ARTICLE = 84
    REQ_NEWS_PROVIDERS = 85
    REQ_HISTORICAL_NEWS = 86
    REQ_HEAD_TIMESTAMP = 87
    REQ_HISTOGRAM_DATA = 88
    CANCEL_HISTOGRAM_DATA = 89
    CANCEL_HEAD_TIMESTAMP = 90
    REQ_MARKET_RULE = 91
    REQ_PNL = 92
    CANCEL_PNL = 93
    REQ_PNL_SINGLE = 94
    CANCEL_PNL_SINGLE = 95
    REQ_HISTORICAL_TICKS = 96
    REQ_TICK_BY_TICK_DATA = 97
    CANCEL_TICK_BY_TICK_DATA = 98
    REQ_COMPLETED_ORDERS = 99
    REQ_WSH_META_DATA = 100
    CANCEL_WSH_META_DATA = 101
    REQ_WSH_EVENT_DATA = 102
    CANCEL_WSH_EVENT_DATA = 103
    REQ_USER_INFO = 104


class ServerMsg(IntEnum):
    """Messages the gateway sends (IB's `IN` ids, seen from the client)."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERR_MSG = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCTS = 15
    HISTORICAL_DATA = 17
    CURRENT_TIME = 49
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    TICK_SNAPSHOT_END = 57
    MARKET_DATA_TYPE = 58
    COMMISSION_REPORT = 59
    POSITION_DATA = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    POSITION_MULTI = 71
    POSITION_MULTI_END = 72
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    SOFT_DOLLAR_TIERS = 77
    FAMILY_CODES = 78
    SYMBOL_SAMPLES = 79
    MKT_DEPTH_EXCHANGES = 80
    NEWS_PROVIDERS = 85
    MARKET_RULE = 93
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102
    USER_INFO = 107


class TickType(IntEnum):
    BID_SIZE = 0
    BID = 1
    ASK = 2
    ASK_SIZE = 3
    LAST = 4
    LAST_SIZE = 5
    CLOSE = 9


class MarketDataType(IntEnum):
    REALTIME = 1
    FROZEN = 2
    DELAYED = 3
    DELAYED_FROZEN = 4


class ErrorCode(IntEnum):
    """IB's message codes that the simulator sends, with IB's own wording in `IB_TEXT`."""

    MAX_RATE_EXCEEDED = 100
    DUPLICATE_ORDER_ID = 103
    CANNOT_FIND_ORDER = 135
    HISTORICAL_DATA_ERROR = 162
    NO_SECURITY_DEFINITION = 200
    ORDER_REJECTED = 201
    ORDER_CANCELLED = 202
    READ_ERROR = 320
    PROCESSING_ERROR = 322
    CLIENT_ID_IN_USE = 326
    UNSUPPORTED_ORDER_TYPE = 387
    ORDER_SIZE_ZERO = 434
    FA_ALLOCATION_MISSING = 436
    UNKNOWN_MESSAGE_ID = 505
    CANNOT_CANCEL_FILLED = 10148
    MARKET_DATA_FARM_OK = 2104
    HMDS_FARM_OK = 2106
    SEC_DEF_FARM_OK = 2158


IB_TEXT: dict[ErrorCode, str] = {
    ErrorCode.MAX_RATE_EXCEEDED: (
        "Max rate of messages per second has been exceeded:max={limit} rec={received} (1)"
    ),
    ErrorCode.DUPLICATE_ORDER_ID: "Duplicate order id",
    ErrorCode.CANNOT_FIND_ORDER: "Can't find order with id ={order_id}",
    ErrorCode.HISTORICAL_DATA_ERROR: "Historical Market Data Service error message:{reason}",
    ErrorCode.NO_SECURITY_DEFINITION: "No security definition has been found for the request",
    ErrorCode.ORDER_REJECTED: "Order rejected - reason:{reason}",
    ErrorCode.ORDER_CANCELLED: "Order Canceled - reason:{reason}",
    ErrorCode.READ_ERROR: "Error reading request.-'{request}' : cause - {reason}",
    ErrorCode.PROCESSING_ERROR: "Error processing request.-'{request}' : cause - {reason}",
    ErrorCode.CLIENT_ID_IN_USE: (
        "Unable to connect as the client id is already in use. Retry with a unique client id."
    ),
    ErrorCode.UNSUPPORTED_ORDER_TYPE: "Unsupported order type for this exchange and security type.",
    ErrorCode.ORDER_SIZE_ZERO: "The order size cannot be zero.",
    ErrorCode.FA_ALLOCATION_MISSING: (
        "You must specify an allocation (either a single account, group, or profile)."
    ),
    ErrorCode.UNKNOWN_MESSAGE_ID: "Fatal Error: Unknown message id.",
    ErrorCode.CANNOT_CANCEL_FILLED: (
        "OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {state}."
    ),
    ErrorCode.MARKET_DATA_FARM_OK: "Market data farm connection is OK:usfarm",
    ErrorCode.HMDS_FARM_OK: "HMDS data farm connection is OK:ushmds",
    ErrorCode.SEC_DEF_FARM_OK: "Sec-def data farm connection is OK:secdefnj",
}


def error_text(code: ErrorCode, **values: object) -> str:
    """IB's wording for `code`, with its placeholders filled in."""
    return IB_TEXT[code].format(**values)
