"""Nothing lost while hotline is down: the dialplan's fallback takes a voicemail with
Asterisk's own VoiceMail, and hotline imports it into the ledger when it is back."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hotline.features.calls.testcall import TestCall, place_call
from hotline.features.ivr.prompts import synthesise
from hotline.features.voicemail.service import analyse
from hotline.pbx import testline
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance
from tests.real.test_resilience import HotlineProcess

pytestmark = pytest.mark.asterisk


async def test_a_voicemail_taken_without_hotline_is_imported_with_its_work_order(
        own_asterisk: Instance, tmp_path: Path) -> None:
    """A voicemail Asterisk's own fallback took while hotline was down is imported, with its
    work order."""
    speech = own_asterisk.dir / "sounds" / "fallback-speech.wav"
    speech.parent.mkdir(parents=True, exist_ok=True)
    synthesise("热线好像出故障了，请尽快给我回电话。", speech)
    gateway = AmiGateway("127.0.0.1", own_asterisk.ami_port, "hotline", own_asterisk.secret())
    runner = asyncio.create_task(gateway.run())
    try:
        await gateway.wait_connected(5)
        # No hotline has run here: FastAGI is refused. Nobody answers the queue
        # and the fallback waits 2 s before voicemail.
        for name, value in (("HOTLINE_FALLBACK_WAIT", "2"), ("SEAT_MODE_8001", "noanswer")):
            await gateway.set_global(name, value)
        call = TestCall("13955112345", "降级留言", [])
        spoke = asyncio.Event()

        async def caller_speaks(message: AmiMessage | EventGap) -> None:
            if not isinstance(message, AmiMessage) or message.get("Linkedid") != call.linkedid:
                return
            ivr_half = message.get("Channel") or ""
            if message.event == "QueueCallerLeave":
                await testline.speak(gateway, ivr_half,
                                     f"{own_asterisk.chroot_dir}/sounds/fallback-speech")
            elif message.event == "UserEvent" and message.get("UserEvent") == "CallerSpoke":
                spoke.set()
                await testline.hang_up(gateway, ivr_half)

        gateway.subscribe("caller-speaks", ["QueueCallerLeave", "UserEvent"], caller_speaks)
        await place_call(gateway, call, timeout=60)
        assert spoke.is_set()
        inbox = own_asterisk.dir / "spool" / "voicemail" / "hotline" / "12366" / "INBOX"
        assert sorted(p.suffix for p in inbox.glob("msg*")) == [".txt", ".wav"]
    finally:
        await gateway.set_global("SEAT_MODE_8001", "")
        runner.cancel()

    # hotline comes back: the message is imported, and leaves Asterisk's spool.
    ledger = tmp_path / "ledger.sqlite3"
    service = HotlineProcess(own_asterisk, ledger)
    try:
        await service.wait_for("voicemail.imported_from_fallback")
        con = sqlite3.connect(ledger)
        con.row_factory = sqlite3.Row
        [vm] = [dict(r) for r in con.execute("SELECT * FROM voicemails")]
        order = dict(con.execute("SELECT * FROM work_orders WHERE id = ?",
                                 (vm["work_order_id"],)).fetchone())
        con.close()
        assert (vm["caller_number"], vm["caller_name"], vm["status"]) == (
            "13955112345", "降级留言", "new")
        assert "fallback" in vm["flags"].split(",")
        audio = analyse(Path(vm["file"]))
        assert audio.seconds > 1.5
        assert audio.dbfs > -45
        assert (order["kind"], order["status"], order["callback_number"]) == (
            "voicemail", "open", "13955112345")
        assert list(inbox.glob("msg*")) == []
    finally:
        service.stop()
