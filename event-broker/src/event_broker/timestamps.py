"""Pure: is one `last_rebalance_on` newer than another?

Zehnlabs serves ISO-8601 (`2026-01-02T20:45:00Z`). Values are compared as instants, so
`20:45:00Z` and `21:45:00+01:00` are the same publication; a value without a time zone is taken
as UTC. Should either value not parse, the two are compared as strings (which orders ISO-8601 of
one format correctly) and the caller logs that it had to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Comparison:
    newer: bool
    as_strings: bool  # True when a value did not parse as a timestamp


def parse_timestamp(text: str) -> datetime | None:
    """The instant `text` names, or None when it is not ISO-8601."""
    value = text.strip()
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def compare(candidate: str, recorded: str) -> Comparison:
    """Whether `candidate` is later than `recorded`."""
    new, old = parse_timestamp(candidate), parse_timestamp(recorded)
    if new is None or old is None:
        return Comparison(newer=candidate.strip() > recorded.strip(), as_strings=True)
    return Comparison(newer=new > old, as_strings=False)
