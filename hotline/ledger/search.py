"""Call history search (来电记录查询): the ledger's calls by date range, number, seat,
queue, category and outcome, newest first, in pages with a cursor.

The order is stable (started_at, then linkedid, both descending) and the cursor is the
last row's pair, so a page never repeats or skips a call however many calls are written
meanwhile (new calls are newer than every page already read).

Confidentiality: a reporter's or complainant's call (the menu's category or the one the
seat saved) is masked in the answer, and a search by number never finds one: a masked
row that matched a number someone typed would tell them that number made a tip-off.
(An auditor unmasks one call at a time, with a reason: hotline.ledger.access.)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from hotline.common.privacy import CONFIDENTIAL_CATEGORIES
from hotline.ledger.export import masked_with_entry
from hotline.ledger.store import Ledger

MAX_PAGE = 200
_CALL_FIELDS = ("linkedid", "started_at", "caller_number", "caller_name", "region",
                "category", "topic", "queue", "answered_at", "ended_at", "seat",
                "seat_group", "wait_seconds", "talk_seconds", "outcome")
_ENTRY_FIELDS = ("category", "topic", "question", "resolution", "callback_number")


class BadCursor(ValueError):
    """A cursor this search did not give out."""


@dataclass(frozen=True)
class CallQuery:
    start: str | None = None  # started_at >= (ISO, Beijing time)
    end: str | None = None  # started_at <
    number: str | None = None  # the caller's number, exactly
    seats: Collection[str] | None = None  # what the ledger keeps for the seat(s)
    queue: str | None = None
    category: str | None = None  # the call's category (the entry's, if saved)
    outcome: str | None = None  # an outcome code; "-" for calls still in progress
    group: str | None = None  # only the calls this group's seats answered
    limit: int = 50
    cursor: str | None = None


def encode_cursor(started_at: str, linkedid: str) -> str:
    return base64.urlsafe_b64encode(f"{started_at}\n{linkedid}".encode()).decode()


def decode_cursor(text: str) -> tuple[str, str]:
    try:
        started_at, linkedid = base64.urlsafe_b64decode(text.encode()).decode().split("\n")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("not a cursor of this search (use the answer's `next`)") from None
    return started_at, linkedid


async def search_calls(ledger: Ledger, query: CallQuery) -> dict[str, Any]:
    """One page: {"calls": [...], "next": cursor or None, "total": matching calls}. The
    rows as codes, masked."""
    category = "COALESCE(e.category, c.category)"
    confidential = ", ".join(f"'{c}'" for c in sorted(CONFIDENTIAL_CATEGORIES))
    where: list[str] = []
    params: list[Any] = []
    if query.start is not None:
        where.append("c.started_at >= ?")
        params.append(query.start)
    if query.end is not None:
        where.append("c.started_at < ?")
        params.append(query.end)
    if query.number is not None:
        where.append("c.caller_number = ?")
        params.append(query.number)
        where.append(f"COALESCE(c.category, '') NOT IN ({confidential}) AND "
                     f"COALESCE(e.category, '') NOT IN ({confidential})")
    if query.seats is not None:
        seats = sorted(query.seats) or [""]
        where.append(f"c.seat IN ({', '.join('?' for _ in seats)})")
        params.extend(seats)
    if query.queue is not None:
        where.append("c.queue = ?")
        params.append(query.queue)
    if query.category is not None:
        if query.category == "-":
            where.append(f"{category} IS NULL")
        else:
            where.append(f"{category} = ?")
            params.append(query.category)
    if query.outcome is not None:
        if query.outcome == "-":
            where.append("c.outcome IS NULL")
        else:
            where.append("c.outcome = ?")
            params.append(query.outcome)
    if query.group is not None:
        where.append("c.seat_group = ?")
        params.append(query.group)
    joined = ("FROM calls c LEFT JOIN call_entries e ON e.linkedid = c.linkedid AND "
              "e.saved_at IS NOT NULL")
    clause = " WHERE " + " AND ".join(where) if where else ""
    async with ledger.db.execute(f"SELECT COUNT(*) {joined}{clause}", params) as cur:
        row = await cur.fetchone()
    total = int(row[0]) if row is not None else 0
    page_where, page_params = list(where), list(params)
    if query.cursor is not None:
        started_at, linkedid = decode_cursor(query.cursor)
        page_where.append("(c.started_at < ? OR (c.started_at = ? AND c.linkedid < ?))")
        page_params += [started_at, started_at, linkedid]
    limit = max(1, min(query.limit, MAX_PAGE))
    fields = ", ".join(f"c.{f}" for f in _CALL_FIELDS)
    entry = ", ".join(f"e.{f}" for f in _ENTRY_FIELDS)
    page_clause = " WHERE " + " AND ".join(page_where) if page_where else ""
    async with ledger.db.execute(
            f"SELECT {fields}, {entry} {joined}{page_clause} "
            "ORDER BY c.started_at DESC, c.linkedid DESC LIMIT ?",
            (*page_params, limit + 1)) as cur:
        found = list(await cur.fetchall())
    calls = []
    for raw in found[:limit]:
        call = dict(zip(_CALL_FIELDS, raw[:len(_CALL_FIELDS)], strict=True))
        saved = dict(zip(_ENTRY_FIELDS, raw[len(_CALL_FIELDS):], strict=True))
        shown = masked_with_entry(call, saved)
        shown.setdefault("masked", False)
        calls.append(shown)
    more = len(found) > limit
    last = calls[-1] if calls else None
    return {"calls": calls, "total": total,
            "next": encode_cursor(last["started_at"], last["linkedid"])
            if more and last is not None else None}
