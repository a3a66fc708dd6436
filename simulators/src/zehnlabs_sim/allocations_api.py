"""`GET /api/v1/strategies/{name}/allocations`, answered the way Zehnlabs answers it, plus the
faults a test can switch on (HTTP 500, timeout, malformed JSON, weights summing to 1.3)."""

from __future__ import annotations

import asyncio
import hmac
import json

from aiohttp import web

from zehnlabs_sim.models import FaultMode
from zehnlabs_sim.simulator import SIMULATOR, json_error

ALLOCATIONS_PREFIX = "/api/v1/strategies"

routes = web.RouteTableDef()


@routes.get(ALLOCATIONS_PREFIX + "/{name}/allocations")
async def get_allocations(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    name = request.match_info["name"]
    key = request.headers.get("x-api-key")
    if not key:
        return json_error(401, "Missing API key: send it in the x-api-key header")
    if not hmac.compare_digest(key.encode(), sim.settings.allocations_api_key.encode()):
        return json_error(401, "Invalid API key")
    if name not in sim.state.strategies:
        return json_error(404, f"Strategy '{name}' not found")
    sim.state.allocation_requests[name] += 1

    mode = sim.state.take_fault(name)
    deadline = asyncio.get_running_loop().time() + sim.settings.hang_seconds
    while mode is FaultMode.TIMEOUT:
        if not await sim.hang(deadline):
            return json_error(504, "Gateway timeout (simulated)")
        # Released because the fault setting changed: follow the new setting.
        mode = sim.state.peek_fault(name)

    strategy = sim.state.strategies.get(name)
    if strategy is None:  # deleted while the request hung
        return json_error(404, f"Strategy '{name}' not found")
    if mode is FaultMode.HTTP_500:
        return json_error(500, "Internal server error (simulated)")
    if mode is FaultMode.OVERWEIGHT:
        data = strategy.api_data(strategy.overweight_allocations())
    else:
        data = strategy.api_data()
    body = json.dumps({"status": "success", "data": data})
    if mode is FaultMode.MALFORMED_JSON:
        # Half of a JSON object is never valid JSON, whatever the allocations are.
        body = body[: len(body) // 2]
    return web.Response(text=body, content_type="application/json")
