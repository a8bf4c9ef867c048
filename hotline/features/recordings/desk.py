"""The recordings desk (录音): who lists and plays which seat conversation recording, and
the purge of the recordings whose retention is past. The CLI (`hotline recordings`), the
API (/api/v1/recordings) and the service's purge loop all go through it, so the rules are
the same everywhere: hotline.core.recordings decides (may_play, reason_text, Retention),
hotline.ledger.recordings keeps the rows and writes the audit rows.

A recording's file is `spool.host_dir / row.file`; files are 0o640 or stricter
(`secure`, which the recorder calls once a recording is saved); the folders are made by
hotline.features.spool.spool_folder without the others' bits. No listing shows a
caller's number: a recording's row has none (only the call's linkedid), and the views
here add none.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import structlog

from hotline.common.labels import CATEGORIES, UNCATEGORISED
from hotline.common.privacy import is_confidential
from hotline.core.accounts import Person
from hotline.core.recordings import (
    RecordingRuleError,
    Retention,
    may_play,
    reason_text,
)
from hotline.features.recordings.errors import (
    RecordingFileMissing,
    RecordingNoReason,
    RecordingNotAllowed,
    RecordingNotSaved,
)
from hotline.features.spool import Spool
from hotline.ledger import audit
from hotline.ledger.errors import RecordingNotRecording
from hotline.ledger.recordings import SERVICE_ACTOR, RecordingBook, RecordingRow
from hotline.ledger.store import Ledger

log = structlog.get_logger("hotline.recordings")

STATUS_LABELS: Final = {"recording": "录音中", "saved": "已保存", "failed": "录音失败",
                        "purged": "已清除"}
FILE_MODE: Final = 0o640  # a saved recording's file: at most owner rw, group r
MISSING_NOTE: Final = "file already missing"
MAX_LIMIT: Final = 1000


def secure(path: Path) -> int:
    """Take the others' bits and any write or execute bit but the owner's write off a
    recording's file (0o640 or stricter), and return its new mode. The recorder calls it
    once a recording is saved; an OSError (not the file's owner) is the caller's to log."""
    mode = stat.S_IMODE(path.stat().st_mode) & FILE_MODE
    os.chmod(path, mode)
    return mode


def view(row: RecordingRow, retention: Retention) -> dict[str, Any]:
    """A recording as the CLI and the API show it: labels staff read, when it is purged,
    whether it is confidential; never the server's file path, never a caller's number."""
    shown = {k: v for k, v in row.as_dict().items() if k != "file"}
    shown["status_label"] = STATUS_LABELS.get(row.status, row.status)
    shown["category_label"] = CATEGORIES.get(row.category or "", UNCATEGORISED)
    shown["confidential"] = is_confidential(row.category)
    shown["purge_after"] = (retention.purge_after(row.category, row.end()).isoformat()
                            if row.status == "saved" else None)
    return shown


@dataclass
class PurgeReport:
    """What one purge did: the rows purged (a dry run: the rows due), those whose file was
    already gone (purged all the same, the audit row says so) and those that could not
    be purged (the file system refused the delete: left saved, tried again next time)."""

    purged: list[RecordingRow] = field(default_factory=list)
    missing: list[RecordingRow] = field(default_factory=list)
    failed: list[tuple[RecordingRow, str]] = field(default_factory=list)


class RecordingDesk:
    def __init__(self, ledger: Ledger, spool: Spool, retention: Retention,
                 clock: Callable[[], datetime], *, purge_interval: float = 3600.0) -> None:
        self.ledger = ledger
        self.book = RecordingBook(ledger)
        self.spool = spool
        self.retention = retention
        self.clock = clock
        self.purge_interval = purge_interval

    def path_of(self, row: RecordingRow) -> Path:
        """The recording's file as hotline sees it (always inside the recordings folder:
        the ledger's file names are safe parts, core.recordings.file_name)."""
        return self.spool.host_dir / row.file

    # -- listing ---------------------------------------------------------------------------

    async def listing(self, person: Person | None, *, since: datetime | None = None,
                      until: datetime | None = None, seat: str | None = None,
                      status: str | None = None, category: str | None = None,
                      limit: int = 100) -> list[RecordingRow]:
        """Recordings newest first. Leaders, auditors and experts see every seat's (also
        the confidential ones' rows: they exist, though only leaders and auditors play
        them); a seat only its own seat's (asking for another seat is refused). `person`
        None: a ledger without staff accounts (the CLI's old rule: the OS account)."""
        if person is not None and not person.roles & {"leader", "auditor", "expert"}:
            if "seat" not in person.roles or person.seat is None:
                raise RecordingNotAllowed(
                    f"{person.username} may not list recordings: leaders, auditors and "
                    "experts list them, a seat its own seat's (无权查看录音)")
            if seat is not None and seat != person.seat:
                raise RecordingNotAllowed(
                    f"{person.username} is seat {person.seat}: it lists only its own "
                    f"seat's recordings, not seat {seat}'s (座席只能查看本座席的录音)")
            seat = person.seat
        return await self.book.listing(since=since, until=until, seat=seat,
                                       category=category, status=status,
                                       limit=max(1, min(limit, MAX_LIMIT)))

    # -- play ------------------------------------------------------------------------------

    async def play(self, row_id: int, person: Person, reason: str | None) -> Path:
        """The file of recording `row_id` for `person` to play, after the checks: who may
        play it (core.recordings.may_play; a refusal is audited `recording.refused`), a
        reason, a saved recording whose file is there; then the play's audit row
        (`recording.play`, with the reason). Returns the file's path on this host."""
        row = await self.book.require(row_id)
        if not may_play(person, category=row.category, seat=row.seat):
            await self._audit(person.username, "recording.refused", row,
                              {"category": row.category, "roles": sorted(person.roles)})
            if is_confidential(row.category):
                why = ("it is a tip-off's or a complaint's recording: only leaders and "
                       "auditors play those (举报、投诉录音仅限班长和审计员播放)")
            elif person.roles & {"seat"}:
                why = (f"a seat plays only its own seat's calls; this one is seat "
                       f"{row.seat or '-'}'s (座席只能播放本座席的录音)")
            else:
                why = ("leaders, auditors, experts and a call's own seat play recordings "
                       "(无权播放录音)")
            raise RecordingNotAllowed(f"{person.username} may not play recording "
                                      f"{row.id}: {why}")
        try:
            text = reason_text(reason)
        except RecordingRuleError as exc:
            raise RecordingNoReason(str(exc)) from None
        if row.status != "saved":
            raise RecordingNotSaved(
                f"recording {row.id} is {row.status} ({STATUS_LABELS.get(row.status)}): "
                f"only a saved recording can be played (只能播放已保存的录音)")
        path = self.path_of(row)
        if not await asyncio.to_thread(path.is_file):
            raise RecordingFileMissing(
                f"recording {row.id}: its file {row.file} is not in the recordings folder "
                f"(录音文件不存在)")
        await self.book.played(row.id, at=self.clock(), actor=person.username, reason=text)
        return path

    async def _audit(self, actor: str, action: str, row: RecordingRow,
                     detail: dict[str, Any]) -> None:
        async with self.ledger.transaction() as db:
            await audit.record(db, at=self.clock(), actor=actor, action=action,
                               target=f"recording:{row.id}",
                               detail=json.dumps(detail, ensure_ascii=False))

    # -- purge -----------------------------------------------------------------------------

    async def purge(self, now: datetime | None = None, dry_run: bool = False,
                    actor: str = SERVICE_ACTOR) -> list[RecordingRow]:
        """The recordings due at `now` (default: the clock's), purged unless `dry_run`:
        see `purge_report`."""
        return (await self.purge_report(now, dry_run, actor)).purged

    async def purge_report(self, now: datetime | None = None, dry_run: bool = False,
                           actor: str = SERVICE_ACTOR) -> PurgeReport:
        """Each saved recording whose retention is past at `now`: its file deleted (one
        already missing is no error: the audit detail says so), then its row marked
        purged with an audit row (`recording.purge`, by `actor`). A file that cannot be
        deleted is reported and left saved; it does not stop the others. A dry run
        deletes and marks nothing and reports the due rows as purged."""
        at = now if now is not None else self.clock()
        report = PurgeReport()
        due = await self.book.due(self.retention, at)
        if dry_run:
            report.purged = due
            return report
        for row in due:
            path = self.path_of(row)
            try:
                gone = await asyncio.to_thread(_delete, path, self.spool.host_dir)
            except OSError as exc:
                problem = exc.strerror or str(exc)
                log.error("recordings.purge_failed", recording=row.id, error=problem)
                report.failed.append((row, problem))
                continue
            reason = "retention" if not gone else f"retention; {MISSING_NOTE}"
            try:
                done = await self.book.purged(row.id, at=at, actor=actor, reason=reason)
            except RecordingNotRecording:
                continue  # purged meanwhile (the service and a command at once)
            report.purged.append(done)
            if gone:
                report.missing.append(done)
        if report.purged or report.failed:
            log.info("recordings.purged", purged=len(report.purged),
                     missing=len(report.missing), failed=len(report.failed))
        return report

    async def purge_loop(self) -> None:
        """The service's purge: every `purge_interval` seconds (the first at start); a
        failed round is logged and the loop goes on."""
        while True:
            try:
                await self.purge_report()
            except Exception as exc:  # the next round tries again
                log.error("recordings.purge_round_failed", error=str(exc))
            await asyncio.sleep(self.purge_interval)


def _delete(path: Path, top: Path) -> bool:
    """Delete a recording's file, then its day, month and year folders if that left them
    empty (never `top` itself). True if the file was already missing."""
    try:
        path.unlink()
        missing = False
    except FileNotFoundError:
        missing = True
    folder = path.parent
    while folder != top and top in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone): stop there
            break
        folder = folder.parent
    return missing
