"""Work orders on the web, through aiohttp's test client on the accounts' bench (a real
ledger file, the sandbox's routing.yaml, a clock the tests move): who sees which order
(a liaison only those passed on to their department, a city bureau's seat only its
bureau's), the working time left, a saved 台帐 entry that opens its order, the liaison's
answer, extension (only with the caller told) and send-back, the leader's reminder
(催办) shown to the liaison, abandoned calls and their call back orders, search and
paging, the audited unmask, bad input answered with stable ids; and the rules
themselves (hotline.core.orders) with no server at all."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hotline.core.accounts import Person
from hotline.core.calendar.schedule import CHINA, Calendar
from hotline.core.calls.tracking import Call, CallState, Outcome
from hotline.core.orders import (
    OrderScope,
    after_working_time,
    order_scope,
    time_left_label,
    working_time,
)
from hotline.ledger.accounts import AccountBook
from hotline.ledger.orders import OrderBook
from hotline.ledger.store import Ledger
from tests.unit import test_accounts_web
from tests.unit.test_accounts_web import T0, Bench

bench = test_accounts_web.bench  # the fixture

NUMBER = "13955112345"
CALENDAR = Calendar()


def rows(bench: Bench, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(bench.path)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def ended_call(linkedid: str, category: str = "consultation", *, seat: str = "演示座席8001",
               group: str = "centre", outcome: str = "answered",
               at: datetime = T0) -> Call:
    answered = outcome == "answered"
    return Call(linkedid=linkedid, caller_channel="Local/caller@x-0001;2",
                caller_uniqueid=linkedid, caller_number=NUMBER, caller_name="纳税人张三",
                state=CallState.ENDED, started_at=at - timedelta(minutes=5),
                category=category, queue="iit", queued_at=at - timedelta(minutes=4),
                seat=seat if answered else None, seat_group=group if answered else None,
                answered_at=at - timedelta(minutes=3) if answered else None, ended_at=at,
                outcome=Outcome(outcome), wait_seconds=20.0)


async def order_for(bench: Bench, linkedid: str, *, department: str | None = "税政科",
                    category: str = "consultation", group: str = "centre",
                    opened_by: str = "zhang", at: datetime = T0) -> int:
    """A call in the ledger (ended `at`) and a work order for it, passed on to
    `department`."""
    seat = "合肥远程座席8101" if group == "hefei" else "演示座席8001"
    await bench.ledger.upsert_calls([ended_call(linkedid, category, seat=seat, group=group,
                                                at=at)], at)
    book = OrderBook(bench.ledger, CALENDAR)
    order_id = await book.create(linkedid=linkedid, kind=category, actor=opened_by, at=at,
                                 content=f"问题 {linkedid}")
    if department is not None:
        await book.change(order_id, "pass_on", actor="zhang", at=at, text=department)
    return order_id


# -- the rules --------------------------------------------------------------------------


def test_who_sees_which_order() -> None:
    """The centre's people see every order (a city bureau's only their bureau's); a
    liaison only the orders passed on to their department (without one, to their
    bureau); an admin none; the centre's roles win over liaison."""
    passed = {"department": "税政科", "passed_on_at": "x", "order_bureau": "centre",
              "bureau": None}
    other = {**passed, "department": "稽查局"}
    not_passed = {**passed, "passed_on_at": None}
    hefei = {**passed, "order_bureau": "hefei", "bureau": "hefei"}
    liaison = order_scope(Person("l", frozenset({"liaison"}), department="税政科"))
    assert [liaison.allows(o) for o in (passed, other, not_passed)] == [True, False, False]
    seat = order_scope(Person("s", frozenset({"seat"}), seat="8001", bureau="centre"))
    assert all(seat.allows(o) for o in (passed, other, not_passed, hefei))
    remote = order_scope(Person("r", frozenset({"seat"}), bureau="hefei", remote=True))
    assert (remote.allows(hefei), remote.allows(passed)) == (True, False)
    assert order_scope(Person("b", frozenset({"leader"}), bureau="hefei",
                             remote=True)) == OrderScope()
    bureau = order_scope(Person("w", frozenset({"liaison"}), bureau="hefei", remote=True))
    assert (bureau.allows(hefei), bureau.allows(passed)) == (True, False)
    both = order_scope(Person("x", frozenset({"liaison", "seat"}), department="税政科"))
    assert both.allows(other)
    assert not order_scope(Person("a", frozenset({"admin"}))).allows(passed)


def test_time_left_is_counted_in_working_hours() -> None:
    """From Friday 17:00 to the end of Monday: half an hour of Friday and Monday's 7.5
    hours; across the National Day holiday the holiday counts nothing; overdue by the
    working time since the deadline; 4 working hours after Friday 16:00 is Monday 11:00."""
    friday = datetime(2026, 11, 27, 17, 0, tzinfo=CHINA)
    monday_end = datetime(2026, 11, 30, 17, 30, tzinfo=CHINA)
    assert working_time(CALENDAR, friday, monday_end) == timedelta(hours=8)
    assert working_time(CALENDAR, monday_end, friday) == -timedelta(hours=8)
    eve = datetime(2026, 9, 30, 16, 0, tzinfo=CHINA)
    after = CALENDAR.add_working_days(eve, 1)  # 8 Oct, after the holiday
    assert after.date().isoformat() == "2026-10-08"
    assert working_time(CALENDAR, eve, after) == timedelta(hours=1, minutes=30 + 450)
    assert after_working_time(CALENDAR, datetime(2026, 11, 27, 16, 0, tzinfo=CHINA),
                              timedelta(hours=4)) == datetime(2026, 11, 30, 11, 0,
                                                              tzinfo=CHINA)
    assert time_left_label(timedelta(hours=5, minutes=20), False) == "剩余 5 工作小时 20 分"
    assert time_left_label(timedelta(minutes=-120), True) == "已逾期 2 工作小时"
    assert time_left_label(timedelta(), True) == "已逾期"
    assert time_left_label(timedelta(minutes=40), False) == "剩余 40 分"


# -- the seat's entry opens its order ---------------------------------------------------


async def test_a_saved_entry_that_needs_a_work_order_opens_it(bench: Bench) -> None:
    """Saving a 台帐 entry of a consultation with 转工单 (difficult, 税政科) opens a work
    order, due in 3 working days, passed on to 税政科, opened by the seat; the answer
    and the entry name the order; saving again updates the same order (no second); the
    seat's 我的工单 lists it. A tip-off's entry completes the call's automatic order
    instead of opening another one."""
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    cookie, csrf = await bench.session("zhang")
    await bench.ledger.upsert_calls([ended_call("1764000000.5")], T0)
    entry = {"category": "consultation", "topic": "individual_income_tax",
             "question": "年度汇算退税多久到账", "answer": "", "resolution": "work_order",
             "difficulty": "difficult", "department": "税政科", "callback_number": ""}
    path = "/calls/1764000000.5/entry"
    status, body = await bench.call("POST", path, cookie, csrf, json=entry)
    assert status == 200, body
    order_id = body["work_order"]
    assert isinstance(order_id, int)
    assert rows(bench, "SELECT kind, status, department, difficulty, opened_by, content, "
                "callback_number, bureau FROM work_orders") == [
        ("consultation", "passed_on", "税政科", "difficult", "zhang", "年度汇算退税多久到账",
         NUMBER, "centre")]
    due = datetime.fromisoformat(rows(bench, "SELECT due_at FROM work_orders")[0][0])
    assert due == CALENDAR.add_working_days(T0, 3)
    status, body = await bench.call("GET", path, cookie)
    assert body["entry"]["work_order_id"] == order_id
    status, body = await bench.call("POST", path, cookie, csrf,
                                    json={**entry, "difficulty": "ordinary",
                                          "question": "退税多久到账（补充）"})
    assert (status, body["work_order"]) == (200, order_id)
    assert rows(bench, "SELECT id, difficulty, content FROM work_orders") == [
        (order_id, "ordinary", "退税多久到账（补充）")]
    status, mine = await bench.call("GET", "/orders/mine", cookie)
    assert status == 200, mine
    assert [o["id"] for o in mine["orders"]] == [order_id]
    assert mine["orders"][0]["status_label"] == "已转办"
    # A tip-off: its order was made when the call ended; the entry completes it.
    await bench.ledger.upsert_calls([ended_call("1764000000.6", "tip_off")], T0)
    auto = await OrderBook(bench.ledger, CALENDAR).from_call(
        linkedid="1764000000.6", kind="tip_off", number=NUMBER, name=None, at=T0)
    status, body = await bench.call("POST", "/calls/1764000000.6/entry", cookie, csrf,
                                    json={**entry, "category": "tip_off",
                                          "question": "举报虚开发票", "department": "稽查局"})
    assert (status, body["work_order"]) == (200, auto)
    assert rows(bench, "SELECT status, department, content, opened_by, difficulty FROM "
                "work_orders WHERE linkedid = '1764000000.6'") == [
        ("passed_on", "稽查局", "举报虚开发票", "zhang", "ordinary")]


# -- the liaison ------------------------------------------------------------------------


async def test_a_liaison_works_only_on_the_orders_passed_to_their_department(
        bench: Bench) -> None:
    """The liaison of 税政科 lists the orders passed on to 税政科 only, with the working
    time left (14.5 working hours from Wednesday 09:00 to the end of Thursday); another
    department's order is refused to them (audited); more time is refused until the
    caller was told (order-caller-not-told), then moves the deadline a working day and
    records it (delay_notified_at, the history, the audit); the answer is recorded; an
    answered order cannot be sent back; a passed-on one can (returned to the centre)."""
    sessions = await test_accounts_web.people(bench)
    cookie, csrf = sessions["liaison"]
    ours = await order_for(bench, "1764000001.1")
    theirs = await order_for(bench, "1764000001.2", department="稽查局")
    await order_for(bench, "1764000001.3", department=None)
    for _ in range(2):  # a page reading its list again: audited once
        status, body = await bench.call("GET", "/orders", cookie)
        assert status == 200, body
    assert ([o["id"] for o in body["orders"]], body["total"]) == ([ours], 1)
    assert bench.audit().count(("p-liaison", "orders.list", "work_orders")) == 1
    shown = body["orders"][0]
    assert shown["time_left_seconds"] == 14.5 * 3600
    assert shown["time_left_label"] == "剩余 14 工作小时 30 分"
    assert (shown["overdue"], shown["nearly_due"]) == (False, False)
    for method, path, data in (("GET", f"/orders/{theirs}", None),
                               ("POST", f"/orders/{theirs}/answer", {"result": "x"})):
        status, body = await bench.call(method, path, cookie, csrf, json=data)
        assert (status, body["error"]) == (403, "role-required"), (path, body)
    assert ("p-liaison", "api.refused", f"work_order:{theirs}") in bench.audit()
    # Liaisons do not pass on, close or remind.
    for action in ("pass-on", "close", "remind"):
        status, body = await bench.call("POST", f"/orders/{ours}/{action}", cookie, csrf,
                                        json={})
        assert (status, body["error"]) == (403, "role-required"), action
    extend = {"days": 1, "reason": "需向总局请示"}
    for told in (False, None):
        status, body = await bench.call("POST", f"/orders/{ours}/extend", cookie, csrf,
                                        json={**extend, "caller_told": told})
        assert status == 400, body
        assert body["error"] == ("order-caller-not-told" if told is False
                                 else "api-bad-body"), body
    for days in (0, 6):
        status, body = await bench.call("POST", f"/orders/{ours}/extend", cookie, csrf,
                                        json={**extend, "days": days, "caller_told": True})
        assert (status, body["error"]) == (400, "order-bad-extension")
    status, body = await bench.call("POST", f"/orders/{ours}/extend", cookie, csrf,
                                    json={**extend, "caller_told": True, "days": "1"})
    assert (status, body["error"]) == (400, "api-bad-body")
    before = datetime.fromisoformat(shown["due_at"])
    status, body = await bench.call("POST", f"/orders/{ours}/extend", cookie, csrf,
                                    json={**extend, "caller_told": True})
    assert status == 200, body
    assert datetime.fromisoformat(body["due_at"]) == CALENDAR.add_working_days(before, 1)
    assert body["delay_notified_at"] is not None
    assert [(e["action"], e["label"], e["by"], e["note"]) for e in body["history"]][-1] == (
        "extend", "延期", "p-liaison", "需向总局请示")
    extended = [json.loads(d) for (d,) in rows(
        bench, "SELECT detail FROM audit WHERE action = 'order.extend'")]
    assert extended[0]["caller_told"] is True
    assert extended[0]["old_due"] == shown["due_at"]
    status, body = await bench.call("POST", f"/orders/{ours}/answer", cookie, csrf,
                                    json={"result": "已电话答复：退税 10 个工作日内到账"})
    assert (status, body["status"], body["status_label"]) == (200, "answered", "已答复")
    assert body["time_left_seconds"] is None
    status, body = await bench.call("POST", f"/orders/{ours}/return", cookie, csrf,
                                    json={"reason": "不属本部门"})
    assert (status, body["error"]) == (409, "order-not-passed-on")
    other = await order_for(bench, "1764000001.4")
    status, body = await bench.call("POST", f"/orders/{other}/return", cookie, csrf,
                                    json={"reason": " "})
    assert (status, body["error"]) == (400, "order-no-reason")
    status, body = await bench.call("POST", f"/orders/{other}/return", cookie, csrf,
                                    json={"reason": "不属本部门，请转稽查局"})
    assert (status, body["status"], body["status_label"]) == (200, "returned", "已退回中心")
    assert ("p-liaison", "order.return", f"work_order:{other}") in bench.audit()


async def test_a_city_bureaus_seat_sees_only_its_bureaus_orders(bench: Bench) -> None:
    """A seat of the Hefei bureau (remote) lists only the orders of calls Hefei's seats
    took (or passed on to Hefei); the centre's order is refused to it."""
    await bench.user("wang", {"seat"}, seat="8101", bureau="hefei")
    cookie, _ = await bench.session("wang")
    centre = await order_for(bench, "1764000002.1")
    hefei = await order_for(bench, "1764000002.2", group="hefei")
    status, body = await bench.call("GET", "/orders", cookie)
    assert [o["id"] for o in body["orders"]] == [hefei], body
    assert body["orders"][0]["bureau_name"] == "合肥市税务局"
    status, body = await bench.call("GET", f"/orders/{centre}", cookie)
    assert (status, body["error"]) == (403, "role-required")


# -- the leader -------------------------------------------------------------------------


async def test_a_leaders_reminder_shows_on_the_liaisons_list(bench: Bench) -> None:
    """A leader's 催办 of an overdue order is recorded on it (who, when, the note),
    audited as order.remind, and the liaison's list shows it with the leader's name; the
    follow-up lists the order as overdue; an answered order cannot be reminded of."""
    sessions = await test_accounts_web.people(bench)
    leader, leader_csrf = sessions["leader"]
    liaison, liaison_csrf = sessions["liaison"]
    # From Sunday's call, due at the end of Monday: overdue on Wednesday.
    order_id = await order_for(bench, "1764000003.1", at=T0 - timedelta(days=3))
    status, body = await bench.call("GET", "/followup", leader)
    assert status == 200, body
    assert [o["id"] for o in body["overdue"]] == [order_id]
    # all of Tuesday and Wednesday from 08:30 to 09:00
    assert body["overdue"][0]["time_left_label"] == "已逾期 8 工作小时"
    status, body = await bench.call("POST", f"/orders/{order_id}/remind", leader, leader_csrf,
                                    json={"note": "请今日内答复"})
    assert status == 200, body
    status, body = await bench.call("GET", "/orders?status=passed_on", liaison)
    reminder = body["orders"][0]["reminders"]
    assert [(r["by"], r["by_name"], r["note"], r["label"]) for r in reminder] == [
        ("p-leader", "p-leader", "请今日内答复", "催办")]
    assert reminder[0]["at"].startswith("2026-11-25T09:00")
    assert body["orders"][0]["overdue"] is True
    assert ("p-leader", "order.remind", f"work_order:{order_id}") in bench.audit()
    await bench.call("POST", f"/orders/{order_id}/answer", liaison, liaison_csrf,
                     json={"result": "已答复"})
    status, body = await bench.call("POST", f"/orders/{order_id}/remind", leader, leader_csrf)
    assert (status, body["error"]) == (409, "order-done")


async def test_abandoned_calls_today_and_their_call_back_orders(bench: Bench) -> None:
    """Today's abandoned calls are listed for the leader (a tip-off's number masked),
    yesterday's not; 回拨 opens one call back order from the call's row (its number,
    category, due in 1 working day, opened by the leader, audited); a second is
    order-duplicate naming the first, an answered call is call-not-abandoned, an unknown
    one call-unknown."""
    sessions = await test_accounts_web.people(bench)
    leader, csrf = sessions["leader"]
    await bench.ledger.upsert_calls([
        ended_call("1764000004.1", "tip_off", outcome="abandoned"),
        ended_call("1764000004.2", outcome="abandoned", at=T0 - timedelta(days=1)),
        ended_call("1764000004.3")], T0)
    status, body = await bench.call("GET", "/followup", leader)
    assert status == 200, body
    assert [(c["linkedid"], c["caller_number"], c["masked"], c["category_label"],
             c["queue_name"], c["callback_order"]) for c in body["abandoned"]] == [
        ("1764000004.1", "139****2345", True, "涉税举报", "个人所得税", None)]
    assert NUMBER not in json.dumps(body)
    status, body = await bench.call("POST", "/calls/1764000004.1/callback", leader, csrf)
    assert status == 201, body
    order_id = body["id"]
    assert (body["kind"], body["kind_label"], body["callback_number"], body["masked"],
            body["opened_by"]) == ("callback", "回拨", "139****2345", True, "p-leader")
    assert datetime.fromisoformat(body["due_at"]) == CALENDAR.add_working_days(T0, 1)
    assert rows(bench, "SELECT callback_number, category FROM work_orders") == [
        (NUMBER, "tip_off")]
    assert ("p-leader", "order.create", f"work_order:{order_id}") in bench.audit()
    status, body = await bench.call("POST", "/calls/1764000004.1/callback", leader, csrf)
    assert (status, body["error"]) == (409, "order-duplicate")
    assert str(order_id) in body["message"]
    for linkedid, error, code in (("1764000004.3", 409, "call-not-abandoned"),
                                  ("nosuch.1", 404, "call-unknown")):
        status, body = await bench.call("POST", f"/calls/{linkedid}/callback", leader, csrf)
        assert (status, body["error"]) == (error, code)
    status, body = await bench.call("GET", "/followup", leader)
    assert body["abandoned"][0]["callback_order"] == order_id


# -- search, masking, bad input ----------------------------------------------------------


async def test_search_filters_pages_and_refuses_bad_queries(bench: Bench) -> None:
    """Orders are searched by status, department, text and overdue, a page at a time with
    the total; an unknown, repeated or malformed parameter is api-bad-query; a body of
    the wrong shape api-bad-body; an unknown order order-unknown (404)."""
    sessions = await test_accounts_web.people(bench)
    cookie, csrf = sessions["seat"]
    ids = [await order_for(bench, f"1764000005.{i}", department="税政科" if i % 2 else
                           "稽查局") for i in range(1, 6)]
    status, body = await bench.call("GET", "/orders?department=税政科&limit=2", cookie)
    assert ([o["id"] for o in body["orders"]], body["total"]) == ([ids[0], ids[2]], 3)
    status, body = await bench.call("GET", "/orders?department=税政科&limit=2&offset=2",
                                    cookie)
    assert [o["id"] for o in body["orders"]] == [ids[4]]
    status, body = await bench.call("GET", "/orders?q=1764000005.2", cookie)
    assert [o["id"] for o in body["orders"]] == [ids[1]]
    status, body = await bench.call("GET", "/orders?q=问题%", cookie)
    assert body["total"] == 0  # a % is a character, not a wildcard
    status, body = await bench.call("GET", "/orders?overdue=1", cookie)
    assert body["total"] == 0
    bench.clock.now = T0 + timedelta(days=2)  # Friday: due Thursday, overdue
    cookie, csrf = await bench.session("p-seat")  # (the first one idled out meanwhile)
    status, body = await bench.call("GET", "/orders?overdue=1&status=passed_on", cookie)
    assert body["total"] == 5
    for query in ("?colour=red", "?limit=0", "?limit=abc", "?offset=-1", "?overdue=yes",
                  "?status=lost", "?kind=x", "?limit=1&limit=2"):
        status, body = await bench.call("GET", "/orders" + query, cookie)
        assert (status, body["error"]) == (400, "api-bad-query"), (query, body)
    for path, data in ((f"/orders/{ids[0]}/answer", {"result": 12}),
                       (f"/orders/{ids[0]}/answer", {"verdict": "x"}),
                       (f"/orders/{ids[0]}/answer", ["x"]),
                       (f"/orders/{ids[0]}/answer", {}),
                       (f"/orders/{ids[0]}/close", {"note": "a\x00b"})):
        status, body = await bench.call("POST", path, cookie, csrf, json=data)
        assert (status, body["error"]) == (400, "api-bad-body"), (path, data, body)
    for path in ("/orders/999999", "/orders/abc", "/orders/0"):
        status, body = await bench.call("GET", path, cookie)
        assert status == 404, body
        assert body["error"] in ("order-unknown", "api-not-found")
    status, body = await bench.call("POST", f"/orders/{ids[0]}/pass-on", cookie, csrf,
                                    json={"bureau": "nowhere"})
    assert (status, body["error"]) == (400, "api-bad-body")
    status, body = await bench.call("POST", f"/orders/{ids[0]}/pass-on", cookie, csrf,
                                    json={"bureau": "hefei"})
    assert (status, body["bureau"], body["bureau_name"]) == (200, "hefei", "合肥市税务局")


async def test_reporters_stay_masked_unless_an_auditor_unmasks_with_a_reason(
        bench: Bench) -> None:
    """A tip-off order's callback number is masked in every listing and view; a seat's
    unmask is refused (unmask-not-allowed, audited order.unmask_refused); an auditor must
    give a reason, and the unmask is audited with it."""
    sessions = await test_accounts_web.people(bench)
    seat, _ = sessions["seat"]
    auditor, _ = sessions["auditor"]
    order_id = await order_for(bench, "1764000006.1", category="tip_off")
    for cookie in (seat, auditor):
        for path in ("/orders", f"/orders/{order_id}", "/orders/mine"):
            status, body = await bench.call("GET", path, cookie)
            assert status == 200, body
            assert NUMBER not in json.dumps(body), path
    status, body = await bench.call("GET", f"/orders/{order_id}?unmask=1&reason=核查", seat)
    assert (status, body["error"]) == (403, "unmask-not-allowed")
    assert ("p-seat", "order.unmask_refused", f"work_order:{order_id}") in bench.audit()
    status, body = await bench.call("GET", f"/orders/{order_id}?unmask=1", auditor)
    assert (status, body["error"]) == (400, "api-bad-body")
    status, body = await bench.call("GET", f"/orders/{order_id}?unmask=1&reason=纪检核查",
                                    auditor)
    assert (status, body["callback_number"], body["masked"]) == (200, NUMBER, False)
    assert rows(bench, "SELECT actor, detail FROM audit WHERE action = 'order.unmask'") == [
        ("p-auditor", "纪检核查")]


async def test_the_orders_stream_says_when_an_order_changes(bench: Bench) -> None:
    """The orders' event stream says `orders` at once and again when an order changes
    (a reminder), without waiting for its minute."""
    sessions = await test_accounts_web.people(bench)
    cookie, _ = sessions["liaison"]
    order_id = await order_for(bench, "1764000007.1")
    async with bench.client.get("/api/v1/orders/events", headers={"Cookie": cookie}) as res:
        assert res.status == 200
        assert (await res.content.readline()).decode() == "event: orders\n"
        await res.content.readline()
        await res.content.readline()
        await bench.orders.book.remind(order_id, note=None, actor="x", at=T0)
        bench.orders.changed()
        line = await asyncio.wait_for(res.content.readline(), 5)
        assert line.decode() == "event: orders\n"


async def test_the_pages_need_a_login_and_the_home_page_links_them_by_role(
        bench: Bench) -> None:
    """The liaison's and the follow-up page send a visitor without a session to /login;
    the landing page links the liaison's page for a liaison, the follow-up page for a
    leader, the seat's page for seats, and no page of another role."""
    for path in ("/workbench/liaison", "/workbench/leader/followup"):
        async with bench.client.get(path, allow_redirects=False) as res:
            assert (res.status, res.headers["Location"]) == (303, "/login")
    sessions = await test_accounts_web.people(bench)
    expected = {"liaison": {"liaison-page"}, "leader": {"seat-page", "followup-page"},
                "seat": {"seat-page"}, "admin": set()}
    for role, links in expected.items():
        async with bench.client.get("/workbench/", headers={"Cookie": sessions[role][0]}
                                    ) as res:
            text = await res.text()
        found = {i for i in ("seat-page", "liaison-page", "followup-page")
                 if f'id="{i}"' in text}
        assert found == links, role
        if role == "liaison":
            async with bench.client.get("/workbench/liaison",
                                        headers={"Cookie": sessions[role][0]}) as res:
                assert res.status == 200
                assert "联络员工作台" in await res.text()


@pytest.mark.parametrize("when", [T0, datetime(2026, 11, 28, 2, 0, tzinfo=UTC)])
def test_nearly_due_is_four_working_hours(when: datetime) -> None:
    """Nearly due means due within 4 working hours: on a Wednesday at 09:00 that is 14:30
    the same day (the lunch break counts nothing); on a Saturday, 14:00 on Monday."""
    end = after_working_time(CALENDAR, when, timedelta(hours=4))
    expected = {T0: datetime(2026, 11, 25, 14, 30, tzinfo=CHINA),
                datetime(2026, 11, 28, 2, 0, tzinfo=UTC):
                datetime(2026, 11, 30, 14, 0, tzinfo=CHINA)}
    assert end == expected[when]


def test_the_orders_commands_scope_a_liaison_like_the_api(tmp_path: Path) -> None:
    """`hotline orders list` run by a liaison's OS account lists only the orders passed on
    to their department; `orders show` of another department's order is refused
    (role-required, audited as staff.refused); passing on or closing is the centre's
    (role-required); answering their own works."""
    from tests.cli import hotline

    path = tmp_path / "ledger.sqlite3"

    async def setup() -> tuple[int, int]:
        async with await Ledger.open(path) as ledger:
            book = AccountBook(ledger)
            for name, roles, fields in (("admin", {"admin"}, {"os_login": "ops"}),
                                        ("li", {"liaison"}, {"department": "税政科",
                                                             "os_login": "li-os"})):
                await book.create(username=name, display_name=name, roles=roles,
                                  password_hash="x", actor="test", at=T0, **fields)
            await ledger.upsert_calls([ended_call("L1"), ended_call("L2")], T0)
            orders = OrderBook(ledger, CALENDAR)
            ids = []
            for linkedid, department in (("L1", "税政科"), ("L2", "稽查局")):
                oid = await orders.create(linkedid=linkedid, kind="consultation",
                                          actor="zhang", at=T0, content="问题")
                await orders.change(oid, "pass_on", actor="zhang", at=T0, text=department)
                ids.append(oid)
            return ids[0], ids[1]

    ours, theirs = asyncio.run(setup())

    def run(*args: str) -> Any:
        return hotline(*args, user="li-os", env={"HOTLINE_LEDGER_PATH": str(path)})

    listed = run("orders", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [o["id"] for o in json.loads(listed.stdout)] == [ours]
    refused = run("orders", "show", str(theirs))
    assert (refused.returncode, "[role-required]" in refused.stderr) == (1, True), refused
    assert ("li", "staff.refused", f"work_order:{theirs}") in [
        r[:3] for r in sqlite3.connect(path).execute(
            "SELECT actor, action, target FROM audit").fetchall()]
    for args in (("pass-on", str(ours), "--department", "稽查局"), ("close", str(ours))):
        res = run("orders", *args)
        assert "[role-required]" in res.stderr, (args, res)
    answered = run("orders", "answer", str(ours), "--result", "已答复")
    assert answered.returncode == 0, answered.stderr


async def test_my_orders_are_the_opened_ones_and_an_experts_the_difficult_ones(
        bench: Bench) -> None:
    """A seat's 我的工单 are the orders it opened; an expert's also every difficult
    question not yet done, not an ordinary one of another seat nor an answered one; a
    liaison's those passed on to them."""
    sessions = await test_accounts_web.people(bench)
    book = OrderBook(bench.ledger, CALENDAR)
    mine = await order_for(bench, "1764000008.1", opened_by="p-seat")
    hard = await order_for(bench, "1764000008.2", opened_by="zhang")
    await book.change(hard, "difficult", actor="zhang", at=T0)
    done = await order_for(bench, "1764000008.3", opened_by="zhang")
    await book.change(done, "difficult", actor="zhang", at=T0)
    await book.change(done, "answer", actor="zhang", at=T0, text="已答复")
    await order_for(bench, "1764000008.4", opened_by="zhang", department="稽查局")
    expected = {"seat": [mine], "expert": [hard], "liaison": [mine, hard, done]}
    for role, ids in expected.items():
        status, body = await bench.call("GET", "/orders/mine", sessions[role][0])
        assert status == 200, body
        assert sorted(o["id"] for o in body["orders"]) == sorted(ids), role
