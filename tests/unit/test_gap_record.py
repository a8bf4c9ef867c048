"""Calls whose events fell in an event gap (the calls consumer was too slow: events
dropped, an EventGap, a resync) and whose hang-up arrived: the tracker ends them from
what it saw, and Asterisk's record then settles their row."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from hotline.core.calls.live import ChannelInfo, QueueStatus
from hotline.core.calls.record import RecordEvent, RecordKind
from hotline.core.calls.tracking import (
    ChannelHungUp,
    IvrEntered,
    QueueJoined,
    SeatConnected,
)
from hotline.features.calls.handling import CallHandling
from hotline.features.calls.reconcile import Reconciler
from hotline.features.ivr.prompts import PromptStore
from hotline.ledger.store import CallRow, Ledger
from hotline.pbx.events import CallEvent, EventGap
from tests.unit.test_record_reconcile import _at, abandoned, answered
from tests.unit.test_vanished_record import FakeRecord, seat

CHANNEL = "Local/s@caller-{};1"


@dataclass
class StubGateway:
    """What the call handling asks of the gateway at a resync: Asterisk's channels now (a
    caller still in the centre's queue, not bridged), no queue callers."""

    channels_now: list[ChannelInfo] = field(default_factory=list)
    handler: Callable[[object], Awaitable[None]] | None = None

    def on_connect(self, callback: Callable[[], Awaitable[None]]) -> None:
        pass

    def subscribe_calls(self, handler: Callable[[object], Awaitable[None]],
                        spawn: object = None) -> None:
        self.handler = handler

    async def channels(self) -> list[ChannelInfo]:
        return self.channels_now

    async def queue_status(self) -> dict[str, QueueStatus]:
        return {}


def in_queue(lid: str) -> ChannelInfo:
    return ChannelInfo(CHANNEL.format(lid), lid, lid, "Queue", "center", "fallback", "",
                       timedelta(seconds=2), "13955100001", None, "", in_queue=True,
                       queue="center", on_line=True)


def unended(events: list[RecordEvent]) -> list[RecordEvent]:
    """The record as it may be a few milliseconds after the hang-up event: not its end."""
    ends = (RecordKind.HANGUP, RecordKind.CHANNEL_END, RecordKind.CALL_END)
    return [e for e in events if e.kind not in ends]


@dataclass
class Line:
    calls: CallHandling
    gateway: StubGateway
    record: FakeRecord
    ledger: Ledger

    async def event(self, fact: object, seconds: float) -> None:
        assert self.gateway.handler is not None
        await self.gateway.handler(CallEvent(fact, _at(seconds), type(fact).__name__))  # type: ignore[arg-type]

    async def row(self, lid: str) -> CallRow:
        await self.calls.writer.drain()
        row = await self.ledger.get(lid)
        assert row is not None
        return row


@contextlib.asynccontextmanager
async def line(tmp_path: Path, writing: bool = True) -> AsyncIterator[Line]:
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    record = FakeRecord([])
    config = lambda: SimpleNamespace(routing=None, seat_groups={})  # noqa: E731
    reconciler = Reconciler(record, ledger, config, lambda: None)  # type: ignore[arg-type]
    reconciler._seat_of = seat  # type: ignore[method-assign]
    gateway = StubGateway()
    calls = CallHandling(gateway, ledger, config, PromptStore(tmp_path / "p", "/p"),  # type: ignore[arg-type]
                         clock=lambda: _at(30), reconciler=reconciler)
    calls.attach()
    writer = asyncio.create_task(calls.writer.run() if writing else asyncio.sleep(3600))
    try:
        yield Line(calls, gateway, record, ledger)
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await ledger.close()


async def test_a_call_whose_answer_fell_in_a_gap_ends_answered_after_the_record_check(
        tmp_path: Path) -> None:
    """Queued; the seat's AgentConnect (and AgentComplete) dropped in a gap; the resync
    finds the caller still in the queue's application, unbridged; then its Hangup arrives
    and the tracker ends it abandoned. The record check right after (the record not yet
    showing the end) leaves it for later; the next, once the record has the end, makes
    the row answered by the seat, with the record's talk: one row, and the record of the
    call is kept until then. (The record read at the resync lags the events: it does
    not show the answer yet either.)"""
    async with line(tmp_path) as hotline:
        calls = hotline.calls
        calls._apply(IvrEntered("a", "a", CHANNEL.format("a"), "13955100001", None))
        await hotline.event(QueueJoined("a", "a", CHANNEL.format("a"), "center", None, None), 1)
        hotline.gateway.channels_now = [in_queue("a")]
        # The record as the resync reads it: it lags the events, the answer is not in yet.
        hotline.record.rows = [e for e in answered("a") if e.at <= _at(1)]
        assert hotline.gateway.handler is not None
        await hotline.gateway.handler(EventGap(2))  # AgentConnect, AgentComplete lost
        await hotline.event(ChannelHungUp("a", "a", "16"), 6)
        assert (await hotline.row("a")).outcome == "abandoned"  # what the tracker saw

        hotline.record.rows = unended(answered("a"))
        await calls.check_record()  # the record lags the Hangup event: not yet
        assert (await hotline.row("a")).outcome == "abandoned"
        assert hotline.record.pruned == []  # still needed

        hotline.record.rows = answered("a")
        await calls.check_record()
        row = await hotline.row("a")
        assert (row.outcome, row.queue, row.seat, row.talk_seconds) == (
            "answered", "center", "演示座席8001", 2.0)
        assert row.recorded_by == "asterisk_record"
        assert sorted(hotline.record.pruned) == sorted(e.row for e in answered("a"))
        assert calls.tracker.finished["a"].outcome is not None
        assert calls.tracker.finished["a"].outcome.value == "answered"
        assert not calls._gap_calls  # settled: not asked about again
        async with hotline.ledger.db.execute("SELECT count(*) FROM calls") as cur:
            assert await cur.fetchone() == (1,)


async def test_a_queue_join_lost_in_a_gap_is_taken_from_the_record(tmp_path: Path) -> None:
    """In the menu; its QueueCallerJoin dropped in a gap; the resync finds it in the
    queue's application, then it hangs up: the record makes it abandoned in the centre's
    queue, not ended in the IVR. A call that was not alive during a gap is left as the
    tracker saw it (no record look changes it)."""
    async with line(tmp_path) as hotline:
        calls = hotline.calls
        calls._apply(IvrEntered("b", "b", CHANNEL.format("b"), "13955100001", None))
        hotline.gateway.channels_now = [in_queue("b")]
        hotline.record.rows = [e for e in abandoned("b") if e.at == _at(0)]
        assert hotline.gateway.handler is not None
        await hotline.gateway.handler(EventGap(1))
        await hotline.event(ChannelHungUp("b", "b", "16"), 3)
        calls._apply(IvrEntered("c", "c", CHANNEL.format("c"), "13955100002", None))
        await hotline.event(ChannelHungUp("c", "c", "16"), 4)
        assert (await hotline.row("b")).outcome in ("ended_in_ivr", "abandoned")
        hotline.record.rows = [*abandoned("b"), *abandoned("c")]
        await calls.check_record()
        row = await hotline.row("b")
        assert (row.outcome, row.queue, row.seat) == ("abandoned", "center", None)
        other = await hotline.row("c")
        assert (other.outcome, other.queue) == ("ended_in_ivr", None)


async def test_a_resync_leaves_the_open_row_of_a_call_this_run_ended_to_its_writer(
        tmp_path: Path) -> None:
    """The tracker ended a call (answered); a resync comes before the writer wrote that
    final snapshot, so the call's row is still open: the resync neither completes that
    row from the record (which lags: no answer in it yet) nor closes it as vanished; the
    writer's answered snapshot is the row. (Seen in the flood: rows made abandoned.)"""
    async with line(tmp_path, writing=False) as hotline:
        calls = hotline.calls
        calls._apply(IvrEntered("a", "a", CHANNEL.format("a"), "13955100001", None))
        await hotline.event(QueueJoined("a", "a", CHANNEL.format("a"), "center", None, None), 1)
        await hotline.ledger.upsert_calls([calls.tracker.calls["a"]], _at(1))  # open row
        await hotline.event(SeatConnected("a", "center", "演示座席8001", 3.0), 4)
        await hotline.event(ChannelHungUp("a", "a", "16"), 6)
        hotline.record.rows = [e for e in abandoned("a") if e.at != _at(1)] + [
            e for e in answered("a") if e.kind == RecordKind.APP_START]
        await calls.resync()
        row = await hotline.ledger.get("a")
        assert row is not None
        assert row.ended_at is None  # left to the writer
        writer = asyncio.create_task(calls.writer.run())
        try:
            row = await hotline.row("a")
        finally:
            writer.cancel()
        assert (row.outcome, row.seat) == ("answered", "演示座席8001")
