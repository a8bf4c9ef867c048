"""Work orders (登记表) in a real temporary ledger: deadlines in working days, changes,
masking and the append-only audit trail, and the `hotline orders` commands."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.core.calendar.schedule import Calendar
from hotline.ledger.orders import OrderBook, OrderError, Viewer
from hotline.ledger.schema import MIGRATIONS
from hotline.ledger.store import Ledger
from tests.unit.test_privacy import _cli

# 16:00 Beijing time on 30 Sep 2026, the day before the National Day holiday.
EVE = datetime(2026, 9, 30, 8, 0, tzinfo=UTC)


async def book_at(tmp_path: Path) -> tuple[Ledger, OrderBook]:
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    return ledger, OrderBook(ledger, Calendar())


async def test_a_tip_off_is_due_within_one_working_day_and_made_once(tmp_path: Path) -> None:
    """A tip-off's work order is due at the end of the next working day after the holiday,
    and a call gets it once."""
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
    """A question marked difficult is due in three working days instead of one."""
    ledger, book = await book_at(tmp_path)
    try:
        # A question whose caller could not be reached (on_no_answer: callback).
        oid = await book.from_call(linkedid="L2", kind="consultation", number=None,
                                   name=None, at=EVE, content="")
        assert oid is not None
        order = await book.change(oid, "difficult", actor="staff", at=EVE)
        assert (order["difficulty"], order["due_at"]) == ("difficult",
                                                          "2026-10-10T17:30:00.000+08:00")
    finally:
        await ledger.close()


async def test_changes_are_audited_and_the_audit_cannot_be_rewritten(tmp_path: Path) -> None:
    """Every change of an order is audited, a closed order refuses changes, and audit rows
    cannot be updated or deleted."""
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


async def _voicemail_order(ledger: Ledger, linkedid: str, category: str | None) -> int:
    """A voicemail's work order as VoicemailBook.save writes it (category from the IVR)."""
    async with ledger.transaction() as db:
        cur = await db.execute(
            "INSERT INTO work_orders (kind, source, linkedid, category, content, created_at,"
            " due_at, status) VALUES ('voicemail', ?, ?, ?, '', "
            "'2026-09-30T16:00:00.000+08:00', '2026-10-08T17:30:00.000+08:00', 'open')",
            (f"voicemail:{linkedid}", linkedid, category))
    assert cur.lastrowid is not None
    return cur.lastrowid


@pytest.mark.parametrize("kind", ["tip_off", "complaint", "suggestion", "other"])
async def test_only_a_question_can_become_difficult(tmp_path: Path, kind: str) -> None:
    """Only a question can become difficult: another kind is refused with its code and keeps
    its one-day deadline."""
    ledger, book = await book_at(tmp_path)
    try:
        oid = await book.from_call(linkedid="L5", kind=kind, number="13955125678",
                                   name=None, at=EVE, content="")
        assert oid is not None
        with pytest.raises(OrderError) as refused:
            await book.change(oid, "difficult", actor="staff", at=EVE)
        assert refused.value.code == "order-not-a-question"
        assert f"work order {oid} is a {kind}" in str(refused.value)
        assert dict(refused.value.details) == {"order_id": oid, "kind": kind}
        order = await book.get(oid)
        # Still passed on within 1 working day (8 Oct after the holiday), not 3.
        assert (order["difficulty"], order["due_at"]) == ("ordinary",
                                                          "2026-10-08T17:30:00.000+08:00")
        # Back to ordinary is harmless: it is what the rules give them anyway.
        again = await book.change(oid, "ordinary", actor="staff", at=EVE)
        assert (again["difficulty"], again["due_at"]) == ("ordinary",
                                                          "2026-10-08T17:30:00.000+08:00")
    finally:
        await ledger.close()
    con = sqlite3.connect(tmp_path / "ledger.sqlite3")
    actions = [r[0] for r in con.execute("SELECT action FROM audit ORDER BY id")]
    con.close()
    assert actions == ["order.ordinary"]


async def test_a_voicemail_can_become_difficult_only_if_it_is_a_question(
        tmp_path: Path) -> None:
    """A voicemail's order can become difficult when uncategorised or a question, not when a
    tip-off."""
    ledger, book = await book_at(tmp_path)
    try:
        unsorted = await _voicemail_order(ledger, "V1", None)
        question = await _voicemail_order(ledger, "V2", "consultation")
        tip_off = await _voicemail_order(ledger, "V3", "tip_off")
        for oid in (unsorted, question):
            order = await book.change(oid, "difficult", actor="staff", at=EVE)
            assert (order["difficulty"], order["due_at"]) == (
                "difficult", "2026-10-10T17:30:00.000+08:00")
        with pytest.raises(OrderError, match=f"work order {tip_off} is a voicemail") as no:
            await book.change(tip_off, "difficult", actor="staff", at=EVE)
        assert no.value.code == "order-not-a-question"
        assert "tip_off" in str(no.value)
        assert (await book.get(tip_off))["difficulty"] == "ordinary"
    finally:
        await ledger.close()


@pytest.mark.parametrize(("action", "text"), [
    ("delay", "已电话告知延期"), ("pass_on", "稽查局"), ("answer", "已答复"),
    ("close", "再次办结"), ("difficult", None), ("ordinary", None)])
async def test_a_closed_order_cannot_be_changed(tmp_path: Path, action: str,
                                                text: str | None) -> None:
    """A closed order refuses every change with order-closed, and nothing is audited for the
    refusal."""
    ledger, book = await book_at(tmp_path)
    try:
        oid = await book.from_call(linkedid="L6", kind="consultation", number=None,
                                   name=None, at=EVE, content="")
        assert oid is not None
        closed = await book.change(oid, "close", actor="li", at=EVE, text="办结")
        with pytest.raises(OrderError, match=f"work order {oid} is closed") as refused:
            await book.change(oid, action, actor="wang", at=EVE, text=text)
        assert refused.value.code == "order-closed"
        assert await book.get(oid) == closed
    finally:
        await ledger.close()
    assert audit_actions(tmp_path / "ledger.sqlite3") == ["order.close"]


async def test_a_change_racing_a_close_sees_the_order_closed(tmp_path: Path) -> None:
    """The closed check and the update are one transaction: a change that starts while
    another closes the order is refused, instead of reopening it."""
    ledger, book = await book_at(tmp_path)
    try:
        oid = await book.from_call(linkedid="L7", kind="complaint", number="13900000000",
                                   name=None, at=EVE, content="")
        assert oid is not None
        close, answer, delay = await asyncio.gather(
            book.change(oid, "close", actor="li", at=EVE, text="办结"),
            book.change(oid, "answer", actor="wang", at=EVE, text="已答复"),
            book.change(oid, "delay", actor="zhao", at=EVE, text="延期"),
            return_exceptions=True)
        assert isinstance(close, dict)
        for late in (answer, delay):
            assert isinstance(late, OrderError)
            assert late.code == "order-closed"
        order = await book.get(oid)
        assert (order["status"], order["result"], order["delay_notified_at"]) == (
            "closed", None, None)
    finally:
        await ledger.close()
    assert audit_actions(tmp_path / "ledger.sqlite3") == ["order.close"]


async def test_a_calls_orders_of_a_kind_are_found_by_an_index(tmp_path: Path) -> None:
    """A version 7 ledger gains the (linkedid, kind) index in place; the duplicate checks
    of create and from_call use it instead of scanning every work order."""
    path = tmp_path / "ledger.sqlite3"
    con = sqlite3.connect(path)
    for script in MIGRATIONS[:7]:
        con.executescript(script)
    con.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL);"
                      "INSERT INTO schema_version VALUES (7);")
    con.close()
    ledger = await Ledger.open(path)
    await ledger.close()
    con = sqlite3.connect(path)
    try:
        plan = " ".join(str(r[-1]) for r in con.execute(
            "EXPLAIN QUERY PLAN SELECT id, status FROM work_orders WHERE linkedid = ? AND "
            "kind = ? ORDER BY id", ("L8", "tip_off")))
        assert "work_orders_call (linkedid=? AND kind=?)" in plan
    finally:
        con.close()


async def test_reporters_are_masked_unless_an_allowed_person_unmasks(tmp_path: Path) -> None:
    """A reporter's number and name are masked unless someone allowed unmasks; an open order
    past its deadline is overdue."""
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


hotline = _cli  # the staff CLI as a clerk runs it (tests/unit/test_privacy.py)


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
    """`hotline orders` lists overdue orders masked, refuses an unmask by a clerk, unmasks
    for allowed staff, changes deadlines and passes on, all audited."""
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
    difficult = hotline(ledger, "orders", "difficult", str(oid))
    assert difficult.returncode == 1
    assert f"[order-not-a-question] work order {oid} is a tip_off" in difficult.stderr
    passed = hotline(ledger, "orders", "pass-on", str(oid), "--department", "稽查局")
    assert passed.returncode == 0, passed.stderr
    con = sqlite3.connect(ledger)
    audit = con.execute("SELECT actor, action FROM audit ORDER BY id").fetchall()
    con.close()
    assert audit == [("clerk", "orders.list"), ("clerk", "orders.list"),
                     ("clerk", "order.unmask_refused"), ("chief", "order.unmask"),
                     ("clerk", "order.pass_on")]


def audit_actions(path: Path) -> list[str]:
    """The audit trail's actions, oldest first."""
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("SELECT action FROM audit ORDER BY id")]
    finally:
        con.close()
