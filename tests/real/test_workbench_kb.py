"""The knowledge base's page (知识库) in Debian's chromium (headless, Playwright for
Python with executable_path; never `playwright install`) on the running service: a
Hefei seat drafts a local entry in the page's form, an expert reviews it, a team leader
publishes it (each by the buttons their role shows), and the seat page's search box
finds it, the seat's own city's entry before the province's."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from hotline.app.service import Service
from hotline.core.kb import Draft
from hotline.features.kb.words import indexed
from hotline.ledger.kb import KnowledgeBase
from tests.real.staff import CHROMIUM, logged_in, need_chromium, person, web_url

pytestmark = pytest.mark.asterisk
PASSWORD = "Kb-page-secret-9"
QUESTION = "合肥市个体户发票在哪里代开"
LOCAL_ANSWER = "合肥市：可在合肥市政务服务中心税务窗口或电子税务局代开发票。"
PROVINCE_ANSWER = "全省：个体工商户可通过电子税务局申请代开增值税发票。"


async def _people(service: Service) -> None:
    for name, shown, roles, fields in (
            ("kb-he", "何座席", {"seat"}, {"seat": "8101", "bureau": "hefei"}),
            ("kb-expert", "吴专家", {"expert"}, {"seat": "8002", "bureau": "centre"}),
            ("kb-leader", "赵班长", {"leader"}, {})):
        await person(service, name, PASSWORD, name=shown, roles=roles, **fields)


async def _province_entry(service: Service) -> str:
    """A published province-wide entry on the same question (through the ledger)."""
    store = KnowledgeBase(service.accounts.ledger)
    draft = Draft(question="个体户发票在哪里代开", answer=PROVINCE_ANSWER,
                  spoken="个体工商户可通过电子税务局申请代开发票。", topic="invoice")
    now = datetime.now(UTC)
    entry = await store.add(draft, actor="test", at=now)
    await store.review(entry.id, 1, actor="test-expert", at=now)
    await store.publish(entry.id, 1, indexed(draft), actor="test-leader", at=now)
    return entry.id


async def _kb_page(browser: Any, url: str, name: str) -> Any:
    page = await logged_in(browser, url, name, PASSWORD)
    await page.click("#kb-page")
    await page.wait_for_url(f"{url}/workbench/kb")
    return page


async def test_a_seat_drafts_an_expert_reviews_a_leader_publishes_the_seat_finds_it(
        hotline_service: Service) -> None:
    """The Hefei seat's draft (scope hefei) saved from the form is 草稿 in the list; the
    seat sees no review or publish button; the expert's 审核通过 makes it 已审核, the
    leader's 发布 已发布 with both names in its version; on the seat page, 检索 of the
    caller's question lists the Hefei entry first (marked 本地), then the province's."""
    need_chromium()
    from playwright.async_api import async_playwright, expect

    service = hotline_service
    url = web_url(service)
    await _people(service)
    province = await _province_entry(service)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            seat = await _kb_page(browser, url, "kb-he")
            await seat.click("#new-entry")
            await seat.fill("#d-question", QUESTION)
            await seat.fill("#d-phrasings", "合肥代开发票\n个体户代开发票去哪")
            await seat.fill("#d-answer", LOCAL_ANSWER)
            await seat.fill("#d-spoken", "在合肥，可到市政务服务中心税务窗口代开发票。")
            await seat.select_option("#d-topic", "invoice")
            await seat.select_option("#d-scope", "hefei")
            await seat.fill("#d-until", "2027-12-31")
            await seat.click("#d-save")
            notice = seat.locator("#notice")
            await expect(notice).to_contain_text("已保存为草稿")
            found = re.search(r"KB-\d{5,9}", await notice.inner_text())
            assert found is not None
            entry = found.group(0)
            row = seat.locator(f"#entries tr[data-id='{entry}']")
            await expect(row).to_contain_text("草稿")
            await expect(seat.locator("#v-review")).to_be_hidden()
            await expect(seat.locator("#v-publish")).to_be_hidden()

            expert = await _kb_page(browser, url, "kb-expert")
            await expert.click(f"#entries tr[data-id='{entry}']")
            await expect(expert.locator("#v-id")).to_have_text(entry)
            await expert.click("#v-review")
            await expect(expert.locator("#notice")).to_contain_text("已审核")

            leader = await _kb_page(browser, url, "kb-leader")
            await leader.click(f"#entries tr[data-id='{entry}']")
            await expect(leader.locator("#v-review")).to_be_hidden()
            await leader.click("#v-publish")
            await expect(leader.locator("#notice")).to_contain_text("已发布")
            version = leader.locator("#v-versions .version").first
            await expect(version).to_contain_text("审核 kb-expert")
            await expect(version).to_contain_text("发布 kb-leader")

            await seat.goto(f"{url}/workbench/seat")
            await seat.fill("#kb-q", "个体户在合肥怎么代开发票")
            await seat.click("#kb-go")
            answers = seat.locator("#kb-found li")
            # The shared service's ledger may hold other tests' entries: the local entry
            # comes first and the province's is among the answers.
            await expect(answers.nth(0)).to_contain_text(LOCAL_ANSWER)
            await expect(answers.nth(0)).to_contain_text("hefei 本地")
            await expect(answers.nth(0)).to_contain_text(entry)
            theirs = answers.filter(has_text=PROVINCE_ANSWER)
            await expect(theirs).to_have_count(1)
            await expect(theirs).to_contain_text(province)
        finally:
            await browser.close()
