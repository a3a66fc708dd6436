"""The one object the HTTP handlers share: state, event stream, settings, hanging requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from zehnlabs_sim.models import SeedStrategy
from zehnlabs_sim.state import SimState, utc_now
from zehnlabs_sim.stream import EventStream

# Longer than any client's timeout, so a `timeout` fault looks like a server that never answers.
DEFAULT_HANG_SECONDS = 60.0


@dataclass(frozen=True)
class Settings:
    api_key: str
    allocations_api_key: str
    seeds: Sequence[SeedStrategy]
    hang_seconds: float = DEFAULT_HANG_SECONDS


class Simulator:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.state = SimState(seeds=settings.seeds, clock=clock)
        self.stream = EventStream(settings.api_key, lambda name: name in self.state.strategies)
        self.closing = False
        # Replaced on every fault change; requests hanging on the old one wake up and re-check.
        self._fault_changed = asyncio.Event()

    def fault_changed(self) -> None:
        self._fault_changed.set()
        self._fault_changed = asyncio.Event()

    async def hang(self, deadline: float) -> bool:
        """Hold a request until the fault setting changes (True), or until the deadline or
        shutdown (False). Only this request waits: the event loop keeps serving others."""
        changed = self._fault_changed
        remaining = deadline - asyncio.get_running_loop().time()
        if self.closing or remaining <= 0:
            return False
        try:
            await asyncio.wait_for(changed.wait(), remaining)
        except TimeoutError:
            return False
        return not self.closing

    async def close(self) -> None:
        """Release hanging requests and drop Socket.IO clients, so shutdown never waits."""
        self.closing = True
        self._fault_changed.set()
        await self.stream.close()


SIMULATOR = web.AppKey("simulator", Simulator)


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    """The error shape the Zehnlabs API uses, reused by the control API."""
    return web.json_response({"status": "error", "message": message, **extra}, status=status)


def http_error(error: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    """An aiohttp exception carrying the JSON error body, to raise from deep in a handler."""
    body = json.dumps({"status": "error", "message": message, **extra})
    return error(text=body, content_type="application/json")
