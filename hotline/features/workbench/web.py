"""The seat's page on the web: its /api/v1 routes (on the accounts' `Api`: the same login,
CSRF check, role check and JSON errors) and the page itself.

    GET  /workbench/seat                 the page (Chinese; plain HTML and a script)
    GET  /api/v1/seats/me                one's own seat: state, since when, screen pop
    POST /api/v1/seats/me/action         {"action": login|pause|unpause|logout, "reason"}
    GET  /api/v1/seats/me/events         server-sent events: the same view on each change
    GET  /api/v1/seats/{seat}            a seat (one's own; a leader's: any)
    POST /api/v1/seats/{seat}/action     the same actions on it
    GET|PUT|POST /api/v1/calls/{linkedid}/entry   the call's 台帐 entry: read, the draft
                                         as typed (PUT), save it (POST)
    GET  /api/v1/seats/me/phone          one's browser phone: where it registers, as whom
                                         (a seat with `webrtc: true`; never the password)

The page has the browser phone in it for a seat whose device is the browser phone
(hotline.features.phone): the seat types its phone password, registers and logs in to
its queues in one click, and answers and hangs up in the page (workbench-phone.js, with
the JsSIP bundle of `make webphone`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import structlog
from aiohttp import web

from hotline.features.accounts.errors import ApiBadBody, ApiNotFound, StaffNotAllowed
from hotline.features.accounts.service import Authenticated
from hotline.features.accounts.web import (
    HEADERS,
    SESSION_COOKIE,
    Api,
    Route,
    authenticate,
)
from hotline.features.accounts.web import logged_in_page as page_of_session
from hotline.features.phone.web import PhonePage, core_script
from hotline.features.workbench.seat import SeatWork
from hotline.ledger.entries import FIELDS

log = structlog.get_logger("hotline.workbench")

FILES = resources.files("hotline.features.workbench")
KEEPALIVE = 15.0  # seconds between a stream's comments when nothing changes
RECHECK = 30.0  # seconds between checks that a stream's session is still alive
PAGE_HEADERS = {**HEADERS, "Content-Security-Policy": (
    # wss: and media: the browser phone (SIP over Asterisk's WebSocket, WebRTC audio)
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' wss:; "
    "media-src 'self' blob: mediastream:; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"),
    "Permissions-Policy": "microphone=(self), camera=()"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (at most 20,000 bytes), or ApiBadBody."""
    if request.content_length is not None and request.content_length > 20_000:
        raise ApiBadBody("the body is over 20,000 bytes")
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiBadBody("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiBadBody("the body must be a JSON object")
    return data


class SeatPage:
    def __init__(self, work: SeatWork, api: Api, phone: PhonePage | None = None) -> None:
        self.work = work
        self.api = api
        self.phone = phone
        self._closing = asyncio.Event()
        self._streams = 0
        self.recheck = RECHECK
        self._script = FILES.joinpath("seat.js").read_text(encoding="utf-8")
        self._css = FILES.joinpath("seat.css").read_text(encoding="utf-8")
        self._html = FILES.joinpath("seat.html").read_text(encoding="utf-8")
        self._phone_script = core_script() + "\n" + FILES.joinpath(
            "seat-phone.js").read_text(encoding="utf-8")
        for route in self.routes():
            api.add(route)

    @property
    def streams(self) -> int:
        """Streams open now (the test of one stream per page)."""
        return self._streams

    # -- which seat the request may act on ------------------------------------------------

    @staticmethod
    def _own(auth: Authenticated) -> str:
        seat = auth.person.seat
        if seat is None:
            raise ApiNotFound(f"{auth.user.username} has no seat of their own (an account's "
                              "seat is set by the admin: hotline users edit NAME --seat ID)")
        return seat

    async def _allowed(self, auth: Authenticated, seat_id: str) -> None:
        try:
            self.work.may_act(auth.user.username, auth.person.seat,
                              auth.person.may("seats.any"), seat_id)
        except StaffNotAllowed:
            await self.api.accounts.book.audit(auth.user.username, "api.refused",
                                               f"seat:{seat_id}", "seats.own",
                                               self.api.accounts.clock())
            raise

    # -- handlers -------------------------------------------------------------------------

    async def me(self, request: web.Request, auth: Authenticated) -> Any:
        return await self.work.view(self._own(auth))

    async def one(self, request: web.Request, auth: Authenticated) -> Any:
        seat = request.match_info["seat"]
        await self._allowed(auth, seat)
        return await self.work.view(seat)

    async def _act(self, request: web.Request, auth: Authenticated, seat: str) -> Any:
        data = await json_body(request)
        unknown = sorted(set(data) - {"action", "reason"})
        if unknown:
            raise ApiBadBody(f"unknown field(s) {', '.join(unknown)} (fields: action, "
                             "reason)")
        action, reason = data.get("action"), data.get("reason")
        if not isinstance(action, str):
            raise ApiBadBody("action must be one of login, pause, unpause, logout")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 40):
            raise ApiBadBody("reason must be a pause reason's code or label")
        return await self.work.act(seat, action, reason, actor=auth.user.username)

    async def act_me(self, request: web.Request, auth: Authenticated) -> Any:
        return await self._act(request, auth, self._own(auth))

    async def act_one(self, request: web.Request, auth: Authenticated) -> Any:
        seat = request.match_info["seat"]
        await self._allowed(auth, seat)
        return await self._act(request, auth, seat)

    async def my_phone(self, request: web.Request, auth: Authenticated) -> Any:
        seat = self._own(auth)
        found = self.phone.seat_phone(seat) if self.phone is not None else None
        if found is None:
            raise ApiNotFound(f"seat {seat} has no browser phone (routing.yaml: its device "
                              "PJSIP/<name> with webrtc: true, and a WebSocket to register "
                              "over)")
        return found

    def _linkedid(self, request: web.Request) -> str:
        linkedid = request.match_info["linkedid"]
        if len(linkedid) > 64 or not linkedid.isprintable():
            raise ApiNotFound("no such call")
        return linkedid

    async def get_entry(self, request: web.Request, auth: Authenticated) -> Any:
        return await self.work.entry(self._linkedid(request), auth.person.seat or "",
                                     auth.person.may("seats.any"))

    async def put_draft(self, request: web.Request, auth: Authenticated) -> Any:
        return await self.work.save_draft(self._linkedid(request), auth.person.seat or "",
                                          auth.person.may("seats.any"), await json_body(request))

    async def save_entry(self, request: web.Request, auth: Authenticated) -> Any:
        return await self.work.save(self._linkedid(request), auth.person.seat or "",
                                    auth.person.may("seats.any"), await json_body(request),
                                    actor=auth.user.username)

    async def events(self, request: web.Request, auth: Authenticated) -> web.StreamResponse:
        """Server-sent events: the seat's view as JSON (event `seat`) at once and on each
        change of a call or a seat (the view shared by every page of the seat, computed
        once per change; nothing is read while nothing changes: the page counts its
        clocks itself); a comment every KEEPALIVE seconds. Ends when the session does."""
        seat = self._own(auth)
        seen, first = await self.work.shared_view(seat)
        response = web.StreamResponse(headers={
            **HEADERS, "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no"})
        await response.prepare(request)
        self._streams += 1
        self.work.watch(seat)
        loop = asyncio.get_running_loop()
        checked = quiet = loop.time()
        last = None
        try:
            view: dict[str, Any] | None = first
            while not self._closing.is_set():
                if view is not None:
                    shown = {k: v for k, v in view.items() if k != "at"}
                    if shown != last:
                        await response.write(f"event: seat\ndata: {_dumps(view)}\n\n"
                                             .encode())
                        last, quiet = shown, loop.time()
                if loop.time() - quiet > KEEPALIVE:
                    await response.write(b": keepalive\n\n")
                    quiet = loop.time()
                changed = await self.work.changes.wait(min(KEEPALIVE, self.recheck), seen)
                if loop.time() - checked > self.recheck:
                    checked = loop.time()
                    if not await self._alive(auth, request):
                        await response.write(b"event: ended\ndata: {}\n\n")
                        break
                view = None
                if changed:
                    seen, view = await self.work.shared_view(seat)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._streams -= 1
            self.work.unwatch(seat)
        return response

    async def _alive(self, auth: Authenticated, request: web.Request) -> bool:
        """The stream's login still holds (a session not ended nor expired, not touched
        by this check: an open page alone keeps nobody logged in; a token not revoked)."""
        accounts = self.api.accounts
        session_id = request.cookies.get(SESSION_COOKIE)
        if auth.session is not None and session_id:
            return await accounts.by_session(session_id, request.remote, touch=False) \
                is not None
        return await authenticate(accounts, request) is not None

    def routes(self) -> list[Route]:
        action = {"action": "string", "reason": "string"}
        entry = dict.fromkeys(FIELDS, "string")
        return [
            Route("GET", "/seats/me", self.me, "one's own seat: state and since when, "
                  "pause reasons, the screen pop of its call, its current or last call",
                  permission="seats.own"),
            Route("POST", "/seats/me/action", self.act_me, "log one's seat in, pause it "
                  "(with a reason), unpause it, log it out", permission="seats.own",
                  body=action),
            Route("GET", "/seats/me/events", self.events, "server-sent events: one's seat "
                  "view on each change (text/event-stream)", permission="seats.own"),
            Route("GET", "/seats/me/phone", self.my_phone, "one's browser phone: the "
                  "WebSocket it registers over and its SIP user (never the password)",
                  permission="seats.own"),
            Route("GET", "/seats/{seat}", self.one, "a seat (one's own; a leader's: any)",
                  permission="seats.own"),
            Route("POST", "/seats/{seat}/action", self.act_one, "log a seat in, pause, "
                  "unpause, log out (one's own; a leader's: any)", permission="seats.own",
                  body=action),
            Route("GET", "/calls/{linkedid}/entry", self.get_entry, "a call's 台帐 entry "
                  "and its draft (the seat that took it; a leader)", permission="seats.own"),
            Route("PUT", "/calls/{linkedid}/entry", self.put_draft, "the entry's draft, as "
                  "typed", permission="seats.own", body=entry),
            Route("POST", "/calls/{linkedid}/entry", self.save_entry, "save the call's 台帐 "
                  "entry (audited)", permission="seats.own", body=entry),
        ]

    # -- the page -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/workbench/seat", self.page)
        app.router.add_get("/static/workbench-seat.js", self.script)
        app.router.add_get("/static/workbench-seat.css", self.css)
        app.router.add_get("/static/workbench-phone.js", self.phone_script)
        app.router.add_get("/static/workbench-jssip.js", self.phone_library)
        app.on_shutdown.append(self._shutdown)

    async def _shutdown(self, app: web.Application) -> None:
        self._closing.set()
        self.work.changes.notify()

    async def page(self, request: web.Request) -> web.StreamResponse:
        return await logged_in_page(self.api, request, self._html)

    async def script(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self._script, content_type="text/javascript",
                            charset="utf-8", headers=HEADERS)

    async def phone_script(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self._phone_script, content_type="text/javascript",
                            charset="utf-8", headers=HEADERS)

    async def phone_library(self, request: web.Request) -> web.StreamResponse:
        """The SIP library for the page's phone (404 JSON when it is not built: the page
        then says so, and works without its phone)."""
        library = await self.phone.library() if self.phone is not None else None
        if library is None:
            return web.json_response(
                {"error": "phone-library-missing", "message": "the browser phone's SIP "
                 "library is not built: run `make webphone`"}, status=404, headers=HEADERS)
        return web.Response(body=library, content_type="text/javascript", charset="utf-8",
                            headers=HEADERS)

    async def css(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self._css, content_type="text/css", charset="utf-8",
                            headers=HEADERS)


async def logged_in_page(api: Api, request: web.Request, html: str,
                         ) -> web.StreamResponse:
    """A page of the workbench (the accounts' logged_in_page with this page's headers)."""
    return await page_of_session(api.accounts, request, html, PAGE_HEADERS)


def seat_page(work: SeatWork, api: Api, phone: PhonePage | None = None,
              ) -> Callable[[web.Application], None]:
    """The seat's routes on `api`, and the page's routes for the web server."""
    return SeatPage(work, api, phone).add_routes
