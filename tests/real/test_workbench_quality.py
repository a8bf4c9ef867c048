"""The quality review page (质检) in Debian's chromium (headless, Playwright for Python
with executable_path; never `playwright install`) on the running service: a team leader
adds an answered call to the queue by its number, an expert opens it, its recording
plays in the page's <audio> player (the WAV the recordings desk serves, audited with the
reason 质检), the expert scores the form and submits; the seat then reads its review on
its own page, which shows no queue."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import struct
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.app.wiring import recordings_spool_from
from hotline.ledger.recordings import RecordingBook
from tests.real.staff import CHROMIUM, logged_in, need_chromium, person, web_url
from tests.unit.test_quality_desk import answered

pytestmark = pytest.mark.asterisk
PASSWORD = "Quality-page-secret-9"
SEAT = "演示座席8001"  # routing.yaml's seat 8001, as Asterisk names it
LINKEDID = "1765000000.4242"
SECONDS = 2.0
COMMENT = "政策依据引用准确，结束语不规范"


def tone(path: Path, seconds: float) -> None:
    """A 440 Hz tone, 8 kHz mono 16-bit (what MixMonitor writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
            for i in range(int(8000 * seconds))))


async def _call_with_recording(service: Service) -> int:
    """An answered call of seat 8001 with a saved recording of SECONDS: its row id."""
    ledger = service.accounts.ledger
    at = datetime.now(UTC) - timedelta(hours=1)
    await ledger.upsert_calls([answered(LINKEDID, SEAT, "centre", at)], datetime.now(UTC))
    book = RecordingBook(ledger)
    # the recorder names a recording's seat by its id (routing.yaml's), not its name
    row = await book.begin(linkedid=LINKEDID, seat="8001", category="consultation", at=at)
    tone(recordings_spool_from(service.settings).host_dir / row.file, SECONDS)
    await book.saved(row.id, at=at + timedelta(seconds=SECONDS), seconds=SECONDS)
    return row.id


async def test_a_leader_picks_an_expert_listens_and_scores_the_seat_reads_it(
        hotline_service: Service) -> None:
    """The leader's 加入质检 puts the call in the queue (待质检, 领导指定); the expert's
    player loads the call's recording (about 2 s long); the form's four items scored
    36/26/18/9 total 89 live and the review is saved (得分率 89.0%, 已质检); the seat's
    page lists its review with the items and shows no queue; the play is audited with
    the reason 质检 by the expert (opening a review plays nothing). The service's daily
    draw loop is running."""
    need_chromium()
    from playwright.async_api import async_playwright, expect

    service = hotline_service
    # the service's daily draw runs (it drew yesterday and today at start, and waits)
    loops = [t for t in asyncio.all_tasks() if t.get_name() == "quality-draw"]
    assert len(loops) == 1
    assert not loops[0].done()
    url = web_url(service)
    for name, shown, roles, fields in (
            ("qa-leader", "赵班长", {"leader"}, {}),
            ("qa-expert", "吴专家", {"expert"}, {"seat": "8002", "bureau": "centre"}),
            ("qa-seat", "李座席", {"seat"}, {"seat": "8001", "bureau": "centre"})):
        await person(service, name, PASSWORD, name=shown, roles=roles, **fields)
    recording = await _call_with_recording(service)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=["--autoplay-policy="
                                                         "no-user-gesture-required"])
        try:
            leader = await logged_in(browser, url, "qa-leader", PASSWORD)
            await leader.click("#quality-page")
            await leader.wait_for_url(f"{url}/workbench/quality")
            await leader.fill("#pick-id", LINKEDID)
            await leader.click("#pick-go")
            await expect(leader.locator("#notice")).to_contain_text("加入质检队列")
            row = leader.locator(f"#calls tr[data-linkedid='{LINKEDID}']")
            await expect(row).to_contain_text("待质检")
            await expect(row).to_contain_text("领导指定")

            expert = await logged_in(browser, url, "qa-expert", PASSWORD)
            await expert.goto(f"{url}/workbench/quality")
            await expect(expert.locator("#pick-row")).to_be_hidden()
            await expert.click(f"#calls tr[data-linkedid='{LINKEDID}']")
            await expect(expert.locator("#c-id")).to_have_text(LINKEDID)
            await expect(expert.locator("#c-player")).to_be_hidden()  # nothing fetched yet
            await expert.click("#c-play")
            # Polled with evaluate: wait_for_function's string is eval'd in the page,
            # which the page's Content-Security-Policy (script-src 'self') refuses.
            for _ in range(100):
                if await expert.evaluate("document.getElementById('c-audio').readyState") >= 1:
                    break
                await asyncio.sleep(0.1)
            duration = await expert.evaluate("document.getElementById('c-audio').duration")
            assert abs(duration - SECONDS) < 0.2, duration
            for key, points in (("accuracy", "36"), ("completeness", "26"),
                                ("attitude", "18"), ("language", "9")):
                await expert.fill(f"#score-{key}", points)
            await expect(expert.locator("#f-total")).to_have_text("89")
            await expert.fill("#f-comment", COMMENT)
            await expert.click("#f-save")
            await expect(expert.locator("#notice")).to_contain_text("得分率 89.0%")
            await expect(expert.locator("#r-comment")).to_have_text(COMMENT)
            await expect(expert.locator(
                f"#calls tr[data-linkedid='{LINKEDID}']")).to_have_count(0)  # pending only

            seat = await logged_in(browser, url, "qa-seat", PASSWORD)
            await seat.goto(f"{url}/workbench/quality")
            await expect(seat.locator("#queue")).to_be_hidden()
            mine = seat.locator("#reviews tbody tr").filter(has_text=LINKEDID)
            await expect(mine).to_contain_text("89.0%")
            await mine.click()
            await expect(seat.locator("#r-items")).to_contain_text("政策解答准确性")
            await expect(seat.locator("#r-reviewer")).to_have_text("qa-expert")
        finally:
            await browser.close()
    con = sqlite3.connect(service.accounts.ledger.path)
    try:
        plays = con.execute("SELECT actor, detail FROM audit WHERE action = 'recording.play' "
                            "AND target = ?", (f"recording:{recording}",)).fetchall()
    finally:
        con.close()
    assert plays
    assert {actor for actor, _ in plays} == {"qa-expert"}
    assert all('"reason": "质检"' in detail for _, detail in plays)
