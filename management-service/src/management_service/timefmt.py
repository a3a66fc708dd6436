"""Unix seconds to aware datetimes, the one conversion the routes share."""

from __future__ import annotations

from datetime import UTC, datetime


def from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse_iso(value: object) -> datetime | None:
    """An ISO timestamp from a history record, or None when it is missing or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
