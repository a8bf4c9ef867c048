"""Callbacks that keep the caller's place (回拨) in the ledger (migration 20): one row per
call whose caller asked (`callbacks`, keyed by the call's linkedid), and one per attempt
to call them back (`callback_attempts`). The rules (whose turn it is, retries) are
hotline.core.callbacks'; the callback loop (features/callbacks/) applies them.

States: waiting (for its turn, or a retry's time) -> calling (the caller's phone rings)
-> connected (the caller answered and is in the queue ahead of later callers), or back
to waiting (unanswered, retries left), or order (the last attempt failed: a callback
work order, `work_order_id`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from hotline.ledger.store import Ledger, iso

COLUMNS = ("id", "linkedid", "queue", "number", "joined_at", "asked_at", "state",
           "attempts", "next_at", "done_at", "work_order_id")
OPEN_STATES = ("waiting", "calling")


@dataclass(frozen=True)
class CallbackRow:
    id: int
    linkedid: str
    queue: str
    number: str
    joined_at: str
    asked_at: str
    state: str
    attempts: int
    next_at: str | None
    done_at: str | None
    work_order_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AttemptRow:
    id: int
    callback_id: int
    at: str
    channel: str | None
    result: str | None
    ended_at: str | None


class CallbackBook:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def ask(self, *, linkedid: str, queue: str, number: str, joined_at: datetime,
                  asked_at: datetime) -> CallbackRow:
        """The caller of `linkedid` asked to be called back on `number`, keeping their
        place (`joined_at`). Asking twice in one call keeps the first place."""
        async with self.ledger.transaction() as db:
            await db.execute(
                "INSERT INTO callbacks (linkedid, queue, number, joined_at, asked_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (linkedid) DO NOTHING",
                (linkedid, queue, number, iso(joined_at), iso(asked_at)))
        row = await self.by_call(linkedid)
        assert row is not None
        return row

    async def by_call(self, linkedid: str) -> CallbackRow | None:
        rows = await self._select("WHERE linkedid = ?", [linkedid])
        return rows[0] if rows else None

    async def get(self, callback_id: int) -> CallbackRow | None:
        rows = await self._select("WHERE id = ?", [callback_id])
        return rows[0] if rows else None

    async def open(self) -> list[CallbackRow]:
        """The callbacks still to be placed or in flight, earliest place first."""
        return await self._select(
            "WHERE state IN ('waiting', 'calling') ORDER BY joined_at, id", [])

    async def listing(self, limit: int = 100) -> list[CallbackRow]:
        return await self._select("ORDER BY asked_at DESC, id DESC LIMIT ?", [limit])

    async def start_attempt(self, callback_id: int, *, at: datetime,
                            channel: str | None) -> int:
        """An attempt begins (the caller's phone is dialled): the callback is `calling`."""
        async with self.ledger.transaction() as db:
            cur = await db.execute(
                "UPDATE callbacks SET state = 'calling', attempts = attempts + 1, "
                "next_at = NULL WHERE id = ? AND state = 'waiting'", (callback_id,))
            if cur.rowcount == 0:
                raise ValueError(f"callback {callback_id} is not waiting")
            cur = await db.execute(
                "INSERT INTO callback_attempts (callback_id, at, channel) VALUES (?, ?, ?)",
                (callback_id, iso(at), channel))
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def set_channel(self, attempt_id: int, channel: str) -> None:
        async with self.ledger.transaction() as db:
            await db.execute("UPDATE callback_attempts SET channel = ? WHERE id = ?",
                             (channel, attempt_id))

    async def connected(self, callback_id: int, *, at: datetime) -> None:
        """The caller answered and is in the queue, ahead of later callers (the attempt
        stays open until a seat answers or the queue returns)."""
        async with self.ledger.transaction() as db:
            await db.execute("UPDATE callbacks SET state = 'connected' "
                             "WHERE id = ? AND state = 'calling'", (callback_id,))

    async def end_attempt(self, attempt_id: int, *, result: str, at: datetime,
                          state: str, next_at: datetime | None = None,
                          work_order_id: int | None = None) -> None:
        """The attempt ended with `result` (answered, no_answer, busy, failed, ...); the
        callback is now `state` (connected, waiting with `next_at`, order, failed)."""
        async with self.ledger.transaction() as db:
            async with db.execute("SELECT callback_id FROM callback_attempts WHERE id = ?",
                                  (attempt_id,)) as cur:
                found = await cur.fetchone()
            if found is None:
                raise ValueError(f"no callback attempt {attempt_id}")
            await db.execute(
                "UPDATE callback_attempts SET result = ?, ended_at = ? "
                "WHERE id = ? AND ended_at IS NULL", (result, iso(at), attempt_id))
            done = None if state == "waiting" else iso(at)
            await db.execute(
                "UPDATE callbacks SET state = ?, next_at = ?, done_at = ?, "
                "work_order_id = COALESCE(?, work_order_id) WHERE id = ?",
                (state, iso(next_at), done, work_order_id, found[0]))

    async def attempts(self, callback_id: int) -> list[AttemptRow]:
        async with self.ledger.db.execute(
                "SELECT id, callback_id, at, channel, result, ended_at FROM "
                "callback_attempts WHERE callback_id = ? ORDER BY at, id",
                (callback_id,)) as cur:
            rows = await cur.fetchall()
        return [AttemptRow(*row) for row in rows]

    async def _select(self, tail: str, args: list[Any]) -> list[CallbackRow]:
        async with self.ledger.db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM callbacks {tail}", args) as cur:
            rows = await cur.fetchall()
        return [CallbackRow(*row) for row in rows]
