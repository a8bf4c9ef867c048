"""Working days and opening hours, always in Beijing time (Asia/Shanghai).

One calendar serves the IVR (open, after hours, non-working day) and work-order deadlines
(N working days later). Pure: every answer is for a time or date it is given.

Where a day's status comes from, first match wins:
1. `overrides` in config/calendar.yaml: one-off closures (a typhoon day) and openings,
   and longer or shorter hours (the filing season);
2. the official schedule of the year in config/calendar.yaml (`years:`), which
   administrators add when the State Council publishes it;
3. chinese-calendar's data (statutory holidays and 调休 make-up working days), which ends
   with 2026;
4. for a year with no official schedule at all: the **fallback** — Monday to Friday are
   working days, plus the fixed-date statutory holidays (元旦 1 Jan, 劳动节 1-2 May,
   国庆节 1-3 Oct) as non-working days. Lunar holidays (春节, 清明, 端午, 中秋) and 调休
   days cannot be known, so `missing_years()` reports the year and hotline warns loudly
   (in the log at start and in `hotline check`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

import chinese_calendar

# CalendarInvalid stays importable from here.
from hotline.common.clock import CHINA as CHINA  # importable from here as before
from hotline.common.errors import CalendarInvalid as CalendarInvalid
from hotline.common.validate import Checker
from hotline.common.yamlsrc import PathKey, Sourced

Hours = tuple[tuple[time, time], ...]
DEFAULT_HOURS: Hours = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))

HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}
FIXED_HOLIDAYS = {(1, 1): "元旦", (5, 1): "劳动节", (5, 2): "劳动节", (10, 1): "国庆节",
                  (10, 2): "国庆节", (10, 3): "国庆节"}


@dataclass(frozen=True)
class Day:
    """What a day is, and why."""

    day: date
    working: bool
    reason: str  # weekday, weekend, holiday, makeup_workday, override, fallback_*
    name: str | None = None  # the holiday (国庆节) or the override's reason
    hours: Hours = ()  # opening hours of the line that day (empty: closed)
    source: str = "official"  # official | config | fallback | override

    @property
    def label(self) -> str:
        """Why, in the staff's words."""
        labels = {
            "weekday": "工作日", "weekend": "周末", "holiday": "法定节假日",
            "makeup_workday": "调休上班", "override_closed": "临时停止服务",
            "override_open": "临时开放", "override_hours": "调整服务时间",
            "fallback_weekday": "工作日（无官方安排，按周一至周五推定）",
            "fallback_weekend": "周末（无官方安排）",
            "fallback_holiday": "法定节假日（固定日期，无官方安排）",
        }
        text = labels.get(self.reason, self.reason)
        return f"{text}：{self.name}" if self.name else text


@dataclass(frozen=True)
class Span:
    start: date
    end: date
    name: str | None = None

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@dataclass(frozen=True)
class YearSchedule:
    holidays: tuple[Span, ...] = ()
    workdays: tuple[Span, ...] = ()


@dataclass(frozen=True)
class Override:
    span: Span
    closed: bool = False
    hours: Hours | None = None  # None with closed=False: open with the usual hours


OFFICIAL_CACHE = 4096  # dates a Calendar remembers (more than ten years of days)


@dataclass(frozen=True)
class Calendar:
    hours: Hours = DEFAULT_HOURS
    queue_hours: Mapping[str, Hours] = field(default_factory=dict)
    years: Mapping[int, YearSchedule] = field(default_factory=dict)
    overrides: tuple[Override, ...] = ()
    # What each date is by the official schedule, once worked out: every call asks it
    # for the line and each queue with hours of its own (chinese_calendar's look-up was
    # 2 % of hotline's CPU on real calls, bench/sip_load). Bounded by OFFICIAL_CACHE.
    _official_days: dict[date, Day] = field(default_factory=dict, init=False,
                                            compare=False, repr=False)

    # -- days -----------------------------------------------------------------------------

    def day(self, day: date, queue: str | None = None) -> Day:
        hours = self.queue_hours.get(queue, self.hours) if queue else self.hours
        for override in reversed(self.overrides):  # a later entry wins
            if day in override.span:
                if override.closed:
                    return Day(day, False, "override_closed", override.span.name, (),
                               "override")
                if override.hours is not None:
                    return Day(day, True, "override_hours", override.span.name,
                               override.hours, "override")
                return Day(day, True, "override_open", override.span.name, hours,
                           "override")
        base = self._official(day)
        return Day(base.day, base.working, base.reason, base.name,
                   hours if base.working else (), base.source)

    def _official(self, day: date) -> Day:
        known = self._official_days.get(day)
        if known is None:
            if len(self._official_days) >= OFFICIAL_CACHE:
                self._official_days.clear()
            known = self._official_days[day] = self._official_uncached(day)
        return known

    def _official_uncached(self, day: date) -> Day:
        schedule = self.years.get(day.year)
        if schedule is not None:
            for span in schedule.workdays:
                if day in span:
                    return Day(day, True, "makeup_workday", span.name, source="config")
            for span in schedule.holidays:
                if day in span:
                    return Day(day, False, "holiday", span.name, source="config")
            return _by_weekday(day, "config")
        try:
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            fixed = FIXED_HOLIDAYS.get((day.month, day.day))
            if fixed is not None:
                return Day(day, False, "fallback_holiday", fixed, source="fallback")
            weekend = day.weekday() >= 5
            return Day(day, not weekend, "fallback_weekend" if weekend else "fallback_weekday",
                       source="fallback")
        label = HOLIDAY_NAMES.get(str(name), str(name)) if name else None
        weekend = day.weekday() >= 5
        if on_holiday:
            if name:
                return Day(day, False, "holiday", label)
            return Day(day, False, "weekend")
        if weekend:  # a weekend day that is a working day: 调休
            return Day(day, True, "makeup_workday", label)
        return Day(day, True, "weekday")

    def is_working_day(self, day: date) -> bool:
        return self.day(day).working

    def days(self, start: date, end: date, queue: str | None = None) -> Iterator[Day]:
        current = start
        while current <= end:
            yield self.day(current, queue)
            current += timedelta(days=1)

    def missing_years(self, years: Iterable[int]) -> list[int]:
        """Years in `years` that have no official schedule (the fallback applies)."""
        return sorted(y for y in set(years) if self._official(date(y, 6, 1)).source
                      == "fallback")

    # -- moments --------------------------------------------------------------------------

    def state(self, at: datetime, queue: str | None = None) -> str:
        """`open`, `after_hours` or `non_working_day` at the moment `at` (aware)."""
        local = _beijing(at)
        info = self.day(local.date(), queue)
        if not info.working:
            return "non_working_day"
        now = local.time()
        if any(start <= now < end for start, end in info.hours):
            return "open"
        return "after_hours"

    def add_working_days(self, at: datetime, count: int) -> datetime:
        """The end of the `count`-th working day after the day of `at` (Beijing time):
        a work order received on Friday with 1 working day is due at the end of Monday
        (or of the next working day after a holiday)."""
        if count < 0:
            raise ValueError("count must not be negative")
        day = _beijing(at).date()
        left = count
        while left > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        if count == 0 and not self.is_working_day(day):
            while not self.is_working_day(day):
                day += timedelta(days=1)
        closing = self.day(day).hours
        end = closing[-1][1] if closing else time(23, 59, 59)
        return datetime.combine(day, end, tzinfo=CHINA)


def _beijing(at: datetime) -> datetime:
    """`at` in Beijing time; a naive datetime would silently mean the machine's zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no UTC offset (the calendar needs an "
                         "aware datetime, e.g. 2026-10-01T10:00:00+08:00)")
    return at.astimezone(CHINA)


def _by_weekday(day: date, source: str) -> Day:
    if day.weekday() >= 5:
        return Day(day, False, "weekend", source=source)
    return Day(day, True, "weekday", source=source)


# -- config/calendar.yaml -------------------------------------------------------------------

Report = Callable[[PathKey, str], None]  # Checker.error

# Far above a real calendar (a year has about 7 holidays and 6 make-up days; overrides
# are typhoons and the like): every call reads the calendar, so its size stays bounded.
MAX_OVERRIDES = 1000
MAX_YEARS = 100
MAX_QUEUE_HOURS = 200
MAX_SPANS = 366  # holidays or workdays of one year
MAX_RANGES = 24  # opening-hour ranges of one day
MAX_OVERRIDE_DAYS = 366


def parse_calendar(source: Sourced, queues: Collection[str] | None = None) -> Calendar:
    """Validate config/calendar.yaml into a Calendar; raises CalendarInvalid listing every
    problem as `file:line: key.path: message`. `queues`: the queues routing.yaml knows
    (queue_hours must name one of them); None checks no names."""
    check = Checker(source)
    error = check.error
    data = check.mapping(source.data, (), "the calendar", absent_ok=True)
    if data is None:
        raise CalendarInvalid(check.problems)
    check.unknown_keys(data, ("hours", "queue_hours", "years", "overrides"), ())
    hours = _hours(data.get("hours"), ("hours",), error) if "hours" in data else DEFAULT_HOURS
    queue_hours: dict[str, Hours] = {}
    raw_queues = data.get("queue_hours", {})
    if not isinstance(raw_queues, dict):
        error(("queue_hours",), "must be a mapping of queue name to hours")
        raw_queues = {}
    elif len(raw_queues) > MAX_QUEUE_HOURS:
        error(("queue_hours",), f"at most {MAX_QUEUE_HOURS} queues, not {len(raw_queues)}")
        raw_queues = {}
    for queue, spec in raw_queues.items():
        if queues is not None and str(queue) not in queues:
            error(("queue_hours", queue), f"unknown queue '{queue}' (routing knows: "
                  f"{', '.join(sorted(queues)) or 'none'})")
        queue_hours[str(queue)] = _hours(spec, ("queue_hours", queue), error)
    years: dict[int, YearSchedule] = {}
    raw_years = data.get("years", {})
    if not isinstance(raw_years, dict):
        error(("years",), "must be a mapping of year to its schedule")
        raw_years = {}
    elif len(raw_years) > MAX_YEARS:
        error(("years",), f"at most {MAX_YEARS} years, not {len(raw_years)}")
        raw_years = {}
    for year_key, spec in raw_years.items():
        path: PathKey = ("years", year_key)
        if not re.fullmatch(r"[0-9]{4}", str(year_key)):
            error(path, f"'{year_key}' is not a year")
            continue
        year = int(year_key)
        if not isinstance(spec, dict):
            error(path, "must be a mapping with holidays and workdays")
            continue
        check.unknown_keys(spec, ("holidays", "workdays"), path, "holidays or workdays")
        holidays = _spans(spec.get("holidays", []), (*path, "holidays"), error, year,
                          check.text)
        workdays = _spans(spec.get("workdays", []), (*path, "workdays"), error, year,
                          check.text)
        years[year] = YearSchedule(tuple(holidays), tuple(workdays))
    overrides: list[Override] = []
    raw_overrides = data.get("overrides", [])
    if not isinstance(raw_overrides, list):
        error(("overrides",), "must be a list")
        raw_overrides = []
    elif len(raw_overrides) > MAX_OVERRIDES:
        error(("overrides",), f"at most {MAX_OVERRIDES} overrides, not {len(raw_overrides)}")
        raw_overrides = []
    for i, item in enumerate(raw_overrides):
        path = ("overrides", i)
        if not isinstance(item, dict):
            error(path, "must be a mapping")
            continue
        check.unknown_keys(item, ("date", "from", "to", "closed", "hours", "reason"), path,
                           "date or from/to, closed or hours, reason")
        reason = (check.text(item["reason"], (*path, "reason"), "the reason")
                  if item.get("reason") else None)
        spans = _spans([{k: v for k, v in item.items() if k in ("date", "from", "to")}
                        | {"name": reason}], path, error, None)
        closed = check.boolean(item.get("closed", False), (*path, "closed"))
        over_hours = _hours(item["hours"], (*path, "hours"), error) if "hours" in item else None
        if closed and over_hours is not None:
            error(path, "an override is either closed or has hours, not both")
        if any((span.end - span.start).days >= MAX_OVERRIDE_DAYS for span in spans):
            error(path, f"an override spans at most {MAX_OVERRIDE_DAYS} days (from and to "
                  "a year apart at most)")
            spans = []
        if not item.get("reason"):
            error(path, "required key 'reason' is missing (staff see it in the calendar)")
        for span in spans:
            overrides.append(Override(span, closed, over_hours))
    check.raise_if_errors(CalendarInvalid)
    return Calendar(hours, queue_hours, years, tuple(overrides))


def _hours(value: Any, path: PathKey, error: Report) -> Hours:
    """`["08:30-12:00", "13:30-17:30"]` -> ((08:30, 12:00), (13:30, 17:30))."""
    if not isinstance(value, list) or not value:
        error(path, 'must be a list of "HH:MM-HH:MM" ranges')
        return ()
    if len(value) > MAX_RANGES:
        error(path, f"at most {MAX_RANGES} ranges, not {len(value)}")
        return ()
    out = []
    for i, item in enumerate(value):
        text = str(item)
        try:
            start_text, end_text = (part.strip() for part in text.split("-"))
            if not all(re.fullmatch(r"[0-9]{2}:[0-9]{2}", t) for t in (start_text, end_text)):
                raise ValueError(text)  # not HH:MM (and no zone: hours are Beijing time)
            start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
        except ValueError:
            error((*path, i), f"'{text}' is not a range like \"08:30-12:00\"")
            continue
        if start >= end:
            error((*path, i), f"'{text}' ends before it starts")
            continue
        out.append((start, end))
    out.sort()
    for (_, end_a), (start_b, _) in pairwise(out):
        if start_b < end_a:
            error(path, "the ranges overlap")
            break
    return tuple(out)


def _spans(value: Any, path: PathKey, error: Report, year: int | None,
           text: Callable[[Any, PathKey], str | None] | None = None) -> list[Span]:
    """The spans of a list; `text` checks a span's name (None: taken as it is)."""
    if not isinstance(value, list):
        error(path, "must be a list of {date: ...} or {from: ..., to: ...}")
        return []
    if len(value) > MAX_SPANS:
        error(path, f"at most {MAX_SPANS} entries, not {len(value)}")
        return []
    out = []
    for i, item in enumerate(value):
        sub = (*path, i) if path[0] != "overrides" else path
        if not isinstance(item, dict):
            error(sub, "must be a mapping with date, or from and to")
            continue
        name = item.get("name")
        if name is not None and text is not None:
            name = text(name, (*sub, "name"))
        if "date" in item:
            start = end = _date(item["date"], (*sub, "date"), error)
        elif "from" in item and "to" in item:
            start = _date(item["from"], (*sub, "from"), error)
            end = _date(item["to"], (*sub, "to"), error)
        else:
            error(sub, "needs date, or from and to")
            continue
        if start is None or end is None:
            continue
        if end < start:
            error(sub, f"to ({end}) is before from ({start})")
            continue
        if year is not None and (start.year != year or end.year != year):
            error(sub, f"dates must be in {year}")
            continue
        out.append(Span(start, end, str(name) if name else None))
    return out


def _date(value: Any, path: PathKey, error: Report) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        error(path, f"'{value}' is not a date like 2027-01-01")
        return None


DEFAULT = Calendar()


def is_working_day(day: date) -> bool:
    """With the default calendar (no config)."""
    return DEFAULT.is_working_day(day)


def calendar_state(at: datetime) -> str:
    """With the default calendar (no config)."""
    return DEFAULT.state(at)
