"""The audit trail (append-only: triggers refuse UPDATE and DELETE): who viewed or changed
what, when. Every write to it goes through `record`, inside the transaction of the change
it describes, so a change and its audit row are written together or not at all."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from hotline.ledger.store import iso


async def record(db: aiosqlite.Connection, *, at: datetime, actor: str, action: str,
                 target: str, detail: str | None = None) -> None:
    """One audit row: `actor` did `action` (order.close, call.unmask, ...) to `target`
    (work_order:12, call:LINKEDID, ...); `detail` as text (JSON where structured)."""
    await db.execute("INSERT INTO audit (at, actor, action, target, detail) "
                     "VALUES (?, ?, ?, ?, ?)", (iso(at), actor, action, target, detail))
