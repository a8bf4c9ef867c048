"""The call history and the quarterly report in Debian's chromium (headless, Playwright
for Python with executable_path; never `playwright install`) on real calls: two callers
on the test Asterisk walk the shipped 12366 menu, one to individual income tax (keys 1
1) and one to the tip-off queue (key 2), both answered by seat 8001 (a Local seat). A
leader logs in, opens 来电记录 from the landing page, finds the consultation by its
number (Chinese names: 税务咨询, 个人所得税, 已接通), does not find the tip-off by its
number, finds it by its category with the number masked (never in full on the page),
sees the day's interval figures of the income-tax queue, then opens 季度报表: the
report is shown in the page and its PDF downloads (%PDF, its Chinese text read back by
pdftotext)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path
from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.pbx.gateway import AmiGateway
from tests.real.staff import CHROMIUM, logged_in, need_chromium, person, web_url
from tests.unit.test_report import pdf_text

pytestmark = pytest.mark.asterisk

CONSULTING = "13955100366"
REPORTER = "13955125678"
PASSWORD = "Leader-12366-floor"


async def test_a_leader_searches_calls_and_downloads_the_report_pdf(
        hotline_service: Service, caller: AmiGateway, tmp_path: Path) -> None:
    """On the page: the number search finds the consultation with its Chinese names and
    not the tip-off; the category search finds the tip-off masked (139****5678, 保密),
    the reporter's number nowhere in the page; the interval table of 个人所得税 counts the
    consultation; the quarterly report's frame shows the report and its PDF link
    downloads a PDF whose text has the title, 接通率 and 个人所得税."""
    need_chromium()
    from playwright.async_api import async_playwright, expect

    service = hotline_service
    url = web_url(service)
    await person(service, "floor", PASSWORD, name="王班长", roles={"leader"},
                 bureau="centre")
    consult = TestCall(CONSULTING, None, ["1", "1"])
    tip = TestCall(REPORTER, None, ["2"])
    for call in (consult, tip):  # one after the other: seat 8001 answers both
        await place_call(caller, call, timeout=90)
    path = ledger_path(service.settings)
    rows = [await wait_for_ledger_row(path, c.linkedid) for c in (consult, tip)]
    assert [(r.category, r.queue, r.outcome) for r in rows] == [
        ("consultation", "iit", "answered"), ("tip_off", "tipoff", "answered")]
    day = rows[0].started_at[:10]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await logged_in(browser, url, "floor", PASSWORD, accept_downloads=True)
            await page.click("#calls-page")
            await page.wait_for_url(f"{url}/workbench/calls")
            results = page.locator("#results tbody tr")
            await page.fill("#f-from", day)
            await page.fill("#f-to", day)
            await page.fill("#f-number", CONSULTING)
            await page.click("#f-go")
            await expect(results).to_have_count(1)
            cells = await results.first.locator("td").all_inner_texts()
            assert cells[1] == CONSULTING
            assert (cells[3], cells[5], cells[10]) == ("税务咨询", "个人所得税", "已接通")
            assert cells[6] == "演示座席8001（8001）"
            await page.fill("#f-number", REPORTER)
            await page.click("#f-go")
            await expect(page.locator("#summary")).to_have_text("没有符合条件的来电。")
            await expect(results).to_have_count(0)
            await page.fill("#f-number", "")
            await page.select_option("#f-category", "tip_off")
            await page.click("#f-go")
            secret = page.locator(f"#results tbody tr[data-linkedid='{tip.linkedid}']")
            await expect(secret).to_have_count(1)
            number = (await secret.locator("td").all_inner_texts())[1]
            assert number == "139****5678（保密）", number
            assert REPORTER not in await page.content()
            await page.fill("#i-date", day)
            await page.select_option("#i-queue", "iit")
            await page.select_option("#i-minutes", "60")
            await page.click("#i-go")
            hours = page.locator("#interval-table tbody tr")
            await expect(hours.first).to_be_visible()
            offered = 0
            for i in range(await hours.count()):
                offered += int((await hours.nth(i).locator("td").all_inner_texts())[1])
            assert offered >= 1
            await page.click("#to-reports")
            await page.wait_for_url(f"{url}/workbench/reports")
            frame = page.frame_locator("#report")
            await expect(frame.locator("h1")).to_contain_text("12366纳税服务热线运行情况",
                                                             timeout=30_000)
            async with page.expect_download(timeout=60_000) as info:
                await page.click("#dl-pdf")
            download = await info.value
            target = tmp_path / "report.pdf"
            await download.save_as(target)
        finally:
            await browser.close()
    pdf = target.read_bytes()
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for words in ("12366纳税服务热线运行情况", "接通率", "个人所得税", "涉税举报"):
        assert words in text, words
    assert REPORTER not in text
