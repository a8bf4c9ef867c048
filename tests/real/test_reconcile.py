"""Every call Asterisk handled is in the ledger, also those it handled alone while hotline
was down: hotline reconciles Asterisk's own record of calls (CEL) when it (re)connects."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from hotline.features.calls.testcall import TestCall, place_call
from hotline.features.ivr.prompts import synthesise
from hotline.pbx import testline
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.events import event_time
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance
from tests.real.test_resilience import SEAT_DEVICE, SEAT_NAME, HotlineProcess

pytestmark = pytest.mark.asterisk


def _rows(ledger: Path) -> dict[str, dict[str, object]]:
    con = sqlite3.connect(ledger)
    con.row_factory = sqlite3.Row
    try:
        return {r["linkedid"]: dict(r) for r in con.execute("SELECT * FROM calls")}
    finally:
        con.close()


def _close(text: object, truth: datetime) -> bool:
    assert isinstance(text, str), text
    return abs((datetime.fromisoformat(text) - truth).total_seconds()) < 1.0


async def test_calls_asterisk_handled_alone_get_exactly_one_correct_row(
        own_asterisk: Instance, tmp_path: Path) -> None:
    """Fallback calls that start and end while hotline is down (answered by a seat,
    abandoned, voicemail) each get one correct ledger row when hotline starts, and none
    more when it starts again."""
    speech = own_asterisk.dir / "sounds" / "reconcile-speech.wav"
    speech.parent.mkdir(parents=True, exist_ok=True)
    synthesise("请给我回电话。", speech)
    gateway = AmiGateway("127.0.0.1", own_asterisk.ami_port, "hotline", own_asterisk.secret())
    runner = asyncio.create_task(gateway.run())
    seen: dict[tuple[str, str], datetime] = {}  # (linkedid, event) -> Asterisk's time
    try:
        await gateway.wait_connected(5)

        async def watch(message: AmiMessage | EventGap) -> None:
            if not isinstance(message, AmiMessage):
                return
            linkedid, at = message.get("Linkedid") or "", event_time(message)
            if at is None or message.event is None:
                return
            if message.event == "Hangup" and message.get("Uniqueid") != linkedid:
                return  # only the caller's own channel
            seen.setdefault((linkedid, message.event), at)
            if message.event == "QueueCallerJoin" and linkedid == abandoned.linkedid:
                await asyncio.sleep(1.0)  # waits a second, then gives up
                await testline.hang_up(gateway, message.get("Channel") or "")
            elif message.event == "QueueCallerLeave" and linkedid == voicemail.linkedid:
                await testline.speak(gateway, message.get("Channel") or "",
                                     f"{own_asterisk.chroot_dir}/sounds/reconcile-speech")
            elif (message.event == "UserEvent" and message.get("UserEvent") == "CallerSpoke"
                  and linkedid == voicemail.linkedid):
                await testline.hang_up(gateway, message.get("Channel") or "")

        abandoned = TestCall("13955100002", "放弃人", [])
        voicemail = TestCall("13955100003", "留言人", [])
        gateway.subscribe("truth", ["QueueCallerJoin", "AgentConnect", "QueueCallerLeave",
                                    "QueueCallerAbandon", "Hangup", "UserEvent"], watch)
        # No hotline ran on this Asterisk: FastAGI is refused, every call takes the fallback.
        await gateway.set_global("HOTLINE_FALLBACK_WAIT", "3")
        await gateway.set_global("SEAT_TALK_8001", "2")
        await gateway.queue_add("center", SEAT_DEVICE, SEAT_NAME, 0)
        answered = TestCall("13955100001", "接通人", [])
        await place_call(gateway, answered, timeout=30)
        await gateway.queue_remove("center", SEAT_DEVICE)
        await place_call(gateway, abandoned, timeout=30)
        await place_call(gateway, voicemail, timeout=60)
    finally:
        runner.cancel()

    ledger = tmp_path / "ledger.sqlite3"
    for run in (1, 2):  # hotline starts; then starts again: nothing more
        service = HotlineProcess(own_asterisk, ledger)
        try:
            await service.wait_for("calls.resynced", timeout=30)
        finally:
            service.stop()
        rows = _rows(ledger)
        assert sorted(rows) == sorted(
            [answered.linkedid, abandoned.linkedid, voicemail.linkedid]), run
        a = rows[answered.linkedid]
        assert (a["outcome"], a["queue"], a["seat"], a["caller_number"], a["recorded_by"]) == (
            "answered", "center", SEAT_NAME, "13955100001", "asterisk_record")
        assert _close(a["queued_at"], seen[(answered.linkedid, "QueueCallerJoin")])
        assert _close(a["answered_at"], seen[(answered.linkedid, "AgentConnect")])
        assert _close(a["ended_at"], seen[(answered.linkedid, "Hangup")])
        assert a["talk_seconds"] is not None
        assert abs(float(str(a["talk_seconds"])) - 2) < 1
        b = rows[abandoned.linkedid]
        assert (b["outcome"], b["queue"], b["seat"], b["answered_at"]) == (
            "abandoned", "center", None, None)
        assert _close(b["ended_at"], seen[(abandoned.linkedid, "Hangup")])
        v = rows[voicemail.linkedid]
        assert (v["outcome"], v["queue"], v["seat"]) == ("voicemail", "center", None)
        assert _close(v["queued_at"], seen[(voicemail.linkedid, "QueueCallerJoin")])
        assert _close(v["ended_at"], seen[(voicemail.linkedid, "Hangup")])
        con = sqlite3.connect(ledger)
        try:
            vms = con.execute("SELECT id, linkedid FROM voicemails").fetchall()
            orders = con.execute("SELECT linkedid FROM work_orders").fetchall()
        finally:
            con.close()
        assert vms == [(v["voicemail_id"], voicemail.linkedid)]  # linked both ways
        assert orders == [(voicemail.linkedid,)]
    # The record keeps no caller's number once the ledger has the call.
    record = sqlite3.connect(own_asterisk.dir / "db" / "record.db")
    try:
        left = record.execute("SELECT count(*) FROM cel WHERE linkedid IN (?, ?, ?)",
                              (answered.linkedid, abandoned.linkedid,
                               voicemail.linkedid)).fetchone()
    finally:
        record.close()
    assert left == (0,)
