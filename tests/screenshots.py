"""The README's screenshots of the staff pages, made by this script, never by hand:
`make screenshots` runs it (pytest, for the shared fixtures: the embedded Asterisk, the
service on a fresh ledger and the tests' caller) and writes docs/screenshots/*.png.

It is not part of the suite (its name does not start with test_): it checks only that
each page shows what its picture is meant to show before taking it, and stops (no
picture) when one does not. Everything on the pages is the
sandbox's own: demo people created here, a real tip-off through the shipped 12366 menu
to the Local seat 8001 whose 台帐 entry opens a work order for 稽查局, in Chinese as
staff see it (Debian's chromium with fonts-wqy-microhei, zh-CN).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hotline.app.service import Service
from hotline.common.clock import CHINA
from hotline.features.calls.testcall import TestCall, place_call
from hotline.pbx.gateway import AmiGateway
from tests.real.staff import CHROMIUM, logged_in, need_chromium, person, web_url

pytestmark = pytest.mark.asterisk

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
NUMBER = "13955123456"  # the demo caller (a tip-off: masked on every page)
TALK = 25  # seconds seat 8001 talks: the pictures of a call in progress are taken in it
WIDTH, HEIGHT = 1280, 860

# username, display name, roles, seat, bureau, department
PEOPLE: tuple[tuple[str, str, set[str], str | None, str | None, str | None], ...] = (
    ("seat8001", "张敏", {"seat"}, "8001", "centre", None),
    ("leader1", "王立新", {"leader"}, None, "centre", None),
    ("liaison1", "李静", {"liaison"}, None, "centre", "稽查局"),
    ("auditor1", "赵审计", {"auditor"}, None, "centre", None),
    ("admin1", "周管理", {"admin"}, None, None, None),
)
PASSWORD = "Demo-password-2026"


async def _people(service: Service) -> None:
    for username, name, roles, seat, bureau, department in PEOPLE:
        await person(service, username, PASSWORD, name=name, roles=roles, seat=seat,
                     bureau=bureau, department=department)


class Shots:
    """One browser; a context (own cookies) per person; each picture named."""

    def __init__(self, browser: Any, url: str) -> None:
        self.browser = browser
        self.url = url
        self.taken: list[str] = []

    async def page_of(self, username: str) -> Any:
        return await logged_in(self.browser, self.url, username, PASSWORD,
                               viewport={"width": WIDTH, "height": HEIGHT})

    async def take(self, page: Any, name: str, *, full_page: bool = False) -> None:
        # Not "networkidle": the pages hold their event streams open.
        await page.wait_for_load_state("load")
        await asyncio.sleep(0.8)  # the stream's first view drawn
        await page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)
        self.taken.append(name)


async def test_screenshots(hotline_service: Service, caller: AmiGateway) -> None:
    """Takes the pictures of the README's workbench section (docs/screenshots/)."""
    need_chromium()
    from playwright.async_api import async_playwright, expect

    service = hotline_service
    url = web_url(service)
    OUT.mkdir(parents=True, exist_ok=True)
    await _people(service)
    await caller.set_global("SEAT_TALK_8001", str(TALK))
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       headless=True)
            try:
                shots = Shots(browser, url)
                first = await (await browser.new_context(
                    locale="zh-CN", viewport={"width": WIDTH, "height": HEIGHT})).new_page()
                await first.goto(f"{url}/login")
                await shots.take(first, "login")
                seat = await shots.page_of("seat8001")
                await shots.take(seat, "home-seat")
                await seat.goto(f"{url}/workbench/seat")
                await expect(seat.locator("#state")).to_have_text("已登录")
                leader = await shots.page_of("leader1")
                call = TestCall(NUMBER, None, ["2"])
                placed = asyncio.create_task(place_call(caller, call, timeout=120))
                try:
                    await seat.wait_for_selector("#pop", state="visible", timeout=60_000)
                    await seat.fill("#e-question", "举报某公司虚开增值税发票")
                    await seat.fill("#e-answer", "已记录举报内容，将转稽查局处理")
                    await seat.select_option("#e-resolution", "work_order")
                    await seat.select_option("#e-difficulty", "ordinary")
                    await seat.fill("#e-department", "稽查局")
                    await shots.take(seat, "seat-call", full_page=True)
                    await during_call(shots, leader, url)
                    await asyncio.wait_for(placed, 120)
                finally:
                    if not placed.done():
                        placed.cancel()
                await seat.wait_for_selector("#pop", state="hidden", timeout=20_000)
                await seat.click("#e-save")
                await expect(seat.locator("#e-status")).to_have_text("已保存")
                await shots.take(seat, "seat-after-call", full_page=True)
                await after_call(shots, leader, url)
                admin = await shots.page_of("admin1")
                await admin.goto(f"{url}/workbench/admin")
                await expect(admin.locator("#users tr[data-username=seat8001]")).to_be_visible()
                await shots.take(admin, "admin", full_page=True)
                board = await (await browser.new_context(
                    locale="zh-CN", viewport={"width": WIDTH, "height": HEIGHT})).new_page()
                await board.goto(f"{url}/")
                await shots.take(board, "wallboard")
            finally:
                await browser.close()
    finally:
        await caller.set_global("SEAT_TALK_8001", "")
    print("taken:", ", ".join(shots.taken))


async def during_call(shots: Shots, leader: Any, url: str) -> None:
    """The pictures taken while seat 8001 is on the call: the leader's floor."""
    from playwright.async_api import expect

    await leader.goto(f"{url}/workbench/leader")
    await expect(leader.locator("#seats")).to_contain_text("通话中", timeout=15_000)
    await shots.take(leader, "leader-floor", full_page=True)


async def after_call(shots: Shots, leader: Any, url: str) -> None:
    """The pictures taken after the call: the work order its entry opened on the
    liaison's page, the leader's follow-up, the call history with the day's intervals,
    the quarterly report."""
    from playwright.async_api import expect

    liaison = await shots.page_of("liaison1")
    await liaison.goto(f"{url}/workbench/liaison")
    await expect(liaison.locator("#orders tbody tr").first).to_be_visible(timeout=15_000)
    await shots.take(liaison, "liaison", full_page=True)
    await leader.goto(f"{url}/workbench/leader/followup")
    await shots.take(leader, "leader-followup", full_page=True)
    await leader.goto(f"{url}/workbench/calls")
    day = datetime.now(CHINA).date().isoformat()
    await leader.fill("#f-from", day)
    await leader.fill("#f-to", day)
    await leader.click("#f-go")
    await expect(leader.locator("#results tbody tr").first).to_be_visible()
    await leader.fill("#i-date", day)
    await leader.select_option("#i-minutes", "60")
    await leader.click("#i-go")
    await expect(leader.locator("#interval-table tbody tr").first).to_be_visible()
    await shots.take(leader, "calls", full_page=True)
    await leader.goto(f"{url}/workbench/reports")
    await shots.take(leader, "reports", full_page=True)
