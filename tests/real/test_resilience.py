"""The hotline never goes silent: with hotline down, killed mid-call, or restarted.

These tests run hotline as a separate process (so it can be killed) against an Asterisk
instance of their own (so no other hotline answers their calls).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.app.settings import ENV_PREFIX, RESERVED_ENV
from hotline.features.calls.testcall import (
    TestCall,
    place_call,
    read_ledger_row,
    wait_for_ledger_row,
)
from hotline.ledger.seats import SeatBook
from hotline.ledger.store import CallRow, Ledger
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.events import event_time
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance
from tests.conftest import (
    OPEN_TIME,
    calendar_for_tests,
    live_channels,
    queue_members,
    routing_for_tests,
)

pytestmark = pytest.mark.asterisk
REPO = Path(__file__).resolve().parents[2]
SEAT = "8001"  # the demo seat that answers the centre's queue (演示座席8001)
SEAT_NAME = "演示座席8001"
SEAT_DEVICE = "Local/8001@seats/n"


class HotlineProcess:
    def __init__(self, inst: Instance, ledger: Path,
                 extra: dict[str, str] | None = None) -> None:
        self.env = {"HOTLINE_AMI_PORT": str(inst.ami_port),
                    "HOTLINE_AGI_PORT": str(inst.agi_port),
                    "HOTLINE_SANDBOX_INSTANCE": inst.name, "HOTLINE_LEDGER_PATH": str(ledger),
                    "HOTLINE_LOG_FORMAT": "json", "HOTLINE_SERVICE_CALENDAR_TIME": OPEN_TIME,
                    "HOTLINE_SERVICE_PID_FILE": str(ledger.with_suffix(".pid")),
                    "HOTLINE_ROUTING_PATH": str(routing_for_tests(ledger.parent)),
                    "HOTLINE_CALENDAR_PATH": str(calendar_for_tests(ledger.parent)),
                    "HOTLINE_WEB_PORT": "0",
                    **(extra or {})}
        # The test run's own HOTLINE_* switches (HOTLINE_LONG_OUTAGES, say) are no
        # settings of hotline's: it would refuse to start on them.
        env = {**{k: v for k, v in os.environ.items()
                  if not k.startswith(ENV_PREFIX) or k in RESERVED_ENV}, **self.env}
        self.log = ledger.with_suffix(f".{os.urandom(3).hex()}.log")
        self.log_file = open(self.log, "w")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen([sys.executable, "-m", "hotline", "run"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.log_file,
                                     cwd=REPO)

    async def wait_for(self, needle: str, timeout: float = 30) -> None:
        """Wait until hotline's log has `needle`. A bound, not a measure: a loaded machine
        (CI's two cores) once took over 15 s to start the service and resync."""
        async with asyncio.timeout(timeout):
            while needle not in self.log.read_text():
                assert self.proc.poll() is None, self.log.read_text()
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.log_file.close()


async def seat_logged_in(inst: Instance, ledger: Path) -> None:
    """Seat 8001 logged in, in the ledger `ledger` (as `hotline seats login` records it):
    the routing loop of a hotline run on that ledger makes it a member of the centre's
    queue. (`hotline run` without --with-sandbox logs no demo seats in.)"""
    book = await Ledger.open(ledger)
    try:
        await SeatBook(book).record(SEAT, "login", at=datetime.now(UTC), actor="test")
    finally:
        await book.close()


async def seat_in_centre(inst: Instance, timeout: float = 20) -> None:
    """Wait until seat 8001 is a member of the centre's queue."""
    async with asyncio.timeout(timeout):
        while True:
            if SEAT_DEVICE in await asyncio.to_thread(queue_members, inst, "center"):
                return
            await asyncio.sleep(0.5)


async def row_in_state(ledger: Path, linkedid: str, *states: str,
                       timeout: float = 40) -> CallRow:
    """The call's ledger row, once it is in one of `states`."""
    async with asyncio.timeout(timeout):
        while True:
            row = await read_ledger_row(ledger, linkedid)
            if row is not None and row.state in states:
                return row
            await asyncio.sleep(0.1)


async def in_menu(gateway: AmiGateway, call: TestCall) -> asyncio.Event:
    """An event set once the call's IVR plays its greeting (STREAM FILE with keys)."""
    ready = asyncio.Event()

    def watch(message: AmiMessage | EventGap) -> None:
        if (isinstance(message, AmiMessage) and message.get("Linkedid") == call.linkedid
                and (message.get("Command") or "").startswith("STREAM FILE")):
            ready.set()

    gateway.subscribe(f"menu-{call.linkedid}", ["AGIExecStart"], watch)
    return ready


async def test_with_hotline_down_a_call_goes_straight_to_the_centre(
        gateway: AmiGateway, own_asterisk: Instance) -> None:
    # No hotline has ever run on this instance: the FastAGI connection is refused. The
    # seat is put in the centre's queue by hand (nobody else would).
    """With hotline down, a call skips the IVR and goes straight to the centre's queue,
    where a seat answers."""
    if SEAT_DEVICE not in queue_members(own_asterisk, "center"):
        await gateway.queue_add("center", SEAT_DEVICE, SEAT_NAME, 0)
    call = TestCall("13955112345", "降级来电", [])
    await place_call(gateway, call, timeout=30)
    assert call.ivr_channel is None  # never entered hotline's IVR
    assert call.queued
    assert call.answered


async def test_a_call_in_the_menu_when_hotline_dies_goes_on_and_the_next_run_completes_it(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """A call in the menu when hotline dies goes on to the centre (its FastAGI connection
    dropped), is answered there, and the next run completes the same ledger row."""
    ledger = tmp_path / "ledger.sqlite3"
    await seat_logged_in(own_asterisk, ledger)
    first = HotlineProcess(own_asterisk, ledger)
    second = None
    try:
        await first.wait_for("calls.resynced")
        await seat_in_centre(own_asterisk)
        call = TestCall("13955112345", "纳税人李四", [])
        ready = await in_menu(gateway, call)
        placed = asyncio.create_task(place_call(gateway, call, timeout=60))
        async with asyncio.timeout(10):
            await ready.wait()
        # The row is written behind a queue: once it is there, hotline dies while the
        # caller listens to the welcome.
        row = await row_in_state(ledger, call.linkedid, "ivr", timeout=5)
        first.kill()
        started = row.started_at
        second = HotlineProcess(own_asterisk, ledger)
        await placed  # the call goes on: queued, answered by a seat, ended
        assert call.queued
        assert call.answered
        final = await wait_for_ledger_row(ledger, call.linkedid)
        assert final.started_at == started  # the same row, not a second one
        assert (final.caller_number, final.caller_name) == ("13955112345", "纳税人李四")
        assert (final.queue, final.seat, final.outcome) == ("center", "演示座席8001", "answered")
        # Adopted if still talking when the run started, else completed from the record.
        log = second.log.read_text()
        assert ("calls.adopted_from_earlier_run" in log
                or "calls.completed_from_asterisk_record" in log), log[-2000:]
    finally:
        first.stop()
        if second is not None:
            second.stop()


class Truth:
    """Asterisk's own times of a call's steps, from its events: the first QueueCallerJoin,
    the AgentConnect, the Hangup of the call's first channel (by Linkedid)."""

    def __init__(self, gateway: AmiGateway) -> None:
        self.at: dict[tuple[str, str], datetime] = {}
        self.changed = asyncio.Event()

        def watch(message: AmiMessage | EventGap) -> None:
            if not isinstance(message, AmiMessage) or message.event is None:
                return
            linkedid, at = message.get("Linkedid") or "", event_time(message)
            if at is None or (message.event == "Hangup"
                              and message.get("Uniqueid") != linkedid):
                return
            self.at.setdefault((linkedid, message.event), at)
            self.changed.set()

        gateway.subscribe(f"truth-{id(self)}",
                          ["QueueCallerJoin", "AgentConnect", "Hangup"], watch)

    async def wait(self, linkedid: str, event: str, timeout: float = 30) -> datetime:
        async with asyncio.timeout(timeout):
            while (linkedid, event) not in self.at:
                self.changed.clear()
                await self.changed.wait()
        return self.at[(linkedid, event)]


def close_to(text: str | None, truth: datetime) -> bool:
    """A ledger time within 1 s of Asterisk's."""
    assert text is not None
    return abs((datetime.fromisoformat(text) - truth).total_seconds()) < 1.0


async def test_calls_that_ended_while_hotline_was_dead_get_their_true_end(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """Killed with one caller in the menu and one ringing a seat; while hotline is dead the
    first goes on to the centre's queue and hangs up there, the second is answered and
    talks 3 s. The next run completes both rows from Asterisk's record: their true
    outcome, queue, seat, times and talk (within 1 s of Asterisk's events), marked as
    from the record, with what the first run knew (start, caller, keys, menus) kept."""
    ledger = tmp_path / "ledger.sqlite3"
    await seat_logged_in(own_asterisk, ledger)
    await gateway.set_global(f"SEAT_MODE_{SEAT}", "noanswer")
    await gateway.set_global(f"SEAT_TALK_{SEAT}", "3")
    truth = Truth(gateway)
    first = HotlineProcess(own_asterisk, ledger)
    second = None
    try:
        await first.wait_for("calls.resynced")
        await seat_in_centre(own_asterisk)
        ringing = TestCall("13955112346", "纳税人周七", ["0"])  # 0: to a seat
        rang = asyncio.create_task(place_call(gateway, ringing, timeout=90))
        await row_in_state(ledger, ringing.linkedid, "ringing")
        menu = TestCall("13955112345", None, [])
        ready = await in_menu(gateway, menu)
        placed = asyncio.create_task(place_call(gateway, menu, timeout=60))
        async with asyncio.timeout(10):
            await ready.wait()
        await row_in_state(ledger, menu.linkedid, "ivr", timeout=5)
        first.kill()
        # The rows as the dead run left them.
        before_a = await read_ledger_row(ledger, menu.linkedid)
        before_b = await read_ledger_row(ledger, ringing.linkedid)
        assert before_a is not None
        assert before_b is not None
        assert menu.ivr_channel is not None
        await truth.wait(menu.linkedid, "QueueCallerJoin", timeout=5)
        await gateway.hangup(menu.ivr_channel)
        await placed
        await gateway.set_global(f"SEAT_MODE_{SEAT}", "")  # the seat answers the next ring
        await rang
        assert ringing.answered
        for call in (menu, ringing):
            assert [c for c in live_channels(own_asterisk)
                    if c.get("Linkedid") == call.linkedid] == []
        second = HotlineProcess(own_asterisk, ledger)
        await second.wait_for("calls.resynced")
        a = await wait_for_ledger_row(ledger, menu.linkedid)
        assert (a.outcome, a.queue, a.seat, a.answered_at) == ("abandoned", "center", None,
                                                                None)
        assert close_to(a.queued_at, truth.at[(menu.linkedid, "QueueCallerJoin")])
        assert close_to(a.ended_at, truth.at[(menu.linkedid, "Hangup")])
        assert (a.recorded_by, a.end_by, a.end_reason) == (
            "asterisk_record", "asterisk_record", "hangup")
        assert (a.started_at, a.caller_number, a.digits, a.ivr_path, a.dialplan) == (
            before_a.started_at, "13955112345", before_a.digits, before_a.ivr_path,
            before_a.dialplan)
        b = await wait_for_ledger_row(ledger, ringing.linkedid)
        assert (b.outcome, b.queue, b.seat) == ("answered", "center", SEAT_NAME)
        connected = truth.at[(ringing.linkedid, "AgentConnect")]
        hung_up = truth.at[(ringing.linkedid, "Hangup")]
        assert close_to(b.queued_at, truth.at[(ringing.linkedid, "QueueCallerJoin")])
        assert close_to(b.answered_at, connected)
        assert close_to(b.ended_at, hung_up)
        assert b.talk_seconds is not None
        assert abs(b.talk_seconds - (hung_up - connected).total_seconds()) < 1.0
        assert (b.recorded_by, b.end_by) == ("asterisk_record", "asterisk_record")
        assert (b.started_at, b.queued_at, b.digits, b.ivr_path, b.caller_name) == (
            before_b.started_at, before_b.queued_at, "0", before_b.ivr_path, "纳税人周七")
    finally:
        await gateway.set_global(f"SEAT_MODE_{SEAT}", "")
        await gateway.set_global(f"SEAT_TALK_{SEAT}", "")
        first.stop()
        if second is not None:
            second.stop()


async def test_a_call_with_a_seat_when_hotline_dies_is_ended_by_its_hangup(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """Killed while the caller talks to a seat: the next run adopts the call from
    Asterisk, keeps its row as the first run wrote it, and records its real end."""
    ledger = tmp_path / "ledger.sqlite3"
    await seat_logged_in(own_asterisk, ledger)
    await gateway.set_global(f"SEAT_TALK_{SEAT}", "12")
    first = HotlineProcess(own_asterisk, ledger)
    second = None
    try:
        await first.wait_for("calls.resynced")
        await seat_in_centre(own_asterisk)
        call = TestCall("13955112345", "纳税人王五", ["0"])  # 0: to a seat
        placed = asyncio.create_task(place_call(gateway, call, timeout=90))
        talking = await row_in_state(ledger, call.linkedid, "connected")
        first.kill()
        second = HotlineProcess(own_asterisk, ledger)
        await second.wait_for("calls.resynced")
        await placed
        final = await wait_for_ledger_row(ledger, call.linkedid)
        assert (final.outcome, final.end_reason) == ("answered", "hangup")
        # The row of the first run, kept: the new run neither blanked nor re-timed it.
        assert (final.started_at, final.queued_at, final.answered_at) == (
            talking.started_at, talking.queued_at, talking.answered_at)
        assert (final.digits, final.ivr_path, final.dialplan) == (
            talking.digits, talking.ivr_path, talking.dialplan)
        assert (final.queue, final.seat, final.wait_seconds) == (
            "center", SEAT_NAME, talking.wait_seconds)
        # Ended by its hang-up after the seat's 12 s, not closed later as vanished.
        assert final.talk_seconds is not None
        assert 10 <= final.talk_seconds <= 16
    finally:
        await gateway.set_global(f"SEAT_TALK_{SEAT}", "")
        first.stop()
        if second is not None:
            second.stop()


async def test_a_queued_call_when_hotline_dies_is_followed_to_its_answer(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """Killed while the caller waits in the queue: the next run adopts the call (queue,
    wait and all from the first run's row) and records the seat's answer and the end."""
    ledger = tmp_path / "ledger.sqlite3"
    await seat_logged_in(own_asterisk, ledger)
    await gateway.set_global(f"SEAT_MODE_{SEAT}", "noanswer")
    first = HotlineProcess(own_asterisk, ledger)
    second = None
    try:
        await first.wait_for("calls.resynced")
        await seat_in_centre(own_asterisk)
        call = TestCall("13955112345", "纳税人赵六", ["0"])
        placed = asyncio.create_task(place_call(gateway, call, timeout=120))
        waiting = await row_in_state(ledger, call.linkedid, "queued", "ringing")
        first.kill()
        second = HotlineProcess(own_asterisk, ledger)
        await second.wait_for("calls.resynced")
        await gateway.set_global(f"SEAT_MODE_{SEAT}", "")
        await placed
        assert call.answered
        final = await wait_for_ledger_row(ledger, call.linkedid)
        assert (final.outcome, final.end_reason) == ("answered", "hangup")
        assert (final.started_at, final.queued_at, final.digits) == (
            waiting.started_at, waiting.queued_at, waiting.digits)
        assert (final.queue, final.seat) == ("center", SEAT_NAME)
        assert final.answered_at is not None
        assert final.queued_at is not None
        assert final.wait_seconds == pytest.approx(
            (datetime.fromisoformat(final.answered_at)
             - datetime.fromisoformat(final.queued_at)).total_seconds(), abs=1.5)
    finally:
        await gateway.set_global(f"SEAT_MODE_{SEAT}", "")
        first.stop()
        if second is not None:
            second.stop()
