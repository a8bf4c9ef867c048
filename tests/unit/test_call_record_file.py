"""Asterisk's record file as hotline reads it (hotline.pbx.record), after Asterisk died."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

from hotline.core.calls.record import RecordKind
from hotline.pbx.record import COLUMNS, CallRecord

ROW = ("CHAN_START", "1796160000.5", "纳税人", "13955100001", "ivr", "12366",
       "Local/s@caller-x;1", "", "", "c1", "c1", "", "")

# A writer (as cel_sqlite3_custom) killed mid-transaction, after SQLite spilled pages of
# it into the file: a hot journal is left beside it.
KILLED_WRITER = f"""
import os, signal, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=1")
con.execute("BEGIN")
for i in range(2000):
    con.execute("INSERT INTO cel ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                {ROW!r}[:8] + ("x" * 300, "c2", "c2", "", ""))
os.kill(os.getpid(), signal.SIGKILL)
"""


def _record(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE cel (AcctId INTEGER PRIMARY KEY AUTOINCREMENT, "
                f"{', '.join(f'{c} TEXT' for c in COLUMNS)})")
    con.execute(f"INSERT INTO cel ({', '.join(COLUMNS)}) VALUES "
                f"({', '.join('?' * len(COLUMNS))})", ROW)
    con.commit()
    con.close()


async def test_the_record_of_an_asterisk_killed_mid_write_is_read(tmp_path: Path) -> None:
    """Asterisk killed while writing its record leaves a hot journal; hotline still reads
    the record (the unfinished write rolled back), not "unreadable" until Asterisk writes
    again, and can prune it."""
    path = tmp_path / "record.db"
    _record(path)
    killed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", KILLED_WRITER, str(path)], check=False,
        capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert path.with_name("record.db-journal").stat().st_size > 0
    record = CallRecord(path)
    [event] = await record.events()
    assert (event.kind, event.linkedid, event.number) == (
        RecordKind.CHANNEL_START, "c1", "13955100001")
    assert await record.prune([event.row]) == 1
    assert await record.events() == []
