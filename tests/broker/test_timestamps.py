"""Comparing `last_rebalance_on` values as instants, and as strings when they do not parse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from event_broker.timestamps import Comparison, compare, parse_timestamp


def test_zulu_and_offsets_name_the_same_instant() -> None:
    assert parse_timestamp("2026-01-02T20:45:00Z") == datetime(2026, 1, 2, 20, 45, tzinfo=UTC)
    assert compare("2026-01-02T21:45:00+01:00", "2026-01-02T20:45:00Z") == Comparison(
        newer=False, as_strings=False
    )


@pytest.mark.parametrize(
    ("candidate", "recorded", "newer"),
    [
        ("2026-01-02T20:45:01Z", "2026-01-02T20:45:00Z", True),
        ("2026-01-02T20:45:00Z", "2026-01-02T20:45:00Z", False),
        ("2026-01-02T20:44:59Z", "2026-01-02T20:45:00Z", False),
        # A later day in an earlier-looking string: only instants get this right.
        ("2026-01-03T01:00:00+05:00", "2026-01-02T19:30:00Z", True),
        ("2026-01-02T20:45:00.250Z", "2026-01-02T20:45:00Z", True),
        ("2026-01-02 20:46:00", "2026-01-02T20:45:00Z", True),  # no zone: UTC
    ],
)
def test_compare_as_instants(candidate: str, recorded: str, newer: bool) -> None:
    assert compare(candidate, recorded) == Comparison(newer=newer, as_strings=False)


def test_unparsable_values_are_compared_as_strings_and_say_so() -> None:
    assert compare("week 2", "week 1") == Comparison(newer=True, as_strings=True)
    assert compare("yesterday", "2026-01-02T20:45:00Z") == Comparison(newer=True, as_strings=True)
    assert parse_timestamp("yesterday") is None
