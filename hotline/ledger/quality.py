"""Quality review (质检) in the ledger: the answered calls a draw chooses from, the calls
drawn for review (review_draws: one row a call, never drawn twice) and the reviews
written for them (reviews), each change with its audit row in the same transaction. The
rules (the plan, the draw, a review's score) are hotline.core.quality's.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from hotline.common.clock import CHINA
from hotline.core.quality import AnsweredCall, Draw, Score
from hotline.ledger import audit
from hotline.ledger.errors import QualityReviewed
from hotline.ledger.store import Ledger, iso

SERVICE_ACTOR = "hotline"  # the service's daily draw (as the recordings' purge)
# Bands of a review's percentage in the report's distribution (答复质量): lower bound
# inclusive, upper exclusive.
BANDS: tuple[tuple[str, float, float], ...] = (
    ("<60", 0.0, 60.0), ("60-79", 60.0, 80.0), ("80-89", 80.0, 90.0), (">=90", 90.0, 101.0))


def day_start(day: date) -> datetime:
    """The start of `day` in Beijing time."""
    return datetime.combine(day, time(), tzinfo=CHINA)


def week_of(day: date) -> tuple[date, date]:
    """The ISO week (Monday to Sunday) that holds `day`: (its Monday, the Monday after)."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=7)


@dataclass(frozen=True)
class DrawRow:
    """A call drawn for review, with what the queue shows of the call and its review."""

    linkedid: str
    seat: str
    day: str
    reason: str
    drawn_by: str
    drawn_at: str
    answered_at: str | None
    talk_seconds: float | None
    category: str | None
    seat_group: str | None
    rating: str | None
    review_id: int | None  # its review (None: still to review)
    percent: float | None
    recording_id: int | None  # its saved recording, for the player (None: none)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReviewRow:
    id: int
    linkedid: str
    seat: str
    reviewer: str
    at: str
    scores: dict[str, float]
    total: float
    maximum: int
    percent: float
    comment: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_DRAW_SELECT = (
    "SELECT d.linkedid, d.seat, d.day, d.reason, d.drawn_by, d.drawn_at, c.answered_at, "
    "c.talk_seconds, c.category, c.seat_group, c.rating, "
    "(SELECT r.id FROM reviews r WHERE r.linkedid = d.linkedid ORDER BY r.id LIMIT 1), "
    "(SELECT r.percent FROM reviews r WHERE r.linkedid = d.linkedid ORDER BY r.id LIMIT 1), "
    "(SELECT g.id FROM recordings g WHERE g.linkedid = d.linkedid AND g.status = 'saved' "
    "ORDER BY g.id DESC LIMIT 1) "
    "FROM review_draws d LEFT JOIN calls c ON c.linkedid = d.linkedid ")
_REVIEW_COLUMNS = ("id", "linkedid", "seat", "reviewer", "at", "scores", "total", "maximum",
                   "percent", "comment")


class QualityBook:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    # -- the calls a draw chooses from -----------------------------------------------------

    async def answered_calls(self, start: date, end: date, remote: Collection[str],
                             seat_groups: Mapping[str, str] | None = None
                             ) -> list[AnsweredCall]:
        """The calls a seat answered on the days [start, end) (Beijing time), as the draw
        sees them: the seat's group (the call's seat_group, else routing.yaml's group of
        the seat, else '-'), whether that group is a remote one (`remote`: routing.yaml's
        remote groups), the category, and the caller's rating (calls.rating; NULL and
        'none' are unrated)."""
        groups = seat_groups or {}
        async with self.ledger.db.execute(
                "SELECT linkedid, seat, seat_group, answered_at, category, rating FROM calls "
                "WHERE answered_at >= ? AND answered_at < ? AND seat IS NOT NULL "
                "ORDER BY answered_at, linkedid",
                (iso(day_start(start)), iso(day_start(end)))) as cur:
            rows = await cur.fetchall()
        out = []
        for linkedid, seat, seat_group, answered_at, category, rating in rows:
            group = seat_group or groups.get(str(seat)) or "-"
            out.append(AnsweredCall(
                str(linkedid), str(seat), group, group in remote,
                date.fromisoformat(str(answered_at)[:10]), category,
                None if rating in (None, "none") else str(rating)))
        return out

    async def answered_call(self, linkedid: str) -> tuple[str, str | None] | None:
        """(seat, category) of the call if a seat answered it; None otherwise (no such
        call, or nobody answered)."""
        async with self.ledger.db.execute(
                "SELECT seat, category FROM calls WHERE linkedid = ? AND answered_at IS NOT "
                "NULL AND seat IS NOT NULL", (linkedid,)) as cur:
            row = await cur.fetchone()
        return None if row is None else (str(row[0]), row[1])

    async def call_exists(self, linkedid: str) -> bool:
        async with self.ledger.db.execute(
                "SELECT 1 FROM calls WHERE linkedid = ?", (linkedid,)) as cur:
            return await cur.fetchone() is not None

    # -- draws -----------------------------------------------------------------------------

    async def drawn_among(self, linkedids: Sequence[str]) -> list[Draw]:
        """The draws of these calls (the draw's `drawn`: what earlier runs drew)."""
        out: list[Draw] = []
        for at in range(0, len(linkedids), 500):
            chunk = list(linkedids[at:at + 500])
            async with self.ledger.db.execute(
                    "SELECT linkedid, seat, day, reason FROM review_draws WHERE linkedid IN "
                    f"({', '.join('?' for _ in chunk)})", chunk) as cur:
                out.extend(Draw(str(i), str(s), date.fromisoformat(str(d)), str(r))
                           for i, s, d, r in await cur.fetchall())
        return out

    async def store_draws(self, draws: Sequence[Draw], *, drawn_by: str,
                          at: datetime) -> list[Draw]:
        """Store new draws (a call already drawn is left as it is: never drawn twice) with
        one audit row `quality.draw` for each stored; returns those stored."""
        stored: list[Draw] = []
        async with self.ledger.transaction() as db:
            for d in draws:
                cur = await db.execute(
                    "INSERT OR IGNORE INTO review_draws (linkedid, seat, day, reason, "
                    "drawn_by, drawn_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (d.linkedid, d.seat, d.day.isoformat(), d.reason, drawn_by, iso(at)))
                if cur.rowcount:
                    stored.append(d)
                    await audit.record(db, at=at, actor=drawn_by, action="quality.draw",
                                       target=f"call:{d.linkedid}",
                                       detail=json.dumps({"seat": d.seat, "reason": d.reason,
                                                          "day": d.day.isoformat()},
                                                         ensure_ascii=False))
        return stored

    async def draw_of(self, linkedid: str) -> DrawRow | None:
        async with self.ledger.db.execute(_DRAW_SELECT + "WHERE d.linkedid = ?",
                                          (linkedid,)) as cur:
            row = await cur.fetchone()
        return None if row is None else DrawRow(*row)

    async def queue(self, *, seat: str | None = None, pending: bool = False,
                    since: date | None = None, until: date | None = None,
                    limit: int = 200) -> list[DrawRow]:
        """Drawn calls, newest draw first: `pending` only those not reviewed yet; `since`,
        `until`: days of the draw, inclusive."""
        where: list[str] = []
        args: list[Any] = []
        if seat is not None:
            where.append("d.seat = ?")
            args.append(seat)
        if pending:
            where.append("NOT EXISTS (SELECT 1 FROM reviews r WHERE r.linkedid = d.linkedid)")
        if since is not None:
            where.append("d.day >= ?")
            args.append(since.isoformat())
        if until is not None:
            where.append("d.day <= ?")
            args.append(until.isoformat())
        text = ("WHERE " + " AND ".join(where) + " ") if where else ""
        async with self.ledger.db.execute(
                _DRAW_SELECT + text + "ORDER BY d.day DESC, d.seat, d.linkedid LIMIT ?",
                [*args, limit]) as cur:
            return [DrawRow(*row) for row in await cur.fetchall()]

    # -- reviews ---------------------------------------------------------------------------

    async def add_review(self, *, linkedid: str, seat: str, reviewer: str, at: datetime,
                         scores: Mapping[str, float], score: Score,
                         comment: str | None) -> ReviewRow:
        """A review of a drawn call (the caller checked it is drawn and not reviewed),
        with its audit row `quality.review`."""
        async with self.ledger.transaction() as db:
            cur = await db.execute(
                "INSERT INTO reviews (linkedid, seat, reviewer, at, scores, total, maximum, "
                "percent, comment) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS "
                "(SELECT 1 FROM reviews WHERE linkedid = ?)",
                (linkedid, seat, reviewer, iso(at),
                 json.dumps(dict(scores), ensure_ascii=False), score.total, score.maximum,
                 score.percent, comment, linkedid))
            if not cur.rowcount:
                raise QualityReviewed(f"call {linkedid} has been reviewed already: a "
                                      f"drawn call is reviewed once (该通话已质检)")
            review_id = cur.lastrowid
            await audit.record(db, at=at, actor=reviewer, action="quality.review",
                               target=f"review:{review_id}",
                               detail=json.dumps({"linkedid": linkedid, "seat": seat,
                                                  "percent": score.percent},
                                                 ensure_ascii=False))
        assert review_id is not None
        found = await self.review(review_id)
        assert found is not None
        return found

    async def review(self, review_id: int) -> ReviewRow | None:
        rows = await self._reviews("WHERE id = ?", [review_id])
        return rows[0] if rows else None

    async def review_of(self, linkedid: str) -> ReviewRow | None:
        rows = await self._reviews("WHERE linkedid = ? ORDER BY id LIMIT 1", [linkedid])
        return rows[0] if rows else None

    async def reviews(self, *, seat: str | None = None, limit: int = 200) -> list[ReviewRow]:
        """Reviews newest first (one seat's, or all)."""
        if seat is None:
            return await self._reviews("ORDER BY at DESC, id DESC LIMIT ?", [limit])
        return await self._reviews("WHERE seat = ? ORDER BY at DESC, id DESC LIMIT ?",
                                   [seat, limit])

    async def viewed(self, review_id: int, *, actor: str, at: datetime) -> None:
        """The audit row of a person reading a review (`quality.show`)."""
        async with self.ledger.transaction() as db:
            await audit.record(db, at=at, actor=actor, action="quality.show",
                               target=f"review:{review_id}")

    async def _reviews(self, where: str, args: list[Any]) -> list[ReviewRow]:
        async with self.ledger.db.execute(
                f"SELECT {', '.join(_REVIEW_COLUMNS)} FROM reviews {where}", args) as cur:
            rows = await cur.fetchall()
        out = []
        for row in rows:
            values = list(row)
            values[5] = json.loads(values[5])
            out.append(ReviewRow(*values))
        return out


# -- the quarterly report's 答复质量 --------------------------------------------------------


def _band_of(percent: float) -> str:
    for name, low, high in BANDS:
        if low <= percent < high:
            return name
    return BANDS[-1][0]


def _figures(answered: int, reviewed: int, total_percent: float,
             bands: Mapping[str, int], unsatisfied: int) -> dict[str, Any]:
    return {"answered": answered, "reviewed": reviewed,
            "reviewed_share": reviewed / answered if answered else None,
            "avg_percent": round(total_percent / reviewed, 1) if reviewed else None,
            "bands": {name: bands.get(name, 0) for name, _, _ in BANDS},
            "unsatisfied": unsatisfied}


async def quality_figures(ledger: Ledger, lo: str, hi: str) -> dict[str, Any]:
    """答复质量 of the calls answered in [lo, hi) (ISO times): for the whole line, each
    seat and each seat group, the calls answered, those reviewed and their share, the
    average review percentage, its distribution in BANDS, and the calls the caller rated
    unsatisfied (calls.rating). Aggregated in SQLite per seat; bands from the review rows
    of the quarter's calls (one a reviewed call)."""
    db = ledger.db
    per_seat: dict[tuple[str, str], dict[str, Any]] = {}
    async with db.execute(
            "SELECT seat, COALESCE(seat_group, '-'), COUNT(*), SUM(rating = 'unsatisfied') "
            "FROM calls WHERE answered_at IS NOT NULL AND seat IS NOT NULL AND "
            "started_at >= ? AND started_at < ? GROUP BY 1, 2", (lo, hi)) as cur:
        for seat, group, answered, unsatisfied in await cur.fetchall():
            per_seat[(str(seat), str(group))] = {
                "answered": int(answered), "reviewed": 0, "sum": 0.0, "bands": {},
                "unsatisfied": int(unsatisfied or 0)}
    async with db.execute(
            "SELECT c.seat, COALESCE(c.seat_group, '-'), r.percent FROM reviews r "
            "JOIN calls c ON c.linkedid = r.linkedid WHERE c.answered_at IS NOT NULL AND "
            "c.started_at >= ? AND c.started_at < ? AND r.id = (SELECT MIN(x.id) FROM "
            "reviews x WHERE x.linkedid = r.linkedid)", (lo, hi)) as cur:
        for seat, group, percent in await cur.fetchall():
            entry = per_seat.setdefault((str(seat), str(group)), {
                "answered": 0, "reviewed": 0, "sum": 0.0, "bands": {}, "unsatisfied": 0})
            entry["reviewed"] += 1
            entry["sum"] += float(percent)
            band = _band_of(float(percent))
            entry["bands"][band] = entry["bands"].get(band, 0) + 1

    def add_up(entries: list[dict[str, Any]]) -> dict[str, Any]:
        bands: dict[str, int] = {}
        for e in entries:
            for name, n in e["bands"].items():
                bands[name] = bands.get(name, 0) + n
        return _figures(sum(e["answered"] for e in entries),
                        sum(e["reviewed"] for e in entries),
                        sum(e["sum"] for e in entries), bands,
                        sum(e["unsatisfied"] for e in entries))

    seats = [{"seat": seat, "group": group, **add_up([e])}
             for (seat, group), e in sorted(per_seat.items())]
    by_group: dict[str, list[dict[str, Any]]] = {}
    for (_, group), e in per_seat.items():
        by_group.setdefault(group, []).append(e)
    groups = [{"group": group, **add_up(entries)}
              for group, entries in sorted(by_group.items())]
    async with db.execute(
            "SELECT COUNT(*) FROM calls WHERE rating = 'unsatisfied' AND started_at >= ? "
            "AND started_at < ?", (lo, hi)) as cur:
        row = await cur.fetchone()
    total = add_up(list(per_seat.values()))
    # every unsatisfied rating of the quarter, a seat's or not (a rating follows a seat's
    # answer, so they are the same unless a row lost its seat)
    total["unsatisfied"] = int(row[0]) if row else 0
    return {"total": total, "by_seat": seats, "by_group": groups}
