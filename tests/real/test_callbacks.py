"""Callbacks that keep the caller's place, on the real sandbox: a caller waiting in the
tests' queue `cbq` (tests/conftest.py: callbacks offered after 5 s; its only seat 8005)
presses 1 and leaves; two later callers wait; when the seat frees up, the first caller's
phone (a Local channel, [callback-phone]) is called back and connected to the seat
before the two others."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from datetime import datetime
from pathlib import Path

import pytest

from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.ledger.callbacks import CallbackBook
from hotline.ledger.store import Ledger
from hotline.pbx import testline
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance
from tests.conftest import queue_members, routing_for_tests
from tests.real.test_resilience import HotlineProcess

pytestmark = pytest.mark.asterisk
REPO = Path(__file__).resolve().parents[2]
SEAT = "Local/8005@seats/n"
# The test line 12399: 2 (sub menu), 2 (the queue cbq).
TO_CBQ = ["2", "2"]


async def hotline(inst: Instance, ledger: Path, *args: str) -> tuple[int, str, str]:
    """`hotline ARGS` on this instance and ledger, with the tests' routing (seat 8005)."""
    env = {**os.environ, "HOTLINE_AMI_PORT": str(inst.ami_port),
           "HOTLINE_SANDBOX_INSTANCE": inst.name, "HOTLINE_LEDGER_PATH": str(ledger),
           "HOTLINE_ROUTING_PATH": str(routing_for_tests(ledger.parent)), "USER": "tester"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", *args, env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def until(check: object, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.2)


async def test_the_first_caller_is_called_back_and_connected_before_later_callers(
        own_asterisk: Instance, tmp_path: Path) -> None:
    """A caller who pressed 1 in the queue and left is called back when the seat frees
    up and reaches it before the two callers who joined after them; their call's row says
    callback, the attempt is in the ledger, and the seat was held, not given away."""
    ledger_path = tmp_path / "ledger.sqlite3"
    code, _, err = await hotline(own_asterisk, ledger_path, "seats", "login", "8005")
    assert code == 0, err
    gateway = AmiGateway("127.0.0.1", own_asterisk.ami_port, "hotline", own_asterisk.secret())
    runner = asyncio.create_task(gateway.run())
    service = HotlineProcess(own_asterisk, ledger_path, {
        "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'tests' / 'dialplans'}]",
        "HOTLINE_CALLBACKS_INTERVAL": "0.5"})
    tasks: list[asyncio.Task[None]] = []
    try:
        await gateway.wait_connected(5)
        await service.wait_for("calls.resynced")
        await until(lambda: asyncio.to_thread(
            lambda: SEAT in queue_members(own_asterisk, "cbq")))
        # D keeps the seat busy for 15 s (the seat reads its talk time as it answers).
        await gateway.set_global("SEAT_TALK_8005", "15")
        first = TestCall("055100000009", None, TO_CBQ, extension="12399")
        tasks.append(asyncio.create_task(place_call(gateway, first, timeout=120)))
        await until(lambda: _true(first.answered))
        # A waits, then presses 1 (received by the channel in the queue) and leaves.
        asker = TestCall("055100000001", None, TO_CBQ, extension="12399")
        asking = asyncio.create_task(place_call(gateway, asker, timeout=120))
        await until(lambda: _true(asker.queued))
        await asyncio.sleep(1.0)
        assert asker.ivr_channel is not None
        await testline.press(gateway, asker.ivr_channel, "1")
        await asyncio.wait_for(asking, 30)  # hotline confirmed and hung up
        row = await wait_for_ledger_row(ledger_path, asker.linkedid)
        assert row.outcome == "callback"
        # Two later callers wait.
        later = [TestCall(f"05510000000{n}", None, TO_CBQ, extension="12399") for n in (2, 3)]
        for call in later:
            tasks.append(asyncio.create_task(place_call(gateway, call, timeout=150)))
            await until(lambda c=call: _true(c.queued))
        await service.wait_for('"callback.hold"')  # the busy seat is held for A
        assert not any(c.answered for c in later)  # the later callers still wait
        await gateway.set_global("SEAT_TALK_8005", "4")  # the next conversations: 4 s
        # D's call ends: the seat is A's, A's phone rings, answers, and reaches the seat.
        async with await Ledger.open(ledger_path) as ledger:
            book = CallbackBook(ledger)

            async def connected() -> bool:
                found = await book.by_call(asker.linkedid)
                return found is not None and found.state == "connected" and (
                    found.done_at is not None)

            await until(connected, timeout=90)
            callback = await book.by_call(asker.linkedid)
            assert callback is not None
            attempts = await book.attempts(callback.id)
        assert callback.attempts == 1
        assert [a.result for a in attempts] == ["connected"]
        assert callback.number == "055100000001"
        # The two later callers were answered only after A had been connected.
        for call in later:
            await asyncio.wait_for(asyncio.shield(tasks[later.index(call) + 1]), 90)
            done = await wait_for_ledger_row(ledger_path, call.linkedid)
            assert done.outcome == "answered"
            assert done.answered_at is not None
            assert _t(done.answered_at) > _t(attempts[0].at)
        assert attempts[0].ended_at is not None
        rows = [await wait_for_ledger_row(ledger_path, c.linkedid) for c in later]
        first_later = min(_t(r.answered_at) for r in rows)
        # A's conversation (4 s) ended before the first later caller was answered.
        assert _t(attempts[0].ended_at) <= first_later
        log = service.log.read_text()
        assert "055100000001" not in log  # a caller's number never reaches the log
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        service.stop()
        await hotline(own_asterisk, ledger_path, "seats", "logout", "8005")
        runner.cancel()


async def _true(value: bool) -> bool:
    return value


def _t(stamp: str | None) -> datetime:
    assert stamp is not None
    return datetime.fromisoformat(stamp)


async def test_an_unanswered_callback_is_retried_then_becomes_a_work_order(
        own_asterisk: Instance, tmp_path: Path) -> None:
    """The caller's phone rings unanswered (5 s): tried again after the queue's interval
    (30 s), then, the retries spent, a callback work order with the number to call; each
    attempt is in the ledger with its result."""
    ledger_path = tmp_path / "ledger.sqlite3"
    code, _, err = await hotline(own_asterisk, ledger_path, "seats", "login", "8005")
    assert code == 0, err
    gateway = AmiGateway("127.0.0.1", own_asterisk.ami_port, "hotline", own_asterisk.secret())
    runner = asyncio.create_task(gateway.run())
    service = HotlineProcess(own_asterisk, ledger_path, {
        "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'tests' / 'dialplans'}]",
        "HOTLINE_CALLBACKS_INTERVAL": "0.5"})
    try:
        await gateway.wait_connected(5)
        await service.wait_for("calls.resynced")
        await until(lambda: asyncio.to_thread(
            lambda: SEAT in queue_members(own_asterisk, "cbq")))
        # The seat is busy, so the caller waits and can ask; their phone will not answer.
        await gateway.set_global("SEAT_TALK_8005", "6")
        await gateway.set_global("CALLBACK_MODE_055100000007", "noanswer")
        busy = TestCall("055100000009", None, TO_CBQ, extension="12399")
        talking = asyncio.create_task(place_call(gateway, busy, timeout=60))
        await until(lambda: _true(busy.answered))
        asker = TestCall("055100000007", None, TO_CBQ, extension="12399")
        asking = asyncio.create_task(place_call(gateway, asker, timeout=60))
        await until(lambda: _true(asker.queued))
        assert asker.ivr_channel is not None
        await testline.press(gateway, asker.ivr_channel, "1")
        await asyncio.wait_for(asking, 30)
        await asyncio.wait_for(talking, 30)
        async with await Ledger.open(ledger_path) as ledger:
            book = CallbackBook(ledger)

            async def ordered() -> bool:
                found = await book.by_call(asker.linkedid)
                return found is not None and found.state == "order"

            await until(ordered, timeout=120)
            callback = await book.by_call(asker.linkedid)
            assert callback is not None
            attempts = await book.attempts(callback.id)
            async with ledger.db.execute(
                    "SELECT kind, callback_number, status FROM work_orders WHERE id = ?",
                    (callback.work_order_id,)) as cur:
                order = await cur.fetchone()
        assert [a.result for a in attempts] == ["no_answer", "no_answer"]
        gap = (_t(attempts[1].at) - _t(attempts[0].ended_at)).total_seconds()
        assert 29 <= gap <= 40  # the queue's interval, 30 s
        assert order == ("callback", "055100000007", "open")
        # The seat held for the attempts is free again (no pause left).
        members = await gateway.queue_status("cbq")
        member = next(m for m in members["cbq"].members if m.interface == SEAT)
        assert not member.paused
    finally:
        service.stop()
        await hotline(own_asterisk, ledger_path, "seats", "logout", "8005")
        runner.cancel()
