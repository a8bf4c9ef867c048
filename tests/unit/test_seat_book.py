"""Seats in the ledger: a move-in with --until ends by itself, recorded like a move-out."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hotline.core.calendar.schedule import CHINA
from hotline.ledger.seats import SeatBook
from hotline.ledger.store import Ledger

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=CHINA)


async def test_a_move_in_until_a_time_ends_then(tmp_path: Path) -> None:
    """A move-in with an end time ends then (once), leaving the seat logged in; one without
    an end stays."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        book = SeatBook(ledger)
        await book.record("8101", "login", at=T0, actor="staff")
        await book.record("8101", "move_in", at=T0, actor="staff",
                          until=T0 + timedelta(hours=8, minutes=30))
        await book.record("8201", "move_in", at=T0, actor="staff")  # no end given
        assert await book.expire_moves(T0 + timedelta(hours=8)) == []
        assert (await book.state("8101")).moved_in
        [moved] = await book.expire_moves(T0 + timedelta(hours=8, minutes=30))
        assert (moved.seat, moved.moved_in, moved.moved_until) == ("8101", False, None)
        assert moved.logged_in  # still at work, no longer in provincial service
        assert (await book.state("8201")).moved_in
        assert await book.expire_moves(T0 + timedelta(days=30)) == []  # done once
        async with ledger.db.execute(
                "SELECT seat, event, reason, actor, at FROM seat_events ORDER BY id") as cur:
            events = [tuple(r) for r in await cur.fetchall()]
        assert events[-1] == ("8101", "move_out", "until", "hotline",
                              "2026-11-27T17:30:00.000+08:00")
    finally:
        await ledger.close()


async def test_two_changes_of_one_seat_at_once_both_count(tmp_path: Path) -> None:
    """A pause and a move-in of the same seat at the same moment: neither undoes the
    other (each reads the state inside its own transaction)."""
    import asyncio

    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        book = SeatBook(ledger)
        await book.record("8101", "login", at=T0, actor="staff")
        for _ in range(20):
            await asyncio.gather(
                book.record("8101", "pause", at=T0, actor="a", reason="meal"),
                book.record("8101", "move_in", at=T0, actor="b"))
            state = await book.state("8101")
            assert (state.logged_in, state.paused, state.moved_in) == (True, "meal", True)
            await asyncio.gather(
                book.record("8101", "unpause", at=T0, actor="a"),
                book.record("8101", "move_out", at=T0, actor="b"))
            state = await book.state("8101")
            assert (state.paused, state.moved_in) == (None, False)
    finally:
        await ledger.close()
