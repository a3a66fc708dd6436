"""Validating raw stream messages: a typed message, or the reason it is dropped (never raises)."""

from __future__ import annotations

from typing import Any

import pytest
from event_broker.messages import Dropped, StreamMessage, parse_message
from rebalancer_shared.events import Command

FOLLOWED = {"demo-etf-blend", "all-weather"}


def test_a_valid_event_keeps_every_field_as_payload() -> None:
    raw = {"id": "e-1", "strategy": "demo-etf-blend", "exec": "rebalance", "note": "month end"}
    parsed = parse_message((raw,), FOLLOWED)
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
    parsed = parse_message(args, FOLLOWED)
    assert isinstance(parsed, Dropped)
    assert parsed.reason == reason


def test_an_unknown_command_is_dropped_naming_the_choices() -> None:
    parsed = parse_message(
        ({"id": "e-1", "strategy": "demo-etf-blend", "exec": "sell-everything"},), FOLLOWED
    )
    assert isinstance(parsed, Dropped)
    assert parsed.reason.startswith("field exec: unknown command 'sell-everything': expected")
    assert "print-rebalance" in parsed.reason
    assert (parsed.message_id, parsed.strategy) == ("e-1", "demo-etf-blend")


def test_a_strategy_no_enabled_account_follows_is_dropped() -> None:
    parsed = parse_message(({"id": "e-1", "strategy": "momentum", "exec": "rebalance"},), FOLLOWED)
    assert isinstance(parsed, Dropped)
    assert parsed.reason == (
        "strategy 'momentum' is not followed by any enabled account of this trading mode"
    )


def test_binary_data_is_dropped_as_not_storable() -> None:
    raw = {"id": "e-1", "strategy": "demo-etf-blend", "exec": "rebalance", "blob": b"\x00\xff"}
    parsed = parse_message((raw,), FOLLOWED)
    assert isinstance(parsed, Dropped)
    assert parsed.reason.startswith("not storable as JSON")


def test_a_huge_garbage_value_is_quoted_short() -> None:
    parsed = parse_message(("x" * 10_000,), FOLLOWED)
    assert isinstance(parsed, Dropped)
    assert len(parsed.reason) < 150
