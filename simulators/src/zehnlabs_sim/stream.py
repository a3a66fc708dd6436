"""The Socket.IO event stream: API-key auth, `subscribe`, one room per strategy, emitting.

Contract (SPEC section 4): clients connect with `auth={"api_key": KEY}` (a wrong key gets a
`connect_error`), emit `subscribe` `{"strategies": [...]}` and get an acknowledgement, and receive
`event` messages for the strategies they subscribed to. Nothing is kept for a client that was away.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import socketio
from aiohttp import web

from zehnlabs_sim.state import format_timestamp, utc_now

log = logging.getLogger("zehnlabs_sim.stream")

SOCKETIO_PATH = "socket.io"


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
            "transport": "socketio",
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
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("subscribe", self._on_subscribe)

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app, socketio_path=SOCKETIO_PATH)

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
        if reason == self.sio.reason.CLIENT_DISCONNECT:
            self._end_long_poll(sid)

    def _end_long_poll(self, sid: str) -> None:
        # When a long-polling client says goodbye, Engine.IO leaves its pending GET open until the
        # ping timeout (45 s), and the client's disconnect() waits for it. Ending it now lets the
        # client, and our shutdown, finish at once. (Only on the client's goodbye: after a server
        # disconnect the DISCONNECT packet must reach the client first.)
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        session = self.sio.eio.sockets.get(eio_sid)
        if session is not None:
            session.queue.put_nowait(None)

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
        """Break every client's connection as a network failure would: clients see a transport
        error and reconnect by themselves (a Socket.IO DISCONNECT would stop them)."""
        count = len(self.clients)
        await self._break_sessions()
        log.info("clients.dropped count=%d", count)
        return count

    async def disconnect_all(self) -> int:
        """Socket.IO server-side disconnect ("io server disconnect"): clients do not reconnect
        by themselves, they must decide to."""
        sids = list(self.clients)
        for sid in sids:
            await self.sio.disconnect(sid)
        log.info("clients.disconnected count=%d", len(sids))
        return len(sids)

    async def _break_sessions(self) -> None:
        # python-socketio has no public call for this: its disconnect() sends a CLOSE packet,
        # which tells clients not to reconnect. Closing the Engine.IO session with abort=True
        # skips that packet (and runs the disconnect handlers at once); the None wakes the
        # session's websocket writer or pending long poll, which then ends the connection. A
        # polling client's next request finds no session. Either way the client sees a broken
        # transport.
        engine = self.sio.eio
        for session in list(engine.sockets.values()):
            await session.close(wait=False, abort=True, reason=engine.reason.TRANSPORT_CLOSE)
            session.queue.put_nowait(None)

    async def close(self) -> None:
        """At shutdown: clients see the server go away (and will reconnect when it is back)."""
        await self._break_sessions()
        await self.sio.shutdown()

    def view(self) -> list[dict[str, Any]]:
        return [c.view() for c in self.clients.values()]
