"""The Ably side of the simulator as state: connections, their channels, what each channel
published (so a resumed connection gets what it missed), denied channels. No sockets, no I/O.

The WebSocket layer (`ably_server`) calls in with what a client did and routes what comes back:
each call returns the protocol messages to send, addressed by connection id and socket
generation, so a message meant for a socket that has since been replaced goes nowhere.

Continuity, as Ably keeps it: a connection whose socket is lost without a CLOSE stays known for
`connection_state_ttl_ms`. A client reconnecting with its connection key within that time gets
the same connection id; its channels wait until the client attaches them again with
ATTACH_RESUME and its last channelSerial, and are then answered ATTACHED with RESUMED followed by
every message published after that serial, in order: the client's serial (not what the server
sent) decides, so a message lost in flight on the broken socket is sent again and one that
arrived is not.
"""

from __future__ import annotations

import hmac
import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from zehnlabs_sim import ably_protocol as proto
from zehnlabs_sim.ably_codec import Format
from zehnlabs_sim.ably_protocol import Action, ChannelMessage, Flag, ProtocolMessage
from zehnlabs_sim.state import format_timestamp

DEFAULT_MAX_IDLE_INTERVAL_MS = 15_000
DEFAULT_CONNECTION_STATE_TTL_MS = 120_000

# Messages kept per channel for connections that may resume. A client away for more than this
# many messages on one channel loses continuity there (ATTACHED without RESUMED), as it would
# after the TTL; the Socket.IO side keeps nothing at all.
CHANNEL_HISTORY = 10_000


@dataclass(frozen=True)
class Send:
    """A protocol message for the socket `generation` of connection `connection_id`; with
    `close`, that socket is closed after it (`message` None: only closed)."""

    connection_id: str
    generation: int
    message: ProtocolMessage | None
    close: bool = False


@dataclass(frozen=True)
class Opened:
    """The answer to a new socket: `connection` None means refused (send `replies`, close)."""

    connection: Connection | None
    generation: int
    replies: list[ProtocolMessage]
    resumed: bool = False


@dataclass
class Attachment:
    sent: int
    """Sequence number of the last message queued for this channel on this connection."""
    live: bool = True
    """False while the socket is gone, and after a resume until the client attaches again."""


@dataclass
class Connection:
    id: str
    key: str
    format: Format
    connected_at: float
    generation: int | None
    """The socket currently serving the connection; None while it is away."""
    away_since: float | None = None
    channels: dict[str, Attachment] = field(default_factory=dict)
    heartbeats_sent: int = 0


@dataclass
class _Logged:
    seq: int
    at: float
    message: ChannelMessage


@dataclass
class ChannelLog:
    last_seq: int = 0
    entries: deque[_Logged] = field(default_factory=lambda: deque(maxlen=CHANNEL_HISTORY))

    def covers(self, after_seq: int) -> bool:
        """True when every message after `after_seq` is still here (no gap, nothing trimmed)."""
        first = self.entries[0].seq if self.entries else self.last_seq + 1
        return first - 1 <= after_seq <= self.last_seq

    def after(self, after_seq: int) -> list[_Logged]:
        return [entry for entry in self.entries if entry.seq > after_seq]


class AblyHub:
    def __init__(
        self,
        api_key: str,
        *,
        max_idle_interval_ms: int = DEFAULT_MAX_IDLE_INTERVAL_MS,
        connection_state_ttl_ms: int = DEFAULT_CONNECTION_STATE_TTL_MS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api_key = api_key
        self.max_idle_interval_ms = max_idle_interval_ms
        self.connection_state_ttl_ms = connection_state_ttl_ms
        self._clock = clock
        # Channel serials carry this run's id: a serial from an earlier simulator process never
        # passes for one of ours, so a restart always means continuity lost.
        self.instance = secrets.token_hex(4)
        self._generations = itertools.count(1)
        self.connections: dict[str, Connection] = {}
        self._by_key: dict[str, Connection] = {}
        self.channels: dict[str, ChannelLog] = {}
        self.denied: set[str] = set()

    # -- sockets ------------------------------------------------------------------------------

    def open(self, key: str | None, resume: str | None, fmt: Format) -> Opened:
        """A new socket with the `key` and `resume` query parameters of its URL."""
        self._forget_expired()
        generation = next(self._generations)
        if not key:
            return Opened(None, generation, [proto.error(proto.invalid_key(missing=True))])
        # Constant-time comparison: the key is a secret (and is never logged).
        if not hmac.compare_digest(key.encode(), self._api_key.encode()):
            return Opened(None, generation, [proto.error(proto.invalid_key(missing=False))])
        known = self._by_key.get(resume) if resume else None
        if known is not None:
            # Same connection, new socket; a socket still serving it (the client noticed the
            # break before we did) loses it. Channels wait for the client's re-ATTACH.
            known.generation = generation
            known.away_since = None
            known.format = fmt
            for attachment in known.channels.values():
                attachment.live = False
            return Opened(known, generation, [self._connected(known)], resumed=True)
        connection_id = secrets.token_urlsafe(9)
        connection = Connection(
            id=connection_id,
            # Ably's shape, id!secret: unguessable, so holding it is what allows a resume.
            key=f"{connection_id}!{secrets.token_urlsafe(18)}",
            format=fmt,
            connected_at=self._clock(),
            generation=generation,
        )
        self.connections[connection.id] = connection
        self._by_key[connection.key] = connection
        error = proto.unable_to_recover() if resume else None
        return Opened(connection, generation, [self._connected(connection, error)])

    def lost(self, connection_id: str, generation: int) -> None:
        """The socket ended without a CLOSE: keep the connection for a resume within the TTL."""
        connection = self.connections.get(connection_id)
        if connection is not None and connection.generation == generation:
            self._set_away(connection)

    def idle_heartbeat(self, connection_id: str) -> ProtocolMessage:
        """A HEARTBEAT for a socket with nothing else to send, so the client does not decide
        after maxIdleInterval that the connection is dead."""
        connection = self.connections.get(connection_id)
        if connection is not None:
            connection.heartbeats_sent += 1
        return proto.heartbeat()

    def receive(self, connection_id: str, generation: int, message: ProtocolMessage) -> list[Send]:
        connection = self.connections.get(connection_id)
        if connection is None or connection.generation != generation:
            return []  # a replaced or forgotten socket: whatever it says is moot
        action = message.get("action")
        replies: list[ProtocolMessage]
        if action == Action.HEARTBEAT:
            replies = [proto.heartbeat(message.get("id"))]
        elif action == Action.ATTACH:
            replies = self._attach(connection, message)
        elif action == Action.DETACH:
            replies = self._detach(connection, message)
        elif action in (Action.MESSAGE, Action.PRESENCE):
            # Publishing is not part of the subset; a NACK keeps the SDK's publish from hanging.
            channel = str(message.get("channel"))
            replies = [proto.nack(message.get("msgSerial"), proto.publish_denied(channel))]
        elif action == Action.CLOSE:
            self._forget(connection)
            return [Send(connection_id, generation, proto.closed(), close=True)]
        else:
            replies = []
        return [Send(connection_id, generation, reply) for reply in replies]

    # -- channels -----------------------------------------------------------------------------

    def _attach(self, connection: Connection, message: ProtocolMessage) -> list[ProtocolMessage]:
        channel = message.get("channel")
        if not isinstance(channel, str) or not channel:
            return []
        if channel in self.denied:
            connection.channels.pop(channel, None)
            return [proto.error(proto.channel_denied(channel), channel)]
        log = self._log(channel)
        flags = message.get("flags")
        wants_resume = isinstance(flags, int) and bool(flags & Flag.ATTACH_RESUME)
        existing = connection.channels.get(channel)
        if wants_resume and existing is not None:
            if existing.live:
                # Attached on this very socket: what was queued is on its way, nothing is missing.
                return [
                    proto.attached(
                        channel, Flag.SUBSCRIBE | Flag.RESUMED, self._serial(existing.sent)
                    )
                ]
            # Without a serial, what was queued is the best guess; a serial that is not one of
            # ours (another simulator run, garbage) cannot be continued from.
            serial = message.get("channelSerial")
            start = existing.sent if serial is None else self._parse_serial(serial)
            if start is not None and log.covers(start):
                existing.live = True
                existing.sent = log.last_seq
                backlog = [self._message(channel, entry) for entry in log.after(start)]
                # The ATTACHED carries the serial the backlog starts after: should the socket break
                # within the backlog, the client's next resume asks for the rest, not for nothing.
                flags_out = Flag.SUBSCRIBE | Flag.RESUMED
                return [proto.attached(channel, flags_out, self._serial(start)), *backlog]
        # A fresh attach (or continuity lost): live from the next message on.
        connection.channels[channel] = Attachment(sent=log.last_seq)
        return [proto.attached(channel, Flag.SUBSCRIBE, self._serial(log.last_seq))]

    def _detach(self, connection: Connection, message: ProtocolMessage) -> list[ProtocolMessage]:
        channel = message.get("channel")
        if not isinstance(channel, str) or not channel:
            return []
        connection.channels.pop(channel, None)
        return [proto.detached(channel)]

    def publish(self, channel: str, items: Iterable[ChannelMessage]) -> tuple[list[Send], int]:
        """Log each message on the channel and address it to every connection attached there
        now. Returns the sends and how many connections are subscribed (those with a socket)."""
        self._forget_expired()
        log = self._log(channel)
        now = self._clock()
        sends: list[Send] = []
        for item in items:
            log.last_seq += 1
            entry = _Logged(log.last_seq, now, item)
            log.entries.append(entry)
            for connection in self.connections.values():
                attachment = connection.channels.get(channel)
                if connection.generation is None or attachment is None or not attachment.live:
                    continue
                attachment.sent = entry.seq
                message = self._message(channel, entry)
                sends.append(Send(connection.id, connection.generation, message))
        self._trim(log, now)
        return sends, self.subscribers(channel)

    def subscribers(self, channel: str) -> int:
        # A resumed connection whose re-ATTACH is pending counts: it will get the message then.
        return sum(
            1
            for c in self.connections.values()
            if c.generation is not None and channel in c.channels
        )

    # -- faults -------------------------------------------------------------------------------

    def drop_all(self, *, forget: bool) -> list[tuple[str, int]]:
        """Every socket, to be cut without a word (connection id, generation). The connections
        stay resumable, unless `forget`: then every connection is forgotten, and a client
        coming back with its key gets a new connection id and 80008."""
        cut = [(c.id, c.generation) for c in self.connections.values() if c.generation is not None]
        if forget:
            self.connections.clear()
            self._by_key.clear()
        else:
            for connection in self.connections.values():
                self._set_away(connection)
        return cut

    def disconnect_all(self) -> list[Send]:
        """DISCONNECTED with an error to every socket, then close: the SDK reconnects and
        resumes (Ably does this when it moves a connection elsewhere)."""
        sends = []
        for connection in self.connections.values():
            if connection.generation is None:
                continue
            message = proto.disconnected(proto.server_disconnect())
            sends.append(Send(connection.id, connection.generation, message, close=True))
            self._set_away(connection)
        return sends

    def reset(self) -> None:
        """Control-API reset: no denied channels. Connections and channel history stay (the
        connected clients stay connected, as on the Socket.IO side)."""
        self.denied.clear()

    # -- views --------------------------------------------------------------------------------

    def view(self) -> list[dict[str, Any]]:
        """The connections with a socket, as `GET /control/state` lists its clients."""
        return [
            {
                "transport": "ably",
                "connection_id": c.id,
                "connected_at": _timestamp(c.connected_at),
                "format": c.format.value,
                "subscriptions": sorted(c.channels),
                "heartbeats_sent": c.heartbeats_sent,
            }
            for c in self.connections.values()
            if c.generation is not None
        ]

    def resumable_view(self) -> list[dict[str, Any]]:
        self._forget_expired()
        return [
            {
                "connection_id": c.id,
                "away_since": _timestamp(c.away_since),
                "subscriptions": sorted(c.channels),
            }
            for c in self.connections.values()
            if c.away_since is not None
        ]

    # -- helpers ------------------------------------------------------------------------------

    def _connected(
        self, connection: Connection, error: proto.ErrorInfo | None = None
    ) -> ProtocolMessage:
        return proto.connected(
            connection.id,
            connection.key,
            connection_state_ttl_ms=self.connection_state_ttl_ms,
            max_idle_interval_ms=self.max_idle_interval_ms,
            server_id=f"zehnlabs-sim-{self.instance}",
            error=error,
        )

    def _message(self, channel: str, entry: _Logged) -> ProtocolMessage:
        serial = self._serial(entry.seq)
        return proto.message(channel, serial, serial, round(entry.at * 1000), entry.message)

    def _serial(self, seq: int) -> str:
        # Zero-padded, so serials of one channel also sort as text.
        return f"{self.instance}:{seq:012d}"

    def _parse_serial(self, serial: Any) -> int | None:
        if not isinstance(serial, str):
            return None
        instance, _, seq = serial.rpartition(":")
        if instance != self.instance or not seq.isdigit():
            return None
        return int(seq)

    def _log(self, channel: str) -> ChannelLog:
        log = self.channels.get(channel)
        if log is None:
            log = self.channels[channel] = ChannelLog()
        return log

    def _trim(self, log: ChannelLog, now: float) -> None:
        # Nobody can resume from further back than the TTL.
        horizon = now - self.connection_state_ttl_ms / 1000
        while log.entries and log.entries[0].at < horizon:
            log.entries.popleft()

    def _set_away(self, connection: Connection) -> None:
        connection.generation = None
        connection.away_since = self._clock()
        for attachment in connection.channels.values():
            attachment.live = False

    def _forget(self, connection: Connection) -> None:
        self.connections.pop(connection.id, None)
        self._by_key.pop(connection.key, None)

    def _forget_expired(self) -> None:
        horizon = self._clock() - self.connection_state_ttl_ms / 1000
        for connection in list(self.connections.values()):
            if connection.away_since is not None and connection.away_since < horizon:
                self._forget(connection)


def _timestamp(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    return format_timestamp(datetime.fromtimestamp(epoch_seconds, UTC))
