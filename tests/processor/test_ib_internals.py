"""The ib_async internals that `event_processor.ib_async_internals` relies on, checked against the
installed ib_async: an upgrade that changes any of them fails here, naming what changed.
No connection: ib_async's own callbacks play IB's part."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from event_processor import ib_async_internals
from event_processor.ib_async_internals import (
    account_summary_values,
    cancel_account_summary,
    clear_last_emitted,
    forget_trade,
    set_pacing,
    start_account_summary,
)
from ib_async import (
    IB,
    AccountValue,
    Client,
    CommissionReport,
    Execution,
    Order,
    OrderState,
    Stock,
    Trade,
    Wrapper,
)
from ib_async import Event as EventkitEvent  # not `Event`: that is the shared queue model

PROCESSOR = Path(ib_async_internals.__file__).parent
ADAPT = "adapt event_processor/ib_async_internals.py and re-check"
ACCOUNT = "DU4000010"
CLIENT_ID = 4711
ORDER_ID = 12
PERM_ID = 900_012
EXEC_ID = "0000e0d5.6571b3c2.01.01"


# --- the shape of what we rely on ----------------------------------------------------------------


METHODS_WE_CALL = [
    (Client, "getReqId", ["self"]),
    (Client, "reqAccountSummary", ["self", "reqId", "groupName", "tags"]),
    (Client, "cancelAccountSummary", ["self", "reqId"]),
    (Client, "sendMsg", ["self", "msg"]),  # the throttle that reads our pacing
    (Wrapper, "startReq", ["self", "key", "contract", "container"]),
    (Wrapper, "orderKey", ["self", "clientId", "orderId", "permId"]),
]


@pytest.mark.parametrize(
    ("owner", "name", "parameters"),
    METHODS_WE_CALL,
    ids=[f"{owner.__name__}.{name}" for owner, name, _ in METHODS_WE_CALL],
)
def test_ib_async_methods_we_call_keep_their_parameters(
    owner: type, name: str, parameters: list[str]
) -> None:
    method = getattr(owner, name, None)
    assert callable(method), f"ib_async {owner.__name__}.{name} is gone; {ADAPT}"
    found = list(inspect.signature(method).parameters)
    assert found == parameters, (
        f"ib_async {owner.__name__}.{name} now takes {found}, not {parameters}; {ADAPT}"
    )


@pytest.mark.parametrize("book", ["trades", "permId2Trade", "fills", "acctSummary"])
def test_ib_async_keeps_its_books_as_dicts(book: str) -> None:
    found = getattr(IB().wrapper, book, None)
    assert isinstance(found, dict), (
        f"ib_async Wrapper.{book} is {type(found).__name__}, not a dict; {ADAPT}"
    )


@pytest.mark.parametrize("setting", ["MaxRequests", "RequestsInterval"])
def test_ib_async_client_has_its_throttle_settings(setting: str) -> None:
    found = getattr(Client, setting, None)
    assert isinstance(found, int | float), (
        f"ib_async Client.{setting} is {found!r}, not a number; {ADAPT}"
    )


def test_eventkit_event_keeps_its_last_value_in_underscore_value() -> None:
    event = EventkitEvent("statusEvent")
    assert getattr(event, "_value", None) is EventkitEvent.NO_VALUE, (
        f"eventkit Event no longer starts with _value = NO_VALUE; {ADAPT}"
    )
    event.emit("SPY")
    assert event._value == ("SPY",) and event.value() == "SPY", (
        f"eventkit Event.emit no longer keeps its arguments in _value; {ADAPT}"
    )


def test_trade_events_names_every_event_a_trade_has() -> None:
    trade = Trade()
    has = {name for name, value in vars(trade).items() if isinstance(value, EventkitEvent)}
    assert set(Trade.events) == has, (
        f"ib_async Trade.events is {sorted(Trade.events)}, its events are {sorted(has)}; {ADAPT}"
    )


# --- what each helper does with a real ib_async.IB -----------------------------------------------


async def test_set_pacing_holds_back_messages_beyond_the_burst(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ib = IB()
    on_the_wire: list[bytes] = []
    monkeypatch.setattr(ib.client, "conn", _Wire(on_the_wire))
    set_pacing(ib, burst=2, interval_seconds=60.0)
    for _ in range(3):
        ib.client.sendMsg("61\x001\x00")  # reqPositions
    assert (ib.client.MaxRequests, ib.client.RequestsInterval) == (2, 60.0)
    assert len(on_the_wire) == 2  # the third waits for the interval to pass


async def test_account_summary_is_asked_once_and_ends_with_ibs_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ib = IB()
    sent = _pretend_connected(ib, monkeypatch)
    req_id, ended = start_account_summary(ib, ["NetLiquidation", "TotalCashValue"])
    assert sent == [(62, 1, req_id, "All", "NetLiquidation,TotalCashValue")]

    ib.wrapper.accountSummary(req_id, ACCOUNT, "NetLiquidation", "100250.40", "USD")
    ib.wrapper.accountSummary(req_id, ACCOUNT, "TotalCashValue", "20110.15", "USD")
    assert not ended.done()
    ib.wrapper.accountSummaryEnd(req_id)
    assert ended.done() and ended.exception() is None
    assert account_summary_values(ib) == [
        AccountValue(ACCOUNT, "NetLiquidation", "100250.40", "USD", ""),
        AccountValue(ACCOUNT, "TotalCashValue", "20110.15", "USD", ""),
    ]

    cancel_account_summary(ib, req_id)
    assert sent[-1] == (63, 1, req_id)


async def test_account_summary_fails_with_connection_error_when_the_connection_drops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ib = IB()
    _pretend_connected(ib, monkeypatch)
    _, ended = start_account_summary(ib, ["NetLiquidation"])
    ib.wrapper.connectionClosed()  # type: ignore[no-untyped-call]
    assert isinstance(ended.exception(), ConnectionError)


def test_forget_trade_drops_a_filled_trade_and_its_fill_from_the_books() -> None:
    ib = IB()
    trade = _filled_buy(ib)
    assert ib.trades() == [trade] and len(ib.fills()) == 1
    assert forget_trade(ib, trade)
    assert ib.trades() == [] and ib.fills() == [] and ib.wrapper.permId2Trade == {}
    assert not forget_trade(ib, trade)  # already gone


def test_forget_trade_leaves_a_new_sessions_trade_under_the_same_order_key() -> None:
    ib = IB()
    old = _filled_buy(ib)
    ib.wrapper.reset()  # type: ignore[no-untyped-call]  # what a reconnect does
    new = _filled_buy(ib)
    assert not forget_trade(ib, old)
    assert ib.trades() == [new] and len(ib.fills()) == 1


def test_clear_last_emitted_breaks_the_cycle_from_a_trade_through_its_events() -> None:
    trade = _filled_buy(IB())
    assert trade.statusEvent.value() is trade and trade.filledEvent.value() is trade
    clear_last_emitted(trade)
    assert [getattr(trade, name).value() for name in trade.events] == [
        EventkitEvent.NO_VALUE
    ] * len(trade.events)


# --- nothing else reaches into ib_async ----------------------------------------------------------


def test_only_the_adapter_and_its_internals_module_import_ib_async() -> None:
    importers = sorted(
        path.name
        for path in PROCESSOR.rglob("*.py")
        if any(_is_ib_async(module) for module in _imported_modules(path))
    )
    assert importers == ["ib.py", "ib_async_internals.py"]


def test_ib_py_reaches_no_private_part_of_ib_async() -> None:
    tree = ast.parse((PROCESSOR / "ib.py").read_text())
    reaches = sorted(
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and (node.attr in ("wrapper", "client") or _private_of_another_object(node))
    )
    assert reaches == [], (
        f"ib.py reaches into ib_async; move these to ib_async_internals: {reaches}"
    )


# --- helpers -------------------------------------------------------------------------------------


class _Wire:
    """Stands in for ib_async's socket connection: keeps what the client sends."""

    def __init__(self, sent: list[bytes]) -> None:
        self.sent = sent

    def sendMsg(self, message: bytes) -> None:  # ib_async's name
        self.sent.append(message)


def _pretend_connected(ib: IB, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The API is up, and each request's fields are kept instead of being sent."""
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ib.client, "isReady", lambda: True)
    monkeypatch.setattr(ib.client, "send", _keep(sent))
    return sent


def _keep(sent: list[tuple[Any, ...]]) -> Callable[..., None]:
    def send(*fields: Any, **_: Any) -> None:
        sent.append(fields)

    return send


def _filled_buy(ib: IB) -> Trade:
    """A BUY 40 QQQ of ours, booked and filled through ib_async's own callbacks for IB's
    messages (openOrder, orderStatus, execDetails, commissionReport)."""
    wrapper = ib.wrapper
    contract = Stock("QQQ", "SMART", "USD")
    order = Order(
        orderId=ORDER_ID,
        clientId=CLIENT_ID,
        permId=PERM_ID,
        action="BUY",
        totalQuantity=40,
        orderType="MKT",
        account=ACCOUNT,
    )
    wrapper.openOrder(ORDER_ID, contract, order, OrderState(status="Submitted"))
    wrapper.orderStatus(ORDER_ID, "Filled", 40, 0, 520.08, PERM_ID, 0, 520.08, CLIENT_ID, "")
    execution = Execution(
        execId=EXEC_ID,
        acctNumber=ACCOUNT,
        side="BOT",
        shares=40,
        price=520.08,
        permId=PERM_ID,
        clientId=CLIENT_ID,
        orderId=ORDER_ID,
    )
    wrapper.execDetails(-1, contract, execution)
    wrapper.commissionReport(CommissionReport(execId=EXEC_ID, commission=1.0, currency="USD"))
    [trade] = [t for t in ib.trades() if t.order.orderId == ORDER_ID]
    assert trade.orderStatus.status == "Filled" and trade.fills[0].commissionReport.execId
    return trade


def _imported_modules(path: Path) -> list[str]:
    modules: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
    return modules


def _is_ib_async(module: str) -> bool:
    return module.split(".")[0] in ("ib_async", "eventkit")


def _private_of_another_object(node: ast.Attribute) -> bool:
    """`x._name` where x is not `self` (our own private state is fine)."""
    private = node.attr.startswith("_") and not node.attr.startswith("__")
    own = isinstance(node.value, ast.Name) and node.value.id == "self"
    return private and not own
