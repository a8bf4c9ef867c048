"""Seat conversation recordings: the rules (core) and the ledger's recording book."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.core.accounts import Person
from hotline.core.recordings import (
    RecordingRuleError,
    Retention,
    file_name,
    may_play,
    reason_text,
)
from hotline.ledger.entries import EntryBook
from hotline.ledger.errors import RecordingNotRecording
from hotline.ledger.recordings import RecordingBook
from hotline.ledger.schema import MIGRATIONS, SCHEMA_VERSION
from hotline.ledger.store import Ledger

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_file_names_are_safe_and_unique() -> None:
    """A linkedid with slashes or dots cannot leave the folder; the row id keeps names
    of the same call apart."""
    name = file_name("../1700000000.12/x", 7, NOW)
    assert name == "2026/12/04/_._1700000000.12_x-7.wav"
    assert file_name("L1", 1, NOW) != file_name("L1", 2, NOW)


def test_retention_keeps_tip_offs_longer_and_refuses_bad_days() -> None:
    """An ordinary call's recording is due after 180 days, a tip-off's after 730; a
    retention of 0 days is refused naming the setting."""
    r = Retention()
    assert r.due("consultation", NOW - timedelta(days=181), NOW)
    assert not r.due("tip_off", NOW - timedelta(days=181), NOW)
    assert r.due("tip_off", NOW - timedelta(days=731), NOW)
    with pytest.raises(RecordingRuleError, match="default"):
        Retention(default=0)


def test_who_may_play() -> None:
    """A seat plays its own ordinary calls only, never a tip-off; a leader plays a
    tip-off; a play needs a reason."""
    seat = Person("wang", frozenset({"seat"}), seat="s1")
    leader = Person("li", frozenset({"leader"}))
    assert may_play(seat, category="consultation", seat="s1")
    assert not may_play(seat, category="consultation", seat="s2")
    assert not may_play(seat, category="tip_off", seat="s1")
    assert may_play(leader, category="tip_off", seat="s1")
    with pytest.raises(RecordingRuleError, match="reason"):
        reason_text("  ")


def test_migration_applies_on_an_existing_ledger(tmp_path: Path) -> None:
    """A ledger at the previous schema version gets the recordings table on open."""
    path = tmp_path / "ledger.sqlite3"
    con = sqlite3.connect(path)
    for script in MIGRATIONS[:-1]:
        con.executescript(script)
    con.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL);"
                      f"INSERT INTO schema_version VALUES ({SCHEMA_VERSION - 1});")
    con.close()

    async def run() -> None:
        async with await Ledger.open(path) as ledger:
            row = await RecordingBook(ledger).begin(linkedid="L1", seat="s1",
                                                    category=None, at=NOW)
            assert row.status == "recording"

    asyncio.run(run())
    con = sqlite3.connect(path)
    assert con.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION


async def test_row_before_audio_then_saved_or_failed_once(tmp_path: Path) -> None:
    """begin writes the row (with its file name) before any audio; a failed recording is
    listed as failed with its error; a finished row is not overwritten."""
    async with await Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        book = RecordingBook(ledger)
        a = await book.begin(linkedid="L1", seat="s1", category="consultation", at=NOW)
        assert a.file.endswith(f"L1-{a.id}.wav")
        assert a.status == "recording"
        assert not (tmp_path / a.file).exists()
        await book.failed(a.id, at=NOW, error="MixMonitor refused")
        failed = await book.listing(status="failed")
        assert [(r.id, r.error) for r in failed] == [(a.id, "MixMonitor refused")]
        with pytest.raises(RecordingNotRecording):
            await book.saved(a.id, at=NOW, seconds=3.0)


async def _entry(entries: EntryBook, linkedid: str, category: str) -> None:
    fields = {"category": category, "question": "问题", "answer": "答复",
              "resolution": "answered"}
    await entries.save(linkedid, "s1", fields, actor="seat1", at=NOW)


async def test_a_recording_follows_the_category_its_entry_gives(tmp_path: Path) -> None:
    """A call the menus took for a consultation that the seat's 台帐 entry calls a tip-off:
    its recording becomes the tip-off's (kept 730 days, leaders and auditors only), and
    so does the recording of a later queue attempt of that call; an entry calling a
    complaint's recording a consultation leaves it confidential."""
    async with await Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        book, entries = RecordingBook(ledger), EntryBook(ledger)
        first = await book.begin(linkedid="L1", seat=None, category="consultation", at=NOW)
        await _entry(entries, "L1", "tip_off")
        later = await book.begin(linkedid="L1", seat=None, category="consultation", at=NOW)
        assert [(await book.require(r.id)).category for r in (first, later)] == [
            "tip_off", "tip_off"]
        kept = await book.begin(linkedid="L2", seat=None, category="complaint", at=NOW)
        await _entry(entries, "L2", "consultation")
        assert (await book.require(kept.id)).category == "complaint"
        plain = await book.begin(linkedid="L3", seat=None, category=None, at=NOW)
        await _entry(entries, "L3", "consultation")
        assert (await book.require(plain.id)).category == "consultation"


async def test_purge_marks_exactly_the_due_ones_with_an_audit_row_each(
        tmp_path: Path) -> None:
    """Of an old ordinary call, an old-but-kept tip-off and a new call, only the first is
    due; purging it marks it purged and writes one audit row."""
    async with await Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        book = RecordingBook(ledger)
        ids = []
        for category, age in (("consultation", 200), ("tip_off", 200), ("consultation", 1)):
            at = NOW - timedelta(days=age)
            row = await book.begin(linkedid=f"L{age}{category}", seat="s1",
                                   category=category, at=at)
            await book.saved(row.id, at=at, seconds=60.0)
            ids.append(row.id)
        due = await book.due(Retention(), NOW)
        assert [r.id for r in due] == [ids[0]]
        await book.purged(ids[0], at=NOW)
        assert (await book.require(ids[0])).status == "purged"
        assert await book.due(Retention(), NOW) == []
        async with ledger.db.execute("SELECT actor, action, target, detail FROM audit "
                                     "WHERE action = 'recording.purge'") as cur:
            rows = list(await cur.fetchall())
        assert [(r[0], r[2]) for r in rows] == [("hotline", f"recording:{ids[0]}")]
        assert json.loads(rows[0][3])["reason"] == "retention"
