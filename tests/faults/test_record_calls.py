"""Faults: every call gets exactly one correct row, whatever the moment of the fault.

hotline runs as a separate process (so it can be killed) against an Asterisk of this
module's own. Every expected time is Asterisk's own (its events' Timestamp); a ledger time
or talk is right when it is within 1 s of it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.pbx import testline
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance
from tests.conftest import live_channels
from tests.real.test_resilience import (
    SEAT,
    SEAT_NAME,
    HotlineProcess,
    Truth,
    close_to,
    seat_in_centre,
    seat_logged_in,
)

pytestmark = pytest.mark.asterisk
TALK = 3  # seconds the seat talks (the call that ends while no hotline runs)
LONG_TALK = 10  # ... the call still talking when the next run has started


def kill_at_answer(gateway: AmiGateway, call: TestCall, service: HotlineProcess) -> None:
    """Kill `service` the moment the test sees the seat answer `call` (its AgentConnect:
    hotline got the same event a moment earlier, or is getting it)."""

    def watch(message: AmiMessage | EventGap) -> None:
        if (isinstance(message, AmiMessage) and message.event == "AgentConnect"
                and message.get("Linkedid") == call.linkedid and service.proc.poll() is None):
            service.proc.send_signal(signal.SIGKILL)

    gateway.subscribe(f"kill-{call.linkedid}", ["AgentConnect"], watch)


async def test_killed_as_a_seat_answers_the_call_is_answered_with_its_seat_and_talk(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """hotline is killed the moment a seat answers a caller (twice): once the next run
    starts while the call is still talking, once only after it ended. Either way the
    call's one row is answered, in the centre's queue, by that seat, with its answer,
    end and talk within 1 s of Asterisk's."""
    ledger = tmp_path / "ledger.sqlite3"
    await seat_logged_in(own_asterisk, ledger)
    await gateway.set_global(f"SEAT_TALK_{SEAT}", str(LONG_TALK))
    truth = Truth(gateway)
    services: list[HotlineProcess] = []
    try:
        first = HotlineProcess(own_asterisk, ledger)
        services.append(first)
        await first.wait_for("calls.resynced")
        await seat_in_centre(own_asterisk)
        talking = TestCall("13955112345", "纳税人甲", ["0"])  # 0: to a seat
        kill_at_answer(gateway, talking, first)
        placed = asyncio.create_task(place_call(gateway, talking, timeout=60))
        await truth.wait(talking.linkedid, "AgentConnect")
        first.proc.wait(5)
        second = HotlineProcess(own_asterisk, ledger)  # the call is still talking
        services.append(second)
        await second.wait_for("calls.adopted_from_earlier_run")
        assert (talking.linkedid, "Hangup") not in truth.at  # adopted while talking
        await placed
        await gateway.set_global(f"SEAT_TALK_{SEAT}", str(TALK))
        await seat_in_centre(own_asterisk)
        ended = TestCall("13955112346", "纳税人乙", ["0"])
        kill_at_answer(gateway, ended, second)
        await place_call(gateway, ended, timeout=60)  # talks and ends while none runs
        second.proc.wait(5)
        assert [c for c in live_channels(own_asterisk)
                if c.get("Linkedid") == ended.linkedid] == []
        third = HotlineProcess(own_asterisk, ledger)
        services.append(third)
        await third.wait_for("calls.resynced")
        for call in (talking, ended):
            row = await wait_for_ledger_row(ledger, call.linkedid)
            connected = truth.at[(call.linkedid, "AgentConnect")]
            hung_up = truth.at[(call.linkedid, "Hangup")]
            assert (row.outcome, row.queue, row.seat) == ("answered", "center", SEAT_NAME), (
                call.linkedid, row)
            assert close_to(row.answered_at, connected), row
            assert close_to(row.ended_at, hung_up), row
            assert row.talk_seconds is not None
            assert abs(row.talk_seconds - (hung_up - connected).total_seconds()) < 1.0, row
            assert (row.digits, row.caller_number) == ("0", call.number)
    finally:
        await gateway.set_global(f"SEAT_TALK_{SEAT}", "")
        for service in services:
            service.stop()


async def test_a_caller_who_hangs_up_at_once_is_ended_promptly_with_the_true_end(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """Callers who hang up in the first milliseconds (before hotline's IVR connection,
    or as it comes) each get one row, ended within 3 s of the hang-up at the hang-up's
    time, not left open until the next resync."""
    ledger = tmp_path / "ledger.sqlite3"
    service = HotlineProcess(own_asterisk, ledger)
    truth = Truth(gateway)
    try:
        await service.wait_for("calls.resynced")
        calls: list[str] = []
        for n, delay in enumerate((0.0, 0.0, 0.0, 0.001, 0.002, 0.003, 0.005)):
            linkedid = f"early-{n}-{time.time_ns()}"

            def watch(message: AmiMessage | EventGap, linkedid: str = linkedid,
                      delay: float = delay) -> None:
                # From the moment the call is on the line: the IVR half up (its caller
                # leg answered), about to run the line's entry. On Newchannel the
                # originate of the test call may not have connected yet, and a hang-up
                # then is of a call that never reached 12366 (its record is all in
                # [caller], AppDial2): 2 runs in 10 failed on such a call.
                if (isinstance(message, AmiMessage) and message.event == "Newstate"
                        and message.get("Uniqueid") == linkedid
                        and message.get("ChannelState") == "6"):
                    async def hang_up() -> None:
                        await asyncio.sleep(delay)
                        await gateway.hangup(message.get("Channel") or "")
                    asyncio.get_running_loop().create_task(hang_up())

            gateway.subscribe(f"early-{linkedid}", ["Newstate"], watch)
            await testline.dial(gateway, "12366", "13955100009", None, linkedid)
            calls.append(linkedid)
            await truth.wait(linkedid, "Hangup", timeout=5)
            await asyncio.sleep(0.3)
        for linkedid in calls:
            hung_up = truth.at[(linkedid, "Hangup")]
            row = await wait_for_ledger_row(
                ledger, linkedid, timeout=max(0.1, 3 - (time.time() - hung_up.timestamp())))
            assert close_to(row.ended_at, hung_up), row
            assert row.end_reason == "hangup", row
            assert row.started_at <= (row.ended_at or ""), row
    finally:
        service.stop()
