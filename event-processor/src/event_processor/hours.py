"""IB trading-hours strings -> sessions; is a symbol open now, and when does it open next.

Pure: no I/O and no clock. The caller passes `now` (an aware datetime) and the strings IB puts in
a contract's details: `liquidHours` (the regular session) or `tradingHours` (extended hours
included), with the contract's `timeZoneId`. A string looks like

    20261125:0930-20261125:1600;20261126:CLOSED;20261127:0930-20261127:1300

Ranges may span days (`20261122:1700-20261123:1600` for products trading overnight). The old
format without a date on the right (`20261123:0930-1600`, several ranges of one day separated by
commas) is accepted too; there an end at or before the start means the range ends the next day.

Sessions are UTC, sorted, and never overlap: ranges that touch or overlap are merged, so
"open" is simply "inside one session". An event touching several symbols runs only when every
symbol is open at the same moment (SPEC section 6, all or none): `earliest_all_open`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CLOSED = "CLOSED"

# Time zone ids IB has written that zoneinfo does not know, or knows as something else. `EST`
# is the trap: zoneinfo's `EST` is a fixed UTC-5 with no daylight saving, but IB means New York
# civil time, so trusting zoneinfo would shift every summer session by an hour. The others are
# Java's legacy three-letter ids (TWS is a Java program) for exchanges' zones.
IB_TIME_ZONE_ALIASES: Mapping[str, str] = {
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "EST5EDT": "America/New_York",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "CST6CDT": "America/Chicago",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "JST": "Asia/Tokyo",
    "CTT": "Asia/Shanghai",
    "HKT": "Asia/Hong_Kong",
    "IST": "Asia/Kolkata",
    "AET": "Australia/Sydney",
    "ECT": "Europe/Paris",
    "CET": "Europe/Berlin",
}

_DAY = re.compile(r"^(\d{8})$")
_CLOCK = re.compile(r"^(\d{2})(\d{2})$")
_DATED_CLOCK = re.compile(r"^(\d{8}):(\d{4})$")


class HoursError(ValueError):
    """A trading-hours string or time zone id that cannot be read; the message names the part."""


# Builds the HoursError for one fragment from the reason, so helpers name the whole fragment.
_Fail = Callable[[str], HoursError]


@dataclass(frozen=True, order=True)
class Session:
    """One open period, `start` inclusive, `end` exclusive, both aware and in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError(f"session {self.start} - {self.end}: start and end must be aware")
        # Normalised so equal instants compare and print the same whatever zone built them.
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        if self.end <= self.start:
            raise ValueError(f"session {self.start} - {self.end}: end is not after start")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def resolve_time_zone(time_zone_id: str) -> tzinfo:
    """The zoneinfo zone for an IB `timeZoneId` (IANA names, IB's legacy ids via the aliases)."""
    name = time_zone_id.strip()
    if not name:
        raise HoursError("time zone id is empty: contract details carry no timeZoneId")
    name = IB_TIME_ZONE_ALIASES.get(name.upper(), name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(
            f"time zone id {time_zone_id!r} is not known to zoneinfo nor one of IB's legacy ids "
            f"({', '.join(sorted(IB_TIME_ZONE_ALIASES))})"
        ) from None


def pick_hours(liquid_hours: str, trading_hours: str, extended_hours_enabled: bool) -> str:
    """The hours string to trade in: `tradingHours` with EXTENDED_HOURS_ENABLED, else
    `liquidHours`.

    With extended hours on and no `tradingHours` given, the regular session is used: narrower is
    safe. The other way round never happens: without the opt-in, extended hours are never used.
    """
    if extended_hours_enabled and trading_hours.strip():
        return trading_hours
    return liquid_hours


def parse_hours(hours: str, time_zone_id: str) -> list[Session]:
    """Sessions of an IB hours string, sorted, merged where they touch; closed days add none.

    Raises HoursError naming the fragment that cannot be read.
    """
    zone = resolve_time_zone(time_zone_id)
    if not hours.strip():
        raise HoursError(f"trading hours string is empty (time zone {time_zone_id})")
    sessions: list[Session] = []
    for fragment in hours.split(";"):
        fragment = fragment.strip()
        if fragment:  # IB ends some strings with ';'
            sessions.extend(_parse_fragment(fragment, zone, time_zone_id))
    return _merge(sessions)


def _parse_fragment(fragment: str, zone: tzinfo, time_zone_id: str) -> list[Session]:
    def fail(why: str) -> HoursError:
        return HoursError(f"trading hours fragment {fragment!r} (time zone {time_zone_id}): {why}")

    day_text, colon, ranges = fragment.partition(":")
    if not colon or not _DAY.match(day_text):
        raise fail("does not start with a date YYYYMMDD and ':'")
    day = _date(day_text, fail)
    if ranges.strip().upper() == CLOSED:
        return []
    sessions = []
    # Old format: `20261123:0930-1200,1300-1600`; each range is read against the same day.
    for part in ranges.split(","):
        start_text, dash, end_text = (text.strip() for text in part.partition("-"))
        if not dash:
            raise fail(f"{part!r} is not CLOSED nor a range START-END")
        start = _local(day, _clock(start_text, fail, "start"), zone)
        dated_end = _DATED_CLOCK.match(end_text)
        if dated_end:
            end_day = _date(dated_end.group(1), fail)
            end = _local(end_day, _clock(dated_end.group(2), fail, "end"), zone)
            if end <= start:
                raise fail(f"end {end_text} is not after start {day_text}:{start_text}")
        else:
            end_clock = _clock(end_text, fail, "end")
            end = _local(day, end_clock, zone)
            if end <= start:
                # Undated end at or before the start: the range runs past midnight.
                end = _local(day + timedelta(days=1), end_clock, zone)
        sessions.append(Session(start, end))
    return sessions


def _date(text: str, fail: _Fail) -> date:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise fail(f"{text!r} is not a calendar date YYYYMMDD") from None


def _clock(text: str, fail: _Fail, which: str) -> timedelta:
    """HHMM as the time since midnight; 2400 is the next midnight (old IB strings use it)."""
    found = _CLOCK.match(text.strip())
    if found:
        hours, minutes = int(found.group(1)), int(found.group(2))
        if (hours < 24 and minutes < 60) or (hours, minutes) == (24, 0):
            return timedelta(hours=hours, minutes=minutes)
    raise fail(f"{which} time {text!r} is not HHMM between 0000 and 2400")


def _local(day: date, since_midnight: timedelta, zone: tzinfo) -> datetime:
    # Built from whole days plus a wall-clock time, so 2400 lands on the next midnight and the
    # zone's offset on that date (not the offset of another date) applies.
    moment = datetime.combine(day, time()) + since_midnight
    return moment.replace(tzinfo=zone).astimezone(UTC)


def _merge(sessions: Iterable[Session]) -> list[Session]:
    merged: list[Session] = []
    for session in sorted(sessions):
        if merged and session.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Session(last.start, max(last.end, session.end))
        else:
            merged.append(session)
    return merged


def _require_aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now={now.isoformat()} must be an aware datetime")
    return now.astimezone(UTC)


def is_open(sessions: Sequence[Session], now: datetime) -> bool:
    """True when `now` is inside a session (start inclusive, end exclusive)."""
    moment = _require_aware(now)
    return any(session.contains(moment) for session in sessions)


def next_open(sessions: Sequence[Session], now: datetime) -> datetime | None:
    """`now` (in UTC) when open, else the start of the next session; None when none is ahead."""
    moment = _require_aware(now)
    if is_open(sessions, moment):
        return moment
    ahead = [session.start for session in sessions if session.start > moment]
    return min(ahead, default=None)


def all_open_at(sessions_by_symbol: Mapping[str, Sequence[Session]], now: datetime) -> bool:
    """True when every symbol is inside one of its sessions at `now`.

    No symbols at all is trivially open: there is nothing whose market could be closed.
    """
    moment = _require_aware(now)
    return all(is_open(sessions, moment) for sessions in sessions_by_symbol.values())


def earliest_all_open(
    sessions_by_symbol: Mapping[str, Sequence[Session]], now: datetime
) -> datetime | None:
    """The earliest moment >= `now` at which every symbol is open at once; None if the data
    shows no such moment (the sessions never overlap, or they end before that).

    The intersection of the symbols' open periods, when not empty, begins either at `now` or at
    the start of one of the sessions, so those are the only candidates to check.
    """
    moment = _require_aware(now)
    starts = {
        session.start
        for sessions in sessions_by_symbol.values()
        for session in sessions
        if session.start > moment
    }
    for candidate in [moment, *sorted(starts)]:
        if all_open_at(sessions_by_symbol, candidate):
            return candidate
    return None
