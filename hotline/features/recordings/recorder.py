"""Seat conversations recorded: Asterisk's MixMonitor, armed by hotline as it sends the
caller to a queue, recording from the moment a seat answers (bridged audio only: both
parties mixed, not the queue's ringing nor the rating after) into a file hotline names and
links to the call.

All or nothing, as voicemail: the ledger row (status recording) is written before the
dialplan may write a byte, with the file name that holds the row's id (never reused,
never overwritten). When the queue returns (the dialplan stops MixMonitor there) or the
call ends, the row is settled from the file: saved with its length, or failed with why
(no audio though a seat answered). A queue nobody answered leaves no audio (MixMonitor
opens the file with its bare header at once): the row is withdrawn and the empty file
removed (nothing was recorded). A recording is never silently missing: a row
that cannot be settled now stays `recording`, listed as such, until the sweep settles it.

Why armed before the answer, in the dialplan: AMI's MixMonitor action needs the `system`
write class, which hotline's AMI account never has (config/asterisk/manager.conf).

Restarts: MixMonitor is Asterisk's, so a recording goes on while hotline is down, and the
dialplan stops it as the queue returns; a call that ended meanwhile is settled by the
sweep (`sweep`, at start and then periodically) once its call is no longer live.
"""

from __future__ import annotations

import asyncio
import contextlib
import wave
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from hotline.common.clock import utc_now
from hotline.core.calls.tracking import Call, CallState
from hotline.features.recordings.desk import secure
from hotline.features.spool import Spool, spool_folder
from hotline.ledger.recordings import RecordingBook, RecordingRow
from hotline.ledger.store import Ledger

log = structlog.get_logger("hotline.recordings")

WAV_HEADER = 44  # bytes of the RIFF/WAVE header MixMonitor's wav format writes
SETTLE_TIMEOUT = 5.0  # seconds a closed call's file is waited for (MixMonitor closes it)
SWEEP_AGE = timedelta(seconds=30)  # an open row this old, of no live call, is settled


@dataclass(frozen=True)
class Armed:
    """A queue attempt's recording: its row, the file as Asterisk sees it."""

    row: RecordingRow
    asterisk_file: str


class SeatRecorder:
    """Arms a recording for each queue attempt (the IVR runner), settles it when the
    queue returns or the call ends (CallHandling.listeners)."""

    def __init__(self, ledger: Ledger, spool: Spool,
                 live: Callable[[], Mapping[str, Call]],
                 seat_id: Callable[[str], str | None] = lambda _: None,
                 clock: Callable[[], datetime] = utc_now,
                 settle_timeout: float = SETTLE_TIMEOUT) -> None:
        self.book = RecordingBook(ledger)
        self.spool = spool
        self.live = live  # the calls hotline tracks now (linkedid -> call)
        self.seat_id = seat_id  # a seat's id (routing.yaml) from its queue member name
        self.clock = clock
        self.settle_timeout = settle_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._settling: set[int] = set()

    async def arm(self, linkedid: str, category: str | None) -> Armed | None:
        """The row of the recording the next queue attempt may make, and its file; None
        when the row or the folder cannot be written (logged: the caller is queued all
        the same, unrecorded, rather than not at all)."""
        try:
            row = await self.book.begin(linkedid=linkedid, seat=None, category=category,
                                        at=self.clock())
        except Exception as exc:
            log.error("recording.row_not_written", linkedid=linkedid, error=str(exc))
            return None
        try:
            await asyncio.to_thread(spool_folder, (self.spool.host_dir / row.file).parent)
        except OSError as exc:
            await self._fail(row, f"recordings folder not writable: {exc}")
            return None
        return Armed(row, f"{self.spool.asterisk_dir}/{row.file}")

    async def after_queue(self, armed: Armed, *, answered: bool, seat: str | None) -> None:
        """The queue returned (the dialplan stopped MixMonitor): saved if a seat answered,
        withdrawn if nobody did."""
        await self._settle(armed.row, answered=answered, seat=seat)

    # -- the listener ----------------------------------------------------------------

    def on_call(self, call: Call) -> None:
        """A call snapshot: when the call has ended, its recordings still open are settled
        (the caller hung up during the conversation or in the queue). Never blocks, never
        raises."""
        if call.state != CallState.ENDED:
            return
        try:
            self._spawn(self._settle_call(call.linkedid, answered=call.answered_at is not None,
                                          seat=call.seat))
        except Exception:
            log.exception("recording.listener_failed", linkedid=call.linkedid)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _settle_call(self, linkedid: str, *, answered: bool, seat: str | None) -> None:
        try:
            rows = await self.book.open_for(linkedid)
        except Exception as exc:
            log.error("recording.settle_failed", linkedid=linkedid, error=str(exc))
            return
        for row in rows:
            # Only the call's last attempt can be the one a seat answered.
            await self._settle(row, answered=answered and row is rows[-1], seat=seat)

    # -- settling -------------------------------------------------------------------

    async def _settle(self, row: RecordingRow, *, answered: bool | None,
                      seat: str | None) -> None:
        """Saved with the file's length once MixMonitor has closed it; withdrawn when
        there is no file and nobody answered (`answered` None: unknown, as after a
        restart: the ledger's call row tells); failed when a seat answered and no file
        came. A ledger error leaves the row open (the sweep settles it later)."""
        if row.id in self._settling:
            return
        self._settling.add(row.id)
        host = self.spool.host_dir / row.file
        try:
            seconds = await self._closed_length(host, wait=answered is not False)
            if not seconds:  # no file, or only the header MixMonitor opens it with
                if seconds is not None:
                    with contextlib.suppress(FileNotFoundError):
                        await asyncio.to_thread(host.unlink)
                if answered is None:
                    answered = await self.book.call_answered(row.linkedid)
                if not answered:
                    await self.book.withdraw(row.id)
                    log.debug("recording.withdrawn", recording_id=row.id)
                else:
                    await self._fail(row, "no audio: a seat answered but MixMonitor wrote "
                                          "no sound")
                return
            await asyncio.to_thread(_private, host)
            await self.book.saved(row.id, at=self.clock(), seconds=seconds,
                                  seat=(self.seat_id(seat) or seat) if seat else None)
            log.info("recording.saved", recording_id=row.id, seconds=round(seconds, 2))
        except Exception as exc:
            log.error("recording.settle_failed", recording_id=row.id, error=str(exc))
        finally:
            self._settling.discard(row.id)

    async def _closed_length(self, path: Path, *, wait: bool) -> float | None:
        """The recording's seconds once its WAV header says as much as the file holds
        (MixMonitor writes the header's lengths when it closes the file); None if there
        is no file (waited for up to settle_timeout when `wait`). After settle_timeout,
        what the file holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_timeout
        while True:
            state = await asyncio.to_thread(_wav_state, path)
            # A bare header (0 s) may be a file MixMonitor has only just opened: when
            # waiting, wait for sound or the deadline.
            if state is not None and state[0] and (state[1] > 0 or not wait):
                return state[1]
            if state is None and not wait:
                return None
            if loop.time() >= deadline:
                return state[1] if state is not None else None
            await asyncio.sleep(0.1)

    async def _fail(self, row: RecordingRow, error: str) -> None:
        log.error("recording.failed", recording_id=row.id, error=error)
        try:
            await self.book.failed(row.id, at=self.clock(), error=error)
        except Exception as exc:
            log.error("recording.fail_not_written", recording_id=row.id, error=str(exc))

    # -- after a restart, and periodically ------------------------------------------------

    async def sweep(self) -> int:
        """Settle the rows left `recording` whose call is no longer live (hotline was down
        when it ended, or a settle failed): returns how many were looked at."""
        live = self.live()
        cutoff = self.clock() - SWEEP_AGE
        settled = 0
        for row in await self.book.open_rows():
            if row.linkedid in live or datetime.fromisoformat(row.started_at) > cutoff:
                continue  # its call goes on, or may not be tracked yet
            await self._settle(row, answered=None, seat=await self.book.call_seat(
                row.linkedid))
            settled += 1
        return settled

    async def run(self, interval: float = 60.0) -> None:
        """Sweep now and then every `interval` seconds."""
        while True:
            try:
                count = await self.sweep()
                if count:
                    log.info("recording.swept", rows=count)
            except Exception as exc:
                log.error("recording.sweep_failed", error=str(exc))
            await asyncio.sleep(interval)

    async def drain(self) -> None:
        """Wait for the recordings being settled (the service's stop)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.settle_timeout + 1)


def _wav_state(path: Path) -> tuple[bool, float] | None:
    """(header complete, seconds) of a WAV file being written; None if there is none."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    data = max(0, size - WAV_HEADER)
    rate, width = 8000, 2
    frames = -1
    with contextlib.suppress(wave.Error, EOFError, OSError), wave.open(str(path)) as wav:
        rate, width = wav.getframerate(), wav.getsampwidth() * wav.getnchannels()
        frames = wav.getnframes()
    held = data / (rate * width) if rate and width else 0.0
    return frames * width == data, held


def _private(path: Path) -> None:
    """Nobody but the owner and its group may read a recording (the desk's `secure`)."""
    try:
        secure(path)
    except PermissionError:
        log.warning("recording.mode_not_set", file=path.name)
