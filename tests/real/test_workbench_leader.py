"""The team leader's page in Debian's chromium (headless, Playwright for Python with
executable_path; never `playwright install`) with a real call: a leader logs in, opens
/workbench/leader from the landing page; a real caller (a Local channel on the test
Asterisk) walks the shipped 12366 menu to the tip-off queue (key 2) and seat 8001 (a
Local seat that answers and talks 25 s) answers: the floor, pushed over its event
stream, shows 8001 on the call with a running duration; the leader whispers to 8001 on
the phone of seat 8004 (a Local seat that answers): Asterisk then has a ChanSpy channel
on that phone spying on 8001's channel with the whisper options; the leader forces a
pause (用餐): Asterisk's queue member 8001 is paused with that reason, the ledger records
the pause under the leader's name, and the audit trail has the whisper. And a skill
for today (given and taken away over the API) puts seat 8003 in an Asterisk queue and
takes it out, by the service's routing loop."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from typing import Any

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path
from hotline.features.calls.testcall import TestCall, place_call
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance
from tests.conftest import live_channels, queue_members
from tests.real.staff import CHROMIUM, logged_in, need_chromium, person, web_url

pytestmark = pytest.mark.asterisk
NUMBER = "055112345670"
PASSWORD = "Leader-12366-ok"
TALK = 25  # seconds seat 8001 talks before it hangs up
PHONE = "Local/8004@seats/n"  # the leader's phone: seat 8004's Local channel answers


async def _leader(service: Service) -> Any:
    """The service's accounts, with the leader `lead` (李班长) in them."""
    await person(service, "lead", PASSWORD, name="李班长", roles={"leader"}, bureau="centre")
    return service.accounts


async def _spy_channel(asterisk: Instance, timeout: float) -> dict[str, str]:
    """The ChanSpy channel Asterisk lists (CoreShowChannels), waited for."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        found = [c for c in await asyncio.to_thread(live_channels, asterisk)
                 if c.get("Application") == "ChanSpy"]
        if found or loop.time() > end:
            assert found, "no ChanSpy channel in Asterisk"
            return found[0]
        await asyncio.sleep(0.2)


async def _no_spy_channel(asterisk: Instance, timeout: float) -> None:
    """Waits until Asterisk lists no ChanSpy channel."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while any(c.get("Application") == "ChanSpy"
              for c in await asyncio.to_thread(live_channels, asterisk)):
        assert loop.time() < end, "the ChanSpy channel is still up"
        await asyncio.sleep(0.2)


async def test_a_leader_sees_a_seat_on_a_call_forces_a_pause_and_whispers(
        hotline_service: Service, caller: AmiGateway, asterisk: Instance) -> None:
    """Seat 8001 on a real tip-off call shows on the leader's floor as 通话中 with a
    duration that runs; 耳语 on 8001 with seat 8004's phone makes Asterisk ring that
    phone into ChanSpy on 8001's bridged channel (options q, w, E, S): the channel is up
    in Asterisk's list while the call lasts; 强制暂停 (用餐) pauses 8001 in Asterisk's
    queues with the reason 用餐 and in the ledger under the leader's name; the audit trail
    has the whisper with the leader's name. 结束监听 hangs the leader's phone up (no ChanSpy
    channel left in Asterisk) while the seat's call goes on, audited as seat.spy_stop."""
    need_chromium()
    from playwright.async_api import async_playwright, expect

    service = hotline_service
    url = web_url(service)
    await _leader(service)
    await caller.set_global("SEAT_TALK_8001", str(TALK))
    await caller.set_global("SEAT_TALK_8004", str(TALK + 10))
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       headless=True)
            try:
                page = await logged_in(browser, url, "lead", PASSWORD)
                await page.click("#leader-page")
                await page.wait_for_url(f"{url}/workbench/leader")
                state = page.locator("#seat-8001 .state")
                await expect(state).to_have_text("空闲")
                call = TestCall(NUMBER, None, ["2"])
                placed = asyncio.create_task(place_call(caller, call, timeout=90))
                try:
                    await expect(state).to_have_text("通话中", timeout=60_000)
                    assert "涉税举报" in await page.inner_text("#seat-8001 .call")
                    talk = page.locator("#seat-8001 .talk")
                    await expect(talk).to_have_text(re.compile(r"^\d+:\d\d$"))
                    first = await talk.inner_text()
                    await expect(talk).not_to_have_text(first, timeout=5_000)  # it runs
                    assert NUMBER not in await page.content()
                    await page.select_option("#target", "8001")
                    await page.select_option("#phone", PHONE)
                    await expect(page.locator("#whisper")).to_be_enabled()
                    await page.click("#whisper")
                    await expect(page.locator("#done")).to_contain_text("耳语已发起")
                    spy = await _spy_channel(asterisk, 15)
                    assert spy["Channel"].startswith("Local/8004@seats-"), spy
                    spied, options = spy["ApplicationData"].split(",")
                    assert re.fullmatch(r"Local/8001@seats-[0-9a-f]+;1", spied), spy
                    assert options == "qwES"
                    call_cell = page.locator("#seat-8001 .call")
                    await expect(call_cell).to_contain_text("耳语中")
                    await page.click("#spy-stop")  # 结束监听: the leader's phone hangs up
                    await expect(page.locator("#done")).to_contain_text("已结束监听")
                    await _no_spy_channel(asterisk, 10)
                    await expect(call_cell).not_to_contain_text("耳语中")
                    await expect(state).to_have_text("通话中")  # the seat's call goes on
                    await page.select_option("#reason", "meal")
                    await page.click("#pause")
                    await expect(state).to_have_text("暂停（用餐）")
                    member = (await asyncio.to_thread(queue_members, asterisk, "tipoff"))[
                        "Local/8001@seats/n"]
                    assert (member["Paused"], member.get("PausedReason")) == ("1", "用餐")
                    await page.click("#unpause")
                    await expect(state).not_to_have_text(re.compile("暂停"))
                    await asyncio.wait_for(placed, 90)
                finally:
                    if not placed.done():
                        placed.cancel()
            finally:
                await browser.close()
    finally:
        await caller.set_global("SEAT_TALK_8001", "")
        await caller.set_global("SEAT_TALK_8004", "")
    con = sqlite3.connect(ledger_path(service.settings))
    try:
        events = con.execute("SELECT event, reason, actor FROM seat_events WHERE seat = "
                             "'8001' AND actor = 'lead' ORDER BY id").fetchall()
        audited = con.execute("SELECT action, target, detail FROM audit WHERE actor = "
                              "'lead' AND action LIKE 'seat.%' ORDER BY id").fetchall()
    finally:
        con.close()
    assert events == [("pause", "meal", "lead"), ("unpause", None, "lead")]
    assert [(a, t) for a, t, _ in audited] == [("seat.spy", "seat:8001"),
                                               ("seat.spy_stop", "seat:8001"),
                                               ("seat.pause", "seat:8001"),
                                               ("seat.unpause", "seat:8001")]
    detail = json.loads(audited[0][2])
    assert (detail["mode"], detail["phone"], detail["call"]) == ("whisper", PHONE,
                                                                 call.linkedid)


async def _members(asterisk: Instance, queue: str, present: bool, timeout: float) -> None:
    """Wait until seat 8003 is (or is not) a member of `queue` in Asterisk."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        members = await asyncio.to_thread(queue_members, asterisk, queue)
        if ("Local/8003@seats/n" in members) == present:
            return
        assert loop.time() < end, f"8003 {'not ' if present else ''}in {queue}: {members}"
        await asyncio.sleep(0.2)


async def test_a_skill_for_today_puts_the_seat_in_the_queue_and_taking_it_away_out(
        hotline_service: Service, asterisk: Instance) -> None:
    """A leader (an API token) gives seat 8003, logged in with the skill `quick` only,
    the queue iit for today: the service's routing loop makes it a member of iit in
    Asterisk within a few seconds; taking iit away again removes it; taking its own
    `quick` away for today removes it from quick, and giving it back returns it."""
    import aiohttp

    service = hotline_service
    assert service.web is not None
    assert service.web.url is not None
    accounts = await _leader(service)
    _, token = await accounts.add_token("lead", "test", "lead")
    url = service.web.url.rstrip("/") + "/api/v1/leader/seats/8003/skills"
    await _members(asterisk, "quick", True, 10)
    await _members(asterisk, "iit", False, 10)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async def change(queue: str, action: str) -> None:
            async with http.post(url, json={"queue": queue, "action": action}) as res:
                body = await res.json()
                assert (res.status, body["changed"]) == (200, True), body

        await change("iit", "add")
        await _members(asterisk, "iit", True, 10)
        await change("iit", "remove")
        await _members(asterisk, "iit", False, 10)
        await change("quick", "remove")
        await _members(asterisk, "quick", False, 10)
        await change("quick", "add")
        await _members(asterisk, "quick", True, 10)
