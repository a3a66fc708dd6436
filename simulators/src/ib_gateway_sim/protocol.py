"""The TWS socket protocol's framing: handshake, length prefixes, NUL-terminated fields.

A connection starts with the client sending `API\\0` followed by one length-prefixed text,
`v<min>..<max>[ <options>]`, the range of protocol versions it speaks. The server answers with
one message of two fields, the chosen version and its time. From then on every message in
either direction is a 4-byte big-endian length followed by fields, each terminated by NUL;
the first field is the message id.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

API_PREFIX = b"API\0"
# A message larger than this is not something a TWS client sends; treat it as garbage.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# IB's "no value" markers, accepted wherever a number may be unset.
UNSET_INTEGER = 2**31 - 1
UNSET_DOUBLE = 1.7976931348623157e308

Field = str | int | float | bool | None

_LENGTH = struct.Struct(">I")
_VERSION_RANGE = re.compile(r"^v(\d+)(?:\.\.(\d+))?(?:\s+(.*))?$")


class ProtocolError(Exception):
    """The peer sent bytes that are not the TWS protocol; the connection cannot go on."""


class FieldError(Exception):
    """One message is malformed (missing or unparsable field); the connection can go on."""


@dataclass(frozen=True)
class ClientVersions:
    """What the client announced in its handshake."""

    min_version: int
    max_version: int
    options: str


def parse_client_versions(text: str) -> ClientVersions:
    """Parse `v157..178` (or `v178`, optionally followed by connect options)."""
    match = _VERSION_RANGE.match(text.strip())
    if match is None:
        raise ProtocolError(f"handshake: expected 'v<min>..<max>', got {text[:40]!r}")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if high < low:
        raise ProtocolError(f"handshake: empty version range {text[:40]!r}")
    return ClientVersions(low, high, (match.group(3) or "").strip())


def negotiate_version(client: ClientVersions, server_min: int, server_max: int) -> int | None:
    """The highest version both sides speak, or None when the ranges do not meet."""
    version = min(client.max_version, server_max)
    if version < max(client.min_version, server_min):
        return None
    return version


def format_field(value: Field) -> str:
    """One field as TWS writes it: bools as 1/0, None as empty, whole floats without `.0`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))  # int() so that an IntEnum member is written as its number
    if isinstance(value, float):
        if math.isinf(value):
            return "Infinite"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(round(value, 8))
    return value.replace("\0", "")


def encode_message(fields: Iterable[Field]) -> bytes:
    """Length prefix plus NUL-terminated fields."""
    payload = "".join(format_field(field) + "\0" for field in fields).encode()
    return _LENGTH.pack(len(payload)) + payload


def encode_handshake_reply(server_version: int, connection_time: str) -> bytes:
    return encode_message([server_version, connection_time])


class FrameDecoder:
    """Splits a byte stream into messages, each a list of string fields."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[list[str]]:
        self._buffer += data
        messages: list[list[str]] = []
        while len(self._buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer)
            if size > MAX_MESSAGE_BYTES:
                raise ProtocolError(f"message of {size} bytes is larger than any TWS request")
            end = _LENGTH.size + size
            if len(self._buffer) < end:
                break
            payload = bytes(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            fields = payload.decode(errors="replace").split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            messages.append(fields)
        return messages

    def take_rest(self) -> bytes:
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


class FieldReader:
    """Reads the fields of one request in order, with IB's conventions for empty values."""

    def __init__(self, fields: Sequence[str], position: int = 0) -> None:
        self._fields = fields
        self._position = position

    @property
    def remaining(self) -> int:
        return len(self._fields) - self._position

    def read_str(self) -> str:
        if self._position >= len(self._fields):
            raise FieldError(f"message ends after {len(self._fields)} fields")
        value = self._fields[self._position]
        self._position += 1
        return value

    def read_optional_str(self) -> str:
        """A field that newer clients send and older ones omit."""
        return self.read_str() if self.remaining > 0 else ""

    def read_int(self, default: int = 0) -> int:
        text = self.read_str().strip()
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise FieldError(f"expected an integer, got {text!r}") from None
        if not number.is_integer():
            raise FieldError(f"expected an integer, got {text!r}")
        return int(number)

    def read_float(self, default: float = 0.0) -> float:
        text = self.read_str().strip()
        if not text:
            return default
        if text == "Infinite":
            return math.inf
        try:
            return float(text)
        except ValueError:
            raise FieldError(f"expected a number, got {text!r}") from None

    def read_bool(self) -> bool:
        return self.read_int() != 0

    def skip(self, count: int = 1) -> None:
        for _ in range(count):
            self.read_str()


def is_unset(value: float) -> bool:
    """IB marks unset numbers with its max int or max double."""
    return value in (UNSET_INTEGER, UNSET_DOUBLE)
