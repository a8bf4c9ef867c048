"""Real SIP calls: SIPp (Debian's sip-tester) calls the line over the sandbox's carrier
trunk, with RFC 4733 DTMF, through the shipped 12366 menu to a (Local) demo seat.

SIPp sends from the trunk's address and port (tests/conftest.py gives every test
Asterisk its own), so pjsip.conf identifies it as the carrier. It hears no prompt: the
keys are timed from the answer (hotline.pbx.sipp). SIPp's play_dtmf needs a raw socket:
root, as the sandbox itself.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.ledger.store import CallRow
from hotline.pbx.sandbox import Instance
from hotline.pbx.sipp import caller_scenario, presses
from tests.conftest import live_channels

pytestmark = pytest.mark.asterisk
SEAT = "演示座席8001"
# An answer that waited on DNS inside the chroot took ~22 s; a healthy one takes a few
# tens of ms (hotline's FastAGI answers the call).
ANSWER_WITHIN = 1.0


@pytest.fixture(scope="module")
def sipp() -> str:
    path = shutil.which("sipp")
    if path is None:
        if os.environ.get("HOTLINE_REQUIRE_ASTERISK") == "1":
            pytest.fail("sipp is not installed (Debian package sip-tester; .ci/run installs it)")
        pytest.skip("sipp is not installed (apt-get install sip-tester)")
    return path


@dataclass
class SippRun:
    code: int
    answer: list[float]  # seconds from INVITE to 200, per call
    length: list[float]  # seconds from the answer to the end of the call, per call
    errors: str


async def run_sipp(sipp: str, inst: Instance, scenario: str, folder: Path, *,
                   calls: int = 1, rate: float = 1.0, timeout: float = 60.0) -> SippRun:
    """Run SIPp as the carrier: from the trunk's address and port to the instance's SIP
    port; returns its exit status and the response times it traced."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "caller.xml"
    path.write_text(scenario, encoding="utf-8")
    address, _, port = inst.sip_trunk.partition(":")
    proc = await asyncio.create_subprocess_exec(
        sipp, f"127.0.0.1:{inst.sip_port}", "-sf", str(path), "-i", address, "-p", port,
        "-m", str(calls), "-r", str(rate), "-l", str(max(calls, 1)), "-nostdin",
        "-trace_err", "-trace_rtt", "-rtt_freq", "1",
        "-timeout", f"{timeout:g}s", "-timeout_error",
        cwd=folder, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    answer: list[float] = []
    length: list[float] = []
    for rtt in folder.glob("caller_*_rtt.csv"):
        for line in rtt.read_text().splitlines()[1:]:
            fields = line.split(";")
            if len(fields) >= 3:
                (answer if fields[2] == "answer" else length).append(float(fields[1]) / 1000)
    errors = "\n".join(p.read_text(errors="replace")[-3000:]
                       for p in folder.glob("caller_*_errors.log"))
    return SippRun(proc.returncode or 0, answer, length,
                   err.decode(errors="replace")[-3000:] + errors)


async def row_of_caller(service: Service, number: str, timeout: float = 10.0) -> CallRow:
    """The ended ledger row of the (one) call from `number`."""
    assert service.calls is not None
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in await service.calls.ledger.latest(200)
                if r.caller_number == number and r.ended_at is not None]
        if rows:
            assert len(rows) == 1, f"{len(rows)} rows for one call: {rows}"
            return rows[0]
        assert time.monotonic() < deadline, f"no ended ledger row for the call from {number}"
        await asyncio.sleep(0.05)


def seconds(start: datetime, stamp: str | None) -> float:
    assert stamp is not None
    return (datetime.fromisoformat(stamp) - start).total_seconds()


def a_number() -> str:
    return f"1395511{random.randrange(10_000):04d}"


async def test_a_sip_call_walks_the_12366_menu_with_rfc4733_keys(
        hotline_service: Service, asterisk: Instance, sipp: str, tmp_path: Path) -> None:
    """A taxpayer calling over the carrier's SIP trunk is answered at once (no DNS wait),
    the keys 1 1 sent as RFC 4733 events walk the 12366 menu to income tax, a seat
    answers, the line hangs up after the seat, and the ledger row has the caller's
    number (from the trunk), the keys, the path, the queue, the seat and the outcome."""
    number = a_number()
    scenario = caller_scenario(number, presses("1 1"), name="纳税人", wait_for_hangup=40)
    run = await run_sipp(sipp, asterisk, scenario, tmp_path / "sipp")
    assert run.code == 0, f"SIPp failed ({run.code}):\n{run.errors}"
    assert len(run.answer) == 1, run.answer
    assert run.answer[0] < ANSWER_WITHIN
    row = await row_of_caller(hotline_service, number)
    assert (row.caller_number, row.caller_name) == (number, "纳税人")
    assert (row.dialplan, row.ivr_path, row.digits) == ("12366", "main>consult", "11")
    assert (row.category, row.topic) == ("consultation", "individual_income_tax")
    assert (row.queue, row.seat, row.outcome, row.end_reason) == (
        "iit", SEAT, "answered", "hangup")
    assert row.talk_seconds is not None
    assert 1.5 <= row.talk_seconds <= 4
    assert not [c for c in live_channels(asterisk) if c.get("Linkedid") == row.linkedid]
    start = datetime.fromisoformat(row.started_at)
    print(f"\nSIP call: answered in {run.answer[0] * 1000:.1f} ms, call {run.length[0]:.2f} s "
          f"after the answer; queued at +{seconds(start, row.queued_at):.2f} s, seat at "
          f"+{seconds(start, row.answered_at):.2f} s, ended at "
          f"+{seconds(start, row.ended_at):.2f} s")
