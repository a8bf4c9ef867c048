"""Seats in the ledger: a move-in with --until ends by itself, recorded like a move-out."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hotline.common.clock import CHINA
from hotline.ledger.seats import SeatBook
from hotline.ledger.store import Ledger
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.operations import AsteriskOperations

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


class _Gateway(AsteriskOperations):
    """Keeps the AMI actions a seat command sends (through the gateway's typed
    operations), answering each with success."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, action: dict[str, Any], *, timeout: float | None = None,
                   check: bool = True) -> AmiMessage:
        self.sent.append(action)
        return AmiMessage("Response: Success")


def _desk(ledger: Ledger, reasons: dict[str, str] | None = None) -> tuple[object, _Gateway]:
    from dataclasses import replace

    from hotline.features.seats.desk import SeatDesk
    from tests.unit.test_routing import make_config

    config = make_config()
    if reasons is not None:
        config = replace(config, pause_reasons=reasons)
    gateway = _Gateway()
    return SeatDesk(gateway, ledger, config, lambda: T0), gateway  # type: ignore[arg-type]


async def test_a_redundant_move_out_is_not_recorded_nor_counted(tmp_path: Path) -> None:
    """A second move-out says the seat was moved out already, records nothing, sends
    nothing to Asterisk, and the quarter counts one 迁出."""
    from hotline.features.seats.desk import SeatDesk, held
    from hotline.ledger.report import quarterly

    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        desk, gateway = _desk(ledger)
        assert isinstance(desk, SeatDesk)
        for event in ("login", "move_in", "move_out"):
            assert (await desk.command("h1", event, actor="staff")).changed
        sent = len(gateway.sent)
        again = await desk.command("h1", "move_out", actor="staff")
        assert not again.changed
        assert held(desk.routing, again.record) == "logged in, not paused, moved out"
        assert len(gateway.sent) == sent
        async with ledger.db.execute("SELECT event FROM seat_events ORDER BY id") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["login", "move_in", "move_out"]
        report = await quarterly(ledger, "2026Q4", T0)
        assert report.seat_moves == [{"seat": "h1", "moved_in": 1, "moved_out": 1}]
    finally:
        await ledger.close()


@pytest.mark.parametrize(("first", "again"), [
    ("login", "login"), ("logout", "logout"), ("unpause", "unpause")])
async def test_repeating_a_state_change_records_nothing(tmp_path: Path, first: str,
                                                        again: str) -> None:
    """Logging in twice, out twice, or unpausing a seat that is not paused records one
    event at most."""
    from hotline.features.seats.desk import SeatDesk

    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        desk, _ = _desk(ledger)
        assert isinstance(desk, SeatDesk)
        await desk.command("c1", "login", actor="staff")
        await desk.command("c1", first, actor="staff")
        assert not (await desk.command("c1", again, actor="staff")).changed
        async with ledger.db.execute("SELECT COUNT(*) FROM seat_events") as cur:
            row = await cur.fetchone()
        assert row is not None
        assert row[0] == (1 if first in ("login", "unpause") else 2)
    finally:
        await ledger.close()


async def test_a_logged_out_seat_cannot_be_unpaused(tmp_path: Path) -> None:
    """Unpausing a seat that is not logged in is refused (seat-not-logged-in)."""
    from hotline.features.seats.desk import SeatDesk, SeatError

    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        desk, _ = _desk(ledger)
        assert isinstance(desk, SeatDesk)
        with pytest.raises(SeatError) as refused:
            await desk.command("c1", "unpause", actor="staff")
        assert refused.value.code == "seat-not-logged-in"
    finally:
        await ledger.close()


async def test_a_pause_reason_may_be_given_by_its_chinese_label(tmp_path: Path) -> None:
    """午休 (a configured label) pauses with its code; an unknown word is refused with
    the codes and labels to choose from."""
    from hotline.features.seats.desk import SeatDesk, SeatError

    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        desk, gateway = _desk(ledger, {"lunch": "午休", "meal": "用餐"})
        assert isinstance(desk, SeatDesk)
        await desk.command("c1", "login", actor="staff")
        change = await desk.command("c1", "pause", actor="staff", reason="午休")
        assert change.record.paused == "lunch"
        assert gateway.sent[-1]["Reason"] == "午休"
        assert not (await desk.command("c1", "pause", actor="staff", reason="lunch")).changed
        with pytest.raises(SeatError) as refused:
            await desk.command("c1", "pause", actor="staff", reason="睡觉")
        assert "lunch (午休)" in str(refused.value)
    finally:
        await ledger.close()
