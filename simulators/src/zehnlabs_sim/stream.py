"""The Socket.IO event stream: API-key auth, `subscribe`, one room per strategy, emitting.

Contract (SPEC section 4): clients connect with `auth={"api_key": KEY}` (a wrong key gets a
`connect_error`), emit `subscribe` `{"strategies": [...]}` and get an acknowledgement, and receive
`event` messages for the strategies they subscribed to. Nothing is kept for a client that was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import socketio
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from zehnlabs_sim.state import format_timestamp, utc_now

log = logging.getLogger("zehnlabs_sim.stream")

SOCKETIO_PATH = "socket.io"

# How long a dropped client may take to be noticed by its transport before the server forgets it
# explicitly (a long-polling client with no request in flight has no transport to drop).
DROP_GRACE_SECONDS = 2.0


def room_of(strategy: str) -> str:
    # Prefixed so a strategy name can never collide with a Socket.IO session id (each session is
    # also a room of its own).
    return f"strategy:{strategy}"


@dataclass
class Client:
    sid: str
    connected_at: datetime
    subscriptions: set[str] = field(default_factory=set)

    def view(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "connected_at": format_timestamp(self.connected_at),
            "subscriptions": sorted(self.subscriptions),
        }


class EventStream:
    """Owns the Socket.IO server and knows who is connected and subscribed to what."""

    def __init__(self, api_key: str, is_known_strategy: Callable[[str], bool]) -> None:
        self._api_key = api_key
        self._is_known_strategy = is_known_strategy
        self.sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
        self.clients: dict[str, Client] = {}
        # Socket.IO HTTP requests in flight (websockets and long polls), so that
        # disconnect-all can cut them the way a network failure would.
        # Keyed by id(): aiohttp requests are mappings, hence unhashable.
        self._transport_requests: dict[int, web.Request] = {}
        self._departure = asyncio.Event()
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("subscribe", self._on_subscribe)

    def attach(self, app: web.Application) -> None:
        app.middlewares.append(self._transport_tracker())
        self.sio.attach(app, socketio_path=SOCKETIO_PATH)

    def _transport_tracker(self) -> Middleware:
        prefix = f"/{SOCKETIO_PATH}/"

        @web.middleware
        async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not request.path.startswith(prefix):
                return await handler(request)
            self._transport_requests[id(request)] = request
            try:
                return await handler(request)
            finally:
                self._transport_requests.pop(id(request), None)

        return track

    # -- Socket.IO handlers -------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        key = auth.get("api_key") if isinstance(auth, dict) else None
        if not isinstance(key, str) or not key:
            log.info("client.refused sid=%s reason=missing_api_key", sid)
            raise socketio.exceptions.ConnectionRefusedError(
                'missing API key: connect with auth={"api_key": "<key>"}'
            )
        # Constant-time comparison: the key is a secret and never logged.
        if not hmac.compare_digest(key.encode(), self._api_key.encode()):
            log.info("client.refused sid=%s reason=invalid_api_key", sid)
            raise socketio.exceptions.ConnectionRefusedError("invalid API key")
        self.clients[sid] = Client(sid=sid, connected_at=utc_now())
        log.info("client.connected sid=%s clients=%d", sid, len(self.clients))

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        if self.clients.pop(sid, None) is not None:
            log.info("client.disconnected sid=%s reason=%s", sid, reason)
            self._departure.set()

    async def _on_subscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Subscriptions add up within a session; the acknowledgement lists all of them."""
        client = self.clients.get(sid)
        if client is None:  # raced with a disconnect
            return {"status": "error", "message": "not connected"}
        names = data.get("strategies") if isinstance(data, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            return {
                "status": "error",
                "message": 'subscribe expects {"strategies": ["<name>", ...]} '
                f"with non-empty names, got {data!r}",
            }
        for name in names:
            await self.sio.enter_room(sid, room_of(name))
            client.subscriptions.add(name)
        subscribed = sorted(client.subscriptions)
        # Unknown names are still joined (the strategy may be created later), but reported so a
        # client can warn about a typo.
        unknown = [n for n in subscribed if not self._is_known_strategy(n)]
        log.info("client.subscribed sid=%s strategies=%s", sid, ",".join(subscribed))
        return {"status": "success", "strategies": subscribed, "unknown": unknown}

    # -- emitting -----------------------------------------------------------------------------

    def subscribers(self, strategy: str) -> int:
        return sum(1 for c in self.clients.values() if strategy in c.subscriptions)

    async def emit_event(self, strategy: str, message: Any, count: int = 1) -> int:
        """Emit `event` to the strategy's room `count` times; returns how many sessions got it."""
        delivered_to = self.subscribers(strategy)
        for _ in range(count):
            await self.sio.emit("event", message, room=room_of(strategy))
        return delivered_to

    # -- disconnecting ------------------------------------------------------------------------

    async def drop_all(self) -> int:
        """Cut every client's transport as a network failure would: clients see a transport
        error and reconnect by themselves (a Socket.IO DISCONNECT would stop them)."""
        sids = list(self.clients)
        self._cut_transports()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DROP_GRACE_SECONDS):
                await self._wait_gone(sids)
        left = [sid for sid in sids if sid in self.clients]
        for sid in left:
            log.warning("client.drop_fallback sid=%s reason=no_transport_in_flight", sid)
            await self.sio.disconnect(sid)
        log.info("clients.dropped count=%d", len(sids))
        return len(sids)

    async def disconnect_all(self) -> int:
        """Socket.IO server-side disconnect ("io server disconnect"): clients do not reconnect
        by themselves, they must decide to."""
        sids = list(self.clients)
        for sid in sids:
            await self.sio.disconnect(sid)
        log.info("clients.disconnected count=%d", len(sids))
        return len(sids)

    async def _wait_gone(self, sids: Iterable[str]) -> None:
        pending = set(sids)
        while pending & self.clients.keys():
            # No await between the check and clear(): a departure cannot slip in unseen.
            self._departure.clear()
            await self._departure.wait()

    def _cut_transports(self) -> None:
        for request in list(self._transport_requests.values()):
            if request.transport is not None:
                request.transport.abort()

    async def close(self) -> None:
        """At shutdown: clients see the server go away (and will reconnect when it is back)."""
        self._cut_transports()
        await self.sio.shutdown()

    def view(self) -> list[dict[str, Any]]:
        return [c.view() for c in self.clients.values()]
