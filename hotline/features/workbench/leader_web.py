"""The team leader's page on the web: its /api/v1 routes (on the accounts' `Api`, for
the permission seats.any: leaders) and the page itself.

    GET  /workbench/leader                    the page (Chinese; plain HTML and a script)
    GET  /api/v1/leader/floor                 the live floor (see leader.LeaderWork)
    GET  /api/v1/leader/events                server-sent events: the floor on each change
    POST /api/v1/leader/seats/{seat}/action   {"action": pause|unpause|logout|move_in|
                                              move_out, "reason", "until"}
    POST /api/v1/leader/seats/{seat}/skills   {"queue", "action": add|remove, "level"}
    POST /api/v1/leader/seats/{seat}/spy      {"mode": listen|whisper|barge, "phone"}
    DELETE /api/v1/leader/seats/{seat}/spy    end it (the leader's phone hung up)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hotline.features.accounts.errors import ApiBadBody
from hotline.features.accounts.service import Authenticated
from hotline.features.accounts.web import HEADERS, SESSION_COOKIE, Api, Route, authenticate
from hotline.features.workbench.leader import LeaderWork
from hotline.features.workbench.web import (
    FILES,
    KEEPALIVE,
    PAGE_HEADERS,
    RECHECK,
    _dumps,
    json_body,
)

PERMISSION = "seats.any"
FORBIDDEN_PAGE = ("<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>班长工作台"
                  "</title><p>班长工作台仅供班长使用。<a href=\"/workbench/\">返回工作台</a></p>"
                  "</html>")


def _fields(data: dict[str, Any], allowed: dict[str, type], required: tuple[str, ...],
            ) -> dict[str, Any]:
    """The body's fields, each of its type (strings: one line, at most 100 characters)."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiBadBody(f"unknown field(s) {', '.join(unknown)} (fields: "
                         f"{', '.join(allowed)})")
    missing = [f for f in required if data.get(f) is None]
    if missing:
        raise ApiBadBody(f"missing field(s) {', '.join(missing)}")
    out: dict[str, Any] = {}
    for key, kind in allowed.items():
        value = data.get(key)
        if value is None:
            out[key] = None
            continue
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ApiBadBody(f"{key} must be a whole number")
        elif not isinstance(value, str) or len(value) > 100 or any(
                ord(c) < 32 for c in value):
            raise ApiBadBody(f"{key} must be a string of one line, at most 100 characters")
        out[key] = value
    return out


class LeaderPage:
    def __init__(self, leader: LeaderWork, api: Api) -> None:
        self.leader = leader
        self.api = api
        self._closing = asyncio.Event()
        self._streams = 0
        self.recheck = RECHECK
        self._html = FILES.joinpath("leader.html").read_text(encoding="utf-8")
        self._script = FILES.joinpath("leader.js").read_text(encoding="utf-8")
        self._css = FILES.joinpath("leader.css").read_text(encoding="utf-8")
        for route in self.routes():
            api.add(route)

    @property
    def streams(self) -> int:
        """Streams open now (the test of one stream per page)."""
        return self._streams

    # -- handlers -------------------------------------------------------------------------

    async def floor(self, request: web.Request, auth: Authenticated) -> Any:
        return await self.leader.floor(auth.person)

    async def act(self, request: web.Request, auth: Authenticated) -> Any:
        data = _fields(await json_body(request), {"action": str, "reason": str, "until": str},
                       ("action",))
        return await self.leader.act(request.match_info["seat"], data["action"],
                                     data["reason"], data["until"],
                                     actor=auth.user.username)

    async def skill(self, request: web.Request, auth: Authenticated) -> Any:
        data = _fields(await json_body(request), {"queue": str, "action": str, "level": int},
                       ("queue", "action"))
        return await self.leader.skill(request.match_info["seat"], data["queue"],
                                       data["action"], data["level"],
                                       actor=auth.user.username)

    async def spy(self, request: web.Request, auth: Authenticated) -> Any:
        data = _fields(await json_body(request), {"mode": str, "phone": str}, ("mode",))
        return await self.leader.spy(request.match_info["seat"], data["mode"],
                                     data["phone"], auth.person, actor=auth.user.username)

    async def stop_spy(self, request: web.Request, auth: Authenticated) -> Any:
        return await self.leader.stop_spy(request.match_info["seat"],
                                          actor=auth.user.username)

    async def events(self, request: web.Request, auth: Authenticated) -> web.StreamResponse:
        """Server-sent events: the floor as JSON (event `floor`) at once and whenever it
        changed (looked at on each change of a call or a seat, and every 2 s for the
        routing loop's look at Asterisk); a comment every KEEPALIVE seconds. Ends when
        the session does."""
        first = await self.leader.floor(auth.person)
        response = web.StreamResponse(headers={
            **HEADERS, "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no"})
        await response.prepare(request)
        self._streams += 1
        loop = asyncio.get_running_loop()
        checked = quiet = loop.time()
        last = None
        changes = self.leader.work.changes
        try:
            view: dict[str, Any] = first
            while not self._closing.is_set():
                shown = {k: v for k, v in view.items() if k not in ("at", "updated_at")}
                if shown != last:
                    await response.write(f"event: floor\ndata: {_dumps(view)}\n\n".encode())
                    last, quiet = shown, loop.time()
                if loop.time() - quiet > KEEPALIVE:
                    await response.write(b": keepalive\n\n")
                    quiet = loop.time()
                await changes.wait(2.0)
                if loop.time() - checked > self.recheck:
                    checked = loop.time()
                    if not await self._alive(auth, request):
                        await response.write(b"event: ended\ndata: {}\n\n")
                        break
                view = await self.leader.floor(auth.person)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._streams -= 1
        return response

    async def _alive(self, auth: Authenticated, request: web.Request) -> bool:
        """The stream's login still holds (not touched by this check: an open page
        alone keeps nobody logged in)."""
        accounts = self.api.accounts
        session_id = request.cookies.get(SESSION_COOKIE)
        if auth.session is not None and session_id:
            found = await accounts.by_session(session_id, request.remote, touch=False)
        else:
            found = await authenticate(accounts, request)
        return found is not None and found.person.may(PERMISSION)

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/leader/floor", self.floor, "the live floor: the wallboard's "
                  "view, every seat's state, call, pause and after-call work, the calls in "
                  "the IVR", permission=PERMISSION),
            Route("GET", "/leader/events", self.events, "server-sent events: the floor on "
                  "each change (text/event-stream)", permission=PERMISSION),
            Route("POST", "/leader/seats/{seat}/action", self.act, "force a seat's pause "
                  "(with a reason), unpause it, log it out; move a remote seat in (until a "
                  "time) or out (audited)", permission=PERMISSION,
                  body={"action": "string", "reason": "string", "until": "string"}),
            Route("POST", "/leader/seats/{seat}/skills", self.skill, "add a skill (queue) "
                  "to a seat for today, or take one away (audited)", permission=PERMISSION,
                  body={"queue": "string", "action": "string", "level": "integer"}),
            Route("POST", "/leader/seats/{seat}/spy", self.spy, "listen to, whisper to or "
                  "barge into a seat's call on the leader's phone (audited)",
                  permission=PERMISSION, body={"mode": "string", "phone": "string"}),
            Route("DELETE", "/leader/seats/{seat}/spy", self.stop_spy, "end the listen, "
                  "whisper or barge started on a seat's call: the leader's phone is hung "
                  "up (audited)", permission=PERMISSION),
        ]

    # -- the page -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/workbench/leader", self.page)
        app.router.add_get("/static/workbench-leader.js", self.script)
        app.router.add_get("/static/workbench-leader.css", self.css)
        app.on_shutdown.append(self._shutdown)

    async def _shutdown(self, app: web.Application) -> None:
        self._closing.set()
        self.leader.work.changes.notify()

    async def page(self, request: web.Request) -> web.StreamResponse:
        auth = await authenticate(self.api.accounts, request)
        if auth is None or auth.session is None:
            return web.Response(status=303, headers={**HEADERS, "Location": "/login"})
        if auth.must_change:
            return web.Response(status=303, headers={**HEADERS, "Location": "/password"})
        if not auth.person.may(PERMISSION):
            return web.Response(text=FORBIDDEN_PAGE, status=403, content_type="text/html",
                                charset="utf-8", headers=HEADERS)
        return web.Response(text=self._html, content_type="text/html", charset="utf-8",
                            headers=PAGE_HEADERS)

    async def script(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self._script, content_type="text/javascript",
                            charset="utf-8", headers=HEADERS)

    async def css(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self._css, content_type="text/css", charset="utf-8",
                            headers=HEADERS)


def leader_page(leader: LeaderWork, api: Api) -> Callable[[web.Application], None]:
    """The leader's routes on `api`, and the page's routes for the web server."""
    return LeaderPage(leader, api).add_routes
