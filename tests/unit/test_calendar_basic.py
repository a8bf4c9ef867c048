"""Working days and opening hours in Beijing time: holidays, 调休, and years with no data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from hotline.core.calendar.schedule import calendar_state, is_working_day

CHINA = ZoneInfo("Asia/Shanghai")


def beijing(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHINA)


def test_national_day_is_not_a_working_day() -> None:
    """2026-10-01 (National Day, a Thursday) is a non-working day, even in office hours."""
    assert not is_working_day(date(2026, 10, 1))
    assert calendar_state(beijing(2026, 10, 1, 9)) == "non_working_day"


def test_make_up_saturday_is_open() -> None:
    """2026-10-10, a 调休 Saturday, is a working day: open at 09:00 Beijing time."""
    assert date(2026, 10, 10).weekday() == 5
    assert is_working_day(date(2026, 10, 10))
    assert calendar_state(beijing(2026, 10, 10, 9)) == "open"


def test_ordinary_weekend_is_not_a_working_day() -> None:
    """An ordinary Sunday (2026-03-08) is a non-working day."""
    assert calendar_state(beijing(2026, 3, 8, 10)) == "non_working_day"


def test_lunch_break_is_after_hours() -> None:
    """A Tuesday (2026-03-10) at 12:30 Beijing time is between the sessions: after_hours."""
    assert date(2026, 3, 10).weekday() == 1
    assert calendar_state(beijing(2026, 3, 10, 12, 30)) == "after_hours"


def test_same_instant_in_utc_gives_the_same_answer() -> None:
    """The state depends on the instant, not its zone: 04:30 UTC is 12:30 in Beijing."""
    utc = datetime(2026, 3, 10, 4, 30, tzinfo=UTC)
    assert utc == beijing(2026, 3, 10, 12, 30)
    assert calendar_state(utc) == "after_hours"
    assert calendar_state(datetime(2026, 3, 10, 1, 0, tzinfo=UTC)) == "open"  # 09:00 Beijing


def test_utc_date_differs_from_beijing_date() -> None:
    """Late Friday UTC is already Saturday in Beijing: the Beijing date decides."""
    friday_utc = datetime(2026, 3, 13, 17, 0, tzinfo=UTC)  # Saturday 01:00 in Beijing
    assert calendar_state(friday_utc) == "non_working_day"


@pytest.mark.parametrize(("hour", "minute", "state"), [
    (8, 29, "after_hours"),
    (8, 30, "open"),
    (11, 59, "open"),
    (12, 0, "after_hours"),
    (13, 30, "open"),
    (17, 29, "open"),
    (17, 30, "after_hours"),
    (22, 0, "after_hours"),
])
def test_opening_hours_boundaries(hour: int, minute: int, state: str) -> None:
    """Open 08:30-12:00 and 13:30-17:30; each session's end is already closed."""
    assert calendar_state(beijing(2026, 3, 10, hour, minute)) == state


def test_year_without_official_data_falls_back_to_weekdays() -> None:
    """2027 has no official data yet: Monday-Friday are working days, and nothing raises."""
    assert date(2027, 1, 4).weekday() == 0
    assert is_working_day(date(2027, 1, 4))
    assert not is_working_day(date(2027, 1, 9))  # a Saturday
    assert calendar_state(beijing(2027, 1, 4, 9)) == "open"
    assert calendar_state(beijing(2027, 1, 9, 9)) == "non_working_day"
