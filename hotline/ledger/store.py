"""The ledger in SQLite (aiosqlite, WAL). One row per call, keyed by Linkedid: every write
is an upsert, so a replayed or repeated write never makes a second row."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from hotline.common.errors import HotlineError
from hotline.ledger.schema import MIGRATIONS, SCHEMA_VERSION
from hotline.pbx.tracking import Call, CallState

# The bureau's clock: times are stored and shown in Beijing time, with their offset.
CHINA = ZoneInfo("Asia/Shanghai")


class LedgerError(HotlineError):
    code = "ledger-error"


# China has kept UTC+8 without summer time since 1991: a fixed offset converts the same as
# Asia/Shanghai for every date the ledger holds, and several times faster (it runs for
# five times in every row written).
BEIJING = timezone(timedelta(hours=8))


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(BEIJING).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class CallRow:
    linkedid: str
    caller_number: str | None
    caller_name: str | None
    started_at: str
    queued_at: str | None
    answered_at: str | None
    ended_at: str | None
    state: str
    digits: str
    queue: str | None
    seat: str | None
    seats_no_answer: str
    wait_seconds: float | None
    talk_seconds: float | None
    outcome: str | None
    end_reason: str | None
    updated_at: str
    ivr_path: str
    category: str | None
    topic: str | None
    dialplan: str | None
    voicemail_id: int | None
    seat_group: str | None
    region: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


COLUMNS = [name for name in CallRow.__dataclass_fields__]
_UPSERT = (
    f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT(linkedid) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in ("linkedid", "started_at"))
    # An ended call is final: a late snapshot of it in progress must not reopen it.
    + " WHERE calls.ended_at IS NULL OR excluded.ended_at IS NOT NULL"
)


def row_of(call: Call, now: datetime | str) -> tuple[Any, ...]:
    """The call as a row, in the order of COLUMNS (the fields of CallRow). `now` may come
    already formatted, once for a whole batch."""
    return (
        call.linkedid,
        call.caller_number,
        call.caller_name,
        iso(call.started_at),
        iso(call.queued_at),
        iso(call.answered_at),
        iso(call.ended_at),
        call.state.value,
        call.digits,
        call.queue,
        call.seat,
        ",".join(call.seats_no_answer),
        call.wait_seconds,
        call.talk_seconds,
        call.outcome.value if call.outcome else None,
        call.end_reason.value if call.end_reason else None,
        now if isinstance(now, str) else iso(now),
        ">".join(call.ivr_path),
        call.category,
        call.topic,
        call.dialplan,
        call.voicemail_id,
        call.seat_group,
        call.region,
    )


class Ledger:
    """An open ledger database. Use `await Ledger.open(path)`; close with `close()`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        # One connection is shared by the call writer and the other books: a transaction
        # holds this lock, so another task's statements never land inside it.
        self.lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN ... COMMIT under the lock; ROLLBACK on any error."""
        async with self.lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()

    @classmethod
    async def open(cls, path: Path) -> Ledger:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            # synchronous=FULL: a committed call survives a power cut, not only a crash.
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA busy_timeout=5000")
            await migrate(db, path)
        except BaseException:
            await db.close()
            raise
        return cls(db, path)

    async def close(self) -> None:
        await self._db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        """The connection, for the ledger's other books (voicemail, work orders)."""
        return self._db

    async def upsert_calls(self, calls: Sequence[Call], now: datetime) -> None:
        """Write call snapshots in one transaction (all or none)."""
        stamp = iso(now)
        rows = [row_of(c, stamp or "") for c in calls]
        async with self.transaction() as db:
            await db.executemany(_UPSERT, rows)

    async def open_calls(self) -> list[str]:
        async with self._db.execute(
                "SELECT linkedid FROM calls WHERE ended_at IS NULL") as cur:
            return [row[0] for row in await cur.fetchall()]

    async def close_vanished(self, linkedids: Sequence[str], at: datetime) -> None:
        """Close calls left open by an earlier run that Asterisk no longer has."""
        stamp = iso(at)
        async with self.transaction() as db:
            await db.executemany(
                "UPDATE calls SET ended_at = ?, state = ?, end_reason = 'vanished', "
                "outcome = CASE WHEN answered_at IS NOT NULL THEN 'answered' "
                "WHEN voicemail_id IS NOT NULL THEN 'voicemail' ELSE 'interrupted' END, "
                "updated_at = ? WHERE linkedid = ? AND ended_at IS NULL",
                [(stamp, CallState.ENDED.value, stamp, lid) for lid in linkedids])

    async def latest(self, limit: int = 20) -> list[CallRow]:
        async with self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM calls ORDER BY started_at DESC, linkedid "
                "LIMIT ?", (limit,)) as cur:
            return [CallRow(*row) for row in await cur.fetchall()]

    async def get(self, linkedid: str) -> CallRow | None:
        async with self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM calls WHERE linkedid = ?",
                (linkedid,)) as cur:
            row = await cur.fetchone()
        return CallRow(*row) if row is not None else None


async def migrate(db: aiosqlite.Connection, path: Path) -> None:
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    async with db.execute("SELECT version FROM schema_version") as cur:
        row = await cur.fetchone()
    current = row[0] if row is not None else 0
    if current > SCHEMA_VERSION:
        raise LedgerError(
            f"{path}: ledger schema version {current} is newer than this hotline "
            f"({SCHEMA_VERSION}); upgrade hotline instead of using an older one",
            code="ledger-too-new")
    try:
        for version in range(current + 1, SCHEMA_VERSION + 1):
            await db.executescript("BEGIN;\n" + MIGRATIONS[version - 1] + _set_version(version)
                                   + "COMMIT;")
    except sqlite3.Error as exc:
        await db.rollback()
        raise LedgerError(f"{path}: migrating the ledger failed: {exc}",
                          code="ledger-migration-failed") from exc


def _set_version(version: int) -> str:
    return (f"DELETE FROM schema_version; INSERT INTO schema_version (version) "
            f"VALUES ({version});\n")


def dumps(rows: Sequence[CallRow]) -> str:
    return json.dumps([r.as_dict() for r in rows], ensure_ascii=False)
