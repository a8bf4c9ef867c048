"""Working days and opening hours, always in Beijing time (Asia/Shanghai).

Working days follow China's official schedule (weekends, statutory holidays and 调休
make-up working days) from chinese-calendar. Pure: the time is always given.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import chinese_calendar

CHINA = ZoneInfo("Asia/Shanghai")
# Opening hours of the seats on a working day.
HOURS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))


def is_working_day(day: date) -> bool:
    """Official working day; for a year with no official data yet, Monday to Friday."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def calendar_state(at: datetime) -> str:
    """`open`, `after_hours` or `non_working_day` at the moment `at` (aware datetime)."""
    local = at.astimezone(CHINA)
    if not is_working_day(local.date()):
        return "non_working_day"
    now = local.time()
    if any(start <= now < end for start, end in HOURS):
        return "open"
    return "after_hours"
