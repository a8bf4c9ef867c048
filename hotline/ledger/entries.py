"""The 台帐 entry of a call: what the seat who took it writes (category and topic as
corrected, the question, the answer, answered on the spot or a work order, the callback
number), one per call, beside the call's row; the draft as typed, so nothing is lost if
the page reloads. And a caller's earlier calls and open work orders (the screen pop)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hotline.ledger import audit
from hotline.ledger.orders import OPEN_STATUSES
from hotline.ledger.recordings import recategorise
from hotline.ledger.store import Ledger, iso

FIELDS = ("category", "topic", "question", "answer", "resolution", "difficulty",
          "department", "callback_number")


class EntryBook:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def get(self, linkedid: str) -> dict[str, Any] | None:
        """The entry as saved (its fields, saved_by, saved_at) and its draft (a dict, or
        None), or None when nothing was written for the call."""
        async with self.ledger.db.execute(
                f"SELECT seat, {', '.join(FIELDS)}, draft, draft_at, saved_by, saved_at, "
                "work_order_id FROM call_entries WHERE linkedid = ?", (linkedid,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        saved = dict(zip(FIELDS, row[1:1 + len(FIELDS)], strict=True))
        draft, draft_at, saved_by, saved_at, order_id = row[1 + len(FIELDS):]
        return {"linkedid": linkedid, "seat": row[0], "saved": saved if saved_at else None,
                "saved_by": saved_by, "saved_at": saved_at,
                "draft": json.loads(draft) if draft else None, "draft_at": draft_at,
                "work_order_id": order_id}

    async def save_draft(self, linkedid: str, seat: str, draft: Mapping[str, Any],
                         at: datetime) -> None:
        """The fields as typed (not yet the entry; not audited: nothing is decided)."""
        text = json.dumps(dict(draft), ensure_ascii=False)
        async with self.ledger.transaction() as db:
            await db.execute(
                "INSERT INTO call_entries (linkedid, seat, draft, draft_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (linkedid) DO UPDATE SET draft = excluded.draft, "
                "draft_at = excluded.draft_at", (linkedid, seat, text, iso(at)))

    async def save(self, linkedid: str, seat: str, fields: Mapping[str, Any], *,
                   actor: str, at: datetime, work_order_id: int | None = None) -> None:
        """The entry itself (the draft is done with), audited as call.entry with who;
        `work_order_id`: the order it opened (转工单)."""
        values = [fields.get(f) for f in FIELDS]
        assignments = ", ".join(f"{f} = excluded.{f}" for f in FIELDS)
        async with self.ledger.transaction() as db:
            await db.execute(
                f"INSERT INTO call_entries (linkedid, seat, {', '.join(FIELDS)}, saved_by, "
                f"saved_at, draft, draft_at, work_order_id) VALUES (?, ?, "
                f"{', '.join('?' for _ in FIELDS)}, ?, ?, NULL, NULL, ?) ON CONFLICT "
                f"(linkedid) DO UPDATE SET {assignments}, saved_by = excluded.saved_by, "
                "saved_at = excluded.saved_at, draft = NULL, draft_at = NULL, "
                "work_order_id = COALESCE(excluded.work_order_id, work_order_id)",
                (linkedid, seat, *values, actor, iso(at), work_order_id))
            await recategorise(db, linkedid, fields.get("category"))
            await audit.record(db, at=at, actor=actor, action="call.entry",
                               target=f"call:{linkedid}", detail=json.dumps(
                                   {"seat": seat, "category": fields.get("category"),
                                    "resolution": fields.get("resolution"),
                                    "work_order": work_order_id}, ensure_ascii=False))

    async def earlier(self, number: str, since: datetime, linkedid: str,
                      limit: int = 20) -> list[dict[str, Any]]:
        """The number's other calls since `since`, newest first: when, category, topic,
        outcome, seat, and its entry's question if one was saved (no number: it is the
        caller's own)."""
        async with self.ledger.db.execute(
                "SELECT c.linkedid, c.started_at, c.category, c.topic, c.outcome, c.seat, "
                "e.question FROM calls c LEFT JOIN call_entries e ON e.linkedid = c.linkedid "
                "AND e.saved_at IS NOT NULL WHERE c.caller_number = ? AND c.started_at >= ? "
                "AND c.linkedid != ? ORDER BY c.started_at DESC LIMIT ?",
                (number, iso(since), linkedid, limit)) as cur:
            rows = await cur.fetchall()
        keys = ("linkedid", "started_at", "category", "topic", "outcome", "seat", "question")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    async def open_orders(self, number: str) -> list[dict[str, Any]]:
        """The number's work orders not closed yet: id, kind, status, due, content."""
        marks = ", ".join("?" for _ in OPEN_STATUSES)
        async with self.ledger.db.execute(
                "SELECT id, kind, status, due_at, content, department FROM work_orders "
                f"WHERE callback_number = ? AND status IN ({marks}) ORDER BY due_at LIMIT 20",
                (number, *OPEN_STATUSES)) as cur:
            rows = await cur.fetchall()
        keys = ("id", "kind", "status", "due_at", "content", "department")
        return [dict(zip(keys, row, strict=True)) for row in rows]
