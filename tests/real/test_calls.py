"""Real calls through the real Asterisk and the YAML dialplans, and their ledger rows.

Most calls dial 12399, the tests' own small dialplan (tests/dialplans/test.yaml: short
prompts and timeouts); one walks the shipped 12366 menu.
"""

from __future__ import annotations

import asyncio
import wave
from datetime import datetime

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path
from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.ledger.store import CallRow
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance
from tests.conftest import ami_action, live_channels

pytestmark = pytest.mark.asterisk
SEAT = "演示座席8001"
TEST_LINE = "12399"


async def call_and_row(service: Service, caller: AmiGateway, call: TestCall) -> CallRow:
    await place_call(caller, call, timeout=60)
    return await wait_for_ledger_row(ledger_path(service.settings), call.linkedid)


def t(stamp: str | None) -> datetime:
    assert stamp is not None
    return datetime.fromisoformat(stamp)


def seconds(a: str | None, b: str | None) -> float:
    return (t(b) - t(a)).total_seconds()


def prompt_seconds(service: Service, dialplan: str, name: str) -> float:
    path = service.prompts.for_dialplan(dialplan).host_dir / f"{name}.wav"
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getnchannels()) == (8000, 1)
        return audio.getnframes() / audio.getframerate()


async def order_for(service: Service, linkedid: str) -> dict[str, object]:
    """The work order made for a call (written just after the call ends)."""
    assert service.calls is not None
    async with asyncio.timeout(5):
        while True:
            for order in await service.calls.orders.listing(status=None, overdue_at=None,
                                                            limit=1000):
                if order["linkedid"] == linkedid:
                    return order
            await asyncio.sleep(0.05)


def assert_no_channels_left(asterisk: Instance, linkedid: str) -> None:
    left = [c for c in live_channels(asterisk) if c.get("Linkedid") == linkedid]
    assert left == [], f"channels of {linkedid} still up: {left}"


async def test_key_1_reaches_a_seat_who_answers(
        hotline_service: Service, caller: AmiGateway, asterisk: Instance) -> None:
    """Key 1 on the test line queues the call to the centre, a seat answers, and the ledger
    row has the caller, path, seat, times and outcome; the talk is timed as precisely as
    the row's times (about 1.7 s, not Asterisk's whole-second TalkTime of 1 or 2)."""
    call = TestCall("13955112345", "纳税人张三", ["1"], extension=TEST_LINE)
    # The simulated seat waits 1.2 s after its Answer(), which itself waits 0.5 s for
    # media that a Local channel never sends: about 1.7 s of talk.
    await caller.set_global("SEAT_TALK_8001", "1.2")
    try:
        row = await call_and_row(hotline_service, caller, call)
    finally:
        await caller.set_global("SEAT_TALK_8001", "")
    assert row.linkedid == call.linkedid
    assert (row.caller_number, row.caller_name) == ("13955112345", "纳税人张三")
    assert (row.digits, row.ivr_path, row.category) == ("1", "main", "consultation")
    assert (row.queue, row.seat, row.seat_group) == ("center", SEAT, "centre")
    assert (row.outcome, row.end_reason, row.state) == ("answered", "hangup", "ended")
    assert (row.dialplan) == TEST_LINE
    assert t(row.started_at) <= t(row.queued_at) <= t(row.answered_at) <= t(row.ended_at)
    assert row.talk_seconds is not None
    assert 1.2 <= row.talk_seconds <= 2.5
    assert abs(row.talk_seconds - round(row.talk_seconds)) > 0.05  # not TalkTime's 1 or 2
    # The seat hangs up; hotline then hangs up the caller at once.
    assert abs(row.talk_seconds - seconds(row.answered_at, row.ended_at)) < 0.1
    assert row.wait_seconds is not None
    assert row.wait_seconds < 3
    assert t(row.started_at).utcoffset() is not None  # times carry their offset (+08:00)
    assert_no_channels_left(asterisk, call.linkedid)


async def test_barge_in_a_key_stops_the_greeting(hotline_service: Service,
                                                 caller: AmiGateway) -> None:
    """A key pressed during the long greeting stops it: the call is queued within 1.5 s."""
    greeting = prompt_seconds(hotline_service, TEST_LINE, "hello")
    assert greeting > 4  # long enough that not waiting for it shows
    row = await call_and_row(hotline_service, caller,
                             TestCall("13955112345", None, ["1"], extension=TEST_LINE))
    assert row.outcome == "answered"
    assert seconds(row.started_at, row.queued_at) < 1.5


async def test_key_0_says_goodbye(hotline_service: Service, caller: AmiGateway,
                                  asterisk: Instance) -> None:
    """Key 0 plays goodbye in full and hangs up, ending in the IVR with no channel left."""
    call = TestCall("055112345678", None, ["0"], extension=TEST_LINE)
    row = await call_and_row(hotline_service, caller, call)
    assert (row.caller_number, row.caller_name) == ("055112345678", None)
    assert row.digits == "0"
    assert (row.queue, row.seat, row.answered_at) == (None, None, None)
    assert (row.outcome, row.end_reason) == ("ended_in_ivr", "hangup")
    # Goodbye is played in full before the hang-up.
    assert seconds(row.started_at, row.ended_at) >= prompt_seconds(
        hotline_service, TEST_LINE, "bye") - 0.2
    assert_no_channels_left(asterisk, call.linkedid)


async def test_no_key_hears_prompts_retries_then_goodbye(hotline_service: Service,
                                                         caller: AmiGateway) -> None:
    """A caller who presses nothing hears every prompt, the retry and goodbye, in the time
    they take."""
    def p(name: str) -> float:
        return prompt_seconds(hotline_service, TEST_LINE, name)

    call = TestCall("13800000000", None, [], extension=TEST_LINE)
    row = await call_and_row(hotline_service, caller, call)
    assert (row.digits, row.queue, row.outcome) == ("", None, "ended_in_ivr")
    # hello, 2 s, "none" + short, 2 s (second attempt: exhausted), bye: every prompt was
    # really played (a missing one would be skipped at once).
    expected = p("hello") + 2 + p("none") + p("short") + 2 + p("bye")
    took = seconds(row.started_at, row.ended_at)
    assert expected - 0.5 <= took <= expected + 3


async def test_caller_hangs_up_in_the_menu(hotline_service: Service,
                                           caller: AmiGateway) -> None:
    """A caller hanging up during the greeting ends the call in the IVR within 2 s."""
    call = TestCall("13900001111", "挂机测试", ["h"], extension=TEST_LINE)
    row = await call_and_row(hotline_service, caller, call)
    assert call.pressed == []
    assert (row.digits, row.queue, row.outcome, row.end_reason) == (
        "", None, "ended_in_ivr", "hangup")
    assert row.caller_name == "挂机测试"
    assert seconds(row.started_at, row.ended_at) < 2  # during the greeting


async def test_caller_hangs_up_while_queued(hotline_service: Service, caller: AmiGateway,
                                            asterisk: Instance) -> None:
    # The seat rings without answering, so the caller is still waiting when they leave.
    """A caller hanging up in the queue is abandoned, with a short wait and no channel
    left."""
    ami_action(asterisk, "Setvar", Variable="SEAT_MODE_8001", Value="noanswer")
    try:
        call = TestCall("13911112222", None, ["1"], hangup_when_queued=True,
                        extension=TEST_LINE)
        row = await call_and_row(hotline_service, caller, call)
    finally:
        ami_action(asterisk, "Setvar", Variable="SEAT_MODE_8001", Value="")
    assert row.digits == "1"
    assert (row.queue, row.seat, row.answered_at) == ("center", None, None)
    assert (row.outcome, row.end_reason) == ("abandoned", "hangup")
    assert row.wait_seconds is not None
    assert 0 <= row.wait_seconds < 3
    assert_no_channels_left(asterisk, call.linkedid)


async def test_a_seat_that_does_not_answer_is_recorded(hotline_service: Service,
                                                      caller: AmiGateway,
                                                      asterisk: Instance) -> None:
    # Queue `quick` rings 8001 then 8003, 2 s each; 8001 does not answer.
    """A seat that rings without answering is recorded, and the next seat answers."""
    ami_action(asterisk, "Setvar", Variable="SEAT_MODE_8001", Value="noanswer")
    try:
        row = await call_and_row(hotline_service, caller,
                                 TestCall("13955112345", None, ["6"], extension=TEST_LINE))
    finally:
        ami_action(asterisk, "Setvar", Variable="SEAT_MODE_8001", Value="")
    assert (row.queue, row.seat, row.outcome) == ("quick", "演示座席8003", "answered")
    assert row.seats_no_answer == SEAT
    assert row.wait_seconds is not None
    assert row.wait_seconds >= 2  # it waited while 8001 rang out


async def test_keys_typed_ahead_between_prompts_are_not_lost(
        hotline_service: Service, caller: AmiGateway) -> None:
    # "2" opens the submenu; "1" is pressed at once, before the submenu listens, while
    # no AGI command reads keys (Asterisk discards it; hotline keeps it from DTMFEnd).
    """Keys typed ahead before the next menu listens are not lost (2 then 1: a
    complaint)."""
    call = TestCall("13955112345", None, ["2", "1"], extension=TEST_LINE, rush=True)
    row = await call_and_row(hotline_service, caller, call)
    assert call.pressed == ["2", "1"]
    assert (row.digits, row.ivr_path, row.category) == ("21", "main>sub", "complaint")
    assert (row.queue, row.outcome) == ("center", "answered")


async def test_transfer_to_another_region_dials_out(hotline_service: Service,
                                                    caller: AmiGateway) -> None:
    """A transfer to another region dials out, is answered there, and is recorded as
    referred."""
    dialed: list[str] = []

    def watch(message: AmiMessage | EventGap) -> None:
        if isinstance(message, AmiMessage) and message.get("DestChannel", "").startswith(
                "Local/02112366@outbound"):
            dialed.append(message.get("DialStatus") or "begin")

    caller.subscribe("dial-watch", ["DialBegin", "DialEnd"], watch)
    call = TestCall("13955112345", None, ["5"], extension=TEST_LINE)
    row = await call_and_row(hotline_service, caller, call)
    # The far end ([outbound] in the sandbox) answered; the caller was connected to it.
    assert dialed[:2] == ["begin", "ANSWER"]
    assert (row.digits, row.queue, row.outcome) == ("5", None, "referred")


async def test_an_information_prompt_returns_to_the_menu(hotline_service: Service,
                                                         caller: AmiGateway) -> None:
    """An information prompt returns to the menu, where key 0 ends the call."""
    call = TestCall("13955112345", None, ["3", "0"], extension=TEST_LINE)
    row = await call_and_row(hotline_service, caller, call)
    assert (row.digits, row.ivr_path, row.outcome) == ("30", "main>main", "ended_in_ivr")


async def test_the_shipped_12366_menu_routes_a_topic_to_its_queue(
        hotline_service: Service, caller: AmiGateway) -> None:
    """The shipped 12366 menu routes keys 1 1 (individual income tax) to the iit queue,
    where a seat answers."""
    call = TestCall("13955112345", "纳税人赵六", ["1", "1"])
    row = await call_and_row(hotline_service, caller, call)
    assert (row.dialplan, row.ivr_path, row.digits) == ("12366", "main>consult", "11")
    assert (row.category, row.topic) == ("consultation", "individual_income_tax")
    assert (row.queue, row.seat, row.outcome) == ("iit", SEAT, "answered")


@pytest.mark.parametrize(("keys", "path", "category", "topic", "queue"), [
    (["2"], "main", "tip_off", None, "tipoff"),
    # Back from consultation, then the operator: going back undid the category.
    (["1", "*", "0"], "main>consult>main", None, None, "center"),
    (["1", "4"], "main>consult", "consultation", "property_and_land", "property"),
])
async def test_the_shipped_12366_menu_records_the_path_walked(
        hotline_service: Service, caller: AmiGateway, keys: list[str], path: str,
        category: str | None, topic: str | None, queue: str) -> None:
    """The ledger row of a call through the shipped menu has the path walked, the keys,
    and the category, topic and queue the menus chose."""
    call = TestCall("055312345678", None, keys)
    row = await call_and_row(hotline_service, caller, call)
    assert (row.ivr_path, row.digits) == (path, "".join(keys))
    assert (row.category, row.topic, row.queue, row.outcome) == (
        category, topic, queue, "answered")
    if category == "tip_off":
        # A tip-off gets its work order at once, to be passed on within 1 working day.
        assert hotline_service.calls is not None
        order = await order_for(hotline_service, call.linkedid)
        assert (order["kind"], order["callback_number"]) == ("tip_off", "055312345678")


async def test_exactly_one_row_per_call(hotline_service: Service) -> None:
    """After all these calls the ledger holds exactly one ended row per call."""
    assert hotline_service.calls is not None
    rows = await hotline_service.calls.ledger.latest(100)
    ids = [r.linkedid for r in rows]
    assert len(ids) == len(set(ids))
    assert all(r.ended_at is not None for r in rows)


async def test_asterisk_restart_hotline_reconnects_and_logs_the_next_call(
        hotline_service: Service, caller: AmiGateway, asterisk: Instance) -> None:
    """After Asterisk restarts, hotline reconnects and records the next call."""
    gateway = hotline_service.gateway
    before = gateway.connections
    await asyncio.to_thread(asterisk.down)
    await asyncio.to_thread(asterisk.up)
    async with asyncio.timeout(20):
        # Polls the gateway's connection counter: there is no event for "a new one".
        while gateway.connections == before or not gateway.connected.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await caller.connected.wait()
    call = TestCall("13955112345", "重启后来电", ["0"], extension=TEST_LINE)
    row = await call_and_row(hotline_service, caller, call)
    assert (row.caller_name, row.digits, row.outcome) == ("重启后来电", "0", "ended_in_ivr")
