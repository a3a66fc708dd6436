"""The control API tests, benchmarks and the demo use to drive the simulator (`/control/...`).

A publication goes to both transports at once: the Socket.IO room and the Ably channel of the
strategy (`Simulator.emit_event`, `Simulator.emit_raw`).

Bad input is answered 422 with `{"status": "error", "message", "errors": [{"field", "message"}]}`;
an unknown strategy with 404.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from zehnlabs_sim.models import AblyBody, AllocationsBody, FaultBody, PublishBody, StrategyBody
from zehnlabs_sim.simulator import SIMULATOR, Simulator, http_error
from zehnlabs_sim.state import Strategy

# A thousand garbage messages is the broker's stress test; a hundred times that is a typo.
MAX_RAW_COUNT = 100_000

DISCONNECT_MODES = ("drop", "server", "expire")

Body = TypeVar("Body", bound=BaseModel)

routes = web.RouteTableDef()


def _unprocessable(errors: list[dict[str, str]]) -> web.HTTPException:
    message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return http_error(web.HTTPUnprocessableEntity, message, errors=errors)


async def _parse(request: web.Request, model: type[Body]) -> Body:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        raise _unprocessable(errors) from None


def _sim(request: web.Request) -> Simulator:
    return request.app[SIMULATOR]


def _everything(sim: Simulator) -> dict[str, Any]:
    return {
        **sim.state.view(),
        "clients": sim.stream.view() + sim.ably.hub.view(),
        "ably": sim.ably.settings_view(),
    }


def _strategy(sim: Simulator, name: str) -> Strategy:
    strategy = sim.state.strategies.get(name)
    if strategy is None:
        raise http_error(web.HTTPNotFound, f"Strategy '{name}' not found")
    return strategy


@routes.get("/control/state")
async def get_state(request: web.Request) -> web.Response:
    return web.json_response(_everything(_sim(request)))


@routes.post("/control/reset")
async def reset(request: web.Request) -> web.Response:
    """Seeded strategies back, history, faults and denied Ably channels gone; connected clients
    stay connected."""
    sim = _sim(request)
    sim.state.reset()
    sim.ably.reset()
    sim.fault_changed()
    return web.json_response(_everything(sim))


@routes.put("/control/strategies/{name}")
async def put_strategy(request: web.Request) -> web.Response:
    sim = _sim(request)
    name = request.match_info["name"]
    body = await _parse(request, StrategyBody)
    created = sim.state.upsert_strategy(name, body)
    return web.json_response(sim.state.strategies[name].api_data(), status=201 if created else 200)


@routes.delete("/control/strategies/{name}")
async def delete_strategy(request: web.Request) -> web.Response:
    sim = _sim(request)
    name = request.match_info["name"]
    _strategy(sim, name)
    sim.state.delete_strategy(name)
    return web.json_response({"deleted": name})


@routes.put("/control/strategies/{name}/allocations")
async def put_allocations(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _parse(request, AllocationsBody)
    strategy, created = sim.state.set_allocations(request.match_info["name"], body)
    return web.json_response(strategy.api_data(), status=201 if created else 200)


@routes.post("/control/strategies/{name}/events")
async def publish_event(request: web.Request) -> web.Response:
    sim = _sim(request)
    name = request.match_info["name"]
    _strategy(sim, name)
    body = await _parse(request, PublishBody)
    message = sim.state.new_event(name, body)
    delivered_to = await sim.emit_event(name, message)
    sim.state.record("event", name, message, delivered_to)
    return web.json_response({"id": message["id"], "delivered_to": delivered_to})


@routes.post("/control/strategies/{name}/redeliver")
async def redeliver(request: web.Request) -> web.Response:
    """The last event again, same id: what a reconnect does to a client."""
    sim = _sim(request)
    name = request.match_info["name"]
    _strategy(sim, name)
    message = sim.state.last_message.get(name)
    if message is None:
        raise http_error(web.HTTPNotFound, f"Strategy '{name}' has no event to redeliver")
    delivered_to = await sim.emit_event(name, message)
    sim.state.record("redelivery", name, message, delivered_to)
    return web.json_response({"id": message["id"], "delivered_to": delivered_to})


@routes.post("/control/strategies/{name}/raw")
async def emit_raw(request: web.Request) -> web.Response:
    """The JSON body emitted verbatim, `count` times, to the room and channel of any name (known
    strategy or not): malformed messages for broker tests. On Ably the body is the message data;
    `name` sets the message name (default: the body's `exec` when it is a string) and `id` the
    message id of every copy (default: a fresh one each)."""
    sim = _sim(request)
    name = request.match_info["name"]
    count_text = request.query.get("count", "1")
    if not count_text.isdigit() or not 1 <= int(count_text) <= MAX_RAW_COUNT:
        raise _unprocessable(
            [{"field": "count", "message": f"{count_text!r} is not between 1 and {MAX_RAW_COUNT}"}]
        )
    count = int(count_text)
    raw = await request.text()
    message: Any = None
    if raw.strip():
        try:
            message = json.loads(raw)
        except ValueError as exc:
            raise _unprocessable([{"field": "body", "message": f"not JSON: {exc}"}]) from None
    ably_name = request.query.get("name")
    ably_id = request.query.get("id") or None
    delivered_to = await sim.emit_raw(name, message, count, ably_name, ably_id)
    sim.state.record("raw", name, message, delivered_to, count=count)
    return web.json_response({"count": count, "delivered_to": delivered_to})


@routes.post("/control/disconnect-all")
async def disconnect_all(request: web.Request) -> web.Response:
    """`mode=drop` (default): cut every connection, clients reconnect by themselves (Ably ones
    resume). `mode=server`: Socket.IO disconnect (clients stay away unless they reconnect on
    purpose), Ably DISCONNECTED (the SDK reconnects and resumes). `mode=expire`: like drop, and
    the Ably resume state is forgotten, so the reconnect gets a new connection (80008)."""
    sim = _sim(request)
    mode = request.query.get("mode", "drop")
    if mode not in DISCONNECT_MODES:
        allowed = ", ".join(DISCONNECT_MODES)
        raise _unprocessable([{"field": "mode", "message": f"{mode!r} is not one of {allowed}"}])
    if mode == "server":
        count = await sim.stream.disconnect_all() + sim.ably.disconnect_all()
    else:
        count = await sim.stream.drop_all() + sim.ably.drop_all(forget=mode == "expire")
    return web.json_response({"disconnected": count, "mode": mode})


@routes.get("/control/ably")
async def get_ably(request: web.Request) -> web.Response:
    return web.json_response(_sim(request).ably.settings_view())


@routes.put("/control/ably")
async def put_ably(request: web.Request) -> web.Response:
    """Denied channels (an ATTACH gets ERROR 40160) and refused connections; fields left out
    keep their values."""
    sim = _sim(request)
    body = await _parse(request, AblyBody)
    if body.denied_channels is not None:
        sim.ably.hub.denied = set(body.denied_channels)
    if body.refuse_connections is not None:
        sim.ably.refuse_connections = body.refuse_connections
    return web.json_response(sim.ably.settings_view())


@routes.get("/control/allocations-fault")
async def get_fault(request: web.Request) -> web.Response:
    return web.json_response({"allocations_faults": _sim(request).state.faults_view()})


@routes.put("/control/allocations-fault")
async def put_fault(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _parse(request, FaultBody)
    sim.state.set_fault(body)
    # Requests hanging in a `timeout` fault re-check the new setting.
    sim.fault_changed()
    return web.json_response({"allocations_faults": sim.state.faults_view()})
