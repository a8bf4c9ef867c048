"""Work orders (登记表) as rules: who sees which order, and how much working time is left
before an order's deadline.

Pure: no I/O, no clock (every time is an argument). The REST API, the liaison's page and
the leader's follow-up page decide with these functions.

- The centre's people (seats, experts, leaders, auditors) see every order; a city
  bureau's people only their bureau's (`visible_bureau`): an order's bureau is the one it
  was passed to, else the group of the seat that took its call.
- A liaison (a business department or a city bureau answering orders) sees only the
  orders passed on to their department (or, without one, to their bureau).
- Time left is counted in working hours (the calendar's opening hours of working days),
  as the deadlines are counted in working days: an order due at the end of Monday,
  looked at on Friday at 17:00, has half an hour of Friday and all of Monday left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hotline.core.accounts import Person, visible_bureau
from hotline.core.calendar.schedule import CHINA, Calendar

# An order not done with at most this much working time left is "nearly due" (临期).
NEARLY_DUE = timedelta(hours=4)
# Statuses of an order that is still to be done (待办, 已转办, 已退回).
OPEN_STATUSES = ("open", "passed_on", "returned")
CENTRE_ROLES = frozenset({"seat", "expert", "leader", "auditor"})
# How far the working-time arithmetic looks (a deadline is days away, never years).
HORIZON_DAYS = 400


@dataclass(frozen=True)
class OrderScope:
    """Which orders a person sees. None: no limit of that kind; `nothing`: none at all."""

    bureau: str | None = None  # only orders of this bureau (a city bureau's people)
    department: str | None = None  # only orders passed on to this department (a liaison)
    passed_to_bureau: str | None = None  # only orders passed on to this bureau (a liaison)
    nothing: bool = False

    @property
    def liaison(self) -> bool:
        return self.department is not None or self.passed_to_bureau is not None

    def allows(self, order: Mapping[str, Any]) -> bool:
        """Does the scope hold `order` (a row with department, passed_on_at and
        order_bureau: its own bureau, else its call's seat group)?"""
        if self.nothing:
            return False
        if self.bureau is not None and order.get("order_bureau") != self.bureau:
            return False
        if self.liaison and order.get("passed_on_at") is None:
            return False
        if self.department is not None and order.get("department") != self.department:
            return False
        return self.passed_to_bureau is None or order.get("bureau") == self.passed_to_bureau


def order_scope(person: Person) -> OrderScope:
    """The orders `person` sees (the centre's roles win over liaison)."""
    bureau = visible_bureau(person)
    if CENTRE_ROLES & person.roles:
        return OrderScope(bureau=bureau)
    if "liaison" in person.roles:
        if person.department:
            return OrderScope(bureau=bureau, department=person.department)
        if person.bureau:
            return OrderScope(passed_to_bureau=person.bureau)
    return OrderScope(nothing=True)


def is_liaison_only(person: Person) -> bool:
    """A liaison and nothing of the centre: acts only on the orders passed to them."""
    return "liaison" in person.roles and not CENTRE_ROLES & person.roles


# -- working time ----------------------------------------------------------------------


def _open_spans(calendar: Calendar, start: datetime, end: datetime,
                ) -> list[tuple[datetime, datetime]]:
    """The opening hours of working days between `start` and `end` (aware), clipped."""
    spans = []
    day = start.astimezone(CHINA).date()
    last = min(end.astimezone(CHINA).date(), day + timedelta(days=HORIZON_DAYS))
    while day <= last:
        info = calendar.day(day)
        if info.working:
            for opens, closes in info.hours:
                a = max(start, datetime.combine(day, opens, tzinfo=CHINA))
                b = min(end, datetime.combine(day, closes, tzinfo=CHINA))
                if a < b:
                    spans.append((a, b))
        day += timedelta(days=1)
    return spans


def working_time(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """Working time (opening hours of working days) from `start` to `end`; negative when
    `end` is before `start` (the working time an order is overdue by)."""
    if end < start:
        return -working_time(calendar, end, start)
    return sum((b - a for a, b in _open_spans(calendar, start, end)), timedelta())


def after_working_time(calendar: Calendar, start: datetime, amount: timedelta) -> datetime:
    """The moment `amount` of working time after `start` (nearly due: a deadline before
    it). Beyond the calendar's horizon, the horizon."""
    left = amount
    horizon = start + timedelta(days=HORIZON_DAYS)
    for a, b in _open_spans(calendar, start, horizon):
        if b - a >= left:
            return a + left
        left -= b - a
    return horizon


def time_left_label(left: timedelta, overdue: bool) -> str:
    """What the pages say, in working time: 剩余 5 工作小时 20 分, 已逾期 2 工作小时, or
    已逾期 (past the deadline, no working time since)."""
    minutes = int(abs(left).total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    text = " ".join(([f"{hours} 工作小时"] if hours else [])
                    + ([f"{rest} 分"] if rest or not hours else []))
    if overdue:
        return "已逾期" + (f" {text}" if minutes else "")
    return f"剩余 {text}"
