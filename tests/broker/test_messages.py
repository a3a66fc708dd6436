"""Validating raw stream messages from either transport: a typed message, or the reason it is
dropped (never raises)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from event_broker.messages import (
    MESSAGE_MAX_BYTES,
    Delivered,
    Dropped,
    StreamMessage,
    from_ably,
    from_socketio,
    parse_message,
)
from rebalancer_shared.events import Command

FOLLOWED = {"demo-etf-blend", "all-weather"}


def parse_message_args(args: tuple[Any, ...], followed: set[str]) -> StreamMessage | Dropped:
    """A Socket.IO `event` through both steps, as the broker does."""
    delivered = from_socketio(args)
    return parse_message(delivered, followed) if isinstance(delivered, Delivered) else delivered


def parse_ably(data: object, message_id: object = "zl-msg-1") -> StreamMessage | Dropped:
    delivered = from_ably("demo-etf-blend", message_id, data)
    return parse_message(delivered, FOLLOWED) if isinstance(delivered, Delivered) else delivered


def test_a_valid_event_keeps_every_field_as_payload() -> None:
    raw = {"id": "e-1", "strategy": "demo-etf-blend", "exec": "rebalance", "note": "month end"}
    parsed = parse_message_args((raw,), FOLLOWED)
    assert parsed == StreamMessage(
        id="e-1", strategy="demo-etf-blend", command=Command.REBALANCE, payload=raw
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((), "expected one argument (the event object), got 0"),
        (({}, {}), "expected one argument (the event object), got 2"),
        ((["not", "an", "event"],), "expected a JSON object, got a list: ['not', 'an', 'event']"),
        (("rebalance",), "expected a JSON object, got a string: 'rebalance'"),
        ((None,), "expected a JSON object, got null: None"),
        (({"strategy": "demo-etf-blend", "exec": "rebalance"},), "field id: missing"),
        (
            ({"id": 7, "strategy": "demo-etf-blend", "exec": "rebalance"},),
            "field id: 7 is not a non-empty string",
        ),
        (
            ({"id": "e-1", "strategy": "  ", "exec": "rebalance"},),
            "field strategy: '  ' is not a non-empty string",
        ),
        (({"id": "e-1", "strategy": "demo-etf-blend"},), "field exec: missing"),
        (
            ({"id": "x" * 201, "strategy": "demo-etf-blend", "exec": "rebalance"},),
            "field id: 201 characters, at most 200",
        ),
    ],
)
def test_malformed_messages_are_dropped_with_the_reason(args: tuple[Any, ...], reason: str) -> None:
    parsed = parse_message_args(args, FOLLOWED)
    assert isinstance(parsed, Dropped)
    assert parsed.reason == reason


def test_an_unknown_command_is_dropped_naming_the_choices() -> None:
    parsed = parse_message_args(
        ({"id": "e-1", "strategy": "demo-etf-blend", "exec": "sell-everything"},), FOLLOWED
    )
    assert isinstance(parsed, Dropped)
    assert parsed.reason.startswith("field exec: unknown command 'sell-everything': expected")
    assert "print-rebalance" in parsed.reason
    assert (parsed.message_id, parsed.strategy) == ("e-1", "demo-etf-blend")


def test_a_strategy_no_enabled_account_follows_is_dropped() -> None:
    parsed = parse_message_args(
        ({"id": "e-1", "strategy": "momentum", "exec": "rebalance"},), FOLLOWED
    )
    assert isinstance(parsed, Dropped)
    assert parsed.reason == (
        "strategy 'momentum' is not followed by any enabled account of this trading mode"
    )


def test_binary_data_is_dropped_as_not_storable() -> None:
    raw = {"id": "e-1", "strategy": "demo-etf-blend", "exec": "rebalance", "blob": b"\x00\xff"}
    parsed = parse_message_args((raw,), FOLLOWED)
    assert isinstance(parsed, Dropped)
    assert parsed.reason.startswith("not storable as JSON")


def test_a_huge_garbage_value_is_quoted_short() -> None:
    parsed = parse_message_args(("x" * 10_000,), FOLLOWED)
    assert isinstance(parsed, Dropped)
    assert len(parsed.reason) < 150


# --- Ably: the channel is the strategy, the Ably message id is the id ------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"exec": "rebalance", "note": "month end"},
        '{"exec": "rebalance", "note": "month end"}',
        b'{"exec": "rebalance", "note": "month end"}',
    ],
)
def test_ably_data_is_an_object_or_its_json_text(data: object) -> None:
    assert parse_ably(data) == StreamMessage(
        id="zl-msg-1",
        strategy="demo-etf-blend",
        command=Command.REBALANCE,
        payload={"exec": "rebalance", "note": "month end"},
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("rebalance now", "data: not JSON: 'rebalance now'"),
        ('["exec", "rebalance"]', "expected a JSON object, got a list: ['exec', 'rebalance']"),
        ("42", "expected a JSON object, got a number: 42"),
        (None, "expected a JSON object, got null: None"),
        ({"note": "no command"}, "field exec: missing"),
        (b"\xff\xfe", "data: binary, not UTF-8 text"),
    ],
)
def test_ably_garbage_is_dropped_with_the_reason(data: object, reason: str) -> None:
    parsed = parse_ably(data)
    assert isinstance(parsed, Dropped)
    assert parsed.reason == reason


def test_an_ably_message_without_an_id_is_dropped() -> None:
    parsed = parse_ably({"exec": "rebalance"}, message_id=None)
    assert isinstance(parsed, Dropped)
    assert parsed.reason == "field id: missing"
    assert parsed.strategy == "demo-etf-blend"


@pytest.mark.parametrize(
    "data",
    [
        {"exec": "rebalance", "note": "\ud800"},
        '{"exec": "rebalance", "note": "\\ud800"}',
        {"exec": "rebalance", "\udfff": "key"},
    ],
)
def test_a_lone_surrogate_anywhere_is_dropped_before_it_reaches_redis(data: object) -> None:
    parsed = parse_ably(data)
    assert isinstance(parsed, Dropped)
    assert parsed.reason.startswith("not valid Unicode: a lone surrogate")
    socketio = parse_message_args(
        ({"id": "e-1", "strategy": "demo-etf-blend", "exec": "rebalance", "x": "\ud800"},),
        FOLLOWED,
    )
    assert isinstance(socketio, Dropped) and socketio.reason.startswith("not valid Unicode")


def test_a_message_over_64_kib_is_dropped_whatever_its_transport() -> None:
    big = {"exec": "rebalance", "note": "x" * MESSAGE_MAX_BYTES}
    for parsed in (
        parse_ably(big),
        parse_ably(json.dumps(big)),
        parse_message_args(({"id": "e-1", "strategy": "demo-etf-blend", **big},), FOLLOWED),
    ):
        assert isinstance(parsed, Dropped)
        assert parsed.reason.endswith(f"bytes, at most {MESSAGE_MAX_BYTES}")
    just_fits = {"exec": "rebalance", "note": "x" * (MESSAGE_MAX_BYTES - 100)}
    assert isinstance(parse_ably(just_fits), StreamMessage)


def test_a_huge_strategy_name_is_quoted_short() -> None:
    parsed = parse_message_args(
        ({"id": "e-1", "strategy": "s" * 5000, "exec": "rebalance"},), FOLLOWED
    )
    assert isinstance(parsed, Dropped)
    assert len(parsed.reason) < 200
    assert parsed.strategy is not None and len(parsed.strategy) <= 80
