"""The browser phone inside the seat's page (/workbench/seat) in Debian's chromium
(headless, fake microphone, Playwright for Python with executable_path; never `playwright
install`): seat 8001's person (its device `PJSIP/8001`, `webrtc: true`) logs in to the
workbench, types its phone password in the page, and one click registers the phone over
Asterisk's secure WebSocket and logs the seat in to its queues; a taxpayer calling over
the carrier's trunk (SIPp) through the 12366 menu (keys 1 1, income tax) rings the page's
phone with the screen pop beside it; the seat answers and hangs up in the page, with
WebRTC audio both ways (DTLS-SRTP, ICE on loopback), and the ledger has the call answered
by that seat.

The Asterisk and browser fixtures are tests/real/test_web_phone.py's (the module's own
Asterisk with seat 8001 on the browser phone); the service here logs in only seat 8002,
so 8001 is in no queue until its page logs it in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hotline.app.service import Service
from hotline.app.settings import load_settings
from hotline.pbx.sandbox import Instance
from hotline.pbx.sipp import caller_scenario, presses, tone_pcap
from tests.conftest import REPO, queue_members
from tests.real.test_sip import a_number, row_of_caller, run_sipp
from tests.real.test_sip_phone import channel_stats
from tests.real.test_web_phone import (
    DEVICE,
    PHONE,
    PHONE_SEAT,
    WATCH_CONNECTIONS,
    Line,
    browser,
    chromium,
    member_status,
    until_status,
    web_instance,
)

pytestmark = pytest.mark.asterisk
__all__ = ["browser", "chromium", "web_instance"]  # the fixtures, used by name

PASSWORD = "Seat-8001-secret"


@pytest.fixture(scope="module")
async def line(web_instance: tuple[Instance, dict[str, str], Path]) -> AsyncIterator[Line]:
    """hotline on that Asterisk with only seat 8002 logged in, and the web server (the
    workbench) on a free port of 127.0.0.1; seat 8001's person has an account."""
    inst, env, folder = web_instance
    service = Service(load_settings(REPO / "config" / "hotline.yaml", env),
                      login_seats=("8002",))
    task = asyncio.create_task(service.run())
    async with asyncio.timeout(15):
        await service.fully_booted.wait()
        await service.gateway.wait_connected()
        while "Local/8002@seats/n" not in queue_members(inst, "iit"):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    accounts = service.accounts
    await accounts.book.create(
        username="seat8001", display_name="张敏", roles={"seat"}, actor="test",
        at=datetime.now(UTC), password_hash=await accounts.passwords.hash(PASSWORD),
        must_change=False, seat=PHONE, bureau="centre")
    yield Line(inst, service, folder)
    service.stop()
    async with asyncio.timeout(10):
        await task


async def phone_state(page: Any) -> str:
    return str(await page.get_attribute("#phone", "data-state"))


async def until_phone(page: Any, wanted: str, timeout: float = 20.0) -> None:
    await page.wait_for_selector(f'#phone[data-state="{wanted}"]', state="attached",
                                 timeout=timeout * 1000)


async def test_the_seat_registers_logs_in_and_answers_in_its_page(
        line: Line, browser: Any, sipp: str, tmp_path: Path) -> None:
    """In the seat's page: the phone password typed and 注册话机并签入 clicked, the phone
    registers over the WebSocket and the seat is logged in (已登录; Asterisk has PJSIP/8001
    in its queues, available); a trunk call through the menu (1 1) rings the page's phone
    (来电振铃) with the screen pop (税务咨询, 个人所得税, 主菜单 → 税务咨询); 接听 in the
    page connects it with audio both ways; 挂断 ends it, SIPp's caller sees the end, and
    the ledger row says answered, income tax, the browser seat. The password is in no
    URL, not in the page and not in the field after registering; no script error."""
    from playwright.async_api import expect

    inst = line.inst
    assert member_status(inst) is None  # 8001 is in no queue yet
    service = line.service
    assert service.web is not None
    assert service.web.url is not None
    url = service.web.url.rstrip("/")
    context = await browser.new_context(locale="zh-CN")
    await context.add_init_script(WATCH_CONNECTIONS)
    page = await context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(f"{url}/login")
        await page.fill("#username", "seat8001")
        await page.fill("#password", PASSWORD)
        await page.click("#login")
        await page.wait_for_url(f"{url}/workbench/")
        await page.goto(f"{url}/workbench/seat")
        await expect(page.locator("#state")).to_have_text("未登录")
        await page.wait_for_selector("#phone", state="visible")
        assert await phone_state(page) == "idle"
        assert await page.inner_text("#phone-user") == f"（{PHONE}）"
        secret = inst.sip_secret(PHONE)
        await page.fill("#phone-password", secret)
        started = time.monotonic()
        await page.click("#phone-register")
        await until_phone(page, "registered")
        await expect(page.locator("#state")).to_have_text("已登录")
        logged_in_after = time.monotonic() - started
        await until_status(inst, "1", timeout=10)
        assert "transport=ws" in inst.cli(f"pjsip show aor {PHONE}")
        assert await page.input_value("#phone-password") == ""
        assert secret not in await page.content()
        assert secret not in page.url

        audio = tmp_path / "caller-tone.pcap"
        audio.write_bytes(tone_pcap(30))
        number = a_number()
        scenario = caller_scenario(number, presses("1 1", first=0.5, gap=1.0),
                                   name="纳税人", wait_for_hangup=45, audio=str(audio))
        sipp_run = asyncio.create_task(run_sipp(sipp, inst, scenario, tmp_path / "sipp"))
        try:
            await until_phone(page, "ringing", timeout=30)
            await page.wait_for_selector("#pop", state="visible", timeout=10_000)
            assert await page.inner_text("#pop-category") == "税务咨询"
            assert await page.inner_text("#pop-topic") == "个人所得税"
            assert await page.inner_text("#pop-path") == "主菜单 → 税务咨询"
            await page.click("#phone-answer")
            clicked = time.monotonic()
            await until_phone(page, "talking", timeout=10)
            await expect(page.locator("#pop-state")).to_have_text("通话中")
            while True:
                stats = channel_stats(inst)
                if ("carrier" in stats and stats["carrier"].sent > 50 and PHONE in stats
                        and stats[PHONE].received > 50 and stats[PHONE].sent > 50):
                    break
                assert time.monotonic() - clicked < 15, f"no audio both ways: {stats}"
                await asyncio.sleep(0.1)
            held_from = time.monotonic()
            await asyncio.sleep(1.0)
            await page.click("#phone-hangup")
            held = time.monotonic() - clicked
            await until_phone(page, "registered", timeout=10)
            run = await asyncio.wait_for(sipp_run, 60)
        finally:
            if not sipp_run.done():
                sipp_run.cancel()
        assert run.code == 0, f"SIPp failed ({run.code}):\n{run.errors}"
        await page.wait_for_selector("#pop", state="hidden", timeout=15_000)
        assert not errors, errors
    finally:
        await context.close()
    row = await row_of_caller(service, number)
    assert (row.queue, row.seat, row.outcome, row.topic) == (
        "iit", PHONE_SEAT, "answered", "individual_income_tax")
    assert row.talk_seconds is not None
    assert abs(row.talk_seconds - held) <= 1.5, (row.talk_seconds, held)
    print(f"\nseat page phone: registered and logged in {logged_in_after * 1000:.0f} ms "
          f"after the click; audio both ways {held_from - clicked:.2f} s after 接听; talk "
          f"{row.talk_seconds:.2f} s")
    assert DEVICE in queue_members(inst, "iit")
