"""Seats on real SIP phones: Debian's baresip registered as seat 8001 (PJSIP/8001) of
the line, answering by itself, driven over its ctrl_tcp module (tests/baresip.py), and
SIPp calling over the carrier's trunk through the 12366 menu (keys 1 1: income tax).

One Asterisk, one hotline service and one phone serve the module; its tests run in
order (the phone answers, then unregisters, then vanishes). Seat 8001 is the income-tax
expert (rings first); seat 8002 (a Local demo seat that answers) takes the income-tax
calls 8001 cannot. Audio is counted as RTP packets on both legs, by Asterisk (`pjsip
show channelstats`: what each leg received and sent) and by baresip itself (its RTP
statistics at the end of the call).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from hotline.app.service import Service
from hotline.app.settings import load_settings
from hotline.app.wiring import asterisk_files
from hotline.pbx.pjsip_conf import QUALIFY_SECONDS, QUALIFY_TIMEOUT
from hotline.pbx.sandbox import Instance, Sandbox, find_free_port, find_free_udp_port
from hotline.pbx.sipp import caller_scenario, presses, tone_pcap
from tests.baresip import Phone, baresip_path, write_tone
from tests.conftest import REPO, ami_client, queue_members, service_env
from tests.real.test_sip import a_number, row_of_caller, run_sipp, seconds

pytestmark = pytest.mark.asterisk

PHONE = "8001"
PHONE_SEAT = "话机座席8001"
OTHER_SEAT = "演示座席8002"
DEVICE = f"PJSIP/{PHONE}"
# A phone that stops answering is unavailable once a qualify ping of it times out: at
# most a qualify period and its timeout after it vanished, plus the moment device state
# takes to reach the queue.
OUT_OF_SERVICE_WITHIN = QUALIFY_SECONDS + QUALIFY_TIMEOUT + 1.0
# The caller's audio: a tone longer than any call here (SIPp stops it at the hang-up).
CALLER_AUDIO_SECONDS = 40


@pytest.fixture(scope="module")
def baresip() -> str:
    path = baresip_path()
    if path is None:
        if os.environ.get("HOTLINE_REQUIRE_ASTERISK") == "1":
            pytest.fail("baresip is not installed (Debian package baresip-core; .ci/run "
                        "installs it)")
        pytest.skip("baresip is not installed (apt-get install baresip-core)")
    return path


@dataclass
class Line:
    inst: Instance
    service: Service
    folder: Path


@pytest.fixture(scope="module")
def phone_instance(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory,
                   ) -> Iterator[tuple[Instance, dict[str, str], Path]]:
    """An Asterisk of this module's own (its FastAGI port serves this module's hotline)
    whose routing has seat 8001 on a SIP phone of its own, the income-tax expert."""
    inst = sandbox.instance(f"test-sipseat-{os.getpid()}", find_free_port(), find_free_port(),
                            find_free_udp_port(), f"127.0.0.1:{find_free_udp_port()}",
                            wss_port=find_free_port())
    folder = tmp_path_factory.mktemp("sipseat")
    env = service_env(inst, folder / "ledger.sqlite3")
    routing_path = Path(env["HOTLINE_ROUTING_PATH"])
    routing = yaml.safe_load(routing_path.read_text(encoding="utf-8"))
    seat = routing["seats"][PHONE]
    seat["name"] = PHONE_SEAT
    seat["device"] = DEVICE
    seat["skills"]["iit"] = 9  # rings before 8002 (7)
    routing_path.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
    inst.up(generated=asterisk_files(load_settings(REPO / "config" / "hotline.yaml", env)))
    yield inst, env, folder
    inst.down()
    shutil.rmtree(inst.dir, ignore_errors=True)


@pytest.fixture(scope="module")
async def line(phone_instance: tuple[Instance, dict[str, str], Path]) -> AsyncIterator[Line]:
    """hotline on that Asterisk, with seats 8001 (the phone) and 8002 logged in."""
    inst, env, folder = phone_instance
    service = Service(load_settings(REPO / "config" / "hotline.yaml", env),
                      login_seats=(PHONE, "8002"))
    task = asyncio.create_task(service.run())
    async with asyncio.timeout(15):
        await service.fully_booted.wait()
        await service.gateway.wait_connected()
        # The routing loop adds both seats to income tax (polled: no event to wait on).
        while not {DEVICE, "Local/8002@seats/n"} <= set(queue_members(inst, "iit")):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    yield Line(inst, service, folder)
    service.stop()
    async with asyncio.timeout(10):
        await task


@pytest.fixture(scope="module")
async def phone(line: Line, baresip: str) -> AsyncIterator[Phone]:
    """baresip registered as seat 8001's phone, with the seat's password as the sandbox
    keeps it; it answers every call by itself and sends a 600 Hz tone."""
    tone = write_tone(line.folder / "seat-tone.wav")
    found = Phone(baresip, line.folder / "baresip", PHONE, line.inst.sip_secret(PHONE),
                  f"127.0.0.1:{line.inst.sip_port}", tone)
    await found.start()
    yield found
    await found.stop()


@pytest.fixture(scope="module")
def caller_audio(line: Line) -> str:
    path = line.folder / "caller-tone.pcap"
    path.write_bytes(tone_pcap(CALLER_AUDIO_SECONDS))
    return str(path)


def member_status(inst: Instance) -> str | None:
    """app_queue's view of the phone seat in income tax: 1 not in use, 5 unavailable."""
    return queue_members(inst, "iit").get(DEVICE, {}).get("Status")


async def until_status(inst: Instance, status: str, timeout: float) -> float:
    """Seconds until the phone seat's member status is `status`."""
    start = time.monotonic()
    while member_status(inst) != status:
        assert time.monotonic() - start < timeout, (
            f"the phone seat is {member_status(inst)}, not {status}, after {timeout} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


@dataclass(frozen=True)
class LegStats:
    received: int
    sent: int


def channel_stats(inst: Instance) -> dict[str, LegStats]:
    """RTP packets each PJSIP channel received and sent so far, by endpoint (`pjsip show
    channelstats`: ChannelId, uptime, codec, then receive count, lost, %, jitter,
    transmit count, ...)."""
    found: dict[str, LegStats] = {}
    for line in inst.cli("pjsip show channelstats").splitlines():
        fields = line.split()
        if len(fields) >= 9 and "-" in fields[1] and fields[4].isdigit():
            found[fields[1].rsplit("-", 1)[0]] = LegStats(int(fields[4]), int(fields[8]))
    return found


def phone_rtp_totals(log: str) -> tuple[int, int]:
    """The packets baresip sent and received in its last call (its RTP summary, printed
    at the call's end: `packets:  <transmit>  <receive>`)."""
    lines = [line.split() for line in log.splitlines() if line.startswith("packets:")]
    assert lines, "baresip printed no RTP summary"
    return int(lines[-1][1]), int(lines[-1][2])


async def wallboard_seat(service: Service, seat: str) -> dict[str, Any]:
    assert service.web is not None
    assert service.web.url is not None
    async with aiohttp.ClientSession() as http, http.get(
            service.web.url + "api/status") as response:
        assert response.status == 200
        data = await response.json()
    [row] = [s for s in data["seats"] if s["seat"] == seat]
    return dict(row)


async def test_a_seat_phone_answers_a_trunk_call_with_audio_both_ways(
        line: Line, phone: Phone, sipp: str, caller_audio: str, tmp_path: Path) -> None:
    """A taxpayer calling over the trunk walks the 12366 menu with RFC 4733 keys (1 1) to
    income tax, each key ending as it was sent though the caller also sends audio; the
    seat's registered phone rings and answers by itself; while they talk, RTP flows both
    ways on both legs (the caller's tone reaches the phone, the phone's tone reaches the
    caller); the phone's RFC 4733 key reaches Asterisk and goes on to the caller; the seat
    hangs up on its phone, and the ledger row says answered, income tax, the phone's
    seat, and the talk time the phone was up."""
    inst = line.inst
    assert member_status(inst) == "1"
    keys: list[dict[str, str]] = []
    watcher = ami_client(inst)  # the independent client: a second opinion
    begun: list[float] = []  # when the caller's keys began, as Asterisk stamped them

    def on_event(event: Any, **_: Any) -> None:
        if event.name == "DTMFEnd":
            keys.append(dict(event.keys))
        elif event.name == "DTMFBegin" and event.keys.get("Direction") == "Received" and \
                event.keys.get("Channel", "").startswith("PJSIP/carrier"):
            begun.append(float(event.keys["Timestamp"]))

    watcher.add_event_listener(on_event)
    number = a_number()
    scenario = caller_scenario(number, presses("1 1", first=0.5, gap=1.0), name="纳税人",
                               wait_for_hangup=40, audio=caller_audio)
    sipp_run = asyncio.create_task(run_sipp(sipp, inst, scenario, tmp_path / "sipp"))
    # With auto-answer baresip 1.0 reports no CALL_INCOMING: the call is up at once.
    answered = await phone.wait_event("CALL_ESTABLISHED", timeout=30)
    up_at = time.monotonic()
    await asyncio.sleep(0.5)  # the media settles
    first = channel_stats(inst)
    await asyncio.sleep(2.0)
    second = channel_stats(inst)
    await phone.command("sndcode", "5")
    await asyncio.sleep(0.5)
    hung_up_at = time.monotonic()
    await phone.command("hangup")
    held = hung_up_at - up_at
    run = await sipp_run
    watcher.logoff()
    # The caller's keys each ended as sent (100 ms): the caller's audio cut neither short.
    # The phone's key came in on the seat's leg and went on to the caller.
    assert [(k["Channel"].split("-")[0], k["Digit"], k["Direction"]) for k in keys] == [
        ("PJSIP/carrier", "1", "Received"), ("PJSIP/carrier", "1", "Received"),
        (DEVICE, "5", "Received"), ("PJSIP/carrier", "5", "Sent")], keys
    lasted = [float(k["Timestamp"]) - start for k, start in zip(keys[:2], begun, strict=True)]
    assert max(lasted) < 0.5, lasted
    assert run.code == 0, f"SIPp failed ({run.code}):\n{run.errors}"
    assert f"sip:{number}@" in str(answered.get("peeruri")), answered
    carrier = LegStats(second["carrier"].received - first["carrier"].received,
                       second["carrier"].sent - first["carrier"].sent)
    seat = LegStats(second[PHONE].received - first[PHONE].received,
                    second[PHONE].sent - first[PHONE].sent)
    # 2 s of 20 ms packets: 100 each way on each leg (some slack for the machine's load).
    assert carrier.received >= 80, f"the caller's audio did not reach Asterisk: {carrier}"
    assert seat.sent >= 80, f"the caller's audio did not go on to the phone: {seat}"
    assert seat.received >= 80, f"the phone's audio did not reach Asterisk: {seat}"
    assert carrier.sent >= 80, f"the phone's audio did not go on to the caller: {carrier}"
    await asyncio.sleep(0.3)  # baresip prints its summary as the call closes
    sent, received = phone_rtp_totals(phone.log.read_text(errors="replace"))
    assert sent >= 100, (sent, received)
    assert received >= 100, (sent, received)

    row = await row_of_caller(line.service, number)
    assert (row.caller_number, row.caller_name) == (number, "纳税人")
    assert (row.digits, row.queue, row.seat, row.outcome) == ("11", "iit", PHONE_SEAT,
                                                              "answered")
    assert row.talk_seconds is not None
    assert abs(row.talk_seconds - held) <= 1.0, (row.talk_seconds, held)
    assert not phone.password_in_log()
    start = datetime.fromisoformat(row.started_at)
    print(f"\nphone seat: trunk call answered in {run.answer[0] * 1000:.0f} ms; queued at "
          f"+{seconds(start, row.queued_at):.2f} s, the phone answered at "
          f"+{seconds(start, row.answered_at):.2f} s; RTP in 2 s of talk: caller leg "
          f"in {carrier.received} / out {carrier.sent}, phone leg in {seat.received} / out "
          f"{seat.sent}; baresip sent {sent}, received {received}; talk "
          f"{row.talk_seconds:.2f} s (held {held:.2f} s)")


def contacts(inst: Instance) -> list[str]:
    """The phone's registered contacts with their status (Avail, Unavail, ...)."""
    out = inst.cli(f"pjsip show aor {PHONE}")
    return [" ".join(line.split()[1:2] + line.split()[3:4]) for line in out.splitlines()
            if line.strip().startswith("Contact:") and "<Aor/ContactUri" not in line]


async def until_wallboard(service: Service, status: str, timeout: float = 10.0,
                          ) -> dict[str, Any]:
    """The phone seat's row on the wallboard once it shows `status`."""
    deadline = time.monotonic() + timeout
    while True:
        row = await wallboard_seat(service, PHONE)
        if row["status"] == status:
            return row
        assert time.monotonic() < deadline, f"the wallboard shows {row['status']}: {row}"
        await asyncio.sleep(0.2)


async def test_a_phone_that_unregisters_is_taken_out_of_service(
        line: Line, phone: Phone, sipp: str, tmp_path: Path) -> None:
    """A seat's phone that unregisters mid-shift (the seat is still logged in) is
    unavailable to its queues at once, the wallboard shows the seat's phone offline
    (话机不在线), and the next income-tax call goes to the other seat (8002) without
    ringing the phone; registered again, the seat is free and shown so."""
    inst = line.inst
    assert member_status(inst) == "1"
    started = time.monotonic()
    await phone.command("uadel", f"sip:{PHONE}@{phone.server}")
    out_after = await until_status(inst, "5", timeout=5)
    assert contacts(inst) == []  # unregistered: the contact is gone, not just unreachable
    row = await until_wallboard(line.service, "话机不在线")
    shown_after = time.monotonic() - started
    assert (row["logged_in"], row["phone_offline"]) == (True, True)
    assert row["device_state"] == "unavailable"
    seen = len(phone.seen)

    number = a_number()
    scenario = caller_scenario(number, presses("1 1", first=0.5, gap=1.0), wait_for_hangup=40)
    run = await run_sipp(sipp, inst, scenario, tmp_path / "sipp")
    assert run.code == 0, f"SIPp failed ({run.code}):\n{run.errors}"
    call = await row_of_caller(line.service, number)
    assert (call.queue, call.seat, call.outcome) == ("iit", OTHER_SEAT, "answered")
    assert call.seats_no_answer == ""  # the phone was not rung first
    assert phone.seen[seen:] == []

    await phone.stop()  # baresip has no user agent left: a new one registers
    await phone.start()
    await until_status(inst, "1", timeout=5)
    row = await until_wallboard(line.service, "空闲")
    assert row["phone_offline"] is False
    print(f"\nunregistered phone: unavailable to the queue after {out_after:.2f} s, shown "
          f"offline on the wallboard after {shown_after:.2f} s; the next call went to "
          f"{call.seat}")


async def test_a_phone_that_vanishes_is_taken_out_of_service_by_qualify(
        line: Line, phone: Phone) -> None:
    """A seat's phone that vanishes without unregistering (baresip killed) stays
    registered, but Asterisk's qualify pings find it gone: the seat is unavailable to
    its queues within a qualify period and its timeout, and shown offline."""
    inst = line.inst
    assert member_status(inst) == "1"
    phone.kill()
    out_after = await until_status(inst, "5", timeout=OUT_OF_SERVICE_WITHIN + 5)
    assert out_after <= OUT_OF_SERVICE_WITHIN, out_after
    [contact] = contacts(inst)
    assert contact.endswith("Unavail"), contact  # still registered, found unreachable
    await until_wallboard(line.service, "话机不在线")
    print(f"\nvanished phone: unavailable to the queue after {out_after:.2f} s (qualify "
          f"every {QUALIFY_SECONDS} s, timeout {QUALIFY_TIMEOUT} s)")
