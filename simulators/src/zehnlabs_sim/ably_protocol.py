"""Ably realtime protocol vocabulary: action numbers, channel flags, error bodies and the protocol
messages the simulator sends. Plain values only; no state, no sockets.

The numbers are Ably's (protocol version 5, as the `ably` SDK's `ProtocolMessageAction` and
`Flag` spell them); only what the SDK's realtime client needs to connect, attach, receive, ping,
resume and close is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any

ProtocolMessage = dict[str, Any]
"""One protocol message as a plain map, before encoding to a JSON or msgpack frame."""


class Action(IntEnum):
    HEARTBEAT = 0
    ACK = 1
    NACK = 2
    CONNECT = 3
    CONNECTED = 4
    DISCONNECT = 5
    DISCONNECTED = 6
    CLOSE = 7
    CLOSED = 8
    ERROR = 9
    ATTACH = 10
    ATTACHED = 11
    DETACH = 12
    DETACHED = 13
    PRESENCE = 14
    MESSAGE = 15


class Flag(IntFlag):
    RESUMED = 1 << 2
    """ATTACHED: the channel continues where the client left it (nothing missed)."""
    ATTACH_RESUME = 1 << 5
    """ATTACH: the client was attached before and asks to continue from its channelSerial."""
    SUBSCRIBE = 1 << 18
    """ATTACHED: the channel mode granted; the simulator's keys may only subscribe."""


@dataclass(frozen=True)
class ErrorInfo:
    code: int
    status_code: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "statusCode": self.status_code, "message": self.message}


def invalid_key(missing: bool) -> ErrorInfo:
    # 40101 makes the SDK fail the connection for good (it is not a token error it could renew).
    what = "no key given" if missing else "the key is not the simulator's --api-key"
    return ErrorInfo(40101, 401, f"Invalid key in request: {what}")


def channel_denied(channel: str) -> ErrorInfo:
    return ErrorInfo(
        40160,
        401,
        f"Channel denied access based on given capability: attaching to channel '{channel}' "
        "is not permitted (denied through the simulator's control API)",
    )


def publish_denied(channel: str) -> ErrorInfo:
    return ErrorInfo(
        40160,
        401,
        f"Unable to publish to channel '{channel}': publishing is not permitted "
        "(the simulator's keys may only subscribe)",
    )


def unable_to_recover() -> ErrorInfo:
    return ErrorInfo(
        80008,
        400,
        "Unable to recover connection: the resume key is unknown or expired "
        "(continuity lost; messages published meanwhile are not delivered)",
    )


def server_disconnect() -> ErrorInfo:
    # A 4xx status: the SDK reconnects (and resumes) at once. A 5xx would send it looking for
    # fallback hosts, which a local endpoint does not have.
    return ErrorInfo(80003, 400, "Connection disconnected by the server (simulated)")


@dataclass(frozen=True)
class ChannelMessage:
    """One Ably message as published on a channel; `data` is native (str, dict, list, ...)."""

    id: str
    name: str | None
    data: Any


# -- what the server sends --------------------------------------------------------------------


def connected(
    connection_id: str,
    connection_key: str,
    *,
    connection_state_ttl_ms: int,
    max_idle_interval_ms: int,
    server_id: str,
    error: ErrorInfo | None = None,
) -> ProtocolMessage:
    message: ProtocolMessage = {
        "action": Action.CONNECTED,
        "connectionId": connection_id,
        # clientId is left out: a null or absent clientId keeps the SDK anonymous.
        "connectionDetails": {
            "connectionKey": connection_key,
            "connectionStateTtl": connection_state_ttl_ms,
            "maxIdleInterval": max_idle_interval_ms,
            "serverId": server_id,
        },
    }
    if error is not None:
        message["error"] = error.as_dict()
    return message


def heartbeat(ping_id: Any = None) -> ProtocolMessage:
    message: ProtocolMessage = {"action": Action.HEARTBEAT}
    if ping_id is not None:
        # The SDK matches the echo to its ping by this id.
        message["id"] = ping_id
    return message


def attached(channel: str, flags: Flag, channel_serial: str) -> ProtocolMessage:
    return {
        "action": Action.ATTACHED,
        "channel": channel,
        "flags": int(flags),
        "channelSerial": channel_serial,
    }


def detached(channel: str) -> ProtocolMessage:
    return {"action": Action.DETACHED, "channel": channel}


def error(info: ErrorInfo, channel: str | None = None) -> ProtocolMessage:
    """A channel error (the SDK fails that channel only) or, without a channel, a connection
    error (the SDK fails the connection)."""
    message: ProtocolMessage = {"action": Action.ERROR, "error": info.as_dict()}
    if channel is not None:
        message["channel"] = channel
    return message


def nack(msg_serial: Any, info: ErrorInfo) -> ProtocolMessage:
    return {"action": Action.NACK, "msgSerial": msg_serial, "count": 1, "error": info.as_dict()}


def disconnected(info: ErrorInfo) -> ProtocolMessage:
    return {"action": Action.DISCONNECTED, "error": info.as_dict()}


def closed() -> ProtocolMessage:
    return {"action": Action.CLOSED}


def message(
    channel: str,
    protocol_id: str,
    channel_serial: str,
    timestamp_ms: int,
    item: ChannelMessage,
) -> ProtocolMessage:
    """One MESSAGE carrying one channel message; its data is still native (see ably_codec)."""
    entry: dict[str, Any] = {"id": item.id, "timestamp": timestamp_ms}
    if item.name is not None:
        entry["name"] = item.name
    if item.data is not None:
        entry["data"] = item.data
    return {
        "action": Action.MESSAGE,
        "channel": channel,
        "id": protocol_id,
        "channelSerial": channel_serial,
        "timestamp": timestamp_ms,
        "messages": [entry],
    }
