"""Pure: one raw `event` message from the stream -> a StreamMessage, or why it is dropped.

The server emits `event` with one JSON object `{"id": str, "strategy": str, "exec": str, ...}`
(SPEC section 4). Anything else (no argument, several, a list, a string, a missing or empty
field, an unknown command, a strategy no enabled account follows) becomes `Dropped` with a
reason a person can act on. Nothing here raises, whatever the server sends.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from rebalancer_shared.events import Command, UnknownCommandError, parse_command

MESSAGE_ID_MAX_LENGTH = 200
"""Longer ids are refused: the id becomes a Redis key, and no real id is that long."""

SHOWN_VALUE_LENGTH = 80
"""How much of a bad value a drop reason quotes (a flood of garbage must not flood the log)."""


@dataclass(frozen=True)
class StreamMessage:
    """A valid stream event: run `command` for every enabled account of `strategy`."""

    id: str
    strategy: str
    command: Command
    payload: dict[str, Any]  # the message as received, carried in each queued event


@dataclass(frozen=True)
class Dropped:
    """A message that is not enqueued, and why."""

    reason: str
    message_id: str | None = None
    strategy: str | None = None


def parse_message(args: tuple[Any, ...], followed: Collection[str]) -> StreamMessage | Dropped:
    """Validate the arguments of one `event` message against the strategies we follow."""
    if len(args) != 1:
        return Dropped(f"expected one argument (the event object), got {len(args)}")
    raw = args[0]
    if not isinstance(raw, dict):
        return Dropped(f"expected a JSON object, got {_kind(raw)}: {shown(raw)}")
    message_id, id_problem = _text_field(raw, "id")
    strategy, strategy_problem = _text_field(raw, "strategy")
    where = {"message_id": message_id, "strategy": strategy}
    if id_problem or strategy_problem or message_id is None or strategy is None:
        return Dropped(id_problem or strategy_problem or "no id or strategy", **where)
    if len(message_id) > MESSAGE_ID_MAX_LENGTH:
        return Dropped(
            f"field id: {len(message_id)} characters, at most {MESSAGE_ID_MAX_LENGTH}",
            strategy=strategy,
        )
    if "exec" not in raw:
        return Dropped("field exec: missing", **where)
    try:
        command = parse_command(raw["exec"])
    except UnknownCommandError as error:
        return Dropped(f"field exec: {error}", **where)
    if strategy not in followed:
        return Dropped(
            f"strategy {strategy!r} is not followed by any enabled account of this trading mode",
            **where,
        )
    try:
        # The payload is stored as JSON in the queue; a binary attachment cannot be.
        json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError) as error:
        return Dropped(f"not storable as JSON: {error}", **where)
    return StreamMessage(id=message_id, strategy=strategy, command=command, payload=dict(raw))


def _text_field(raw: dict[Any, Any], name: str) -> tuple[str | None, str | None]:
    """(the field's stripped text, None), or (None, the reason it is not usable)."""
    if name not in raw:
        return None, f"field {name}: missing"
    value = raw[name]
    if not isinstance(value, str) or not value.strip():
        return None, f"field {name}: {shown(value)} is not a non-empty string"
    return value.strip(), None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {list: "a list", str: "a string", bool: "a boolean", bytes: "binary data"}.get(
        type(value), f"a {type(value).__name__}"
    )


def shown(value: object) -> str:
    """A short quote of a value for a log line."""
    text = repr(value)
    if len(text) <= SHOWN_VALUE_LENGTH:
        return text
    return text[: SHOWN_VALUE_LENGTH - 3] + "..."
