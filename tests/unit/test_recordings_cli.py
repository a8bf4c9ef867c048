"""`hotline recordings list|play|purge` as the people bound to OS accounts, on a temporary
ledger and recordings folder: a seat lists its own seat's, a leader plays a tip-off with a
reason (audited) and a seat may not; purge --dry-run deletes nothing, purge deletes the
due files; a seat may not purge."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hotline.ledger.recordings import RecordingBook
from hotline.ledger.store import Ledger
from tests.cli import Result, hotline
from tests.unit.test_accounts_cli import audit, init, run


def recordings(ledger: Path, *args: str, user: str) -> Result:
    return hotline("recordings", *args, user=user,
                   env={"HOTLINE_LEDGER_PATH": str(ledger),
                        "HOTLINE_RECORDINGS_HOST_DIR": str(ledger.parent / "rec"),
                        "HOTLINE_RECORDINGS_ASTERISK_DIR": "/spool/rec"})


def people(tmp_path: Path) -> Path:
    ledger = tmp_path / "ledger.sqlite3"
    init(ledger)
    for name, roles, extra in (("li", "seat", ("--seat", "8001")),
                               ("he", "seat", ("--seat", "8002")),
                               ("zhao", "leader", ())):
        res = run(ledger, "users", "add", name, "--roles", roles, *extra, "--os-login",
                  f"os-{name}")
        assert res.returncode == 0, res.stderr
    return ledger


def saved(ledger: Path, seat: str, category: str | None, days_ago: int) -> tuple[int, Path]:
    """A saved recording of `days_ago` days ago with its file: (its id, the file)."""
    async def go() -> tuple[int, Path]:
        async with await Ledger.open(ledger) as db:
            book = RecordingBook(db)
            at = datetime.now(UTC) - timedelta(days=days_ago)
            row = await book.begin(linkedid="1700000000.5", seat=seat, category=category,
                                   at=at)
            file = ledger.parent / "rec" / row.file
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(b"RIFF")
            await book.saved(row.id, at=at + timedelta(minutes=2), seconds=120.0)
            return row.id, file

    return asyncio.run(go())


def test_list_and_play_by_role(tmp_path: Path) -> None:
    """A seat lists only its own seat's recordings (a tip-off's row flagged 保密) and asking
    for another seat is refused; a seat may not play a tip-off (recording-not-allowed),
    a leader plays it with a reason and sees the file's path in Chinese; a play without
    --reason's text is refused; the play is audited by the leader's name."""
    ledger = people(tmp_path)
    ordinary, _ = saved(ledger, "8001", "consultation", 3)
    tip_off, tip_file = saved(ledger, "8001", "tip_off", 2)
    other, _ = saved(ledger, "8002", None, 1)
    res = recordings(ledger, "list", user="os-li")
    assert res.returncode == 0, res.stderr
    assert "涉税举报(保密)" in res.stdout
    assert "已保存" in res.stdout
    assert "1700000000.5" not in res.stdout
    shown = json.loads(recordings(ledger, "list", "--json", user="os-li").stdout)
    assert [r["id"] for r in shown] == [tip_off, ordinary]
    res = recordings(ledger, "list", "--seat", "8002", user="os-li")
    assert (res.returncode, "[recording-not-allowed]" in res.stderr) == (1, True)
    shown = json.loads(recordings(ledger, "list", "--json", user="os-zhao").stdout)
    assert [r["id"] for r in shown] == [other, tip_off, ordinary]
    res = recordings(ledger, "play", str(tip_off), "--reason", "复核", user="os-li")
    assert (res.returncode, "[recording-not-allowed]" in res.stderr) == (1, True)
    res = recordings(ledger, "play", str(tip_off), "--reason", " ", user="os-zhao")
    assert (res.returncode, "[recording-no-reason]" in res.stderr) == (1, True)
    res = recordings(ledger, "play", str(tip_off), "--reason", "核实举报", user="os-zhao")
    assert res.returncode == 0, res.stderr
    assert f"录音文件: {tip_file}" in res.stdout
    assert "保密录音" in res.stdout
    res = recordings(ledger, "play", "999", "--reason", "核实", user="os-zhao")
    assert res.stderr.startswith("hotline: [recording-unknown]")
    assert ("zhao", "recording.play", f"recording:{tip_off}") in audit(ledger)
    assert ("li", "recording.refused", f"recording:{tip_off}") in audit(ledger)


def test_purge_dry_run_then_purge(tmp_path: Path) -> None:
    """A seat may not purge (role-required); the leader's dry run names the one due
    recording (200 days old) and deletes nothing; the purge deletes its file, keeps
    yesterday's, and audits the purge by the leader's name."""
    ledger = people(tmp_path)
    due, due_file = saved(ledger, "8001", "consultation", 200)
    _, fresh_file = saved(ledger, "8001", "consultation", 1)
    res = recordings(ledger, "purge", user="os-li")
    assert (res.returncode, "[role-required]" in res.stderr) == (1, True)
    res = recordings(ledger, "purge", "--dry-run", user="os-zhao")
    assert res.returncode == 0, res.stderr
    assert "演练：到期应清除 1 条录音（未删除任何文件）" in res.stdout
    assert due_file.is_file()
    res = recordings(ledger, "purge", user="os-zhao")
    assert res.returncode == 0, res.stderr
    assert "已清除 1 条到期录音" in res.stdout
    assert not due_file.exists()
    assert fresh_file.is_file()
    assert ("zhao", "recording.purge", f"recording:{due}") in audit(ledger)
