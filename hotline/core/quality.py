"""Quality review (质检): which answered calls a reviewer listens to, and a review's score.

The plan (config/quality.yaml) gives each kind of seat group a weekly sampling rate (the
provincial centre's seats 3 %, remote seats in the city bureaus 6 %; a group may have its
own) and the calls drawn whatever the rate ("always": every call the caller rated
unsatisfied, every complaint, optionally every tip-off). The form lists the items a
reviewer scores (the 2005 rules' headings: 政策解答准确性, 解答完整性, 服务态度, 规范用语),
each with its maximum points.

`draw` is run once a day: it picks that day's new calls so that by the end of the week
each seat has exactly its quota of sampled calls, plus the "always" calls on top. Pure:
the caller reads the calls from the ledger and stores the draws.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from hotline.common.errors import ConfigError
from hotline.common.validate import Checker
from hotline.common.yamlsrc import PathKey, Sourced

__all__ = ["REASONS", "UNSATISFIED", "AnsweredCall", "Draw", "FormItem", "Plan", "Score",
           "draw", "parse_quality", "score_review", "weekly_quota"]

# Why a call is reviewed: drawn by the weekly rate, rated unsatisfied, a complaint, a
# tip-off (when the plan says so), or picked by a leader (领导指定).
REASONS = {"sampled": "随机抽检", "unsatisfied": "不满意评价", "complaint": "涉税投诉",
           "tip_off": "涉税举报", "leader": "领导指定"}
UNSATISFIED = "unsatisfied"  # the caller's rating that always draws the call
SEAT_KINDS = ("centre", "remote")


@dataclass(frozen=True)
class FormItem:
    """One item of the review form: its code, the label reviewers read, its maximum."""

    key: str
    label: str
    max_points: int


@dataclass(frozen=True)
class Plan:
    """The sampling plan and the review form."""

    centre_rate: float = 0.03
    remote_rate: float = 0.06
    group_rates: Mapping[str, float] = field(default_factory=dict)  # group -> its own rate
    unsatisfied: bool = True
    complaint: bool = True
    tip_off: bool = False
    form: tuple[FormItem, ...] = (
        FormItem("accuracy", "政策解答准确性", 40), FormItem("completeness", "解答完整性", 30),
        FormItem("attitude", "服务态度", 20), FormItem("language", "规范用语", 10))

    def rate(self, group: str, is_remote: bool) -> float:
        """The weekly sampling rate of a seat in `group`."""
        if group in self.group_rates:
            return self.group_rates[group]
        return self.remote_rate if is_remote else self.centre_rate


@dataclass(frozen=True)
class AnsweredCall:
    """An answered call as the draw needs it (`rating`: the caller's, None if none)."""

    linkedid: str
    seat: str
    group: str
    is_remote: bool
    answered: date
    category: str | None = None
    rating: str | None = None


@dataclass(frozen=True)
class Draw:
    """A call drawn for review, the day it was drawn and why (a key of REASONS)."""

    linkedid: str
    seat: str
    day: date
    reason: str


def weekly_quota(rate: float, answered: int) -> int:
    """How many of a seat's `answered` calls the rate samples: ceil(rate x answered).

    Rounded up, not to the nearest, so that every seat that answered at least one call
    in the week has at least one call reviewed (at 3 % a seat answering 16 calls would
    otherwise have none: round(0.48) is 0), and so that a quota never shrinks as calls
    come in during the week, which is what lets the daily draw end exactly at it.
    """
    # The small tolerance keeps 0.06 x 50 (3.0000000000000004 in floats) at 3.
    return max(0, math.ceil(rate * answered - 1e-9))


def _week(day: date) -> tuple[int, int]:
    year, week, _ = day.isocalendar()
    return year, week


def _order(linkedid: str, week: tuple[int, int]) -> str:
    """A call's place in its week's draw: a hash, so the same calls give the same draw,
    and no seat can tell from a call's time whether it will be drawn."""
    return hashlib.sha256(f"{week[0]}-W{week[1]:02d}:{linkedid}".encode()).hexdigest()


def _always(call: AnsweredCall, plan: Plan) -> str | None:
    if plan.unsatisfied and call.rating == UNSATISFIED:
        return "unsatisfied"
    if plan.complaint and call.category == "complaint":
        return "complaint"
    if plan.tip_off and call.category == "tip_off":
        return "tip_off"
    return None


def draw(calls: Iterable[AnsweredCall], drawn: Iterable[Draw], plan: Plan, today: date,
         leader: Collection[str] = ()) -> list[Draw]:
    """Today's new draws, in a stable order (by seat, then the week's hash order).

    `calls`: the answered calls of today's week so far (calls of other weeks or after
    today are ignored); `drawn`: the calls already drawn this week (by earlier runs);
    `leader`: linkedids a leader asked to review. A call is drawn once: an "always" call
    (unsatisfied, complaint, tip-off) or a leader's pick is drawn for that reason, on top
    of the quota; the rest of each seat's calls are sampled, in the week's hash order,
    up to weekly_quota(rate, the seat's answered calls so far). Run after each working
    day's calls, the sampled draws of the week add up to each seat's weekly quota.
    """
    week = _week(today)
    ours = {c.linkedid: c for c in calls if _week(c.answered) == week and c.answered <= today}
    done = {d.linkedid: d for d in drawn}
    new: list[Draw] = []
    for linkedid in sorted(ours, key=lambda i: _order(i, week)):
        call = ours[linkedid]
        if linkedid in done:
            continue
        reason = "leader" if linkedid in leader else _always(call, plan)
        if reason is not None:
            new.append(Draw(linkedid, call.seat, today, reason))
    taken = {d.linkedid for d in new} | set(done)
    by_seat: dict[str, list[AnsweredCall]] = {}
    for call in ours.values():
        by_seat.setdefault(call.seat, []).append(call)
    sampled: dict[str, int] = {}
    for d in done.values():
        if d.reason == "sampled":
            sampled[d.seat] = sampled.get(d.seat, 0) + 1
    for seat in sorted(by_seat):
        seat_calls = by_seat[seat]
        first = seat_calls[0]
        quota = weekly_quota(plan.rate(first.group, first.is_remote), len(seat_calls))
        missing = quota - sampled.get(seat, 0)
        if missing <= 0:
            continue
        pool = sorted((c.linkedid for c in seat_calls if c.linkedid not in taken),
                      key=lambda i: _order(i, week))
        new.extend(Draw(i, seat, today, "sampled") for i in pool[:missing])
    new.sort(key=lambda d: (d.seat, _order(d.linkedid, week)))
    return new


# -- scoring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """A review's total, the form's maximum and the total as a percentage of it."""

    total: float
    maximum: int
    percent: float


def score_review(form: Sequence[FormItem], scores: Mapping[str, Any]) -> Score:
    """Validate a review's item scores against `form` and add them up.

    Every item must be scored, from 0 to its maximum (halves allowed: a number, not
    true/false); an unknown item is refused. Raises ConfigError naming the item.
    """
    known = {item.key: item for item in form}
    problems: list[str] = []
    for key in scores:
        if key not in known:
            problems.append(f"unknown item '{key}' (expected one of: {', '.join(known)})")
    total = 0.0
    for item in form:
        what = f"item '{item.key}' ({item.label})"
        if item.key not in scores or scores[item.key] is None:
            problems.append(f"{what} is not scored")
            continue
        value = scores[item.key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            problems.append(f"{what}: the score must be a number, not {value!r}")
        elif not 0 <= value <= item.max_points:
            problems.append(f"{what}: the score must be from 0 to {item.max_points}, "
                            f"not {value:g}")
        else:
            total += value
    if problems:
        raise ConfigError([f"评分有误: {p}" for p in problems])
    maximum = sum(item.max_points for item in form)
    return Score(total, maximum, round(100 * total / maximum, 1) if maximum else 0.0)


# -- config/quality.yaml --------------------------------------------------------------------


def parse_quality(source: Sourced, groups: Collection[str] | None = None) -> Plan:
    """Validate config/quality.yaml into a Plan; raises ConfigError listing every
    problem as `file:line: key.path: message`. `groups`: the seat groups routing.yaml
    knows (a group rate must name one of them); None checks no names."""
    check = Checker(source)
    data = check.mapping(source.data, (), "the quality plan", absent_ok=True)
    if data is None:
        raise ConfigError(check.problems)
    check.unknown_keys(data, ("rates", "group_rates", "always", "form"), ())
    plan = Plan()
    rates = check.mapping(data.get("rates"), ("rates",), "rates", absent_ok=True) or {}
    check.unknown_keys(rates, SEAT_KINDS, ("rates",))
    centre = _rate(check, rates, "centre", plan.centre_rate)
    remote = _rate(check, rates, "remote", plan.remote_rate)
    group_rates: dict[str, float] = {}
    raw = check.mapping(data.get("group_rates"), ("group_rates",), "group_rates",
                        absent_ok=True) or {}
    for name in raw:
        if groups is not None and name not in groups:
            check.error(("group_rates", name), f"unknown seat group '{name}' (routing.yaml "
                        f"has: {', '.join(sorted(groups))})")
        group_rates[name] = _rate(check, raw, name, 0.0, ("group_rates",))
    always = check.mapping(data.get("always"), ("always",), "always", absent_ok=True) or {}
    check.unknown_keys(always, ("unsatisfied", "complaint", "tip_off"), ("always",))
    flags = {key: check.boolean(always[key], ("always", key), default)
             if key in always else default
             for key, default in (("unsatisfied", True), ("complaint", True),
                                  ("tip_off", False))}
    form = _form(check, data["form"]) if "form" in data else plan.form
    check.raise_if_errors(ConfigError)
    return Plan(centre, remote, group_rates, flags["unsatisfied"], flags["complaint"],
                flags["tip_off"], form)


def _rate(check: Checker, data: Mapping[str, Any], key: str, default: float,
          at: PathKey = ("rates",)) -> float:
    if key not in data:
        return default
    value = check.number(data[key], (*at, key), 0, 1,
                         unit="calls sampled per call answered (0.03 is 3 %)")
    return default if value is None else value


def _form(check: Checker, value: Any) -> tuple[FormItem, ...]:
    if not isinstance(value, list) or not value:
        check.error(("form",), "must be a non-empty list of items "
                    "({key: ..., label: ..., max: ...})")
        return ()
    items: list[FormItem] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(value):
        path: PathKey = ("form", index)
        item = check.mapping(raw, path, "a form item")
        if item is None:
            continue
        check.unknown_keys(item, ("key", "label", "max"), path)
        ok = all([check.required(item, k, path) for k in ("key", "label", "max")])
        if not ok:
            continue
        key = check.text(item["key"], (*path, "key"), "the item's key")
        label = check.text(item["label"], (*path, "label"), "the item's label")
        points = check.integer(item["max"], (*path, "max"), 1, 1000)
        if key is None or label is None or points is None:
            continue
        if key in seen:
            check.error((*path, "key"), f"duplicate item '{key}' (also item {seen[key] + 1}"
                        f", line {check.source.line_of(('form', seen[key]))})")
            continue
        seen[key] = index
        items.append(FormItem(key, label, points))
    return tuple(items)
