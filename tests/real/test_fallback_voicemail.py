"""Nothing lost while hotline is down: the dialplan's fallback takes a voicemail with
Asterisk's own VoiceMail, and hotline imports it into the ledger when it is back."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from hotline.features.calls.testcall import TestCall, place_call
from hotline.features.ivr.prompts import synthesise
from hotline.features.voicemail.service import analyse
from hotline.pbx import testline
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance
from tests.real.test_resilience import HotlineProcess, in_menu, row_in_state

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


async def test_fallback_messages_left_while_hotline_runs_are_linked_to_their_calls(
        gateway: AmiGateway, own_asterisk: Instance, tmp_path: Path) -> None:
    """Two callers reach the fallback while hotline is dead (one was in its menu when it
    was killed, one called meanwhile); hotline starts again while they wait in the
    centre's queue, and only then do they leave their messages. Each imported message,
    with its work order, is linked to its call without another restart, and the call's
    row says voicemail."""
    speech = own_asterisk.dir / "sounds" / "fallback-speech.wav"
    speech.parent.mkdir(parents=True, exist_ok=True)
    synthesise("热线好像出故障了，请尽快给我回电话。", speech)
    ledger = tmp_path / "ledger.sqlite3"
    env = {"HOTLINE_VOICEMAIL_IMPORT_INTERVAL": "1"}
    for name, value in (("HOTLINE_FALLBACK_WAIT", "10"), ("SEAT_MODE_8001", "noanswer")):
        await gateway.set_global(name, value)
    in_menu_call = TestCall("13955112345", "菜单中留言", [])
    meanwhile = TestCall("13955112346", "中断时留言", [])
    spoke: dict[str, float] = {}
    resynced = asyncio.Event()

    async def caller_speaks(message: AmiMessage | EventGap) -> None:
        if not isinstance(message, AmiMessage):
            return
        linkedid = message.get("Linkedid")
        if linkedid not in (in_menu_call.linkedid, meanwhile.linkedid):
            return
        ivr_half = message.get("Channel") or ""
        if message.event == "QueueCallerLeave":
            assert resynced.is_set()  # the messages come after the resync's reconcile
            await testline.speak(gateway, ivr_half,
                                 f"{own_asterisk.chroot_dir}/sounds/fallback-speech")
        elif message.event == "UserEvent" and message.get("UserEvent") == "CallerSpoke":
            spoke[linkedid or ""] = time.time()
            await testline.hang_up(gateway, ivr_half)

    gateway.subscribe("callers-speak", ["QueueCallerLeave", "UserEvent"], caller_speaks)
    first = HotlineProcess(own_asterisk, ledger, env)
    second = None
    try:
        await first.wait_for("calls.resynced")
        ready = await in_menu(gateway, in_menu_call)
        placed = [asyncio.create_task(place_call(gateway, in_menu_call, timeout=90))]
        async with asyncio.timeout(10):
            await ready.wait()
        await row_in_state(ledger, in_menu_call.linkedid, "ivr", timeout=5)
        first.kill()
        placed.append(asyncio.create_task(place_call(gateway, meanwhile, timeout=90)))
        second = HotlineProcess(own_asterisk, ledger, env)
        await second.wait_for("calls.resynced")
        resynced.set()
        await asyncio.gather(*placed)
        assert sorted(spoke) == sorted([in_menu_call.linkedid, meanwhile.linkedid])
        async with asyncio.timeout(15):
            while True:
                linked = _links(ledger)
                if all(lid in linked for lid in spoke):
                    break
                await asyncio.sleep(0.2)
        for call in (in_menu_call, meanwhile):
            voicemail_id, order_linkedid, row = linked[call.linkedid]
            assert order_linkedid == call.linkedid
            assert (row["voicemail_id"], row["outcome"], row["queue"]) == (
                voicemail_id, "voicemail", "center")
            assert row["caller_number"] == call.number
        assert second.proc.poll() is None  # no restart
    finally:
        await gateway.set_global("SEAT_MODE_8001", "")
        await gateway.set_global("HOTLINE_FALLBACK_WAIT", "120")
        first.stop()
        if second is not None:
            second.stop()


def _links(ledger: Path) -> dict[str, tuple[int, str, dict[str, object]]]:
    """Linked fallback messages by call: (message id, its work order's Linkedid, the call's
    row), for calls whose row is final."""
    con = sqlite3.connect(ledger)
    con.row_factory = sqlite3.Row
    try:
        out: dict[str, tuple[int, str, dict[str, object]]] = {}
        for vm in con.execute("SELECT v.id, v.linkedid, w.linkedid AS order_linkedid FROM "
                              "voicemails v JOIN work_orders w ON w.id = v.work_order_id"):
            row = con.execute("SELECT * FROM calls WHERE linkedid = ? AND ended_at IS NOT "
                              "NULL", (vm["linkedid"],)).fetchone()
            if row is not None and row["voicemail_id"] == vm["id"]:
                out[vm["linkedid"]] = (vm["id"], vm["order_linkedid"], dict(row))
        return out
    finally:
        con.close()
