"""Real calls through the real Asterisk: each branch of the first menu, and its ledger row."""

from __future__ import annotations

import asyncio
import wave
from datetime import datetime
from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.app.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.app.wiring import ledger_path
from hotline.ledger.store import CallRow
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance
from tests.conftest import ami_action, live_channels

pytestmark = pytest.mark.asterisk
SEAT = "演示座席8001"


async def call_and_row(service: Service, caller: AmiGateway, call: TestCall) -> CallRow:
    await place_call(caller, call, timeout=60)
    return await wait_for_ledger_row(ledger_path(service.settings), call.linkedid)


def t(stamp: str | None) -> datetime:
    assert stamp is not None
    return datetime.fromisoformat(stamp)


def assert_no_channels_left(asterisk: Instance, linkedid: str) -> None:
    left = [c for c in live_channels(asterisk) if c.get("Linkedid") == linkedid]
    assert left == [], f"channels of {linkedid} still up: {left}"


async def test_key_1_reaches_a_seat_who_answers(
        hotline_service: Service, caller: AmiGateway, asterisk: Instance) -> None:
    call = TestCall("13955112345", "纳税人张三", ["1"])
    row = await call_and_row(hotline_service, caller, call)
    assert row.linkedid == call.linkedid
    assert (row.caller_number, row.caller_name) == ("13955112345", "纳税人张三")
    assert row.digits == "1"
    assert (row.queue, row.seat) == ("center", SEAT)
    assert (row.outcome, row.end_reason, row.state) == ("answered", "hangup", "ended")
    assert t(row.started_at) <= t(row.queued_at) <= t(row.answered_at) <= t(row.ended_at)
    # The simulated seat talks for 2 s (SEAT_TALK default in [seats]).
    assert row.talk_seconds is not None
    assert 1.5 <= row.talk_seconds <= 4
    assert row.wait_seconds is not None
    assert row.wait_seconds < 3
    assert t(row.started_at).utcoffset() is not None  # times carry their offset (+08:00)
    assert_no_channels_left(asterisk, call.linkedid)


async def test_key_0_says_goodbye(hotline_service: Service, caller: AmiGateway,
                                  asterisk: Instance) -> None:
    call = TestCall("055112345678", None, ["0"])
    row = await call_and_row(hotline_service, caller, call)
    assert (row.caller_number, row.caller_name) == ("055112345678", None)
    assert row.digits == "0"
    assert (row.queue, row.seat, row.answered_at) == (None, None, None)
    assert (row.outcome, row.end_reason) == ("ended_in_ivr", "hangup")
    assert_no_channels_left(asterisk, call.linkedid)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getnchannels()) == (8000, 1)
        return audio.getnframes() / audio.getframerate()


async def test_no_key_hears_the_whole_welcome_then_goodbye(hotline_service: Service,
                                                           caller: AmiGateway) -> None:
    assert hotline_service.calls is not None
    prompts = hotline_service.calls.prompts.host_dir
    welcome, goodbye = wav_seconds(prompts / "welcome.wav"), wav_seconds(prompts / "goodbye.wav")
    call = TestCall("13800000000", None, [])
    row = await call_and_row(hotline_service, caller, call)
    assert row.digits == ""
    assert (row.queue, row.outcome) == (None, "ended_in_ivr")
    # Asterisk played the welcome in full, waited the 5 s read timeout, played goodbye:
    # a missing prompt would have been skipped at once.
    took = (t(row.ended_at) - t(row.started_at)).total_seconds()
    assert welcome + 5 + goodbye - 0.5 <= took <= welcome + 5 + goodbye + 3


async def test_caller_hangs_up_in_the_menu(hotline_service: Service,
                                           caller: AmiGateway) -> None:
    call = TestCall("13900001111", "挂机测试", ["h"])
    row = await call_and_row(hotline_service, caller, call)
    assert call.pressed == []
    assert (row.digits, row.queue, row.outcome, row.end_reason) == (
        "", None, "ended_in_ivr", "hangup")
    assert row.caller_name == "挂机测试"
    # Hung up during the welcome prompt: well before the read timeout.
    assert (t(row.ended_at) - t(row.started_at)).total_seconds() < 5


async def test_caller_hangs_up_while_queued(hotline_service: Service, caller: AmiGateway,
                                            asterisk: Instance) -> None:
    # The seat rings without answering, so the caller is still waiting when they leave.
    ami_action(asterisk, "Setvar", Variable="SEAT_MODE_8001", Value="noanswer")
    try:
        call = TestCall("13911112222", None, ["1"], hangup_when_queued=True)
        row = await call_and_row(hotline_service, caller, call)
    finally:
        ami_action(asterisk, "Setvar", Variable="SEAT_MODE_8001", Value="")
    assert row.digits == "1"
    assert (row.queue, row.seat, row.answered_at) == ("center", None, None)
    assert (row.outcome, row.end_reason) == ("abandoned", "hangup")
    assert row.wait_seconds is not None
    assert 0 <= row.wait_seconds < 3
    assert_no_channels_left(asterisk, call.linkedid)


async def test_exactly_one_row_per_call(hotline_service: Service) -> None:
    assert hotline_service.calls is not None
    rows = await hotline_service.calls.ledger.latest(100)
    ids = [r.linkedid for r in rows]
    assert len(ids) == len(set(ids))
    assert all(r.ended_at is not None for r in rows)


async def test_asterisk_restart_hotline_reconnects_and_logs_the_next_call(
        hotline_service: Service, caller: AmiGateway, asterisk: Instance) -> None:
    gateway = hotline_service.gateway
    before = gateway.connections
    await asyncio.to_thread(asterisk.down)
    await asyncio.to_thread(asterisk.up)
    async with asyncio.timeout(20):
        # Polls the gateway's connection counter: there is no event for "a new one".
        while gateway.connections == before or not gateway.connected.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await caller.connected.wait()
    call = TestCall("13955112345", "重启后来电", ["0"])
    row = await call_and_row(hotline_service, caller, call)
    assert (row.caller_name, row.digits, row.outcome) == ("重启后来电", "0", "ended_in_ivr")
