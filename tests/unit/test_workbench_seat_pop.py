"""The seat's page, continued (the accounts' bench: a real ledger file, the sandbox's
routing.yaml and the shipped 12366 dialplan): the screen pop reads the IVR path, the topic
and what the caller typed as the dialplan labels them, masking a reporter's typed digits;
today's figures come from the ledger; the event streams of a hundred open pages cost one
view per seat per change and nothing while nothing changes (no AMI action, no ledger read);
the 台帐 entry of a tip-off never sends its callback number back in full."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse

from hotline.core.calls.tracking import CallState
from hotline.core.ivr.dialplan import load_dialplan
from hotline.ledger.store import iso
from tests.unit import test_accounts_web
from tests.unit.test_accounts_web import T0, Bench
from tests.unit.test_workbench_seat import NUMBER, ringing_call, rows

bench = test_accounts_web.bench  # the fixture

PLAN, _ = load_dialplan(Path(__file__).parents[2] / "dialplans" / "12366.yaml")
TAXPAYER_ID = "913401001234567897"


async def test_the_pop_reads_the_dialplans_labels(bench: Bench) -> None:
    """A consultation that walked 主菜单 → 税务咨询 and typed its taxpayer ID pops with
    the menus' labels (not their ids), the topic as the option that set it is labelled
    (发票业务, not the code), and the ID under the collect step's label; the same call as
    a tip-off shows the number, the ID and the keys masked."""
    bench.work.sources.dialplans = lambda: {"12366": PLAN}
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    cookie, _ = await bench.session("zhang")
    bench.calls["c.1"] = ringing_call("c.1", "consultation", dialplan="12366",
                                      ivr_path=("main", "consult"), topic="invoice",
                                      digits="19" + TAXPAYER_ID + "#",
                                      inputs=(("taxpayer_id", TAXPAYER_ID),))
    status, view = await bench.call("GET", "/seats/me", cookie)
    assert status == 200, view
    pop = view["call"]
    assert pop["ivr_path_labels"] == ["主菜单", "税务咨询"]
    assert (pop["category_label"], pop["topic_label"]) == ("税务咨询", "发票业务")
    assert pop["inputs"] == [{"name": "taxpayer_id", "label": "纳税人识别号",
                              "value": TAXPAYER_ID}]
    assert pop["queued_at"] == iso(T0 - timedelta(seconds=25))[:19] + "+08:00"
    bench.calls["c.1"] = ringing_call("c.1", "tip_off", dialplan="12366",
                                      ivr_path=("main",), digits="2" + TAXPAYER_ID + "#",
                                      inputs=(("taxpayer_id", TAXPAYER_ID),))
    status, view = await bench.call("GET", "/seats/me", cookie)
    text = json.dumps(view, ensure_ascii=False)
    assert TAXPAYER_ID not in text
    assert NUMBER not in text
    assert view["call"]["inputs"][0]["value"] == TAXPAYER_ID[:3] + "*" * 11 + TAXPAYER_ID[-4:]


async def test_todays_figures_come_from_the_ledger(bench: Bench) -> None:
    """Two calls answered today (60 s and 120 s of talk; one yesterday not counted),
    after-call work of 30 s and 50 s, a meal pause of 10 minutes and a pause still going
    on for 5 minutes: answered 2, talk 180 s, average handling (180 + 80) / 2 = 130 s,
    after-call work 80 s, 2 pauses of 900 s in all."""
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    answered = [ringing_call(f"a.{i}", "consultation", state=CallState.ENDED, ringing=(),
                             seat="演示座席8001", answered_at=T0 + timedelta(minutes=m),
                             talk_seconds=talk, ended_at=T0 + timedelta(minutes=m + 3))
                for i, (m, talk) in enumerate(((-60 * 24, 500.0), (10, 60.0), (30, 120.0)))]
    await bench.ledger.upsert_calls(answered, T0)
    events = [(0, "login", None), (14, "pause", "after_call_work"),
              (14.5, "unpause", None), (34, "pause", "after_call_work"),
              (34 + 50 / 60, "pause", "meal"), (44 + 50 / 60, "unpause", None),
              (55, "pause", "training")]
    for minutes, event, reason in events:
        await bench.work.seats.record("8001", event, at=T0 + timedelta(minutes=minutes),
                                      actor="zhang", reason=reason)
    bench.clock.now = T0 + timedelta(minutes=60)
    cookie, _ = await bench.session("zhang")
    status, view = await bench.call("GET", "/seats/me", cookie)
    assert status == 200, view
    assert view["today"] == {"date": "2026-11-25", "answered": 2, "talk_seconds": 180,
                             "average_handling_seconds": 130,
                             "after_call_work_seconds": 80, "pauses": 2,
                             "pause_seconds": 900}


async def _event(res: ClientResponse) -> dict[str, Any]:
    while True:
        line = (await res.content.readline()).decode()
        assert line, "the stream ended"
        if line.startswith("data: "):
            data: dict[str, Any] = json.loads(line[6:])
            return data


async def test_a_hundred_open_pages_cost_one_view_per_seat_per_change(
        bench: Bench) -> None:
    """With 60 pages open on seat 8001 and 40 on 8002, a call ringing both seats reaches
    every page with the view computed once per seat (2, not 100); the ledger is read for
    those two views only, no AMI action is sent, and with no change for a while nothing is
    computed, and nothing read but the one look for other processes' seat changes."""
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    await bench.user("li", {"expert"}, seat="8002", bureau="centre")
    sessions = [await bench.session("zhang"), await bench.session("li")]
    selects: list[str] = []
    await bench.ledger.db.set_trace_callback(
        lambda sql: selects.append(sql) if sql.lstrip().upper().startswith("SELECT") else None)
    bench.work.external_check = 0.3
    async with AsyncExitStack() as stack:
        streams: list[tuple[str, ClientResponse]] = []
        for i in range(100):
            seat, (cookie, _) = ("8001", sessions[0]) if i < 60 else ("8002", sessions[1])
            res = await stack.enter_async_context(bench.client.get(
                "/api/v1/seats/me/events", headers={"Cookie": cookie}))
            assert res.status == 200
            assert (await asyncio.wait_for(_event(res), 5))["call"] is None
            streams.append((seat, res))
        assert bench.page.streams == 100
        await asyncio.sleep(0.2)
        before, read = bench.work.computed, len(selects)
        await asyncio.sleep(1.0)  # nothing changes: nothing is computed, nothing read
        quiet = selects[read:]
        assert bench.work.computed == before
        assert len(quiet) <= 5, quiet  # about one look every 0.3 s
        assert set(quiet) <= {"SELECT MAX(id) FROM seat_events"}, quiet
        read = len(selects)
        call = ringing_call(rings="演示座席8001", ringing=("演示座席8001", "演示座席8002"))
        bench.calls[call.linkedid] = call
        bench.work.on_call(call)

        async def pushed(res: ClientResponse) -> dict[str, Any]:
            return await asyncio.wait_for(_event(res), 5)

        views = await asyncio.gather(*(pushed(res) for _, res in streams))
        assert {v["seat"] for v in views} == {"8001", "8002"}
        assert all(v["call"]["caller_number"] == "139****2345" for v in views)
        assert bench.work.computed - before == 2
        one_view = (len(selects) - read) / 2
        assert 0 < one_view <= 8, selects[read:]
    assert bench.gateway.sent == []


async def test_a_tip_offs_entry_never_sends_its_callback_number_back(bench: Bench) -> None:
    """The seat types the reporter's callback number into the entry of a tip-off: the
    draft's answer, its reload and the saved entry show it masked; the form sent back
    with the masked number (as the page does) keeps the number typed, in full, in the
    ledger."""
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    cookie, csrf = await bench.session("zhang")
    call = ringing_call("t.1", "tip_off", state=CallState.ENDED, ringing=(),
                        seat="演示座席8001", answered_at=T0, ended_at=T0)
    await bench.ledger.upsert_calls([call], T0)
    status, body = await bench.call("PUT", "/calls/t.1/entry", cookie, csrf, json={
        "question": "举报虚开", "callback_number": "13800001111"})
    assert (status, body["draft"]["callback_number"]) == (200, "138****1111"), body
    status, body = await bench.call("GET", "/calls/t.1/entry", cookie)
    assert body["callback_masked"] is True
    assert body["entry"]["draft"]["callback_number"] == "138****1111"
    assert "13800001111" not in json.dumps(body)
    form = {"category": "tip_off", "question": "举报虚开", "answer": "已登记",
            "resolution": "on_the_spot", "callback_number": "138****1111"}
    status, body = await bench.call("PUT", "/calls/t.1/entry", cookie, csrf, json=form)
    assert status == 200, body
    status, body = await bench.call("POST", "/calls/t.1/entry", cookie, csrf, json=form)
    assert (status, body["saved"]["callback_number"]) == (200, "138****1111"), body
    assert rows(bench, "SELECT callback_number FROM call_entries") == [("13800001111",)]
    status, body = await bench.call("GET", "/calls/t.1/entry", cookie)
    assert body["entry"]["saved"]["callback_number"] == "138****1111"


async def test_the_page_carries_the_seats_browser_phone(bench: Bench, tmp_path: Path) -> None:
    """A seat whose phone is the browser phone gets where it registers and as which SIP
    user (never a password: the seat types it); a seat on another device gets 404; the
    page may reach Asterisk's WebSocket and the microphone (its CSP and permissions) and
    serves the SIP library once built (404 JSON before)."""
    from hotline.features.phone.web import PhonePage, PhoneSeat, PhoneServer, PhoneSources

    library = tmp_path / "jssip.min.js"
    bench.page.phone = PhonePage(PhoneSources(
        lambda: [PhoneSeat("8001", "网页座席8001", "8001")],
        lambda: PhoneServer("wss://127.0.0.1:5041/ws"), library))
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    await bench.user("li", {"expert"}, seat="8002", bureau="centre")
    cookie, _ = await bench.session("zhang")
    other, _ = await bench.session("li")
    status, body = await bench.call("GET", "/seats/me/phone", cookie)
    assert (status, body) == (200, {
        "seat": "8001", "name": "网页座席8001", "user": "8001",
        "server": "wss://127.0.0.1:5041/ws", "domain": "127.0.0.1",
        "certificate_page": "https://127.0.0.1:5041/"})
    status, body = await bench.call("GET", "/seats/me/phone", other)
    assert (status, body["error"]) == (404, "api-not-found")
    async with bench.client.get("/workbench/seat", headers={"Cookie": cookie}) as res:
        assert res.status == 200
        assert "connect-src 'self' wss:" in res.headers["Content-Security-Policy"]
        assert res.headers["Permissions-Policy"].startswith("microphone=(self)")
        assert 'id="phone-register"' in await res.text()
    async with bench.client.get("/static/workbench-jssip.js") as res:
        assert (res.status, (await res.json())["error"]) == (404, "phone-library-missing")
    library.write_text("window.JsSIP = {};", encoding="utf-8")
    async with bench.client.get("/static/workbench-jssip.js") as res:
        assert (res.status, await res.text()) == (200, "window.JsSIP = {};")


async def test_a_seat_change_by_another_process_reaches_the_open_page(bench: Bench) -> None:
    """A pause recorded in the ledger by another process (`hotline seats pause`: no
    notification in this one) reaches the seat's open page by the stream's look at the
    ledger (every external_check seconds), without the page asking."""
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    cookie, _ = await bench.session("zhang")
    bench.work.external_check = 0.2
    async with bench.client.get("/api/v1/seats/me/events",
                                headers={"Cookie": cookie}) as res:
        assert (await asyncio.wait_for(_event(res), 5))["logged_in"] is False
        await asyncio.sleep(0.3)  # the watcher has seen the ledger as it is
        await bench.work.seats.record("8001", "login", at=T0, actor="other-process")
        pushed = await asyncio.wait_for(_event(res), 2)
        assert pushed["state_label"] == "已登录"
    await asyncio.sleep(0.05)
    assert bench.work.watching == {}
