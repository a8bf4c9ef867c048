"""Voicemail in the ledger: every recording is a row from the moment it starts, and a work
order (登记表) once it is saved, written in one transaction with it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from hotline.ledger import audit
from hotline.ledger.errors import OrderClosed, VoicemailNotNew, VoicemailUnknown
from hotline.ledger.orders import insert_order
from hotline.ledger.store import Ledger, iso

VOICEMAIL_COLUMNS = ("id", "linkedid", "caller_number", "caller_name", "box", "file",
                     "started_at", "ended_at", "duration_seconds", "status", "flags",
                     "category", "topic", "due_at", "work_order_id", "handled_at", "note")


@dataclass(frozen=True)
class VoicemailRow:
    id: int
    linkedid: str
    caller_number: str | None
    caller_name: str | None
    box: str
    file: str
    started_at: str
    ended_at: str | None
    duration_seconds: float | None
    status: str  # recording | new | done | discarded | failed
    flags: str  # comma separated: short, silent, hangup, interrupted, no_audio
    category: str | None
    topic: str | None
    due_at: str | None
    work_order_id: int | None
    handled_at: str | None
    note: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class VoicemailBook:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db

    async def begin(self, *, linkedid: str, caller_number: str | None,
                    caller_name: str | None, box: str, file: str, at: datetime,
                    category: str | None, topic: str | None) -> int:
        """Reserve the recording's row before any audio is written (status recording)."""
        async with self.ledger.transaction() as db:
            cur = await db.execute(
                "INSERT INTO voicemails (linkedid, caller_number, caller_name, box, file, "
                "started_at, status, category, topic) "
                "VALUES (?, ?, ?, ?, ?, ?, 'recording', ?, ?)",
                (linkedid, caller_number, caller_name, box, file, iso(at), category, topic))
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def imported(self, *, source: str, linkedid: str, caller_number: str | None,
                       caller_name: str | None, box: str, file: str, started_at: datetime,
                       duration: float, flags: list[str], due_at: datetime,
                       content: str) -> int | None:
        """A message left without hotline (Asterisk's own VoiceMail, the fallback), with
        its work order, in one transaction. None if `source` was imported before."""
        async with self.ledger.transaction() as db:
            async with db.execute("SELECT id FROM work_orders WHERE source = ?",
                                  (source,)) as cur:
                if await cur.fetchone() is not None:
                    return None
            cur = await db.execute(
                "INSERT INTO voicemails (linkedid, caller_number, caller_name, box, file, "
                "started_at, ended_at, duration_seconds, status, flags, due_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?)",
                (linkedid, caller_number, caller_name, box, file, iso(started_at),
                 iso(started_at), round(duration, 3), ",".join(flags), iso(due_at)))
            voicemail_id = cur.lastrowid
            order_id = await insert_order(
                db, kind="voicemail", source=source, linkedid=linkedid,
                callback_number=caller_number, caller_name=caller_name, content=content,
                created_at=started_at, due_at=due_at)
            await db.execute("UPDATE voicemails SET work_order_id = ? WHERE id = ?",
                             (order_id, voicemail_id))
        return voicemail_id

    async def save(self, voicemail_id: int, *, ended_at: datetime, duration: float,
                   flags: list[str], due_at: datetime, content: str) -> int:
        """Mark the recording saved and open its work order, in one transaction."""
        row = await self.get(voicemail_id)
        if row is None:
            raise VoicemailUnknown(f"no voicemail {voicemail_id}")
        async with self.ledger.transaction() as db:
            order_id = await insert_order(
                db, kind="voicemail", source=f"voicemail:{voicemail_id}",
                linkedid=row.linkedid, callback_number=row.caller_number,
                caller_name=row.caller_name, category=row.category, content=content,
                created_at=ended_at, due_at=due_at)
            await db.execute(
                "UPDATE voicemails SET status = 'new', ended_at = ?, duration_seconds = ?, "
                "flags = ?, due_at = ?, work_order_id = ? WHERE id = ?",
                (iso(ended_at), round(duration, 3), ",".join(flags), iso(due_at), order_id,
                 voicemail_id))
        assert order_id is not None
        return order_id

    async def mark(self, voicemail_id: int, status: str, flags: list[str],
                   ended_at: datetime | None = None) -> None:
        async with self.ledger.transaction() as db:
            await db.execute(
                "UPDATE voicemails SET status = ?, flags = ?, ended_at = COALESCE(?, ended_at)"
                " WHERE id = ?", (status, ",".join(flags), iso(ended_at), voicemail_id))

    async def unfinished(self) -> list[VoicemailRow]:
        return await self._select("WHERE status = 'recording' ORDER BY id", ())

    async def get(self, voicemail_id: int) -> VoicemailRow | None:
        rows = await self._select("WHERE id = ?", (voicemail_id,))
        return rows[0] if rows else None

    async def listing(self, status: str | None, limit: int = 100) -> list[VoicemailRow]:
        if status is None or status == "all":
            return await self._select("ORDER BY started_at DESC, id DESC LIMIT ?", (limit,))
        return await self._select("WHERE status = ? ORDER BY started_at DESC, id DESC LIMIT ?",
                                  (status, limit))

    async def handle(self, voicemail_id: int, *, at: datetime, note: str,
                     department: str | None, actor: str) -> VoicemailRow:
        """Staff handled it: done with a note; its work order is closed, or passed on to
        `department`, audited by `actor` as order.close or order.pass_on like a change
        made with `hotline orders`."""
        row = await self.get(voicemail_id)
        if row is None:
            raise VoicemailUnknown(f"no voicemail {voicemail_id}")
        if row.status not in ("new",):
            raise VoicemailNotNew(f"voicemail {voicemail_id} is {row.status}, not new")
        async with self.ledger.transaction() as db:
            order_closed = False
            if row.work_order_id is not None:
                async with db.execute("SELECT status FROM work_orders WHERE id = ?",
                                      (row.work_order_id,)) as cur:
                    found = await cur.fetchone()
                order_closed = found is not None and found[0] == "closed"
                if order_closed and department:
                    # A closed order is never reopened (as with `hotline orders`).
                    raise OrderClosed(
                        f"work order {row.work_order_id} of voicemail {voicemail_id} is "
                        "closed: it can no longer be passed on",
                        order_id=row.work_order_id)
            await db.execute(
                "UPDATE voicemails SET status = 'done', handled_at = ?, note = ? WHERE id = ?",
                (iso(at), note, voicemail_id))
            if row.work_order_id is not None and not order_closed:
                target = f"work_order:{row.work_order_id}"
                if department:
                    await db.execute(
                        "UPDATE work_orders SET status = 'passed_on', department = ?, "
                        "passed_on_at = ?, note = ? WHERE id = ?",
                        (department, iso(at), note, row.work_order_id))
                    await audit.record(db, at=at, actor=actor, action="order.pass_on",
                                       target=target, detail=department)
                else:
                    await db.execute(
                        "UPDATE work_orders SET status = 'closed', closed_at = ?, note = ? "
                        "WHERE id = ?", (iso(at), note, row.work_order_id))
                    await audit.record(db, at=at, actor=actor, action="order.close",
                                       target=target, detail=note)
        updated = await self.get(voicemail_id)
        assert updated is not None
        return updated

    async def work_order(self, order_id: int) -> dict[str, Any] | None:
        async with self.db.execute("SELECT * FROM work_orders WHERE id = ?",
                                   (order_id,)) as cur:
            row = await cur.fetchone()
            if row is None:
                return None
            names = [d[0] for d in cur.description]
        return dict(zip(names, row, strict=True))

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[VoicemailRow]:
        async with self.db.execute(
                f"SELECT {', '.join(VOICEMAIL_COLUMNS)} FROM voicemails {where}",
                params) as cur:
            return [VoicemailRow(*row) for row in await cur.fetchall()]
