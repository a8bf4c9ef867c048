"""Work orders on the web in Debian's chromium (headless, Playwright for Python with
executable_path; never `playwright install`), with real calls through the shipped 12366
menu on the test Asterisk: seat 8001's person writes the 台帐 entry of a consultation it
answered saying it needs a work order to 税政科, and the page names the order it opened;
税政科's liaison sees it on their page with the working time left, asks for more time
(refused until the caller was told, then the deadline moves a working day) and answers
it; a leader's 催办 of another, overdue order shows on the liaison's open page with the
leader's name; a caller who hangs up waiting is on the leader's follow-up page, and 回拨
opens a call back order from the call's ledger row."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path
from hotline.core.calendar.schedule import Calendar
from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.ledger.orders import OrderBook, insert_order
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance
from tests.conftest import ami_action
from tests.real.staff import CHROMIUM, logged_in, need_chromium, person, web_url

pytestmark = pytest.mark.asterisk
NUMBER = "13955100777"  # the consultation's caller
LEAVER = "13955100888"  # the caller who hangs up waiting
PASSWORD = "Orders-test-secret-9"
TALK = 6  # seconds seat 8001 talks before it hangs up
# Passed on to 税政科 and due long before the service's (pinned) clock: overdue.
OVERDUE_CREATED = datetime.fromisoformat("2026-11-19T10:00:00+08:00")
OVERDUE_DUE = datetime.fromisoformat("2026-11-20T17:30:00+08:00")


async def _people(service: Service) -> None:
    for name, shown, roles, fields in (
            ("orders8001", "张敏", {"seat"}, {"seat": "8001", "bureau": "centre"}),
            ("liaison-sz", "李联络", {"liaison"}, {"department": "税政科"}),
            ("leader-wang", "王班长", {"leader"}, {})):
        await person(service, name, PASSWORD, name=shown, roles=roles, **fields)


async def _login(browser: Any, url: str, name: str, link: str) -> Any:
    """A page of `name`'s own (a browser context each: a session each), logged in and
    on the page the landing page links as `link`."""
    page = await logged_in(browser, url, name, PASSWORD)
    await page.click(f"#{link}")
    return page


def _rows(service: Service, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(ledger_path(service.settings))
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


async def _overdue_order(service: Service) -> int:
    """An order passed on to 税政科 a week before the service's clock (overdue)."""
    ledger = service.accounts.ledger
    async with ledger.transaction() as db:
        order_id = await insert_order(
            db, kind="consultation", source=f"test-orders:{datetime.now(UTC).timestamp()}",
            content="发票红冲流程咨询（逾期）", created_at=OVERDUE_CREATED,
            due_at=OVERDUE_DUE, callback_number="13955100999")
    assert order_id is not None
    await OrderBook(ledger, Calendar()).change(order_id, "pass_on", actor="test",
                                               at=OVERDUE_CREATED, text="税政科")
    return order_id


async def test_a_seats_work_order_is_answered_by_the_liaison_and_followed_up(
        hotline_service: Service, caller: AmiGateway, asterisk: Instance) -> None:
    """The 台帐 entry of a real consultation (12366 menu 1 1, answered by seat 8001)
    saved with 转工单 to 税政科 opens a work order passed on to 税政科, named on the seat's
    page and in its 我的工单; 税政科's liaison sees it with 剩余 working time; more time
    without the caller told is refused, with it the deadline moves one working day
    (caller told recorded); the answer takes it off the to-do list. A leader's 催办 of an
    overdue order appears on the liaison's open page (live) as 催办：王班长. A real caller
    who hangs up while queued is on the leader's follow-up page; 回拨 opens one call back
    order with the caller's number, opened by the leader."""
    need_chromium()
    from playwright.async_api import async_playwright, expect

    service = hotline_service
    url = web_url(service)
    await _people(service)
    overdue = await _overdue_order(service)
    await caller.set_global("SEAT_TALK_8001", str(TALK))
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       headless=True)
            try:
                # -- the seat: a real call, its entry saying it needs a work order
                seat = await _login(browser, url, "orders8001", "seat-page")
                await seat.wait_for_url(f"{url}/workbench/seat")
                await expect(seat.locator("#state")).to_have_text("已登录")
                await asyncio.sleep(0.5)  # the routing loop's view of the seat
                call = TestCall(NUMBER, None, ["1", "1"])
                placed = asyncio.create_task(place_call(caller, call, timeout=90))
                try:
                    await seat.wait_for_selector("#pop", state="visible", timeout=60_000)
                    assert await seat.inner_text("#pop-category") == "税务咨询"
                    await seat.wait_for_selector("#entry", state="visible")
                    await seat.fill("#e-question", "年度汇算多缴税款的退税多久到账")
                    await seat.select_option("#e-resolution", "work_order")
                    await seat.select_option("#e-difficulty", "ordinary")
                    await seat.fill("#e-department", "税政科")
                    await asyncio.wait_for(placed, 90)
                finally:
                    if not placed.done():
                        placed.cancel()
                await expect(seat.locator("#state")).to_have_text("暂停（话后处理）")
                await seat.click("#e-save")
                await expect(seat.locator("#e-status")).to_have_text("已保存")
                await expect(seat.locator("#e-order")).to_have_text(re.compile(
                    r"^已转工单 #\d+$"))
                order = int((await seat.inner_text("#e-order")).split("#")[1])
                await expect(seat.locator(f"#my-order-{order} .status")).to_have_text("已转办")
                await expect(seat.locator("#state")).to_have_text("已登录")
                assert _rows(service, "SELECT linkedid, kind, status, department, opened_by, "
                             "content, callback_number FROM work_orders WHERE id = ?",
                             order) == [(call.linkedid, "consultation", "passed_on", "税政科",
                                         "orders8001", "年度汇算多缴税款的退税多久到账",
                                         NUMBER)]

                # -- the liaison: time left, more time (the caller told), the answer
                liaison = await _login(browser, url, "liaison-sz", "liaison-page")
                await liaison.wait_for_url(f"{url}/workbench/liaison")
                row = liaison.locator(f"#order-{order}")
                await expect(row.locator(".left")).to_have_text(re.compile(r"^剩余 \d+ 工作小时"))
                await expect(liaison.locator(f"#order-{overdue} .left")).to_contain_text(
                    "逾期")
                await row.locator("button.handle").click()
                await expect(liaison.locator("#act")).to_be_visible()
                due_before = _rows(service, "SELECT due_at FROM work_orders WHERE id = ?",
                                   order)[0][0]
                await liaison.fill("#extend-reason", "需向总局请示口径")
                await liaison.select_option("#extend-days", "1")
                await liaison.click("#extend-send")  # the caller not told yet: refused
                await expect(liaison.locator("#act-status")).to_contain_text("未成功")
                await liaison.check("#extend-told")
                await liaison.click("#extend-send")
                await expect(liaison.locator("#act-status")).to_have_text("已延期")
                await expect(row.locator(".status")).to_have_text("已转办，已延期")
                (due_after, told), = _rows(service, "SELECT due_at, delay_notified_at FROM "
                                           "work_orders WHERE id = ?", order)
                assert told is not None
                calendar = service.live.current().calendar
                assert datetime.fromisoformat(due_after) == calendar.add_working_days(
                    datetime.fromisoformat(due_before), 1)
                await liaison.fill("#answer-result", "已电话答复：审核通过后 10 个工作日内到账")
                await liaison.click("#answer-send")
                await expect(liaison.locator("#act-status")).to_have_text("已答复")
                await expect(row).to_have_count(0)
                await expect(liaison.locator(f"#done-{order}")).to_be_visible()
                assert _rows(service, "SELECT status, result FROM work_orders WHERE id = ?",
                             order) == [("answered", "已电话答复：审核通过后 10 个工作日内到账")]

                # -- the leader: 催办 of the overdue order, seen live by the liaison
                leader = await _login(browser, url, "leader-wang", "followup-page")
                await leader.wait_for_url(f"{url}/workbench/leader/followup")
                late = leader.locator(f"#overdue-{overdue}")
                await expect(late.locator(".left")).to_contain_text("已逾期")
                await leader.fill("#remind-note", "请今日内答复")
                await late.locator("button.remind").click()
                await expect(late.locator(".reminders")).to_contain_text("催办：王班长")
                await expect(liaison.locator(f"#order-{overdue} .reminders")).to_contain_text(
                    "催办：王班长")
                await expect(liaison.locator(f"#order-{overdue} .reminders")).to_contain_text(
                    "请今日内答复")
                assert _rows(service, "SELECT actor, note FROM work_order_events WHERE "
                             "order_id = ? AND action = 'remind'", overdue) == [
                    ("leader-wang", "请今日内答复")]
                assert _rows(service, "SELECT actor FROM audit WHERE action = "
                             "'order.remind' AND target = ?", f"work_order:{overdue}") == [
                    ("leader-wang",)]

                # -- an abandoned call and its 回拨
                ami_action(asterisk, "Setvar", Variable="SEAT_MODE_8001", Value="noanswer")
                try:
                    gone = TestCall(LEAVER, None, ["1", "1"], hangup_when_queued=True)
                    await place_call(caller, gone, timeout=60)
                finally:
                    ami_action(asterisk, "Setvar", Variable="SEAT_MODE_8001", Value="")
                left_row = await wait_for_ledger_row(ledger_path(service.settings),
                                                     gone.linkedid)
                assert left_row.outcome == "abandoned"
                await leader.click("#refresh")
                abandoned = leader.locator(f'tr[data-linkedid="{gone.linkedid}"]')
                await expect(abandoned.locator(".number")).to_have_text(LEAVER)
                await abandoned.locator("button.callback").click()
                await expect(abandoned.locator("td.callback")).to_have_text(re.compile(
                    r"^已建回拨工单 #\d+$"))
            finally:
                await browser.close()
    finally:
        await caller.set_global("SEAT_TALK_8001", "")
    assert _rows(service, "SELECT kind, linkedid, callback_number, opened_by, status FROM "
                 "work_orders WHERE source = ?", f"callback:{gone.linkedid}") == [
        ("callback", gone.linkedid, LEAVER, "leader-wang", "open")]
