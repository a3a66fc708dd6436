"""Pure: what an event source delivered -> a StreamMessage, or why it is dropped.

Every transport hands over the same three things (`Delivered`): the message id, the strategy it
was published for, and the data. How a transport finds them differs, and lives in its own
function here:

- Socket.IO (our contract): one `event` argument, a JSON object `{"id", "strategy", "exec", ...}`
  (`from_socketio`);
- Ably (what Zehnlabs serves): the Ably message's `id`, the channel name as the strategy, and the
  message data, a JSON object or the JSON text of one (`from_ably`).

`parse_message` then applies the rules every transport shares (SPEC section 4): at most 64 KiB,
valid Unicode (a lone surrogate cannot be stored), an object with a known `exec`, a usable id, a
strategy an enabled account follows. Anything else becomes `Dropped` with a reason a person can
act on, quoted short. Nothing here raises, whatever a server sends.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from rebalancer_shared.events import Command, UnknownCommandError, parse_command

MESSAGE_MAX_BYTES = 64 * 1024
"""A real event is a few hundred bytes; a bigger one is garbage or an attack, and is not stored."""

MESSAGE_ID_MAX_LENGTH = 200
"""Longer ids are refused: the id becomes a Redis key, and no real id is that long."""

SHOWN_VALUE_LENGTH = 80
"""How much of a bad value a drop reason quotes (a flood of garbage must not flood the log)."""


@dataclass(frozen=True)
class Delivered:
    """One message as a transport delivered it, before any validation."""

    message_id: object
    strategy: object
    data: object


@dataclass(frozen=True)
class StreamMessage:
    """A valid stream event: run `command` for every enabled account of `strategy`."""

    id: str
    strategy: str
    command: Command
    payload: dict[str, Any]  # the message data as received, carried in each queued event


@dataclass(frozen=True)
class Dropped:
    """A message that is not enqueued, and why."""

    reason: str
    message_id: str | None = None
    strategy: str | None = None


def from_socketio(args: tuple[Any, ...]) -> Delivered | Dropped:
    """The arguments of one Socket.IO `event`: the id and strategy are fields of the object."""
    if len(args) != 1:
        return Dropped(f"expected one argument (the event object), got {len(args)}")
    raw = args[0]
    if not isinstance(raw, dict):
        return Dropped(f"expected a JSON object, got {_kind(raw)}: {shown(raw)}")
    return Delivered(message_id=raw.get("id"), strategy=raw.get("strategy"), data=raw)


def from_ably(channel: str, message_id: object, data: object) -> Delivered | Dropped:
    """One Ably message on a strategy's channel; data that is text must be the JSON of an object
    (Zehnlabs sends either)."""
    if isinstance(data, bytes | bytearray):
        if len(data) > MESSAGE_MAX_BYTES:
            return _too_big(len(data), message_id, channel)
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return Dropped("data: binary, not UTF-8 text", _text_or_none(message_id), channel)
    if isinstance(data, str):
        size = len(data.encode("utf-8", "surrogatepass"))
        if size > MESSAGE_MAX_BYTES:
            return _too_big(size, message_id, channel)
        try:
            data = json.loads(data)
        except ValueError:
            reason = f"data: not JSON: {shown(data)}"
            return Dropped(reason, _text_or_none(message_id), channel)
    return Delivered(message_id=message_id, strategy=channel, data=data)


def parse_message(delivered: Delivered, followed: Collection[str]) -> StreamMessage | Dropped:
    """Validate one delivered message against the rules and the strategies we follow."""
    raw = delivered.data
    if not isinstance(raw, dict):
        return Dropped(f"expected a JSON object, got {_kind(raw)}: {shown(raw)}")
    message_id, id_problem = _text_field(delivered.message_id, "id")
    strategy, strategy_problem = _text_field(delivered.strategy, "strategy")
    where = {"message_id": _text_or_none(message_id), "strategy": _text_or_none(strategy)}
    if id_problem or strategy_problem or message_id is None or strategy is None:
        return Dropped(id_problem or strategy_problem or "no id or strategy", **where)
    if len(message_id) > MESSAGE_ID_MAX_LENGTH:
        return Dropped(
            f"field id: {len(message_id)} characters, at most {MESSAGE_ID_MAX_LENGTH}",
            strategy=strategy,
        )
    try:
        # The payload is stored as JSON in the queue: what cannot be written there is refused
        # here, once, instead of failing at every redelivery.
        stored = json.dumps(raw, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return Dropped("not valid Unicode: a lone surrogate (such as \\ud800) in a field", **where)
    except (TypeError, ValueError) as error:
        return Dropped(f"not storable as JSON: {error}", **where)
    if len(stored) > MESSAGE_MAX_BYTES:
        return _too_big(len(stored), message_id, strategy)
    if "exec" not in raw:
        return Dropped("field exec: missing", **where)
    try:
        command = parse_command(raw["exec"])
    except UnknownCommandError as error:
        return Dropped(f"field exec: {error}", **where)
    if strategy not in followed:
        return Dropped(
            f"strategy {shown(strategy)} is not followed by any enabled account of this trading "
            "mode",
            **where,
        )
    return StreamMessage(id=message_id, strategy=strategy, command=command, payload=dict(raw))


def _too_big(size: int, message_id: object, strategy: object) -> Dropped:
    return Dropped(
        f"{size} bytes, at most {MESSAGE_MAX_BYTES}",
        _text_or_none(message_id),
        _text_or_none(strategy),
    )


def _text_field(value: object, name: str) -> tuple[str | None, str | None]:
    """(the field's stripped text, None), or (None, the reason it is not usable)."""
    if value is None:
        return None, f"field {name}: missing"
    if not isinstance(value, str) or not value.strip():
        return None, f"field {name}: {shown(value)} is not a non-empty string"
    return value.strip(), None


def _text_or_none(value: object) -> str | None:
    """A value for the `message_id`/`strategy` fields of a drop log line, quoted short."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= SHOWN_VALUE_LENGTH else shown(value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    kinds = {
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        bytes: "binary data",
    }
    return kinds.get(type(value), f"a {type(value).__name__}")


def shown(value: object) -> str:
    """A short quote of a value for a log line."""
    text = repr(value)
    if len(text) <= SHOWN_VALUE_LENGTH:
        return text
    return text[: SHOWN_VALUE_LENGTH - 3] + "..."
