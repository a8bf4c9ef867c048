"""Seats in the ledger: an append-only record of who logged in, paused and moved in or out
(迁入迁出), when, why and by whom, and each seat's current state, written together."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from hotline.ledger.store import Ledger, iso

EVENTS = ("login", "logout", "pause", "unpause", "move_in", "move_out")


@dataclass(frozen=True)
class SeatRecord:
    seat: str
    logged_in: bool
    paused: str | None
    moved_in: bool
    moved_until: str | None
    updated_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SeatChange:
    """What recording an event did: the seat's state after it, and whether it changed
    anything (a repeated change, such as a move-out of a seat already moved out, is not
    recorded: it would count in the quarterly 迁入迁出 figures)."""

    record: SeatRecord
    changed: bool = True


def already(state: SeatRecord, event: str, reason: str | None = None,
            until: str | None = None) -> bool:
    """The seat already is as `event` would make it (`until` as ISO text)."""
    if event == "login":
        return state.logged_in
    if event == "logout":
        return not state.logged_in
    if event == "pause":
        return state.paused is not None and state.paused == (reason or "other")
    if event == "unpause":
        return state.paused is None
    if event == "move_in":
        return state.moved_in and state.moved_until == until
    return event == "move_out" and not state.moved_in


class SeatBook:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def record(self, seat: str, event: str, *, at: datetime, actor: str,
                     reason: str | None = None, until: datetime | None = None) -> SeatChange:
        """Append the event and update the seat's state in one transaction (the state is
        read inside it, so two changes of one seat at once cannot undo each other). An
        event that changes nothing (the seat already is so) is not recorded."""
        if event not in EVENTS:
            raise ValueError(f"unknown seat event {event!r}")
        stamp = iso(at)
        async with self.ledger.transaction() as db:
            current = await _state(db, seat)
            if already(current, event, reason, iso(until)):
                return SeatChange(current, changed=False)
            logged_in, paused, moved_in = current.logged_in, current.paused, current.moved_in
            moved_until = current.moved_until
            if event == "login":
                logged_in = True
            elif event == "logout":
                logged_in, paused = False, None
            elif event == "pause":
                paused = reason or "other"
            elif event == "unpause":
                paused = None
            elif event == "move_in":
                moved_in, moved_until = True, iso(until)
            elif event == "move_out":
                moved_in, moved_until = False, None
            await db.execute(
                "INSERT INTO seat_events (seat, at, event, reason, until, actor) "
                "VALUES (?, ?, ?, ?, ?, ?)", (seat, stamp, event, reason, iso(until), actor))
            await db.execute(
                "INSERT INTO seat_states (seat, logged_in, paused, moved_in, moved_until, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(seat) DO UPDATE SET "
                "logged_in = excluded.logged_in, paused = excluded.paused, "
                "moved_in = excluded.moved_in, moved_until = excluded.moved_until, "
                "updated_at = excluded.updated_at",
                (seat, int(logged_in), paused, int(moved_in), moved_until, stamp))
        return SeatChange(SeatRecord(seat, logged_in, paused, moved_in, moved_until, stamp))

    async def expire_moves(self, now: datetime) -> list[SeatRecord]:
        """Move out every remote seat whose move-in `--until` has passed (recorded as a
        move_out by hotline, reason `until`, so the quarterly count sees it)."""
        async with self.ledger.db.execute(
                "SELECT seat FROM seat_states WHERE moved_in = 1 AND moved_until IS NOT NULL "
                "AND moved_until <= ? ORDER BY seat", (iso(now),)) as cur:
            due = [row[0] for row in await cur.fetchall()]
        moved = [await self.record(seat, "move_out", at=now, actor="hotline", reason="until")
                 for seat in due]
        return [change.record for change in moved if change.changed]

    async def state(self, seat: str) -> SeatRecord:
        return await _state(self.ledger.db, seat)

    async def states(self) -> dict[str, SeatRecord]:
        async with self.ledger.db.execute(
                "SELECT seat, logged_in, paused, moved_in, moved_until, updated_at "
                "FROM seat_states") as cur:
            rows = await cur.fetchall()
        return {r[0]: SeatRecord(r[0], bool(r[1]), r[2], bool(r[3]), r[4], r[5]) for r in rows}

    async def events(self, seat: str | None = None, kinds: tuple[str, ...] = EVENTS,
                     since: str | None = None) -> list[dict[str, Any]]:
        where = [f"event IN ({', '.join('?' for _ in kinds)})"]
        params: list[Any] = list(kinds)
        if seat is not None:
            where.append("seat = ?")
            params.append(seat)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        async with self.ledger.db.execute(
                "SELECT id, seat, at, event, reason, until, actor FROM seat_events WHERE "
                + " AND ".join(where) + " ORDER BY at, id", params) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]


    async def last_event_id(self) -> int:
        """The newest seat event's id (0: none): a change by another process (`hotline
        seats pause`) shows as a new id."""
        async with self.ledger.db.execute("SELECT MAX(id) FROM seat_events") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    async def answered_between(self, seat_name: str, start: datetime, end: datetime,
                               ) -> tuple[int, float]:
        """Calls the seat (its name, as the calls record it) answered in [start, end),
        and their talk seconds (the seat's figures of the day)."""
        async with self.ledger.db.execute(
                "SELECT COUNT(*), TOTAL(talk_seconds) FROM calls WHERE seat = ? AND "
                "answered_at >= ? AND answered_at < ?",
                (seat_name, iso(start), iso(end))) as cur:
            row = await cur.fetchone()
        return (int(row[0]), float(row[1])) if row is not None else (0, 0.0)

async def _state(db: aiosqlite.Connection, seat: str) -> SeatRecord:
    async with db.execute(
            "SELECT seat, logged_in, paused, moved_in, moved_until, updated_at "
            "FROM seat_states WHERE seat = ?", (seat,)) as cur:
        row = await cur.fetchone()
    if row is None:
        return SeatRecord(seat, False, None, False, None, None)
    return SeatRecord(row[0], bool(row[1]), row[2], bool(row[3]), row[4], row[5])
