"""The team leader's page over aiohttp's test client (the accounts' bench: a real ledger
file, the sandbox's routing.yaml, a gateway that keeps the AMI actions sent, the
wallboard on a routing loop whose last look at Asterisk the test sets): the floor shows
each seat's state and since when, its call and since when (never the caller's number),
its pause reason, after-call work, and the calls in the IVR, filtered to nothing for a
seat; a leader's force pause, log out, move in/out, skills for today and
listen/whisper/barge are recorded, applied, and audited with the leader's name, bad
input refused with its id; the event stream pushes a change and open streams send
nothing to Asterisk; the page and its link are a leader's."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from hotline.core.calls.live import MemberStatus, QueueStatus, WaitingCaller
from hotline.core.calls.tracking import Call, CallState
from hotline.ledger.seats import SeatBook
from hotline.ledger.store import iso
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.errors import AmiActionFailed
from tests.unit import test_accounts_web
from tests.unit.test_accounts_web import T0, Bench

bench = test_accounts_web.bench  # the fixture

NUMBER = "13955112345"
SEAT_CHANNEL = "Local/8001@seats-0000000a;1"


def rows(bench: Bench, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(bench.path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def call(linkedid: str, state: CallState, **changes: Any) -> Call:
    fields: dict[str, Any] = dict(
        linkedid=linkedid, caller_channel="Local/caller@x-0001;2", caller_uniqueid=linkedid,
        caller_number=NUMBER, caller_name="纳税人张三", state=state,
        started_at=T0 - timedelta(seconds=90), ivr_path=("main",), category="tip_off",
        dialplan="12366")
    fields.update(changes)
    return Call(**fields)


def member(queue: str, seat: str, status: str = "not_in_use", *, paused: bool = False,
           in_call: bool = False) -> MemberStatus:
    return MemberStatus(queue, f"演示座席{seat}", f"Local/{seat}@seats/n", 5, paused,
                        "用餐" if paused else "", status, in_call, 0, True,
                        device=f"Local/{seat}@seats")


async def leader(bench: Bench, seat: str | None = None) -> tuple[str, str]:
    fields = {"seat": seat} if seat else {}
    await bench.user("boss", {"leader"}, **fields)
    return await bench.session("boss")


async def test_the_floor_shows_every_seat_its_call_pause_and_wrap_up(bench: Bench) -> None:
    """8001 on a tip-off call (since its answer, the category shown, the number and name
    nowhere), 8002 paused for a meal since the pause, 8101 in after-call work, 8201
    logged out; a call in the IVR counted with its menus; the wallboard's line, today's
    figures and queues with their waiting callers are there too."""
    book = SeatBook(bench.ledger)
    for seat in ("8001", "8002", "8101"):
        await book.record(seat, "login", at=T0 - timedelta(hours=1), actor="x")
    await book.record("8002", "pause", at=T0 - timedelta(minutes=3), actor="x",
                      reason="meal")
    await book.record("8101", "pause", at=T0 - timedelta(seconds=20), actor="hotline",
                      reason="after_call_work")
    answered = T0 - timedelta(seconds=75)
    bench.calls["a"] = call("a", CallState.CONNECTED, queue="tipoff", seat="演示座席8001",
                            queued_at=T0 - timedelta(seconds=80), answered_at=answered)
    bench.calls["b"] = call("b", CallState.IVR, started_at=T0 - timedelta(seconds=12),
                            category=None, ivr_path=("main", "tax"))
    bench.loop.live = {
        "center": QueueStatus("center", waiting=1, members=[
            member("center", "8001", "in_use", in_call=True),
            member("center", "8002", paused=True)],
            callers=[WaitingCaller("center", 1, "13800000000", None, 40)]),
        "tipoff": QueueStatus("tipoff", members=[member("tipoff", "8001", "in_use",
                                                        in_call=True)])}
    bench.loop.live_at = T0
    cookie, _ = await leader(bench)
    status, floor = await bench.call("GET", "/leader/floor", cookie)
    assert status == 200, floor
    seats = {s["seat"]: s for s in floor["seats"]}
    one = seats["8001"]
    assert (one["state"], one["state_label"]) == ("on_call", "通话中")
    assert one["since"] == one["call"]["since"] == iso(answered).replace(".000", "")
    assert (one["call"]["category_label"], one["call"]["queue_name"]) == ("涉税举报",
                                                                          "涉税举报")
    assert one["queue_names"] == ["综合咨询", "涉税举报"]
    two = seats["8002"]
    assert (two["state_label"], two["paused_label"]) == ("暂停（用餐）", "用餐")
    assert two["paused_since"] == iso(T0 - timedelta(minutes=3)).replace(".000", "")
    three = seats["8101"]
    assert (three["state"], three["state_label"], three["wrap_up"]) == (
        "wrap_up", "话后处理", True)
    assert seats["8201"]["state_label"] == "未登录"
    assert floor["ivr"]["count"] == 1
    assert floor["ivr"]["calls"][0]["menus"] == ["main", "tax"]
    center = next(q for q in floor["queues"] if q["queue"] == "center")
    assert (center["waiting"], center["longest_wait"]) == (1, 40)
    assert floor["line"] == "open"
    assert {"today", "orders", "problems"} <= set(floor)
    text = json.dumps(floor, ensure_ascii=False)
    for secret in (NUMBER, "纳税人张三", "13800000000"):
        assert secret not in text


async def test_force_pause_log_out_and_moves_are_recorded_applied_and_audited(
        bench: Bench) -> None:
    """A leader force-pauses a seat with a Chinese reason (QueuePause with its label),
    logs it out (QueueRemove), moves a remote seat in until a time and out; each is in
    seat_events and the audit trail under the leader's name; a centre seat's move, a bad
    until, an unknown action and a reason without a pause are refused with their ids."""
    await SeatBook(bench.ledger).record("8001", "login", at=T0, actor="seat8001")
    cookie, csrf = await leader(bench)
    path = "/leader/seats/8001/action"
    status, body = await bench.call("POST", path, cookie, csrf,
                                    json={"action": "pause", "reason": "培训"})
    assert (status, body["paused"], body["changed"]) == (200, "training", True), body
    pause = [a for a in bench.gateway.sent if a["Action"] == "QueuePause"][-1]
    assert (pause["Interface"], pause["Paused"], pause["Reason"]) == (
        "Local/8001@seats/n", "true", "培训")
    status, body = await bench.call("POST", path, cookie, csrf, json={"action": "logout"})
    assert (status, body["logged_in"]) == (200, False), body
    assert {a["Queue"] for a in bench.gateway.sent if a["Action"] == "QueueRemove"} >= {
        "center", "iit", "tipoff"}
    until = (T0 + timedelta(hours=3)).isoformat()
    status, body = await bench.call("POST", "/leader/seats/8101/action", cookie, csrf,
                                    json={"action": "move_in", "until": until})
    assert (status, body["moved_in"]) == (200, True), body
    status, body = await bench.call("POST", "/leader/seats/8101/action", cookie, csrf,
                                    json={"action": "move_out"})
    assert (status, body["moved_in"]) == (200, False), body
    for seat, sent, error in (
            ("8001", {"action": "move_in"}, "seat-not-remote"),
            ("8101", {"action": "move_in", "until": "明天"}, "seat-bad-until"),
            ("8101", {"action": "move_in", "until": (T0 - timedelta(hours=1)).isoformat()},
             "seat-bad-until"),
            ("8101", {"action": "pause", "until": until}, "seat-bad-until"),
            ("8001", {"action": "explode"}, "api-bad-body"),
            ("8001", {"action": "logout", "reason": "用餐"}, "api-bad-body"),
            ("8001", {"action": "pause", "reason": 5}, "api-bad-body"),
            ("8001", {"action": "pause", "extra": 1}, "api-bad-body"),
            ("9999", {"action": "logout"}, "seat-unknown")):
        status, body = await bench.call("POST", f"/leader/seats/{seat}/action", cookie,
                                        csrf, json=sent)
        assert (status, body["error"]) == (400, error), (sent, body)
    assert rows(bench, "SELECT seat, event, reason, actor FROM seat_events ORDER BY id") == [
        ("8001", "login", None, "seat8001"), ("8001", "pause", "training", "boss"),
        ("8001", "logout", None, "boss"), ("8101", "move_in", None, "boss"),
        ("8101", "move_out", None, "boss")]
    audited = [r for r in bench.audit() if r[1].startswith("seat.")]
    assert audited == [("boss", "seat.pause", "seat:8001"), ("boss", "seat.logout", "seat:8001"),
                       ("boss", "seat.move_in", "seat:8101"),
                       ("boss", "seat.move_out", "seat:8101")]


async def test_skills_for_today_change_what_the_routing_loop_decides_on(
        bench: Bench) -> None:
    """Adding a queue to a seat for today and taking one of routing.yaml's away are kept
    for that Beijing day (seat_skill_days), audited with the leader's name, shown on the
    floor and followed by the routing loop (the seat ranks in the added queue, not in the
    removed one); the next day routing.yaml holds again; an unknown queue, a bad level
    and a remote seat's queue without a region queue are refused."""
    cookie, csrf = await leader(bench)
    path = "/leader/seats/8002/skills"
    status, body = await bench.call("POST", path, cookie, csrf,
                                    json={"queue": "property", "action": "add", "level": 8})
    assert (status, body["changed"], body["level"]) == (200, True, 8), body
    status, body = await bench.call("POST", path, cookie, csrf,
                                    json={"queue": "iit", "action": "remove"})
    assert (status, body["changed"]) == (200, True), body
    status, body = await bench.call("POST", path, cookie, csrf,
                                    json={"queue": "iit", "action": "remove"})
    assert (status, body["changed"]) == (200, False)  # already so: nothing recorded
    assert rows(bench, "SELECT seat, day, queue, level, actor FROM seat_skill_days "
                "ORDER BY queue") == [("8002", "2026-11-25", "iit", None, "boss"),
                                      ("8002", "2026-11-25", "property", 8, "boss")]
    loop = bench.loop
    await loop._follow_day_skills()
    assert ("8002", 2, False) in loop.day_routing.ranks_for("property")  # level 8
    assert "8002" not in {s for s, _, _ in loop.day_routing.ranks_for("iit")}
    assert loop.routing.seats["8002"].skills == {"center": 3, "iit": 7}  # the file's
    status, floor = await bench.call("GET", "/leader/floor", cookie)
    skills = {k["queue"]: k for k in next(s for s in floor["seats"]
                                         if s["seat"] == "8002")["skills"]}
    assert (skills["property"]["today"], skills["iit"]["today"]) == ("added", "removed")
    # Giving iit back removes the day's change: routing.yaml's level again.
    status, body = await bench.call("POST", path, cookie, csrf,
                                    json={"queue": "iit", "action": "add"})
    assert (status, body["level"]) == (200, 7), body
    assert rows(bench, "SELECT queue FROM seat_skill_days") == [("property",)]
    for seat, sent, error in (
            ("8002", {"queue": "nope", "action": "add"}, "seat-bad-skill"),
            ("8002", {"queue": "iit", "action": "add", "level": 10}, "seat-bad-skill"),
            ("8002", {"queue": "iit", "action": "remove", "level": 3}, "seat-bad-skill"),
            ("8002", {"queue": "iit", "action": "add", "level": "5"}, "api-bad-body"),
            ("8002", {"queue": "iit", "action": "swap"}, "api-bad-body"),
            ("8002", {"action": "add"}, "api-bad-body"),
            ("8201", {"queue": "iit", "action": "add"}, "seat-bad-skill")):
        status, body = await bench.call("POST", f"/leader/seats/{seat}/skills", cookie,
                                        csrf, json=sent)
        assert (status, body["error"]) == (400, error), (sent, body)
    details = [json.loads(d) for (d,) in rows(
        bench, "SELECT detail FROM audit WHERE action LIKE 'seat.skill_%' ORDER BY id")]
    assert [(d["queue"], d["level"]) for d in details] == [
        ("property", 8), ("iit", None), ("iit", 7)]
    assert {a for (a,) in rows(bench, "SELECT actor FROM audit WHERE action LIKE "
                                      "'seat.skill_%'")} == {"boss"}
    bench.clock.now = T0 + timedelta(days=1)
    await loop._follow_day_skills()
    assert loop.day_routing is loop.routing


def channels_of(*lines: str) -> Any:
    """A CoreShowChannels answer (one event per channel, as Asterisk lists them)."""
    async def send_list(action: dict[str, Any], *, timeout: float | None = None,
                        ) -> list[AmiMessage]:
        assert action == {"Action": "CoreShowChannels"}
        return [AmiMessage(line) for line in lines]
    return send_list


def channel(name: str, bridge: str, app: str = "AppDial") -> str:
    return "\r\n".join([
        "Event: CoreShowChannel", f"Channel: {name}", "Uniqueid: 1764000000.5",
        "Linkedid: 1764000000.1", f"Application: {app}", "ApplicationData: (Outgoing Line)",
        "Context: seats", f"BridgeId: {bridge}", "Duration: 00:01:05",
        "CallerIDNum: 8001", "CallerIDName: x"])


async def test_whisper_rings_the_leaders_phone_into_chanspy_on_the_seats_channel(
        bench: Bench) -> None:
    """Whisper on 8001's call: an Originate of the leader's own seat's phone (8002) into
    ChanSpy on 8001's bridged ;1 channel with q, w, E and S, audited with the mode and
    the call; listen and barge use q and B; a phone given must be a routing.yaml device
    and not the seat's own; no call, no spy."""
    bench.gateway.send_list = channels_of(  # type: ignore[attr-defined]
        channel("Local/8001@seats-0000000a;2", "", "Wait"),
        channel(SEAT_CHANNEL, "b-1"),
        channel("Local/caller@x-0001;1", "b-1", "Queue"))
    cookie, csrf = await leader(bench, seat="8002")
    path = "/leader/seats/8001/spy"
    status, body = await bench.call("POST", path, cookie, csrf, json={"mode": "whisper"})
    assert (status, body["phone"], body["mode_label"]) == (200, "Local/8002@seats/n",
                                                           "耳语"), body
    spy = [a for a in bench.gateway.sent if a["Action"] == "Originate"]
    assert len(spy) == 1
    assert (spy[0]["Channel"], spy[0]["Application"], spy[0]["Data"]) == (
        "Local/8002@seats/n", "ChanSpy", f"{SEAT_CHANNEL},qwES")
    for mode, options in (("listen", "qES"), ("barge", "qBES")):
        status, body = await bench.call("POST", path, cookie, csrf,
                                        json={"mode": mode, "phone": "Local/8101@seats/n"})
        assert status == 200, body
        sent = [a for a in bench.gateway.sent if a["Action"] == "Originate"][-1]
        assert (sent["Channel"], sent["Data"]) == ("Local/8101@seats/n",
                                                   f"{SEAT_CHANNEL},{options}")
    for sent, error, code in (
            ({"mode": "listen", "phone": "PJSIP/evil,x"}, "spy-phone-invalid", 400),
            ({"mode": "listen", "phone": "Local/8001@seats/n"}, "spy-phone-invalid", 400),
            ({"mode": "shout"}, "api-bad-body", 400)):
        status, body = await bench.call("POST", path, cookie, csrf, json=sent)
        assert (status, body["error"]) == (code, error), (sent, body)
    status, body = await bench.call("POST", "/leader/seats/8201/spy", cookie, csrf,
                                    json={"mode": "listen"})
    assert (status, body["error"]) == (409, "seat-on-no-call"), body
    assert len([a for a in bench.gateway.sent if a["Action"] == "Originate"]) == 3
    details = [json.loads(d) for (d,) in rows(
        bench, "SELECT detail FROM audit WHERE action = 'seat.spy' AND actor = 'boss' "
               "ORDER BY id")]
    assert [d["mode"] for d in details] == ["whisper", "listen", "barge"]
    assert details[0] == {"mode": "whisper", "phone": "Local/8002@seats/n",
                          "call": "1764000000.1"}
    # A leader with no seat of their own must name the phone.
    await bench.user("lead2", {"leader"})
    other, other_csrf = await bench.session("lead2")
    status, body = await bench.call("POST", path, other, other_csrf, json={"mode": "listen"})
    assert (status, body["error"]) == (400, "spy-phone-invalid")


async def test_a_leader_ends_a_whisper_from_the_page(bench: Bench) -> None:
    """结束监听 after a whisper hangs up the leader's phone channel by the id its
    Originate gave it, audited as seat.spy_stop; a second one is refused
    spy-not-running (409), as is one on a seat nobody spies on; when Asterisk no longer
    has that channel (the leader hung up first) the stop still ends it, audited with
    hung_up false."""
    bench.gateway.send_list = channels_of(  # type: ignore[attr-defined]
        channel(SEAT_CHANNEL, "b-1"), channel("Local/caller@x-0001;1", "b-1", "Queue"))
    cookie, csrf = await leader(bench, seat="8002")
    path = "/leader/seats/8001/spy"
    status, body = await bench.call("POST", path, cookie, csrf, json={"mode": "whisper"})
    assert status == 200, body
    [originate] = [a for a in bench.gateway.sent if a["Action"] == "Originate"]
    assert originate["ChannelId"].startswith("hotline-spy-")
    status, body = await bench.call("DELETE", path, cookie, csrf)
    assert (status, body["stopped"], body["hung_up"]) == (200, "whisper", True), body
    assert bench.gateway.sent[-1] == {"Action": "Hangup", "Channel": originate["ChannelId"],
                                      "Cause": "16"}
    for seat in ("8001", "8201"):
        status, body = await bench.call("DELETE", f"/leader/seats/{seat}/spy", cookie, csrf)
        assert (status, body["error"]) == (409, "spy-not-running"), body
    status, body = await bench.call("POST", path, cookie, csrf, json={"mode": "listen"})
    assert status == 200, body
    sent = bench.gateway.send

    async def no_such_channel(action: dict[str, Any], *, timeout: float | None = None,
                              check: bool = True) -> AmiMessage:
        if action["Action"] == "Hangup":
            raise AmiActionFailed("Hangup: No such channel")
        return await sent(action, timeout=timeout, check=check)

    bench.gateway.send = no_such_channel  # type: ignore[method-assign]
    status, body = await bench.call("DELETE", path, cookie, csrf)
    assert (status, body["hung_up"]) == (200, False), body
    details = [json.loads(d) for (d,) in rows(
        bench, "SELECT detail FROM audit WHERE action = 'seat.spy_stop' AND actor = 'boss' "
               "ORDER BY id")]
    assert [(d["mode"], d["hung_up"]) for d in details] == [("whisper", True),
                                                            ("listen", False)]


async def test_the_stream_pushes_changes_and_open_pages_send_nothing_to_asterisk(
        bench: Bench) -> None:
    """Twenty open floor streams get the floor at once and again after a leader's pause,
    each its own stream; while they are open and the floor changes, no AMI action is sent
    but the pause's own (no list is asked of Asterisk)."""
    await SeatBook(bench.ledger).record("8001", "login", at=T0, actor="x")
    cookie, csrf = await leader(bench)
    listed: list[dict[str, Any]] = []

    async def send_list(action: dict[str, Any], *, timeout: float | None = None) -> list[Any]:
        listed.append(action)
        return []
    bench.gateway.send_list = send_list  # type: ignore[attr-defined]
    responses = [await bench.client.get("/api/v1/leader/events", headers={"Cookie": cookie})
                 for _ in range(20)]
    try:
        async def event(response: Any) -> dict[str, Any]:
            while True:
                line = (await response.content.readline()).decode()
                if line.startswith("data: "):
                    return dict(json.loads(line[6:]))

        first = [await asyncio.wait_for(event(r), 5) for r in responses]
        assert all(f["seats"][0]["state"] == "ready" for f in first)
        assert bench.leader.streams == 20
        before = len(bench.gateway.sent)
        status, body = await bench.call("POST", "/leader/seats/8001/action", cookie, csrf,
                                        json={"action": "pause", "reason": "meal"})
        assert status == 200, body
        pushed = [await asyncio.wait_for(event(r), 5) for r in responses]
        assert all(p["seats"][0]["state_label"] == "暂停（用餐）" for p in pushed)
        assert [a["Action"] for a in bench.gateway.sent[before:]] == ["QueuePause"]
        assert listed == []
    finally:
        for r in responses:
            r.close()


async def test_the_page_and_its_link_are_a_leaders(bench: Bench) -> None:
    """/workbench/leader is the Chinese page for a leader, 403 for a seat, /login without
    a session; the landing page links it for a leader only."""
    await bench.user("zhang", {"seat"}, seat="8001")
    cookie, _ = await leader(bench)
    seat_cookie, _ = await bench.session("zhang")
    async with bench.client.get("/workbench/leader", headers={"Cookie": cookie}) as res:
        assert res.status == 200
        assert "班长工作台" in await res.text()
    async with bench.client.get("/workbench/leader", headers={"Cookie": seat_cookie}) as res:
        assert res.status == 403
    async with bench.client.get("/workbench/leader", allow_redirects=False) as res:
        assert (res.status, res.headers["Location"]) == (303, "/login")
    async with bench.client.get("/workbench/", headers={"Cookie": cookie}) as res:
        assert 'href="/workbench/leader"' in await res.text()
    async with bench.client.get("/workbench/", headers={"Cookie": seat_cookie}) as res:
        assert "/workbench/leader" not in await res.text()


def test_a_seat_may_not_change_skills_from_the_cli(tmp_path: Path) -> None:
    """`hotline seats skill-add` is a leader's, like moves: a seat's person is refused
    (role-required, audited under their name) before anything is asked of Asterisk, and
    nothing is recorded; a level outside 1-9 is refused by the parser."""
    from tests.unit.test_accounts_cli import REPO, hotline, init, run

    ledger = tmp_path / "ledger.sqlite3"
    init(ledger)
    assert run(ledger, "users", "add", "zhang", "--roles", "seat", "--seat", "8001",
               "--os-login", "zhangmin").returncode == 0
    env = {"HOTLINE_LEDGER_PATH": str(ledger),
           "HOTLINE_ROUTING_PATH": str(REPO / "config" / "routing.yaml")}
    res = hotline("seats", "skill-add", "8001", "iit", user="zhangmin", env=env)
    assert res.returncode == 1
    assert "[role-required]" in res.stderr
    res = hotline("seats", "skill-add", "8001", "iit", "--level", "10", user="ops", env=env)
    assert res.returncode == 2
    con = sqlite3.connect(ledger)
    try:
        assert con.execute("SELECT * FROM seat_skill_days").fetchall() == []
        assert ("zhang", "staff.refused") in con.execute(
            "SELECT actor, action FROM audit").fetchall()
    finally:
        con.close()
