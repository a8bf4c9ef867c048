"""Asterisk's own record of calls: its channel event log (CEL), which cel_sqlite3_custom
writes to an SQLite file (config/asterisk/cel.conf, cel_sqlite3_custom.conf) whether or
not hotline is connected. Read into the plain events of hotline.core.calls.record.

The file is Asterisk's (its account's, 0600): hotline reads it as root or as an account
given read access. It holds callers' numbers, so hotline deletes the rows of calls the
ledger has taken (`prune`); without write access they stay, and that is logged.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hotline.core.calls.record import RecordEvent, RecordKind
from hotline.pbx.channels import LINE_CONTEXTS, channel_device

# The columns cel_sqlite3_custom.conf writes (its `columns`), in that order.
COLUMNS = ("eventtype", "eventtime", "cidname", "cidnum", "context", "exten", "channame",
           "appname", "appdata", "uniqueid", "linkedid", "peer", "extra")
KINDS = {
    "CHAN_START": RecordKind.CHANNEL_START, "ANSWER": RecordKind.ANSWER,
    "APP_START": RecordKind.APP_START, "APP_END": RecordKind.APP_END,
    "BRIDGE_ENTER": RecordKind.BRIDGE_ENTER, "BRIDGE_EXIT": RecordKind.BRIDGE_EXIT,
    "HANGUP": RecordKind.HANGUP, "CHAN_END": RecordKind.CHANNEL_END,
    "LINKEDID_END": RecordKind.CALL_END,
}


class RecordUnreadable(Exception):
    """The record file is missing or cannot be read."""


def event_of(row: Sequence[object]) -> RecordEvent | None:
    """One CEL row (AcctId, then COLUMNS) as an event; None if it is not one."""
    try:
        acct, kind, at, name, number, context, _exten, channel, app, data, uniqueid, \
            linkedid, peer, _extra = row
        when = datetime.fromtimestamp(float(str(at)), tz=UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        return None
    app_name = str(app or "")
    queue = str(data or "").split(",", 1)[0] if app_name == "Queue" else None
    peers = [p for p in str(peer or "").split(",") if p]
    return RecordEvent(
        row=int(str(acct)), kind=KINDS.get(str(kind), RecordKind.OTHER), at=when,
        linkedid=str(linkedid or ""), uniqueid=str(uniqueid or ""), channel=str(channel or ""),
        number=str(number) if number else None, name=str(name) if name else None,
        on_line=str(context or "") in LINE_CONTEXTS, queue=queue or None,
        voicemail=app_name == "VoiceMail",
        peer_device=channel_device(peers[0]) if peers else "",
        device=channel_device(str(channel or "")),
        # app_queue names the application of the channels it rings members on so.
        queue_leg=app_name == "AppQueue")


@dataclass(frozen=True)
class CallRecord:
    """Asterisk's record file (None: the instance keeps none, nothing to reconcile)."""

    path: Path

    async def events(self) -> list[RecordEvent]:
        return await asyncio.to_thread(self._events)

    def _events(self) -> list[RecordEvent]:
        if not self.path.exists():
            raise RecordUnreadable(f"{self.path}: no such file")
        try:
            # Not mode=ro: an Asterisk killed mid-write leaves a hot journal, which a
            # read-only connection cannot roll back ("attempt to write a readonly
            # database") until Asterisk writes again. mode=rw rolls it back (reading only
            # where hotline may not write), and never creates the file.
            con = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=5)
        except sqlite3.Error as exc:
            raise RecordUnreadable(f"{self.path}: {exc}") from exc
        try:
            rows = con.execute(f"SELECT AcctId, {', '.join(COLUMNS)} FROM cel "
                               "ORDER BY AcctId").fetchall()
        except sqlite3.Error as exc:
            raise RecordUnreadable(f"{self.path}: {exc}") from exc
        finally:
            con.close()
        return [e for e in (event_of(r) for r in rows) if e is not None]

    async def prune(self, rows: Sequence[int]) -> int:
        """Delete these rows (of calls the ledger has); returns how many went."""
        return await asyncio.to_thread(self._prune, list(rows))

    def _prune(self, rows: list[int]) -> int:
        if not rows:
            return 0
        try:
            con = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=5)
        except sqlite3.Error as exc:
            raise RecordUnreadable(f"{self.path}: {exc}") from exc
        try:
            with con:
                deleted = 0
                for start in range(0, len(rows), 500):
                    chunk = rows[start:start + 500]
                    deleted += con.execute(
                        f"DELETE FROM cel WHERE AcctId IN ({', '.join('?' for _ in chunk)})",
                        chunk).rowcount
            return deleted
        except sqlite3.Error as exc:
            raise RecordUnreadable(f"{self.path}: {exc}") from exc
        finally:
            con.close()
