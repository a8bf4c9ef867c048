"""The auditor's page 查看保密信息 (/workbench/unmask) in Debian's chromium (headless,
Playwright for Python with executable_path; never `playwright install`): with a tip-off
call in the service's ledger, the page shows the reporter's number only after the
auditor gave a reason, and the audit trail has the unmask with that reason; without a
reason the page says why it shows nothing."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path
from hotline.core.calls.tracking import Call, CallState
from tests.real.staff import CHROMIUM, logged_in, need_chromium, person, web_url

pytestmark = pytest.mark.asterisk
NUMBER = "13955177777"
PASSWORD = "Auditor-secret-9"
REASON = "稽查局核实举报人身份"


async def test_the_auditor_unmasks_a_tip_off_with_a_reason(hotline_service: Service) -> None:
    """The page refuses without a reason (the API's message shown, nothing unmasked);
    with a reason it shows the tip-off's number in full, and call.unmask is audited with
    the auditor's name and the reason."""
    need_chromium()
    from playwright.async_api import async_playwright, expect

    service = hotline_service
    url = web_url(service)
    now = datetime.now(UTC)
    linkedid = f"unmask.{os.getpid()}"
    assert service.calls is not None
    await service.calls.ledger.upsert_calls([Call(
        linkedid, "Local/x@y-1;2", linkedid, NUMBER, None, CallState.ENDED,
        now - timedelta(minutes=5), category="tip_off", ended_at=now)], now)
    await person(service, "shenji", PASSWORD, name="审计员李", roles={"auditor"})
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await logged_in(browser, url, "shenji", PASSWORD)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.click("#unmask-page")
            await page.wait_for_url(f"{url}/workbench/unmask")
            await page.fill("#record", linkedid)
            await page.click("#unmask")
            await expect(page.locator("#message")).to_contain_text("无法查看")
            assert NUMBER not in await page.content()
            await page.fill("#reason", REASON)
            await page.click("#unmask")
            await expect(page.locator("#r-number")).to_have_text(NUMBER)
            assert await page.inner_text("#r-category") == "涉税举报"
            assert not errors, errors
        finally:
            await browser.close()
    con = sqlite3.connect(ledger_path(service.settings))
    try:
        rows = con.execute("SELECT actor, detail FROM audit WHERE action = 'call.unmask' "
                           "AND target = ?", (f"call:{linkedid}",)).fetchall()
    finally:
        con.close()
    assert rows == [("shenji", json.dumps({"reason": REASON}, ensure_ascii=False))]
