"""Logins, sessions and the /api/v1 skeleton through aiohttp's test client, on a real
ledger file with a clock the tests move: every API route tried by every role (the table
below, denied where it must be), CSRF refusals, idle and absolute session expiry,
throttling per account and per address, API tokens and their revocation, the forced
change of a one-time password, and the OpenAPI document against the routes the server
really answers."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from hotline.common.yamlsrc import load_file
from hotline.core.calendar.schedule import Calendar
from hotline.core.calls.tracking import Call
from hotline.core.configuration import Configuration
from hotline.core.quality import Plan
from hotline.core.recordings import Retention
from hotline.core.routing.config import parse_routing
from hotline.features.accounts.errors import LoginFailed, LoginThrottled
from hotline.features.accounts.passwords import Passwords
from hotline.features.accounts.service import Accounts
from hotline.features.accounts.web import SESSION_COOKIE, Api, Pages, api_routes
from hotline.features.board.api import QueuesApi
from hotline.features.board.web import Sources, Wallboard
from hotline.features.calls.handling import LedgerWriter
from hotline.features.kb.service import TOPIC_LABELS, KbDesk
from hotline.features.kb.web import KbPages
from hotline.features.orders.service import OrderDesk, OrderSources
from hotline.features.orders.web import OrderPages
from hotline.features.quality.desk import QualityDesk
from hotline.features.quality.web import QualityApi
from hotline.features.recordings.desk import RecordingDesk
from hotline.features.recordings.web import RecordingsApi
from hotline.features.reports.web import RecordPages, Records, RecordSources
from hotline.features.seats.routing_loop import RoutingLoop
from hotline.features.spool import Spool
from hotline.features.voicemail.web import VoicemailApi
from hotline.features.workbench.admin import AdminPage
from hotline.features.workbench.leader import LeaderWork
from hotline.features.workbench.leader_web import LeaderPage
from hotline.features.workbench.seat import SeatSources, SeatWork
from hotline.features.workbench.unmask import Unmasking
from hotline.features.workbench.web import SeatPage
from hotline.ledger.kb import KnowledgeBase
from hotline.ledger.store import Ledger
from hotline.pbx.gateway import AmiGateway
from tests.unit.test_seat_book import _Gateway

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
PASSWORD = "correct-horse-7"
ROLES = ("seat", "expert", "leader", "liaison", "admin", "auditor")
EVERYONE = frozenset(ROLES)
SEATS = frozenset({"seat", "expert", "leader"})
LEADERS = frozenset({"leader"})
ORDERS_READ = frozenset({"seat", "expert", "leader", "liaison", "auditor"})
ORDERS_CHANGE = frozenset({"seat", "expert", "leader", "liaison"})
# Who may call each route: written out here, not read from the code, so that a route
# whose roles change by mistake fails this test. Every registered route must be listed.
ROUTE_ROLES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/openapi.json"): EVERYONE,
    ("GET", "/me"): EVERYONE,
    ("POST", "/me/password"): EVERYONE,
    ("GET", "/me/tokens"): EVERYONE,
    ("POST", "/me/tokens"): EVERYONE,
    ("DELETE", "/me/tokens/{id}"): EVERYONE,
    ("GET", "/users"): frozenset({"admin"}),
    ("POST", "/users"): frozenset({"admin"}),
    ("GET", "/users/{username}"): frozenset({"admin"}),
    ("PATCH", "/users/{username}"): frozenset({"admin"}),
    ("POST", "/users/{username}/password"): frozenset({"admin"}),
    # the seat's page (hotline/features/workbench): seats, experts, leaders; a seat
    # acts only on its own seat (tests/unit/test_workbench_seat.py)
    ("GET", "/seats/me"): SEATS,
    ("POST", "/seats/me/action"): SEATS,
    ("GET", "/seats/me/events"): SEATS,
    ("GET", "/seats/me/phone"): SEATS,
    ("GET", "/seats/{seat}"): SEATS,
    ("POST", "/seats/{seat}/action"): SEATS,
    ("GET", "/calls/{linkedid}/entry"): SEATS,
    ("PUT", "/calls/{linkedid}/entry"): SEATS,
    ("POST", "/calls/{linkedid}/entry"): SEATS,
    # the admin's page (hotline/features/workbench/admin.py)
    ("GET", "/config"): frozenset({"admin", "leader"}),
    # call history, reports and exports (hotline/features/reports/web.py): a seat sees
    # only its own calls (tests/unit/test_records_web.py)
    ("GET", "/calls"): frozenset({"seat", "expert", "leader", "auditor"}),
    ("GET", "/calls/names"): frozenset({"seat", "expert", "leader", "auditor"}),
    ("GET", "/calls/{linkedid}"): frozenset({"seat", "expert", "leader", "auditor"}),
    ("GET", "/reports/intervals"): frozenset({"leader", "admin", "auditor"}),
    ("GET", "/reports/quarterly"): frozenset({"leader", "admin", "auditor"}),
    ("GET", "/ledger/export"): frozenset({"leader", "auditor"}),
    # the team leader's page (hotline/features/workbench/leader*.py): leaders only
    # (tests/unit/test_workbench_leader.py)
    ("GET", "/leader/floor"): LEADERS,
    ("GET", "/leader/events"): LEADERS,
    ("POST", "/leader/seats/{seat}/action"): LEADERS,
    ("POST", "/leader/seats/{seat}/skills"): LEADERS,
    ("POST", "/leader/seats/{seat}/spy"): LEADERS,
    ("DELETE", "/leader/seats/{seat}/spy"): LEADERS,
    # work orders (hotline/features/orders): the centre's people read every order, a
    # liaison those passed to them (tests/unit/test_orders_web.py); liaisons answer, ask
    # for more time, send back; the centre opens, edits, passes on, closes; leaders remind
    # (催办) and open call back orders for abandoned calls
    ("GET", "/orders"): ORDERS_READ,
    ("GET", "/orders/mine"): ORDERS_READ,
    ("GET", "/orders/events"): ORDERS_READ,
    ("GET", "/orders/{id}"): ORDERS_READ,
    ("POST", "/orders"): SEATS,
    ("PATCH", "/orders/{id}"): SEATS,
    ("POST", "/orders/{id}/answer"): ORDERS_CHANGE,
    ("POST", "/orders/{id}/extend"): ORDERS_CHANGE,
    ("POST", "/orders/{id}/return"): ORDERS_CHANGE,
    ("POST", "/orders/{id}/delay"): ORDERS_CHANGE,
    ("POST", "/orders/{id}/pass-on"): SEATS,
    ("POST", "/orders/{id}/close"): SEATS,
    ("POST", "/orders/{id}/difficult"): SEATS,
    ("POST", "/orders/{id}/ordinary"): SEATS,
    ("POST", "/orders/{id}/remind"): LEADERS,
    ("GET", "/followup"): LEADERS,
    ("POST", "/calls/{linkedid}/callback"): LEADERS,
    # queues (hotline/features/board/api.py): seats.read
    ("GET", "/queues"): frozenset({"seat", "expert", "leader", "admin"}),
    # voicemail (hotline/features/voicemail/web.py): voicemail.handle, as the CLI
    ("GET", "/voicemail"): SEATS,
    ("GET", "/voicemail/{id}"): SEATS,
    ("GET", "/voicemail/{id}/audio"): SEATS,
    ("POST", "/voicemail/{id}/done"): SEATS,
    # unmasking with a reason (hotline/features/workbench/unmask.py): auditors only
    ("POST", "/calls/{linkedid}/unmask"): frozenset({"auditor"}),
    ("POST", "/voicemail/{id}/unmask"): frozenset({"auditor"}),
    # the knowledge base (hotline/features/kb/web.py): everyone reads and searches; seats,
    # experts and leaders draft and import; experts review; leaders publish and withdraw
    # (tests/unit/test_kb_web.py)
    ("GET", "/kb"): EVERYONE,
    ("GET", "/kb/search"): EVERYONE,
    ("GET", "/kb/export"): EVERYONE,
    ("POST", "/kb/import"): SEATS,
    ("GET", "/kb/{id}"): EVERYONE,
    ("POST", "/kb"): SEATS,
    ("PATCH", "/kb/{id}"): SEATS,
    ("POST", "/kb/{id}/review"): frozenset({"expert"}),
    ("POST", "/kb/{id}/publish"): LEADERS,
    ("POST", "/kb/{id}/withdraw"): LEADERS,
    # seat conversation recordings (hotline/features/recordings/web.py): recordings.read
    # (the desk limits a seat to its own seat's; tests/unit/test_recordings_web.py)
    ("GET", "/recordings"): frozenset({"seat", "expert", "leader", "auditor"}),
    ("GET", "/recordings/{id}/audio"): frozenset({"seat", "expert", "leader", "auditor"}),
    # quality review (hotline/features/quality/web.py): leaders and experts review, a
    # leader adds calls, a seat reads its own reviews (tests/unit/test_quality_web.py)
    ("GET", "/quality/queue"): frozenset({"seat", "expert", "leader", "auditor"}),
    ("POST", "/quality/queue"): LEADERS,
    ("GET", "/quality/form"): frozenset({"expert", "leader"}),
    ("POST", "/quality/reviews"): frozenset({"expert", "leader"}),
    ("GET", "/quality/reviews"): frozenset({"seat", "expert", "leader", "auditor"}),
    ("GET", "/quality/reviews/{id}"): frozenset({"seat", "expert", "leader", "auditor"}),
}
PUBLIC = {("GET", "/openapi.json")}
# The sandbox's routing.yaml: seats 8001 and 8002 of the centre, 8101 of Hefei.
ROUTING = parse_routing(load_file(Path(__file__).parents[2] / "config" / "routing.yaml"))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Bench:
    accounts: Accounts
    client: TestClient[Any, Any]
    clock: Clock
    ledger: Ledger
    path: Path
    api: Api
    work: SeatWork
    gateway: _Gateway  # the AMI actions the seats' actions sent
    calls: dict[str, Call]  # the call tracker's calls in progress, as the pages see them
    page: SeatPage
    leader: LeaderPage
    loop: RoutingLoop  # its `live` is what the wallboard and the floor show of Asterisk
    orders: OrderDesk
    order_pages: OrderPages
    # the routing loop as GET /api/v1/queues sees it (None: no routing loop)
    queues_loop: list[Any]

    async def user(self, name: str, roles: set[str], *, must_change: bool = False,
                   **fields: str) -> None:
        await self.accounts.book.create(
            username=name, display_name=name, roles=roles, actor="test", at=self.clock(),
            password_hash=await self.accounts.passwords.hash(PASSWORD),
            must_change=must_change, **fields)

    async def session(self, name: str, address: str = "127.0.0.1") -> tuple[str, str]:
        """A logged-in session of `name`: (its cookie header, its CSRF token)."""
        sid, _ = await self.accounts.login(name, PASSWORD, address)
        auth = await self.accounts.by_session(sid)
        assert auth is not None
        assert auth.session is not None
        return f"{SESSION_COOKIE}={sid}", auth.session.csrf

    async def call(self, method: str, path: str, cookie: str | None = None,
                   csrf: str | None = None, json: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        sent = dict(headers or {})
        if cookie is not None:
            sent["Cookie"] = cookie
        if csrf is not None:
            sent["X-CSRF-Token"] = csrf
        async with self.client.request(method, "/api/v1" + path, json=json,
                                       headers=sent) as res:
            if res.content_type == "text/event-stream":  # its first event, not its end
                return res.status, {"event": (await res.content.readline()).decode()}
            if res.content_type in ("application/yaml", "text/csv"):  # a file: its text
                return res.status, {"file": await res.text()}
            return res.status, await res.json()

    def audit(self) -> list[tuple[str, str, str]]:
        con = sqlite3.connect(self.path)
        try:
            return con.execute("SELECT actor, action, target FROM audit ORDER BY id").fetchall()
        finally:
            con.close()


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    path = tmp_path / "ledger.sqlite3"
    ledger = await Ledger.open(path)
    clock = Clock()
    # Cheap Argon2 parameters: the rules under test are the same, the hashing is fast.
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    accounts = Accounts(ledger, passwords, clock, remote_bureaus=lambda: {"hefei"})
    api = Api(accounts)
    api_routes(api, lambda: ({"centre", "hefei"}, {"8001": "centre", "8002": "centre",
                                                   "8101": "hefei"}))
    app = web.Application()
    Pages(accounts).add_routes(app)
    gateway = _Gateway()
    calls: dict[str, Call] = {}
    config = Configuration(routing=ROUTING)
    loop = RoutingLoop(gateway, ledger, lambda: config,  # type: ignore[arg-type]
                       lambda now: True, clock)
    work = SeatWork(SeatSources(gateway, ledger, lambda: ROUTING,  # type: ignore[arg-type]
                                lambda: calls, lambda: loop, clock=clock))
    page = SeatPage(work, api)
    page.add_routes(app)
    AdminPage(api, lambda: Configuration(routing=ROUTING, generation=3)).add_routes(app)
    Records(RecordSources(ledger, lambda: ROUTING), api)
    RecordPages(accounts).add_routes(app)
    # The wallboard of the service (not connected to any Asterisk here: its problems say
    # so), whose status the leader's floor shows.
    wallboard = Wallboard(Sources(AmiGateway("127.0.0.1", 1, "hotline", "x"), ledger,
                                  LedgerWriter(ledger), lambda: loop, Calendar, clock,
                                  clock))
    leader = LeaderPage(LeaderWork(work, wallboard.status), api)
    leader.add_routes(app)
    orders = OrderDesk(OrderSources(ledger, Calendar, lambda: ROUTING, clock, clock))
    work.entry_order = orders.for_entry
    order_pages = OrderPages(orders, api)
    order_pages.add_routes(app)
    queues_loop: list[Any] = [None]
    QueuesApi(ledger, lambda: queues_loop[0], clock, api)
    VoicemailApi(ledger, api)
    Unmasking(ledger, api).add_routes(app)
    KbPages(KbDesk(KnowledgeBase(ledger), TOPIC_LABELS, {"hefei"}, clock), api
            ).add_routes(app)
    # recordings in tmp_path/recordings (tests/unit/test_recordings_web.py writes there)
    RecordingsApi(RecordingDesk(ledger, Spool(tmp_path / "recordings", "/rec"), Retention(),
                                clock), api)
    QualityApi(QualityDesk(ledger, Plan, lambda: ROUTING, clock), api).add_routes(app)
    api.add_routes(app)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Bench(accounts, client, clock, ledger, path, api, work, gateway, calls, page,
                    leader, loop, orders, order_pages, queues_loop)
    finally:
        await client.close()
        await ledger.close()


async def people(bench: Bench) -> dict[str, tuple[str, str]]:
    """One person per role, logged in: role -> (cookie, csrf). And `target`, whom the
    admin routes act on."""
    fields: dict[str, dict[str, str]] = {"seat": {"seat": "8001", "bureau": "centre"},
                                         "expert": {"seat": "8002", "bureau": "centre"},
                                         "liaison": {"department": "税政科"}}
    out = {}
    for role in ROLES:
        await bench.user(f"p-{role}", {role}, **fields.get(role, {}))
        out[role] = await bench.session(f"p-{role}")
    await bench.user("target", {"seat"}, seat="8101", bureau="hefei")
    return out


OWN_SEAT = {"seat": "8001", "expert": "8002"}


def concrete(path: str, role: str = "admin") -> str:
    """A route's path with its parameters: the caller's own seat (a leader: any)."""
    return (path.replace("{id}", "999999").replace("{username}", "target")
            .replace("{seat}", OWN_SEAT.get(role, "8101"))
            .replace("{linkedid}", "1700000000.1"))


BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/me/password"): {"current": "not-the-password", "new": "a-new-password-9"},
    ("POST", "/me/tokens"): {"name": "报表脚本"},
    ("POST", "/users"): {"username": "newcomer", "roles": ["leader"], "display_name": "新人"},
    ("PATCH", "/users/{username}"): {"display_name": "王芳"},
    ("POST", "/seats/me/action"): {"action": "login"},
    ("POST", "/seats/{seat}/action"): {"action": "login"},
    ("PUT", "/calls/{linkedid}/entry"): {"question": "个税怎么报"},
    ("POST", "/calls/{linkedid}/entry"): {"question": "个税怎么报"},
    ("POST", "/leader/seats/{seat}/action"): {"action": "logout"},
    ("POST", "/leader/seats/{seat}/skills"): {"queue": "iit", "action": "remove"},
    ("POST", "/leader/seats/{seat}/spy"): {"mode": "listen"},
    ("POST", "/orders"): {"linkedid": "1700000000.1", "kind": "consultation"},
    ("PATCH", "/orders/{id}"): {"content": "补充"},
    ("POST", "/orders/{id}/answer"): {"result": "已答复"},
    ("POST", "/orders/{id}/extend"): {"days": 1, "reason": "需调档", "caller_told": True},
    ("POST", "/orders/{id}/return"): {"reason": "不属本部门"},
    ("POST", "/orders/{id}/pass-on"): {"department": "税政科"},
    ("POST", "/voicemail/{id}/done"): {"note": "已回电答复"},
    ("POST", "/calls/{linkedid}/unmask"): {"reason": "核查举报线索"},
    ("POST", "/voicemail/{id}/unmask"): {"reason": "核查举报线索"},
    ("POST", "/kb"): {"question": "q", "answer": "a", "spoken": "s", "topic": "invoice"},
    ("PATCH", "/kb/{id}"): {"base": 1},
    ("POST", "/kb/{id}/withdraw"): {"reason": "政策废止"},
    ("POST", "/kb/import"): {"format": "yaml", "text": "entries: []"},
    ("POST", "/quality/queue"): {"linkedid": "1700000000.1"},
    ("POST", "/quality/reviews"): {"linkedid": "1700000000.1", "scores": {}},
}


async def test_every_route_by_every_role(bench: Bench) -> None:
    """Every API route, called by a person of each role with a valid session and CSRF
    token: refused with 403 role-required exactly where the table says, never refused
    for a role the table allows; without a login every route but the public document is
    401 auth-required. The table covers every registered route."""
    registered = {(r.method, r.path) for r in bench.api.routes}
    assert registered == set(ROUTE_ROLES)
    sessions = await people(bench)
    for (method, path), allowed in ROUTE_ROLES.items():
        for role in ROLES:
            cookie, csrf = sessions[role]
            status, body = await bench.call(method, concrete(path, role), cookie, csrf,
                                            json=BODIES.get((method, path)))
            if role in allowed:
                assert status not in (401, 403), (method, path, role, body)
            else:
                error = body.get("error") if isinstance(body, dict) else body
                assert (status, error) == (403, "role-required"), (method, path, role, body)
        status, body = await bench.call(method, concrete(path),
                                        json=BODIES.get((method, path)))
        if (method, path) in PUBLIC:
            assert status == 200
        else:
            assert (status, body["error"]) == (401, "auth-required"), (method, path)
    refused = [a for a in bench.audit() if a[1] == "api.refused"]
    assert ("p-seat", "api.refused", "GET /users") in refused
    assert len(refused) == sum(len(EVERYONE - allowed) for allowed in ROUTE_ROLES.values())


async def test_an_admin_manages_accounts_over_the_api(bench: Bench) -> None:
    """The admin creates an account (its one-time password in the answer, once), reads
    it, changes its roles and disables it, all audited with the admin's name; bad input
    is refused with its id."""
    await bench.user("boss", {"admin"})
    cookie, csrf = await bench.session("boss")
    status, made = await bench.call("POST", "/users", cookie, csrf, json={
        "username": "Zhang", "roles": ["座席"], "seat": "8101", "display_name": "张敏"})
    assert status == 201, made
    assert (made["user"]["username"], made["user"]["bureau"]) == ("zhang", "hefei")
    assert made["user"]["must_change"] is True
    assert "password_hash" not in made["user"]
    assert len(made["one_time_password"]) == 19
    status, body = await bench.call("PATCH", "/users/zhang", cookie, csrf,
                                    json={"roles": ["seat", "expert"], "disabled": True})
    assert status == 200, body
    assert (body["roles"], body["disabled"]) == (["expert", "seat"], True)
    for bad, error in (({"username": "x y", "roles": ["seat"]}, "account-invalid"),
                       ({"username": "li", "roles": ["boss"]}, "account-invalid"),
                       ({"username": "li", "roles": ["seat"]}, "account-invalid"),
                       ({"username": "li", "roles": ["seat"], "seat": "9999"},
                        "account-invalid"),
                       ({"username": "zhang", "roles": ["leader"]}, "user-exists"),
                       ({"username": "li", "roles": "leader"}, "api-bad-body"),
                       ({"username": "li", "roles": ["leader"], "extra": 1},
                        "api-bad-body")):
        status, body = await bench.call("POST", "/users", cookie, csrf, json=bad)
        assert body["error"] == error, (bad, body)
        assert status in (400, 409)
    status, body = await bench.call("PATCH", "/users/boss", cookie, csrf,
                                    json={"disabled": True})
    assert (status, body["error"]) == (400, "account-invalid")
    status, body = await bench.call("GET", "/users/nobody", cookie, csrf)
    assert (status, body["error"]) == (404, "user-unknown")
    actions = [(a, b) for a, b, _ in bench.audit() if b.startswith("user.")]
    assert actions[-3:] == [("boss", "user.add"), ("boss", "user.roles"),
                            ("boss", "user.disable")]


async def test_state_changing_requests_need_the_sessions_csrf_token(bench: Bench) -> None:
    """With the session cookie, a POST without the CSRF token, with a wrong one, or from
    another origin is refused (403 csrf-rejected) and changes nothing; with the token it
    works. GETs need none; an API token (Bearer) needs none either."""
    await bench.user("li", {"leader"})
    cookie, csrf = await bench.session("li")
    for token, headers in ((None, {}), ("wrong", {}),
                           (csrf, {"Origin": "http://evil.example"})):
        status, body = await bench.call("POST", "/me/tokens", cookie, token,
                                        json={"name": "x"}, headers=headers)
        assert (status, body["error"]) == (403, "csrf-rejected")
    assert await bench.accounts.book.tokens("li") == []
    assert (await bench.call("GET", "/me", cookie))[0] == 200
    status, made = await bench.call("POST", "/me/tokens", cookie, csrf, json={"name": "x"},
                                    headers={"Origin": str(bench.client.make_url(""))
                                             .rstrip("/")})
    assert status == 201, made
    status, body = await bench.call("POST", "/me/tokens", json={"name": "y"},
                                    headers={"Authorization": f"Bearer {made['token']}"})
    assert status == 201, body


async def test_forms_need_their_csrf_tokens(bench: Bench) -> None:
    """The login form refuses a post without its own token (no session is made); logout
    without the session's token is refused and the session goes on; with it, it ends."""
    await bench.user("li", {"leader"})
    async with bench.client.post("/login", data={"username": "li", "password": PASSWORD,
                                                 "csrf": "forged"},
                                 allow_redirects=False) as res:
        assert res.status == 403
        assert "页面已过期" in await res.text()
        assert SESSION_COOKIE not in res.cookies
    cookie, csrf = await bench.session("li")
    async with bench.client.post("/logout", data={}, headers={"Cookie": cookie},
                                 allow_redirects=False) as res:
        assert res.status == 403
        assert (await res.json())["error"] == "csrf-rejected"
    assert (await bench.call("GET", "/me", cookie))[0] == 200
    async with bench.client.post("/logout", data={"csrf": csrf}, headers={"Cookie": cookie},
                                 allow_redirects=False) as res:
        assert (res.status, res.headers["Location"]) == (303, "/login")
    assert (await bench.call("GET", "/me", cookie))[0] == 401
    assert ("li", "logout", "user:li") in bench.audit()


async def test_login_form_sets_a_strict_httponly_cookie_and_audits(bench: Bench) -> None:
    """A good login through the form sets the session cookie HttpOnly and SameSite=Strict
    and goes to the workbench; a wrong password shows the Chinese error and is audited as
    login.failed, the good one as login."""
    await bench.user("li", {"leader"})
    async with bench.client.get("/login") as res:
        page = await res.text()
        assert "用户名" in page
        assert "密码" in page
    token = page.split('name="csrf" value="')[1].split('"')[0]
    async with bench.client.post("/login", data={"username": "li", "password": "nope",
                                                 "csrf": token},
                                 allow_redirects=False) as res:
        assert res.status == 401
        text = await res.text()
        assert "用户名或密码错误" in text
    token = text.split('name="csrf" value="')[1].split('"')[0]
    async with bench.client.post("/login", data={"username": "li", "password": PASSWORD,
                                                 "csrf": token},
                                 allow_redirects=False) as res:
        assert (res.status, res.headers["Location"]) == (303, "/workbench/")
        morsel = res.cookies[SESSION_COOKIE]
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "Strict"
        assert morsel["path"] == "/"
    actions = [(a, b) for a, b, _ in bench.audit()]
    assert actions[-2:] == [("anonymous", "login.failed"), ("li", "login")]


async def test_sessions_expire_when_idle_and_after_the_shift(bench: Bench) -> None:
    """A session lives while used (idle 30 min counts from the last request) and ends
    after 30 idle minutes; a session in constant use still ends 12 hours after its
    login. Each expiry is audited with its reason."""
    await bench.user("li", {"leader"})
    cookie, _ = await bench.session("li")
    for _ in range(3):
        bench.clock.now += timedelta(minutes=29)
        assert (await bench.call("GET", "/me", cookie))[0] == 200
    bench.clock.now += timedelta(minutes=30)
    status, body = await bench.call("GET", "/me", cookie)
    assert (status, body["error"]) == (401, "auth-required")
    cookie, _ = await bench.session("li")
    login = bench.clock.now
    while bench.clock.now - login < timedelta(hours=12) - timedelta(minutes=20):
        bench.clock.now += timedelta(minutes=20)
        assert (await bench.call("GET", "/me", cookie))[0] == 200, bench.clock.now - login
    bench.clock.now = login + timedelta(hours=12)
    assert (await bench.call("GET", "/me", cookie))[0] == 401
    con = sqlite3.connect(bench.path)
    try:
        reasons = [r[0] for r in con.execute(
            "SELECT end_reason FROM web_sessions ORDER BY created_at")]
        expired = con.execute("SELECT detail FROM audit WHERE action = 'session.expired' "
                              "ORDER BY id").fetchall()
    finally:
        con.close()
    assert reasons[-2:] == ["idle", "absolute"]
    assert ['"reason": "idle"' in d[0] for d in expired] == [True, False]


async def test_logins_are_throttled_per_account_and_per_address(bench: Bench) -> None:
    """After 5 wrong passwords for an account, even the right one is refused (429 on the
    form, login-throttled) until 15 minutes pass, while another account logs in; after
    20 failures from one address, every login from it is refused, from another address
    it works. Every failure and refusal is audited."""
    await bench.user("li", {"leader"})
    await bench.user("wang", {"seat"}, seat="8001")
    for _ in range(5):
        with pytest.raises(LoginFailed):
            await bench.accounts.login("li", "wrong-password", "10.0.0.1")
    with pytest.raises(LoginThrottled):
        await bench.accounts.login("li", PASSWORD, "10.0.0.2")
    async with bench.client.get("/login") as res:
        token = (await res.text()).split('name="csrf" value="')[1].split('"')[0]
    async with bench.client.post("/login", data={"username": "li", "password": PASSWORD,
                                                 "csrf": token},
                                 allow_redirects=False) as res:
        assert res.status == 429
        assert "登录失败次数过多" in await res.text()
    await bench.accounts.login("wang", PASSWORD, "10.0.0.1")
    bench.clock.now += timedelta(minutes=15, seconds=1)
    await bench.accounts.login("li", PASSWORD, "10.0.0.1")
    for i in range(20):
        with pytest.raises(LoginFailed):
            await bench.accounts.login(f"guess{i}", "whatever-pass", "10.0.0.9")
    with pytest.raises(LoginThrottled):
        await bench.accounts.login("wang", PASSWORD, "10.0.0.9")
    await bench.accounts.login("wang", PASSWORD, "10.0.0.3")
    actions = [b for _, b, _ in bench.audit()]
    assert actions.count("login.failed") == 25
    assert actions.count("login.throttled") == 3


async def test_api_tokens_are_hashed_at_rest_and_revocable(bench: Bench) -> None:
    """A token made over the API works as Bearer (the answer says by token), its value is
    nowhere in the ledger file, another person cannot revoke it, its owner can, and then
    it is refused (401). A disabled person's token is refused too."""
    await bench.user("li", {"leader"})
    await bench.user("wang", {"seat"}, seat="8001")
    cookie, csrf = await bench.session("li")
    _, made = await bench.call("POST", "/me/tokens", cookie, csrf, json={"name": "报表"})
    bearer = {"Authorization": f"Bearer {made['token']}"}
    status, me = await bench.call("GET", "/me", headers=bearer)
    assert (status, me["username"], me["by"]) == (200, "li", "token")
    await bench.ledger.close()  # everything on disk, then look at the bytes
    assert made["token"].encode() not in bench.path.read_bytes()
    bench.ledger = await Ledger.open(bench.path)
    bench.accounts.ledger = bench.ledger
    other, other_csrf = await bench.session("wang")
    status, body = await bench.call("DELETE", f"/me/tokens/{made['id']}", other, other_csrf)
    assert (status, body["error"]) == (404, "token-unknown")
    assert (await bench.call("GET", "/me", headers=bearer))[0] == 200
    status, body = await bench.call("DELETE", f"/me/tokens/{made['id']}", cookie, csrf)
    assert status == 200
    assert body["revoked_at"] is not None
    status, body = await bench.call("GET", "/me", headers=bearer)
    assert (status, body["error"]) == (401, "auth-required")
    _, again = await bench.call("POST", "/me/tokens", cookie, csrf, json={"name": "新"})
    await bench.accounts.book.set_disabled("li", True, actor="test", at=bench.clock())
    assert (await bench.call("GET", "/me", headers={
        "Authorization": f"Bearer {again['token']}"}))[0] == 401
    assert (await bench.call("GET", "/me", cookie))[0] == 401


async def test_a_one_time_password_must_be_changed_first(bench: Bench) -> None:
    """With a one-time password, only /me and the password change are open (403
    password-change-required elsewhere; the pages send to /password); a new password
    that breaks the rules is refused; once changed, the routes open, the old password no
    longer logs in and the person's other sessions have ended."""
    await bench.user("boss", {"admin"}, must_change=True)
    cookie, csrf = await bench.session("boss")
    other, _ = await bench.session("boss")
    status, body = await bench.call("GET", "/users", cookie, csrf)
    assert (status, body["error"]) == (403, "password-change-required")
    status, me = await bench.call("GET", "/me", cookie)
    assert (status, me["must_change"]) == (200, True)
    async with bench.client.get("/workbench/", headers={"Cookie": cookie},
                                allow_redirects=False) as res:
        assert (res.status, res.headers["Location"]) == (303, "/password")
    for bad in ("short", "boss-password-1", "aaaaaaaaaaaa", PASSWORD):
        status, body = await bench.call("POST", "/me/password", cookie, csrf,
                                        json={"current": PASSWORD, "new": bad})
        assert (status, body["error"]) == (400, "password-rejected"), bad
    status, body = await bench.call("POST", "/me/password", cookie, csrf,
                                    json={"current": PASSWORD, "new": "Tax-12366-ok"})
    assert status == 200, body
    assert (await bench.call("GET", "/users", cookie, csrf))[0] == 200
    assert (await bench.call("GET", "/me", other))[0] == 401
    with pytest.raises(LoginFailed):
        await bench.accounts.login("boss", PASSWORD, "127.0.0.1")
    await bench.accounts.login("boss", "Tax-12366-ok", "127.0.0.1")


async def test_openapi_matches_the_routes_the_server_answers(bench: Bench) -> None:
    """Every operation of /api/v1/openapi.json is answered by the server (not
    api-not-found or api-method-not-allowed), every other method on its paths is 405,
    and every path the router serves under /api/v1 is in the document. Errors are the
    document's Error schema."""
    status, doc = await bench.call("GET", "/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    await bench.user("boss", {"admin"})
    cookie, csrf = await bench.session("boss")
    documented = set()
    for path, operations in doc["paths"].items():
        assert path.startswith("/api/v1/")
        for method in ("get", "post", "put", "patch", "delete"):
            url = concrete(path).removeprefix("/api/v1")
            status, body = await bench.call(method.upper(), url, cookie, csrf,
                                            json=BODIES.get((method.upper(),
                                                             path[7:])) or {})
            if method in operations:
                documented.add((method.upper(), path[7:]))
                assert not (isinstance(body, dict) and body.get("error") in (
                    "api-not-found", "api-method-not-allowed")), (method, path, body)
            else:
                assert (status, body["error"]) == (405, "api-method-not-allowed")
    assert documented == set(ROUTE_ROLES)
    served = {r.canonical for r in bench.client.app.router.resources()
              if r.canonical.startswith("/api/v1/") and "{tail" not in r.canonical}
    assert served == set(doc["paths"])
    status, body = await bench.call("GET", "/nothing-here", cookie)
    assert (status, set(body)) == (404, {"error", "message"})
    assert body["error"] == "api-not-found"


async def test_the_home_page_links_only_the_pages_a_role_opens(bench: Bench) -> None:
    """An admin's home page links 系统管理 and no seat page; a seat's the seat page and no
    admin page; the admin page itself answers only a logged-in person (others go to the
    login page)."""
    await bench.user("boss", {"admin"})
    await bench.user("s1", {"seat"}, seat="8001", bureau="centre")
    pages = {}
    for name in ("boss", "s1"):
        cookie, _ = await bench.session(name)
        async with bench.client.get("/workbench/", headers={"Cookie": cookie}) as res:
            assert res.status == 200
            pages[name] = await res.text()
    assert 'href="/workbench/admin"' in pages["boss"]
    assert 'href="/workbench/seat"' not in pages["boss"]
    assert 'href="/workbench/seat"' in pages["s1"]
    assert 'href="/workbench/admin"' not in pages["s1"]
    async with bench.client.get("/workbench/admin", allow_redirects=False) as res:
        assert (res.status, res.headers["Location"]) == (303, "/login")
