"""US equity market calendar (NYSE rules) and IB's trading-hours strings built from it.

Sessions, all America/New_York:
- regular 09:30-16:00; on an early-close day 09:30-13:00;
- extended 04:00-20:00; on an early-close day 04:00-17:00 (the late session closes at 5 pm);
- closed on weekends and exchange holidays.

Holidays: New Year's Day, Martin Luther King Jr. Day, Washington's Birthday, Good Friday,
Memorial Day, Juneteenth (from 2022), Independence Day, Labor Day, Thanksgiving, Christmas, with
NYSE's observance rules (Saturday -> Friday before, Sunday -> Monday after, but a Saturday New
Year's Day is not observed), plus the one-off closures listed in SPECIAL_CLOSURES.
Early closes (13:00): the day before Independence Day when that is Monday to Thursday, the day
after Thanksgiving, and Christmas Eve when that is Monday to Thursday.

IB writes hours as one entry per calendar day, `YYYYMMDD:HHMM-YYYYMMDD:HHMM` for an open day and
`YYYYMMDD:CLOSED` for a closed one, joined by `;`, in the contract's time zone (`US/Eastern`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NEW_YORK = ZoneInfo("America/New_York")
# IB's name for the same zone in contract details (`timeZoneId`).
IB_TIME_ZONE_ID = "US/Eastern"
# How many calendar days, starting with today, the hours strings cover.
HOURS_DAYS = 7

REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)
EXTENDED_OPEN = time(4, 0)
EXTENDED_CLOSE = time(20, 0)
EXTENDED_EARLY_CLOSE = time(17, 0)

# Closures the rules cannot derive (national days of mourning).
SPECIAL_CLOSURES = frozenset(
    {
        date(2018, 12, 5),  # President George H. W. Bush
        date(2025, 1, 9),  # President Jimmy Carter
    }
)

# Abbreviations clients put after a time ("20240703 15:30:00 EST"); others are zone names.
_ZONE_ABBREVIATIONS = {"EST": NEW_YORK, "EDT": NEW_YORK, "ET": NEW_YORK, "UTC": ZoneInfo("UTC")}

_MONDAY, _THURSDAY, _SATURDAY, _SUNDAY = 0, 3, 5, 6


@dataclass(frozen=True)
class Session:
    """One trading session, as aware datetimes in New York time."""

    open: datetime
    close: datetime

    def contains(self, moment: datetime) -> bool:
        return self.open <= moment < self.close


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last = next_month - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _observed(day: date) -> date:
    if day.weekday() == _SATURDAY:
        return day - timedelta(days=1)
    if day.weekday() == _SUNDAY:
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=64)
def holidays(year: int) -> frozenset[date]:
    """The NYSE full-day closures of `year`."""
    days = {
        _nth_weekday(year, 1, _MONDAY, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, _MONDAY, 3),  # Washington's Birthday
        easter_sunday(year) - timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, _MONDAY),  # Memorial Day
        _observed(date(year, 7, 4)),  # Independence Day
        _nth_weekday(year, 9, _MONDAY, 1),  # Labor Day
        _nth_weekday(year, 11, _THURSDAY, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),  # Christmas
    }
    new_year = date(year, 1, 1)
    if new_year.weekday() != _SATURDAY:  # NYSE does not close on Friday Dec 31 for it
        days.add(_observed(new_year))
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))  # Juneteenth
    days.update(day for day in SPECIAL_CLOSURES if day.year == year)
    return frozenset(days)


def is_holiday(day: date) -> bool:
    return day in holidays(day.year)


def is_trading_day(day: date) -> bool:
    return day.weekday() < _SATURDAY and not is_holiday(day)


def is_early_close(day: date) -> bool:
    if not is_trading_day(day):
        return False
    monday_to_thursday = day.weekday() <= _THURSDAY
    if day.month == 7 and day.day == 3 and monday_to_thursday:
        return True
    if day.month == 12 and day.day == 24 and monday_to_thursday:
        return True
    thanksgiving = _nth_weekday(day.year, 11, _THURSDAY, 4)
    return day == thanksgiving + timedelta(days=1)


def _session(day: date, opens: time, closes: time) -> Session:
    return Session(
        datetime.combine(day, opens, tzinfo=NEW_YORK),
        datetime.combine(day, closes, tzinfo=NEW_YORK),
    )


def regular_session(day: date) -> Session | None:
    if not is_trading_day(day):
        return None
    return _session(day, REGULAR_OPEN, EARLY_CLOSE if is_early_close(day) else REGULAR_CLOSE)


def extended_session(day: date) -> Session | None:
    if not is_trading_day(day):
        return None
    closes = EXTENDED_EARLY_CLOSE if is_early_close(day) else EXTENDED_CLOSE
    return _session(day, EXTENDED_OPEN, closes)


def _ib_day(session: Session | None, day: date) -> str:
    stamp = day.strftime("%Y%m%d")
    if session is None:
        return f"{stamp}:CLOSED"
    return f"{session.open.strftime('%Y%m%d:%H%M')}-{session.close.strftime('%Y%m%d:%H%M')}"


@lru_cache(maxsize=64)
def _hours(start: date, days: int, extended: bool) -> str:
    session = extended_session if extended else regular_session
    return ";".join(
        _ib_day(session(day), day) for day in (start + timedelta(days=n) for n in range(days))
    )


def liquid_hours(moment: datetime, days: int = HOURS_DAYS) -> str:
    """IB's `liquidHours` (regular sessions) from the New York date of `moment` on."""
    return _hours(moment.astimezone(NEW_YORK).date(), days, extended=False)


def trading_hours(moment: datetime, days: int = HOURS_DAYS) -> str:
    """IB's `tradingHours` (extended sessions) from the New York date of `moment` on."""
    return _hours(moment.astimezone(NEW_YORK).date(), days, extended=True)


def last_trading_days(moment: datetime, count: int) -> list[date]:
    """The `count` most recent trading days up to and including the New York date of `moment`,
    oldest first."""
    day = moment.astimezone(NEW_YORK).date()
    found: list[date] = []
    while len(found) < count:
        if is_trading_day(day):
            found.append(day)
        day -= timedelta(days=1)
    found.reverse()
    return found


def zone_named(name: str) -> ZoneInfo:
    """A time zone from IB's way of naming it (`US/Eastern`, `UTC`, `EST`, ...)."""
    if name.upper() in _ZONE_ABBREVIATIONS:
        return _ZONE_ABBREVIATIONS[name.upper()]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
