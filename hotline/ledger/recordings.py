"""Seat conversation recordings in the ledger: the row is written before the audio
(`begin`, status recording), then marked saved or failed once; a row is never
overwritten (a second save or fail is refused). `purged` deletes nothing itself: the
recordings feature deletes the file, then marks the row purged with an audit row, in one
transaction. The rules (retention, file names, who may play) are hotline.core.recordings'.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from hotline.common.privacy import CONFIDENTIAL_CATEGORIES, is_confidential
from hotline.core.recordings import Retention, file_name
from hotline.ledger import audit
from hotline.ledger.errors import RecordingNotRecording, RecordingUnknown
from hotline.ledger.store import Ledger, iso

COLUMNS = ("id", "linkedid", "file", "seat", "category", "status", "started_at",
           "ended_at", "seconds", "error", "purged_at")
SERVICE_ACTOR = "hotline"  # the service's own audit rows (as the seat book's move_out)


@dataclass(frozen=True)
class RecordingRow:
    id: int
    linkedid: str
    file: str  # relative to the recordings folder (core.recordings.file_name)
    seat: str | None
    category: str | None  # the call's category (as its 台帐 entry corrected it)
    status: str  # recording | saved | failed | purged
    started_at: str
    ended_at: str | None
    seconds: float | None
    error: str | None
    purged_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def end(self) -> datetime:
        """When the recording ended (its start if it never did: a crash)."""
        return datetime.fromisoformat(self.ended_at or self.started_at)


async def recategorise(db: aiosqlite.Connection, linkedid: str, category: str | None) -> None:
    """A call's recordings take the category its 台帐 entry gives (the seat corrected what
    the menus guessed: a consultation that was a tip-off), in the caller's transaction,
    so its retention and who may play it follow the call as it is now known. A
    confidential recording stays confidential: an entry that calls it ordinary does not
    open it to experts and seats (a leader's matter, not a seat's)."""
    if not category:
        return
    if is_confidential(category):
        await db.execute("UPDATE recordings SET category = ? WHERE linkedid = ?",
                         (category, linkedid))
        return
    secret = sorted(CONFIDENTIAL_CATEGORIES)
    await db.execute(
        f"UPDATE recordings SET category = ? WHERE linkedid = ? AND (category IS NULL OR "
        f"category NOT IN ({', '.join('?' for _ in secret)}))", (category, linkedid, *secret))


class RecordingBook:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def begin(self, *, linkedid: str, seat: str | None, category: str | None,
                    at: datetime) -> RecordingRow:
        """The recording's row, before any audio is written (status recording), with the
        file name the audio must be written to (it holds the row's id)."""
        async with self.ledger.transaction() as db:
            cur = await db.execute(
                "INSERT INTO recordings (linkedid, seat, category, status, started_at) "
                "VALUES (?, ?, ?, 'recording', ?)", (linkedid, seat, category, iso(at)))
            assert cur.lastrowid is not None
            row_id = cur.lastrowid
            await db.execute("UPDATE recordings SET file = ? WHERE id = ?",
                             (file_name(linkedid, row_id, at), row_id))
            async with db.execute("SELECT category FROM call_entries WHERE linkedid = ? "
                                  "AND saved_at IS NOT NULL", (linkedid,)) as cur:
                entry = await cur.fetchone()
            if entry is not None:
                await recategorise(db, linkedid, entry[0])
        return await self.require(row_id)

    async def _finish(self, row_id: int, status: str, at: datetime,
                      seconds: float | None, error: str | None,
                      seat: str | None = None) -> RecordingRow:
        async with self.ledger.transaction() as db:
            cur = await db.execute(
                "UPDATE recordings SET status = ?, ended_at = ?, seconds = ?, error = ?, "
                "seat = COALESCE(?, seat) WHERE id = ? AND status = 'recording'",
                (status, iso(at), None if seconds is None else round(seconds, 3), error,
                 seat, row_id))
            changed = cur.rowcount
        if changed == 0:
            row = await self.require(row_id)
            raise RecordingNotRecording(
                f"recording {row_id} is {row.status} already: not marked {status} "
                f"(录音 {row_id} 已是 {row.status} 状态)")
        return await self.require(row_id)

    async def saved(self, row_id: int, *, at: datetime, seconds: float,
                    seat: str | None = None) -> RecordingRow:
        """The recording is complete: `seconds` long, of `seat`'s conversation (if the
        row did not know its seat yet: a recording is armed before anyone answers)."""
        return await self._finish(row_id, "saved", at, seconds, None, seat)

    async def withdraw(self, row_id: int) -> None:
        """A recording armed for a queue nobody answered: no audio exists, so its row is
        deleted (its id, and so its file name, is never used again)."""
        async with self.ledger.transaction() as db:
            cur = await db.execute(
                "DELETE FROM recordings WHERE id = ? AND status = 'recording'", (row_id,))
            if cur.rowcount == 0:
                row = await self.require(row_id)
                raise RecordingNotRecording(
                    f"recording {row_id} is {row.status}: only one still being written "
                    f"is withdrawn (录音 {row_id} 为 {row.status} 状态)")

    async def call_answered(self, linkedid: str) -> bool:
        """Whether the ledger's row of the call says a seat answered it."""
        async with self.ledger.db.execute(
                "SELECT 1 FROM calls WHERE linkedid = ? AND answered_at IS NOT NULL",
                (linkedid,)) as cur:
            return await cur.fetchone() is not None

    async def call_seat(self, linkedid: str) -> str | None:
        """The seat the ledger's row of the call names (None if none or no row)."""
        async with self.ledger.db.execute(
                "SELECT seat FROM calls WHERE linkedid = ?", (linkedid,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row is not None and row[0] is not None else None

    async def failed(self, row_id: int, *, at: datetime, error: str) -> RecordingRow:
        """The recording failed (MixMonitor refused, no file, ...): kept and listed as
        failed with `error`, never purged of a file it does not have."""
        return await self._finish(row_id, "failed", at, None, error or "unknown")

    async def get(self, row_id: int) -> RecordingRow | None:
        rows = await self._select("WHERE id = ?", [row_id])
        return rows[0] if rows else None

    async def require(self, row_id: int) -> RecordingRow:
        row = await self.get(row_id)
        if row is None:
            raise RecordingUnknown(f"no recording {row_id} (没有编号为 {row_id} 的录音)")
        return row

    async def listing(self, *, since: datetime | None = None, until: datetime | None = None,
                      seat: str | None = None, category: str | None = None,
                      status: str | None = None, limit: int = 100) -> list[RecordingRow]:
        """Newest first; `since` inclusive, `until` exclusive (by started_at)."""
        where: list[str] = []
        args: list[Any] = []
        for clause, value in (("started_at >= ?", iso(since)), ("started_at < ?", iso(until)),
                              ("seat = ?", seat), ("category = ?", category),
                              ("status = ?", status)):
            if value is not None:
                where.append(clause)
                args.append(value)
        text = ("WHERE " + " AND ".join(where)) if where else ""
        return await self._select(f"{text} ORDER BY started_at DESC, id DESC LIMIT ?",
                                  [*args, limit])

    async def open_for(self, linkedid: str) -> list[RecordingRow]:
        """The call's recordings still being written (status recording), oldest first."""
        return await self._select("WHERE linkedid = ? AND status = 'recording' ORDER BY id",
                                  [linkedid])

    async def open_rows(self) -> list[RecordingRow]:
        """Every recording still being written, oldest first."""
        return await self._select("WHERE status = 'recording' ORDER BY id", [])

    async def due(self, retention: Retention, now: datetime) -> list[RecordingRow]:
        """The saved recordings whose category's retention is past at `now`, oldest
        first (failed ones have no file; recording ones are still being written)."""
        rows = await self._select("WHERE status = 'saved' ORDER BY started_at, id", [])
        return [r for r in rows if retention.due(r.category, r.end(), now)]

    async def purged(self, row_id: int, *, at: datetime, actor: str = SERVICE_ACTOR,
                     reason: str = "retention") -> RecordingRow:
        """Mark a saved recording purged (its file already deleted) with its audit row,
        in one transaction."""
        row = await self.require(row_id)
        async with self.ledger.transaction() as db:
            cur = await db.execute(
                "UPDATE recordings SET status = 'purged', purged_at = ? "
                "WHERE id = ? AND status = 'saved'", (iso(at), row_id))
            if cur.rowcount == 0:
                raise RecordingNotRecording(
                    f"recording {row_id} is {row.status}: only a saved one is purged "
                    f"(录音 {row_id} 为 {row.status} 状态，不能清除)")
            await audit.record(db, at=at, actor=actor, action="recording.purge",
                               target=f"recording:{row_id}",
                               detail=json.dumps({"linkedid": row.linkedid, "file": row.file,
                                                  "category": row.category,
                                                  "reason": reason}, ensure_ascii=False))
        return await self.require(row_id)

    async def played(self, row_id: int, *, at: datetime, actor: str, reason: str) -> None:
        """The audit row of one play (the access check is the caller's, with
        core.recordings.may_play)."""
        row = await self.require(row_id)
        async with self.ledger.transaction() as db:
            await audit.record(db, at=at, actor=actor, action="recording.play",
                               target=f"recording:{row_id}",
                               detail=json.dumps({"linkedid": row.linkedid,
                                                  "category": row.category,
                                                  "reason": reason}, ensure_ascii=False))

    async def _select(self, where: str, args: list[Any]) -> list[RecordingRow]:
        async with self.ledger.db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM recordings {where}", args) as cur:
            return [RecordingRow(*row) for row in await cur.fetchall()]
