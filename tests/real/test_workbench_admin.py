"""The administrator's page in Debian's chromium (Playwright for Python, executable_path;
never `playwright install`) on the running service: an admin creates a seat's account
in the browser and reads its one-time password once; the new person logs in with it,
must change it, and lands on a home page that links the seat page and not the admin's;
the page's configuration view shows the 12366 dialplan, the queues and the seats in
force, in Chinese."""

from __future__ import annotations

import sqlite3

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path
from tests.real.staff import CHROMIUM, logged_in, need_chromium, person, web_url

pytestmark = pytest.mark.asterisk
ADMIN_PASSWORD = "Admin-page-secret-1"
NEW_PASSWORD = "Seat-8003-own-secret"


async def test_an_admin_creates_a_seat_account_in_the_browser(
        hotline_service: Service) -> None:
    """The admin page lists the accounts and the configuration in force (dialplan 12366,
    the queue 个人所得税 of routing.yaml with its Chinese name, seat 8003); creating 'liwei'
    as a seat on 8003 shows a one-time password once; with it liwei logs in, is sent to
    change it, and then sees 座席工作台 but not 系统管理; the creation is in the audit
    trail under the admin's name."""
    need_chromium()
    from playwright.async_api import async_playwright, expect

    service = hotline_service
    url = web_url(service)
    await person(service, "admin2", ADMIN_PASSWORD, name="周管理", roles={"admin"})
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await logged_in(browser, url, "admin2", ADMIN_PASSWORD)
            await page.click("#admin-page")
            await page.wait_for_url(f"{url}/workbench/admin")
            await expect(page.locator("#users tr[data-username=admin2]")).to_be_visible()
            await expect(page.locator("#dialplans")).to_contain_text("12366")
            await expect(page.locator("#queues")).to_contain_text("个人所得税")
            await expect(page.locator("#seats")).to_contain_text("8003")
            await expect(page.locator("#calendar tbody tr")).to_have_count(14)
            await page.fill("#u-username", "liwei")
            await page.fill("#u-name", "李伟")
            await page.check("#role-seat")
            await page.select_option("#u-seat", "8003")
            await page.click("#u-save")
            await expect(page.locator("#secret")).to_be_visible()
            text = await page.inner_text("#secret-text")
            assert text.startswith("liwei 的一次性密码：")
            password = text.split("：", 1)[1].strip()
            assert len(password) >= 16
            row = page.locator("#users tr[data-username=liwei]")
            await expect(row).to_contain_text("李伟")
            await expect(row).to_contain_text("座席")
            await expect(row).to_contain_text("8003")
            # The new person, in a browser of their own.
            other = await (await browser.new_context(locale="zh-CN")).new_page()
            await other.goto(f"{url}/login")
            await other.fill("#username", "liwei")
            await other.fill("#password", password)
            await other.click("#login")
            await other.wait_for_url(f"{url}/password")
            await other.fill("#current", password)
            await other.fill("#new", NEW_PASSWORD)
            await other.fill("#confirm", NEW_PASSWORD)
            await other.click("#change")
            await other.wait_for_url(f"{url}/workbench/?changed=1")
            assert await other.locator("#seat-page").count() == 1
            assert await other.locator("#admin-page").count() == 0
            await other.goto(f"{url}/workbench/admin")  # the page opens, its API refuses
            await expect(other.locator("#message")).to_have_text(
                "无法加载：无权访问（需要管理员角色）")
        finally:
            await browser.close()
    user = await service.accounts.book.get("liwei")
    assert user is not None
    assert (user.seat, user.roles) == ("8003", frozenset({"seat"}))
    con = sqlite3.connect(ledger_path(service.settings))
    try:
        added = con.execute("SELECT actor FROM audit WHERE action = 'user.add' AND "
                            "target LIKE '%liwei%'").fetchall()
    finally:
        con.close()
    assert added == [("admin2",)]
