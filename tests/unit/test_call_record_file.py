"""Asterisk's record file as hotline reads it (hotline.pbx.record), after Asterisk died."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

from hotline.core.calls.record import RecordKind, by_call, recorded_view
from hotline.core.calls.tracking import Outcome
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


# Asterisk 22's record of a call a seat answered 3 ms after the caller joined the queue, 10
# ms before the caller hung up (from a run of tests/faults/test_flood.py; the caller's
# number replaced): the caller's BRIDGE_ENTER has no peer, the queue's leg to the seat
# entered the bridge first.
_LID = "hotline-call-93e81cb21823"
_BRIDGE = '{"bridge_id":"5c0f676e","bridge_technology":"simple_bridge"}'
_CALLER = ("ivr", "12366", "Local/s@caller-00000027;1", "Queue", "center,r,,,300", _LID,
           _LID, "")
_LEG = ("seats", "12366", "Local/8001@seats-00000036;1", "AppQueue", "(Outgoing Line)",
        "1796175026.108", _LID, "")
_SEAT = ("seats", "8001", "Local/8001@seats-00000036;2", "", "", "1796175026.109", _LID, "")
ANSWERED_AT_THE_HANG_UP = [
    ("APP_START", "1796175026.992986", *_CALLER, ""),
    ("CHAN_START", "1796175026.993404", *_LEG[:3], "", "", *_LEG[5:], ""),
    ("CHAN_START", "1796175026.993469", *_SEAT, ""),
    ("ANSWER", "1796175026.993617", *_SEAT[:3], "Answer", *_SEAT[4:], ""),
    ("ANSWER", "1796175026.993768", *_LEG, ""),
    ("BRIDGE_ENTER", "1796175026.994456", *_LEG, _BRIDGE),
    ("BRIDGE_ENTER", "1796175026.995539", *_CALLER, _BRIDGE),
    ("BRIDGE_EXIT", "1796175027.006106", *_CALLER, _BRIDGE),
    ("BRIDGE_EXIT", "1796175027.006279", *_LEG, _BRIDGE),
    ("HANGUP", "1796175027.006450", *_LEG, '{"hangupcause":16}'),
    ("APP_END", "1796175027.006687", *_CALLER, ""),
    ("HANGUP", "1796175027.006687", *_CALLER[:3], "AppDial2", "(Outgoing Line)",
     *_CALLER[5:], '{"hangupcause":16}'),
    ("HANGUP", "1796175027.007201", *_SEAT, '{"hangupcause":16}'),
]


async def test_a_seat_answer_the_callers_bridge_enter_does_not_name_is_read(
        tmp_path: Path) -> None:
    """Asterisk's own rows of a seat's answer 10 ms before the caller hung up, whose
    caller's bridge enter names no peer: read from the file, the call is answered by seat
    8001 (the queue's leg to it entered the bridge), not abandoned."""
    path = tmp_path / "record.db"
    _record(path)
    con = sqlite3.connect(path)
    con.executemany(f"INSERT INTO cel ({', '.join(COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(COLUMNS))})",
                    [(kind, at, "", "13955100001", *rest)
                     for kind, at, *rest in ANSWERED_AT_THE_HANG_UP])
    con.commit()
    con.close()
    events = by_call(await CallRecord(path).events())[_LID]
    call = recorded_view(events, {"Local/8001@seats": "演示座席8001"}.get)
    assert call is not None
    assert (call.outcome, call.queue, call.seat) == (Outcome.ANSWERED, "center", "演示座席8001")
    assert call.talk_seconds is not None
    assert 0 < call.talk_seconds < 0.02
