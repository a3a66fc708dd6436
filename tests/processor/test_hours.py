"""Trading hours: IB's hours strings -> sessions, open now, next open, all or none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from event_processor.hours import (
    HoursError,
    Session,
    all_open_at,
    earliest_all_open,
    is_open,
    next_open,
    parse_hours,
    pick_hours,
)
from hypothesis import given
from hypothesis import strategies as st


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# NYSE `liquidHours` for Thanksgiving week 2026 as IB sends them: closed on Thursday, an early
# close at 13:00 on Friday, the weekend closed. New York is on EST (UTC-5) that week.
NYSE_THANKSGIVING = (
    "20261123:0930-20261123:1600;20261124:0930-20261124:1600;20261125:0930-20261125:1600;"
    "20261126:CLOSED;20261127:0930-20261127:1300;20261128:CLOSED;20261129:CLOSED;"
    "20261130:0930-20261130:1600"
)
# The same week's `tradingHours` (pre-market from 04:00, after-hours to 20:00).
NYSE_THANKSGIVING_EXTENDED = (
    "20261123:0400-20261123:2000;20261124:0400-20261124:2000;20261125:0400-20261125:2000;"
    "20261126:CLOSED;20261127:0400-20261127:1700;20261128:CLOSED;20261129:CLOSED;"
    "20261130:0400-20261130:2000"
)
# London Stock Exchange, same week: open on Thanksgiving, GMT = UTC.
LSE_THANKSGIVING = (
    "20261123:0800-20261123:1630;20261124:0800-20261124:1630;20261125:0800-20261125:1630;"
    "20261126:0800-20261126:1630;20261127:0800-20261127:1630;20261128:CLOSED;20261129:CLOSED;"
    "20261130:0800-20261130:1630"
)


@pytest.fixture
def spy() -> list[Session]:
    return parse_hours(NYSE_THANKSGIVING, "US/Eastern")


def test_open_during_a_normal_day(spy: list[Session]) -> None:
    ten_am_new_york = utc(2026, 11, 24, 15)
    assert is_open(spy, ten_am_new_york)
    assert next_open(spy, ten_am_new_york) == ten_am_new_york


def test_open_is_inclusive_and_close_is_exclusive(spy: list[Session]) -> None:
    assert is_open(spy, utc(2026, 11, 24, 14, 30))
    assert not is_open(spy, utc(2026, 11, 24, 21, 0))
    assert is_open(spy, utc(2026, 11, 24, 20, 59))


def test_before_the_open_next_open_is_this_morning(spy: list[Session]) -> None:
    nine_am_new_york = utc(2026, 11, 24, 14)
    assert not is_open(spy, nine_am_new_york)
    assert next_open(spy, nine_am_new_york) == utc(2026, 11, 24, 14, 30)


def test_after_the_close_next_open_is_tomorrow_0930_new_york(spy: list[Session]) -> None:
    half_past_four_new_york = utc(2026, 11, 23, 21, 30)
    assert not is_open(spy, half_past_four_new_york)
    assert next_open(spy, half_past_four_new_york) == utc(2026, 11, 24, 14, 30)


def test_holiday_is_closed_and_next_open_skips_it(spy: list[Session]) -> None:
    thanksgiving_noon = utc(2026, 11, 26, 17)
    assert not is_open(spy, thanksgiving_noon)
    assert next_open(spy, utc(2026, 11, 25, 21, 0)) == utc(2026, 11, 27, 14, 30)


def test_early_close_at_1300_new_york(spy: list[Session]) -> None:
    assert is_open(spy, utc(2026, 11, 27, 17, 59))
    assert not is_open(spy, utc(2026, 11, 27, 18, 0))
    # The usual last hour (15:00-16:00 New York) is closed that day.
    assert not is_open(spy, utc(2026, 11, 27, 20, 30))


def test_weekend_next_open_is_monday(spy: list[Session]) -> None:
    saturday = utc(2026, 11, 28, 15)
    assert not is_open(spy, saturday)
    assert next_open(spy, saturday) == utc(2026, 11, 30, 14, 30)


def test_no_session_ahead_means_no_next_open(spy: list[Session]) -> None:
    after_the_last_session = utc(2026, 11, 30, 21, 0)
    assert next_open(spy, after_the_last_session) is None


def test_closed_days_produce_no_session(spy: list[Session]) -> None:
    assert [session.start.date().day for session in spy] == [23, 24, 25, 27, 30]
    assert spy[3] == Session(utc(2026, 11, 27, 14, 30), utc(2026, 11, 27, 18, 0))


def test_sessions_are_utc_whatever_the_exchange_zone(spy: list[Session]) -> None:
    assert all(session.start.tzinfo is UTC and session.end.tzinfo is UTC for session in spy)


def test_march_dst_change_moves_the_open_from_1430_to_1330_utc() -> None:
    # New York springs forward on Sunday 8 March 2026.
    hours = (
        "20260306:0930-20260306:1600;20260307:CLOSED;20260308:CLOSED;20260309:0930-20260309:1600"
    )
    friday, monday = parse_hours(hours, "America/New_York")
    assert friday == Session(utc(2026, 3, 6, 14, 30), utc(2026, 3, 6, 21, 0))
    assert monday == Session(utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 20, 0))
    assert next_open([friday, monday], utc(2026, 3, 6, 22)) == utc(2026, 3, 9, 13, 30)


def test_november_dst_change_moves_the_open_from_1330_to_1430_utc() -> None:
    # New York falls back on Sunday 1 November 2026.
    hours = (
        "20261030:0930-20261030:1600;20261031:CLOSED;20261101:CLOSED;20261102:0930-20261102:1600"
    )
    friday, monday = parse_hours(hours, "US/Eastern")
    assert friday.start == utc(2026, 10, 30, 13, 30)
    assert monday.start == utc(2026, 11, 2, 14, 30)


def test_legacy_est_id_means_new_york_time_with_daylight_saving() -> None:
    # zoneinfo's own `EST` is a fixed UTC-5; IB's means New York, so July opens at 13:30 UTC.
    [session] = parse_hours("20260706:0930-20260706:1600", "EST")
    assert session == Session(utc(2026, 7, 6, 13, 30), utc(2026, 7, 6, 20, 0))


def test_legacy_java_ids_are_mapped_to_their_exchange_zones() -> None:
    [tokyo] = parse_hours("20261124:0900-20261124:1130", "JST")
    assert tokyo.start == utc(2026, 11, 24, 0, 0)
    [chicago] = parse_hours("20260706:0830-20260706:1500", "CST")
    assert chicago.start == utc(2026, 7, 6, 13, 30)


def test_old_format_without_dates_on_the_right_is_read_like_the_new_one() -> None:
    old = "20261123:0930-1600;20261124:0930-1600;20261126:CLOSED"
    new = "20261123:0930-20261123:1600;20261124:0930-20261124:1600;20261126:CLOSED"
    assert parse_hours(old, "US/Eastern") == parse_hours(new, "US/Eastern")


def test_old_format_ranges_of_one_day_are_merged_when_they_touch() -> None:
    [session] = parse_hours("20261123:0400-0930,0930-2000", "US/Eastern")
    assert session == Session(utc(2026, 11, 23, 9, 0), utc(2026, 11, 24, 1, 0))


def test_old_format_end_before_start_runs_past_midnight() -> None:
    [session] = parse_hours("20261122:1700-1600", "US/Central")
    assert session == Session(utc(2026, 11, 22, 23, 0), utc(2026, 11, 23, 22, 0))


def test_overnight_sessions_spanning_days() -> None:
    # CME equity futures: Sunday 17:00 to Monday 16:00 Chicago, a one-hour break, again.
    es = parse_hours("20261122:1700-20261123:1600;20261123:1700-20261124:1600", "US/Central")
    assert es == [
        Session(utc(2026, 11, 22, 23, 0), utc(2026, 11, 23, 22, 0)),
        Session(utc(2026, 11, 23, 23, 0), utc(2026, 11, 24, 22, 0)),
    ]
    in_the_break = utc(2026, 11, 23, 22, 30)
    assert not is_open(es, in_the_break)
    assert next_open(es, in_the_break) == utc(2026, 11, 23, 23, 0)
    assert is_open(es, utc(2026, 11, 24, 3, 0))


def test_spaces_trailing_separator_and_unsorted_days_are_accepted() -> None:
    sessions = parse_hours("20261124:0930 - 20261124:1600; 20261123:0930-20261123:1600;", "EST")
    assert [session.start for session in sessions] == [
        utc(2026, 11, 23, 14, 30),
        utc(2026, 11, 24, 14, 30),
    ]


def test_extended_hours_use_trading_hours_only_when_enabled() -> None:
    assert pick_hours(NYSE_THANKSGIVING, NYSE_THANKSGIVING_EXTENDED, False) == NYSE_THANKSGIVING
    assert (
        pick_hours(NYSE_THANKSGIVING, NYSE_THANKSGIVING_EXTENDED, True)
        == NYSE_THANKSGIVING_EXTENDED
    )
    # No tradingHours given: the regular session is the safe fallback.
    assert pick_hours(NYSE_THANKSGIVING, "", True) == NYSE_THANKSGIVING
    pre_market = utc(2026, 11, 24, 12)
    extended = parse_hours(NYSE_THANKSGIVING_EXTENDED, "US/Eastern")
    assert is_open(extended, pre_market)
    assert not is_open(parse_hours(NYSE_THANKSGIVING, "US/Eastern"), pre_market)


def test_symbol_on_another_exchange_uses_its_own_time_zone() -> None:
    vod = parse_hours(LSE_THANKSGIVING, "Europe/London")
    assert vod[0] == Session(utc(2026, 11, 23, 8, 0), utc(2026, 11, 23, 16, 30))
    [summer] = parse_hours("20260706:0800-20260706:1630", "Europe/London")
    assert summer == Session(utc(2026, 7, 6, 7, 0), utc(2026, 7, 6, 15, 30))


def test_all_or_none_waits_for_the_partial_overlap_of_two_exchanges(spy: list[Session]) -> None:
    vod = parse_hours(LSE_THANKSGIVING, "Europe/London")
    both = {"SPY": spy, "VOD": vod}
    london_morning = utc(2026, 11, 24, 10)
    assert is_open(vod, london_morning)
    assert not all_open_at(both, london_morning)
    assert earliest_all_open(both, london_morning) == utc(2026, 11, 24, 14, 30)
    assert all_open_at(both, utc(2026, 11, 24, 16, 0))
    # London has closed at 16:30 UTC, New York is still open: wait for tomorrow's overlap.
    new_york_afternoon = utc(2026, 11, 24, 17)
    assert is_open(spy, new_york_afternoon)
    assert not all_open_at(both, new_york_afternoon)
    assert earliest_all_open(both, new_york_afternoon) == utc(2026, 11, 25, 14, 30)


def test_all_or_none_skips_a_holiday_of_one_exchange(spy: list[Session]) -> None:
    vod = parse_hours(LSE_THANKSGIVING, "Europe/London")
    london_open_on_thanksgiving = utc(2026, 11, 26, 15)
    assert is_open(vod, london_open_on_thanksgiving)
    assert earliest_all_open({"SPY": spy, "VOD": vod}, london_open_on_thanksgiving) == utc(
        2026, 11, 27, 14, 30
    )


def test_all_or_none_across_a_dst_change_in_only_one_zone() -> None:
    # 9 March 2026: New York is on summer time, London not yet (it changes on 29 March).
    spy = parse_hours("20260309:0930-20260309:1600", "US/Eastern")
    vod = parse_hours("20260309:0800-20260309:1630", "Europe/London")
    assert earliest_all_open({"SPY": spy, "VOD": vod}, utc(2026, 3, 9, 9)) == utc(
        2026, 3, 9, 13, 30
    )


def test_all_or_none_is_none_when_sessions_never_overlap(spy: list[Session]) -> None:
    tokyo = parse_hours(
        "20261124:0900-20261124:1130;20261124:1230-20261124:1530;20261125:0900-20261125:1530",
        "Asia/Tokyo",
    )
    assert earliest_all_open({"SPY": spy, "7203": tokyo}, utc(2026, 11, 23, 0)) is None


def test_all_or_none_open_now_returns_now(spy: list[Session]) -> None:
    now = utc(2026, 11, 24, 15, 7)
    assert earliest_all_open({"SPY": spy, "QQQ": spy}, now) == now


def test_no_symbols_is_trivially_open() -> None:
    now = utc(2026, 11, 24, 3)
    assert all_open_at({}, now)
    assert earliest_all_open({}, now) == now


@pytest.mark.parametrize(
    ("hours", "named"),
    [
        ("2026112:0930-1600", "'2026112:0930-1600'"),
        ("20261123-0930-1600", "'20261123-0930-1600'"),
        ("20261123:0930", "'0930' is not CLOSED nor a range"),
        ("20261123:OPEN", "'OPEN' is not CLOSED nor a range"),
        ("20261123:09x0-1600", "start time '09x0'"),
        ("20261123:0930-2500", "end time '2500'"),
        ("20261123:0960-1600", "start time '0960'"),
        ("20261131:0930-1600", "'20261131' is not a calendar date"),
        ("20261123:0930-20261131:1600", "'20261131' is not a calendar date"),
        ("20261123:1600-20261123:0930", "end 20261123:0930 is not after start 20261123:1600"),
        ("20261123:0930-20261123:1600;garbage", "'garbage'"),
    ],
)
def test_malformed_hours_name_the_bad_fragment(hours: str, named: str) -> None:
    with pytest.raises(HoursError, match="trading hours fragment") as error:
        parse_hours(hours, "US/Eastern")
    assert named in str(error.value)
    assert "US/Eastern" in str(error.value)


def test_empty_hours_string_is_an_error() -> None:
    with pytest.raises(HoursError, match="empty"):
        parse_hours("  ", "US/Eastern")


def test_unknown_time_zone_is_named() -> None:
    with pytest.raises(HoursError, match="'Mars/Olympus_Mons'"):
        parse_hours(NYSE_THANKSGIVING, "Mars/Olympus_Mons")
    with pytest.raises(HoursError, match="no timeZoneId"):
        parse_hours(NYSE_THANKSGIVING, "")


def test_naive_now_is_refused(spy: list[Session]) -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(spy, datetime(2026, 11, 24, 15))


def test_a_session_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="not after start"):
        Session(utc(2026, 11, 24, 15), utc(2026, 11, 24, 15))


# -- property: earliest_all_open is the earliest all-open moment ---------------------------------

BASE = utc(2026, 11, 23, 0)


def minutes(offset: int) -> datetime:
    return BASE + timedelta(minutes=offset)


session_lists = st.lists(
    st.tuples(st.integers(0, 3000), st.integers(1, 900)).map(
        lambda pair: Session(minutes(pair[0]), minutes(pair[0] + pair[1]))
    ),
    max_size=5,
)


@given(
    sessions_by_symbol=st.dictionaries(
        st.sampled_from(["SPY", "QQQ", "TLT", "VOD"]), session_lists, min_size=1
    ),
    now_offset=st.integers(0, 3500),
)
def test_earliest_all_open_is_all_open_and_no_earlier_boundary_is(
    sessions_by_symbol: dict[str, list[Session]], now_offset: int
) -> None:
    now = minutes(now_offset)
    found = earliest_all_open(sessions_by_symbol, now)
    # Openness only changes at a session boundary, so checking every boundary (and now) at or
    # after `now` covers every moment.
    boundaries = {now} | {
        moment
        for sessions in sessions_by_symbol.values()
        for session in sessions
        for moment in (session.start, session.end)
        if moment >= now
    }
    if found is None:
        assert not any(all_open_at(sessions_by_symbol, moment) for moment in boundaries)
    else:
        assert found >= now
        assert all_open_at(sessions_by_symbol, found)
        earlier = [moment for moment in boundaries if moment < found]
        assert not any(all_open_at(sessions_by_symbol, moment) for moment in earlier)
