"""Work orders a seat opens and fills in (`hotline orders create` / `edit`): deadlines in
working days across holidays and 调休 make-up days, no silent duplicates, validation with
error codes, masking of reporters, and the audit trail of every creation and edit."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.core.calendar.schedule import Calendar
from hotline.core.calls.tracking import Call, CallState
from hotline.ledger.errors import CallUnknown
from hotline.ledger.orders import OrderBook, OrderError, Viewer, callback_number
from hotline.ledger.store import Ledger
from tests.cli import Result
from tests.unit.test_privacy import _cli

# 16:00 Beijing time on 30 Sep 2026, the day before the National Day holiday (1-7 Oct);
# Saturday 10 Oct is a 调休 make-up working day.
EVE = datetime(2026, 9, 30, 8, 0, tzinfo=UTC)
# 10:00 Beijing time on Friday 13 Feb 2026; Saturday 14 Feb is a 调休 make-up working day,
# then the Spring Festival holiday runs from 15 to 23 Feb.
SPRING = datetime(2026, 2, 13, 2, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def call(linkedid: str, category: str | None, at: datetime = EVE, *,
         number: str | None = "13955125678", ended: bool = True) -> Call:
    return Call(linkedid, "Local/s@caller-1;1", linkedid, number, "纳税人张三",
                CallState.ENDED if ended else CallState.CONNECTED, at, category=category,
                ended_at=at if ended else None)


async def book_with(tmp_path: Path, *calls: Call) -> tuple[Ledger, OrderBook]:
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    await ledger.upsert_calls(list(calls), EVE)
    return ledger, OrderBook(ledger, Calendar())


def audit_rows(path: Path) -> list[tuple[str, str, str, str | None]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT actor, action, target, detail FROM audit ORDER BY id"
                           ).fetchall()
    finally:
        con.close()


# -- OrderBook ---------------------------------------------------------------------------


async def test_a_question_is_due_the_next_working_day_after_the_holiday(
        tmp_path: Path) -> None:
    """A seat's order for a question counts from the call, due the next working day after
    the holiday, with the caller's number."""
    ledger, book = await book_with(tmp_path, call("Q1", "consultation"))
    try:
        oid = await book.create(linkedid="Q1", kind="consultation", actor="seat01", at=LATER,
                                content="个税专项附加扣除怎么填")
        order = await book.get(oid)
        # Counted from the call (30 Sep), not from when the seat typed it in: 1 to 7 Oct
        # are holidays, so the end of 8 Oct.
        assert order["created_at"] == "2026-09-30T16:00:00.000+08:00"
        assert order["due_at"] == "2026-10-08T17:30:00.000+08:00"
        assert (order["kind"], order["category"], order["difficulty"], order["status"]) == (
            "consultation", "consultation", "ordinary", "open")
        assert (order["callback_number"], order["caller_name"]) == ("13955125678",
                                                                    "纳税人张三")
        assert order["content"] == "个税专项附加扣除怎么填"
    finally:
        await ledger.close()


async def test_a_difficult_question_counts_the_make_up_saturday(tmp_path: Path) -> None:
    """Deadlines count a 调休 make-up Saturday as a working day, for ordinary and difficult
    questions."""
    ledger, book = await book_with(tmp_path, call("Q2", "consultation"),
                                   call("Q3", "consultation", SPRING))
    try:
        autumn = await book.get(await book.create(
            linkedid="Q2", kind="consultation", actor="seat01", at=LATER, difficult=True))
        # 8 Oct, 9 Oct, then Saturday 10 Oct (调休上班).
        assert (autumn["difficulty"], autumn["due_at"]) == ("difficult",
                                                            "2026-10-10T17:30:00.000+08:00")
        spring = await book.get(await book.create(
            linkedid="Q3", kind="consultation", actor="seat01", at=LATER))
        # Friday 13 Feb: the next working day is the make-up Saturday 14 Feb.
        assert spring["due_at"] == "2026-02-14T17:30:00.000+08:00"
        spring_hard = await book.get(await book.create(
            linkedid="Q3", kind="consultation", actor="seat01", at=LATER, difficult=True,
            force=True))
        # 14 Feb, then the Spring Festival (15-23 Feb), then 24 and 25 Feb.
        assert spring_hard["due_at"] == "2026-02-25T17:30:00.000+08:00"
    finally:
        await ledger.close()


async def test_a_call_still_going_on_counts_from_now(tmp_path: Path) -> None:
    """An order for a call still in progress counts its deadline from now."""
    ledger, book = await book_with(tmp_path, call("Q4", "consultation", ended=False))
    try:
        order = await book.get(await book.create(linkedid="Q4", kind="consultation",
                                                 actor="seat01", at=SPRING))
        assert order["created_at"] == "2026-02-13T10:00:00.000+08:00"
        assert order["due_at"] == "2026-02-14T17:30:00.000+08:00"
    finally:
        await ledger.close()


async def test_a_tip_off_is_passed_on_within_one_working_day_and_masked(
        tmp_path: Path) -> None:
    """A seat's tip-off order is due in one working day, shown masked, and the call's
    automatic order does not duplicate it."""
    ledger, book = await book_with(tmp_path, call("T1", "tip_off"))
    try:
        oid = await book.create(linkedid="T1", kind="tip_off", actor="seat01", at=EVE,
                                content="某公司虚开发票", department="稽查局")
        order = await book.get(oid)
        assert order["due_at"] == "2026-10-08T17:30:00.000+08:00"
        assert order["department"] == "稽查局"
        assert order["status"] == "open"  # recorded, not yet passed on (`pass-on` does)
        seen = book.view(order, Viewer("seat01"), unmask=False, now=EVE)
        assert (seen["callback_number"], seen["caller_name"], seen["masked"]) == (
            "139****5678", "纳***", True)
        # The call's own automatic order, when the call-end handler gets to it, is not a
        # second one.
        assert await book.from_call(linkedid="T1", kind="tip_off", number="13955125678",
                                    name=None, at=EVE, content="") is None
    finally:
        await ledger.close()


async def test_a_question_on_a_tip_off_call_keeps_the_reporter_masked(
        tmp_path: Path) -> None:
    """A question opened on a tip-off call keeps the call's category, so the reporter stays
    masked."""
    ledger, book = await book_with(tmp_path, call("T2", "tip_off"))
    try:
        order = await book.get(await book.create(linkedid="T2", kind="consultation",
                                                 actor="seat01", at=EVE))
        assert (order["kind"], order["category"]) == ("consultation", "tip_off")
        assert book.view(order, Viewer("seat01"), False, EVE)["callback_number"] == (
            "139****5678")
    finally:
        await ledger.close()


async def test_duplicates_are_refused_unless_forced(tmp_path: Path) -> None:
    """A second open order of the same kind for a call is refused unless forced; another
    kind or a closed one does not block."""
    ledger, book = await book_with(tmp_path, call("D1", "consultation"), call("D2", "complaint"))
    try:
        first = await book.create(linkedid="D1", kind="consultation", actor="seat01", at=EVE)
        with pytest.raises(OrderError, match=f"work order {first} ") as refused:
            await book.create(linkedid="D1", kind="consultation", actor="seat01", at=EVE)
        assert refused.value.code == "order-duplicate"
        assert refused.value.details["order_id"] == first
        # Another kind for the same call is not a duplicate.
        await book.create(linkedid="D1", kind="suggestion", actor="seat01", at=EVE)
        second = await book.create(linkedid="D1", kind="consultation", actor="seat01",
                                   at=EVE, force=True)
        assert second != first
        assert (await book.get(second))["source"] == "seat:D1:consultation:2"
        # A closed order does not block a new one.
        for oid in (first, second):
            await book.change(oid, "close", actor="seat01", at=EVE)
        await book.create(linkedid="D1", kind="consultation", actor="seat01", at=EVE)
        # The automatic order of a complaint call blocks a seat's copy of it.
        auto = await book.from_call(linkedid="D2", kind="complaint", number="13955125678",
                                    name=None, at=EVE, content="")
        with pytest.raises(OrderError, match=f"orders edit {auto}`") as refused:
            await book.create(linkedid="D2", kind="complaint", actor="seat01", at=EVE)
        assert refused.value.code == "order-duplicate"
    finally:
        await ledger.close()
    creations = [(a[1], json.loads(a[3] or "{}")["forced"]) for a in
                 audit_rows(tmp_path / "ledger.sqlite3") if a[1] == "order.create"]
    assert creations == [("order.create", False), ("order.create", False),
                         ("order.create", True), ("order.create", False)]


async def test_an_unknown_call_is_named(tmp_path: Path) -> None:
    """An order for a call not in the ledger is refused naming the linkedid (call-
    unknown)."""
    ledger, book = await book_with(tmp_path)
    try:
        with pytest.raises(CallUnknown,
                           match=re.escape("no call '1790000000.42' in the ledger")) as err:
            await book.create(linkedid="1790000000.42", kind="consultation", actor="s",
                              at=EVE)
        assert err.value.code == "call-unknown"
    finally:
        await ledger.close()


@pytest.mark.parametrize(("changes", "code"), [
    ({"kind": "question"}, "order-bad-kind"),
    ({"kind": "voicemail"}, "order-bad-kind"),
    ({"content": ""}, "order-empty-content"),
    ({"content": " \n "}, "order-empty-content"),
    ({"department": " "}, "order-empty-department"),
    ({"callback": "12ab5678"}, "order-bad-callback"),
    ({"callback": "1234"}, "order-bad-callback"),
    ({"callback": "1" * 21}, "order-bad-callback"),
    ({"callback": "++8613955125678"}, "order-bad-callback"),
    ({"callback": "139+55125678"}, "order-bad-callback"),
    ({"callback": ""}, "order-bad-callback"),
    ({"kind": "tip_off", "difficult": True}, "order-not-a-question"),
])
async def test_bad_input_is_refused_with_a_code(tmp_path: Path, changes: dict[str, object],
                                                code: str) -> None:
    """A bad kind, callback number, empty content or department, or difficult for a
    non-question is refused with its code and writes no order."""
    ledger, book = await book_with(tmp_path, call("B1", "consultation"))
    args: dict[str, object] = {"linkedid": "B1", "kind": "consultation", "actor": "seat01",
                               "at": EVE, **changes}
    try:
        with pytest.raises(OrderError) as err:
            await book.create(**args)  # type: ignore[arg-type]
        assert err.value.code == code
        async with ledger.db.execute("SELECT COUNT(*) FROM work_orders") as cur:
            assert await cur.fetchone() == (0,)
    finally:
        await ledger.close()


@pytest.mark.parametrize(("given", "stored"), [
    ("13955125678", "13955125678"),
    ("+8613955125678", "+8613955125678"),
    ("0551-6512 3456", "055165123456"),
    ("(0551) 65123456", "055165123456"),
    ("１３９５５１２５６７８", "13955125678"),
    ("12366", "12366"),
])
def test_callback_numbers_are_normalised(given: str, stored: str) -> None:
    """A callback number loses spaces, dashes and brackets, full-width digits become ASCII,
    a + country code stays."""
    assert callback_number(given) == stored


async def test_an_anonymous_caller_leaves_the_callback_to_fill_in(tmp_path: Path) -> None:
    """An anonymous or unknown caller leaves the callback empty, to be given with
    --callback."""
    ledger, book = await book_with(tmp_path, call("A1", "consultation", number="anonymous"),
                                   call("A2", "consultation", number=None))
    try:
        for lid in ("A1", "A2"):
            oid = await book.create(linkedid=lid, kind="consultation", actor="s", at=EVE)
            assert (await book.get(oid))["callback_number"] is None
        oid = await book.create(linkedid="A1", kind="consultation", actor="s", at=EVE,
                                callback="13900001111", force=True)
        assert (await book.get(oid))["callback_number"] == "13900001111"
    finally:
        await ledger.close()


async def test_an_edit_is_audited_with_old_and_new_values(tmp_path: Path) -> None:
    """An edit changes only what differs and is audited with old and new values, a
    reporter's number masked there too."""
    ledger, book = await book_with(tmp_path, call("E1", "consultation"), call("E2", "tip_off"))
    try:
        oid = await book.create(linkedid="E1", kind="consultation", actor="seat01", at=EVE)
        order, changed = await book.edit(oid, actor="seat02", at=EVE,
                                         content="  发票红冲流程  ", callback="13900001111",
                                         department="货物劳务税处")
        assert changed == ["content", "callback_number", "department"]
        assert (order["content"], order["callback_number"], order["department"]) == (
            "发票红冲流程", "13900001111", "货物劳务税处")
        # The same values again change nothing and are not audited again.
        order, changed = await book.edit(oid, actor="seat02", at=EVE, content="发票红冲流程")
        assert changed == []
        tip = await book.from_call(linkedid="E2", kind="tip_off", number="13955125678",
                                   name=None, at=EVE, content="涉税举报来电，请补充受理内容")
        assert tip is not None
        await book.edit(tip, actor="seat02", at=EVE, callback="13700002222")
    finally:
        await ledger.close()
    edits = [a for a in audit_rows(tmp_path / "ledger.sqlite3") if a[1] == "order.edit"]
    assert [(a[0], a[2]) for a in edits] == [("seat02", f"work_order:{oid}"),
                                             ("seat02", f"work_order:{tip}")]
    assert json.loads(edits[0][3] or "") == {
        "content": {"old": "税务咨询来电（E1），请补充受理内容", "new": "发票红冲流程"},
        "callback_number": {"old": "13955125678", "new": "13900001111"},
        "department": {"old": None, "new": "货物劳务税处"}}
    # A reporter's number stays masked in the audit trail too.
    assert json.loads(edits[1][3] or "") == {
        "callback_number": {"old": "139****5678", "new": "137****2222"}}


async def test_a_closed_order_cannot_be_edited(tmp_path: Path) -> None:
    """An edit with nothing to change, of an unknown order or of a closed one is refused
    with its code; an answered one can still be edited."""
    ledger, book = await book_with(tmp_path, call("C1", "consultation"))
    try:
        oid = await book.create(linkedid="C1", kind="consultation", actor="s", at=EVE)
        with pytest.raises(OrderError) as err:
            await book.edit(oid, actor="s", at=EVE)
        assert err.value.code == "order-nothing-to-edit"
        with pytest.raises(OrderError) as err:
            await book.edit(oid + 1, actor="s", at=EVE, content="x")
        assert err.value.code == "order-unknown"
        await book.change(oid, "answer", actor="s", at=EVE, text="已电话答复")
        answered, _ = await book.edit(oid, actor="s", at=EVE, content="补充：已答复的问题")
        assert answered["status"] == "answered"
        await book.change(oid, "close", actor="s", at=EVE)
        with pytest.raises(OrderError, match=f"work order {oid} is closed") as err:
            await book.edit(oid, actor="s", at=EVE, content="too late")
        assert err.value.code == "order-closed"
        assert (await book.get(oid))["content"] == "补充：已答复的问题"
    finally:
        await ledger.close()


# -- hotline orders create / edit ----------------------------------------------------------


def hotline(ledger: Path, *args: str, user: str = "seat01") -> Result:
    return _cli(ledger, *args, user=user)


async def _seed_calls(path: Path) -> None:
    ledger = await Ledger.open(path)
    try:
        await ledger.upsert_calls([call("1790000000.1", "consultation"),
                                   call("1790000000.2", "complaint")], EVE)
    finally:
        await ledger.close()


def test_orders_create_and_edit_commands(tmp_path: Path) -> None:
    """`hotline orders create` and `edit` create, refuse duplicates, unknown calls and
    kinds, mask complainants and audit edits."""
    ledger = tmp_path / "ledger.sqlite3"
    asyncio.run(_seed_calls(ledger))
    made = hotline(ledger, "orders", "create", "--call", "1790000000.1", "--kind",
                   "consultation", "--content", "房产税减免", "--difficult", "--json")
    assert made.returncode == 0, made.stderr
    order = json.loads(made.stdout)
    assert (order["kind"], order["difficulty"], order["due_at"], order["callback_number"]) == (
        "consultation", "difficult", "2026-10-10T17:30:00.000+08:00", "13955125678")
    again = hotline(ledger, "orders", "create", "--call", "1790000000.1", "--kind",
                    "consultation")
    assert again.returncode == 1
    assert f"[order-duplicate] call 1790000000.1 has work order {order['id']}" in again.stderr
    unknown = hotline(ledger, "orders", "create", "--call", "1790000000.9", "--kind",
                      "consultation")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1, "hotline: [call-unknown] no call '1790000000.9' in the ledger")
    bad = hotline(ledger, "orders", "create", "--call", "1790000000.1", "--kind", "question")
    assert bad.returncode == 1
    assert "[order-bad-kind]" in bad.stderr
    complaint = hotline(ledger, "orders", "create", "--call", "1790000000.2", "--kind",
                        "complaint", "--callback", "13700002222", "--content", "窗口态度")
    assert complaint.returncode == 0, complaint.stderr
    assert "137****2222" in complaint.stdout
    assert "13700002222" not in complaint.stdout
    cid = int(complaint.stdout.split()[2])
    edited = hotline(ledger, "orders", "edit", str(cid), "--department", "纳税服务处",
                     "--callback", "13700003333")
    assert edited.returncode == 0, edited.stderr
    assert "edited: callback_number, department" in edited.stdout
    listed = hotline(ledger, "orders", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    numbers = {r["id"]: r["callback_number"] for r in json.loads(listed.stdout)}
    assert numbers == {order["id"]: "13955125678", cid: "137****3333"}
    shown = json.loads(hotline(ledger, "orders", "show", str(cid), "--json").stdout)
    assert (shown["callback_number"], shown["department"]) == ("137****3333", "纳税服务处")
    empty = hotline(ledger, "orders", "edit", str(cid), "--content", "")
    assert "[order-empty-content]" in empty.stderr
    assert hotline(ledger, "orders", "close", str(cid)).returncode == 0
    closed = hotline(ledger, "orders", "edit", str(cid), "--content", "补充")
    assert closed.returncode == 1
    assert f"[order-closed] work order {cid} is closed" in closed.stderr
    actions = [(a[0], a[1]) for a in audit_rows(ledger)]
    assert actions == [("seat01", "order.create"), ("seat01", "order.create"),
                       ("seat01", "order.edit"), ("seat01", "orders.list"),
                       ("seat01", "order.view"), ("seat01", "order.close")]
