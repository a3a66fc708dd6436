"""The US equity calendar and the IB hours strings built from it, checked against NYSE's
published holiday and early-close calendars."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from ib_gateway_sim import calendar
from ib_gateway_sim.calendar import NEW_YORK, liquid_hours, trading_hours


def ny(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def days_of(hours: str) -> dict[str, str]:
    """`YYYYMMDD` -> that day's entry of an IB hours string."""
    return {entry[:8]: entry for entry in hours.split(";")}


def test_normal_day_is_open_0930_to_1600_regular_and_0400_to_2000_extended() -> None:
    moment = ny("2024-07-09 11:00")  # a Tuesday
    assert days_of(liquid_hours(moment))["20240709"] == "20240709:0930-20240709:1600"
    assert days_of(trading_hours(moment))["20240709"] == "20240709:0400-20240709:2000"


def test_day_before_independence_day_closes_at_1300_and_late_trading_at_1700() -> None:
    moment = ny("2024-07-03 10:00")  # a Wednesday
    assert liquid_hours(moment).startswith(
        "20240703:0930-20240703:1300;20240704:CLOSED;20240705:0930-20240705:1600"
    )
    assert trading_hours(moment).startswith(
        "20240703:0400-20240703:1700;20240704:CLOSED;20240705:0400-20240705:2000"
    )


@pytest.mark.parametrize(
    "day",
    [
        date(2024, 11, 29),  # day after Thanksgiving
        date(2025, 11, 28),
        date(2024, 12, 24),  # Christmas Eve on a Tuesday
        date(2025, 12, 24),
        date(2025, 7, 3),
        date(2028, 7, 3),
    ],
)
def test_published_early_closes_close_at_1300(day: date) -> None:
    session = calendar.regular_session(day)
    assert session is not None
    assert (session.open.hour, session.open.minute) == (9, 30)
    assert (session.close.hour, session.close.minute) == (13, 0)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 7, 2),  # 4 July 2026 is a Saturday: holiday on Friday the 3rd, no early close
        date(2020, 7, 2),
        date(2023, 12, 22),  # Christmas 2023 is a Monday: the Friday before is a full day
        date(2024, 7, 5),
    ],
)
def test_days_next_to_shifted_holidays_are_full_days(day: date) -> None:
    session = calendar.regular_session(day)
    assert session is not None and session.close.hour == 16


def test_weekend_days_are_closed() -> None:
    hours = days_of(liquid_hours(ny("2024-07-05 12:00")))  # a Friday
    assert hours["20240706"] == "20240706:CLOSED"
    assert hours["20240707"] == "20240707:CLOSED"
    assert hours["20240708"] == "20240708:0930-20240708:1600"
    extended = days_of(trading_hours(ny("2024-07-05 12:00")))
    assert extended["20240706"] == "20240706:CLOSED"


def test_holiday_is_closed_in_both_strings() -> None:
    moment = ny("2024-03-28 12:00")  # Thursday before Good Friday
    assert days_of(liquid_hours(moment))["20240329"] == "20240329:CLOSED"
    assert days_of(trading_hours(moment))["20240329"] == "20240329:CLOSED"


def test_strings_cover_seven_days_from_the_new_york_date() -> None:
    # 02:00 UTC on 3 July is still 2 July in New York.
    moment = datetime.fromisoformat("2024-07-03T02:00:00+00:00")
    entries = liquid_hours(moment).split(";")
    assert [entry[:8] for entry in entries] == [
        "20240702",
        "20240703",
        "20240704",
        "20240705",
        "20240706",
        "20240707",
        "20240708",
    ]


# NYSE Group's published full-day closures.
NYSE_HOLIDAYS = {
    2022: {
        date(2022, 1, 17),
        date(2022, 2, 21),
        date(2022, 4, 15),
        date(2022, 5, 30),
        date(2022, 6, 20),
        date(2022, 7, 4),
        date(2022, 9, 5),
        date(2022, 11, 24),
        date(2022, 12, 26),
    },  # New Year's Day 2022 fell on a Saturday: not observed
    2024: {
        date(2024, 1, 1),
        date(2024, 1, 15),
        date(2024, 2, 19),
        date(2024, 3, 29),
        date(2024, 5, 27),
        date(2024, 6, 19),
        date(2024, 7, 4),
        date(2024, 9, 2),
        date(2024, 11, 28),
        date(2024, 12, 25),
    },
    2025: {
        date(2025, 1, 1),
        date(2025, 1, 9),  # national day of mourning, President Carter
        date(2025, 1, 20),
        date(2025, 2, 17),
        date(2025, 4, 18),
        date(2025, 5, 26),
        date(2025, 6, 19),
        date(2025, 7, 4),
        date(2025, 9, 1),
        date(2025, 11, 27),
        date(2025, 12, 25),
    },
    2027: {
        date(2027, 1, 1),
        date(2027, 1, 18),
        date(2027, 2, 15),
        date(2027, 3, 26),
        date(2027, 5, 31),
        date(2027, 6, 18),
        date(2027, 7, 5),
        date(2027, 9, 6),
        date(2027, 11, 25),
        date(2027, 12, 24),
    },
}


@pytest.mark.parametrize("year", sorted(NYSE_HOLIDAYS))
def test_holidays_match_the_nyse_calendar(year: int) -> None:
    assert calendar.holidays(year) == NYSE_HOLIDAYS[year]


def test_last_trading_days_skip_weekends_and_holidays() -> None:
    assert calendar.last_trading_days(ny("2024-07-08 09:00"), 3) == [
        date(2024, 7, 3),
        date(2024, 7, 5),
        date(2024, 7, 8),
    ]
