"""The recordings desk (hotline/features/recordings/desk.py) on a real ledger and folder:
who may play which recording (audited, with a reason), what a listing shows, and the
purge of the recordings whose retention is past (dry run, missing files, audit rows)."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.core.accounts import Person
from hotline.core.recordings import Retention
from hotline.features.recordings.desk import RecordingDesk, secure, view
from hotline.features.recordings.errors import (
    RecordingFileMissing,
    RecordingNoReason,
    RecordingNotAllowed,
    RecordingNotSaved,
)
from hotline.features.spool import Spool
from hotline.ledger.errors import RecordingUnknown
from hotline.ledger.recordings import RecordingRow
from hotline.ledger.store import Ledger

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
SEAT = Person("li", frozenset({"seat"}), seat="8001")
OTHER_SEAT = Person("he", frozenset({"seat"}), seat="8101")
EXPERT = Person("wang", frozenset({"expert"}), seat="8002")
LEADER = Person("zhao", frozenset({"leader"}))
AUDITOR = Person("qian", frozenset({"auditor"}))
ADMIN = Person("ops", frozenset({"admin"}))


@dataclass
class Desk:
    desk: RecordingDesk
    path: Path
    folder: Path

    async def saved(self, seat: str | None, category: str | None, days_ago: int,
                    linkedid: str = "1700000000.1") -> RecordingRow:
        """A saved recording of `days_ago` days ago, with its file."""
        book = self.desk.book
        at = NOW - timedelta(days=days_ago)
        row = await book.begin(linkedid=linkedid, seat=seat, category=category, at=at)
        file = self.folder / row.file
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(b"RIFF-" + str(row.id).encode())
        return await book.saved(row.id, at=at + timedelta(minutes=3), seconds=180.0)

    def audit(self) -> list[tuple[str, str, str, dict[str, object]]]:
        con = sqlite3.connect(self.path)
        try:
            rows = con.execute("SELECT actor, action, target, detail FROM audit "
                               "WHERE action LIKE 'recording.%' ORDER BY id").fetchall()
        finally:
            con.close()
        return [(a, b, c, json.loads(d)) for a, b, c, d in rows]


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    path = tmp_path / "ledger.sqlite3"
    folder = tmp_path / "recordings"
    folder.mkdir()
    ledger = await Ledger.open(path)
    try:
        yield Desk(RecordingDesk(ledger, Spool(folder, "/spool/recordings"), Retention(),
                                 lambda: NOW), path, folder)
    finally:
        await ledger.close()


async def test_who_plays_what_with_a_reason_and_an_audit_row(desk: Desk) -> None:
    """A seat plays its own seat's ordinary call but not another seat's, nor a tip-off
    of its own; an expert plays an ordinary call but not a complaint; a leader and an
    auditor play the tip-off; an admin plays nothing. Each refusal and each play is
    audited; the play's row holds the reason; a play without a reason is refused."""
    ordinary = await desk.saved("8001", "consultation", 1)
    tip_off = await desk.saved("8001", "tip_off", 1)
    complaint = await desk.saved("8002", "complaint", 1)
    path = await desk.desk.play(ordinary.id, SEAT, "  复核答复  ")
    assert path == desk.folder / ordinary.file
    assert path.read_bytes().startswith(b"RIFF")
    with pytest.raises(RecordingNotAllowed, match="own seat"):
        await desk.desk.play(ordinary.id, OTHER_SEAT, "复核答复")
    with pytest.raises(RecordingNotAllowed, match="leaders and auditors"):
        await desk.desk.play(tip_off.id, SEAT, "复核答复")
    with pytest.raises(RecordingNotAllowed, match="leaders and auditors"):
        await desk.desk.play(complaint.id, EXPERT, "复核答复")
    with pytest.raises(RecordingNotAllowed):
        await desk.desk.play(ordinary.id, ADMIN, "复核答复")
    assert await desk.desk.play(ordinary.id, EXPERT, "答复质量抽查") == path
    assert await desk.desk.play(tip_off.id, LEADER, "核实举报内容") == desk.folder / tip_off.file
    await desk.desk.play(tip_off.id, AUDITOR, "审计抽查")
    with pytest.raises(RecordingNoReason, match="reason"):
        await desk.desk.play(complaint.id, LEADER, " x ")
    with pytest.raises(RecordingUnknown):
        await desk.desk.play(999, LEADER, "核实")
    audit = desk.audit()
    plays = [(a, t, d["reason"]) for a, action, t, d in audit if action == "recording.play"]
    assert plays == [("li", f"recording:{ordinary.id}", "复核答复"),
                     ("wang", f"recording:{ordinary.id}", "答复质量抽查"),
                     ("zhao", f"recording:{tip_off.id}", "核实举报内容"),
                     ("qian", f"recording:{tip_off.id}", "审计抽查")]
    refused = [(a, t) for a, action, t, _ in audit if action == "recording.refused"]
    assert refused == [("he", f"recording:{ordinary.id}"), ("li", f"recording:{tip_off.id}"),
                       ("wang", f"recording:{complaint.id}"),
                       ("ops", f"recording:{ordinary.id}")]


async def test_only_a_saved_recording_with_its_file_plays(desk: Desk) -> None:
    """A recording still being recorded, a failed one and a purged one are refused
    (recording-not-saved); a saved one whose file is gone is recording-file-missing;
    none of them gets a play audit row."""
    book = desk.desk.book
    running = await book.begin(linkedid="L2", seat="8001", category=None, at=NOW)
    failed = await book.begin(linkedid="L3", seat="8001", category=None, at=NOW)
    await book.failed(failed.id, at=NOW, error="MixMonitor refused")
    old = await desk.saved("8001", None, 200)
    await desk.desk.purge()
    gone = await desk.saved("8001", None, 1)
    (desk.folder / gone.file).unlink()
    for row_id, status in ((running.id, "recording"), (failed.id, "failed"),
                           (old.id, "purged")):
        with pytest.raises(RecordingNotSaved, match=f"is {status}"):
            await desk.desk.play(row_id, LEADER, "核实")
    with pytest.raises(RecordingFileMissing):
        await desk.desk.play(gone.id, LEADER, "核实")
    assert [a for a in desk.audit() if a[1] == "recording.play"] == []


async def test_listing_filters_and_a_seat_sees_its_own(desk: Desk) -> None:
    """Filters by seat, category, status and time; a seat's listing is its own seat's
    and asking for another seat is refused; a confidential recording's row is listed for
    an expert (flagged confidential); no view shows the file's path or a number."""
    a = await desk.saved("8001", "consultation", 10)
    b = await desk.saved("8002", "tip_off", 5)
    c = await desk.saved("8001", None, 1)
    ids = [r.id for r in await desk.desk.listing(EXPERT)]
    assert ids == [c.id, b.id, a.id]
    assert [r.id for r in await desk.desk.listing(SEAT)] == [c.id, a.id]
    with pytest.raises(RecordingNotAllowed, match="own seat"):
        await desk.desk.listing(SEAT, seat="8002")
    with pytest.raises(RecordingNotAllowed):
        await desk.desk.listing(ADMIN)
    assert [r.id for r in await desk.desk.listing(LEADER, category="tip_off")] == [b.id]
    assert [r.id for r in await desk.desk.listing(LEADER, seat="8002")] == [b.id]
    week = await desk.desk.listing(LEADER, since=NOW - timedelta(days=7),
                                   until=NOW - timedelta(days=2))
    assert [r.id for r in week] == [b.id]
    assert await desk.desk.listing(LEADER, status="failed") == []
    shown = view(b, desk.desk.retention)
    assert shown["confidential"] is True
    assert shown["category_label"] == "涉税举报"
    assert "file" not in shown
    assert str(desk.folder) not in json.dumps(shown)
    assert shown["purge_after"].startswith(str((NOW - timedelta(days=5) + timedelta(
        days=730)).date()))


async def test_purge_dry_run_then_real_with_a_missing_file(desk: Desk) -> None:
    """Of an ordinary call 200 days old, another 190 days old (its file already gone), a
    tip-off 200 days old and a call of yesterday: the dry run names the two ordinary old
    ones and deletes nothing; the purge deletes exactly the due file, marks both purged
    with one audit row each (the missing file said so), keeps the tip-off and
    yesterday's, and a second purge finds nothing."""
    old = await desk.saved("8001", "consultation", 200)
    lost = await desk.saved("8002", None, 190)
    tip_off = await desk.saved("8001", "tip_off", 200)
    fresh = await desk.saved("8001", "consultation", 1)
    (desk.folder / lost.file).unlink()
    dry = await desk.desk.purge(dry_run=True)
    assert [r.id for r in dry] == [old.id, lost.id]
    assert (desk.folder / old.file).is_file()
    assert desk.audit() == []
    purged = await desk.desk.purge()
    assert [(r.id, r.status) for r in purged] == [(old.id, "purged"), (lost.id, "purged")]
    assert not (desk.folder / old.file).exists()
    assert (desk.folder / tip_off.file).is_file()
    assert (desk.folder / fresh.file).is_file()
    audit = desk.audit()
    assert [(a, action, t) for a, action, t, _ in audit] == [
        ("hotline", "recording.purge", f"recording:{old.id}"),
        ("hotline", "recording.purge", f"recording:{lost.id}")]
    assert audit[0][3]["reason"] == "retention"
    assert "file already missing" in str(audit[1][3]["reason"])
    assert await desk.desk.purge() == []


async def test_a_file_that_cannot_be_deleted_does_not_stop_the_others(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """When deleting one due file fails, that recording stays saved and is reported; the
    other due recording is purged all the same."""
    stuck = await desk.saved("8001", None, 300)
    other = await desk.saved("8001", None, 200)
    original = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name == Path(stuck.file).name:
            raise PermissionError(13, "Permission denied", str(self))
        original(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    report = await desk.desk.purge_report()
    assert [r.id for r in report.purged] == [other.id]
    assert [(r.id, e) for r, e in report.failed] == [(stuck.id, "Permission denied")]
    assert (await desk.desk.book.require(stuck.id)).status == "saved"
    assert (await desk.desk.book.require(other.id)).status == "purged"


def test_secure_takes_the_others_bits_off(tmp_path: Path) -> None:
    """A recording written 0o666 becomes 0o640; one already 0o600 stays 0o600."""
    loose = tmp_path / "a.wav"
    loose.write_bytes(b"RIFF")
    loose.chmod(0o666)
    assert secure(loose) == 0o640
    assert stat.S_IMODE(loose.stat().st_mode) == 0o640
    tight = tmp_path / "b.wav"
    tight.write_bytes(b"RIFF")
    tight.chmod(0o600)
    assert secure(tight) == 0o600
