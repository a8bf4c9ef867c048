"""The seat's page over aiohttp's test client (the accounts' bench: a real ledger file, the
sandbox's routing.yaml, a gateway that keeps the AMI actions sent): a seat logs itself
in, pauses with a Chinese reason, unpauses and logs out, as `hotline seats` does and
audited with its name; it acts only on its own seat, a leader on any; CSRF is required;
the screen pop of a ringing tip-off shows the masked number, region, menu path, digits,
wait, earlier calls and open work orders; the event stream pushes it; the 台帐 entry's
draft survives a reload and the saved entry is in the ledger, audited."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta
from typing import Any

from hotline.core.calls.tracking import Call, CallState
from hotline.ledger.store import iso
from tests.unit import test_accounts_web
from tests.unit.test_accounts_web import T0, Bench

bench = test_accounts_web.bench  # the fixture

NUMBER = "13955112345"


def rows(bench: Bench, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(bench.path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def ringing_call(linkedid: str = "1764000000.1", category: str = "tip_off",
                 rings: str = "演示座席8001", **changes: Any) -> Call:
    fields: dict[str, Any] = dict(
        linkedid=linkedid, caller_channel="Local/caller@x-0001;2", caller_uniqueid=linkedid,
        caller_number=NUMBER, caller_name=None, state=CallState.RINGING,
        started_at=T0 - timedelta(seconds=40), digits="2", ivr_path=("main",),
        category=category, topic=None, dialplan="12366", queue="tipoff",
        queued_at=T0 - timedelta(seconds=25), ringing=(rings,))
    fields.update(changes)
    return Call(**fields)


async def test_a_seat_logs_in_pauses_unpauses_and_logs_out(bench: Bench) -> None:
    """Each action changes the seat's state (with since when), is recorded in seat_events
    and the audit trail with the person's name, and sends Asterisk what `hotline seats`
    sends (QueueAdd for each skill, QueuePause with the reason's label); a bad reason and
    a pause while logged out are refused with their ids, changing nothing."""
    await bench.user("zhang", {"seat"}, seat="8002", bureau="centre")
    cookie, csrf = await bench.session("zhang")
    status, view = await bench.call("GET", "/seats/me", cookie)
    assert status == 200, view
    assert (view["seat"], view["logged_in"], view["state_label"]) == ("8002", False, "未登录")
    assert {"code": "meal", "label": "用餐"} in view["pause_reasons"]
    status, body = await bench.call("POST", "/seats/me/action", cookie, csrf,
                                    json={"action": "pause", "reason": "meal"})
    assert (status, body["error"]) == (400, "seat-not-logged-in")
    status, body = await bench.call("POST", "/seats/me/action", cookie, csrf,
                                    json={"action": "login"})
    assert (status, body["changed"], body["state_label"]) == (200, True, "已登录"), body
    added = sorted(a["Queue"] for a in bench.gateway.sent if a["Action"] == "QueueAdd")
    assert added == ["center", "iit"]  # 8002's skills in routing.yaml
    status, body = await bench.call("POST", "/seats/me/action", cookie, csrf,
                                    json={"action": "pause", "reason": "开小差"})
    assert (status, body["error"]) == (400, "seat-bad-reason")
    status, body = await bench.call("POST", "/seats/me/action", cookie, csrf,
                                    json={"action": "pause", "reason": "用餐"})
    assert (status, body["paused"], body["state_label"]) == (200, "meal", "暂停（用餐）")
    pause = [a for a in bench.gateway.sent if a["Action"] == "QueuePause"][-1]
    assert (pause["Paused"], pause["Reason"]) == ("true", "用餐")
    bench.clock.now = T0 + timedelta(minutes=5)
    status, view = await bench.call("GET", "/seats/me", cookie)
    assert view["since"] == iso(T0)  # paused since then: the page counts from it
    for action in ("unpause", "logout"):
        status, body = await bench.call("POST", "/seats/me/action", cookie, csrf,
                                        json={"action": action})
        assert (status, body["changed"]) == (200, True), body
    assert body["state_label"] == "未登录"
    assert rows(bench, "SELECT event, reason, actor FROM seat_events ORDER BY id") == [
        ("login", None, "zhang"), ("pause", "meal", "zhang"), ("unpause", None, "zhang"),
        ("logout", None, "zhang")]
    audited = [r for r in bench.audit() if r[1].startswith("seat.")]
    assert audited == [("zhang", f"seat.{e}", "seat:8002")
                       for e in ("login", "pause", "unpause", "logout")]


async def test_a_seat_acts_only_on_its_own_seat_a_leader_on_any(bench: Bench) -> None:
    """A seat reading or changing another seat is refused (403 role-required, audited
    api.refused) and nothing is recorded; a leader logs that seat in, recorded under the
    leader's name; a leader without a seat of their own has no /seats/me."""
    await bench.user("zhang", {"seat"}, seat="8002", bureau="centre")
    await bench.user("wang", {"leader"})
    cookie, csrf = await bench.session("zhang")
    for method, path in (("GET", "/seats/8001"), ("POST", "/seats/8001/action")):
        status, body = await bench.call(method, path, cookie, csrf, json={"action": "login"})
        assert (status, body["error"]) == (403, "role-required"), (path, body)
    assert ("zhang", "api.refused", "seat:8001") in bench.audit()
    assert rows(bench, "SELECT * FROM seat_events") == []
    status, body = await bench.call("POST", "/seats/8002/action", cookie, csrf,
                                    json={"action": "login"})
    assert status == 200, body  # its own, by id
    lead, lead_csrf = await bench.session("wang")
    status, body = await bench.call("POST", "/seats/8001/action", lead, lead_csrf,
                                    json={"action": "login"})
    assert (status, body["logged_in"]) == (200, True), body
    assert rows(bench, "SELECT seat, actor FROM seat_events WHERE seat = '8001'") == [
        ("8001", "wang")]
    status, body = await bench.call("GET", "/seats/me", lead)
    assert (status, body["error"]) == (404, "api-not-found")
    status, body = await bench.call("GET", "/seats/9999", lead)
    assert (status, body["error"]) == (400, "seat-unknown")


async def test_seat_actions_need_the_csrf_token(bench: Bench) -> None:
    """With the session cookie, an action without the CSRF token, or with a wrong one, is
    refused (403 csrf-rejected) and the seat stays logged out; so is a draft."""
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    cookie, _ = await bench.session("zhang")
    for token in (None, "wrong"):
        status, body = await bench.call("POST", "/seats/me/action", cookie, token,
                                        json={"action": "login"})
        assert (status, body["error"]) == (403, "csrf-rejected")
        status, body = await bench.call("PUT", "/calls/x/entry", cookie, token,
                                        json={"question": "q"})
        assert (status, body["error"]) == (403, "csrf-rejected")
    status, view = await bench.call("GET", "/seats/me", cookie)
    assert view["logged_in"] is False
    assert bench.gateway.sent == []


async def _history(bench: Bench) -> None:
    """The caller's calls 10 and 40 days ago, and an open work order of the number."""
    older = [ringing_call(f"old.{d}", "consultation", state=CallState.ENDED,
                          started_at=T0 - timedelta(days=d), topic="invoice",
                          ringing=()) for d in (10, 40)]
    await bench.ledger.upsert_calls(older, T0)
    async with bench.ledger.transaction() as db:
        await db.execute(
            "INSERT INTO work_orders (kind, source, linkedid, callback_number, content, "
            "created_at, due_at) VALUES ('consultation', 'call:old.10', 'old.10', ?, "
            "'发票开具问题，请回电', ?, ?)", (NUMBER, iso(T0 - timedelta(days=10)),
                                             iso(T0 + timedelta(days=1))))


async def test_the_screen_pop_of_a_ringing_tip_off(bench: Bench) -> None:
    """A tip-off ringing seat 8001 pops on 8001's page: number masked as the ledger masks
    it (never in full), region, menu path, category, digits, wait so far, the number's
    calls of the last 30 days (not older) and its open work order; another seat's page
    shows nothing. Once connected, a consultation's number is shown in full."""
    await _history(bench)
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    await bench.user("li", {"expert"}, seat="8002", bureau="centre")
    cookie, _ = await bench.session("zhang")
    other, _ = await bench.session("li")
    bench.calls["1764000000.1"] = ringing_call()
    status, view = await bench.call("GET", "/seats/me", cookie)
    assert status == 200, view
    pop = view["call"]
    assert (pop["caller_number"], pop["masked"]) == ("139****2345", True)
    assert NUMBER not in json.dumps(view, ensure_ascii=False)
    assert (pop["state"], pop["state_label"]) == ("ringing", "振铃")
    assert (pop["category"], pop["category_label"]) == ("tip_off", "涉税举报")
    assert pop["region"] == "安徽省合肥市"
    assert (pop["ivr_path"], pop["digits"], pop["wait_seconds"]) == (["main"], "2", 25.0)
    assert [c["linkedid"] for c in pop["earlier_calls"]] == ["old.10"]
    assert pop["earlier_calls"][0]["topic_label"] == "发票"
    assert [o["content"] for o in pop["open_orders"]] == ["发票开具问题，请回电"]
    assert (await bench.call("GET", "/seats/me", other))[1]["call"] is None
    bench.calls["1764000000.1"] = ringing_call(
        category="consultation", state=CallState.CONNECTED, seat="演示座席8001",
        ringing=(), answered_at=T0, wait_seconds=25.0)
    pop = (await bench.call("GET", "/seats/me", cookie))[1]["call"]
    assert (pop["state"], pop["caller_number"], pop["masked"]) == ("connected", NUMBER,
                                                                  False)


async def test_the_event_stream_pushes_the_pop_when_the_call_rings(bench: Bench) -> None:
    """The page's one stream sends the seat's view at once, then, when the call handling
    records a call ringing the seat (on_call), the view with its screen pop within a
    second (woken by the change, not by its 2 s tick), the number masked."""
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    cookie, _ = await bench.session("zhang")
    async with bench.client.get("/api/v1/seats/me/events",
                                headers={"Cookie": cookie}) as res:
        assert res.status == 200
        assert res.content_type == "text/event-stream"

        async def event() -> dict[str, Any]:
            while True:
                line = (await res.content.readline()).decode()
                if line.startswith("data: "):
                    data: dict[str, Any] = json.loads(line[6:])
                    return data

        first = await asyncio.wait_for(event(), 2)
        assert first["call"] is None
        assert bench.work.sources.calls() is bench.calls
        call = ringing_call()
        bench.calls[call.linkedid] = call
        bench.work.on_call(call)
        pushed = await asyncio.wait_for(event(), 1.0)
        assert pushed["call"]["caller_number"] == "139****2345"
        assert NUMBER not in json.dumps(pushed, ensure_ascii=False)


async def test_the_entry_draft_survives_a_reload_and_the_entry_is_saved(bench: Bench) -> None:
    """A draft typed for the seat's call is kept as typed (another GET, as after a
    reload, finds it); an incomplete entry is refused naming each problem; the saved
    entry is in the ledger beside the call's row, audited call.entry with the person's
    name, the draft done with; another seat may neither read nor write it."""
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    await bench.user("li", {"expert"}, seat="8002", bureau="centre")
    cookie, csrf = await bench.session("zhang")
    other, other_csrf = await bench.session("li")
    call = ringing_call(state=CallState.ENDED, seat="演示座席8001", ringing=(),
                        answered_at=T0, ended_at=T0 + timedelta(minutes=3))
    await bench.ledger.upsert_calls([call], T0)
    path = f"/calls/{call.linkedid}/entry"
    status, body = await bench.call("PUT", path, cookie, csrf,
                                    json={"question": "有人虚开发票", "category": "tip_off"})
    assert status == 200, body
    status, body = await bench.call("GET", path, cookie)
    assert status == 200, body
    assert body["entry"]["draft"]["question"] == "有人虚开发票"
    assert body["call"]["category"] == "tip_off"
    assert body["entry"]["saved"] is None
    status, body = await bench.call("POST", path, cookie, csrf,
                                    json={"category": "tip_off", "question": "有人虚开发票",
                                          "resolution": "work_order",
                                          "callback_number": "12"})
    assert (status, body["error"]) == (400, "api-bad-body")
    for problem in ("difficulty", "department", "callback number"):
        assert problem in body["message"], body
    entry = {"category": "tip_off", "topic": "invoice", "question": "有人虚开发票",
             "answer": "已登记，转稽查", "resolution": "work_order", "difficulty": "difficult",
             "department": "稽查局", "callback_number": "0551-6512 3456"}
    for method in ("GET", "PUT", "POST"):
        status, body = await bench.call(method, path, other, other_csrf, json=entry)
        assert (status, body["error"]) == (403, "role-required"), (method, body)
    status, body = await bench.call("POST", path, cookie, csrf, json=entry)
    assert status == 200, body
    assert rows(bench, "SELECT c.seat, e.category, e.question, e.resolution, e.difficulty, "
                "e.department, e.callback_number, e.saved_by, e.draft FROM calls c JOIN "
                "call_entries e USING (linkedid)") == [
        ("演示座席8001", "tip_off", "有人虚开发票", "work_order", "difficult", "稽查局",
         "055165123456", "zhang", None)]
    assert ("zhang", "call.entry", f"call:{call.linkedid}") in bench.audit()
    status, body = await bench.call("GET", path, cookie)
    assert body["entry"]["saved"]["department"] == "稽查局"
    assert body["entry"]["draft"] is None


async def _paused(bench: Bench, want: str | None, within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while (await bench.work.seats.state("8001")).paused != want:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_after_call_work_lasts_until_the_entry_is_saved_or_the_limit(
        bench: Bench) -> None:
    """A seat with its page open is paused in after-call work (话后处理) when a call it
    answered ends; saving the call's entry unpauses it (under the person's name); a
    second call's after-call work ends by itself at the limit (actor hotline). A seat
    with no page open is not paused at all."""
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    cookie, csrf = await bench.session("zhang")
    await bench.call("POST", "/seats/me/action", cookie, csrf, json={"action": "login"})
    bench.work.sources.wrap_up_seconds = 0.3
    ended = {"state": CallState.ENDED, "rings": "x", "ringing": (), "seat": "演示座席8001",
             "answered_at": T0, "ended_at": T0 + timedelta(minutes=2)}
    first = ringing_call("call.1", "consultation", **ended)
    bench.work.on_call(first)  # no page open: no after-call work
    await asyncio.sleep(0.1)
    assert (await bench.work.seats.state("8001")).paused is None
    bench.work.watching["8001"] = 1  # the page is open (its event stream counts it)
    second = ringing_call("call.2", "consultation", **ended)
    await bench.ledger.upsert_calls([second], T0)
    bench.work.on_call(second)
    await _paused(bench, "after_call_work")
    status, view = await bench.call("GET", "/seats/me", cookie)
    assert view["state_label"] == "暂停（话后处理）"
    bench.work.sources.wrap_up_seconds = 30  # the save, not the limit, ends this one
    status, body = await bench.call("POST", "/calls/call.2/entry", cookie, csrf, json={
        "category": "consultation", "question": "发票怎么开", "answer": "电子税务局开具",
        "resolution": "on_the_spot"})
    assert status == 200, body
    await _paused(bench, None, 0.2)
    bench.work.sources.wrap_up_seconds = 0.3
    third = ringing_call("call.3", "consultation", **ended)
    bench.work.on_call(third)
    await _paused(bench, "after_call_work")
    await _paused(bench, None, 2.0)  # the limit passed, nothing saved
    assert rows(bench, "SELECT event, reason, actor FROM seat_events ORDER BY id") == [
        ("login", None, "zhang"), ("pause", "after_call_work", "hotline"),
        ("unpause", None, "zhang"), ("pause", "after_call_work", "hotline"),
        ("unpause", None, "hotline")]


async def test_an_open_page_keeps_nobody_logged_in(bench: Bench) -> None:
    """The event stream's checks of its session do not count as the person's requests:
    once the session is idle past web.session_idle_minutes the stream says `ended` and
    closes, and the session no longer opens the API."""
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    cookie, _ = await bench.session("zhang")
    bench.page.recheck = 0.05
    async with bench.client.get("/api/v1/seats/me/events",
                                headers={"Cookie": cookie}) as res:
        assert res.status == 200
        bench.clock.now = T0 + timedelta(minutes=20)
        for _ in range(3):  # checked at 20 minutes (a change wakes the stream): alive
            await asyncio.sleep(0.1)
            bench.work.changes.notify()
        assert bench.page.streams == 1
        # 31 minutes after the last request (11 after the checks: had they counted as
        # requests, the session would live on)
        bench.clock.now = T0 + timedelta(minutes=31)
        seen = []
        async with asyncio.timeout(5):
            while "event: ended\n" not in seen:
                line = (await res.content.readline()).decode()
                assert line, seen  # the stream closed without saying why
                seen.append(line)
    assert (await bench.call("GET", "/seats/me", cookie))[0] == 401
    await asyncio.sleep(0.05)
    assert bench.page.streams == 0


async def test_ledger_show_has_the_entry_masked_like_the_call(bench: Bench) -> None:
    """`hotline ledger show` (show_call) has the saved entry as part of the call's
    record; when the seat corrected a consultation to a tip-off, the caller's number and
    the entry's callback number are masked unless unmasked."""
    from hotline.ledger.access import Reader, show_call

    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    cookie, csrf = await bench.session("zhang")
    call = ringing_call("c.9", "consultation", state=CallState.ENDED, ringing=(),
                        seat="演示座席8001", answered_at=T0, ended_at=T0)
    await bench.ledger.upsert_calls([call], T0)
    status, body = await bench.call("POST", "/calls/c.9/entry", cookie, csrf, json={
        "category": "tip_off", "question": "举报偷税", "answer": "已登记",
        "resolution": "on_the_spot", "callback_number": "13800001111"})
    assert status == 200, body

    async def audit(*_: Any) -> None:
        return None

    shown = await show_call(bench.ledger, Reader("zhang"), "c.9", unmask=False,
                            audit=audit, at=T0)
    assert (shown["caller_number"], shown["category"]) == ("139****2345", "consultation")
    assert shown["entry"]["question"] == "举报偷税"
    assert shown["entry"]["callback_number"] == "138****1111"
    full = await show_call(bench.ledger, Reader("a", ("a",)), "c.9", unmask=True,
                           audit=audit, at=T0)
    assert (full["caller_number"], full["entry"]["callback_number"]) == (
        NUMBER, "13800001111")
