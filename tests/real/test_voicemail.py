"""After hours: a caller leaves a voicemail on the real sandbox, with hotline's calendar
on a holiday. The caller's leg plays known speech into the recording."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.core.calendar.schedule import Calendar
from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.features.ivr.prompts import synthesise
from hotline.features.voicemail.service import analyse
from hotline.ledger.store import CallRow
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance
from tests.real.test_resilience import HotlineProcess

pytestmark = pytest.mark.asterisk
REPO = Path(__file__).resolve().parents[2]
HOLIDAY = "2026-10-01T10:00:00+08:00"  # 国庆节: the line is closed
SPEECH = "您好，我想咨询个人所得税汇算的问题，请回电话给我，谢谢。"


@pytest.fixture(scope="module")
def speech(own_asterisk: Instance) -> tuple[str, float]:
    """Known audio the caller says: (its name for Asterisk, its length in seconds)."""
    target = own_asterisk.dir / "sounds" / "caller-speech.wav"
    target.parent.mkdir(parents=True, exist_ok=True)
    synthesise(SPEECH, target)
    with wave.open(str(target)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    return f"{own_asterisk.chroot_dir}/sounds/caller-speech", seconds


@pytest.fixture
async def closed_line(own_asterisk: Instance, tmp_path: Path) -> AsyncIterator[HotlineProcess]:
    service = HotlineProcess(own_asterisk, tmp_path / "ledger.sqlite3", {
        "HOTLINE_SERVICE_CALENDAR_TIME": HOLIDAY,
        "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'dialplans'}, {REPO / 'tests' / 'dialplans'}]",
    })
    try:
        await service.wait_for("calls.resynced")
        yield service
    finally:  # a service that did not start in time still holds the AGI port
        service.stop()


def voicemails(ledger: Path) -> list[dict[str, object]]:
    con = sqlite3.connect(ledger)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM voicemails ORDER BY id")]
    con.close()
    return rows


async def saved_voicemail(ledger: Path, linkedid: str,
                          timeout: float = 10.0) -> tuple[dict[str, object], CallRow]:
    """The call's only voicemail once it has left status `recording`, and the call's row
    once it names it. A caller's hang-up ends the call row at once; the recording is
    measured and saved just after."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = voicemails(ledger)
        row = await wait_for_ledger_row(ledger, linkedid)
        if (len(rows) == 1 and rows[0]["status"] != "recording"
                and row.voicemail_id == rows[0]["id"]):
            return rows[0], row
        assert asyncio.get_running_loop().time() < deadline, (rows, row)
        await asyncio.sleep(0.05)


def work_order(ledger: Path, order_id: object) -> dict[str, object]:
    con = sqlite3.connect(ledger)
    con.row_factory = sqlite3.Row
    row = con.execute("SELECT * FROM work_orders WHERE id = ?", (order_id,)).fetchone()
    con.close()
    assert row is not None
    return dict(row)


def ledger_of(service: HotlineProcess) -> Path:
    return Path(service.env["HOTLINE_LEDGER_PATH"])


async def test_after_hours_caller_leaves_a_voicemail_that_becomes_a_work_order(
        closed_line: HotlineProcess, gateway: AmiGateway,
        speech: tuple[str, float]) -> None:
    """A holiday caller leaves a voicemail through the closed menu; it is saved with its
    caller and becomes a work order."""
    name, seconds = speech
    # 12366 on a holiday: the closed menu; 2 leaves a message; the caller speaks, ends
    # the recording with #, and saves it with # at the review prompt.
    call = TestCall("13955112345", "纳税人张三", ["2", "s", "#", "#"], speak=name)
    await place_call(gateway, call, timeout=90)
    ledger = ledger_of(closed_line)
    row = await wait_for_ledger_row(ledger, call.linkedid)
    assert (row.ivr_path, row.outcome, row.state) == ("closed", "voicemail", "ended")
    [vm] = voicemails(ledger)
    assert row.voicemail_id == vm["id"]
    assert (vm["status"], vm["caller_number"], vm["caller_name"], vm["box"]) == (
        "new", "13955112345", "纳税人张三", "12366")
    wav = Path(str(vm["file"]))
    assert wav.exists()
    audio = analyse(wav)
    # The recording holds the caller's speech (the beep comes before it starts).
    assert abs(audio.seconds - seconds) < 1.0, (audio.seconds, seconds)
    assert vm["duration_seconds"] == pytest.approx(audio.seconds, abs=0.01)
    assert audio.dbfs > -40  # speech, not silence
    assert vm["flags"] == ""
    # Due by the end of the next working day after the service's clock (pinned to the
    # holiday); the voicemail's own times stay real.
    due = Calendar().add_working_days(datetime.fromisoformat(HOLIDAY), 1)
    assert vm["due_at"] == due.isoformat(timespec="milliseconds")
    assert str(vm["due_at"]).startswith("2026-10-08")  # after National Day
    started = datetime.fromisoformat(str(vm["started_at"]))
    assert abs(started - datetime.now(UTC)) < timedelta(minutes=5)
    order = work_order(ledger, vm["work_order_id"])
    assert (order["kind"], order["status"], order["callback_number"]) == (
        "voicemail", "open", "13955112345")
    assert order["due_at"] == vm["due_at"]
    assert order["source"] == f"voicemail:{vm['id']}"


async def test_caller_hangs_up_while_recording_the_message_is_kept(
        closed_line: HotlineProcess, gateway: AmiGateway,
        speech: tuple[str, float]) -> None:
    """A caller hanging up while recording keeps the message, flagged hangup, with its work
    order."""
    name, seconds = speech
    call = TestCall("13800001234", None, ["2", "s", "h"], speak=name)
    await place_call(gateway, call, timeout=90)
    vm, row = await saved_voicemail(ledger_of(closed_line), call.linkedid)
    assert (vm["status"], vm["flags"]) == ("new", "hangup")
    assert row.outcome == "voicemail"
    assert abs(float(str(vm["duration_seconds"])) - seconds) < 1.0
    assert vm["work_order_id"] is not None


async def test_record_again_keeps_both_files(closed_line: HotlineProcess,
                                             gateway: AmiGateway,
                                             speech: tuple[str, float]) -> None:
    """Recording again keeps both files, the first marked discarded."""
    name, _ = speech
    # 12399 (the tests' menu), option 4: a voicemail with review.
    call = TestCall("13800005678", None, ["4", "s", "#", "2", "s", "#", "#"], speak=name,
                    extension="12399")
    await place_call(gateway, call, timeout=120)
    ledger = ledger_of(closed_line)
    row = await wait_for_ledger_row(ledger, call.linkedid)
    first, second = voicemails(ledger)
    assert (first["status"], second["status"]) == ("discarded", "new")
    assert first["file"] != second["file"]
    assert Path(str(first["file"])).exists()
    assert Path(str(second["file"])).exists()
    assert (second["category"], row.voicemail_id) == ("suggestion", second["id"])


async def test_unwritable_spool_gives_a_clear_error_and_ends_politely(
        own_asterisk: Instance, gateway: AmiGateway, tmp_path: Path) -> None:
    """An unwritable spool is logged with its error id and no traceback; no message is
    recorded and the call ends as after hours, not dropped."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool folder should be")
    service = HotlineProcess(own_asterisk, tmp_path / "ledger.sqlite3", {
        "HOTLINE_SERVICE_CALENDAR_TIME": HOLIDAY,
        "HOTLINE_VOICEMAIL_HOST_DIR": str(blocker / "spool"),
        "HOTLINE_VOICEMAIL_ASTERISK_DIR": "/srv/nowhere",
    })
    try:
        await service.wait_for("calls.resynced")
        call = TestCall("13955112345", None, ["2"])
        await place_call(gateway, call, timeout=90)
        row = await wait_for_ledger_row(ledger_of(service), call.linkedid)
        # The line was closed and no message could be left: an after-hours call.
        assert (row.outcome, row.end_reason) == ("after_hours", "hangup")
        assert voicemails(ledger_of(service)) == []
        log = service.log.read_text()
        assert "voicemail-spool-unwritable" in log
        assert "is not writable" in log
        assert "Traceback" not in log
        # The apology was played before the hang-up: the call did not just drop.
        assert not call.recording_started
    finally:
        service.stop()


async def test_staff_list_play_and_handle_voicemail(
        closed_line: HotlineProcess, gateway: AmiGateway, speech: tuple[str, float],
        tmp_path: Path) -> None:
    """Staff list, play and hand on a voicemail with the CLI; the order's change is
    audited; a voicemail done once cannot be done again."""
    name, _ = speech
    call = TestCall("13955112345", None, ["2", "s", "#", "#"], speak=name)
    await place_call(gateway, call, timeout=90)
    ledger = ledger_of(closed_line)
    await wait_for_ledger_row(ledger, call.linkedid)
    env = {**os.environ, "HOTLINE_LEDGER_PATH": str(ledger)}

    async def hotline(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline", *args, env=env, cwd=REPO,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    code, out, _ = await hotline("voicemail", "list", "--status", "new", "--json")
    assert code == 0
    [item] = json.loads(out)
    code, out, _ = await hotline("voicemail", "list")
    assert "待处理" in out
    assert "13955112345" in out
    target = tmp_path / "copy.wav"
    code, out, err = await hotline("voicemail", "play", str(item["id"]), "--to", str(target))
    assert code == 0, err
    assert analyse(target).seconds == pytest.approx(item["duration_seconds"], abs=0.05)
    code, out, err = await hotline("voicemail", "done", str(item["id"]), "--note",
                                   "已回电答复", "--department", "第一税务分局")
    assert code == 0, err
    [handled] = [v for v in voicemails(ledger) if v["id"] == item["id"]]
    assert (handled["status"], handled["note"]) == ("done", "已回电答复")
    order = work_order(ledger, handled["work_order_id"])
    assert (order["status"], order["department"]) == ("passed_on", "第一税务分局")
    # Passed on from `voicemail done` like from `orders pass-on`: the audit trail says so.
    con = sqlite3.connect(ledger)
    audited = con.execute("SELECT action, detail FROM audit WHERE target = ?",
                          (f"work_order:{order['id']}",)).fetchall()
    con.close()
    assert audited == [("order.pass_on", "第一税务分局")]
    code, _, err = await hotline("voicemail", "done", str(item["id"]), "--note", "again")
    assert code == 1
    assert "is done, not new" in err


async def test_closed_line_calls_are_self_service_or_after_hours(
        closed_line: HotlineProcess, gateway: AmiGateway) -> None:
    """A caller who heard the self-service answers was served by them; one who hung up
    at the closed greeting called after hours (the ledger's outcomes)."""
    served = TestCall("13955112345", None, ["1", "1", "h"])
    await place_call(gateway, served, timeout=60)
    gone = TestCall("13955112346", None, ["h"])
    await place_call(gateway, gone, timeout=60)
    row = await wait_for_ledger_row(ledger_of(closed_line), served.linkedid)
    assert (row.ivr_path, row.outcome) == ("closed>self_service", "self_service")
    row = await wait_for_ledger_row(ledger_of(closed_line), gone.linkedid)
    assert (row.ivr_path, row.outcome) == ("closed", "after_hours")


async def test_folders_shared_with_an_asterisk_of_ones_own(
        own_asterisk: Instance, gateway: AmiGateway, speech: tuple[str, float],
        tmp_path: Path) -> None:
    """An Asterisk that is not the sandbox: hotline writes prompts and reads recordings in
    folders both sides see, each named as hotline sees it (host_dir) and as Asterisk does
    (asterisk_dir). Here they are folders of the instance, which Asterisk sees under its
    chroot: a call plays prompts from there and its message lands there."""
    name, seconds = speech
    shared, seen_as = own_asterisk.dir / "shared", f"{own_asterisk.chroot_dir}/shared"
    # As the README asks of an Asterisk of one's own: the recordings folder is Asterisk's
    # account's (hotline makes its dated folders in it like it).
    shared.mkdir()
    shared.chmod(0o755)  # whatever the umask: Asterisk's account enters it
    (shared / "voicemail").mkdir(mode=0o700)
    ids = own_asterisk.sandbox.asterisk_ids()
    assert ids is not None
    os.chown(shared / "voicemail", *ids)
    service = HotlineProcess(own_asterisk, tmp_path / "ledger.sqlite3", {
        "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'tests' / 'dialplans'}]",
        "HOTLINE_PROMPTS_HOST_DIR": str(shared / "prompts"),
        "HOTLINE_PROMPTS_ASTERISK_DIR": f"{seen_as}/prompts",
        "HOTLINE_VOICEMAIL_HOST_DIR": str(shared / "voicemail"),
        "HOTLINE_VOICEMAIL_ASTERISK_DIR": f"{seen_as}/voicemail"})
    try:
        await service.wait_for("calls.resynced")
        assert (shared / "prompts" / "12399" / "hello.wav").exists()
        # 12399, option 4: a message with review; # ends it, # saves it.
        call = TestCall("13800009999", None, ["4", "s", "#", "#"], speak=name,
                        extension="12399")
        played: list[str] = []

        def on_agi(message: AmiMessage | EventGap) -> None:
            if isinstance(message, AmiMessage) and (message.get("Command") or "").startswith(
                    "STREAM FILE"):
                played.append(message.get("Command") or "")

        gateway.subscribe("test-prompts", ["AGIExecStart"], on_agi)
        await place_call(gateway, call, timeout=90)
        ledger = ledger_of(service)
        row = await wait_for_ledger_row(ledger, call.linkedid)
        [vm] = voicemails(ledger)
        assert (row.outcome, row.voicemail_id, vm["status"]) == ("voicemail", vm["id"], "new")
        wav = Path(str(vm["file"]))
        assert wav.is_relative_to(shared / "voicemail")
        assert abs(analyse(wav).seconds - seconds) < 1.0
        # Every prompt Asterisk played came from the shared folder, as Asterisk sees it.
        await gateway.caught_up("test-prompts")
        prompts = [c for c in played if "/prompts/" in c or "/sounds/" in c]
        assert prompts, played
        assert all(f"{seen_as}/prompts/12399/" in c for c in prompts), prompts
    finally:
        service.stop()
