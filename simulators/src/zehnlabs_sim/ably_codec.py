"""Protocol messages to and from WebSocket frames, in the two formats the `ably` SDK speaks.

`json` (the SDK's `use_binary_protocol=False`): text frames. Message data that is not a string
travels as its JSON text with `encoding: "json"`, the way Ably sends objects on the JSON
protocol; the SDK decodes it back (`Message.from_encoded`).

`msgpack` (the SDK's default, `format=msgpack` in the URL): binary frames, data as native
msgpack (a map stays a map). What msgpack cannot carry (a string with a lone surrogate, an
integer beyond 64 bits) is sent as its ASCII-escaped JSON text with `encoding: "json"` instead,
so the SDK still decodes exactly what was published: test payloads must reach the client.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import msgpack  # type: ignore[import-untyped]

from zehnlabs_sim.ably_protocol import ProtocolMessage

# What msgpack raises for values it cannot carry: lone surrogates (UnicodeEncodeError, a
# ValueError), integers beyond 64 bits (OverflowError), anything else odd (TypeError).
_UNPACKABLE = (ValueError, OverflowError, TypeError)


class Format(StrEnum):
    JSON = "json"
    MSGPACK = "msgpack"


def decode_frame(frame: str | bytes) -> ProtocolMessage | None:
    """A client frame as a protocol message; None when it is not one. Text frames are JSON and
    binary frames msgpack whatever the connection's format: being lenient costs nothing here."""
    try:
        decoded = json.loads(frame) if isinstance(frame, str) else msgpack.unpackb(frame)
    # msgpack's own errors are ValueErrors too, save one; deep nesting overflows json's stack.
    except (ValueError, RecursionError, msgpack.UnpackException):
        return None
    return decoded if isinstance(decoded, dict) else None


def encode_frame(message: ProtocolMessage, fmt: Format) -> str | bytes:
    if fmt is Format.JSON:
        return _encode_json(message)
    return _encode_msgpack(message)


def _encode_json(message: ProtocolMessage) -> str:
    items = message.get("messages")
    if items:
        message = {**message, "messages": [_json_data(item) for item in items]}
    # ensure_ascii (the default) turns lone surrogates into \ud800 escapes, which are valid JSON
    # text and decode back to the same string; a raw surrogate could not be sent as UTF-8.
    return json.dumps(message)


def _json_data(item: dict[str, Any]) -> dict[str, Any]:
    data = item.get("data")
    if data is None or isinstance(data, str):
        return item
    return {**item, "data": json.dumps(data), "encoding": "json"}


def _encode_msgpack(message: ProtocolMessage) -> bytes:
    try:
        packed: bytes = msgpack.packb(message)
    except _UNPACKABLE:
        packed = msgpack.packb(_packable(message))
    return packed


def _packable(message: ProtocolMessage) -> ProtocolMessage:
    """The message with every value msgpack refused made carriable: message data as its JSON
    text (decoded back by the SDK), any other string ASCII-escaped."""
    items = message.get("messages") or []
    fixed = {key: _safe(value) for key, value in message.items() if key != "messages"}
    if items:
        fixed["messages"] = [_packable_item(item) for item in items]
    return fixed


def _packable_item(item: dict[str, Any]) -> dict[str, Any]:
    fixed = {key: _safe(value) for key, value in item.items() if key != "data"}
    if "data" in item:
        data = item["data"]
        try:
            msgpack.packb(data)
        except _UNPACKABLE:
            fixed["data"] = json.dumps(data)
            fixed["encoding"] = "json"
        else:
            fixed["data"] = data
    return fixed


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value)[1:-1]
        return value
    if isinstance(value, dict):
        return {_safe(key): _safe(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_safe(inner) for inner in value]
    return value
