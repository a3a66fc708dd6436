"""The one object the HTTP handlers share: state, both event streams (Socket.IO and Ably),
settings, hanging requests."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from zehnlabs_sim.ably_hub import (
    DEFAULT_CONNECTION_STATE_TTL_MS,
    DEFAULT_MAX_IDLE_INTERVAL_MS,
    AblyHub,
)
from zehnlabs_sim.ably_protocol import ChannelMessage
from zehnlabs_sim.ably_server import AblyServer
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
    ably_max_idle_interval_ms: int = DEFAULT_MAX_IDLE_INTERVAL_MS
    ably_connection_state_ttl_ms: int = DEFAULT_CONNECTION_STATE_TTL_MS


class Simulator:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.state = SimState(seeds=settings.seeds, clock=clock)
        self.stream = EventStream(settings.api_key, lambda name: name in self.state.strategies)
        self.ably = AblyServer(
            AblyHub(
                settings.api_key,
                max_idle_interval_ms=settings.ably_max_idle_interval_ms,
                connection_state_ttl_ms=settings.ably_connection_state_ttl_ms,
            )
        )
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

    async def emit_event(self, strategy: str, message: dict[str, Any]) -> int:
        """An event (or its redelivery) on both transports: Socket.IO `event` to the strategy's
        room, an Ably message on the strategy's channel. Returns how many subscribers of either
        transport it went to."""
        to_socketio = await self.stream.emit_event(strategy, message)
        return to_socketio + self.ably.publish(strategy, [ably_event(message)])

    async def emit_raw(
        self, strategy: str, body: Any, count: int, name: str | None, message_id: str | None
    ) -> int:
        """`body` verbatim, `count` times, on both transports: the Socket.IO `event` argument
        and the Ably message data (each Ably message with a fresh id unless `message_id`)."""
        to_socketio = await self.stream.emit_event(strategy, body, count=count)
        if name is None and isinstance(body, dict) and isinstance(body.get("exec"), str):
            name = body["exec"]
        items = [
            ChannelMessage(id=message_id or str(uuid.uuid4()), name=name, data=body)
            for _ in range(count)
        ]
        return to_socketio + self.ably.publish(strategy, items)

    async def close(self) -> None:
        """Release hanging requests and drop Socket.IO and Ably clients, so shutdown never
        waits."""
        self.closing = True
        self._fault_changed.set()
        await self.ably.close()
        await self.stream.close()


def ably_event(message: dict[str, Any]) -> ChannelMessage:
    """The Ably form of an event: the Socket.IO message's `id` is the message id and its
    `exec` the message name; the data is the event without that envelope (`id`, `strategy`),
    since the id travels as the message id and the channel names the strategy. So data is
    `{"exec", ...every other field the publish body gave}`, a JSON object as SPEC section 4 has
    Zehnlabs send it."""
    data = {key: value for key, value in message.items() if key not in ("id", "strategy")}
    return ChannelMessage(id=str(message["id"]), name=str(message["exec"]), data=data)


SIMULATOR = web.AppKey("simulator", Simulator)


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    """The error shape the Zehnlabs API uses, reused by the control API."""
    return web.json_response({"status": "error", "message": message, **extra}, status=status)


def http_error(error: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    """An aiohttp exception carrying the JSON error body, to raise from deep in a handler."""
    body = json.dumps({"status": "error", "message": message, **extra})
    return error(text=body, content_type="application/json")
