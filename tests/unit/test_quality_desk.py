"""Quality review (质检) on a real ledger: the daily draw over a generated week of answered
calls draws each seat's share (3 % centre, 6 % remote, rounded up) plus every call rated
unsatisfied and every complaint, never a call twice; a leader's pick; who reviews and who
reads which reviews, with the refusals audited; the service's daily loop."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from hotline.common.clock import CHINA
from hotline.common.yamlsrc import load_file
from hotline.core.accounts import Person
from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome
from hotline.core.quality import Plan
from hotline.core.routing.config import parse_routing
from hotline.features.quality.desk import QualityDesk
from hotline.features.quality.errors import (
    QualityAlreadyDrawn,
    QualityBadScore,
    QualityNotAllowed,
    QualityNotAnswered,
    QualityNotDrawn,
)
from hotline.ledger.errors import QualityReviewed
from hotline.ledger.store import Ledger

ROUTING = parse_routing(load_file(Path(__file__).parents[2] / "config" / "routing.yaml"))
A, B, C = "演示座席8001", "演示座席8002", "合肥远程座席8101"  # centre, centre, Hefei (remote)
MONDAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
FULL = {"accuracy": 38, "completeness": 27, "attitude": 18, "language": 9}  # 92 of 100

LEADER = Person("zhao", frozenset({"leader"}))
EXPERT = Person("qian", frozenset({"expert"}), seat="8002")
SEAT_A = Person("li", frozenset({"seat"}), seat="8001")
SEAT_B = Person("he", frozenset({"seat"}), seat="8002")
AUDITOR = Person("sun", frozenset({"auditor"}))
LIAISON = Person("zhou", frozenset({"liaison"}), department="税政科")


def answered(linkedid: str, seat: str, group: str, at: datetime,
             category: str = "consultation") -> Call:
    return Call(linkedid, "c", linkedid, "13955112345", None, CallState.ENDED, at,
                ended_at=at + timedelta(minutes=3), end_reason=EndReason.HANGUP,
                outcome=Outcome.ANSWERED, queue="center", answered_at=at + timedelta(
                    seconds=10), wait_seconds=10.0, talk_seconds=170.0, seat=seat,
                seat_group=group, category=category)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


def open_desk(ledger: Ledger, plan: Plan | None = None) -> tuple[QualityDesk, Clock]:
    clock = Clock()
    return QualityDesk(ledger, lambda: plan or Plan(), lambda: ROUTING, clock), clock


# The generated week: per seat, per working day (Mon-Fri), calls answered from 09:00;
# A answers 20 a day (100), B 8 (40), C 10 (50). Rated unsatisfied: 2 of A's, 1 of C's;
# complaints: 1 of B's. (A: ceil(3.0) = 3 sampled; B: ceil(1.2) = 2; C: ceil(3.0) = 3.)
PER_DAY = {A: 20, B: 8, C: 10}
UNSATISFIED = {f"{A}-1-3", f"{A}-3-7", f"{C}-2-0"}
COMPLAINTS = {f"{B}-4-1"}


async def generated_week(desk: QualityDesk) -> dict[str, str]:
    """The week's calls in the ledger: linkedid -> seat."""
    calls = []
    for weekday in range(5):
        day = MONDAY + timedelta(days=weekday)
        for seat, count in PER_DAY.items():
            group = "hefei" if seat == C else "centre"
            for n in range(count):
                at = datetime.combine(day, time(9), CHINA) + timedelta(minutes=7 * n)
                linkedid = f"{seat}-{weekday}-{n}"
                calls.append(answered(linkedid, seat, group, at,
                                      "complaint" if linkedid in COMPLAINTS
                                      else "consultation"))
    # an unanswered call and one of the next week: never drawn this week
    calls.append(replace(answered("gone", A, "centre", datetime.combine(
        MONDAY, time(10), CHINA)), answered_at=None, seat=None, outcome=Outcome.ABANDONED))
    calls.append(answered("next-week", A, "centre",
                          datetime.combine(MONDAY + timedelta(days=7), time(9), CHINA)))
    await desk.ledger.upsert_calls(calls, NOW)
    async with desk.ledger.transaction() as db:
        for linkedid in UNSATISFIED:
            await db.execute("UPDATE calls SET rating = 'unsatisfied' WHERE linkedid = ?",
                             (linkedid,))
        await db.execute("UPDATE calls SET rating = 'satisfied' WHERE linkedid = ?",
                         (f"{A}-0-0",))
    return {c.linkedid: c.seat or "" for c in calls}


def audit_rows(desk: QualityDesk) -> list[tuple[str, str, str]]:
    con = sqlite3.connect(desk.ledger.path)
    try:
        return con.execute("SELECT actor, action, target FROM audit ORDER BY id").fetchall()
    finally:
        con.close()


async def test_the_weeks_draw_gives_each_seat_its_share(ledger: Ledger) -> None:
    """Drawn after each working day of a generated week, the sampled calls of the week are
    exactly ceil(rate x answered) per seat (3 % for the centre's seats, 6 % for the Hefei
    remote seat: 3, 2 and 3), plus every call rated unsatisfied and every complaint, each
    call once; rerunning a day draws nothing more; unanswered calls and next week's are
    never drawn; each draw is audited with the drawer's name."""
    desk, _ = open_desk(ledger)
    await generated_week(desk)
    for weekday in range(5):
        await desk.draw_day(MONDAY + timedelta(days=weekday), "hotline")
    again = [await desk.draw_day(MONDAY + timedelta(days=d), "hotline") for d in range(5)]
    assert again == [[], [], [], [], []]
    rows = await desk.book.queue(limit=1000)
    sampled = Counter(r.seat for r in rows if r.reason == "sampled")
    assert sampled == {A: math.ceil(0.03 * 100), B: math.ceil(0.03 * 40),
                       C: math.ceil(0.06 * 50)} == {A: 3, B: 2, C: 3}
    assert {r.linkedid for r in rows if r.reason == "unsatisfied"} == UNSATISFIED
    assert {r.linkedid for r in rows if r.reason == "complaint"} == COMPLAINTS
    assert len({r.linkedid for r in rows}) == len(rows) == 3 + 2 + 3 + 3 + 1
    assert not {"gone", "next-week"} & {r.linkedid for r in rows}
    assert all(r.drawn_by == "hotline" for r in rows)
    draws = [a for a in audit_rows(desk) if a[1] == "quality.draw"]
    assert len(draws) == len(rows)
    assert all(a[0] == "hotline" for a in draws)


async def test_the_share_of_a_remote_seat_follows_the_plan(ledger: Ledger) -> None:
    """A plan with its own rate for Hefei (20 %) draws ceil(0.2 x 50) = 10 of the remote
    seat's calls in the week; the centre's seats keep 3 %."""
    desk, _ = open_desk(ledger, Plan(group_rates={"hefei": 0.2}))
    await generated_week(desk)
    for weekday in range(5):
        await desk.draw_day(MONDAY + timedelta(days=weekday))
    rows = await desk.book.queue(limit=1000)
    sampled = Counter(r.seat for r in rows if r.reason == "sampled")
    assert sampled == {A: 3, B: 2, C: 10}


async def test_a_leader_picks_a_call_and_a_reviewer_scores_it(ledger: Ledger) -> None:
    """A leader adds any answered call (reason leader, drawn by the leader); adding it
    again, an unanswered call, or a seat adding one is refused by id; an expert reviews
    it (92 of 100, 92 %), a second review and a review of an undrawn call are refused;
    out-of-range and missing items are named; the expert may not review its own seat's
    call; the seat reads the review, another seat may not."""
    desk, _ = open_desk(ledger)
    await generated_week(desk)
    row = await desk.pick(f"{A}-0-5", LEADER)
    assert (row.reason, row.drawn_by, row.seat) == ("leader", "zhao", A)
    with pytest.raises(QualityAlreadyDrawn):
        await desk.pick(f"{A}-0-5", LEADER)
    with pytest.raises(QualityNotAnswered):
        await desk.pick("gone", LEADER)
    with pytest.raises(QualityNotAllowed):
        await desk.pick(f"{A}-0-6", SEAT_A)
    with pytest.raises(QualityNotDrawn):
        await desk.review(f"{A}-0-6", EXPERT, FULL, None)
    with pytest.raises(QualityBadScore, match=r"accuracy.*from 0 to 40, not 41"):
        await desk.review(f"{A}-0-5", EXPERT, {**FULL, "accuracy": 41}, None)
    with pytest.raises(QualityBadScore, match=r"language.*is not scored"):
        await desk.review(f"{A}-0-5", EXPERT, {k: v for k, v in FULL.items()
                                               if k != "language"}, None)
    with pytest.raises(QualityNotAllowed):
        await desk.review(f"{A}-0-5", SEAT_B, FULL, None)
    review = await desk.review(f"{A}-0-5", EXPERT, FULL, " 政策解答准确，用语规范 ")
    assert (review.total, review.maximum, review.percent) == (92.0, 100, 92.0)
    assert (review.seat, review.reviewer, review.comment) == (A, "qian", "政策解答准确，用语规范")
    with pytest.raises(QualityReviewed):
        await desk.review(f"{A}-0-5", LEADER, FULL, None)
    await desk.pick(f"{B}-0-1", LEADER)
    with pytest.raises(QualityNotAllowed, match="own seat"):
        await desk.review(f"{B}-0-1", EXPERT, FULL, None)
    found, drawn = await desk.show(review.id, SEAT_A)
    assert found.id == review.id
    assert drawn is not None
    assert drawn.review_id == review.id
    with pytest.raises(QualityNotAllowed):
        await desk.show(review.id, SEAT_B)
    assert [r.id for r in await desk.reviews(SEAT_A)] == [review.id]
    assert await desk.reviews(SEAT_B) == []
    with pytest.raises(QualityNotAllowed):
        await desk.reviews(SEAT_B, seat="8001")
    with pytest.raises(QualityNotAllowed):
        await desk.reviews(LIAISON)
    trail = audit_rows(desk)
    assert ("zhao", "quality.draw", f"call:{A}-0-5") in trail
    assert ("qian", "quality.review", f"review:{review.id}") in trail
    assert ("li", "quality.show", f"review:{review.id}") in trail
    assert ("li", "quality.refused", f"call:{A}-0-6") in trail
    assert ("he", "quality.refused", f"review:{review.id}") in trail


async def test_the_queue_for_reviewers_and_for_a_seat(ledger: Ledger) -> None:
    """Reviewers and auditors see every drawn call, `pending` only those not reviewed; a
    seat sees only its own seat's reviewed calls (never what waits for review) and asking
    for pending ones or another seat's is refused; --seat takes the seat's id."""
    desk, _ = open_desk(ledger)
    await generated_week(desk)
    await desk.draw_day(MONDAY)
    everything = await desk.listing(AUDITOR)
    assert everything
    assert all(r.review_id is None for r in everything)
    mine = [r for r in everything if r.seat == A]
    await desk.review(mine[0].linkedid, LEADER, FULL, None)
    pending = await desk.listing(EXPERT, pending=True)
    assert mine[0].linkedid not in {r.linkedid for r in pending}
    assert len(pending) == len(everything) - 1
    assert [r.linkedid for r in await desk.listing(SEAT_A)] == [mine[0].linkedid]
    assert {r.seat for r in await desk.listing(LEADER, seat="8001")} == {A}
    with pytest.raises(QualityNotAllowed):
        await desk.listing(SEAT_A, pending=True)
    with pytest.raises(QualityNotAllowed):
        await desk.listing(SEAT_A, seat="8002")


async def test_the_daily_loop_draws_after_the_working_day(ledger: Ledger) -> None:
    """The service's loop, started on Tuesday 10:00 Beijing time, first draws Monday
    (catching up), then sleeps until 18:30 and draws Tuesday, then sleeps a day; every
    draw is by 'hotline'; a day drawn twice draws nothing twice."""
    desk, clock = open_desk(ledger)
    await generated_week(desk)
    clock.now = datetime.combine(MONDAY + timedelta(days=1), time(10), CHINA)
    slept: list[float] = []

    async def sleep(seconds: float) -> Any:
        slept.append(seconds)
        if len(slept) == 3:
            raise asyncio.CancelledError
        clock.now = clock.now + timedelta(seconds=seconds)

    with pytest.raises(asyncio.CancelledError):
        await desk.draw_loop(time(18, 30), sleep=sleep)
    assert slept[0] == 8.5 * 3600
    assert slept[1] == 24 * 3600
    rows = await desk.book.queue(limit=1000)
    assert {r.day for r in rows} == {"2026-11-23", "2026-11-24", "2026-11-25"}
    assert all(r.drawn_by == "hotline" for r in rows)
    # by Wednesday evening each seat has its quota of the calls so far (A: 60 -> 2)
    sampled = Counter(r.seat for r in rows if r.reason == "sampled")
    assert sampled == {A: 2, B: 1, C: 2}
