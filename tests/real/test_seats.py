"""Seats at work on the real sandbox: logged in, paused and out, as Asterisk sees it, and
every change recorded in the ledger."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

import pytest

from hotline.features.calls.testcall import TestCall, place_call
from hotline.features.cli_support import os_account
from hotline.pbx import testline
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance
from tests.conftest import queue_members

pytestmark = pytest.mark.asterisk
REPO = Path(__file__).resolve().parents[2]




async def hotline(inst: Instance, ledger: Path, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "HOTLINE_AMI_PORT": str(inst.ami_port),
           "HOTLINE_SANDBOX_INSTANCE": inst.name, "HOTLINE_LEDGER_PATH": str(ledger),
           # Says nothing of who acts: the seat events name the OS account (os_account).
           "USER": "tester"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", *args, env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def rung_seats(gateway: AmiGateway, caller: str) -> tuple[list[str], TestCall]:
    """Place a call that reaches the centre queue (no hotline runs here: the fallback);
    return the seats Asterisk rang for it."""
    call = TestCall(caller, None, [])
    rung: list[str] = []

    async def watch(message: AmiMessage | EventGap) -> None:
        if not isinstance(message, AmiMessage) or message.get("Linkedid") != call.linkedid:
            return
        if message.event == "AgentCalled":
            rung.append(message.get("Interface") or "")
        elif message.event == "QueueCallerLeave" and not call.answered:
            # Nobody answered: the caller hangs up rather than leave a voicemail.
            await testline.hang_up(gateway, message.get("Channel") or "")

    gateway.subscribe(f"rung-{call.linkedid}", ["AgentCalled", "QueueCallerLeave"], watch)
    await place_call(gateway, call, timeout=60)
    return rung, call


async def test_login_pause_and_logout_reach_asterisk_and_the_ledger(
        own_asterisk: Instance, tmp_path: Path) -> None:
    """`hotline seats` login, pause and logout reach Asterisk (penalties from skill levels,
    the pause reason in Chinese) and the ledger."""
    ledger = tmp_path / "ledger.sqlite3"
    code, out, err = await hotline(own_asterisk, ledger, "seats", "login", "8002")
    assert code == 0, err
    center, iit = queue_members(own_asterisk, "center"), queue_members(own_asterisk, "iit")
    # Skill levels 3 and 7: penalties 7 and 3 (experts ring first).
    assert center["Local/8002@seats/n"]["Penalty"] == "7"
    assert iit["Local/8002@seats/n"]["Penalty"] == "3"
    assert center["Local/8002@seats/n"]["Membership"] == "dynamic"

    # The reason as staff type it: its label (用餐 is `meal`).
    code, out, err = await hotline(own_asterisk, ledger, "seats", "pause", "8002",
                                   "--reason", "用餐")
    assert code == 0, err
    assert out.strip() == "seat 8002: pause recorded and applied (用餐)"
    member = queue_members(own_asterisk, "center")["Local/8002@seats/n"]
    assert (member["Paused"], member["PausedReason"]) == ("1", "用餐")
    code, out, _ = await hotline(own_asterisk, ledger, "seats", "--json")
    [seat] = [s for s in json.loads(out) if s["seat"] == "8002"]
    assert (seat["logged_in"], seat["paused"], seat["queues"]) == (True, "meal",
                                                                   ["center", "iit"])
    assert seat["status"] == "暂停（用餐）"

    code, _, err = await hotline(own_asterisk, ledger, "seats", "logout", "8002")
    assert code == 0, err
    assert "Local/8002@seats/n" not in queue_members(own_asterisk, "center")
    assert "Local/8002@seats/n" not in queue_members(own_asterisk, "iit")

    con = sqlite3.connect(ledger)
    events = con.execute("SELECT seat, event, reason, actor FROM seat_events ORDER BY id"
                         ).fetchall()
    con.close()
    me = os_account()  # the account running the commands, whatever USER says
    assert events == [("8002", "login", None, me), ("8002", "pause", "meal", me),
                      ("8002", "logout", None, me)]


async def test_a_paused_seat_is_not_rung(own_asterisk: Instance, tmp_path: Path) -> None:
    """A paused seat is not rung."""
    ledger = tmp_path / "ledger.sqlite3"
    gateway = AmiGateway("127.0.0.1", own_asterisk.ami_port, "hotline", own_asterisk.secret())
    runner = asyncio.create_task(gateway.run())
    try:
        await gateway.wait_connected(5)
        # Seat 8001 rings without answering, so only the seats' ringing matters; no
        # hotline runs on this instance and the fallback waits 3 s in the queue.
        for name, value in (("SEAT_MODE_8001", "noanswer"), ("HOTLINE_FALLBACK_WAIT", "3")):
            await gateway.set_global(name, value)
        for args in (["login", "8001"], ["login", "8002"], ["pause", "8002", "--reason",
                                                            "training"]):
            assert (await hotline(own_asterisk, ledger, "seats", *args))[0] == 0
        rung, _ = await rung_seats(gateway, "13955112345")
        assert "Local/8002@seats/n" not in rung
        assert "Local/8001@seats/n" in rung
        # 8002 is back and 8001 steps away: the queue's only choice is 8002.
        for args in (["unpause", "8002"], ["pause", "8001", "--reason", "meeting"]):
            assert (await hotline(own_asterisk, ledger, "seats", *args))[0] == 0
        rung, call = await rung_seats(gateway, "13955112346")
        assert rung == ["Local/8002@seats/n"]
        assert call.answered  # 8002 answers
    finally:
        await gateway.set_global("SEAT_MODE_8001", "")
        for seat in ("8001", "8002"):
            await hotline(own_asterisk, ledger, "seats", "logout", seat)
        runner.cancel()


@pytest.mark.parametrize(("args", "message"), [
    (["seats", "move-in", "8001"], "[seat-not-remote] seat 8001 belongs to the centre"),
    (["seats", "pause", "8002", "--reason", "nap"], "[seat-bad-reason] --reason 'nap'"),
    (["seats", "login", "9999"], "[seat-unknown] unknown seat '9999'"),
    (["seats", "move-in", "8101", "--until", "2020-01-01T17:30"],
     "[seat-bad-until] --until 2020-01-01T17:30:00+08:00 is not in the future"),
    (["seats", "pause", "8201", "--reason", "meal"], "[seat-not-logged-in]"),
    (["seats", "unpause", "8201"], "[seat-not-logged-in]"),
])
async def test_bad_seat_commands_get_a_clear_error(own_asterisk: Instance, tmp_path: Path,
                                                  args: list[str], message: str) -> None:
    """Moving in a centre seat, an unknown reason or seat, a past --until and pausing a
    logged-out seat each get a one-line error with its code, no traceback."""
    code, _, err = await hotline(own_asterisk, tmp_path / "ledger.sqlite3", *args)
    assert code == 1
    assert message in err
    assert "Traceback" not in err


async def test_remote_seat_moves_are_audited(own_asterisk: Instance, tmp_path: Path) -> None:
    """Every move in and out is recorded with its end; a second move-out says the seat
    is moved out already and records nothing (no second 迁出 in the quarter)."""
    ledger = tmp_path / "ledger.sqlite3"
    until = f"{datetime.now().year + 1}-12-31T17:30"
    for args in (["move-in", "8101", "--until", until], ["move-out", "8101"]):
        code, _, err = await hotline(own_asterisk, ledger, "seats", *args)
        assert code == 0, err
    code, out, err = await hotline(own_asterisk, ledger, "seats", "move-out", "8101")
    assert code == 0, err
    assert out.strip() == "seat 8101: already logged out, moved out; nothing recorded"
    con = sqlite3.connect(ledger)
    rows = con.execute("SELECT seat, event, until FROM seat_events ORDER BY id").fetchall()
    con.close()
    assert rows == [("8101", "move_in", f"{until}:00.000+08:00"),
                    ("8101", "move_out", None)]
