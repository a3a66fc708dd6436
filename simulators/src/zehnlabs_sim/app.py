"""One aiohttp application: the Socket.IO endpoint (/socket.io), the Ably realtime endpoint (a
WebSocket at /), the allocations API and the control API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from zehnlabs_sim import allocations_api, control_api
from zehnlabs_sim.simulator import SIMULATOR, Settings, Simulator
from zehnlabs_sim.state import utc_now


def create_app(settings: Settings, clock: Callable[[], datetime] = utc_now) -> web.Application:
    simulator = Simulator(settings, clock)
    app = web.Application()
    app[SIMULATOR] = simulator
    simulator.stream.attach(app)
    simulator.ably.attach(app)
    app.add_routes(allocations_api.routes)
    app.add_routes(control_api.routes)
    app.on_shutdown.append(_close)
    return app


async def _close(app: web.Application) -> None:
    await app[SIMULATOR].close()
