"""Faults: Asterisk itself crashes (kill -9) under hotline, and is started again.

hotline runs as a separate process against an Asterisk of this module's own. One crash
takes four calls down at once: one in the menu, one queued (a queue nobody serves), one
ringing a seat that does not answer, one talking to a seat. Each must end in the ledger
with exactly one row, at the crash (not at the reconnect: the outage lasts several
seconds so the two cannot be confused), marked as lost with the PBX, with its talk up to
the crash; hotline keeps running and reconnecting; and once Asterisk is back on the same
ports, hotline reconnects, resyncs, and a new call goes through the menu to a seat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.features.calls.testcall import (
    TestCall,
    place_call,
    read_ledger_row,
    wait_for_ledger_row,
)
from hotline.ledger.seats import SeatBook
from hotline.ledger.store import CallRow, Ledger
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance
from tests.conftest import queue_members
from tests.real.test_resilience import SEAT_NAME, HotlineProcess, in_menu, row_in_state

pytestmark = pytest.mark.asterisk

REPO = Path(__file__).resolve().parents[2]
OUTAGE = 5.0  # seconds Asterisk stays down: an end at the reconnect would be this late
TALK = 3.0  # seconds the connected call talks before the others are placed
RINGING_SEAT = "8003"  # the tests' queue `quick` (12399, key 6): made to ring unanswered


def _epoch(iso: str | None) -> float:
    assert iso is not None
    return datetime.fromisoformat(iso).timestamp()


async def _seats_logged_in(ledger: Path, *seats: str) -> None:
    book = await Ledger.open(ledger)
    try:
        for seat in seats:
            await SeatBook(book).record(seat, "login", at=datetime.now(UTC), actor="test")
    finally:
        await book.close()


async def _member_of(inst: Instance, queue: str, device: str, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        # Polled: Asterisk sends this test no event when hotline adds a member.
        while device not in await asyncio.to_thread(queue_members, inst, queue):  # noqa: ASYNC110
            await asyncio.sleep(0.3)


def _log_lines(proc: HotlineProcess, name: str) -> list[dict[str, object]]:
    found = []
    for line in proc.log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("event") == name:
                found.append(entry)
    return found


async def _logged(proc: HotlineProcess, name: str, count: int, timeout: float) -> float:
    """Wait until hotline has logged `name` `count` times; the time it was seen."""
    async with asyncio.timeout(timeout):
        while len(_log_lines(proc, name)) < count:
            assert proc.proc.poll() is None, proc.log.read_text()[-3000:]
            await asyncio.sleep(0.05)
    return time.time()


def _record_rows(inst: Instance, linkedids: list[str],
                 scratch: Path) -> dict[str, list[str]]:
    """Asterisk's CEL record (db/record.db): the event types left for each call. Read
    from a copy (with its journal, rolled back there if Asterisk died mid-write), so the
    test leaves the record as Asterisk left it for hotline to read."""
    scratch.mkdir(exist_ok=True)
    for old in scratch.iterdir():
        old.unlink()
    for name in ("record.db", "record.db-journal"):
        with contextlib.suppress(FileNotFoundError):
            shutil.copyfile(inst.dir / "db" / name, scratch / name)
    con = sqlite3.connect(scratch / "record.db")
    try:
        rows = con.execute("SELECT linkedid, eventtype FROM cel ORDER BY AcctId").fetchall()
    finally:
        con.close()
    out: dict[str, list[str]] = {lid: [] for lid in linkedids}
    for linkedid, kind in rows:
        if linkedid in out:
            out[linkedid].append(kind)
    return out


def _ledger_rows(ledger: Path) -> list[tuple[str, str | None]]:
    con = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        return con.execute("SELECT linkedid, recorded_by FROM calls").fetchall()
    finally:
        con.close()


async def test_an_asterisk_crash_ends_each_call_once_at_the_crash_and_hotline_recovers(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """kill -9 of Asterisk with calls in the menu, queued, ringing a seat and talking to
    one: hotline keeps running and retrying; each call gets exactly one row, ended within
    1 s of the crash (not at the reconnect), end_by `pbx_lost`, the talking call answered
    with its talk up to the crash, the others interrupted; Asterisk's record (which has
    no hang-up for them) adds no row and keeps none of theirs; Asterisk started again on
    the same ports: hotline is back within a few seconds and a new call goes through the
    menu to a seat and gets its row."""
    ledger = tmp_path / "ledger.sqlite3"
    await _seats_logged_in(ledger, "8001", RINGING_SEAT)
    await gateway.set_global("SEAT_TALK_8001", "300")
    await gateway.set_global(f"SEAT_MODE_{RINGING_SEAT}", "noanswer")
    # The tests' own dialplan (12399) too: its queues `brief` and `quick`.
    proc = HotlineProcess(own_asterisk, ledger, {
        "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'dialplans'}, {REPO / 'tests' / 'dialplans'}]"})
    tasks: list[asyncio.Task[None]] = []
    try:
        await proc.wait_for("calls.resynced")
        await _member_of(own_asterisk, "center", "Local/8001@seats/n")
        await _member_of(own_asterisk, "quick", f"Local/{RINGING_SEAT}@seats/n")

        talking = TestCall("13955110001", "纳税人甲", ["0"])  # 12366, 0: to a seat
        queued = TestCall("13955110002", None, ["8"], extension="12399")  # brief: nobody
        ringing = TestCall("13955110003", None, ["6"], extension="12399")  # quick: 8003
        menu = TestCall("13955110004", None, [])  # listens to the welcome
        calls = {"connected": talking, "queued": queued, "ringing": ringing, "ivr": menu}
        in_the_menu = await in_menu(gateway, menu)
        for state, call in calls.items():
            tasks.append(asyncio.create_task(place_call(gateway, call, timeout=120)))
            if call is menu:
                async with asyncio.timeout(10):
                    await in_the_menu.wait()
            try:
                await row_in_state(ledger, call.linkedid, state, timeout=20)
            except TimeoutError:
                row = await read_ledger_row(ledger, call.linkedid)
                raise AssertionError(f"the {state} call never got there: {row}") from None
            if call is talking:
                await asyncio.sleep(TALK)
        before = {s: await read_ledger_row(ledger, c.linkedid) for s, c in calls.items()}
        assert {s: r.state for s, r in before.items() if r is not None} == {
            s: s for s in calls}, "not every call was where the test put it at the crash"

        crashed = await asyncio.to_thread(own_asterisk.crash)
        linkedids = [c.linkedid for c in calls.values()]
        # Asterisk's record has each call, and no hang-up for any: none will ever come.
        record = _record_rows(own_asterisk, linkedids, tmp_path / "record")
        assert all(kinds and "HANGUP" not in kinds for kinds in record.values()), record
        await asyncio.sleep(OUTAGE)
        # hotline does not stop: it keeps trying, and says so.
        assert proc.proc.poll() is None, proc.log.read_text()[-3000:]
        assert _log_lines(proc, "ami.disconnected")
        assert _log_lines(proc, "ami.connect_failed")

        await asyncio.to_thread(own_asterisk.up)
        booted = time.time()
        back = await _logged(proc, "calls.resynced", 2, timeout=15)
        print(f"Asterisk killed: back up {booted - crashed:.1f} s later; hotline resynced "
              f"{back - booted:.2f} s after it was FullyBooted")
        assert back - booted <= 3.0, back - booted
        # It tells the new Asterisk from the old one (whose calls are gone).
        [restarted] = _log_lines(proc, "ami.asterisk_restarted")
        print(f"hotline logged: {restarted}")
        [lost] = _log_lines(proc, "calls.lost_with_asterisk")
        assert lost["count"] == len(calls), lost
        assert not _log_lines(proc, "calls.asterisk_record_unreadable")

        rows: dict[str, CallRow] = {}
        for state, call in calls.items():
            rows[state] = await wait_for_ledger_row(ledger, call.linkedid, timeout=5)
        late = {s: round(_epoch(r.ended_at) - crashed, 3) for s, r in rows.items()}
        print(f"ends against the crash (s): {late}")
        for state, row in rows.items():
            assert abs(late[state]) <= 1.0, (state, late)
            assert (row.state, row.end_reason, row.end_by) == (
                "ended", "vanished", "pbx_lost"), (state, row)
        answered = rows["connected"]
        assert (answered.outcome, answered.queue, answered.seat) == (
            "answered", "center", SEAT_NAME)
        truth = crashed - _epoch(answered.answered_at)
        print(f"talk recorded {answered.talk_seconds} s, answer to crash {truth:.3f} s")
        assert answered.talk_seconds == pytest.approx(truth, abs=1.0)
        for state in ("queued", "ringing", "ivr"):
            assert rows[state].outcome == "interrupted", rows[state]
            assert rows[state].answered_at is None
        assert rows["queued"].queue == "brief"
        assert rows["ringing"].queue == "quick"
        assert rows["queued"].wait_seconds == pytest.approx(
            crashed - _epoch(rows["queued"].queued_at), abs=1.0)

        # The reconcile writes no row for the crashed calls (exactly one each, hotline's)
        # and does not keep their events (callers' numbers) waiting for an end forever.
        assert sorted(lid for lid, _ in _ledger_rows(ledger)) == sorted(linkedids)
        assert all(by is None for _, by in _ledger_rows(ledger))
        left = _record_rows(own_asterisk, linkedids, tmp_path / "record")
        assert left == {lid: [] for lid in linkedids}, left

        # The line works again: the routing loop puts the seat back in the new Asterisk's
        # queue, and a new call goes through the menu to it.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()
        await gateway.wait_connected(15)
        await _member_of(own_asterisk, "center", "Local/8001@seats/n")
        after = TestCall("13955110005", "纳税人乙", ["0"])
        await place_call(gateway, after, timeout=60)
        assert after.queued
        assert after.answered
        row = await wait_for_ledger_row(ledger, after.linkedid)
        assert (row.digits, row.queue, row.seat, row.outcome, row.end_reason, row.end_by) == (
            "0", "center", SEAT_NAME, "answered", "hangup", None)
        assert proc.proc.poll() is None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if own_asterisk.pid() is None:
            await asyncio.to_thread(own_asterisk.up)
        with contextlib.suppress(Exception):
            await gateway.wait_connected(15)
            await gateway.set_global("SEAT_TALK_8001", "")
            await gateway.set_global(f"SEAT_MODE_{RINGING_SEAT}", "")
        proc.stop()
