"""Work orders (登记表) in a real temporary ledger: deadlines in working days, changes,
masking and the append-only audit trail, and the `hotline orders` commands."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.ivr.calendar import Calendar
from hotline.ledger.orders import OrderBook, OrderError, Viewer
from hotline.ledger.store import Ledger

REPO = Path(__file__).resolve().parents[2]
# 16:00 Beijing time on 30 Sep 2026, the day before the National Day holiday.
EVE = datetime(2026, 9, 30, 8, 0, tzinfo=UTC)


async def book_at(tmp_path: Path) -> tuple[Ledger, OrderBook]:
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    return ledger, OrderBook(ledger, Calendar())


async def test_a_tip_off_is_due_within_one_working_day_and_made_once(tmp_path: Path) -> None:
    ledger, book = await book_at(tmp_path)
    try:
        first = await book.from_call(linkedid="L1", kind="tip_off", number="13955125678",
                                     name="举报人", at=EVE, content="涉税举报来电")
        again = await book.from_call(linkedid="L1", kind="tip_off", number="13955125678",
                                     name="举报人", at=EVE, content="涉税举报来电")
        assert first is not None
        assert again is None
        order = await book.get(first)
        # 1 Oct to 7 Oct are holidays: the next working day is 8 Oct.
        assert order["due_at"] == "2026-10-08T17:30:00.000+08:00"
        assert (order["kind"], order["status"], order["source"]) == ("tip_off", "open",
                                                                     "call:L1")
    finally:
        await ledger.close()


async def test_a_difficult_question_gets_three_working_days(tmp_path: Path) -> None:
    ledger, book = await book_at(tmp_path)
    try:
        oid = await book.from_call(linkedid="L2", kind="suggestion", number=None, name=None,
                                   at=EVE, content="")
        assert oid is not None
        order = await book.change(oid, "difficult", actor="staff", at=EVE)
        assert (order["difficulty"], order["due_at"]) == ("difficult",
                                                          "2026-10-10T17:30:00.000+08:00")
    finally:
        await ledger.close()


async def test_changes_are_audited_and_the_audit_cannot_be_rewritten(tmp_path: Path) -> None:
    ledger, book = await book_at(tmp_path)
    try:
        oid = await book.from_call(linkedid="L3", kind="complaint", number="13900000000",
                                   name=None, at=EVE, content="")
        assert oid is not None
        await book.change(oid, "pass_on", actor="wang", at=EVE, text="纳税服务科")
        await book.change(oid, "delay", actor="wang", at=EVE, text="已电话告知延期")
        done = await book.change(oid, "answer", actor="li", at=EVE, text="已答复投诉人")
        assert (done["status"], done["department"], done["result"]) == (
            "answered", "纳税服务科", "已答复投诉人")
        assert done["delay_notified_at"] is not None
        closed = await book.change(oid, "close", actor="li", at=EVE, text="办结")
        with pytest.raises(OrderError, match="is closed"):
            await book.change(oid, "answer", actor="li", at=EVE, text="again")
        assert closed["status"] == "closed"
    finally:
        await ledger.close()
    con = sqlite3.connect(tmp_path / "ledger.sqlite3")
    actions = [r[0] for r in con.execute("SELECT action FROM audit ORDER BY id")]
    assert actions == ["order.pass_on", "order.delay", "order.answer", "order.close"]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM audit")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET actor = 'someone else'")
    con.close()


async def test_reporters_are_masked_unless_an_allowed_person_unmasks(tmp_path: Path) -> None:
    ledger, book = await book_at(tmp_path)
    try:
        oid = await book.from_call(linkedid="L4", kind="tip_off", number="13955125678",
                                   name="举报人甲", at=EVE, content="")
        assert oid is not None
        order = await book.get(oid)
        later = datetime(2026, 10, 9, tzinfo=UTC)
        seen = book.view(order, Viewer("clerk"), unmask=True, now=later)
        assert (seen["callback_number"], seen["caller_name"]) == ("139****5678", "举***")
        assert seen["overdue"] is True  # due 8 Oct, still open on 9 Oct
        allowed = book.view(order, Viewer("chief", may_unmask=True), unmask=True, now=later)
        assert allowed["callback_number"] == "13955125678"
    finally:
        await ledger.close()


def hotline(ledger: Path, *args: str, user: str = "clerk",
            unmask: str = "[]") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOTLINE_LEDGER_PATH": str(ledger), "USER": user,
           "HOTLINE_LEDGER_UNMASK_USERS": unmask}
    env.pop("SUDO_USER", None)
    return subprocess.run([sys.executable, "-m", "hotline", *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=30)


async def _seed(path: Path) -> int:
    ledger = await Ledger.open(path)
    try:
        oid = await OrderBook(ledger, Calendar()).from_call(
            linkedid="L9", kind="tip_off", number="13955125678", name="举报人乙", at=EVE,
            content="")
        assert oid is not None
        return oid
    finally:
        await ledger.close()


def test_orders_commands_list_overdue_and_unmask_with_audit(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    oid = asyncio.run(_seed(ledger))
    res = hotline(ledger, "orders", "list", "--overdue", "--json")
    assert res.returncode == 0, res.stderr
    [row] = json.loads(res.stdout)
    assert (row["id"], row["overdue"], row["callback_number"]) == (oid, True, "139****5678")
    text = hotline(ledger, "orders").stdout
    assert "涉税举报" in text
    assert "逾期" in text
    refused = hotline(ledger, "orders", "show", str(oid), "--unmask")
    assert refused.returncode == 1
    assert "[unmask-not-allowed]" in refused.stderr
    shown = hotline(ledger, "orders", "show", str(oid), "--unmask", "--json", user="chief",
                    unmask="[chief]")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["callback_number"] == "13955125678"
    passed = hotline(ledger, "orders", "pass-on", str(oid), "--department", "稽查局")
    assert passed.returncode == 0, passed.stderr
    con = sqlite3.connect(ledger)
    audit = con.execute("SELECT actor, action FROM audit ORDER BY id").fetchall()
    con.close()
    assert audit == [("clerk", "orders.list"), ("clerk", "orders.list"),
                     ("clerk", "order.unmask_refused"), ("chief", "order.unmask"),
                     ("clerk", "order.pass_on")]
