"""The README's screenshots of the staff pages, made by this script, never by hand:
`make screenshots` runs it (pytest, for the shared fixtures: the embedded Asterisk, the
service on a fresh ledger and the tests' caller) and writes docs/screenshots/*.png.

It is not part of the suite (its name does not start with test_): it asserts only what it
needs to take the pictures (each page shows what the picture is meant to show), and a
picture of a page that did not show it is not taken. Everything on the pages is the
sandbox's own: demo people created here, a real call through the shipped 12366 menu to
the Local seat 8001, in Chinese as staff see it (Debian's chromium with
fonts-wqy-microhei, zh-CN).
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hotline.app.service import Service
from hotline.features.calls.testcall import TestCall, place_call
from hotline.pbx.gateway import AmiGateway

pytestmark = pytest.mark.asterisk

CHROMIUM = "/usr/bin/chromium"
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
    accounts = service.accounts
    for username, name, roles, seat, bureau, department in PEOPLE:
        if await accounts.book.get(username) is not None:
            continue
        await accounts.book.create(
            username=username, display_name=name, roles=roles, actor="screenshots",
            at=datetime.now(UTC), password_hash=await accounts.passwords.hash(PASSWORD),
            must_change=False, seat=seat, bureau=bureau, department=department)


class Shots:
    """One browser; a context (own cookies) per person; each picture named."""

    def __init__(self, browser: Any, url: str) -> None:
        self.browser = browser
        self.url = url
        self.taken: list[str] = []

    async def page_of(self, username: str) -> Any:
        context = await self.browser.new_context(
            locale="zh-CN", viewport={"width": WIDTH, "height": HEIGHT})
        page = await context.new_page()
        await page.goto(f"{self.url}/login")
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("#login")
        await page.wait_for_url(f"{self.url}/workbench/")
        return page

    async def take(self, page: Any, name: str, *, full_page: bool = False) -> None:
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)
        self.taken.append(name)


async def test_screenshots(hotline_service: Service, caller: AmiGateway) -> None:
    """Takes the pictures of the README's workbench section (docs/screenshots/)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("chromium is not installed (Debian package chromium; make system-deps)")
    from playwright.async_api import async_playwright, expect

    service = hotline_service
    assert service.web is not None
    assert service.web.url is not None
    url = service.web.url.rstrip("/")
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


async def _optional(page: Any, path: str) -> bool:
    """Opens `path` on `page`; False when this build has no such page (404)."""
    response = await page.goto(path)
    return response is not None and response.ok


async def during_call(shots: Shots, leader: Any, url: str) -> None:
    """The pictures taken while seat 8001 is on the call."""
    if await _optional(leader, f"{url}/workbench/leader"):
        await shots.take(leader, "leader-floor", full_page=True)


async def after_call(shots: Shots, leader: Any, url: str) -> None:
    """The pictures taken after the call: the work order it opened, the figures."""
    liaison = await shots.page_of("liaison1")
    if await _optional(liaison, f"{url}/workbench/liaison"):
        await shots.take(liaison, "liaison", full_page=True)
    if await _optional(leader, f"{url}/workbench/leader/followup"):
        await shots.take(leader, "leader-followup", full_page=True)
    if await _optional(leader, f"{url}/workbench/calls"):
        await shots.take(leader, "calls", full_page=True)
    if await _optional(leader, f"{url}/workbench/reports"):
        await shots.take(leader, "reports", full_page=True)
