"""The Ably realtime endpoint: a WebSocket at `/` on the simulator's port, what the `ably` SDK
opens as `ws://HOST:PORT/?key=...&v=5[&format=msgpack][&resume=...]`.

Only sockets live here: each one gets a writer task that sends, in order, what the hub
addresses to it, and a HEARTBEAT whenever it has been quiet for half of maxIdleInterval. What
the protocol means (auth, channels, resume) is decided in `ably_hub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from zehnlabs_sim.ably_codec import Format, decode_frame, encode_frame
from zehnlabs_sim.ably_hub import AblyHub, Send
from zehnlabs_sim.ably_protocol import ChannelMessage, ProtocolMessage

log = logging.getLogger("zehnlabs_sim.ably")

ABLY_PATH = "/"

# How long a closing handshake may take before the socket is dropped: shutdown must not wait
# for a client that stopped reading.
CLOSE_TIMEOUT_SECONDS = 1.0


@dataclass
class _Close:
    code: int


@dataclass(eq=False)  # compared and hashed by identity: one object per socket
class _Socket:
    ws: web.WebSocketResponse
    request: web.Request
    fmt: Format
    connection_id: str | None
    generation: int
    outbox: asyncio.Queue[ProtocolMessage | _Close] = field(default_factory=asyncio.Queue)

    def abort(self) -> None:
        """Cut the TCP connection without a close frame, as a network failure would."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class AblyServer:
    def __init__(self, hub: AblyHub) -> None:
        self.hub = hub
        self.refuse_connections = False
        self._sockets: dict[str, _Socket] = {}  # by connection id: the socket serving it
        self._all: set[_Socket] = set()  # refused ones too, for shutdown

    def attach(self, app: web.Application) -> None:
        app.router.add_get(ABLY_PATH, self._handle)

    # -- one socket ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(timeout=CLOSE_TIMEOUT_SECONDS)
        if not ws.can_prepare(request).ok:
            return _http_error(426, "Ably realtime endpoint: open a WebSocket (see the docs)")
        if self.refuse_connections:
            # Refused before the upgrade: the SDK sees a failed connection attempt and retries
            # after disconnected_retry_timeout, keeping its resume key.
            return _http_error(503, "Ably connections are refused (simulated)")
        format_text = request.query.get("format", Format.JSON.value)
        if format_text not in {f.value for f in Format}:
            return _http_error(400, f"format {format_text!r} is not json or msgpack")
        await ws.prepare(request)
        opened = self.hub.open(
            request.query.get("key"), request.query.get("resume"), Format(format_text)
        )
        connection = opened.connection
        connection_id = None if connection is None else connection.id
        socket = _Socket(ws, request, Format(format_text), connection_id, opened.generation)
        self._all.add(socket)
        for reply in opened.replies:
            socket.outbox.put_nowait(reply)
        writer = asyncio.create_task(self._write(socket))
        try:
            if connection is None:
                log.info("ably.refused reason=invalid_key")
                socket.outbox.put_nowait(_Close(WSCloseCode.OK))
                await writer
                return ws
            replaced = self._sockets.get(connection.id)
            self._sockets[connection.id] = socket
            if replaced is not None:
                replaced.abort()
            log.info(
                "ably.connected connection_id=%s format=%s resumed=%s",
                connection.id,
                format_text,
                opened.resumed,
            )
            await self._read(socket, connection.id)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._all.discard(socket)
            if socket.connection_id is not None:
                if self._sockets.get(socket.connection_id) is socket:
                    del self._sockets[socket.connection_id]
                self.hub.lost(socket.connection_id, socket.generation)
                log.info("ably.socket_closed connection_id=%s", socket.connection_id)
        return ws

    async def _read(self, socket: _Socket, connection_id: str) -> None:
        async for frame in socket.ws:
            if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break  # ERROR: the socket is gone
            message = decode_frame(frame.data)
            if message is None:
                log.info("ably.undecodable_frame connection_id=%s", connection_id)
                continue
            self._route(self.hub.receive(connection_id, socket.generation, message))

    async def _write(self, socket: _Socket) -> None:
        # Half the interval: the client allows maxIdleInterval (plus its request timeout) of
        # silence, so a heartbeat after half of it leaves room for a busy event loop.
        quiet_seconds = self.hub.max_idle_interval_ms / 2000
        try:
            while True:
                try:
                    item = await asyncio.wait_for(socket.outbox.get(), quiet_seconds)
                except TimeoutError:
                    if socket.connection_id is None:
                        continue
                    item = self.hub.idle_heartbeat(socket.connection_id)
                if isinstance(item, _Close):
                    await socket.ws.close(code=item.code)
                    return
                frame = encode_frame(item, socket.fmt)
                if isinstance(frame, str):
                    await socket.ws.send_str(frame)
                else:
                    await socket.ws.send_bytes(frame)
        except ConnectionError:
            # The peer is gone; the reader notices and ends the socket.
            socket.abort()

    def _route(self, sends: Iterable[Send]) -> None:
        for send in sends:
            socket = self._sockets.get(send.connection_id)
            if socket is None or socket.generation != send.generation:
                continue  # replaced or gone: the hub no longer counts on this socket
            if send.message is not None:
                socket.outbox.put_nowait(send.message)
            if send.close:
                socket.outbox.put_nowait(_Close(WSCloseCode.OK))

    # -- what the control API does ------------------------------------------------------------

    def publish(self, channel: str, items: Iterable[ChannelMessage]) -> int:
        """Send to every connection attached to `channel`; returns how many are subscribed."""
        sends, subscribers = self.hub.publish(channel, items)
        self._route(sends)
        return subscribers

    def subscribers(self, channel: str) -> int:
        return self.hub.subscribers(channel)

    def drop_all(self, *, forget: bool) -> int:
        """Cut every socket without an Ably message; `forget` also drops the resume state."""
        cut = self.hub.drop_all(forget=forget)
        for connection_id, generation in cut:
            socket = self._sockets.get(connection_id)
            if socket is not None and socket.generation == generation:
                socket.abort()
        log.info("ably.dropped count=%d forget=%s", len(cut), forget)
        return len(cut)

    def disconnect_all(self) -> int:
        sends = self.hub.disconnect_all()
        self._route(sends)
        log.info("ably.disconnected count=%d", len(sends))
        return len(sends)

    def settings_view(self) -> dict[str, Any]:
        return {
            "denied_channels": sorted(self.hub.denied),
            "refuse_connections": self.refuse_connections,
            "resumable": self.hub.resumable_view(),
        }

    def reset(self) -> None:
        """Control-API reset: no denied channels, connections accepted again."""
        self.hub.reset()
        self.refuse_connections = False

    async def close(self) -> None:
        """At shutdown: every socket gets a close frame saying the server is going away (the
        SDK reconnects, and finds a new simulator or none)."""
        for socket in list(self._all):
            socket.outbox.put_nowait(_Close(WSCloseCode.GOING_AWAY))


def _http_error(status: int, message: str) -> web.Response:
    return web.json_response({"status": "error", "message": message}, status=status)
