"""Queues on the real sandbox, as routing.yaml describes them: a caller of a city who
asks for their region is answered by that city bureau's seat first; a queue nobody
answers ends, after its max_wait, in voicemail or a callback work order.

The queues are the ones hotline wrote into queues.conf from the tests' routing
(tests/conftest.py: routing_for_tests); the calls dial 12399 (tests/dialplans/test.yaml:
7 asks for the region on `property`, 8 and 9 go to `brief` and `brief_cb`, which nobody
answers within their 10 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path
from hotline.features.calls.testcall import TestCall
from hotline.features.seats.desk import SeatDesk
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance
from tests.conftest import queue_members
from tests.real.test_calls import call_and_row, order_for, seconds

pytestmark = pytest.mark.asterisk
TEST_LINE = "12399"
HEFEI_SEAT = "Local/8101@seats/n"


async def until_member(inst: Instance, queue: str, interface: str, present: bool) -> None:
    async with asyncio.timeout(15):
        # Polled through the independent client: there is no event to wait on.
        while (interface in await asyncio.to_thread(queue_members, inst, queue)) != present:  # noqa: ASYNC110
            await asyncio.sleep(0.2)


@pytest.fixture
async def hefei_seat(hotline_service: Service, asterisk: Instance) -> AsyncIterator[SeatDesk]:
    """Hefei's remote seat 8101 logged in and moved into provincial service."""
    calls = hotline_service.calls
    assert calls is not None
    assert calls.routing is not None
    desk = SeatDesk(hotline_service.gateway, calls.ledger, calls.routing, datetime.now)
    for event in ("login", "move_in"):
        await desk.command("8101", event, actor="tester")
    await until_member(asterisk, "property-hefei", HEFEI_SEAT, True)
    yield desk
    for event in ("move_out", "logout"):
        await desk.command("8101", event, actor="tester")
    await until_member(asterisk, "property-hefei", HEFEI_SEAT, False)


async def test_a_hefei_caller_asking_for_the_region_gets_the_hefei_seat_first(
        hotline_service: Service, caller: AmiGateway, asterisk: Instance,
        hefei_seat: SeatDesk) -> None:
    # The centre's seat 8001 is free (and an expert of `property`, where 8101 is not a
    # member): only the region queue can have rung the Hefei seat.
    """A Hefei caller asking for the region is answered by the Hefei remote seat first,
    counted under the queue."""
    assert HEFEI_SEAT not in queue_members(asterisk, "property")
    row = await call_and_row(hotline_service, caller,
                             TestCall("055112345678", None, ["7"], extension=TEST_LINE))
    assert (row.outcome, row.seat, row.seat_group) == ("answered", "合肥远程座席8101", "hefei")
    assert row.queue == "property"  # the region queue counts as its queue in the ledger
    assert row.wait_seconds is not None
    assert row.wait_seconds < 5


async def test_without_the_region_step_or_from_elsewhere_the_centre_answers(
        hotline_service: Service, caller: AmiGateway, hefei_seat: SeatDesk) -> None:
    # The same Hefei caller through an option without prefer_region: the centre.
    """Without the region step, or from a region whose seat is away, the centre answers
    without waiting out region_wait."""
    row = await call_and_row(hotline_service, caller,
                             TestCall("055112345678", None, ["1"], extension=TEST_LINE))
    assert (row.outcome, row.seat_group) == ("answered", "centre")
    # A Wuhu caller asks for the region (`*`: center), but Wuhu's seat is not at work:
    # Asterisk refuses the empty region queue at once and the caller goes on to the queue,
    # without waiting out region_wait.
    row = await call_and_row(hotline_service, caller,
                             TestCall("055312345678", None, ["*"], extension=TEST_LINE))
    assert (row.outcome, row.seat_group, row.queue) == ("answered", "centre", "center")
    assert row.wait_seconds is not None
    assert row.wait_seconds < 5


async def test_nobody_answers_within_max_wait_then_voicemail(
        hotline_service: Service, caller: AmiGateway) -> None:
    # `brief` (max_wait 10 s, on_no_answer: voicemail): its only seat never logs in.
    """When nobody answers within max_wait the caller leaves a voicemail, which becomes a
    work order."""
    call = TestCall("13955112345", "无人接听", ["8", "s", "#"], extension=TEST_LINE)
    row = await call_and_row(hotline_service, caller, call)
    assert row.queue == "brief"
    assert row.answered_at is None
    assert row.wait_seconds is not None
    assert 9 <= row.wait_seconds <= 14
    assert row.voicemail_id is not None  # the caller left a message after the wait
    order = await order_for(hotline_service, call.linkedid)
    assert order["kind"] == "voicemail"


async def test_nobody_answers_within_max_wait_then_a_callback_order(
        hotline_service: Service, caller: AmiGateway) -> None:
    # `brief_cb` (on_no_answer: callback): a work order to call back, then goodbye.
    """When nobody answers within max_wait on a callback queue, a callback work order is
    opened."""
    call = TestCall("13955112346", "请回电", ["9"], extension=TEST_LINE)
    row = await call_and_row(hotline_service, caller, call)
    assert (row.queue, row.answered_at, row.voicemail_id) == ("brief_cb", None, None)
    assert row.end_reason == "hangup"
    order = await order_for(hotline_service, call.linkedid)
    assert (order["kind"], order["status"]) == ("consultation", "open")
    assert "测试回电无人接听，请回电" in str(order["content"])
    assert order["callback_number"] == "13955112346"


async def test_a_queue_closed_by_its_own_hours_is_not_waited_in(
        hotline_service: Service, caller: AmiGateway) -> None:
    # `late` keeps evening hours of its own (calendar_for_tests); at 10:00 it is closed.
    # Its on_no_answer (callback) follows at once instead of a wait of up to 60 s.
    """A queue closed by its own hours is not waited in: the call is after hours and gets a
    callback order."""
    call = TestCall("13955112347", "晚间来电", ["2", "3"], extension=TEST_LINE)
    row = await call_and_row(hotline_service, caller, call)
    assert (row.ivr_path, row.queue, row.queued_at, row.answered_at) == (
        "main>sub", None, None, None)
    assert (row.outcome, row.after_hours, row.end_reason) == ("after_hours", 1, "hangup")
    assert seconds(row.started_at, row.ended_at) < 20
    order = await order_for(hotline_service, call.linkedid)
    assert (order["kind"], order["status"], order["callback_number"]) == (
        "consultation", "open", "13955112347")
    assert "测试晚间专线不在服务时间，请回电" in str(order["content"])


async def test_hotline_queues_shows_today_per_queue_and_seat(
        hotline_service: Service, caller: AmiGateway, asterisk: Instance) -> None:
    """`hotline queues` shows today's figures per queue and seat from the ledger, as JSON
    and as staff read it."""
    import json
    import os
    import sys

    from tests.conftest import REPO, service_env

    row = await call_and_row(hotline_service, caller,
                             TestCall("13955112399", None, ["6"], extension=TEST_LINE))
    assert row.outcome == "answered"
    env = {**os.environ, **service_env(asterisk, ledger_path(hotline_service.settings))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "queues", "--json", env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    queues = {q["queue"]: q for q in json.loads(out)}
    quick = queues["quick"]
    # The ledger's figures for today (Beijing time), whatever Asterisk's counters say.
    assert quick["today"]["offered"] >= 1
    assert quick["today"]["answered"] >= 1
    seats = {s["seat"]: s for s in quick["seats"]}
    assert set(seats) == {"8001", "8003"}
    assert sum(s["answered_today"] for s in seats.values()) >= 1
    assert "center-hefei" not in queues  # region queues count under their queue
    assert queues["center"]["name"] == "综合咨询"

    # As staff read it: the line's day first, then a row per queue.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "queues", env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    first, *rest = out.decode().splitlines()
    assert first.startswith("今日（")
    assert "接通率" in first
    assert any(line.split()[:2] == ["quick", "测试队列"] for line in rest), rest


def test_queue_announcements_are_in_mandarin(hotline_service: Service,
                                             asterisk: Instance) -> None:
    """The centre's queue announces position and expected wait with hotline's Mandarin
    phrases, and Asterisk finds Mandarin numbers for the callers' language zh."""
    import wave

    from hotline.app.wiring import asterisk_files, queue_sounds_from
    from hotline.features.ivr.prompts import NUMBER_WORDS, QUEUE_PHRASES

    phrases, numbers = queue_sounds_from(hotline_service.settings)
    assert numbers is not None
    for folder, names in ((phrases.host_dir, QUEUE_PHRASES), (numbers.host_dir, NUMBER_WORDS)):
        for name in names:
            with wave.open(str(folder / f"{name}.wav")) as audio:
                assert audio.getframerate() == 8000
                assert audio.getnframes() > 1600  # at least 0.2 s of speech
    # Asterisk reads zh numbers from its own sounds folder, language zh.
    assert numbers.host_dir == asterisk.sandbox.root / "usr/share/asterisk/sounds/zh/digits"
    conf = asterisk_files(hotline_service.settings)["queues.conf"]
    center = conf.split("\n[center]\n", 1)[1].split("\n[", 1)[0]
    assert "announce-position = yes" in center
    assert f"queue-thereare = {phrases.asterisk_dir}/thereare" in center
    assert asterisk.host_path(f"{phrases.asterisk_dir}/thereare.wav").is_file()


async def test_members_that_drift_behind_hotline_s_back_are_put_right(
        hotline_service: Service, asterisk: Instance) -> None:
    """Someone removes a logged-in seat from a queue and pauses another directly in
    Asterisk: the routing loop restores what the ledger says within seconds."""
    from tests.conftest import ami_action

    seat = "Local/8003@seats/n"
    reply = ami_action(asterisk, "QueueRemove", Queue="quick", Interface=seat)
    assert reply.get("Message") == "Removed interface from queue", reply
    reply = ami_action(asterisk, "QueuePause", Interface="Local/8001@seats/n",
                       Paused="true", Reason="sneaky")
    assert "paused" in reply.get("Message", "").lower(), reply
    await until_member(asterisk, "quick", seat, True)
    async with asyncio.timeout(15):
        while (await asyncio.to_thread(queue_members, asterisk, "quick"))[  # noqa: ASYNC110
                "Local/8001@seats/n"]["Paused"] != "0":
            await asyncio.sleep(0.2)
    member = queue_members(asterisk, "quick")[seat]
    assert (member["Membership"], member["Penalty"]) == ("dynamic", "5")
