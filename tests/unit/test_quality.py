"""The quality review's pure core (core/quality.py): the weekly sampling draw, the review
form's scoring, and config/quality.yaml's validation."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from hotline.common.errors import ConfigError
from hotline.common.yamlsrc import load_file, load_text
from hotline.core.quality import (
    AnsweredCall,
    Draw,
    Plan,
    draw,
    parse_quality,
    score_review,
    weekly_quota,
)

FILE = "config/quality.yaml"
MONDAY = date(2026, 11, 30)
WEEK = [MONDAY + timedelta(days=n) for n in range(5)]
PLAN = Plan()
REPO = Path(__file__).resolve().parents[2]


def generated_week(seed: int = 16) -> list[AnsweredCall]:
    """40 seats (12 of them remote, in two city bureaus), 3,000 answered calls Mon-Fri;
    about 4 % rated unsatisfied, about 3 % complaints."""
    rng = random.Random(seed)
    seats = [(f"80{n:02d}", "centre", False) for n in range(28)]
    seats += [(f"90{n:02d}", "hefei" if n % 2 else "wuhu", True) for n in range(12)]
    calls = []
    for n in range(3000):
        seat, group, remote = rng.choice(seats)
        category = rng.choices(["consultation", "complaint", "tip_off", None],
                               [90, 3, 2, 5])[0]
        rating = rng.choices(["satisfied", "basic", "unsatisfied", None], [70, 10, 4, 16])[0]
        calls.append(AnsweredCall(f"1764{n:06d}.{n}", seat, group, remote,
                                  rng.choice(WEEK), category, rating))
    return calls


def day_by_day(calls: list[AnsweredCall], plan: Plan = PLAN) -> list[Draw]:
    """Run the draw after each working day, as the service would."""
    drawn: list[Draw] = []
    for day in WEEK:
        drawn += draw([c for c in calls if c.answered <= day], drawn, plan, day)
    return drawn


def test_a_week_drawn_on_friday_samples_each_seat_exactly_its_quota() -> None:
    """Each seat gets ceil(rate x its answered calls) sampled calls: 3 % at the centre,
    6 % for remote seats."""
    calls = generated_week()
    drawn = draw(calls, [], PLAN, WEEK[-1])
    sampled = Counter(d.seat for d in drawn if d.reason == "sampled")
    answered = Counter(c.seat for c in calls)
    assert len(answered) == 40
    for seat, count in answered.items():
        rate = 0.06 if seat.startswith("9") else 0.03
        assert sampled[seat] == weekly_quota(rate, count), seat
    for prefix, rate in (("8", 0.03), ("9", 0.06)):
        calls_n = sum(n for s, n in answered.items() if s.startswith(prefix))
        share = sum(n for s, n in sampled.items() if s.startswith(prefix)) / calls_n
        assert rate <= share <= rate + 0.02, (prefix, share)


def test_every_unsatisfied_call_and_complaint_is_drawn_on_top_of_the_quota() -> None:
    """All calls rated unsatisfied and all complaints are drawn for that reason, and they
    do not use up a seat's sampling quota; tip-offs are not drawn unless the plan says."""
    calls = generated_week()
    drawn = {d.linkedid: d.reason for d in draw(calls, [], PLAN, WEEK[-1])}
    for call in calls:
        if call.rating == "unsatisfied":
            assert drawn[call.linkedid] == "unsatisfied"
        elif call.category == "complaint":
            assert drawn[call.linkedid] == "complaint"
        elif call.category == "tip_off":
            assert drawn.get(call.linkedid) in (None, "sampled")
    with_tips = Plan(tip_off=True)
    drawn = {d.linkedid: d.reason for d in draw(calls, [], with_tips, WEEK[-1])}
    assert all(drawn[c.linkedid] in ("tip_off", "unsatisfied") for c in calls
               if c.category == "tip_off")


def test_the_draw_is_the_same_on_a_rerun_and_draws_no_call_twice() -> None:
    """Same calls, same day: the same draw, whatever the calls' order; no call twice."""
    calls = generated_week()
    first = draw(calls, [], PLAN, WEEK[-1])
    shuffled = list(calls)
    random.Random(1).shuffle(shuffled)
    assert draw(shuffled, [], PLAN, WEEK[-1]) == first
    assert len({d.linkedid for d in first}) == len(first)
    assert draw(calls, first, PLAN, WEEK[-1]) == []  # a second run that day adds nothing


def test_drawing_day_by_day_ends_the_week_at_the_quota() -> None:
    """Run each evening Mon-Fri, the sampled draws add up to each seat's weekly quota,
    each day drawing only that day's share, never a call twice."""
    calls = generated_week()
    drawn = day_by_day(calls)
    assert len({d.linkedid for d in drawn}) == len(drawn)
    assert {d.day for d in drawn} == set(WEEK)  # spread over the week, not all on Friday
    sampled = Counter(d.seat for d in drawn if d.reason == "sampled")
    for seat, count in Counter(c.seat for c in calls).items():
        rate = 0.06 if seat.startswith("9") else 0.03
        assert sampled[seat] == weekly_quota(rate, count), seat
    always = {d.linkedid for d in drawn if d.reason != "sampled"}
    assert always == {c.linkedid for c in calls
                      if c.rating == "unsatisfied" or c.category == "complaint"}


def test_a_leaders_pick_is_drawn_and_calls_of_another_week_are_not() -> None:
    """A linkedid a leader names is drawn as 'leader'; calls of last week are ignored."""
    calls = generated_week()[:50]
    pick = next(c for c in calls if c.rating != "unsatisfied" and c.category != "complaint")
    old = AnsweredCall("old.1", "8000", "centre", False, MONDAY - timedelta(days=3),
                       "complaint")
    drawn = draw([*calls, old], [], PLAN, WEEK[-1], leader={pick.linkedid})
    assert Draw(pick.linkedid, pick.seat, WEEK[-1], "leader") in drawn
    assert "old.1" not in {d.linkedid for d in drawn}


def test_the_quota_rounds_up_so_every_seat_that_answered_is_reviewed() -> None:
    """ceil, not round: 16 calls at 3 % still give one review; 50 at 6 % give exactly 3."""
    assert weekly_quota(0.03, 16) == 1
    assert weekly_quota(0.06, 50) == 3
    assert weekly_quota(0.03, 0) == 0


# -- scoring --------------------------------------------------------------------------------


def test_a_review_scores_its_total_and_percentage() -> None:
    """All four items scored: the total out of 100 and its percentage."""
    score = score_review(PLAN.form, {"accuracy": 35, "completeness": 25.5, "attitude": 20,
                                     "language": 8})
    assert (score.total, score.maximum, score.percent) == (88.5, 100, 88.5)


@pytest.mark.parametrize(("scores", "message"), [
    ({"accuracy": 41, "completeness": 1, "attitude": 1, "language": 1},
     "item 'accuracy' (政策解答准确性): the score must be from 0 to 40, not 41"),
    ({"accuracy": 1, "completeness": -1, "attitude": 1, "language": 1},
     "item 'completeness' (解答完整性): the score must be from 0 to 30, not -1"),
    ({"accuracy": 1, "completeness": 1, "language": 1},
     "item 'attitude' (服务态度) is not scored"),
    ({"accuracy": 1, "completeness": 1, "attitude": 1, "language": True},
     "item 'language' (规范用语): the score must be a number, not True"),
    ({"accuracy": 1, "completeness": 1, "attitude": 1, "language": 1, "speed": 3},
     "unknown item 'speed'"),
])
def test_bad_scores_are_refused_naming_the_item(scores: dict[str, object],
                                                message: str) -> None:
    """A score above the maximum, below 0, missing, not a number or for no item is an
    error that names the item."""
    with pytest.raises(ConfigError) as info:
        score_review(PLAN.form, scores)
    assert message in str(info.value)


# -- config/quality.yaml --------------------------------------------------------------------


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_quality(load_text(text, FILE), groups={"centre", "hefei"})
    return [str(p) for p in info.value.problems]


def test_the_shipped_quality_yaml_is_the_2005_rules_form_and_rates() -> None:
    """config/quality.yaml loads: 3 % centre, 6 % remote, the four items out of 100."""
    plan = parse_quality(load_file(REPO / FILE, FILE))
    assert (plan.centre_rate, plan.remote_rate) == (0.03, 0.06)
    assert [i.label for i in plan.form] == ["政策解答准确性", "解答完整性", "服务态度", "规范用语"]
    assert sum(i.max_points for i in plan.form) == 100


def test_a_group_rate_overrides_its_kinds() -> None:
    """group_rates gives one city bureau its own rate."""
    plan = parse_quality(load_text("group_rates: {hefei: 0.1}\n", FILE), groups={"hefei"})
    assert plan.rate("hefei", True) == 0.1
    assert plan.rate("wuhu", True) == 0.06


@pytest.mark.parametrize(("text", "expected"), [
    ("rates:\n  centre: 0.03\n  remote: 1.5\n",
     "config/quality.yaml:3: rates.remote: must be a number of calls sampled per call "
     "answered (0.03 is 3 %) from 0 to 1, not 1.5"),
    ("rates: {centre: 0.03, city: 0.06}\n",
     "config/quality.yaml:1: rates.city: unknown key (expected one of: centre, remote)"),
    ("group_rates:\n  nanjing: 0.05\n",
     "config/quality.yaml:2: group_rates.nanjing: unknown seat group 'nanjing'"),
    ("form:\n  - {key: accuracy, label: 准确性, max: 40}\n  - {key: tone, lable: 语气, max: 5}\n",
     "config/quality.yaml:3: form[1].lable: unknown key (expected one of: key, label, max)"),
    ("form:\n  - {key: accuracy, label: 准确性, max: 40}\n"
     "  - {key: accuracy, label: 准确, max: 5}\n",
     "config/quality.yaml:3: form[1].key: duplicate item 'accuracy' (also item 1, line 2)"),
    ("form:\n  - {key: accuracy, label: 准确性, max: 0}\n",
     "config/quality.yaml:2: form[0].max: must be a whole number from 1 to 1000, not 0"),
    ("always: {unsatisfied: yes please}\n",
     "config/quality.yaml:1: always.unsatisfied: must be true or false"),
])
def test_bad_quality_yaml_is_refused_at_its_line(text: str, expected: str) -> None:
    """A rate above 1, an unknown key or item field, a duplicate item, an unknown group:
    each refused with the file, line and key."""
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found
