"""Faults: hotline's AMI link cut (dropped, or half-open) for 5 to 30 s with calls in
every state; once it is back and hotline has resynced, every call has one right ledger
row, and no caller heard more than 2 s of silence.

hotline runs as a separate process whose AMI goes through a proxy (tests/faults/link.py)
that the test cuts; its FastAGI sockets are untouched. The truth is Asterisk's own: the
events a gateway of the test's own (never cut) receives, with Asterisk's timestamps.

In one outage: a caller in the menu, one talking to a seat whose talk ends during the
cut, one a seat answers exactly as the link is cut, one a seat answers during the cut,
one ringing a seat through the cut (answered after the resync), two waiting in the
queue (one hangs up during the cut), and two new calls placed during the cut (they reach
the menu over FastAGI, the lease is not refreshed: on to the centre's queue). Seats are
the sandbox's Local seats ringing without answering (SEAT_MODE_800X=noanswer); the test
answers a ringing seat itself (Redirect of its channel to the answering branch), so it
knows which seat answers which caller and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hotline.app.settings import load_settings
from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.pbx import testline
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance
from tests.conftest import REPO, routing_for_tests, service_env
from tests.faults.link import (
    SILENCE_MAX,
    AmiProxy,
    AsteriskTruth,
    check,
    check_only_these_rows,
    seats_in_centre,
    seats_logged_in,
)
from tests.real.test_resilience import HotlineProcess, in_menu

pytestmark = pytest.mark.asterisk

SEATS = ("8001", "8002", "8003", "8004")


def routing_with_four_centre_seats(folder: Path) -> Path:
    """The tests' routing, with the tests' seats 8003 and 8004 in the centre's queue too
    (four seats: one for each of the callers the outage finds with a seat), and a seat
    ringing the centre's caller until it answers (no ring timeout moves callers from seat
    to seat while the test sets up)."""
    path = routing_for_tests(folder)
    routing = yaml.safe_load(path.read_text(encoding="utf-8"))
    for seat in ("8003", "8004"):
        routing["seats"][seat]["skills"]["center"] = 5
    routing["queues"]["center"]["ring_timeout"] = 120
    out = folder / "routing-four-seats.yaml"
    out.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
    return out


async def asterisk_queues_for(inst: Instance, gateway: AmiGateway, routing: Path,
                              ledger: Path) -> None:
    """Asterisk's queues.conf as hotline writes it for `routing`, reloaded."""
    from hotline.app.wiring import asterisk_files

    settings = load_settings(REPO / "config" / "hotline.yaml",
                             {**service_env(inst, ledger), "HOTLINE_ROUTING_PATH": str(routing)})
    inst.update_generated(asterisk_files(settings))
    await gateway.reload_queue_parameters()


def seat_of(channel: str) -> str:
    """Local/8003@seats-0000001a;1 -> 8003."""
    return channel.split("/", 1)[1].split("@", 1)[0]


async def answer(gateway: AmiGateway, truth: AsteriskTruth, call: TestCall,
                 talk: float) -> str:
    """The seat ringing `call` answers and talks `talk` seconds, then hangs up: its
    channel is sent on to the seat's answering branch ([seats], priority 2)."""
    channel = await truth.ringing(call.linkedid)
    seat = seat_of(channel)
    await gateway.set_global(f"SEAT_TALK_{seat}", f"{talk:g}")
    await gateway.redirect(channel.replace(";1", ";2"), "seats", seat, 2)
    return seat


@dataclass
class Placed:
    call: TestCall
    task: asyncio.Task[None]
    role: str


class HotlineLog:
    def __init__(self, proc: HotlineProcess) -> None:
        self.proc = proc

    def count(self, needle: str) -> int:
        return self.proc.log.read_text().count(needle)

    async def until(self, needle: str, more_than: int, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while self.count(needle) <= more_than:
                assert self.proc.proc.poll() is None, self.proc.log.read_text()[-3000:]
                await asyncio.sleep(0.02)


OUTAGES = [("half-open", 5), ("drop", 15), ("half-open", 30)]


@pytest.mark.parametrize(("mode", "seconds"), OUTAGES)
async def test_an_ami_outage_leaves_every_call_one_right_row_and_no_caller_silent(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path, mode: str,
        seconds: int) -> None:
    """hotline's AMI link cut (`mode`) for `seconds` with callers in the menu, talking,
    answered at the cut and during it, ringing, queued, hanging up, and new calls during
    it: after the resync each call has exactly one ledger row whose outcome, queue, seat
    and talk (within 1 s) are Asterisk's; no answered caller was queued twice; no caller
    heard more than 2 s of silence (Asterisk's events: out of an AGI command, a queue
    and a seat); the callers in the menu at the cut were in the centre's queue within
    2 s, and the new ones within 2 s of reaching the menu. The 15 s run also reloads
    hotline (SIGHUP) the moment it is back, during its resync."""
    ledger = tmp_path / "ledger.sqlite3"
    await seats_logged_in(ledger, SEATS)
    for seat in SEATS:
        await gateway.set_global(f"SEAT_MODE_{seat}", "noanswer")
    proxy = AmiProxy(own_asterisk.ami_port)
    await proxy.start()
    truth = AsteriskTruth(gateway)
    routing = routing_with_four_centre_seats(tmp_path)
    await asterisk_queues_for(own_asterisk, gateway, routing, ledger)
    proc = HotlineProcess(own_asterisk, ledger, {
        "HOTLINE_AMI_PORT": str(proxy.port), "HOTLINE_ROUTING_PATH": str(routing)})
    hotline = HotlineLog(proc)
    placed: list[Placed] = []

    async def place(role: str, number: str, keys: list[str]) -> TestCall:
        call = TestCall(number, None, keys)
        placed.append(Placed(call, asyncio.create_task(place_call(gateway, call, timeout=150)),
                             role))
        return call

    try:
        # Generous: on a loaded machine hotline's start alone took over 15 s.
        await proc.wait_for("calls.resynced", timeout=60)
        await seats_in_centre(own_asterisk, SEATS)
        # Four callers ring the four seats (ringinuse = no: one caller per seat), two
        # more wait; all placed at once.
        calls = {i: await place("?", f"1395520{i:04d}", ["0"]) for i in range(6)}
        for call in calls.values():
            await truth.wait(call.linkedid, "QueueCallerJoin", timeout=20)
        async with asyncio.timeout(10):
            while sum(truth.of(c.linkedid).ringing is not None for c in calls.values()) < 4:
                truth.changed.clear()
                await truth.changed.wait()
        with_seat = [c for c in calls.values() if truth.of(c.linkedid).ringing is not None]
        waiting = [c for c in calls.values() if truth.of(c.linkedid).ringing is None]
        # Who rings which seat is Asterisk's choice: the roles follow it.
        talking, at_cut, in_cut, ringing = with_seat
        queued, hangs_up = waiting
        role_of = {talking.linkedid: "talking", at_cut.linkedid: "answered_at_cut",
                   in_cut.linkedid: "answered_in_cut", ringing.linkedid: "ringing",
                   queued.linkedid: "queued", hangs_up.linkedid: "hangs_up_in_cut"}
        for p in placed:
            p.role = role_of[p.call.linkedid]
        await answer(gateway, truth, talking, talk=4)
        answered_at = await truth.wait(talking.linkedid, "AgentConnect")
        menu = TestCall("13955201006", None, [])
        ready = await in_menu(gateway, menu)
        placed.append(Placed(menu, asyncio.create_task(place_call(gateway, menu, timeout=150)),
                             "in_menu"))
        async with asyncio.timeout(10):
            await ready.wait()
        await asyncio.sleep(max(0.0, answered_at + 2 - time.time()))
        for call in (*calls.values(), menu):
            assert truth.of(call.linkedid).ended is None, f"{call.linkedid} ended early"

        # The cut, and at that very moment a seat answers.
        at_cut_answer = asyncio.create_task(answer(gateway, truth, at_cut, talk=3))
        cut = time.time()
        proxy.cut(mode)
        await at_cut_answer
        new = [await place(f"new_in_cut_{i}", f"1395520200{i}", []) for i in range(2)]
        await asyncio.sleep(1)
        await answer(gateway, truth, in_cut, talk=seconds + 5)
        assert hangs_up.ivr_channel is not None
        await testline.hang_up(gateway, hangs_up.ivr_channel)
        resyncs = hotline.count("calls.resynced")
        connects = hotline.count("ami.connected")
        await asyncio.sleep(max(0.0, cut + seconds - time.time()))
        await proxy.restore()
        restored = time.time()
        if seconds == 15:
            # A reload as hotline comes back: during its resync.
            await hotline.until("ami.connected", connects, timeout=30)
            proc.proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(1)
        if hotline.count("ami.disconnected") or hotline.count("ami.watchdog_timeout"):
            await hotline.until("calls.resynced", resyncs, timeout=30)
            print(f"AMI {mode} {seconds} s: hotline resynced {time.time() - restored:.2f} s "
                  "after the link came back")
        else:
            # Healed before the watchdog noticed: the link held, what it held arrived.
            print(f"AMI {mode} {seconds} s: the link held (no reconnect)")

        # After the resync: the ringing caller and one new caller are answered; the
        # rest hang up.
        await answer(gateway, truth, ringing, talk=2)
        await answer(gateway, truth, new[0], talk=2)
        for call in (queued, menu, new[1]):
            assert call.ivr_channel is not None
            await testline.hang_up(gateway, call.ivr_channel)
        async with asyncio.timeout(seconds + 40):
            await asyncio.gather(*(p.task for p in placed))

        rows = {p.call.linkedid: await wait_for_ledger_row(ledger, p.call.linkedid)
                for p in placed}
        report = check([(p.role, p.call.linkedid) for p in placed], rows, truth, cut)
        print("\n".join(report))
        await check_only_these_rows(ledger, {p.call.linkedid for p in placed})
        # The callers in the menu when the link went: in the centre's queue within 2 s.
        sent_on = await truth.wait(menu.linkedid, "QueueCallerJoin")
        print(f"in the menu at the cut: in the centre's queue {sent_on - cut:.3f} s later")
        assert sent_on - cut <= SILENCE_MAX
        for call in new:
            reached = truth.of(call.linkedid).times("AGIExecStart")[0]
            queued_at = await truth.wait(call.linkedid, "QueueCallerJoin")
            print(f"new call during the cut: menu, then the centre's queue "
                  f"{queued_at - reached:.3f} s later")
            assert queued_at - reached <= SILENCE_MAX
        if seconds == 15:
            assert hotline.count("dialplan.reloaded") >= 1
        problems = [line for line in report if line.startswith("WRONG")]
        assert not problems, "\n".join(problems)
    finally:
        for p in placed:
            if not p.task.done() and p.call.ivr_channel is not None:
                with contextlib.suppress(Exception):
                    await testline.hang_up(gateway, p.call.ivr_channel)
            p.task.cancel()
        await asyncio.gather(*(p.task for p in placed), return_exceptions=True)
        for seat in SEATS:
            await gateway.set_global(f"SEAT_MODE_{seat}", "")
            await gateway.set_global(f"SEAT_TALK_{seat}", "")
        proc.stop()
        await proxy.close()
        truth.close()
        if os.environ.get("FAULTS_KEEP_LOG"):  # hotline's log and Asterisk's events
            Path(os.environ["FAULTS_KEEP_LOG"]).write_text(proc.log.read_text())
            with open(os.environ["FAULTS_KEEP_LOG"] + ".truth", "w") as out:
                start = locals().get("cut", 0.0)
                for p in placed:
                    out.write(f"{p.role} {p.call.linkedid}\n")
                    for t, event, headers in truth.of(p.call.linkedid).events:
                        detail = headers.get("Command") or headers.get("Queue") or ""
                        out.write(f"  {t - start:+8.3f} {event} {detail[:60]} "
                                  f"{headers.get('MemberName', '')} "
                                  f"{headers.get('Cause-txt', '')}\n")
