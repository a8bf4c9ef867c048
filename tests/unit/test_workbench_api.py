"""The REST API's queues, voicemail and unmasking (the accounts' bench: a real ledger file,
the sandbox's routing.yaml): the queues as the routing loop last saw them, a remote
bureau's seat seeing its own bureau's seats only; voicemail listed, read, downloaded and
handled as `hotline voicemail` does, masked; and a walk of every page and every API
answer with a tip-off in the ledger (its call, entry, voicemail and work order, and the
call ringing a seat): the reporter's number is nowhere, for any role, until an auditor
unmasks the record with a reason, which the audit trail keeps."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hotline.core.calls.live import MemberStatus, QueueStatus, WaitingCaller
from hotline.core.calls.tracking import CallState
from hotline.ledger.store import iso
from hotline.ledger.voicemail import VoicemailBook
from tests.unit import test_accounts_web
from tests.unit.test_accounts_web import (
    BODIES,
    ROLES,
    ROUTE_ROLES,
    ROUTING,
    T0,
    Bench,
    people,
)
from tests.unit.test_workbench_seat import NUMBER, ringing_call

bench = test_accounts_web.bench  # the fixture

NAME = "举报人王五"
CALLBACK = "13600002222"


def member(queue: str, seat: str, **state: Any) -> MemberStatus:
    fields: dict[str, Any] = dict(paused=False, paused_reason="", status="not_in_use",
                                  in_call=False)
    fields.update(state)
    found = ROUTING.seats[seat]
    return MemberStatus(queue, found.name, found.device, 0, fields["paused"],
                        fields["paused_reason"], fields["status"], fields["in_call"], 0,
                        True)


def loop_of(live: dict[str, QueueStatus]) -> Any:
    """What GET /api/v1/queues reads of the routing loop: its last round."""
    return SimpleNamespace(routing=ROUTING, live=live, overflow={}, alerts={},
                           live_at=T0 - timedelta(seconds=1))


async def test_the_queues_waiting_longest_wait_and_seats_by_state(bench: Bench) -> None:
    """Two callers waiting in `center` (the longest 95 s) and its four seats free,
    talking, paused and ringing: counted by state; no caller's number in the answer; a
    Hefei remote seat sees only Hefei's seat; a leader all; ?queue= picks one queue and
    an unknown one or parameter is refused with api-bad-query; no AMI action is sent."""
    bench.queues_loop[0] = loop_of({"center": QueueStatus(
        "center", waiting=2,
        members=[member("center", "8001"), member("center", "8002", status="in_use",
                                                  in_call=True),
                 member("center", "8101", paused=True, paused_reason="用餐"),
                 member("center", "8201", status="ringing")],
        callers=[WaitingCaller("center", 1, NUMBER, NAME, 95),
                 WaitingCaller("center", 2, "13900000000", None, 12)]),
        "iit": QueueStatus("iit", members=[member("iit", "8002")])})
    await bench.user("wang", {"leader"})
    await bench.user("hf", {"seat"}, seat="8101", bureau="hefei")
    lead, _ = await bench.session("wang")
    remote, _ = await bench.session("hf")
    status, body = await bench.call("GET", "/queues", lead)
    assert status == 200, body
    assert NUMBER not in json.dumps(body)
    assert "13900000000" not in json.dumps(body)
    center = next(q for q in body["queues"] if q["queue"] == "center")
    assert (center["waiting"], center["longest_wait"]) == (2, 95)
    assert center["seats_by_state"] == {"free": 1, "ringing": 1, "talking": 1,
                                        "wrap_up": 0, "paused": 1, "unavailable": 0}
    assert [s["state_label"] for s in center["seats"]] == ["空闲", "通话中", "暂停", "振铃"]
    status, body = await bench.call("GET", "/queues", remote)
    assert (status, body["bureau"]) == (200, "hefei")
    center = next(q for q in body["queues"] if q["queue"] == "center")
    assert [s["seat"] for s in center["seats"]] == ["8101"]
    assert center["seats_by_state"]["paused"] == 1
    assert center["waiting"] == 2
    status, body = await bench.call("GET", "/queues?queue=iit", lead)
    assert [q["queue"] for q in body["queues"]] == ["iit"]
    for query in ("?queue=nope", "?colour=red"):
        status, body = await bench.call("GET", "/queues" + query, lead)
        assert (status, body["error"]) == (400, "api-bad-query"), body
    assert bench.gateway.sent == []


async def _tip_off(bench: Bench, tmp_path: Path) -> tuple[str, int, int]:
    """A tip-off call (answered by 8001, its entry saved with a callback number), its
    voicemail and its work order; the call rings 8001 again as a live call. Returns the
    call's id, the voicemail's and the order's."""
    call = ringing_call("tip.1", "tip_off", state=CallState.ENDED, ringing=(),
                        seat="演示座席8001", answered_at=T0, ended_at=T0,
                        caller_name=NAME)
    await bench.ledger.upsert_calls([call], T0)
    await bench.work.entries.save("tip.1", "8001", {
        "category": "tip_off", "question": "举报虚开", "answer": "已登记",
        "resolution": "work_order", "difficulty": "ordinary", "department": "稽查局",
        "callback_number": CALLBACK}, actor="zhang", at=T0)
    audio = tmp_path / "vm-1.wav"
    audio.write_bytes(b"RIFF....WAVEfmt ")
    book = VoicemailBook(bench.ledger)
    vm = await book.begin(linkedid="tip.1", caller_number=NUMBER, caller_name=NAME,
                          box="12366", file=str(audio), at=T0, category="tip_off",
                          topic=None)
    async with bench.ledger.transaction() as db:
        cur = await db.execute(
            "INSERT INTO work_orders (kind, source, linkedid, callback_number, content, "
            "created_at, due_at) VALUES ('tip_off', 'call:tip.1', 'tip.1', ?, '举报虚开', "
            "?, ?)", (NUMBER, iso(T0), iso(T0 + timedelta(days=1))))
        order = cur.lastrowid
        await db.execute("UPDATE voicemails SET status = 'new', work_order_id = ? "
                         "WHERE id = ?", (order, vm))
    assert order is not None
    live = ringing_call("tip.2", "tip_off", caller_name=NAME)
    bench.calls[live.linkedid] = live
    return "tip.1", vm, order


def concrete(path: str, role: str, linkedid: str, vm: int, order: int) -> str:
    """A GET route's path with the tip-off's records for its parameters."""
    own = {"seat": "8001", "expert": "8002"}.get(role, "8001")
    return (path.replace("{linkedid}", linkedid).replace("{seat}", own)
            .replace("{username}", "target").replace("{order}", str(order))
            .replace("{order_id}", str(order)).replace("{id}", str(vm)))


PAGES = ("/login", "/workbench/", "/workbench/seat", "/workbench/unmask",
         "/static/workbench-seat.js", "/static/workbench-unmask.js")


def leaks(text: str) -> list[str]:
    return [secret for secret in (NUMBER, CALLBACK, NAME) if secret in text]


async def test_no_reporters_number_in_any_answer_without_an_audited_unmask(
        bench: Bench, tmp_path: Path) -> None:
    """Every GET route of the API (as registered: routes added later are walked too),
    every page and the seat's event stream, by a person of every role, with a tip-off's
    call, entry, voicemail and work order in the ledger and a tip-off ringing seat 8001:
    the reporter's number, callback number and name are in no answer. Then the auditor
    unmasks the call and the voicemail, each with a reason: the answers carry the
    number, and the audit trail has call.unmask and voicemail.unmask by the auditor with
    the reason; without a reason (or with one too short) nothing is unmasked, and no
    other role may unmask at all."""
    linkedid, vm, order = await _tip_off(bench, tmp_path)
    sessions = await people(bench)
    walked = 0
    for role in ROLES:
        cookie, _ = sessions[role]
        for route in bench.api.routes:
            if route.method != "GET":
                continue
            path = concrete(route.path, role, linkedid, vm, order)
            async with bench.client.get("/api/v1" + path, headers={"Cookie": cookie}) as res:
                if res.content_type == "text/event-stream":
                    text = (await res.content.readline()).decode()
                    text += (await res.content.readline()).decode()
                else:
                    text = (await res.read()).decode("utf-8", "replace")
            assert not leaks(text), (role, path, text[:300])
            walked += 1
        for page in PAGES:
            async with bench.client.get(page, headers={"Cookie": cookie}) as res:
                text = await res.text()
            assert not leaks(text), (role, page)
    assert walked >= len(ROLES) * sum(1 for m, _ in ROUTE_ROLES if m == "GET")
    # the seat's own pop of the ringing tip-off, and its event stream, were among them:
    status, view = await bench.call("GET", "/seats/me", sessions["seat"][0])
    assert view["call"]["linkedid"] == "tip.2"
    assert view["call"]["masked"] is True
    for role in set(ROLES) - {"auditor"}:
        cookie, csrf = sessions[role]
        for path in (f"/calls/{linkedid}/unmask", f"/voicemail/{vm}/unmask"):
            status, body = await bench.call("POST", path, cookie, csrf,
                                            json={"reason": "核查举报线索"})
            assert (status, body["error"]) == (403, "role-required"), (role, path)
            assert not leaks(json.dumps(body, ensure_ascii=False))
    cookie, csrf = sessions["auditor"]
    for reason in (None, "", "查", "x" * 201, "两行\n原因"):
        status, body = await bench.call("POST", f"/calls/{linkedid}/unmask", cookie, csrf,
                                        json={} if reason is None else {"reason": reason})
        assert (status, body["error"]) == (400, "api-bad-body"), reason
    status, body = await bench.call("POST", f"/calls/{linkedid}/unmask", cookie, None,
                                    json={"reason": "核查举报线索"})
    assert (status, body["error"]) == (403, "csrf-rejected")
    assert not [r for r in audit_rows(bench) if r[1].endswith(".unmask")]
    status, body = await bench.call("POST", f"/calls/{linkedid}/unmask", cookie, csrf,
                                    json={"reason": "稽查局核实举报人身份（函 2026-118）"})
    assert status == 200, body
    assert (body["caller_number"], body["caller_name"]) == (NUMBER, NAME)
    assert body["entry"]["callback_number"] == CALLBACK
    status, body = await bench.call("POST", f"/voicemail/{vm}/unmask", cookie, csrf,
                                    json={"reason": "回电核实留言内容"})
    assert (status, body["caller_number"]) == (200, NUMBER), body
    assert "file" not in body
    status, body = await bench.call("POST", "/voicemail/99999/unmask", cookie, csrf,
                                    json={"reason": "回电核实留言内容"})
    assert (status, body["error"]) == (404, "voicemail-unknown")
    unmasks = [r for r in audit_rows(bench) if r[1].endswith(".unmask")]
    assert unmasks == [
        ("p-auditor", "call.unmask", f"call:{linkedid}",
         json.dumps({"reason": "稽查局核实举报人身份（函 2026-118）"}, ensure_ascii=False)),
        ("p-auditor", "voicemail.unmask", f"voicemail:{vm}",
         json.dumps({"reason": "回电核实留言内容"}, ensure_ascii=False))]
    assert BODIES[("POST", "/calls/{linkedid}/unmask")] == {"reason": "核查举报线索"}


def audit_rows(bench: Bench) -> list[tuple[str, str, str, str | None]]:
    con = sqlite3.connect(bench.path)
    try:
        return con.execute("SELECT actor, action, target, detail FROM audit "
                           "ORDER BY id").fetchall()
    finally:
        con.close()


async def test_voicemail_listed_read_downloaded_and_handled(bench: Bench,
                                                            tmp_path: Path) -> None:
    """A seat lists the new voicemail (masked, with Chinese labels, no file path), reads
    it, downloads its recording (audited voicemail.audio) and marks it handled with a
    note: its work order is closed, audited order.close under the seat's name; handled
    twice is refused (409 voicemail-not-new), a bad status or limit with api-bad-query,
    a missing note with api-bad-body, an unknown id with 404 voicemail-unknown."""
    _, vm, order = await _tip_off(bench, tmp_path)
    await bench.user("zhang", {"seat"}, seat="8001", bureau="centre")
    cookie, csrf = await bench.session("zhang")
    status, body = await bench.call("GET", "/voicemail?status=new", cookie)
    assert status == 200, body
    assert [(v["id"], v["caller_number"], v["masked"], v["status_label"], v["category_label"])
            for v in body] == [(vm, "139****2345", True, "待处理", "涉税举报")]
    assert "file" not in body[0]
    status, body = await bench.call("GET", f"/voicemail/{vm}", cookie)
    assert (status, body["id"], body["caller_name"]) == (200, vm, "举***")
    async with bench.client.get(f"/api/v1/voicemail/{vm}/audio",
                                headers={"Cookie": cookie}) as res:
        assert (res.status, await res.read()) == (200, b"RIFF....WAVEfmt ")
        assert res.headers["Content-Type"].startswith("audio/wav")
    assert ("zhang", "voicemail.audio", f"voicemail:{vm}", None) in audit_rows(bench)
    for query in ("?status=old", "?limit=0", "?limit=x", "?page=2"):
        status, body = await bench.call("GET", "/voicemail" + query, cookie)
        assert (status, body["error"]) == (400, "api-bad-query"), query
    status, body = await bench.call("POST", f"/voicemail/{vm}/done", cookie, csrf,
                                    json={"note": "  "})
    assert (status, body["error"]) == (400, "api-bad-body")
    status, body = await bench.call("POST", f"/voicemail/{vm}/done", cookie, csrf,
                                    json={"note": "已回电，转稽查局"})
    assert (status, body["status"], body["status_label"]) == (200, "done", "已处理"), body
    assert ("zhang", "order.close", f"work_order:{order}", "已回电，转稽查局") in \
        audit_rows(bench)
    status, body = await bench.call("POST", f"/voicemail/{vm}/done", cookie, csrf,
                                    json={"note": "再次处理"})
    assert (status, body["error"]) == (409, "voicemail-not-new")
    status, body = await bench.call("GET", "/voicemail/424242", cookie)
    assert (status, body["error"]) == (404, "voicemail-unknown")
