"""Faults, with real SIP callers: hotline killed (kill -9) with about 100 calls in progress
over the carrier's trunk, and started again a few seconds later while calls keep coming
and ending.

SIPp (Debian's sip-tester) plays the carrier (tests/real/test_sip.py's run_sipp): one run
of callers of several kinds (hotline.pbx.sipp.mixed_scenario, each call's number and kind
from an injection file) into the 12366 line: to a seat (key 0: the centre's queue, where
Local seats answer and talk SEAT_TALK_<seat> seconds, then hang up), to income tax (keys
1 1), listening to the menu and hanging up, and giving up while waiting in the queue. At
the kill they are in the menu, waiting in a queue and talking to seats.

hotline runs as a separate process against an Asterisk of this module's own; what is
right for each call is what Asterisk told the test's own AMI connection (AsteriskTruth,
tests/faults/link.py), with Asterisk's own times.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest
import yaml

from hotline.features.calls.testcall import wait_for_ledger_row
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance, find_free_udp_port
from hotline.pbx.sipp import CallerKind, Press, injection, mixed_scenario, presses
from tests.conftest import routing_for_tests
from tests.faults.link import (
    SILENCE_MAX,
    AsteriskTruth,
    CallTruth,
    check,
    check_only_these_rows,
    seats_in_centre,
    seats_logged_in,
)
from tests.real.test_resilience import HotlineProcess
from tests.real.test_sip import SippRun, run_sipp

pytestmark = pytest.mark.asterisk

# Twelve Local seats (Local/85NN@seats/n) in the centre's queue and income tax's, each
# talking TALK seconds: about 2 calls a second, fewer than come, so callers wait.
SEATS = tuple(f"85{n:02d}" for n in range(1, 13))
TALK = 5
KINDS = (
    CallerKind("seat", (Press(0.5, "0"),)),  # the centre's queue; waits for the line
    CallerKind("iit", tuple(presses("1 1", first=0.5, gap=1.0))),  # income tax's queue
    CallerKind("menu", (), hang_up_after=18.0),  # listens to the menu, hangs up
    CallerKind("gives_up", (Press(0.5, "0"),), hang_up_after=12.0),  # leaves the queue
)
MIX = ("seat", "menu", "seat", "gives_up", "menu", "seat", "iit", "menu", "seat", "gives_up")
CALLS = 180
RATE = 6.0  # calls/s: 30 s of calls
IN_PROGRESS = 100  # calls in progress at the kill
DOWN = 3.0  # seconds between the kill and the next run's start


def routing_with_seats(folder: Path) -> Path:
    """The tests' routing with SEATS, in the centre's group, skilled in the centre's queue
    and income tax's."""
    path = routing_for_tests(folder)
    routing = yaml.safe_load(path.read_text(encoding="utf-8"))
    for seat in SEATS:
        routing["seats"][seat] = {"name": f"测试座席{seat}", "group": "centre",
                                  "device": f"Local/{seat}@seats/n",
                                  "skills": {"center": 5, "iit": 5}}
    out = folder / "routing-sip-seats.yaml"
    out.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
    return out


def state_at(call: CallTruth, at: float) -> str:
    """Where the call was at `at` (Asterisk's events up to then)."""
    seen = [event for t, event, _ in call.events if t <= at]
    if not seen:
        return "later"  # not placed yet, or not yet in the dialplan's first step
    if "Hangup" in seen:
        return "ended"
    if "AgentConnect" in seen:
        return "talking"
    if "QueueCallerJoin" in seen:
        return "queued"
    return "menu"


def in_progress(truth: AsteriskTruth) -> int:
    return sum(call.ended is None for call in truth.calls.values())


async def test_kill_9_with_100_sip_calls_in_progress_loses_no_call_and_no_caller_waits(
        gateway: AmiGateway, own_asterisk: Instance, sipp: str, tmp_path: Path) -> None:
    """180 SIP calls over the trunk at 6/s; hotline killed (kill -9) once 100 are in
    progress (in the menu, in a queue, talking to a seat), started again 3 s later while
    calls keep coming and ending: every SIPp call completes (0 failed), every call has
    exactly one ledger row, with its caller's number, whose outcome, queue, seat and talk
    (within 1 s) are Asterisk's; no answered caller was queued twice; no caller heard
    more than 2 s of silence (Asterisk's events: out of an AGI command, a queue and a
    seat); and every caller in the menu at the kill was in a queue within 2 s (the
    centre's, or the one hotline had already sent it to)."""
    ledger = tmp_path / "ledger.sqlite3"
    await seats_logged_in(ledger, SEATS)
    for seat in SEATS:
        await gateway.set_global(f"SEAT_TALK_{seat}", str(TALK))
    routing = routing_with_seats(tmp_path)
    env = {"HOTLINE_ROUTING_PATH": str(routing)}
    truth = AsteriskTruth(gateway)
    plan = [(f"1395530{n:04d}", MIX[n % len(MIX)]) for n in range(CALLS)]
    folder = tmp_path / "sipp"
    folder.mkdir()
    (folder / "calls.csv").write_text(injection(plan), encoding="utf-8")
    first = HotlineProcess(own_asterisk, ledger, env)
    second: HotlineProcess | None = None
    run: asyncio.Task[SippRun] | None = None
    try:
        await first.wait_for("calls.resynced")
        await seats_in_centre(own_asterisk, SEATS)
        started = time.time()
        run = asyncio.create_task(run_sipp(
            sipp, own_asterisk, mixed_scenario(KINDS, wait_for_hangup=100), folder,
            calls=CALLS, rate=RATE, timeout=120,
            extra=("-inf", str(folder / "calls.csv"), "-mp", str(find_free_udp_port() & ~1))))
        async with asyncio.timeout(CALLS / RATE + 10):
            while in_progress(truth) < IN_PROGRESS:
                assert not run.done(), run.result()
                truth.changed.clear()
                await truth.changed.wait()
        killed = time.time()
        first.kill()
        await asyncio.sleep(DOWN)
        second = HotlineProcess(own_asterisk, ledger, env)
        await second.wait_for("calls.resynced", timeout=30)
        restarted = time.time()
        result = await run
        assert result.code == 0, f"SIPp: failed calls ({result.code}):\n{result.errors}"

        at_kill = {lid: state_at(call, killed) for lid, call in truth.calls.items()}
        states = {s: list(at_kill.values()).count(s) for s in sorted(set(at_kill.values()))}
        print(f"\n{len(truth.calls)} calls; hotline killed {killed - started:.1f} s after the "
              f"first, back (resynced) {restarted - killed:.1f} s after the kill; at the "
              f"kill: {states}; load {os.getloadavg()[0]:.1f}")
        assert len(truth.calls) == CALLS, len(truth.calls)
        for state in ("menu", "queued", "talking"):
            assert states.get(state, 0) > 0, states

        rows = {lid: await wait_for_ledger_row(ledger, lid, timeout=20) for lid in truth.calls}
        roles = [(f"{at_kill[lid]}-at-kill", lid) for lid in truth.calls]
        report = check(roles, rows, truth, killed)
        problems = [line for line in report if line.startswith("WRONG")]
        print("\n".join(problems[:20]))
        await check_only_these_rows(ledger, set(truth.calls))
        assert sorted(row.caller_number or "" for row in rows.values()) == sorted(
            number for number, _ in plan)

        # The callers in the menu at the kill: in a queue within SILENCE_MAX (or gone).
        kind_of = dict(plan)
        late: list[float] = []
        slowest: list[tuple[float, str]] = []  # shown: what the slowest were doing
        for lid, state in at_kill.items():
            if state != "menu":
                continue
            call = truth.of(lid)
            joined = [(t, h.get("Queue")) for t, event, h in call.events
                      if event == "QueueCallerJoin" and t > killed]
            if joined:
                late.append(joined[0][0] - killed)
                doing = [f"{event} {h.get('Command', '')[:30]} {t - killed:+.3f}"
                         for t, event, h in call.events if killed - 10 < t <= joined[0][0]]
                slowest.append((late[-1], "; ".join(doing[-4:])))
                want = {"center", "iit"} if kind_of[rows[lid].caller_number or ""] == "iit" \
                    else {"center"}
                if joined[0][1] not in want:
                    problems.append(f"WRONG {lid}: in the menu at the kill, then in "
                                    f"{joined[0][1]}")
            elif call.ended is None or call.ended - killed > SILENCE_MAX:
                problems.append(f"WRONG {lid}: in the menu at the kill, never queued, ended "
                                f"{call.ended and call.ended - killed} s after it")
        for seconds, what in sorted(slowest, reverse=True)[:3]:
            print(f"  in a queue {seconds:.3f} s after the kill: {what}")
        # Asterisk's ANSWER waits up to 500 ms for the caller's first media frame.
        others = [seconds for seconds, what in slowest if "ANSWER +" not in what]
        print(f"  those not answering at the kill: in a queue within "
              f"{max(others, default=0):.3f} s ({len(others)})")
        quiet = sorted(((s, lid) for lid in truth.calls for s in truth.of(lid).silences()),
                       key=lambda found: -found[0][1])
        for (start, seconds, after), lid in quiet[:3]:
            print(f"  silent {seconds:.3f} s from {start - killed:+.3f} s after the kill "
                  f"(after {after}), a call {at_kill[lid]} at the kill")
        log = second.log.read_text()
        print(f"the next run adopted {log.count('calls.adopted_from_earlier_run')} calls and "
              f"completed {log.count('calls.completed_from_asterisk_record')} from Asterisk's "
              "record")
        print(f"in the menu at the kill: {len(late)} in a queue after "
              f"{min(late, default=0):.3f}-{max(late, default=0):.3f} s; longest silence of "
              f"any caller {quiet[0][0][1] if quiet else 0:.3f} s; {len(rows)} rows, "
              f"{len(problems)} wrong")
        assert late
        assert max(late) <= SILENCE_MAX, late
        assert not problems, "\n".join(problems)
    finally:
        if run is not None and not run.done():
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
        for seat in SEATS:
            await gateway.set_global(f"SEAT_TALK_{seat}", "")
        first.stop()
        if second is not None:
            second.stop()
        truth.close()
