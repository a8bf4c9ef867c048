"""The quarterly figures the bureau is assessed on (考核), computed in SQLite.

Every figure is an SQL aggregate over the quarter's rows, so memory stays flat whatever
the number of calls (no row is loaded into Python). Definitions:

- offered (转人工): calls that reached a seat queue;
- 接通率 (connection rate): answered by a seat / offered;
- service level: answered within SERVICE_LEVEL_SECONDS (20 s) of waiting / offered;
- abandon rate: abandoned in the queue / offered;
- work orders on time: answered or closed by their deadline; overdue: answered or closed
  after it, or still open past it.

The knowledge base's figures (话务分流量 and 智能咨询 accuracy, issue 15):

- self-service calls: calls that walked a self-service menu or heard a knowledge-base
  answer (a call_kb row);
- diverted (话务分流): self-service calls that ended without asking for a seat: no seat
  queue, no seat answered, no voicemail, not referred elsewhere, and no "transfer me to a
  seat" pressed after an answer; 话务分流率: diverted / all calls;
- answers: the knowledge-base answers the line played (call_kb rows, by when played);
  智能咨询解决率: answers followed by "solved" / answers (the accuracy the line observes);
- the most used entries, the least helpful (lowest solved share, among entries with at
  least LEAST_HELPFUL_MIN answers), the live entries whose policy expires next quarter.

答复质量 (quality review, issue 16), of the calls a seat answered that started in the
quarter, for the line, each seat and each group: reviewed (calls with a review) and their
share of the answered calls, the average review percentage and its distribution (<60,
60-79, 80-89, >=90 %), and the calls the caller rated unsatisfied (calls.rating).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from hotline.common.clock import CHINA
from hotline.core.kb import expiring
from hotline.core.routing.config import SERVICE_LEVEL_SECONDS as SERVICE_LEVEL_SECONDS
from hotline.ledger.kb import KnowledgeBase
from hotline.ledger.quality import quality_figures
from hotline.ledger.store import Ledger, iso

LEAST_HELPFUL_MIN = 5  # answers an entry needs before its solved share is judged
KB_TOP = 10  # entries listed as most used and as least helpful


def quarter_bounds(text: str) -> tuple[datetime, datetime]:
    """'2026Q4' -> (2026-10-01 00:00 +08:00, 2027-01-01 00:00 +08:00)."""
    match = re.fullmatch(r"(\d{4})Q([1-4])", text.strip().upper())
    if match is None:
        raise ValueError(f"{text!r} is not a quarter like 2026Q4")
    year, quarter = int(match.group(1)), int(match.group(2))
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return (datetime.combine(start, datetime.min.time(), CHINA),
            datetime.combine(end, datetime.min.time(), CHINA))


def next_quarter(text: str) -> str:
    """'2026Q4' -> '2027Q1'."""
    _, end = quarter_bounds(text)
    return f"{end.year}Q{(end.month - 1) // 3 + 1}"


@dataclass
class Report:
    quarter: str
    start: str
    end: str
    calls: int = 0
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    within_service_level: int = 0
    voicemails: int = 0
    avg_wait: float | None = None
    avg_talk: float | None = None
    by_outcome: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    by_topic: dict[str, int] = field(default_factory=dict)
    by_region: dict[str, int] = field(default_factory=dict)
    by_hour: dict[int, int] = field(default_factory=dict)
    by_day: dict[str, dict[str, int]] = field(default_factory=dict)
    by_queue: list[dict[str, Any]] = field(default_factory=list)
    by_seat: list[dict[str, Any]] = field(default_factory=list)
    by_group: list[dict[str, Any]] = field(default_factory=list)
    seat_moves: list[dict[str, Any]] = field(default_factory=list)
    orders: dict[str, int] = field(default_factory=dict)
    self_service_calls: int = 0
    diverted: int = 0
    kb_answers: int = 0
    kb_solved: int = 0
    kb_to_seat: int = 0  # answers followed by "transfer me to a seat"
    kb_top: list[dict[str, Any]] = field(default_factory=list)
    kb_least: list[dict[str, Any]] = field(default_factory=list)
    kb_expiring: list[dict[str, Any]] = field(default_factory=list)
    # 集中咨询的热点难点问题: filled by the kb feature (hotline.features.kb.hot), which
    # segments the texts; the ledger alone leaves it empty
    hot_topics: list[dict[str, Any]] = field(default_factory=list)
    # 答复质量 (issue 16): hotline.ledger.quality.quality_figures of the quarter's answered
    # calls: total, by_seat, by_group (answered, reviewed, reviewed_share, avg_percent,
    # bands, unsatisfied)
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def diversion_rate(self) -> float | None:
        """话务分流率: diverted / all calls."""
        return self.diverted / self.calls if self.calls else None

    @property
    def kb_solved_rate(self) -> float | None:
        """智能咨询解决率: answers followed by "solved" / answers played."""
        return self.kb_solved / self.kb_answers if self.kb_answers else None

    @property
    def connection_rate(self) -> float | None:
        return self.answered / self.offered if self.offered else None

    @property
    def service_level(self) -> float | None:
        return self.within_service_level / self.offered if self.offered else None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.offered if self.offered else None

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items()}
        data["connection_rate"] = self.connection_rate
        data["service_level"] = self.service_level
        data["abandon_rate"] = self.abandon_rate
        data["diversion_rate"] = self.diversion_rate
        data["kb_solved_rate"] = self.kb_solved_rate
        return data


async def quarterly(ledger: Ledger, quarter: str, now: datetime) -> Report:
    start, end = quarter_bounds(quarter)
    lo, hi = iso(start), iso(end)
    report = Report(quarter.upper(), lo or "", hi or "")
    db = ledger.db
    window = "started_at >= ? AND started_at < ?"
    span = (lo, hi)

    async def one(sql: str, params: tuple[Any, ...] = span) -> Any:
        async with db.execute(sql, params) as cur:
            return await cur.fetchone()

    async def rows(sql: str, params: tuple[Any, ...] = span) -> list[Any]:
        async with db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    row = await one(
        "SELECT COUNT(*), "
        "SUM(queue IS NOT NULL), SUM(answered_at IS NOT NULL), "
        "SUM(outcome = 'abandoned'), "
        f"SUM(answered_at IS NOT NULL AND wait_seconds <= {SERVICE_LEVEL_SECONDS}), "
        "SUM(voicemail_id IS NOT NULL), "
        "AVG(CASE WHEN queue IS NOT NULL THEN wait_seconds END), "
        "AVG(CASE WHEN answered_at IS NOT NULL THEN talk_seconds END) "
        f"FROM calls WHERE {window}")
    (report.calls, offered, answered, abandoned, within, voicemails, avg_wait,
     avg_talk) = row
    report.offered, report.answered = offered or 0, answered or 0
    report.abandoned, report.within_service_level = abandoned or 0, within or 0
    report.voicemails = voicemails or 0
    report.avg_wait = round(avg_wait, 1) if avg_wait is not None else None
    report.avg_talk = round(avg_talk, 1) if avg_talk is not None else None
    for column, target in (("outcome", report.by_outcome), ("category", report.by_category),
                           ("topic", report.by_topic), ("region", report.by_region)):
        for key, count in await rows(
                f"SELECT COALESCE({column}, '-'), COUNT(*) FROM calls WHERE {window} "
                f"GROUP BY 1 ORDER BY 2 DESC, 1"):
            target[str(key)] = count
    for hour, count in await rows(
            f"SELECT CAST(substr(started_at, 12, 2) AS INTEGER), COUNT(*) FROM calls "
            f"WHERE {window} GROUP BY 1 ORDER BY 1"):
        report.by_hour[int(hour)] = count
    for day, count, offered_d, answered_d, within_d in await rows(
            f"SELECT substr(started_at, 1, 10), COUNT(*), SUM(queue IS NOT NULL), "
            f"SUM(answered_at IS NOT NULL), SUM(answered_at IS NOT NULL AND wait_seconds <= "
            f"{SERVICE_LEVEL_SECONDS}) FROM calls WHERE {window} GROUP BY 1 ORDER BY 1"):
        report.by_day[str(day)] = {"calls": count, "offered": offered_d or 0,
                                   "answered": answered_d or 0, "within": within_d or 0}
    for queue, offered_q, answered_q, abandoned_q, within_q, wait_q in await rows(
            "SELECT queue, COUNT(*), SUM(answered_at IS NOT NULL), SUM(outcome = 'abandoned'), "
            f"SUM(answered_at IS NOT NULL AND wait_seconds <= {SERVICE_LEVEL_SECONDS}), "
            f"AVG(wait_seconds) FROM calls WHERE {window} AND queue IS NOT NULL "
            "GROUP BY 1 ORDER BY 2 DESC, 1"):
        report.by_queue.append({
            "queue": queue, "offered": offered_q, "answered": answered_q or 0,
            "abandoned": abandoned_q or 0, "within": within_q or 0,
            "connection_rate": (answered_q or 0) / offered_q if offered_q else None,
            "avg_wait": round(wait_q, 1) if wait_q is not None else None})
    for seat, group, count, talk in await rows(
            f"SELECT seat, COALESCE(seat_group, '-'), COUNT(*), AVG(talk_seconds) FROM calls "
            f"WHERE {window} AND answered_at IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1"):
        report.by_seat.append({"seat": seat, "group": group, "answered": count,
                               "avg_talk": round(talk, 1) if talk is not None else None})
    for group, count, talk in await rows(
            f"SELECT COALESCE(seat_group, '-'), COUNT(*), AVG(talk_seconds) FROM calls "
            f"WHERE {window} AND answered_at IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1"):
        report.by_group.append({"group": group, "answered": count,
                                "avg_talk": round(talk, 1) if talk is not None else None})
    for seat, moved_in, moved_out in await rows(
            "SELECT seat, SUM(event = 'move_in'), SUM(event = 'move_out') FROM seat_events "
            "WHERE at >= ? AND at < ? AND event IN ('move_in', 'move_out') "
            "GROUP BY seat ORDER BY seat"):
        report.seat_moves.append({"seat": seat, "moved_in": moved_in, "moved_out": moved_out})
    stamp = iso(now)
    on_time, late_done, late_open, still_open, total = await one(
        "SELECT "
        "SUM(COALESCE(answered_at, closed_at) IS NOT NULL "
        "    AND COALESCE(answered_at, closed_at) <= due_at), "
        "SUM(COALESCE(answered_at, closed_at) IS NOT NULL "
        "    AND COALESCE(answered_at, closed_at) > due_at), "
        "SUM(COALESCE(answered_at, closed_at) IS NULL AND due_at < ?), "
        "SUM(COALESCE(answered_at, closed_at) IS NULL AND due_at >= ?), "
        "COUNT(*) FROM work_orders WHERE created_at >= ? AND created_at < ?",
        (stamp, stamp, lo, hi))
    report.orders = {"total": total or 0, "on_time": on_time or 0,
                     "overdue_done": late_done or 0, "overdue_open": late_open or 0,
                     "open": still_open or 0}
    await _kb_figures(ledger, report, report.start, report.end)
    report.quality = await quality_figures(ledger, report.start, report.end)
    return report


# A call that heard a knowledge-base answer, and one whose caller then asked for a seat.
_HEARD = "EXISTS (SELECT 1 FROM call_kb k WHERE k.linkedid = c.linkedid)"
_ASKED_SEAT = ("EXISTS (SELECT 1 FROM call_kb k WHERE k.linkedid = c.linkedid "
               "AND k.feedback = 'seat')")


async def _kb_figures(ledger: Ledger, report: Report, lo: str, hi: str) -> None:
    db = ledger.db
    async with db.execute(
            "SELECT COUNT(*), SUM(queue IS NULL AND answered_at IS NULL AND voicemail_id IS "
            "NULL AND referred_to IS NULL AND ended_at IS NOT NULL AND NOT asked) FROM "
            f"(SELECT c.*, {_ASKED_SEAT} AS asked FROM calls c WHERE c.started_at >= ? AND "
            f"c.started_at < ? AND (c.self_service = 1 OR {_HEARD}))", (lo, hi)) as cur:
        row = await cur.fetchone()
    report.self_service_calls = int(row[0] or 0) if row else 0
    report.diverted = int(row[1] or 0) if row else 0
    async with db.execute(
            "SELECT COUNT(*), SUM(feedback = 'solved'), SUM(feedback = 'seat') FROM call_kb "
            "WHERE at >= ? AND at < ?", (lo, hi)) as cur:
        row = await cur.fetchone()
    if row is not None:
        report.kb_answers, report.kb_solved, report.kb_to_seat = (
            int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))
    per_entry = ("SELECT k.entry_id, COUNT(*) AS n, SUM(k.feedback = 'solved') AS solved, "
                 "SUM(k.feedback = 'seat'), v.question FROM call_kb k "
                 "LEFT JOIN kb_entries e ON e.id = k.entry_id "
                 "LEFT JOIN kb_versions v ON v.entry_id = e.id "
                 "AND v.version = COALESCE(e.live, e.latest) "
                 "WHERE k.at >= ? AND k.at < ? GROUP BY k.entry_id ")
    keys = ("entry_id", "answers", "solved", "seat", "question")

    def entry_row(row: Any) -> dict[str, Any]:
        found = dict(zip(keys, row, strict=True))
        found["solved"], found["seat"] = int(found["solved"] or 0), int(found["seat"] or 0)
        found["question"] = found["question"] or ""
        found["solved_share"] = found["solved"] / found["answers"]
        return found

    async with db.execute(per_entry + "ORDER BY n DESC, k.entry_id LIMIT ?",
                          (lo, hi, KB_TOP)) as cur:
        report.kb_top = [entry_row(r) for r in await cur.fetchall()]
    async with db.execute(
            per_entry + "HAVING n >= ? ORDER BY CAST(solved AS REAL) / n, n DESC, "
            "k.entry_id LIMIT ?", (lo, hi, LEAST_HELPFUL_MIN, KB_TOP)) as cur:
        report.kb_least = [entry_row(r) for r in await cur.fetchall()]
    following = next_quarter(report.quarter)
    start, end = quarter_bounds(following)
    ending = expiring(await KnowledgeBase(ledger).live(), start.date(),
                      (end - timedelta(days=1)).date())
    report.kb_expiring = [
        {"entry_id": v.entry_id, "version": v.version, "question": v.draft.question,
         "topic": v.draft.topic, "scope": v.draft.scope,
         "effective_until": v.draft.effective_until.isoformat()
         if v.draft.effective_until else None} for v in ending]


async def consultation_texts(ledger: Ledger, start: datetime,
                             end: datetime) -> list[tuple[str, str | None]]:
    """The questions the seats wrote in the 台帐 entries they saved for the calls that
    started in [start, end): (question, topic), the question as typed."""
    async with ledger.db.execute(
            "SELECT e.question, COALESCE(e.topic, c.topic) FROM call_entries e "
            "JOIN calls c ON c.linkedid = e.linkedid WHERE c.started_at >= ? "
            "AND c.started_at < ? AND e.saved_at IS NOT NULL AND trim(e.question) != ''",
            (iso(start), iso(end))) as cur:
        return [(str(q), t) for q, t in await cur.fetchall()]


async def kb_choices(ledger: Ledger, start: datetime, end: datetime) -> dict[str, int]:
    """The knowledge-base entries the line answered with in [start, end) (the callers'
    self-service choices): entry id -> answers, most first."""
    async with ledger.db.execute(
            "SELECT entry_id, COUNT(*) FROM call_kb WHERE at >= ? AND at < ? "
            "GROUP BY entry_id ORDER BY 2 DESC, 1", (iso(start), iso(end))) as cur:
        return {str(i): int(n) for i, n in await cur.fetchall()}


def days_of(report: Report) -> list[str]:
    start = date.fromisoformat(report.start[:10])
    end = date.fromisoformat(report.end[:10])
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days)]


@dataclass
class DayFigures:
    """One day's figures per queue and per seat, from the ledger (for `hotline queues`:
    Asterisk's own counters start again at each restart, the ledger's do not)."""

    day: str
    queues: dict[str, dict[str, int]] = field(default_factory=dict)
    seats: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: int = 0  # every call of the day, offered to seats or not

    def totals(self) -> dict[str, Any]:
        """The whole line's day: calls, offered to seats, answered, abandoned, and the
        two rates the bureau is assessed on, 接通率 (answered / offered) and the service
        level (answered within SERVICE_LEVEL_SECONDS / offered); None before any."""
        offered = sum(q["offered"] for q in self.queues.values())
        answered = sum(q["answered"] for q in self.queues.values())
        within = sum(q["within"] for q in self.queues.values())
        return {"date": self.day, "calls": self.calls, "offered": offered,
                "answered": answered,
                "abandoned": sum(q["abandoned"] for q in self.queues.values()),
                "connection_rate": answered / offered if offered else None,
                "service_level": within / offered if offered else None}


async def day_figures(ledger: Ledger, day: date) -> DayFigures:
    """Calls offered, answered, abandoned and answered within the service level per
    queue, and calls answered and average talk per seat, for one Beijing-time day."""
    start = datetime.combine(day, datetime.min.time(), CHINA)
    span = (iso(start), iso(start + timedelta(days=1)))
    figures = DayFigures(day.isoformat())
    async with ledger.db.execute(
            "SELECT COUNT(*) FROM calls WHERE started_at >= ? AND started_at < ?", span) as cur:
        row = await cur.fetchone()
        figures.calls = int(row[0]) if row is not None else 0
    async with ledger.db.execute(
            "SELECT queue, COUNT(*), SUM(answered_at IS NOT NULL), SUM(outcome = 'abandoned'), "
            f"SUM(answered_at IS NOT NULL AND wait_seconds <= {SERVICE_LEVEL_SECONDS}) "
            "FROM calls WHERE started_at >= ? AND started_at < ? AND queue IS NOT NULL "
            "GROUP BY queue", span) as cur:
        for queue, offered, answered, abandoned, within in await cur.fetchall():
            figures.queues[str(queue)] = {"offered": offered, "answered": answered or 0,
                                          "abandoned": abandoned or 0, "within": within or 0}
    async with ledger.db.execute(
            "SELECT seat, COUNT(*), AVG(talk_seconds) FROM calls WHERE started_at >= ? "
            "AND started_at < ? AND answered_at IS NOT NULL AND seat IS NOT NULL "
            "GROUP BY seat", span) as cur:
        for seat, answered, talk in await cur.fetchall():
            figures.seats[str(seat)] = {"answered": answered,
                                        "avg_talk": round(talk, 1) if talk is not None
                                        else None}
    return figures


INTERVALS = (15, 30, 60)  # minutes: the interval figures' lengths


async def interval_figures(ledger: Ledger, day: date, minutes: int,
                           queue: str | None = None) -> list[dict[str, Any]]:
    """One Beijing-time day in intervals of `minutes` (15, 30, 60), for one queue or all:
    the calls offered to the queue in each (by the time they joined it), answered by a
    seat, abandoned, 接通率 (answered / offered) and the average wait. Every interval of
    the day is listed, the quiet ones with zeros, so a table shows the day whole."""
    if minutes not in INTERVALS:
        raise ValueError(f"an interval is {', '.join(map(str, INTERVALS))} minutes")
    start = datetime.combine(day, datetime.min.time(), CHINA)
    # the time a call joined the queue (Beijing time text: hours and minutes by position)
    at = "COALESCE(queued_at, started_at)"
    where = f"{at} >= ? AND {at} < ? AND queue IS NOT NULL"
    params: list[Any] = [iso(start), iso(start + timedelta(days=1))]
    if queue is not None:
        where += " AND queue = ?"
        params.append(queue)
    found: dict[int, tuple[int, int, int, float | None]] = {}
    async with ledger.db.execute(
            f"SELECT (CAST(substr({at}, 12, 2) AS INTEGER) * 60 "
            f"+ CAST(substr({at}, 15, 2) AS INTEGER)) / {minutes}, COUNT(*), "
            "SUM(answered_at IS NOT NULL), SUM(outcome = 'abandoned'), AVG(wait_seconds) "
            f"FROM calls WHERE {where} GROUP BY 1", params) as cur:
        for index, offered, answered, abandoned, wait in await cur.fetchall():
            found[int(index)] = (offered, answered or 0, abandoned or 0, wait)
    out = []
    for index in range(24 * 60 // minutes):
        offered, answered, abandoned, wait = found.get(index, (0, 0, 0, None))
        begin = index * minutes
        end = begin + minutes
        out.append({"start": f"{begin // 60:02d}:{begin % 60:02d}",
                    "end": f"{end // 60:02d}:{end % 60:02d}",
                    "offered": offered, "answered": answered, "abandoned": abandoned,
                    "connection_rate": answered / offered if offered else None,
                    "avg_wait": round(wait, 1) if wait is not None else None})
    return out


# -- the hot topics' searches (hotline.features.kb.hot) ---------------------------------

async def kb_index(ledger: Ledger) -> list[tuple[str, str, str, str]]:
    """The full-text index of the live entries: (entry id, the words of its question,
    of its other phrasings, of its answer), each field's words separated by spaces."""
    async with ledger.db.execute(
            "SELECT entry_id, question, phrasings, answer FROM kb_fts ORDER BY entry_id") as cur:
        return [(str(i), str(q or ""), str(p or ""), str(a or ""))
                for i, q, p, a in await cur.fetchall()]


async def kb_questions(ledger: Ledger, ids: list[str]) -> dict[str, str]:
    """Entry id -> the question of its live version (else its newest)."""
    out: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        async with ledger.db.execute(
                "SELECT e.id, v.question FROM kb_entries e JOIN kb_versions v ON "
                "v.entry_id = e.id AND v.version = COALESCE(e.live, e.latest) WHERE e.id IN "
                f"({', '.join('?' for _ in chunk)})", chunk) as cur:
            out.update({str(i): str(q) for i, q in await cur.fetchall()})
    return out
