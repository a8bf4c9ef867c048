"""Faults: no caller waits more than 2 s in silence because hotline, or its link to
Asterisk, failed.

hotline runs as a separate process (so it can be killed, stopped, cut off) against an
Asterisk of this module's own. Every time is Asterisk's own (its events' Timestamp,
epoch seconds on this host's clock) against the moment the test did the harm: a caller
in the menu is "sent on" when Asterisk reports it joining the centre's queue (the
fallback's first step that an event shows).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import pytest

from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance
from tests.faults.link import AmiProxy
from tests.real.test_resilience import (
    SEAT,
    SEAT_NAME,
    HotlineProcess,
    in_menu,
    row_in_state,
    seat_in_centre,
    seat_logged_in,
)

pytestmark = pytest.mark.asterisk


class Joins:
    """Asterisk's QueueCallerJoin events, by Linkedid: (queue, Asterisk's time); and the
    times of AgentComplete and of the Hangup of the call's first channel."""

    def __init__(self, gateway: AmiGateway) -> None:
        self.seen: dict[str, list[tuple[str, float]]] = {}
        self.completed: dict[str, float] = {}
        self.hung_up: dict[str, float] = {}
        self.seat_gone: dict[str, list[float]] = {}  # Hangups of seats' legs
        self.changed = asyncio.Event()

        def watch(message: AmiMessage | EventGap) -> None:
            if not isinstance(message, AmiMessage):
                return
            stamp = float(message.get("Timestamp") or time.time())
            linkedid = message.get("Linkedid") or ""
            if message.event == "QueueCallerJoin":
                self.seen.setdefault(linkedid, []).append((message.get("Queue") or "", stamp))
            elif message.event == "AgentComplete":
                self.completed[linkedid] = stamp
            elif message.event == "Hangup" and message.get("Uniqueid") == linkedid:
                self.hung_up[linkedid] = stamp
            elif message.event == "Hangup" and message.get("Uniqueid") not in (
                    linkedid, f"{linkedid}-caller"):
                # Another channel of the call: a seat's leg (the queue's Local channel;
                # one that rang unanswered too).
                self.seat_gone.setdefault(linkedid, []).append(stamp)
            self.changed.set()

        self.subscription = gateway.subscribe(
            f"joins-{id(self)}", ["QueueCallerJoin", "AgentComplete", "Hangup"], watch)

    async def ended_after_seat(self, linkedid: str, timeout: float = 15) -> float:
        """Seconds from the seat's end to the caller's Hangup (Asterisk's times; this
        consumer may hear of them after the test call's own). The seat's end: its
        AgentComplete, or, had Asterisk's AgentComplete not come, the last Hangup of a
        seat's leg before the caller's (the seat that answered hangs up last)."""

        def seat_end() -> float | None:
            if linkedid in self.completed:
                return self.completed[linkedid]
            caller = self.hung_up.get(linkedid)
            legs = [t for t in self.seat_gone.get(linkedid, [])
                    if caller is not None and t <= caller]
            return max(legs) if legs else None

        try:
            async with asyncio.timeout(timeout):
                while seat_end() is None or linkedid not in self.hung_up:
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"{timeout:g} s after the call: AgentComplete "
                f"{self.completed.get(linkedid)}, seats' legs' Hangups "
                f"{self.seat_gone.get(linkedid)}, the caller's Hangup "
                f"{self.hung_up.get(linkedid)}") from None
        end = seat_end()
        assert end is not None
        return self.hung_up[linkedid] - end

    async def centre(self, linkedid: str, timeout: float = 10) -> float:
        """Asterisk's time of the call's (first) joining of the centre's queue."""
        async with asyncio.timeout(timeout):
            while True:
                for queue, stamp in self.seen.get(linkedid, []):
                    if queue == "center":
                        return stamp
                self.changed.clear()
                await self.changed.wait()


async def callers_in_menu(gateway: AmiGateway, count: int,
                          ) -> tuple[list[TestCall], list[asyncio.Task[None]]]:
    """`count` callers listening to the welcome (no key pressed)."""
    calls = [TestCall(f"1395511{i:04d}", None, []) for i in range(count)]
    ready = [await in_menu(gateway, call) for call in calls]
    tasks = [asyncio.create_task(place_call(gateway, call, timeout=90)) for call in calls]
    async with asyncio.timeout(15):
        for event in ready:
            await event.wait()
    return calls, tasks


async def hang_up_all(gateway: AmiGateway, calls: list[TestCall],
                      tasks: list[asyncio.Task[None]]) -> None:
    """End the test's calls in Asterisk, wherever they are. By the caller's own leg (its
    Uniqueid, known from the start): a call that never ran hotline's IVR (a new call
    while hotline was down, straight to the centre's queue) has no IVR channel, and was
    left waiting in the queue, where the next test's seat answered it first."""
    for call in calls:
        with contextlib.suppress(Exception):
            await gateway.hangup(f"{call.linkedid}-caller")
        if call.ivr_channel is not None:
            with contextlib.suppress(Exception):
                await gateway.hangup(call.ivr_channel)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def new_call_reaches_centre(gateway: AmiGateway, joins: Joins) -> tuple[float, TestCall,
                                                                              asyncio.Task[None]]:
    """A new call placed now: seconds until Asterisk queued it in the centre."""
    call = TestCall("13955119999", "故障期间来电", [])
    placed = time.time()
    task = asyncio.create_task(place_call(gateway, call, timeout=60))
    return await joins.centre(call.linkedid) - placed, call, task


async def test_kill_9_sends_every_caller_in_the_menu_on_at_once(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """kill -9 of hotline with 4 callers in the menu: each is in the centre's queue within
    2 s (Asterisk's clock), and a new call while hotline is down within 0.5 s."""
    joins = Joins(gateway)
    proc = HotlineProcess(own_asterisk, tmp_path / "ledger.sqlite3")
    calls: list[TestCall] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await proc.wait_for("calls.resynced")
        calls, tasks = await callers_in_menu(gateway, 4)
        killed = time.time()
        proc.kill()
        late = [await joins.centre(c.linkedid) - killed for c in calls]
        print(f"kill -9: in the centre's queue after {[round(t, 3) for t in late]} s")
        assert max(late) <= 2.0, late
        delay, call, task = await new_call_reaches_centre(gateway, joins)
        calls.append(call)
        tasks.append(task)
        print(f"new call, hotline dead: in the centre's queue after {delay:.3f} s")
        assert delay <= 0.5, delay
    finally:
        await hang_up_all(gateway, calls, tasks)
        proc.stop()
        joins.subscription.unsubscribe()


async def test_a_stopped_hotline_loses_its_callers_to_the_lease_within_2_5_s(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """SIGSTOP of hotline (wedged, sockets open) with 3 callers in the menu: the lease runs
    out and each is in the centre's queue within 2.5 s; so is a new call placed then."""
    joins = Joins(gateway)
    proc = HotlineProcess(own_asterisk, tmp_path / "ledger.sqlite3")
    calls: list[TestCall] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await proc.wait_for("calls.resynced")
        calls, tasks = await callers_in_menu(gateway, 3)
        stopped = time.time()
        proc.proc.send_signal(signal.SIGSTOP)
        late = [await joins.centre(c.linkedid) - stopped for c in calls]
        print(f"SIGSTOP: in the centre's queue after {[round(t, 3) for t in late]} s")
        assert max(late) <= 2.5, late
        delay, call, task = await new_call_reaches_centre(gateway, joins)
        calls.append(call)
        tasks.append(task)
        print(f"new call, hotline stopped: in the centre's queue after {delay:.3f} s")
        assert delay <= 2.5, delay
    finally:
        proc.proc.send_signal(signal.SIGCONT)
        await hang_up_all(gateway, calls, tasks)
        proc.stop()
        joins.subscription.unsubscribe()


@pytest.mark.parametrize("mode", ["drop", "half-open"])
async def test_an_ami_cut_sends_every_caller_in_the_menu_on_within_2_5_s(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path, mode: str) -> None:
    """hotline's AMI link dropped or half-open, its FastAGI sockets fine, 3 callers in the
    menu: the lease is no longer refreshed and each is in the centre's queue within 2.5 s."""
    proxy = AmiProxy(own_asterisk.ami_port)
    await proxy.start()
    joins = Joins(gateway)
    proc = HotlineProcess(own_asterisk, tmp_path / "ledger.sqlite3", {
        "HOTLINE_AMI_PORT": str(proxy.port), "HOTLINE_AGI_PORT": str(own_asterisk.agi_port)})
    calls: list[TestCall] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await proc.wait_for("calls.resynced")
        calls, tasks = await callers_in_menu(gateway, 3)
        cut = time.time()
        proxy.cut(mode)
        late = [await joins.centre(c.linkedid) - cut for c in calls]
        print(f"AMI {mode}: in the centre's queue after {[round(t, 3) for t in late]} s")
        assert max(late) <= 2.5, late
    finally:
        await hang_up_all(gateway, calls, tasks)
        proc.stop()
        await proxy.close()
        joins.subscription.unsubscribe()


async def test_a_queued_caller_when_hotline_dies_is_answered_once_and_not_left_silent(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """Killed while the caller waits in the centre's queue: the caller stays queued, a seat
    answers; when the seat hangs up the call ends within 2 s (no silence, no second
    queueing), and the next run's row is the one answer: center, the seat, its talk."""
    ledger = tmp_path / "ledger.sqlite3"
    joins = Joins(gateway)
    await seat_logged_in(own_asterisk, ledger)
    await gateway.set_global(f"SEAT_MODE_{SEAT}", "noanswer")
    await gateway.set_global(f"SEAT_TALK_{SEAT}", "3")
    first = HotlineProcess(own_asterisk, ledger)
    second = None
    call = TestCall("13955112345", "纳税人赵六", ["0"])  # 0: to a seat
    placed: asyncio.Task[None] | None = None
    try:
        await first.wait_for("calls.resynced")
        await seat_in_centre(own_asterisk)
        placed = asyncio.create_task(place_call(gateway, call, timeout=60))
        await row_in_state(ledger, call.linkedid, "queued", "ringing")
        first.kill()
        second = HotlineProcess(own_asterisk, ledger)
        await second.wait_for("calls.resynced")
        await gateway.set_global(f"SEAT_MODE_{SEAT}", "")
        await placed
        assert call.answered
        final = await wait_for_ledger_row(ledger, call.linkedid)
        assert [q for q, _ in joins.seen.get(call.linkedid, [])] == ["center"]
        assert (final.outcome, final.queue, final.seat) == ("answered", "center", SEAT_NAME)
        assert final.talk_seconds is not None
        assert 2 <= final.talk_seconds <= 5
        # The seat talked 3 s then hung up: the caller's call ended with it, not in silence.
        silence = await joins.ended_after_seat(call.linkedid)
        print(f"seat hung up, hotline restarted: caller's call ended after {silence:.3f} s")
        assert 0 <= silence <= 2.0, silence
    finally:
        await gateway.set_global(f"SEAT_MODE_{SEAT}", "")
        await gateway.set_global(f"SEAT_TALK_{SEAT}", "")
        if placed is not None and not placed.done():
            placed.cancel()
        first.stop()
        if second is not None:
            second.stop()
        joins.subscription.unsubscribe()


async def test_a_caller_whose_seat_hangs_up_while_hotline_is_dead_is_not_left_silent(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """Killed while the caller waits in the centre's queue, still dead when the seat who
    answered hangs up: the caller's call ends within 2 s (not back in silence, not queued
    again), and the next run leaves it one ended row."""
    ledger = tmp_path / "ledger.sqlite3"
    joins = Joins(gateway)
    await seat_logged_in(own_asterisk, ledger)
    await gateway.set_global(f"SEAT_MODE_{SEAT}", "noanswer")
    await gateway.set_global(f"SEAT_TALK_{SEAT}", "3")
    first = HotlineProcess(own_asterisk, ledger)
    second = None
    call = TestCall("13955112346", "纳税人钱七", ["0"])  # 0: to a seat
    placed: asyncio.Task[None] | None = None
    try:
        await first.wait_for("calls.resynced")
        await seat_in_centre(own_asterisk)
        # 60 s: the menus and the recording notice (12 s), the seat's first ring that is
        # not answered (15 s), the retry, 3 s of talk.
        placed = asyncio.create_task(place_call(gateway, call, timeout=60))
        await row_in_state(ledger, call.linkedid, "queued", "ringing")
        first.kill()
        await gateway.set_global(f"SEAT_MODE_{SEAT}", "")
        await placed  # answered (the seat rings again), 3 s of talk, the seat hangs up
        assert call.answered
        silence = await joins.ended_after_seat(call.linkedid)
        print(f"seat hung up, hotline dead: caller's call ended after {silence:.3f} s")
        assert 0 <= silence <= 2.0, silence
        assert [q for q, _ in joins.seen.get(call.linkedid, [])] == ["center"]
        second = HotlineProcess(own_asterisk, ledger)
        final = await wait_for_ledger_row(ledger, call.linkedid)
        assert final.queue == "center"
    finally:
        await gateway.set_global(f"SEAT_MODE_{SEAT}", "")
        await gateway.set_global(f"SEAT_TALK_{SEAT}", "")
        if placed is not None and not placed.done():
            placed.cancel()
        first.stop()
        if second is not None:
            second.stop()
        joins.subscription.unsubscribe()
