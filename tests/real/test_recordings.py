"""Seat conversations recorded on the real Asterisk: MixMonitor started by hotline when
the seat answers, the file linked to the call's ledger row, both parties audible."""

from __future__ import annotations

import asyncio
import math
import wave
from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path, recordings_spool_from
from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.ledger.recordings import RecordingBook, RecordingRow
from hotline.ledger.store import Ledger
from hotline.pbx import testline
from hotline.pbx.gateway import AmiGateway

pytestmark = pytest.mark.asterisk
TEST_LINE = "12399"
SOUNDS = "/usr/share/asterisk/sounds/en_US_f_Allison"
SEAT_SAYS = f"{SOUNDS}/agent-loginok"  # 1.76 s, right after the seat answers
CALLER_SAYS = f"{SOUNDS}/tt-weasels"  # 2.96 s, from 3 s after the answer
SEATS = ("8001", "8003")  # the tests' queue `quick` (key 6 on the test line)


def level(path: Path, start: float, end: float) -> float:
    """RMS level (dBFS) of a 16-bit mono WAV file between two times (seconds)."""
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        wav.setpos(int(start * rate))
        data = wav.readframes(int((end - start) * rate))
    samples = memoryview(data).cast("h")
    if not len(samples):
        return float("-inf")
    mean_square = sum(s * s for s in samples) / len(samples)
    return 20 * math.log10(math.sqrt(mean_square) / 32768) if mean_square else float("-inf")


async def recordings_of(service: Service, linkedid: str) -> list[RecordingRow]:
    """The call's recordings once none is still being written (waited for: the row is
    settled when MixMonitor has closed the file, just after the call ends)."""
    async with await Ledger.open(ledger_path(service.settings)) as ledger:
        book = RecordingBook(ledger)
        async with asyncio.timeout(10):
            while True:
                rows = [r for r in await book.listing(limit=1000) if r.linkedid == linkedid]
                if rows and all(r.status != "recording" for r in rows):
                    return rows
                await asyncio.sleep(0.1)


async def test_a_seat_conversation_is_recorded_with_both_parties_audible(
        hotline_service: Service, caller: AmiGateway) -> None:
    """A call a seat answers is recorded: one saved recording linked to the call's row,
    about as long as the talk, not readable by others, with the seat's voice in the first
    seconds and the caller's voice later both clearly above silence (measured levels),
    and the quiet moments between them quiet."""
    call = TestCall("13955112345", None, ["6"], extension=TEST_LINE)
    for seat in SEATS:  # whichever answers
        await caller.set_global(f"SEAT_SOUND_{seat}", SEAT_SAYS)
        await caller.set_global(f"SEAT_TALK_{seat}", "4")
    try:
        placed = asyncio.create_task(place_call(caller, call, timeout=60))
        async with asyncio.timeout(30):
            while not call.answered:
                if placed.done():
                    placed.result()
                    pytest.fail("the call ended before a seat answered")
                await asyncio.sleep(0.02)
        await asyncio.sleep(3.0)  # the seat has said its piece; now the caller speaks
        assert call.ivr_channel is not None
        await testline.speak(caller, call.ivr_channel, CALLER_SAYS)
        await placed
    finally:
        for seat in SEATS:
            await caller.set_global(f"SEAT_SOUND_{seat}", "")
            await caller.set_global(f"SEAT_TALK_{seat}", "")
    row = await wait_for_ledger_row(ledger_path(hotline_service.settings), call.linkedid)
    assert row.outcome == "answered"
    assert row.talk_seconds is not None
    [recording] = await recordings_of(hotline_service, call.linkedid)
    assert recording.status == "saved", recording.error
    assert row.seat is not None
    assert recording.seat == row.seat  # the seat that answered, as the call's row says
    assert recording.seconds is not None
    assert abs(recording.seconds - row.talk_seconds) < 1.0, (recording.seconds,
                                                             row.talk_seconds)
    path = recordings_spool_from(hotline_service.settings).host_dir / recording.file
    assert path.exists()
    assert path.stat().st_mode & 0o007 == 0  # not world-readable
    seat_voice = level(path, 0.6, 2.0)
    caller_voice = level(path, 3.6, 5.6)
    after = level(path, recording.seconds - 0.4, recording.seconds)
    # Speech from the sound files sits around -20 dBFS; a silent Local channel writes
    # digital silence.
    assert seat_voice > -35, seat_voice
    assert caller_voice > -35, caller_voice
    assert after < -50, after  # both silent at the end: the file is not noise throughout


async def test_a_caller_who_leaves_the_queue_unanswered_has_no_recording(
        hotline_service: Service, caller: AmiGateway) -> None:
    """Only seat conversations are recorded: a caller who hangs up while waiting in a
    queue nobody answers leaves a ledger row (abandoned) and no recording row (the one
    armed for the queue is withdrawn: nothing was recorded), and no file."""
    call = TestCall("13955112346", None, ["8"], extension=TEST_LINE, hangup_when_queued=True)
    spool = recordings_spool_from(hotline_service.settings).host_dir
    before = set(spool.rglob("*.wav")) if spool.exists() else set()
    await place_call(caller, call, timeout=30)
    row = await wait_for_ledger_row(ledger_path(hotline_service.settings), call.linkedid)
    assert row.queue == "brief"
    async with await Ledger.open(ledger_path(hotline_service.settings)) as ledger:
        book = RecordingBook(ledger)
        async with asyncio.timeout(10):
            while rows := [r for r in await book.listing(limit=1000)  # noqa: ASYNC110 (polled)
                           if r.linkedid == call.linkedid]:
                await asyncio.sleep(0.1)  # armed as the caller queued; withdrawn at the end
    assert rows == []
    assert (set(spool.rglob("*.wav")) if spool.exists() else set()) == before
