"""Work orders on the web: their /api/v1 routes (on the accounts' `Api`: the same login,
CSRF check, role check and JSON errors) and the pages built on them.

    GET  /workbench/liaison              the liaison's page (联络员工作台)
    GET  /workbench/leader/followup      the leader's follow-up page (班长跟进)
    GET  /api/v1/orders                  search: status, kind, department, bureau,
                                         overdue, nearly_due, q, mine; limit, offset
    GET  /api/v1/orders/mine             one's own (a seat's: opened; an expert's: and
                                         the difficult ones; a liaison's: passed to them)
    GET  /api/v1/orders/events           server-sent events: orders changed
    GET  /api/v1/orders/{id}             one order and its history (?unmask=1&reason=)
    POST /api/v1/orders                  open one for a call (as `hotline orders create`)
    PATCH /api/v1/orders/{id}            fill in or correct it
    POST /api/v1/orders/{id}/ACTION      answer, extend, return, delay, pass-on, close,
                                         difficult, ordinary, remind
    GET  /api/v1/followup                abandoned calls today, orders overdue, nearly due
    POST /api/v1/calls/{linkedid}/callback   a call back (回拨) order for an abandoned call
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from aiohttp import web

from hotline.features.accounts.errors import ApiBadBody, ApiBadQuery, ApiNotFound
from hotline.features.accounts.service import Authenticated
from hotline.features.accounts.web import (
    HEADERS,
    Api,
    Route,
    logged_in_page,
    query_flag,
    query_number,
    query_of,
    static_text,
    still_logged_in,
)
from hotline.features.orders.service import OrderDesk
from hotline.ledger.orders import CREATE_KINDS, KIND_LABELS, STATUS_LABELS

FILES = resources.files("hotline.features.orders")
KEEPALIVE = 15.0  # seconds between a stream's comments when nothing changes
REFRESH = 60.0  # a stream says "changed" at least this often (the time left moves)
RECHECK = 30.0  # seconds between checks that a stream's session is still alive
MAX_LIMIT = 200
PAGE_HEADERS = {**HEADERS, "Content-Security-Policy": (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")}
LIST_QUERY = ("status", "kind", "department", "bureau", "overdue", "nearly_due", "q",
              "limit", "offset")
TEXT_LIMIT = 2000  # an answer, a content
LINE_LIMIT = 200  # every other field: one line

# Each action's body: field -> JSON type, the required ones, and its permission.
ACTIONS: Mapping[str, tuple[dict[str, str], tuple[str, ...], str, str]] = {
    "answer": ({"result": "string"}, ("result",), "orders.change",
               "record the answer given (答复)"),
    "extend": ({"days": "integer", "reason": "string", "caller_told": "boolean"},
               ("days", "reason", "caller_told"), "orders.change",
               "more time (延期), 1 to 5 working days: only once the caller was told of the "
               "delay (caller_told: true, recorded)"),
    "return": ({"reason": "string"}, ("reason",), "orders.change",
               "send an order passed on back to the centre (退回), with the reason"),
    "delay": ({"note": "string"}, (), "orders.change",
              "record that the caller was told the deadline cannot be met"),
    "pass-on": ({"department": "string", "bureau": "string"}, (), "orders.manage",
                "pass it on to a department (or a city bureau: a group of routing.yaml)"),
    "close": ({"note": "string"}, (), "orders.manage", "close it (办结)"),
    "difficult": ({}, (), "orders.manage", "a difficult question: 3 working days"),
    "ordinary": ({}, (), "orders.manage", "an ordinary question: 1 working day"),
    "remind": ({"note": "string"}, (), "orders.remind",
               "a reminder (催办) to whoever must answer it, shown on their page"),
}
CREATE_FIELDS = {"linkedid": "string", "kind": "string", "content": "string",
                 "callback_number": "string", "department": "string",
                 "difficult": "boolean", "force": "boolean"}
EDIT_FIELDS = {"content": "string", "callback_number": "string", "department": "string"}
TYPES: Mapping[str, type | tuple[type, ...]] = {"string": str, "boolean": bool,
                                                "integer": int}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def body_of(request: web.Request, fields: Mapping[str, str],
                  required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's JSON object, each field of its type (an answer or a content may
    span lines, up to 2,000 characters; other text is one line of at most 200)."""
    if request.content_length is not None and request.content_length > 20_000:
        raise ApiBadBody("the body is over 20,000 bytes")
    if not request.can_read_body and not required:
        return {}
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiBadBody("the body is not JSON") from None
    if data is None and not required:
        return {}
    if not isinstance(data, dict):
        raise ApiBadBody("the body must be a JSON object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ApiBadBody(f"unknown field(s) {', '.join(unknown)} (fields: "
                         f"{', '.join(fields) or 'none'})")
    missing = [f for f in required if data.get(f) is None]
    if missing:
        raise ApiBadBody(f"missing field(s) {', '.join(missing)}")
    for key, value in data.items():
        if value is None:
            continue
        kind = fields[key]
        if not isinstance(value, TYPES[kind]) or (kind == "integer"
                                                  and isinstance(value, bool)):
            raise ApiBadBody(f"{key} must be a{'n' if kind == 'integer' else ''} {kind}")
        if isinstance(value, str):
            long = key in ("result", "content")
            if len(value) > (TEXT_LIMIT if long else LINE_LIMIT):
                raise ApiBadBody(f"{key}: at most {TEXT_LIMIT if long else LINE_LIMIT} "
                                 "characters")
            if any(ord(c) < 32 and not (long and c in "\n\t") for c in value):
                raise ApiBadBody(f"{key}: no control characters"
                                 + ("" if long else " (one line)"))
    return data








def _order_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) == 0:
        raise ApiNotFound(f"no work order {raw[:20]!r} (an order's number)")
    return int(raw)


class OrderPages:
    def __init__(self, desk: OrderDesk, api: Api) -> None:
        self.desk = desk
        self.api = api
        self._closing = asyncio.Event()
        self.recheck = RECHECK
        self.refresh = REFRESH
        self._files = {name: FILES.joinpath(name).read_text(encoding="utf-8")
                       for name in ("liaison.html", "followup.html", "liaison.js",
                                    "followup.js", "my-orders.js", "orders-common.js",
                                    "orders.css")}
        for route in self.routes():
            api.add(route)

    # -- handlers --------------------------------------------------------------------------

    async def search(self, request: web.Request, auth: Authenticated) -> Any:
        return await self._list(request, auth, mine=False)

    async def mine(self, request: web.Request, auth: Authenticated) -> Any:
        return await self._list(request, auth, mine=True)

    async def _list(self, request: web.Request, auth: Authenticated, *, mine: bool) -> Any:
        query = query_of(request, LIST_QUERY)
        status, kind = query.get("status"), query.get("kind")
        if status is not None and status not in STATUS_LABELS:
            raise ApiBadQuery(f"status must be one of {', '.join(STATUS_LABELS)}")
        if kind is not None and kind not in KIND_LABELS:
            raise ApiBadQuery(f"kind must be one of {', '.join(KIND_LABELS)}")
        return await self.desk.listing(
            auth.person, status=status, kind=kind, department=query.get("department"),
            bureau=query.get("bureau"), overdue=query_flag(query, "overdue"),
            nearly_due=query_flag(query, "nearly_due"), text=(query.get("q") or "").strip()
            or None, mine=mine, limit=query_number(query, "limit", 50, 1, MAX_LIMIT),
            offset=query_number(query, "offset", 0, 0, 10**9))

    async def one(self, request: web.Request, auth: Authenticated) -> Any:
        query = query_of(request, ("unmask", "reason"))
        return await self.desk.one(auth.person, _order_id(request),
                                   unmask=query_flag(query, "unmask"), reason=query.get("reason"))

    async def create(self, request: web.Request, auth: Authenticated) -> Any:
        data = await body_of(request, CREATE_FIELDS, ("linkedid", "kind"))
        if data["kind"] not in CREATE_KINDS:
            raise ApiBadBody(f"kind must be one of {', '.join(CREATE_KINDS)}")
        return 201, await self.desk.create(auth.person, data)

    async def edit(self, request: web.Request, auth: Authenticated) -> Any:
        order_id = _order_id(request)
        data = await body_of(request, EDIT_FIELDS)
        return await self.desk.act(auth.person, order_id, "edit", data)

    def _action(self, name: str) -> Callable[[web.Request, Authenticated], Any]:
        fields, required, _, _ = ACTIONS[name]

        async def act(request: web.Request, auth: Authenticated) -> Any:
            order_id = _order_id(request)
            data = await body_of(request, fields, required)
            return await self.desk.act(auth.person, order_id, name.replace("-", "_"), data)

        return act

    async def followup(self, request: web.Request, auth: Authenticated) -> Any:
        query_of(request, ())
        return await self.desk.followup(auth.person)

    async def callback(self, request: web.Request, auth: Authenticated) -> Any:
        linkedid = request.match_info["linkedid"]
        if len(linkedid) > 64 or not linkedid.isprintable():
            raise ApiNotFound("no such call")
        await body_of(request, {})
        return 201, await self.desk.callback(auth.person, linkedid)

    async def events(self, request: web.Request, auth: Authenticated) -> web.StreamResponse:
        """Server-sent events: `orders` at once, on each change of an order and at least
        every REFRESH seconds (the time left moves); the page reads its list again. A
        comment every KEEPALIVE seconds; ends when the session does."""
        response = web.StreamResponse(headers={
            **HEADERS, "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        checked = quiet = said = loop.time()
        seen = self.desk.version
        try:
            await response.write(f"event: orders\ndata: {_dumps({'version': seen})}\n\n"
                                 .encode())
            while not self._closing.is_set():
                await self.desk.changes.wait(min(KEEPALIVE, self.refresh))
                now = loop.time()
                if self.desk.version != seen or now - said >= self.refresh:
                    seen = self.desk.version
                    await response.write(f"event: orders\ndata: {_dumps({'version': seen})}"
                                         "\n\n".encode())
                    said = quiet = now
                elif now - quiet >= KEEPALIVE:
                    await response.write(b": keepalive\n\n")
                    quiet = now
                if now - checked > self.recheck:
                    checked = now
                    if not await still_logged_in(self.api.accounts, auth, request):
                        await response.write(b"event: ended\ndata: {}\n\n")
                        break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    def routes(self) -> list[Route]:
        routes = [
            Route("GET", "/orders", self.search, "work orders one may see, by deadline: "
                  "status, kind, department, bureau, overdue=1, nearly_due=1, q (text, "
                  "number or call), limit, offset", permission="orders.read"),
            Route("GET", "/orders/mine", self.mine, "one's own work orders (a seat's: "
                  "opened; an expert's: and the difficult ones; a liaison's: passed on to "
                  "them)", permission="orders.read"),
            Route("GET", "/orders/events", self.events, "server-sent events: work orders "
                  "changed (text/event-stream)", permission="orders.read"),
            Route("GET", "/orders/{id}", self.one, "one work order and its history "
                  "(audited; ?unmask=1&reason=... an auditor's, audited)",
                  permission="orders.read"),
            Route("POST", "/orders", self.create, "open a work order for a call",
                  permission="orders.manage", body=CREATE_FIELDS),
            Route("PATCH", "/orders/{id}", self.edit, "fill in or correct its content, "
                  "callback number, department", permission="orders.manage",
                  body=EDIT_FIELDS),
            Route("GET", "/followup", self.followup, "the leader's follow-up: today's "
                  "abandoned calls, orders overdue and nearly due",
                  permission="orders.callback"),
            Route("POST", "/calls/{linkedid}/callback", self.callback, "a call back (回拨) "
                  "work order for an abandoned call", permission="orders.callback"),
        ]
        for name, (fields, _, permission, summary) in ACTIONS.items():
            routes.append(Route("POST", f"/orders/{{id}}/{name}", self._action(name),
                                summary, permission=permission, body=fields))
        return routes

    # -- the pages -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/workbench/liaison", self._page("liaison.html"))
        app.router.add_get("/workbench/leader/followup", self._page("followup.html"))
        for name, kind in (("liaison.js", "text/javascript"),
                           ("followup.js", "text/javascript"),
                           ("my-orders.js", "text/javascript"),
                           ("orders-common.js", "text/javascript"), ("orders.css", "text/css")):
            app.router.add_get(f"/static/workbench-{name}", static_text(self._files[name], kind))
        app.on_shutdown.append(self._shutdown)

    async def _shutdown(self, app: web.Application) -> None:
        self._closing.set()
        self.desk.changes.notify()

    def _page(self, name: str) -> Callable[[web.Request], Any]:
        async def page(request: web.Request) -> web.StreamResponse:
            return await logged_in_page(self.api.accounts, request, self._files[name],
                                        PAGE_HEADERS)

        return page


def order_pages(desk: OrderDesk, api: Api) -> Callable[[web.Application], None]:
    """The work orders' routes on `api`, and the pages' routes for the web server."""
    return OrderPages(desk, api).add_routes
