"""The calendar in depth: 2026's real holidays and 调休, Beijing time whatever the machine's
zone, years without official data, config/calendar.yaml (years, overrides, queue hours),
deadlines in working days, file:line errors, and `hotline calendar` / `hotline check`."""

from __future__ import annotations

import json
import time as systime
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.app.settings import load_settings
from hotline.app.wiring import calendar_from
from hotline.common.errors import ConfigError
from hotline.common.yamlsrc import load_text
from hotline.core.calendar.schedule import Calendar, CalendarInvalid, parse_calendar
from tests.unit.test_cli_dialplans import hotline

REPO = Path(__file__).resolve().parents[2]
CHINA = ZoneInfo("Asia/Shanghai")
FILE = "config/calendar.yaml"
DEFAULT = Calendar()


def beijing(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHINA)


def parse(text: str) -> Calendar:
    return parse_calendar(load_text(text, FILE))


def problems(text: str) -> list[str]:
    with pytest.raises(CalendarInvalid) as info:
        parse(text)
    return info.value.problems


@pytest.fixture
def calendar_file(tmp_path: Path) -> Path:
    """An empty calendar file of the test's own (write the test's YAML into it)."""
    path = tmp_path / "calendar.yaml"
    path.write_text("{}\n", encoding="utf-8")
    return path


# A schedule for 2027 as an administrator adds it once the State Council publishes it.
YEAR_2027 = """\
years:
  2027:
    holidays:
      - {from: 2027-01-01, to: 2027-01-03, name: 元旦}
      - {from: 2027-02-06, to: 2027-02-13, name: 春节}
    workdays:
      - {date: 2027-02-14, name: 春节调休}
"""


# -- 2026: the real edge days ---------------------------------------------------------------


@pytest.mark.parametrize("day", [date(2026, 2, 14), date(2026, 2, 28)])
def test_spring_festival_makeup_saturdays_are_working_days(day: date) -> None:
    """2026-02-14 and 2026-02-28 are Saturdays worked for 春节 (调休): makeup_workday."""
    info = DEFAULT.day(day)
    assert day.weekday() == 5
    assert (info.working, info.reason) == (True, "makeup_workday")
    assert info.hours == ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
    assert DEFAULT.state(beijing(day.year, day.month, day.day, 9)) == "open"


def test_national_day_week_is_a_holiday_named_guoqing() -> None:
    """2026-10-01 to 10-07 are all holidays named 国庆节, closed, with no hours."""
    days = list(DEFAULT.days(date(2026, 10, 1), date(2026, 10, 7)))
    assert len(days) == 7
    for info in days:
        assert (info.working, info.reason, info.name, info.hours) == (
            False, "holiday", "国庆节", ()), info
        assert info.label == "法定节假日：国庆节"
    assert DEFAULT.day(date(2026, 9, 30)).working
    assert DEFAULT.day(date(2026, 10, 8)).working


def test_national_day_makeup_saturday_is_a_working_day() -> None:
    """2026-10-10 is a Saturday worked for National Day: makeup_workday, labelled 调休上班."""
    info = DEFAULT.day(date(2026, 10, 10))
    assert date(2026, 10, 10).weekday() == 5
    assert (info.working, info.reason, info.source) == (True, "makeup_workday", "official")
    assert info.label.startswith("调休上班")


def test_ordinary_saturday_is_a_weekend() -> None:
    """An ordinary Saturday (2026-11-28) is a weekend day, closed."""
    info = DEFAULT.day(date(2026, 11, 28))
    assert date(2026, 11, 28).weekday() == 5
    assert (info.working, info.reason, info.name, info.hours) == (False, "weekend", None, ())
    assert DEFAULT.state(beijing(2026, 11, 28, 10)) == "non_working_day"


# -- state(): open, after hours, non-working day, in Beijing time ---------------------------


@pytest.mark.parametrize(("hour", "minute", "state"), [
    (8, 0, "after_hours"),
    (8, 29, "after_hours"),
    (8, 30, "open"),
    (10, 0, "open"),
    (12, 30, "after_hours"),
    (15, 0, "open"),
    (17, 30, "after_hours"),
    (0, 0, "after_hours"),
])
def test_state_follows_the_opening_hours(hour: int, minute: int, state: str) -> None:
    """A working Wednesday: after_hours before 08:30, at 12:30 and at 17:30 exactly."""
    assert DEFAULT.state(beijing(2026, 11, 25, hour, minute)) == state


def test_state_is_non_working_day_on_a_holiday_even_in_office_hours() -> None:
    """On 2026-10-05 (国庆节, a Monday) it is non_working_day at 10:00 as at 20:00."""
    assert DEFAULT.state(beijing(2026, 10, 5, 10)) == "non_working_day"
    assert DEFAULT.state(beijing(2026, 10, 5, 20)) == "non_working_day"


@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(hours=-5)),
                                  ZoneInfo("Europe/Berlin"), ZoneInfo("Pacific/Kiritimati")])
@pytest.mark.parametrize(("moment", "state"), [
    (beijing(2026, 11, 25, 9), "open"),
    (beijing(2026, 11, 25, 12, 30), "after_hours"),
    (beijing(2026, 10, 10, 9), "open"),  # Friday in the west, 调休 Saturday in Beijing
    (beijing(2026, 10, 8, 7), "after_hours"),  # still 10-07 (holiday) in UTC
    (beijing(2026, 10, 1, 10), "non_working_day"),
])
def test_the_same_instant_in_any_offset_gives_the_same_state(
        zone: timezone | ZoneInfo, moment: datetime, state: str) -> None:
    """The same instant in UTC, -05:00, Berlin or +14:00 gives Beijing's answer."""
    other = moment.astimezone(zone)
    assert other == moment
    assert DEFAULT.state(moment) == state
    assert DEFAULT.state(other) == state


def test_the_machine_timezone_does_not_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the process in Los Angeles time, the answers are still Beijing's."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    systime.tzset()
    try:
        local = beijing(2026, 10, 10, 9).astimezone()  # the machine's zone
        assert local.utcoffset() == timedelta(hours=-7)  # PDT: the TZ took effect
        assert (local.date(), local.hour) == (date(2026, 10, 9), 18)
        assert DEFAULT.state(local) == "open"
        assert DEFAULT.state(datetime.fromtimestamp(local.timestamp(), UTC)) == "open"
        assert DEFAULT.add_working_days(local, 1) == beijing(2026, 10, 12, 17, 30)
    finally:
        monkeypatch.undo()
        systime.tzset()


def test_a_naive_datetime_is_refused() -> None:
    """A datetime without an offset (the machine's zone) is refused, not guessed."""
    with pytest.raises(ValueError, match="no UTC offset"):
        DEFAULT.state(datetime(2026, 11, 25, 10))
    with pytest.raises(ValueError, match="no UTC offset"):
        DEFAULT.add_working_days(datetime(2026, 11, 25, 10), 1)


# -- years without official data --------------------------------------------------------------


def test_2027_without_data_falls_back_to_monday_to_friday() -> None:
    """2027 has no data: Monday-Friday work, weekends rest (fallback), nothing raises."""
    assert date(2027, 3, 1).weekday() == 0
    week = list(DEFAULT.days(date(2027, 3, 1), date(2027, 3, 7)))
    assert [d.working for d in week] == [True] * 5 + [False] * 2
    assert [d.reason for d in week] == ["fallback_weekday"] * 5 + ["fallback_weekend"] * 2
    assert {d.source for d in week} == {"fallback"}
    assert DEFAULT.state(beijing(2027, 3, 1, 9)) == "open"


def test_2027_new_year_is_a_fixed_date_fallback_holiday() -> None:
    """2027-01-01 (a Friday) is closed as 元旦 even without official data."""
    info = DEFAULT.day(date(2027, 1, 1))
    assert date(2027, 1, 1).weekday() == 4
    assert (info.working, info.reason, info.name, info.source) == (
        False, "fallback_holiday", "元旦", "fallback")
    assert DEFAULT.state(beijing(2027, 1, 1, 10)) == "non_working_day"


def test_missing_years_names_2027_only() -> None:
    """missing_years() reports the years without an official schedule: 2027, not 2026."""
    assert DEFAULT.missing_years([2026, 2027]) == [2027]
    assert DEFAULT.missing_years([2027, 2026, 2027]) == [2027]
    assert DEFAULT.missing_years([2026]) == []


def test_configured_2027_becomes_official() -> None:
    """years: {2027: ...} in calendar.yaml makes 2027 official (source config)."""
    calendar = parse(YEAR_2027)
    assert calendar.missing_years([2026, 2027]) == []
    new_year = calendar.day(date(2027, 1, 2))
    assert (new_year.working, new_year.reason, new_year.name, new_year.source) == (
        False, "holiday", "元旦", "config")
    spring = calendar.day(date(2027, 2, 10))  # a Wednesday
    assert (spring.working, spring.reason, spring.name) == (False, "holiday", "春节")
    ordinary = calendar.day(date(2027, 3, 1))
    assert (ordinary.working, ordinary.reason, ordinary.source) == (True, "weekday", "config")
    weekend = calendar.day(date(2027, 3, 6))
    assert (weekend.working, weekend.reason, weekend.source) == (False, "weekend", "config")


def test_configured_workday_on_a_sunday_is_a_working_day() -> None:
    """The configured 2027-02-14, a Sunday, is a working day (makeup_workday) and open."""
    calendar = parse(YEAR_2027)
    info = calendar.day(date(2027, 2, 14))
    assert date(2027, 2, 14).weekday() == 6
    assert (info.working, info.reason, info.name, info.source) == (
        True, "makeup_workday", "春节调休", "config")
    assert calendar.state(beijing(2027, 2, 14, 9)) == "open"
    assert info.label == "调休上班：春节调休"


# -- overrides and queue hours ----------------------------------------------------------------


def test_closed_override_makes_a_working_day_non_working() -> None:
    """A typhoon closure on Tuesday 2026-09-15 closes it, with the reason shown."""
    calendar = parse("overrides:\n  - {date: 2026-09-15, closed: true, reason: 台风停止服务}\n")
    assert DEFAULT.day(date(2026, 9, 15)).working
    info = calendar.day(date(2026, 9, 15))
    assert (info.working, info.reason, info.name, info.hours, info.source) == (
        False, "override_closed", "台风停止服务", (), "override")
    assert info.label == "临时停止服务：台风停止服务"
    assert calendar.state(beijing(2026, 9, 15, 10)) == "non_working_day"
    assert calendar.day(date(2026, 9, 16)).working  # only that day


def test_override_with_hours_changes_the_hours_and_state() -> None:
    """An override with hours 08:00-20:00 changes the day's hours, state and deadline."""
    calendar = parse('overrides:\n  - {from: 2026-05-18, to: 2026-05-22, hours: ["08:00-20:00"],'
                     " reason: 申报期延长服务}\n")
    info = calendar.day(date(2026, 5, 19))
    assert (info.working, info.reason, info.name, info.hours) == (
        True, "override_hours", "申报期延长服务", ((time(8), time(20)),))
    assert calendar.state(beijing(2026, 5, 19, 12, 30)) == "open"
    assert calendar.state(beijing(2026, 5, 19, 19)) == "open"
    assert calendar.state(beijing(2026, 5, 19, 20)) == "after_hours"
    assert DEFAULT.state(beijing(2026, 5, 19, 19)) == "after_hours"
    assert calendar.day(date(2026, 5, 25)).hours == DEFAULT.hours
    assert calendar.add_working_days(beijing(2026, 5, 18), 1) == beijing(2026, 5, 19, 20)


@pytest.mark.parametrize(("overrides", "working", "reason"), [
    ("  - {from: 2026-09-14, to: 2026-09-18, closed: true, reason: 台风停止服务}\n"
     "  - {date: 2026-09-16, closed: false, reason: 台风过境恢复服务}\n",
     True, "override_open"),
    ("  - {date: 2026-09-16, closed: false, reason: 台风过境恢复服务}\n"
     "  - {from: 2026-09-14, to: 2026-09-18, closed: true, reason: 台风停止服务}\n",
     False, "override_closed"),
])
def test_a_later_override_wins(overrides: str, working: bool, reason: str) -> None:
    """Two overrides for 2026-09-16: whichever comes later in the file decides."""
    calendar = parse("overrides:\n" + overrides)
    info = calendar.day(date(2026, 9, 16))
    assert (info.working, info.reason) == (working, reason)
    assert not calendar.day(date(2026, 9, 15)).working  # the closure still holds around it


def test_queue_hours_must_name_a_queue_routing_knows() -> None:
    """queue_hours naming a queue routing does not know is an error with file and line;
    without routing it is not checked."""
    text = 'queue_hours:\n  vip: ["08:00-20:00"]\n  nosuch: ["08:00-20:00"]\n'
    with pytest.raises(CalendarInvalid) as info:
        parse_calendar(load_text(text, FILE), {"vip", "center"})
    assert info.value.problems == [
        f"{FILE}:3: queue_hours.nosuch: unknown queue 'nosuch' (routing knows: center, vip)"]
    assert parse(text).queue_hours.keys() == {"vip", "nosuch"}  # no routing: no check


def test_queue_hours_differ_from_the_line_hours() -> None:
    """queue_hours.vip applies to that queue only; holidays stay closed for it."""
    calendar = parse('queue_hours:\n  vip: ["08:00-20:00"]\n')
    assert calendar.day(date(2026, 11, 25), "vip").hours == ((time(8), time(20)),)
    assert calendar.day(date(2026, 11, 25)).hours == DEFAULT.hours
    assert calendar.day(date(2026, 11, 25), "general").hours == DEFAULT.hours
    assert calendar.state(beijing(2026, 11, 25, 19), "vip") == "open"
    assert calendar.state(beijing(2026, 11, 25, 12, 30), "vip") == "open"
    assert calendar.state(beijing(2026, 11, 25, 19)) == "after_hours"
    assert calendar.state(beijing(2026, 10, 1, 10), "vip") == "non_working_day"


# -- add_working_days -------------------------------------------------------------------------


@pytest.mark.parametrize(("received", "count", "due"), [
    # across National Day: Wednesday 09-30 + 1 -> Thursday 10-08
    (beijing(2026, 9, 30, 10), 1, beijing(2026, 10, 8, 17, 30)),
    # across a weekend: Friday + 1 -> Monday
    (beijing(2026, 11, 27, 16), 1, beijing(2026, 11, 30, 17, 30)),
    # onto the 调休 Saturday: Friday 10-09 + 1 -> Saturday 10-10
    (beijing(2026, 10, 9, 10), 1, beijing(2026, 10, 10, 17, 30)),
    # Spring Festival: Friday 02-13 + 1 is the 调休 Saturday 02-14 (chinese-calendar) ...
    (beijing(2026, 2, 13, 10), 1, beijing(2026, 2, 14, 17, 30)),
    # ... and 02-14 + 1 skips 02-15 to 02-23 (春节) to Tuesday 02-24
    (beijing(2026, 2, 14, 10), 1, beijing(2026, 2, 24, 17, 30)),
    # a difficult question: 3 working days
    (beijing(2026, 11, 25, 10), 3, beijing(2026, 11, 30, 17, 30)),
    (beijing(2026, 9, 29, 10), 3, beijing(2026, 10, 9, 17, 30)),
    # 0 days: the end of that working day, or of the next working day after a holiday
    (beijing(2026, 11, 25, 10), 0, beijing(2026, 11, 25, 17, 30)),
    (beijing(2026, 10, 3, 10), 0, beijing(2026, 10, 8, 17, 30)),
    (beijing(2026, 11, 28, 10), 0, beijing(2026, 11, 30, 17, 30)),
    # Friday 17:00 UTC is Saturday 01:00 in Beijing: counted from the Beijing date
    (datetime(2026, 10, 9, 17, 0, tzinfo=UTC), 1, beijing(2026, 10, 12, 17, 30)),
])
def test_add_working_days(received: datetime, count: int, due: datetime) -> None:
    """Due at the end of the count-th working day after the Beijing date of receipt."""
    result = DEFAULT.add_working_days(received, count)
    assert result == due
    assert result.isoformat() == due.isoformat()  # also expressed at +08:00


def test_add_working_days_national_day_exact_string() -> None:
    """2026-09-30 + 1 working day is exactly 2026-10-08T17:30:00+08:00."""
    result = DEFAULT.add_working_days(beijing(2026, 9, 30, 9), 1)
    assert result.isoformat() == "2026-10-08T17:30:00+08:00"


def test_add_working_days_refuses_a_negative_count() -> None:
    """A negative number of working days is a programming error."""
    with pytest.raises(ValueError, match="negative"):
        DEFAULT.add_working_days(beijing(2026, 11, 25), -1)


# -- parse_calendar: every problem as file:line: key.path: message ---------------------------


def test_shipped_calendar_file_is_valid() -> None:
    """The repository's config/calendar.yaml parses."""
    parse((REPO / "config" / "calendar.yaml").read_text(encoding="utf-8"))


def test_error_unknown_top_level_key() -> None:
    """An unknown top-level key is named with its line."""
    assert problems('hours: ["08:30-12:00"]\nholidays: []\n') == [
        f"{FILE}:2: holidays: unknown key (expected one of: hours, overrides, queue_hours, "
        "years)"]


@pytest.mark.parametrize("bad", ["8:30-12", "08:30", "08:30-12:00-13:00", "08:30Z-12:00",
                                 "0830-1200", "08:30-24:00"])
def test_error_hours_not_a_range(bad: str) -> None:
    """A range not written HH:MM-HH:MM (such as "8:30-12") is refused at its line."""
    assert problems(f'hours:\n  - "13:30-17:30"\n  - "{bad}"\n') == [
        f"{FILE}:3: hours[1]: '{bad}' is not a range like \"08:30-12:00\""]


@pytest.mark.parametrize("bad", ["12:00-08:30", "08:30-08:30"])
def test_error_hours_end_before_start(bad: str) -> None:
    """A range that ends before (or when) it starts is refused."""
    assert problems(f'hours: ["{bad}"]\n') == [f"{FILE}:1: hours[0]: '{bad}' ends before it starts"]


def test_error_hours_overlap() -> None:
    """Overlapping ranges are refused, at the list's line."""
    assert problems('queue_hours:\n  vip: ["08:00-12:00", "11:00-18:00"]\n') == [
        f"{FILE}:2: queue_hours.vip: the ranges overlap"]


@pytest.mark.parametrize("key", ["next", "27", "2027.5"])
def test_error_year_key_not_a_year(key: str) -> None:
    """A key under years that is not a four-digit year is refused."""
    assert problems(f"years:\n  {key}:\n    holidays: []\n") == [
        f"{FILE}:2: years.\"{key}\": '{key}' is not a year" if not key.isalpha()
        else f"{FILE}:2: years.{key}: '{key}' is not a year"]


def test_error_span_to_before_from() -> None:
    """A holiday span whose to is before its from is refused at the item's line."""
    text = YEAR_2027.replace("{from: 2027-02-06, to: 2027-02-13",
                             "{from: 2027-02-13, to: 2027-02-06")
    assert problems(text) == [
        f"{FILE}:5: years.\"2027\".holidays[1]: to (2027-02-06) is before from (2027-02-13)"]


def test_error_span_outside_its_year() -> None:
    """A workday of 2027 dated in 2026 is refused."""
    text = YEAR_2027.replace("{date: 2027-02-14", "{date: 2026-12-27")
    assert problems(text) == [f"{FILE}:7: years.\"2027\".workdays[0]: dates must be in 2027"]


def test_error_override_closed_with_hours() -> None:
    """An override cannot be both closed and have hours."""
    text = ("overrides:\n"
            "  - date: 2026-09-15\n"
            "    closed: true\n"
            '    hours: ["08:00-20:00"]\n'
            "    reason: 台风停止服务\n")
    assert problems(text) == [
        f"{FILE}:2: overrides[0]: an override is either closed or has hours, not both"]


def test_error_override_without_reason() -> None:
    """An override needs a reason (staff see it)."""
    text = ("overrides:\n"
            "  - {date: 2026-09-14, closed: true, reason: 台风停止服务}\n"
            "  - {date: 2026-09-15, closed: true}\n")
    assert problems(text) == [
        f"{FILE}:3: overrides[1]: required key 'reason' is missing (staff see it in the "
        "calendar)"]


def test_every_problem_is_reported_at_once() -> None:
    """Several mistakes give one problem each, in file order."""
    text = ('hours: ["12:00-08:30"]\n'
            "years:\n"
            "  next: {}\n"
            "overrides:\n"
            "  - {date: 2026-09-15, closed: true}\n")
    assert problems(text) == [
        f"{FILE}:1: hours[0]: '12:00-08:30' ends before it starts",
        f"{FILE}:3: years.next: 'next' is not a year",
        f"{FILE}:5: overrides[0]: required key 'reason' is missing (staff see it in the "
        "calendar)"]


def test_broken_yaml_through_wiring_names_file_and_line(calendar_file: Path) -> None:
    """Invalid YAML through wiring: a ConfigError naming the file and line."""
    calendar_file.write_text("overrides:\n  - date: 2026-09-15\n     closed: true\n",
                             encoding="utf-8")
    settings = load_settings(None, {"HOTLINE_CALENDAR_PATH": str(calendar_file)})
    with pytest.raises(ConfigError) as info:
        calendar_from(settings)
    assert info.value.code == "calendar-invalid"
    assert info.value.problems == [
        f"{calendar_file}:3: invalid YAML: this line is indented deeper than the key on line 2 "
        "(column 6, not 5): YAML reads it as the rest of line 2's value and refuses its ':'"]


def test_invalid_calendar_through_wiring_names_file_and_line(calendar_file: Path) -> None:
    """A valid YAML file with a bad entry gives the parse problem with the file's path."""
    calendar_file.write_text('hours:\n  - "8:30-12"\n', encoding="utf-8")
    settings = load_settings(None, {"HOTLINE_CALENDAR_PATH": str(calendar_file)})
    with pytest.raises(ConfigError) as info:
        calendar_from(settings)
    assert info.value.problems == [
        f"{calendar_file}:2: hours[0]: '8:30-12' is not a range like \"08:30-12:00\""]


def test_no_calendar_file_means_the_default_calendar(tmp_path: Path) -> None:
    """Without a calendar file, wiring gives the default calendar."""
    settings = load_settings(None, {"HOTLINE_CALENDAR_PATH": str(tmp_path / "none.yaml")})
    assert calendar_from(settings) == Calendar()


# -- hotline calendar / hotline check ---------------------------------------------------------


def test_cli_calendar_json_gives_each_day_and_why() -> None:
    """`hotline calendar --json` lists every day with working, reason, name and hours."""
    res = hotline("calendar", "--from", "2026-09-30", "--to", "2026-10-10", "--json")
    assert res.returncode == 0, res.stderr
    days = {d["date"]: d for d in json.loads(res.stdout)}
    assert list(days) == [(date(2026, 9, 30) + timedelta(days=i)).isoformat()
                          for i in range(11)]
    assert days["2026-10-01"] == {
        "date": "2026-10-01", "working": False, "reason": "holiday", "name": "国庆节",
        "label": "法定节假日：国庆节", "source": "official", "hours": []}
    assert days["2026-10-10"]["working"] is True
    assert days["2026-10-10"]["reason"] == "makeup_workday"
    assert days["2026-10-10"]["hours"] == ["08:30-12:00", "13:30-17:30"]
    assert days["2026-09-30"]["reason"] == "weekday"
    assert res.stderr == ""


def test_cli_calendar_text_has_chinese_labels() -> None:
    """The text output shows each day with 上班/休息 and the Chinese reason."""
    res = hotline("calendar", "--from", "2026-09-30", "--to", "2026-10-10")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 11
    oct1 = next(line for line in lines if line.startswith("2026-10-01"))
    assert oct1.startswith("2026-10-01 周四  休息  -")
    assert oct1.endswith("法定节假日：国庆节")
    oct10 = next(line for line in lines if line.startswith("2026-10-10"))
    assert oct10.startswith("2026-10-10 周六  上班  08:30-12:00 13:30-17:30")
    assert "调休上班" in oct10


def test_cli_calendar_warns_about_2027(calendar_file: Path) -> None:
    """Reaching into 2027 warns on stderr, with --json too (stdout stays JSON)."""
    env = {"HOTLINE_CALENDAR_PATH": str(calendar_file)}
    res = hotline("calendar", "--from", "2026-12-31", "--to", "2027-01-02", env=env)
    assert res.returncode == 0, res.stderr
    assert "注意：2027年尚无官方节假日安排" in res.stderr
    assert "2026年" not in res.stderr
    assert "法定节假日（固定日期，无官方安排）：元旦" in res.stdout
    res = hotline("calendar", "--from", "2026-12-31", "--to", "2027-01-02", "--json", env=env)
    assert res.returncode == 0, res.stderr
    assert "注意：2027年尚无官方节假日安排" in res.stderr
    assert [d["source"] for d in json.loads(res.stdout)] == ["official", "fallback", "fallback"]


def test_cli_calendar_no_warning_once_2027_is_configured(calendar_file: Path) -> None:
    """With years.2027 in the calendar file, the same range gives no warning."""
    calendar_file.write_text(YEAR_2027, encoding="utf-8")
    res = hotline("calendar", "--from", "2026-12-31", "--to", "2027-01-02",
                  env={"HOTLINE_CALENDAR_PATH": str(calendar_file)})
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert res.stdout.splitlines()[1].endswith("法定节假日：元旦")


def test_cli_calendar_to_before_from_is_a_clear_error() -> None:
    """--to before --from: exit status 2 and one line saying so, no traceback."""
    res = hotline("calendar", "--from", "2026-10-10", "--to", "2026-09-30")
    assert res.returncode == 2
    assert res.stderr.strip() == "hotline: --to 2026-09-30 is before --from 2026-10-10"
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("bad", ["2026-02-30", "tomorrow"])
def test_cli_calendar_invalid_date_is_a_clear_error(bad: str) -> None:
    """An invalid date: exit status 2 with the usage error, no traceback."""
    res = hotline("calendar", "--from", bad)
    assert res.returncode == 2
    assert f"argument --from: '{bad}' is not a date like 2026-10-01" in res.stderr
    assert "Traceback" not in res.stderr
    assert res.stdout == ""


def test_cli_calendar_with_a_broken_calendar_file_fails_cleanly(calendar_file: Path) -> None:
    """`hotline calendar` with an invalid calendar file: exit 2, the problem with file:line."""
    calendar_file.write_text('hours: ["12:00-08:30"]\n', encoding="utf-8")
    res = hotline("calendar", env={"HOTLINE_CALENDAR_PATH": str(calendar_file)})
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"hotline: {calendar_file}:1: hours[0]: '12:00-08:30' ends before it starts")
    assert "Traceback" not in res.stderr


def test_cli_check_fails_on_a_broken_calendar(calendar_file: Path) -> None:
    """`hotline check` with an invalid calendar exits 1, printing file:line."""
    calendar_file.write_text(
        'hours: ["08:30-12:00"]\noverrides:\n  - {date: 2026-09-15, closed: true}\n',
        encoding="utf-8")
    res = hotline("check", env={"HOTLINE_CALENDAR_PATH": str(calendar_file)})
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert (f"{calendar_file}:3: overrides[0]: required key 'reason' is missing (staff see "
            "it in the calendar)") in lines
    assert " 1 error(s), " in lines[-1]
    assert "Traceback" not in res.stderr


def test_cli_check_names_queue_hours_of_a_queue_routing_does_not_know(
        calendar_file: Path) -> None:
    """`hotline check` reports queue_hours of an unknown queue at its line in calendar.yaml
    and fails."""
    calendar_file.write_text('queue_hours:\n  centre: ["08:00-20:00"]\n', encoding="utf-8")
    res = hotline("check", env={"HOTLINE_CALENDAR_PATH": str(calendar_file)})
    assert res.returncode == 1, res.stdout + res.stderr
    [line] = [x for x in res.stdout.splitlines() if "queue_hours" in x]
    assert line.startswith(f"{calendar_file}:2: queue_hours.centre: unknown queue 'centre' "
                           "(routing knows: center, "), line


def test_cli_check_fails_on_calendar_yaml_syntax(calendar_file: Path) -> None:
    """`hotline check` with a calendar file that is not YAML exits 1 naming file and line."""
    calendar_file.write_text("overrides:\n  - date: 2026-09-15\n     closed: true\n",
                             encoding="utf-8")
    res = hotline("check", env={"HOTLINE_CALENDAR_PATH": str(calendar_file)})
    assert res.returncode == 1, res.stdout + res.stderr
    assert (f"{calendar_file}:3: invalid YAML: this line is indented deeper than the key on "
            "line 2 (column 6, not 5): YAML reads it as the rest of line 2's value and "
            "refuses its ':'" in res.stdout.splitlines())
