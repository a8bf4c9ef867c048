"""The ledger in SQLite (aiosqlite, WAL). One row per call, keyed by Linkedid: every write
is an upsert, so a replayed or repeated write never makes a second row."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from hotline.common.clock import CHINA as CHINA  # importable from here as before
from hotline.core.calls.tracking import Call, CallState, RecordedBy, vanished_outcome
from hotline.ledger.errors import LedgerError as LedgerError  # importable from here
from hotline.ledger.errors import LedgerMigrationFailed, LedgerTooNew
from hotline.ledger.schema import MIGRATIONS, SCHEMA_VERSION

# The bureau's clock: times are stored and shown in Beijing time, with their offset.


# China has kept UTC+8 without summer time since 1991: a fixed offset converts the same as
# Asia/Shanghai for every date the ledger holds, and faster.
BEIJING = timezone(timedelta(hours=8))


# iso() runs four times for every row written, so it formats by arithmetic rather than with
# astimezone().isoformat() (about 2.5 times slower): the instant minus midnight 1970-01-01
# Beijing gives whole days, seconds of the day and microseconds, all in Beijing time, for a
# datetime in any zone; the date part comes from a small cache by day (shared by threads:
# a race only formats a day twice), the rest from tables. The text is the same,
# "2026-11-27T09:00:00.123+08:00" (milliseconds truncated, not rounded), as
# test_ledger_store checks against isoformat.
_MIDNIGHT = datetime(1970, 1, 1, tzinfo=BEIJING)
_NAIVE_MIDNIGHT = datetime(1970, 1, 1)
_HOURS_MINUTES = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS = tuple(f"{s:02d}." for s in range(60))
_MILLISECONDS = tuple(f"{ms:03d}+08:00" for ms in range(1000))
_DAYS: dict[int, str] = {}  # days since 1970-01-01 in Beijing -> "YYYY-MM-DDT"
_DAYS_KEPT = 4096  # about eleven years of distinct days before the cache starts over


def iso(at: datetime | None) -> str | None:
    """`at` in Beijing time as ISO 8601 text with milliseconds and the +08:00 offset; a naive
    `at` is taken as the machine's local time, as datetime.astimezone() takes it."""
    if at is None:
        return None
    try:
        since = at - _MIDNIGHT
    except TypeError:  # naive: left to astimezone(), which knows the local zone
        return at.astimezone(BEIJING).isoformat(timespec="milliseconds")
    day = _DAYS.get(since.days)
    if day is None:
        day = (_NAIVE_MIDNIGHT + timedelta(days=since.days)).isoformat()[:11]
        if len(_DAYS) >= _DAYS_KEPT:
            _DAYS.clear()
        _DAYS[since.days] = day
    seconds = since.seconds
    return (day + _HOURS_MINUTES[seconds // 60] + _SECONDS[seconds % 60]
            + _MILLISECONDS[since.microseconds // 1000])


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
    referred_to: str | None = None
    self_service: int = 0  # 1: walked a self-service menu
    after_hours: int = 0  # 1: the line was closed when the call came
    recorded_by: str | None = None  # asterisk_record: written from Asterisk's record
    end_by: str | None = None  # asterisk_record, last_seen, pbx_lost: an end no hang-up told

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


COLUMNS = [name for name in CallRow.__dataclass_fields__]
_UPSERT = (
    f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT(linkedid) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in ("linkedid", "started_at"))
    # A call's start only moves earlier (one that ended, by Asterisk's clock, before
    # hotline's IVR connection came; the same zone's ISO texts sort as times).
    + ", started_at = MIN(calls.started_at, excluded.started_at)"
    # An ended call is final: a late snapshot of it in progress must not reopen it.
    + " WHERE calls.ended_at IS NULL OR excluded.ended_at IS NOT NULL"
)


def row_of(call: Call, now: datetime | str) -> tuple[Any, ...]:
    """The call as a row, in the order of COLUMNS (the fields of CallRow). `now` may come
    already formatted, once for a whole batch. (`_value_` is the enum's documented value
    attribute; `.value` goes through a property, several times slower, and this runs for
    every row written.)"""
    return (
        call.linkedid,
        call.caller_number,
        call.caller_name,
        iso(call.started_at),
        iso(call.queued_at),
        iso(call.answered_at),
        iso(call.ended_at),
        call.state._value_,
        call.digits,
        call.queue,
        call.seat,
        ",".join(call.seats_no_answer),
        call.wait_seconds,
        call.talk_seconds,
        call.outcome._value_ if call.outcome is not None else None,
        call.end_reason._value_ if call.end_reason is not None else None,
        now if isinstance(now, str) else iso(now),
        ">".join(call.ivr_path),
        call.category,
        call.topic,
        call.dialplan,
        call.voicemail_id,
        call.seat_group,
        call.region,
        call.referred_to,
        1 if call.self_service else 0,
        1 if call.after_hours else 0,
        call.recorded_by._value_ if call.recorded_by is not None else None,
        call.end_by._value_ if call.end_by is not None else None,
    )


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def call_from_row(row: CallRow, channel: str = "", uniqueid: str = "") -> Call:
    """The call as a row an earlier run wrote says it was (the reverse of `row_of`; the
    caller on `channel`, which the row does not keep), so adopting it goes on from there
    and loses nothing of the row."""
    started = datetime.fromisoformat(row.started_at)
    queued, answered = _time(row.queued_at), _time(row.answered_at)
    state = CallState(row.state)
    # The ledger keeps no history: the changes its times tell, then the state now.
    history: list[tuple[CallState, datetime]] = [(CallState.IVR, started)]
    if queued is not None:
        history.append((CallState.QUEUED, queued))
    if answered is not None:
        history.append((CallState.CONNECTED, answered))
    if history[-1][0] != state:
        history.append((state, history[-1][1]))
    return Call(
        row.linkedid, channel, uniqueid, row.caller_number, row.caller_name, state, started,
        tuple(history), digits=row.digits,
        ivr_path=tuple(row.ivr_path.split(">")) if row.ivr_path else (),
        category=row.category, topic=row.topic, dialplan=row.dialplan, queue=row.queue,
        queued_at=queued, seat=row.seat, seat_group=row.seat_group, region=row.region,
        seats_no_answer=tuple(row.seats_no_answer.split(",")) if row.seats_no_answer else (),
        answered_at=answered, wait_seconds=row.wait_seconds, talk_seconds=row.talk_seconds,
        voicemail_id=row.voicemail_id, referred_to=row.referred_to,
        self_service=bool(row.self_service), after_hours=bool(row.after_hours),
        recorded_by=RecordedBy(row.recorded_by) if row.recorded_by else None,
        # Back in a queue after an answer: a seat sent the caller back.
        transfers=1 if answered is not None and state in (
            CallState.QUEUED, CallState.RINGING) else 0)


class Ledger:
    """An open ledger database: `async with await Ledger.open(path) as ledger:` closes it
    when the block ends, however it ends (or `await Ledger.open(path)` ... `close()` for
    one that lives as long as the service).

    Two connections: one writes, in transactions under `lock`; the other, `db`, only reads.
    In WAL mode a reader sees the ledger as last committed, so no reader ever sees another
    task's uncommitted rows (which a failed COMMIT would then drop), and no reader waits for
    a writer nor a writer for a long read (a report, an export)."""

    def __init__(self, db: aiosqlite.Connection, path: Path,
                 reader: aiosqlite.Connection | None = None) -> None:
        self._db = db
        self._reader = reader if reader is not None else db
        self.path = path
        # The writing connection is shared by the call writer and the other books: a
        # transaction holds this lock, so another task's statements never land inside it.
        self.lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN ... COMMIT under the lock; ROLLBACK on any error, a failed COMMIT too.

        SQLite may stay inside the transaction when COMMIT fails (a deferred foreign key,
        SQLITE_BUSY, some I/O errors): without the ROLLBACK every later BEGIN on the shared
        connection would fail ("cannot start a transaction within a transaction")."""
        async with self.lock:
            if self._db.in_transaction:  # left open by a ROLLBACK that failed as well
                await self._db.rollback()
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                await self._db.commit()
            except BaseException:
                if self._db.in_transaction:
                    await _rollback(self._db)
                raise

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
            reader = await aiosqlite.connect(path)
        except BaseException:
            await db.close()
            raise
        try:
            await reader.execute("PRAGMA busy_timeout=5000")
            await reader.execute("PRAGMA query_only=ON")
        except BaseException:
            await reader.close()
            await db.close()
            raise
        return cls(db, path, reader)

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            if self._reader is not self._db:
                await self._reader.close()
        finally:
            await self._db.close()  # the last connection: checkpoints and removes the WAL

    @property
    def db(self) -> aiosqlite.Connection:
        """The reading connection, for the ledger's other books (voicemail, work orders,
        seats, reports): it sees only committed rows, and cannot write (query_only). Write
        in `transaction()`; read there what the transaction itself must see."""
        return self._reader

    async def upsert_calls(self, calls: Sequence[Call], now: datetime) -> None:
        """Write call snapshots in one transaction (all or none).

        The rows are built lazily, by sqlite3's executemany on aiosqlite's thread, within
        the same call that writes them: the event loop does not spend the batch's row
        building (four timestamps a row), and no list of rows is held. Snapshots are
        immutable; the sequence itself is copied first, so the caller may reuse it."""
        stamp = iso(now) or ""
        snapshots = tuple(calls)
        async with self.transaction() as db:
            await db.executemany(_UPSERT, (row_of(c, stamp) for c in snapshots))

    async def open_calls(self) -> list[str]:
        async with self._reader.execute(
                "SELECT linkedid FROM calls WHERE ended_at IS NULL") as cur:
            return [row[0] for row in await cur.fetchall()]

    async def close_vanished(self, linkedids: Sequence[str], at: datetime,
                             ends: Mapping[str, tuple[datetime, RecordedBy]] | None = None,
                             ) -> None:
        """Close calls left open by an earlier run that Asterisk no longer has: at their
        time in `ends` (when they really ended, as Asterisk's record says), else `at`."""
        now = iso(at)
        async with self.transaction() as db:
            closed = []
            for lid in linkedids:
                async with db.execute("SELECT answered_at IS NOT NULL, voicemail_id IS NOT "
                                      "NULL FROM calls WHERE linkedid = ? AND ended_at IS "
                                      "NULL", (lid,)) as cur:
                    row = await cur.fetchone()
                if row is not None:
                    outcome = vanished_outcome(bool(row[0]), bool(row[1]))
                    end, end_by = (ends or {}).get(lid, (at, None))
                    closed.append((iso(end), CallState.ENDED.value, outcome.value,
                                   end_by.value if end_by is not None else None, now, lid))
            await db.executemany(
                "UPDATE calls SET ended_at = ?, state = ?, end_reason = 'vanished', "
                "outcome = ?, end_by = ?, updated_at = ? WHERE linkedid = ? "
                "AND ended_at IS NULL", closed)

    async def latest(self, limit: int = 20) -> list[CallRow]:
        async with self._reader.execute(
                f"SELECT {', '.join(COLUMNS)} FROM calls ORDER BY started_at DESC, linkedid "
                "LIMIT ?", (limit,)) as cur:
            return [CallRow(*row) for row in await cur.fetchall()]

    async def get(self, linkedid: str) -> CallRow | None:
        async with self._reader.execute(
                f"SELECT {', '.join(COLUMNS)} FROM calls WHERE linkedid = ?",
                (linkedid,)) as cur:
            row = await cur.fetchone()
        return CallRow(*row) if row is not None else None


async def _rollback(db: aiosqlite.Connection) -> None:
    """Roll back after an error, keeping that error: a ROLLBACK that fails as well (the disk
    gone) is left to the next transaction, which rolls back first."""
    with contextlib.suppress(sqlite3.Error):
        await db.rollback()


async def migrate(db: aiosqlite.Connection, path: Path) -> None:
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    async with db.execute("SELECT version FROM schema_version") as cur:
        row = await cur.fetchone()
    current = row[0] if row is not None else 0
    if current > SCHEMA_VERSION:
        raise LedgerTooNew(
            f"{path}: ledger schema version {current} is newer than this hotline "
            f"({SCHEMA_VERSION}); upgrade hotline instead of using an older one")
    try:
        for version in range(current + 1, SCHEMA_VERSION + 1):
            await db.executescript("BEGIN;\n" + MIGRATIONS[version - 1] + _set_version(version)
                                   + "COMMIT;")
    except sqlite3.Error as exc:
        await db.rollback()
        raise LedgerMigrationFailed(f"{path}: migrating the ledger failed: {exc}") from exc


def _set_version(version: int) -> str:
    return (f"DELETE FROM schema_version; INSERT INTO schema_version (version) "
            f"VALUES ({version});\n")


def dumps(rows: Sequence[CallRow]) -> str:
    return json.dumps([r.as_dict() for r in rows], ensure_ascii=False)
