"""Voicemail in a real temporary ledger: crash recovery, work orders, audio flags."""

from __future__ import annotations

import array
import math
import sqlite3
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.core.calendar.schedule import Calendar
from hotline.features.voicemail.service import Spool, Voicemail, analyse
from hotline.ledger.errors import OrderClosed
from hotline.ledger.orders import OrderBook
from hotline.ledger.store import Ledger
from hotline.ledger.voicemail import VoicemailBook

NOW = datetime(2026, 9, 30, 8, 0, tzinfo=UTC)  # 16:00 Beijing, before 国庆节


def write_wav(path: Path, seconds: float, amplitude: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = array.array("h", (int(amplitude * math.sin(i / 8)) for i in
                               range(int(8000 * seconds))))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(frames.tobytes())


async def make(tmp_path: Path) -> tuple[Ledger, Voicemail]:
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    return ledger, Voicemail(ledger, Spool(tmp_path / "spool", "/srv/spool"), Calendar,
                             lambda: NOW)


async def test_saved_voicemail_gets_a_work_order_due_after_the_holiday(tmp_path: Path) -> None:
    """A saved voicemail is new, with its length, and gets a work order due the next working
    day after the holiday."""
    ledger, vm = await make(tmp_path)
    try:
        rec = await vm.begin(linkedid="L1", caller_number="13955112345", caller_name=None,
                             box="12366", category="consultation", topic=None)
        assert rec.asterisk_path.startswith("/srv/spool/2026/09/30/")
        write_wav(rec.wav, 3.0, 8000)
        vid = await vm.save(rec)
        row = await VoicemailBook(ledger).get(vid)
        assert row is not None
        assert (row.status, row.flags) == ("new", "")
        assert row.duration_seconds == 3.0
        # Left on 30 Sep: the next working day is 8 Oct (国庆节 1-7 Oct).
        assert row.due_at == "2026-10-08T17:30:00.000+08:00"
        order = await VoicemailBook(ledger).work_order(row.work_order_id or 0)
        assert order is not None
        assert (order["kind"], order["due_at"], order["status"]) == (
            "voicemail", row.due_at, "open")
        assert "税务咨询" in order["content"]
    finally:
        await ledger.close()


async def test_a_voicemail_done_closes_its_order_with_an_audit_row(tmp_path: Path) -> None:
    """Closing a voicemail's work order through `handle` is audited like any order change."""
    ledger, vm = await make(tmp_path)
    try:
        rec = await vm.begin(linkedid="L1", caller_number="13955112345", caller_name=None,
                             box="12366", category=None, topic=None)
        write_wav(rec.wav, 3.0, 8000)
        vid = await vm.save(rec)
        row = await VoicemailBook(ledger).handle(vid, at=NOW, note="已回电", department=None,
                                                 actor="wang")
        async with ledger.db.execute("SELECT actor, action, target, detail FROM audit") as cur:
            audited = await cur.fetchall()
        assert audited == [("wang", "order.close", f"work_order:{row.work_order_id}",
                            "已回电")]
    finally:
        await ledger.close()


async def test_short_and_silent_recordings_are_kept_but_flagged(tmp_path: Path) -> None:
    """A short or silent recording is kept and flagged, not dropped."""
    ledger, vm = await make(tmp_path)
    try:
        rec = await vm.begin(linkedid="L2", caller_number=None, caller_name=None,
                             box="12366", category=None, topic=None)
        write_wav(rec.wav, 1.0, 0)
        row = await VoicemailBook(ledger).get(await vm.save(rec))
        assert row is not None
        assert (row.status, row.flags) == ("new", "short,silent")
        assert rec.wav.exists()
    finally:
        await ledger.close()


async def test_after_a_crash_recordings_are_finished_from_their_files(tmp_path: Path) -> None:
    """After a crash, recordings left open are finished from their files, or marked failed
    when there is no audio."""
    ledger, vm = await make(tmp_path)
    try:
        with_audio = await vm.begin(linkedid="L3", caller_number="1", caller_name=None,
                                    box="12366", category=None, topic=None)
        write_wav(with_audio.wav, 4.0, 5000)
        without = await vm.begin(linkedid="L4", caller_number="2", caller_name=None,
                                 box="12366", category=None, topic=None)
        # The process dies here: both rows are still `recording`.
        await vm.reconcile()
        book = VoicemailBook(ledger)
        done = await book.get(with_audio.voicemail_id)
        lost = await book.get(without.voicemail_id)
        assert done is not None
        assert lost is not None
        assert (done.status, done.flags, done.duration_seconds) == ("new", "interrupted", 4.0)
        assert done.work_order_id is not None
        assert (lost.status, lost.flags, lost.work_order_id) == (
            "failed", "interrupted,no_audio", None)
        assert await book.unfinished() == []
    finally:
        await ledger.close()


async def test_file_names_are_never_reused(tmp_path: Path) -> None:
    """Every recording gets a file name of its own."""
    ledger, vm = await make(tmp_path)
    try:
        names = {(await vm.begin(linkedid="L5", caller_number=None, caller_name=None,
                                 box="12366", category=None, topic=None)).wav
                 for _ in range(20)}
        assert len(names) == 20
        con = sqlite3.connect(tmp_path / "ledger.sqlite3")
        assert con.execute("SELECT COUNT(DISTINCT file) FROM voicemails").fetchone()[0] == 20
        con.close()
    finally:
        await ledger.close()


def test_analyse_measures_length_and_level(tmp_path: Path) -> None:
    """analyse() measures a recording's length and loudness."""
    loud, quiet = tmp_path / "loud.wav", tmp_path / "quiet.wav"
    write_wav(loud, 2.5, 10000)
    write_wav(quiet, 2.5, 10)
    assert analyse(loud).seconds == 2.5
    assert analyse(loud).dbfs > -15
    assert analyse(quiet).dbfs < -50


async def test_a_voicemail_done_never_reopens_an_order_closed_meanwhile(tmp_path: Path) -> None:
    """`voicemail done` after its order was closed with `hotline orders close` leaves the
    order closed (no second close audited), and passing it on is refused with nothing
    changed."""
    ledger, vm = await make(tmp_path)
    try:
        rec = await vm.begin(linkedid="L1", caller_number="13955112345", caller_name=None,
                             box="12366", category=None, topic=None)
        write_wav(rec.wav, 3.0, 8000)
        vid = await vm.save(rec)
        book = VoicemailBook(ledger)
        order_id = (await book.get(vid)).work_order_id  # type: ignore[union-attr]
        await OrderBook(ledger, Calendar()).change(order_id, "close", actor="li", at=NOW,
                                                   text="电话已答复")
        with pytest.raises(OrderClosed):
            await book.handle(vid, at=NOW, note="转办", department="征管科", actor="wang")
        assert (await book.get(vid)).status == "new"  # type: ignore[union-attr]
        await book.handle(vid, at=NOW, note="已回电", department=None, actor="wang")
        order = await OrderBook(ledger, Calendar()).get(order_id)
        assert (order["status"], order["department"], order["note"]) == (
            "closed", None, "电话已答复")
        async with ledger.db.execute("SELECT actor, action FROM audit") as cur:
            assert await cur.fetchall() == [("li", "order.close")]
    finally:
        await ledger.close()
