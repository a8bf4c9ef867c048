"""Real SIP calls: SIPp (Debian's sip-tester) calls the line over the sandbox's carrier
trunk, with RFC 4733 DTMF, through the shipped 12366 menu to a (Local) demo seat.

SIPp sends from the trunk's address and port (tests/conftest.py gives every test
Asterisk its own), so pjsip.conf identifies it as the carrier. It hears no prompt: the
keys are timed from the answer (hotline.pbx.sipp). SIPp's play_dtmf needs a raw socket:
root, as the sandbox itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from hotline.app.service import Service
from hotline.app.settings import load_settings
from hotline.app.wiring import asterisk_files
from hotline.ledger.store import CallRow
from hotline.pbx.sandbox import Instance, Sandbox, find_free_port, find_free_udp_port
from hotline.pbx.sipp import caller_scenario, presses, register_scenario
from tests.cli import hotline
from tests.conftest import REPO, ami_action, live_channels, queue_members, service_env

pytestmark = pytest.mark.asterisk
SEAT = "演示座席8001"
# An answer that waited on DNS inside the chroot took ~22 s; a healthy one takes a few
# tens of ms (hotline's FastAGI answers the call).
ANSWER_WITHIN = 1.0


@dataclass
class SippRun:
    code: int
    answer: list[float]  # seconds from INVITE to 200, per call
    length: list[float]  # seconds from the answer to the end of the call, per call
    errors: str


async def run_sipp(sipp: str, inst: Instance, scenario: str, folder: Path, *,
                   calls: int = 1, rate: float = 1.0, timeout: float = 60.0,
                   port: int | None = None, extra: tuple[str, ...] = ()) -> SippRun:
    """Run SIPp as the carrier (from the trunk's address and port; `port`: from that port
    instead, as a phone) to the instance's SIP port; returns its exit status and the
    response times it traced."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "caller.xml"
    path.write_text(scenario, encoding="utf-8")
    address, _, trunk_port = inst.sip_trunk.partition(":")
    port = port or int(trunk_port)
    proc = await asyncio.create_subprocess_exec(
        sipp, f"127.0.0.1:{inst.sip_port}", "-sf", str(path), "-i", address, "-p", str(port),
        "-m", str(calls), "-r", str(rate), "-l", str(max(calls, 1)), "-nostdin",
        "-trace_err", "-trace_rtt", "-rtt_freq", "1",
        "-timeout", f"{timeout:g}s", "-timeout_error", *extra,
        cwd=folder, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await proc.communicate()
    except asyncio.CancelledError:  # the test is done with it: no SIPp left behind
        proc.kill()
        await proc.wait()
        raise
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
    # Both greetings last over 10 s: the keys land in them whatever the machine's load.
    scenario = caller_scenario(number, presses("1 1", first=0.5, gap=1.0), name="纳税人",
                               wait_for_hangup=40)
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


async def test_a_call_without_caller_id_is_recorded_without_a_number(
        hotline_service: Service, asterisk: Instance, sipp: str, tmp_path: Path) -> None:
    """A caller who withholds their number arrives over the trunk as RFC 3323's anonymous
    (From "Anonymous" <sip:anonymous@anonymous.invalid>, no P-Asserted-Identity): the
    ledger row has no number and no name, not `anonymous`/`Anonymous`."""
    assert hotline_service.calls is not None
    before = {r.linkedid for r in await hotline_service.calls.ledger.latest(500)}
    scenario = caller_scenario(None, presses("1 1", first=0.5, gap=1.0), wait_for_hangup=40)
    run = await run_sipp(sipp, asterisk, scenario, tmp_path / "sipp")
    assert run.code == 0, f"SIPp failed ({run.code}):\n{run.errors}"
    deadline = time.monotonic() + 10
    while True:
        rows = [r for r in await hotline_service.calls.ledger.latest(500)
                if r.linkedid not in before and r.dialplan == "12366"
                and r.ended_at is not None]
        if rows:
            break
        assert time.monotonic() < deadline, "no ledger row for the anonymous call"
        await asyncio.sleep(0.05)
    [row] = rows
    assert (row.caller_number, row.caller_name) == (None, None)
    assert (row.digits, row.queue, row.seat, row.outcome) == ("11", "iit", SEAT, "answered")


# -- a seat's own phone ----------------------------------------------------------------------

PHONE_SEAT = "8005"


@pytest.fixture(scope="module")
def phone_asterisk(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory,
                   ) -> Iterator[tuple[Instance, dict[str, str]]]:
    """An Asterisk of this module's own whose routing has a seat on a SIP phone of its own
    (PJSIP/8005, in the tests' queue brief), with the settings that name it."""
    inst = sandbox.instance(f"test-sipphone-{os.getpid()}", find_free_port(), find_free_port(),
                            find_free_udp_port(), f"127.0.0.1:{find_free_udp_port()}",
                            wss_port=find_free_port())
    folder = tmp_path_factory.mktemp("sipphone")
    env = service_env(inst, folder / "ledger.sqlite3")
    routing_path = Path(env["HOTLINE_ROUTING_PATH"])
    routing = yaml.safe_load(routing_path.read_text(encoding="utf-8"))
    routing["seats"][PHONE_SEAT] = {"name": "话机座席8005", "group": "centre",
                                    "device": f"PJSIP/{PHONE_SEAT}", "skills": {"brief": 5}}
    routing_path.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
    inst.up(generated=asterisk_files(load_settings(REPO / "config" / "hotline.yaml", env)))
    yield inst, env
    inst.down()
    shutil.rmtree(inst.dir, ignore_errors=True)


def member_status(inst: Instance) -> str:
    """app_queue's view of the phone seat in `brief`: 1 not in use, 5 unavailable."""
    return queue_members(inst, "brief")[f"PJSIP/{PHONE_SEAT}"]["Status"]


def contacts(inst: Instance) -> list[str]:
    out = inst.cli(f"pjsip show aor {PHONE_SEAT}")
    return [line.split()[1] for line in out.splitlines()
            if line.strip().startswith("Contact:") and "<Aor/ContactUri" not in line]


async def test_a_seat_phone_registers_with_the_password_the_sandbox_prints(
        phone_asterisk: tuple[Instance, dict[str, str]], sipp: str, tmp_path: Path) -> None:
    """`hotline sandbox sip` prints the seat's server, port, user and password (the
    password only on request when the output is not a terminal); a phone registers with
    them, a wrong password is refused, one contact is kept (a phone registering again from
    elsewhere replaces it), and the queue sees the seat available only while registered."""
    inst, env = phone_asterisk
    hidden = hotline("sandbox", "sip", env=env)
    assert hidden.returncode == 0, hidden.stderr
    password = inst.sip_secret(PHONE_SEAT)
    assert password not in hidden.stdout
    assert "not shown" in hidden.stdout
    shown = hotline("sandbox", "sip", PHONE_SEAT, "--show-password", env=env)
    assert f"server:   127.0.0.1:{inst.sip_port}, UDP" in shown.stdout
    assert f"user:     {PHONE_SEAT}" in shown.stdout
    assert f"password: {password}" in shown.stdout
    assert f"from {inst.sip_trunk}" in shown.stdout
    reply = ami_action(inst, "QueueAdd", Queue="brief", Interface=f"PJSIP/{PHONE_SEAT}")
    assert reply.get("Message") == "Added interface to queue", reply
    assert member_status(inst) == "5"  # no phone registered: unavailable
    assert contacts(inst) == []

    async def register(secret: str, port: int, expect: int, expires: int = 120,
                       stay: float = 0.0) -> None:
        run = await run_sipp(sipp, inst, register_scenario(
            PHONE_SEAT, secret, expires=expires, expect=expect, stay=stay),
            tmp_path / f"reg-{port}", port=port, timeout=stay + 10, extra=("-aa",))
        assert run.code == 0, f"SIPp failed ({run.code}):\n{run.errors}"

    async def until(what: Callable[[], object], value: object) -> None:
        deadline = time.monotonic() + 5  # Asterisk's device state follows in a moment
        while what() != value:
            assert time.monotonic() < deadline, f"{what.__name__}: {what()} != {value}"
            await asyncio.sleep(0.1)

    await register("wrong-password", find_free_udp_port(), 401)
    assert contacts(inst) == []
    first, second = find_free_udp_port(), find_free_udp_port()
    # The first phone stays up, answering Asterisk's OPTIONS, as a live phone does.
    phone = asyncio.create_task(register(password, first, 200, stay=30))
    try:
        await until(lambda: [c.endswith(f":{first}") for c in contacts(inst)], [True])
        await until(lambda: member_status(inst), "1")  # registered: the queue may ring it
        await register(password, second, 200)
        assert [c.endswith(f":{second}") for c in contacts(inst)] == [True]
        await register(password, second, 200, expires=0)  # the phone unregisters
        assert contacts(inst) == []
        await until(lambda: member_status(inst), "5")
    finally:
        phone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await phone


async def test_a_routing_reload_adds_a_seat_phone_to_the_running_asterisk(
        phone_asterisk: tuple[Instance, dict[str, str]]) -> None:
    """A seat given a phone of its own in routing.yaml can register once the service has
    reloaded it: pjsip.conf is rewritten and re-read, with no restart."""
    inst, env = phone_asterisk
    routing_path = Path(env["HOTLINE_ROUTING_PATH"])
    service = Service(load_settings(REPO / "config" / "hotline.yaml", env))
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(15):
            await service.fully_booted.wait()
        assert "8006" not in inst.cli("pjsip show endpoints")
        routing = yaml.safe_load(routing_path.read_text(encoding="utf-8"))
        routing["seats"]["8006"] = {"name": "话机座席8006", "group": "centre",
                                    "device": "PJSIP/8006", "skills": {"brief": 5}}
        routing_path.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
        assert await service.reload()
        out = inst.cli("pjsip show endpoint 8006")
        assert "Endpoint:  8006" in out
        assert "8006/8006" in out  # its auth
    finally:
        service.stop()
        async with asyncio.timeout(10):
            await task
