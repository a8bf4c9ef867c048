"""The quality review desk (质检): the daily draw, a leader's pick, the review queue, a
review, and the reviews a seat reads of its own calls. The CLI (`hotline quality`), the
API (/api/v1/quality/...) and the service's daily draw all go through it, so the rules
are the same everywhere: hotline.core.quality decides (the plan, the draw, the score),
hotline.ledger.quality keeps the rows and writes the audit rows.

Who does what: leaders and experts review drawn calls (never a call of their own seat);
leaders pick any answered call for review and run a day's draw (admins too); auditors
read every review; a seat reads only its own seat's reviews (not the calls still waiting
for review: a seat must not know which of its calls are drawn). Every refusal is audited
`quality.refused`. No view has a caller's number: the rows hold only linkedids.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Final

import structlog

from hotline.common.clock import CHINA
from hotline.common.errors import ConfigError
from hotline.common.labels import CATEGORIES, UNCATEGORISED
from hotline.core.accounts import Person
from hotline.core.quality import REASONS, Draw, Plan, draw, score_review
from hotline.core.routing.config import RoutingConfig
from hotline.features.quality.errors import (
    QualityAlreadyDrawn,
    QualityBadScore,
    QualityNotAllowed,
    QualityNotAnswered,
    QualityNotDrawn,
    QualityReviewUnknown,
)
from hotline.ledger import audit
from hotline.ledger.quality import (
    SERVICE_ACTOR,
    DrawRow,
    QualityBook,
    ReviewRow,
    week_of,
)
from hotline.ledger.store import Ledger

log = structlog.get_logger("hotline.quality")

RATINGS: Final = {"satisfied": "满意", "fairly": "基本满意", "unsatisfied": "不满意"}
REVIEWERS: Final = frozenset({"leader", "expert"})
READERS: Final = frozenset({"leader", "expert", "auditor"})  # every seat's reviews
MAX_COMMENT: Final = 2000
MAX_LIMIT: Final = 1000


def draw_view(row: DrawRow) -> dict[str, Any]:
    """A drawn call as the queue shows it: labels staff read, whether it is reviewed,
    the recording to play (its id); never a caller's number."""
    shown = row.as_dict()
    shown["reason_label"] = REASONS.get(row.reason, row.reason)
    shown["category_label"] = CATEGORIES.get(row.category or "", UNCATEGORISED)
    shown["rating_label"] = RATINGS.get(row.rating or "", "未评价")
    shown["reviewed"] = row.review_id is not None
    shown["status_label"] = "已质检" if row.review_id is not None else "待质检"
    return shown


def review_view(row: ReviewRow, plan: Plan) -> dict[str, Any]:
    """A review with each item's label and maximum from the form in force (an item the
    form no longer has keeps its code as its label)."""
    shown = row.as_dict()
    items = {i.key: i for i in plan.form}
    shown["items"] = [{"key": key, "label": items[key].label if key in items else key,
                       "max": items[key].max_points if key in items else None,
                       "score": value} for key, value in row.scores.items()]
    return shown


def form_view(plan: Plan) -> list[dict[str, Any]]:
    """The review form: each item's key, label and maximum points."""
    return [{"key": i.key, "label": i.label, "max": i.max_points} for i in plan.form]


class QualityDesk:
    def __init__(self, ledger: Ledger, plan: Callable[[], Plan],
                 routing: Callable[[], RoutingConfig | None],
                 clock: Callable[[], datetime]) -> None:
        self.ledger = ledger
        self.book = QualityBook(ledger)
        self.plan = plan
        self.routing = routing
        self.clock = clock

    # -- the draw --------------------------------------------------------------------------

    async def draw_day(self, day: date, actor: str = SERVICE_ACTOR) -> list[Draw]:
        """Draw `day`'s calls for review (core.quality.draw over its week's answered
        calls up to that day, and what earlier runs drew of them) and store them, drawn
        by `actor` (the service: 'hotline'). A rerun draws nothing twice."""
        config = self.routing()
        remote = ({g for g, group in config.groups.items() if group.remote}
                  if config is not None else set())
        seat_groups = ({seat.name: seat.group for seat in config.seats.values()}
                       if config is not None else {})
        monday, _ = week_of(day)
        calls = await self.book.answered_calls(monday, day + timedelta(days=1), remote,
                                               seat_groups)
        drawn = await self.book.drawn_among([c.linkedid for c in calls])
        new = draw(calls, drawn, self.plan(), day)
        stored = await self.book.store_draws(new, drawn_by=actor, at=self.clock())
        log.info("quality.drawn", day=day.isoformat(), drawn=len(stored),
                 answered=len(calls), by=actor)
        return stored

    async def pick(self, linkedid: str, person: Person) -> DrawRow:
        """A leader adds an answered call to the review queue (reason leader)."""
        if "leader" not in person.roles:
            await self._refused(person, f"call:{linkedid}", "pick")
            raise QualityNotAllowed(f"{person.username} may not add calls for review: "
                                    "leaders do (只有班长可以指定质检通话)")
        found = await self.book.answered_call(linkedid)
        if found is None:
            raise QualityNotAnswered(f"no call {linkedid!r} answered by a seat: only "
                                     "answered calls are reviewed (没有该座席接听的通话)")
        existing = await self.book.draw_of(linkedid)
        if existing is not None:
            raise QualityAlreadyDrawn(
                f"call {linkedid} is drawn for review already ({existing.day}, "
                f"{REASONS.get(existing.reason, existing.reason)}) (该通话已在质检队列中)")
        now = self.clock()
        await self.book.store_draws(
            [Draw(linkedid, found[0], now.astimezone(CHINA).date(), "leader")],
            drawn_by=person.username, at=now)
        row = await self.book.draw_of(linkedid)
        assert row is not None
        return row

    async def draw_loop(self, at: time,
                        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        """The service's daily draw: each day at `at` (Beijing time), drawn by 'hotline'.
        At start it draws yesterday (in case the service was down at its time) and, if
        `at` is past, today; a rerun draws nothing twice. A failed round is logged and
        the loop goes on."""
        now = self.clock().astimezone(CHINA)
        await self._round(now.date() - timedelta(days=1))
        while True:
            now = self.clock().astimezone(CHINA)
            due = datetime.combine(now.date(), at, tzinfo=CHINA)
            if now >= due:
                await self._round(now.date())
                due += timedelta(days=1)
            await sleep(max(1.0, (due - self.clock().astimezone(CHINA)).total_seconds()))

    async def _round(self, day: date) -> None:
        try:
            await self.draw_day(day)
        except Exception as exc:  # the next day's round tries again
            log.error("quality.draw_failed", day=day.isoformat(), error=str(exc))

    # -- the queue and the reviews ---------------------------------------------------------

    async def listing(self, person: Person, *, seat: str | None = None,
                      pending: bool = False, limit: int = 200) -> list[DrawRow]:
        """The review queue, newest draw first: reviewers and auditors see every seat's
        drawn calls (`pending`: those not reviewed yet); a seat only its own seat's
        reviewed calls (another seat's, or the pending ones, are refused)."""
        limit = max(1, min(limit, MAX_LIMIT))
        seat = self.seat_name(seat)
        if person.roles & READERS:
            return await self.book.queue(seat=seat, pending=pending, limit=limit)
        own = self._own_seat(person)
        if own is None or (seat is not None and seat != own):
            await self._refused(person, f"seat:{seat or '-'}", "list")
            raise QualityNotAllowed(self._only_own(person, seat))
        if pending:
            await self._refused(person, f"seat:{own}", "list pending")
            raise QualityNotAllowed(f"{person.username} is seat {own}: a seat reads its "
                                    "reviews, not the calls waiting for review "
                                    "(座席不能查看待质检通话)")
        rows = await self.book.queue(seat=own, limit=limit)
        return [r for r in rows if r.review_id is not None]

    async def review(self, linkedid: str, person: Person, scores: Mapping[str, Any],
                     comment: str | None) -> ReviewRow:
        """A leader's or an expert's review of a drawn call: the form's items scored
        (core.quality.score_review), a comment; audited `quality.review`."""
        if not person.roles & REVIEWERS:
            await self._refused(person, f"call:{linkedid}", "review")
            raise QualityNotAllowed(f"{person.username} may not review calls: leaders and "
                                    "experts do (只有班长和专家可以质检)")
        drawn = await self.book.draw_of(linkedid)
        if drawn is None:
            if await self.book.answered_call(linkedid) is None:
                raise QualityNotAnswered(f"no call {linkedid!r} answered by a seat "
                                         "(没有该座席接听的通话)")
            raise QualityNotDrawn(f"call {linkedid} is not drawn for review: a leader adds "
                                  f"it first (`hotline quality pick {linkedid}`) "
                                  "(该通话不在质检队列中)")
        if person.seat is not None and self.seat_name(person.seat) == drawn.seat:
            await self._refused(person, f"call:{linkedid}", "review own seat")
            raise QualityNotAllowed(f"{person.username} is seat {drawn.seat}: nobody reviews "
                                    "a call of their own seat (不能质检本人的通话)")
        text = (comment or "").strip() or None
        if text is not None and len(text) > MAX_COMMENT:
            raise QualityBadScore(f"the comment is {len(text)} characters: at most "
                                  f"{MAX_COMMENT} (评语过长)")
        try:
            score = score_review(self.plan().form, scores)
        except ConfigError as exc:
            raise QualityBadScore("; ".join(str(p) for p in exc.problems)) from None
        clean = {key: float(value) for key, value in scores.items()}
        return await self.book.add_review(linkedid=linkedid, seat=drawn.seat,
                                          reviewer=person.username, at=self.clock(),
                                          scores=clean, score=score, comment=text)

    async def show(self, review_id: int, person: Person) -> tuple[ReviewRow, DrawRow | None]:
        """A review, for who may read it (reviewers and auditors: any; a seat: its own
        seat's); each read by someone other than a reviewer of it is audited."""
        row = await self.book.review(review_id)
        if row is None:
            raise QualityReviewUnknown(f"no review {review_id} (没有编号为 {review_id} 的质检记录)")
        if not person.roles & READERS and self._own_seat(person) != row.seat:
            await self._refused(person, f"review:{review_id}", "show")
            raise QualityNotAllowed(self._only_own(person, row.seat))
        if person.username != row.reviewer:
            await self.book.viewed(review_id, actor=person.username, at=self.clock())
        return row, await self.book.draw_of(row.linkedid)

    async def reviews(self, person: Person, *, seat: str | None = None,
                      limit: int = 200) -> list[ReviewRow]:
        """Reviews newest first: reviewers and auditors any seat's; a seat its own."""
        limit = max(1, min(limit, MAX_LIMIT))
        seat = self.seat_name(seat)
        if person.roles & READERS:
            return await self.book.reviews(seat=seat, limit=limit)
        own = self._own_seat(person)
        if own is None or (seat is not None and seat != own):
            await self._refused(person, f"seat:{seat or '-'}", "reviews")
            raise QualityNotAllowed(self._only_own(person, seat))
        return await self.book.reviews(seat=own, limit=limit)

    # -- helpers ---------------------------------------------------------------------------

    def seat_name(self, seat: str | None) -> str | None:
        """A seat as the ledger's calls name it (Asterisk's MemberName: routing.yaml's
        seat name) from its id (accounts and `--seat` give ids; a name stays as it is)."""
        if seat is None:
            return None
        config = self.routing()
        if config is not None and seat in config.seats:
            return config.seats[seat].name
        return seat

    def _own_seat(self, person: Person) -> str | None:
        return self.seat_name(person.seat) if "seat" in person.roles else None

    @staticmethod
    def _only_own(person: Person, seat: str | None) -> str:
        if "seat" not in person.roles or person.seat is None:
            return (f"{person.username} may not read reviews: leaders, experts and auditors "
                    "read them, a seat its own (无权查看质检记录)")
        return (f"{person.username} is seat {person.seat}: it reads only its own seat's "
                f"reviews, not seat {seat or '-'}'s (座席只能查看本座席的质检记录)")

    async def _refused(self, person: Person, target: str, what: str) -> None:
        async with self.ledger.transaction() as db:
            await audit.record(db, at=self.clock(), actor=person.username,
                               action="quality.refused", target=target,
                               detail=json.dumps({"action": what,
                                                  "roles": sorted(person.roles)},
                                                 ensure_ascii=False))
