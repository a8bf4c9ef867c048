"""Voicemail: recorded on the call with AsyncAGI `RECORD FILE`, kept with its ledger row.

Why RECORD FILE and not Asterisk's VoiceMail application: hotline must own the file and
its ledger entry together. With RECORD FILE hotline names the file (never reusing a name),
writes the ledger row before any audio exists, and learns the outcome of every recording
(key, silence, maximum length, hang-up, write error) as the command's result; the beep,
the listen/re-record choice and the prompts come from the dialplan like any menu.
VoiceMail() keeps its own numbered files and metadata in its spool, which hotline would
have to watch and reconcile after the fact.

Consistency: the row is inserted (status `recording`) before RECORD FILE starts, and
saving updates it and opens its work order in one transaction. A hang-up during the
recording keeps what was recorded (flag `hangup`). After a crash, `reconcile()` at start
finishes `recording` rows from their files (flag `interrupted`), or marks them `failed`
with `no_audio` when there is no file. Files are never overwritten: every recording gets
a new name, and a re-recording a new file (the earlier one is kept, `discarded`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from hotline.common.clock import CHINA, Clock
from hotline.common.labels import CATEGORIES
from hotline.core.calendar.schedule import Calendar
from hotline.features.spool import Audio as Audio  # importable
from hotline.features.spool import Spool as Spool  # importable
from hotline.features.spool import analyse as analyse  # importable
from hotline.features.spool import spool_folder as _spool_folder
from hotline.features.voicemail.errors import VoicemailError as VoicemailError  # importable
from hotline.features.voicemail.errors import VoicemailNoAudio, VoicemailSpoolUnwritable
from hotline.ledger.store import Ledger
from hotline.ledger.voicemail import VoicemailBook

log = structlog.get_logger("hotline.voicemail")

MIN_SECONDS = 2.0  # shorter recordings are kept but flagged `short`
SILENCE_DBFS = -50.0  # quieter recordings are kept but flagged `silent`


@dataclass
class Recording:
    voicemail_id: int
    host_path: Path  # without extension; Asterisk adds .wav
    asterisk_path: str
    flags: list[str] = field(default_factory=list)

    @property
    def wav(self) -> Path:
        return self.host_path.with_suffix(".wav")


class Voicemail:
    def __init__(self, ledger: Ledger, spool: Spool, calendar: Callable[[], Calendar],
                 clock: Callable[[], datetime], service_clock: Clock | None = None) -> None:
        self.book = VoicemailBook(ledger)
        self.spool = spool
        # The calendar live now (a reload may swap it): deadlines are counted on it.
        self.calendar = calendar
        self.clock = clock  # when things happen (the voicemail's own times)
        # Deadlines are counted from the service clock's time (pinned or real).
        self.service_clock = service_clock or Clock()

    async def begin(self, *, linkedid: str, caller_number: str | None,
                    caller_name: str | None, box: str, category: str | None,
                    topic: str | None) -> Recording:
        """A new, never-used file name and its ledger row. Raises VoicemailError when the
        spool cannot be written (the caller then hears an apology, not silence)."""
        now = self.clock()
        local = now.astimezone(CHINA)
        folder = Path(f"{local:%Y/%m/%d}")
        name = f"{local:%H%M%S}-{uuid.uuid4().hex[:10]}"
        host_dir = self.spool.host_dir / folder
        try:
            await asyncio.to_thread(_probe, host_dir, name)
        except OSError as exc:
            raise VoicemailSpoolUnwritable(
                f"voicemail spool {self.spool.host_dir} is not writable: "
                f"{exc.strerror or exc}") from exc
        host_path = host_dir / name
        if await asyncio.to_thread(host_path.with_suffix(".wav").exists):
            raise VoicemailError(f"{host_path}.wav exists already")  # never overwrite
        asterisk_path = f"{self.spool.asterisk_dir.rstrip('/')}/{folder.as_posix()}/{name}"
        voicemail_id = await self.book.begin(
            linkedid=linkedid, caller_number=caller_number, caller_name=caller_name,
            box=box, file=str(host_path.with_suffix(".wav")), at=now, category=category,
            topic=topic)
        log.info("voicemail.recording", voicemail_id=voicemail_id, file=str(host_path))
        return Recording(voicemail_id, host_path, asterisk_path)

    async def discard(self, recording: Recording) -> None:
        """The caller chose to record again: keep this file, mark it discarded."""
        await self.book.mark(recording.voicemail_id, "discarded", recording.flags,
                             self.clock())

    async def fail(self, recording: Recording, reason: str) -> None:
        await self.book.mark(recording.voicemail_id, "failed", [*recording.flags, reason],
                             self.clock())

    async def save(self, recording: Recording) -> int:
        """Finish the recording: measure it, flag it, open its work order due by the end
        of the next working day. Returns the voicemail id."""
        now = self.clock()
        flags = list(recording.flags)
        if not await asyncio.to_thread(recording.wav.exists):
            await self.book.mark(recording.voicemail_id, "failed", [*flags, "no_audio"], now)
            raise VoicemailNoAudio(f"no recording was written at {recording.wav}")
        audio = await asyncio.to_thread(analyse, recording.wav)
        if audio.seconds < MIN_SECONDS:
            flags.append("short")
        if audio.dbfs < SILENCE_DBFS:
            flags.append("silent")
        due = self.calendar().add_working_days(self.service_clock.at(now), 1)
        row = await self.book.get(recording.voicemail_id)
        label = CATEGORIES.get(row.category or "", "未选择类别") if row else "未选择类别"
        content = f"留言录音 {audio.seconds:.0f} 秒（{label}），请回电处理"
        order = await self.book.save(recording.voicemail_id, ended_at=now,
                                     duration=audio.seconds, flags=flags, due_at=due,
                                     content=content)
        log.info("voicemail.saved", voicemail_id=recording.voicemail_id, work_order=order,
                 seconds=round(audio.seconds, 2), flags=flags, due=due.isoformat())
        return recording.voicemail_id

    async def import_fallback(self, inbox: Path) -> int:
        """Import the messages Asterisk's VoiceMail took while hotline was down (the
        dialplan's fallback) from its INBOX folder: each becomes a voicemail and a work
        order like any other. A message's files are removed from Asterisk's spool only
        after its ledger entry is committed; importing twice is harmless (the message
        id is the work order's unique source). Returns how many were imported."""
        count = 0
        for meta in sorted(await asyncio.to_thread(lambda: list(inbox.glob("msg*.txt")))):
            info = _read_message_info(meta)
            wav = meta.with_suffix(".wav")
            if not await asyncio.to_thread(wav.exists):
                continue  # still being written, or only another format: next time
            msg_id = info.get("msg_id") or f"{info.get('origtime', '0')}-{meta.stem}"
            origtime = float(info.get("origtime") or 0) or self.clock().timestamp()
            started = datetime.fromtimestamp(origtime, tz=CHINA)
            number, name = _caller_id(info.get("callerid", ""))
            folder = self.spool.host_dir / f"{started:%Y/%m/%d}"
            target = folder / f"fallback-{msg_id}.wav"
            await asyncio.to_thread(_copy_atomic, wav, target)
            audio = await asyncio.to_thread(analyse, target)
            flags = ["fallback"]
            if audio.seconds < MIN_SECONDS:
                flags.append("short")
            if audio.dbfs < SILENCE_DBFS:
                flags.append("silent")
            due = self.calendar().add_working_days(self.service_clock.at(started), 1)
            voicemail_id = await self.book.imported(
                source=f"asterisk-voicemail:{msg_id}", linkedid=f"asterisk-voicemail:{msg_id}",
                caller_number=number, caller_name=name, box=inbox.parent.name,
                file=str(target), started_at=started, duration=audio.seconds, flags=flags,
                due_at=due, content=f"留言录音 {audio.seconds:.0f} 秒（热线服务中断期间），"
                                    "请回电处理")
            await asyncio.to_thread(_remove_message, inbox, meta.stem)
            if voicemail_id is not None:
                count += 1
                log.warning("voicemail.imported_from_fallback", voicemail_id=voicemail_id,
                            msg_id=msg_id, seconds=round(audio.seconds, 1))
        return count

    async def reconcile(self) -> None:
        """After a crash: finish or fail the recordings left in status `recording`."""
        for row in await self.book.unfinished():
            wav = Path(row.file)
            recording = Recording(row.id, wav.with_suffix(""), "", ["interrupted"])
            found = await asyncio.to_thread(wav.exists)
            if found:
                with contextlib.suppress(VoicemailError):
                    await self.save(recording)
            else:
                await self.book.mark(row.id, "failed", ["interrupted", "no_audio"],
                                     self.clock())
            log.warning("voicemail.reconciled", voicemail_id=row.id, file=row.file,
                        found=found)


def _probe(folder: Path, name: str) -> None:
    """Make the folder and show it is writable (OSError if not)."""
    _spool_folder(folder)
    probe = folder / f".{name}.probe"
    probe.write_bytes(b"")
    probe.unlink()


def _read_message_info(path: Path) -> dict[str, str]:
    """Asterisk's msgNNNN.txt: `key=value` lines under [message]."""
    info: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith((";", "[")):
            info[key.strip()] = value.strip()
    return info


def _caller_id(text: str) -> tuple[str | None, str | None]:
    """`"纳税人" <13955112345>` -> ("13955112345", "纳税人")."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        raw_name, _, number = text[:-1].partition("<")
        return (number.strip() or None), (raw_name.strip().strip('"') or None)
    return (text or None), None


def _copy_atomic(source: Path, target: Path) -> None:
    import shutil

    _spool_folder(target.parent)
    if target.exists():
        return  # imported before; the ledger decides whether it is known
    partial = target.with_suffix(".partial")
    shutil.copyfile(source, partial)
    partial.replace(target)


def _remove_message(inbox: Path, stem: str) -> None:
    """Asterisk's files of one message (msgNNNN.txt, .wav, ...)."""
    for leftover in inbox.glob(f"{stem}.*"):
        leftover.unlink(missing_ok=True)
