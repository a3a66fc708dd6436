"""The control API (HTTP, JSON): seed accounts and quotes, read orders, set the clock, inject
faults, reset, read statistics. Bad input gets 422 with the reason.

    PUT  /accounts/{account_id}  {"cash": float, "positions": {symbol: int}}   create or replace
    GET  /accounts/{account_id}  -> {"account_id", "cash", "positions", "net_liquidation"}
    GET  /accounts               -> list of the above
    PUT  /quotes                 {symbol: {"bid", "ask", "last"}}
    GET  /quotes                 -> {symbol: {"bid", "ask", "last", ...}}
    GET  /orders                 -> [{"order_id", "account_id", "symbol", "action", "quantity",
                                      "order_type", "limit_price", "status", "filled", ...}]
    PUT  /clock                  {"now": iso8601 | null, "running": bool}
    GET  /clock                  -> {"now", "real_time", "running"}
    POST /faults                 {"drop_connections", "refuse_connections", "reject_orders",
                                  "fill_delay_ms", "partial_fill_ratio"}
    GET  /faults                 -> the standing faults
    POST /reset
    GET  /stats                  -> {"messages_received", "messages_refused",
                                     "peak_messages_per_second", "connections", "orders"}
    GET  /health                 -> {"status": "ok"}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from ib_gateway_sim.config import (
    AccountModel,
    ClockModel,
    QuoteModel,
    Symbol,
    check_account_id,
    describe_errors,
)
from ib_gateway_sim.engine import Account, Order
from ib_gateway_sim.gateway import Gateway

log = logging.getLogger("ib_gateway_sim.control")

GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway", Gateway)
MAX_FILL_DELAY_MS = 600_000

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class QuotesModel(RootModel[dict[Symbol, QuoteModel]]):
    pass


class FaultsModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    drop_connections: bool = False
    refuse_connections: bool | None = None
    reject_orders: int | None = Field(None, ge=0, strict=True)
    fill_delay_ms: int | None = Field(None, ge=0, le=MAX_FILL_DELAY_MS, strict=True)
    partial_fill_ratio: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)


class Unprocessable(Exception):
    def __init__(self, reason: str, status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Unprocessable as exc:
        return _error(exc.status, f"{request.method} {request.path}: {exc.reason}")


async def _body(request: web.Request, model: type[ModelT]) -> ModelT:
    text = await request.text()
    try:
        raw: Any = json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise Unprocessable(f"body is not valid JSON: {exc}") from None
    if raw is None:
        raise Unprocessable("a JSON body is required")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise Unprocessable(describe_errors(exc)) from None


def _gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def _account_view(gateway: Gateway, account: Account) -> dict[str, Any]:
    valuation = gateway.engine.valuation(account)
    return {
        "account_id": account.account_id,
        "cash": round(account.cash, 2),
        "positions": {
            symbol: position.quantity for symbol, position in sorted(account.positions.items())
        },
        "net_liquidation": round(valuation.net_liquidation, 2),
    }


def _order_view(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "account_id": order.account_id,
        "symbol": order.symbol,
        "action": order.action,
        "quantity": order.quantity,
        "order_type": order.order_type,
        "limit_price": order.limit_price,
        "status": order.status.value,
        "filled": order.filled,
        "avg_fill_price": round(order.avg_fill_price, 4) if order.filled else None,
        "commission": round(order.commission, 2),
        "tif": order.tif,
        "outside_rth": order.outside_rth,
        "client_id": order.client_id,
        "perm_id": order.perm_id,
        "reason": order.reason,
    }


async def put_account(request: web.Request) -> web.Response:
    gateway = _gateway(request)
    account_id = request.match_info["account_id"]
    try:
        check_account_id(account_id)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None
    body = await _body(request, AccountModel)
    created = account_id not in gateway.engine.accounts
    try:
        gateway.put_account(account_id, body.cash, body.positions)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None
    view = _account_view(gateway, gateway.engine.accounts[account_id])
    return web.json_response(view, status=201 if created else 200)


async def get_account(request: web.Request) -> web.Response:
    gateway = _gateway(request)
    account_id = request.match_info["account_id"]
    account = gateway.engine.accounts.get(account_id)
    if account is None:
        raise Unprocessable(f"no account {account_id!r}; create it with PUT first", status=404)
    return web.json_response(_account_view(gateway, account))


async def list_accounts(request: web.Request) -> web.Response:
    gateway = _gateway(request)
    accounts = [gateway.engine.accounts[a] for a in gateway.engine.account_ids()]
    return web.json_response([_account_view(gateway, account) for account in accounts])


async def put_quotes(request: web.Request) -> web.Response:
    gateway = _gateway(request)
    quotes = (await _body(request, QuotesModel)).root
    if not quotes:
        raise Unprocessable('no quotes given: send {symbol: {"bid", "ask", "last"}}')
    for symbol, quote in quotes.items():
        if (
            quote.exchange
            or quote.name
            or quote.stock_type
            or symbol not in gateway.engine.instruments
        ):
            gateway.engine.add_instrument(quote.to_instrument(symbol))
    gateway.set_quotes({symbol: quote.to_quote() for symbol, quote in quotes.items()})
    return web.json_response({"symbols": sorted(quotes)})


async def get_quotes(request: web.Request) -> web.Response:
    engine = _gateway(request).engine
    return web.json_response(
        {
            symbol: {
                "bid": quote.bid,
                "ask": quote.ask,
                "last": quote.last,
                "exchange": engine.instruments[symbol].primary_exchange,
                "con_id": engine.instruments[symbol].con_id,
            }
            for symbol, quote in sorted(engine.quotes.items())
        }
    )


async def get_orders(request: web.Request) -> web.Response:
    orders = _gateway(request).engine.orders
    account_id = request.query.get("account_id")
    status = request.query.get("status")
    return web.json_response(
        [
            _order_view(order)
            for order in orders
            if (account_id is None or order.account_id == account_id)
            and (status is None or order.status.value == status)
        ]
    )


def _clock_view(gateway: Gateway) -> dict[str, Any]:
    return {
        "now": gateway.clock.now().isoformat(),
        "real_time": gateway.clock.is_real_time,
        "running": gateway.clock.is_running,
    }


async def put_clock(request: web.Request) -> web.Response:
    gateway = _gateway(request)
    body = await _body(request, ClockModel)
    gateway.clock.set(body.now, body.running)
    return web.json_response(_clock_view(gateway))


async def get_clock(request: web.Request) -> web.Response:
    return web.json_response(_clock_view(_gateway(request)))


async def post_faults(request: web.Request) -> web.Response:
    gateway = _gateway(request)
    body = await _body(request, FaultsModel)
    given = body.model_fields_set
    if not given:
        raise Unprocessable(
            "name at least one fault: drop_connections, refuse_connections, reject_orders, "
            "fill_delay_ms, partial_fill_ratio"
        )
    faults = gateway.faults
    if "refuse_connections" in given:
        faults.refuse_connections = bool(body.refuse_connections)
    if "reject_orders" in given:
        faults.reject_orders = body.reject_orders or 0
    if "fill_delay_ms" in given:
        faults.fill_delay_ms = body.fill_delay_ms or 0
    if "partial_fill_ratio" in given:
        faults.partial_fill_ratio = body.partial_fill_ratio
    dropped = gateway.drop_connections() if body.drop_connections else 0
    log.info("control.faults %s dropped=%s", faults.as_dict(), dropped)
    return web.json_response({**faults.as_dict(), "dropped_connections": dropped})


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(_gateway(request).faults.as_dict())


async def post_reset(request: web.Request) -> web.Response:
    _gateway(request).reset()
    return web.json_response({"status": "reset"})


async def get_stats(request: web.Request) -> web.Response:
    gateway = _gateway(request)
    return web.json_response(
        {
            "messages_received": gateway.stats.messages_received,
            "messages_refused": gateway.stats.messages_refused,
            "peak_messages_per_second": gateway.stats.peak_messages_per_second,
            "connections": gateway.connections,
            "orders": len(gateway.engine.orders),
        }
    )


async def get_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(gateway: Gateway) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[GATEWAY] = gateway
    app.add_routes(
        [
            web.put("/accounts/{account_id}", put_account),
            web.get("/accounts/{account_id}", get_account),
            web.get("/accounts", list_accounts),
            web.put("/quotes", put_quotes),
            web.get("/quotes", get_quotes),
            web.get("/orders", get_orders),
            web.put("/clock", put_clock),
            web.get("/clock", get_clock),
            web.post("/faults", post_faults),
            web.get("/faults", get_faults),
            web.post("/reset", post_reset),
            web.get("/stats", get_stats),
            web.get("/health", get_health),
        ]
    )
    return app
