"""The seat's page in Debian's chromium (headless, Playwright for Python with
executable_path; never `playwright install`) with a real call: seat 8001's person logs
in, opens /workbench/seat, pauses and unpauses; a real caller (a Local channel on the
test Asterisk) walks the shipped 12366 menu to the tip-off queue (key 2) and rings seat
8001 (a Local seat that answers and talks 10 s): the page's screen pop, pushed over its
event stream, shows 涉税举报, the menu path by its label (主菜单) and the caller's number
masked (never in full anywhere on the page); after the call the seat writes the 台帐
entry on the page and it is in the ledger beside the call's row, ending the seat's
after-call work."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path
from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.pbx.gateway import AmiGateway
from tests.real.staff import CHROMIUM, logged_in, need_chromium, person, web_url

pytestmark = pytest.mark.asterisk
NUMBER = "055312345678"
PASSWORD = "Seat-8001-secret"
TALK = 10  # seconds seat 8001 talks before it hangs up


async def test_a_tip_off_pops_on_the_seats_page_and_its_entry_is_saved(
        hotline_service: Service, caller: AmiGateway) -> None:
    """Pause (用餐) and unpause from the page change the seat's state shown; a real
    tip-off through the 12366 menu ringing seat 8001 pops on its open page with the
    category 涉税举报 and the number masked as the ledger masks it, the full number
    nowhere in the page; after the call the seat is paused in after-call work (话后处理);
    the 台帐 entry typed during the call survives a reload of the page, and once saved
    it is the call's entry in the ledger, saved by the person, and the seat is
    unpaused."""
    need_chromium()
    from playwright.async_api import async_playwright, expect

    service = hotline_service
    url = web_url(service)
    await person(service, "seat8001", PASSWORD, name="张敏", roles={"seat"}, seat="8001",
                 bureau="centre")
    await caller.set_global("SEAT_TALK_8001", str(TALK))
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       headless=True)
            try:
                page = await logged_in(browser, url, "seat8001", PASSWORD)
                await page.click("#seat-page")
                await page.wait_for_url(f"{url}/workbench/seat")
                state = page.locator("#state")
                await expect(page.locator("#state")).to_have_text("已登录")
                await page.select_option("#reason", "meal")
                await page.click("#pause")
                await expect(page.locator("#state")).to_have_text("暂停（用餐）")
                await page.click("#unpause")
                await expect(page.locator("#state")).to_have_text("已登录")
                assert await state.inner_text() == "已登录"
                await asyncio.sleep(0.5)  # the routing loop's unpause of the member
                call = TestCall(NUMBER, None, ["2"])
                placed = asyncio.create_task(place_call(caller, call, timeout=90))
                try:
                    await page.wait_for_selector("#pop", state="visible", timeout=60_000)
                    assert await page.inner_text("#pop-category") == "涉税举报"
                    shown = await page.inner_text("#pop-number")
                    assert shown.startswith("055*****5678"), shown
                    assert "保密" in shown
                    assert NUMBER not in await page.content()
                    assert await page.inner_text("#pop-path") == "主菜单"  # its label
                    assert await page.inner_text("#pop-digits") == "2"
                    await page.wait_for_selector("#entry", state="visible")
                    await page.fill("#e-question", "举报某公司虚开发票")
                    await page.fill("#e-answer", "已记录，转稽查部门")
                    await page.select_option("#e-resolution", "work_order")
                    await page.select_option("#e-difficulty", "difficult")
                    await page.fill("#e-department", "稽查局")
                    await asyncio.wait_for(placed, 90)
                finally:
                    if not placed.done():
                        placed.cancel()
                await page.wait_for_selector("#pop", state="hidden", timeout=15_000)
                # After-call work: paused until the entry is saved (its page is open).
                await expect(page.locator("#state")).to_have_text("暂停（话后处理）")
                assert await page.input_value("#e-question") == "举报某公司虚开发票"
                assert await page.input_value("#e-category") == "tip_off"
                await page.reload()  # the draft typed during the call survives it
                await expect(page.locator("#e-question")).to_have_value("举报某公司虚开发票")
                await expect(page.locator("#e-department")).to_have_value("稽查局")
                await page.click("#e-save")
                await expect(page.locator("#e-status")).to_have_text("已保存")
                await expect(page.locator("#state")).to_have_text("已登录")
                # today's figures: this call among the calls answered
                assert int(await page.inner_text("#t-answered")) >= 1
            finally:
                await browser.close()
    finally:
        await caller.set_global("SEAT_TALK_8001", "")
    row = await wait_for_ledger_row(ledger_path(service.settings), call.linkedid)
    assert (row.category, row.seat, row.outcome) == ("tip_off", "演示座席8001", "answered")
    con = sqlite3.connect(ledger_path(service.settings))
    try:
        saved = con.execute(
            "SELECT category, question, answer, resolution, difficulty, department, "
            "saved_by FROM call_entries WHERE linkedid = ?", (call.linkedid,)).fetchall()
    finally:
        con.close()
    assert saved == [("tip_off", "举报某公司虚开发票", "已记录，转稽查部门", "work_order",
                      "difficult", "稽查局", "seat8001")]
