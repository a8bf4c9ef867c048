"""The wallboard: what `board()` makes of QueueStatus and the ledger's day, and the web
server's answers (aiohttp's test client against the real app, a real ledger file, the
routing loop's state set by hand): the page, the JSON, health, and an error that names
the problem for every bad request."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from hotline.core.calendar.schedule import Calendar
from hotline.core.calls.live import MemberStatus, QueueStatus, WaitingCaller
from hotline.core.configuration import Configuration
from hotline.core.routing.policy import Alert, OverflowState
from hotline.features.board.board import board, seat_rows
from hotline.features.board.web import Sources, Wallboard
from hotline.features.calls.handling import LedgerWriter
from hotline.features.seats.routing_loop import RoutingLoop
from hotline.ledger.report import DayFigures
from hotline.ledger.store import Ledger
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.operations import AsteriskOperations
from tests.unit.test_routing import make_config

NOW = datetime(2026, 11, 25, 2, 0, 0, tzinfo=UTC)  # 10:00 Beijing time, a working day


def member(queue: str, seat: str, name: str, status: str = "not_in_use",
           paused: bool = False, in_call: bool = False) -> MemberStatus:
    return MemberStatus(queue, name, f"PJSIP/{seat}", 5, paused, "meal" if paused else "",
                        status, in_call, 0, True)


def live() -> dict[str, QueueStatus]:
    """center: c1 free, c2 on a call, two callers waiting (one in Hefei's region queue);
    iit: c1 paused, nobody waiting."""
    center = QueueStatus("center", waiting=1, members=[
        member("center", "c1", "张敏"), member("center", "c2", "王芳", "in_use", in_call=True)],
        callers=[WaitingCaller("center", 1, "13955112345", "纳税人张三", 35)])
    region = QueueStatus("center-hefei", waiting=1, members=[],
                         callers=[WaitingCaller("center-hefei", 1, "05511234567", None, 50)])
    iit = QueueStatus("iit", members=[member("iit", "c1", "张敏", paused=True)])
    return {"center": center, "center-hefei": region, "iit": iit}


FIGURES = DayFigures("2026-11-25", {"center": {"offered": 10, "answered": 8, "abandoned": 2,
                                               "within": 6}},
                     {"张敏": {"answered": 5, "avg_talk": 120.5}})


def test_board_counts_region_callers_with_their_queue_and_shows_no_caller() -> None:
    """The board counts region queues' callers under their queue, shows seats, today's
    figures, overflow and alerts, and no caller."""
    config = make_config()
    out = {q["queue"]: q for q in board(config, live(), FIGURES,
                                        {"center": OverflowState(True)},
                                        {"iit": Alert("iit", "no-seat-available", "无人")})}
    center, iit = out["center"], out["iit"]
    assert (center["waiting"], center["longest_wait"]) == (2, 50)
    assert [c["wait"] for c in center["callers"]] == [50, 35]
    assert "13955112345" not in str(out)
    assert "纳税人张三" not in str(out)
    assert [(s["seat"], s["free"]) for s in center["seats"]] == [("c1", True), ("c2", False)]
    assert center["seats"][0]["answered_today"] == 5
    assert center["today"] == {"date": "2026-11-25", "offered": 10, "answered": 8,
                               "abandoned": 2, "service_level": 0.6}
    assert (center["overflow"], center["alert"]) == (True, None)
    assert (iit["overflow"], iit["alert"]) == (False, "无人")
    assert iit["seats"][0]["free"] is False  # paused
    assert iit["today"]["service_level"] is None  # nothing offered yet


class _Service:
    """The parts of a running service the wallboard reads."""

    def __init__(self, ledger: Ledger) -> None:
        self.gateway = AmiGateway("127.0.0.1", 1, "hotline", "x")
        self.writer = LedgerWriter(ledger)
        config = Configuration(routing=make_config())
        self.routing: RoutingLoop | None = RoutingLoop(
            self.gateway, ledger, lambda: config, lambda now: True, lambda: NOW)
        self.routing.live, self.routing.live_at = live(), NOW
        self.routing.alerts = {
            "iit": Alert("iit", "no-seat-available", "队列 个人所得税 没有可接听的座席")}
        self.wallboard = Wallboard(Sources(self.gateway, ledger, self.writer,
                                           lambda: self.routing, Calendar, lambda: NOW,
                                           lambda: NOW))


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[_Service]:
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        yield _Service(ledger)
    finally:
        await ledger.close()


@pytest.fixture
async def client(service: _Service) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(service.wallboard.app())) as test_client:
        yield test_client


async def test_the_page_is_the_chinese_wallboard(client: TestClient[Any, Any]) -> None:
    """/ is the Chinese wallboard page, reading /api/status."""
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert "12366 纳税服务热线 · 实时监控" in page
    assert "/api/status" in page


async def test_status_has_the_queues_the_line_and_the_link(
        client: TestClient[Any, Any]) -> None:
    """/api/status has the line's state, the queues with alerts, the AMI link's problems,
    and filters by queue."""
    response = await client.get("/api/status")
    assert response.status == 200
    data = await response.json()
    assert (data["line"], data["line_label"], data["ami_connected"]) == (
        "open", "服务时间", False)
    assert data["at"] == data["updated_at"] == "2026-11-25T10:00:00+08:00"
    queues = {q["queue"]: q for q in data["queues"]}
    assert queues.keys() == {"center", "iit"}
    assert queues["center"]["waiting"] == 2
    assert queues["iit"]["alert"] == "队列 个人所得税 没有可接听的座席"
    assert data["problems"] == ["ami: not connected to Asterisk (callers go to the centre's "
                                "queue by the dialplan's fallback)"]
    one = await (await client.get("/api/status", params={"queue": "iit"})).json()
    assert [q["queue"] for q in one["queues"]] == ["iit"]


async def test_health_follows_the_ami_link(service: _Service,
                                           client: TestClient[Any, Any]) -> None:
    """/healthz is 503 degraded while AMI is down and 200 ok once it is up."""
    response = await client.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "degraded"
    assert body["problems"][0].startswith("ami: not connected")
    service.gateway.connected.set()
    response = await client.get("/healthz")
    assert (response.status, await response.json()) == (200, {"status": "ok", "problems": []})


@pytest.mark.parametrize(("method", "path", "status", "code", "message"), [
    ("GET", "/api/status?queue=nosuch", 400, "unknown-queue",
     "unknown queue 'nosuch' (routing knows: center, iit)"),
    ("GET", "/api/status?queue=iit&verbose=1", 400, "unknown-parameter",
     "unknown query parameter(s) verbose for /api/status (expected: queue)"),
    ("GET", "/healthz?x=1", 400, "unknown-parameter",
     "unknown query parameter(s) x for /healthz (expected: none)"),
    ("GET", "/wallboard", 404, "not-found",
     "no such page: /wallboard (there are: /, /api/status, /healthz, /phone/, /login, "
     "/workbench/, /workbench/seat, /workbench/liaison, /workbench/leader/followup, "
     "/api/v1/openapi.json)"),
    ("POST", "/api/status", 405, "method-not-allowed",
     "POST /api/status: the wallboard is read-only (use GET)"),
    ("DELETE", "/", 405, "method-not-allowed", "DELETE /: the wallboard is read-only (use GET)"),
])
async def test_a_bad_request_gets_json_that_names_the_problem(
        client: TestClient[Any, Any], method: str, path: str, status: int, code: str,
        message: str) -> None:
    """A bad request gets a JSON error with a code and a message."""
    response = await client.request(method, path)
    assert response.status == status
    assert response.content_type == "application/json"
    assert await response.json() == {"error": code, "message": message}


async def test_without_routing_there_are_no_queues(service: _Service,
                                                   client: TestClient[Any, Any]) -> None:
    """Without routing.yaml the board has no queues, and asking for one is a 400 saying
    so."""
    service.routing = None
    data = await (await client.get("/api/status")).json()
    assert data["queues"] == []
    response = await client.get("/api/status", params={"queue": "center"})
    assert response.status == 400
    assert "no routing.yaml" in (await response.json())["message"]


async def test_a_port_already_taken_is_named_and_the_service_goes_on(
        service: _Service) -> None:
    """A wallboard port already taken is logged as an error naming it, and the service goes
    on without the page."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with capture_logs() as logs:
            assert await service.wallboard.start("127.0.0.1", port) is False
    [entry] = [e for e in logs if e["event"] == "web.unavailable"]
    assert (entry["port"], entry["log_level"]) == (port, "error")
    assert service.wallboard.url is None


async def test_port_0_listens_on_a_free_port_and_says_where(service: _Service) -> None:
    """Port 0 listens on a free port and logs the URL, which answers."""
    with capture_logs() as logs:
        assert await service.wallboard.start("127.0.0.1", 0) is True
    try:
        url = service.wallboard.url
        assert url is not None
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0/")
        assert [e["url"] for e in logs if e["event"] == "web.listening"] == [url]
        reader, writer = await asyncio.open_connection("127.0.0.1", int(url.split(":")[2][:-1]))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head = (await reader.read()).split(b"\r\n", 1)[0]
        writer.close()
        assert head == b"HTTP/1.1 503 Service Unavailable"
    finally:
        await service.wallboard.stop()


async def test_status_lists_every_seat_as_staff_read_it(service: _Service,
                                                        client: TestClient[Any, Any]) -> None:
    """/api/status lists every seat with its status, move and queues in Chinese, filtered by
    queue."""
    from hotline.ledger.seats import SeatRecord

    assert service.routing is not None
    service.routing.records = {
        "c1": SeatRecord("c1", True, "meal", False, None, None),
        "h1": SeatRecord("h1", True, None, True, None, None)}
    data = await (await client.get("/api/status")).json()
    seats = {s["seat"]: s for s in data["seats"]}
    assert seats.keys() == {"c1", "c2", "h1", "h2", "w1"}
    assert (seats["c1"]["status"], seats["c1"]["moved"]) == ("暂停（用餐）", "-")
    assert (seats["c2"]["status"], seats["c2"]["queues"]) == ("未登录", ["center"])
    assert (seats["h1"]["status"], seats["h1"]["moved"]) == ("已登录", "已迁入")
    assert (seats["h2"]["moved"], seats["h2"]["group_name"]) == ("未迁入", "合肥市税务局")
    one = await (await client.get("/api/status", params={"queue": "iit"})).json()
    assert [s["seat"] for s in one["seats"]] == ["c1", "h1"]  # the seats with the skill


async def test_status_has_the_days_rates_and_the_work_orders_to_do(
        tmp_path: Path) -> None:
    """Today on the whole line: 3 calls, 2 offered to seats, 1 answered within 20 s: 接通
    率 and service level 50%. Work orders: one overdue, one due today, one due later,
    one closed (not counted)."""
    from dataclasses import replace as changed
    from datetime import timedelta

    from hotline.core.calls.tracking import Call, CallState, Outcome
    from hotline.ledger.orders import OrderBook

    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        base = Call("c-1", "Local/x", "c-1", "13955112345", None, CallState.ENDED,
                    NOW - timedelta(hours=1), ended_at=NOW - timedelta(minutes=50))
        await ledger.upsert_calls([
            changed(base, queue="center", answered_at=NOW, wait_seconds=12.0,
                    outcome=Outcome.ANSWERED),
            changed(base, linkedid="c-2", queue="center", outcome=Outcome.ABANDONED),
            changed(base, linkedid="c-3", outcome=Outcome.SELF_SERVICE),
            changed(base, linkedid="yesterday", started_at=NOW - timedelta(days=1)),
        ], NOW)
        book = OrderBook(ledger, Calendar())
        # Due at the end of the next working day after `at` (17:30 Beijing time).
        for linkedid, at in (("o-1", NOW - timedelta(days=2)), ("o-2", NOW - timedelta(days=1)),
                             ("o-3", NOW), ("o-4", NOW - timedelta(days=2))):
            await book.from_call(linkedid=linkedid, kind="tip_off", number=None, name=None,
                                 at=at, content="举报")
        async with ledger.transaction() as db:
            await db.execute("UPDATE work_orders SET status = 'closed' WHERE linkedid = 'o-4'")
        service = _Service(ledger)
        async with TestClient(TestServer(service.wallboard.app())) as client:
            data = await (await client.get("/api/status")).json()
    finally:
        await ledger.close()
    assert data["today"] == {"date": "2026-11-25", "calls": 3, "offered": 2, "answered": 1,
                             "abandoned": 1, "connection_rate": 0.5, "service_level": 0.5}
    assert data["orders"] == {"open": 3, "overdue": 1, "due_today": 1}


async def test_a_failure_inside_is_a_json_500_and_logged(
        service: _Service, client: TestClient[Any, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure inside a request is a JSON 500 pointing to the log, and is logged."""
    async def broken(queue: str | None = None) -> dict[str, Any]:
        raise RuntimeError("ledger gone")

    monkeypatch.setattr(service.wallboard, "status", broken)
    with capture_logs() as logs:
        response = await client.get("/api/status")
    assert response.status == 500
    assert await response.json() == {
        "error": "internal-error",
        "message": "/api/status failed; the service log says why (web.request_failed)"}
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["web.request_failed"]


class _Asterisk(AsteriskOperations):
    """A gateway stand-in for one routing round: its queue status as given, the actions
    of its typed operations kept (each answered with success)."""

    def __init__(self, status: dict[str, QueueStatus]) -> None:
        self.status = status
        self.sent: list[dict[str, Any]] = []

    async def queue_status(self, queue: str | None = None) -> dict[str, QueueStatus]:
        return self.status

    async def send(self, action: dict[str, Any], *, timeout: float | None = None,
                   check: bool = True) -> AmiMessage:
        self.sent.append(action)
        return AmiMessage("Response: Success")


async def test_the_routing_loop_and_the_wallboard_agree_on_free_seats(
        tmp_path: Path) -> None:
    """A caller waits at center; c1's phone rings for someone else, c2's is unavailable:
    the wallboard shows no free seat and the routing loop, seeing none either, pulls in
    the moved-in remote seat; c1 (ringing) is on duty, so no coverage alert."""
    from hotline.ledger.seats import SeatBook

    status = {"center": QueueStatus("center", waiting=1, members=[
        member("center", "c1", "张敏", "ringing"), member("center", "c2", "王芳",
                                                          "unavailable")],
        callers=[WaitingCaller("center", 1, None, None, 5)])}
    asterisk = _Asterisk(status)
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        book = SeatBook(ledger)
        for seat, events in (("c1", ["login"]), ("c2", ["login"]),
                             ("h1", ["login", "move_in"])):
            for event in events:
                await book.record(seat, event, at=NOW, actor="test")
        config = make_config()
        live_config = Configuration(routing=config)
        loop = RoutingLoop(asterisk, ledger, lambda: live_config,  # type: ignore[arg-type]
                           lambda now: True, lambda: NOW)
        await loop.round()
    finally:
        await ledger.close()
    [center] = [q for q in board(config, status, FIGURES, at=NOW) if q["queue"] == "center"]
    assert [s["free"] for s in center["seats"]] == [False, False]
    assert loop.overflow["center"].active
    assert any(a.get("Action") == "QueueAdd" and a.get("Interface") == "PJSIP/h1"
               and a.get("Queue") == "center" for a in asterisk.sent)
    assert "center" not in loop.alerts


def test_a_seat_in_wrap_up_is_not_free() -> None:
    """A member whose last call ended within the queue's wrap-up is not free on the
    wallboard, and the seat panel says it is wrapping up."""
    from dataclasses import replace as changed

    from hotline.core.routing.config import QueueDef
    from hotline.ledger.seats import SeatRecord

    base = make_config()
    config = changed(base, queues={**base.queues,
                                   "center": QueueDef("center", "综合咨询", wrapup=10)})
    ended = int(NOW.timestamp()) - 4  # 4 s ago
    status = {"center": QueueStatus("center", waiting=1, members=[
        changed(member("center", "c1", "张敏"), last_call=ended),
        changed(member("center", "c2", "王芳"), last_call=ended - 60)],
        callers=[WaitingCaller("center", 1, None, None, 5)])}
    [center] = board(config, status, FIGURES, at=NOW)
    assert [(s["seat"], s["free"]) for s in center["seats"]] == [("c1", False), ("c2", True)]
    records = {"c1": SeatRecord("c1", True, None, False, None, None)}
    [c1] = [r for r in seat_rows(config, records, status, NOW) if r["seat"] == "c1"]
    assert c1["status"] == "话后整理"


def test_remote_help_is_shown_only_where_a_remote_seat_is_in_the_queue() -> None:
    """The "remote seats helping" tag follows Asterisk's members: not on a queue whose
    overflow is on with every remote seat gone, nor on one no remote seat serves."""
    status = {"center": QueueStatus("center", members=[member("center", "c1", "张敏")]),
              "iit": QueueStatus("iit", members=[member("iit", "c1", "张敏"),
                                                 member("iit", "h1", "李强")])}
    out = {q["queue"]: q for q in board(make_config(), status, FIGURES,
                                        {"center": OverflowState(True),
                                         "iit": OverflowState(True)}, {}, NOW)}
    assert (out["center"]["overflow"], out["center"]["remote_helping"]) == (True, False)
    assert out["iit"]["remote_helping"] is True


def test_the_seat_panel_names_queues_and_region_queues() -> None:
    """The seat panel shows a queue's name, and a region queue's with its bureau, never
    a raw id such as center-hefei."""
    from hotline.ledger.seats import SeatRecord

    status = {"center": QueueStatus("center", members=[member("center", "h1", "李强")]),
              "center-hefei": QueueStatus("center-hefei",
                                          members=[member("center-hefei", "h1", "李强")])}
    records = {"h1": SeatRecord("h1", True, None, True, None, None)}
    [h1] = [r for r in seat_rows(make_config(), records, status, NOW) if r["seat"] == "h1"]
    assert h1["queue_names"] == ["综合咨询", "综合咨询（合肥市税务局）"]


def test_a_seat_whose_phone_is_offline_shows_so() -> None:
    """A logged-in seat whose SIP phone Asterisk reports unavailable (unregistered, or not
    answering qualify) shows 话机不在线 and phone_offline, in the seat panel and in the
    queue's member list; a Local-channel seat in the same state stays 不可用, and a
    paused seat shows its pause."""
    from dataclasses import replace as changed

    from hotline.core.routing.config import Seat
    from hotline.features.board.board import member_label
    from hotline.ledger.seats import SeatRecord

    base = make_config()
    config = changed(base, seats={**base.seats, "c2": Seat("c2", "王芳", "centre",
                                                           "Local/c2@seats/n", {"center": 7})})
    local = changed(member("center", "c2", "王芳", "unavailable"), interface="Local/c2@seats/n")
    status = {"center": QueueStatus("center", members=[
        member("center", "c1", "张敏", "unavailable"), local,
        member("center", "h1", "李强", "unavailable", paused=True)])}
    records = {seat: SeatRecord(seat, True, "meal" if seat == "h1" else None, False, None,
                                None) for seat in ("c1", "c2", "h1")}
    rows = {r["seat"]: r for r in seat_rows(config, records, status, NOW)}
    assert (rows["c1"]["status"], rows["c1"]["phone_offline"]) == ("话机不在线", True)
    assert (rows["c2"]["status"], rows["c2"]["phone_offline"]) == ("不可用", False)
    assert rows["h1"]["status"] == "暂停（用餐）"
    assert (rows["c1"]["logged_in"], rows["c1"]["queues"]) == (True, ["center"])
    assert member_label("PJSIP/c1", "unavailable") == "话机不在线"
    assert member_label("PJSIP/c1", "not_in_use") == "空闲"
    assert member_label("Local/c2@seats/n", "unavailable") == "不可用"


async def test_the_page_shows_queue_names_and_the_service_level_threshold(
        client: TestClient[Any, Any]) -> None:
    """The page renders the seat panel's queue names and states the 20 s threshold."""
    page = await (await client.get("/")).text()
    assert "s.queue_names" in page
    assert "服务水平：20 秒内接通" in page
    assert "remote_helping" in page
    assert "s.phone_offline" in page
