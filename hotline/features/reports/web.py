"""Call history, interval figures, the quarterly report and the ledger's export on the web:
their /api/v1 routes (on the accounts' `Api`: the same login, CSRF check, role check and
JSON errors) and two pages.

    GET /workbench/calls              来电记录: search form with paging, interval figures
    GET /workbench/reports            季度报表: the report in the page, downloads
    GET /api/v1/calls                 search: from, to, number, seat, queue, category,
                                      outcome, limit, cursor (ledger.read)
    GET /api/v1/calls/{linkedid}      one call (audited; ?unmask=1&reason=... an auditor's)
    GET /api/v1/calls/names           the Chinese names of the codes, for the pages' forms
    GET /api/v1/reports/intervals     date, queue, minutes=15|30|60 (reports.read)
    GET /api/v1/reports/quarterly     quarter, format=html|pdf|csv|xlsx|json (reports.read)
    GET /api/v1/ledger/export         from, to, format=csv|xlsx (ledger.export; audited)

Who sees which calls: leaders and auditors every call; a seat or an expert only the calls
its own seat answered; a city bureau's people (not leaders) only their bureau's
(core.accounts.visible_bureau). Reporters and complainants are masked everywhere, and a
search by number never finds their calls (hotline.ledger.search).
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import structlog
from aiohttp import web

from hotline.common.clock import CHINA
from hotline.common.labels import CATEGORIES, OUTCOMES, TOPICS, Names
from hotline.common.privacy import mask_number
from hotline.core.accounts import visible_bureau
from hotline.core.routing.config import RoutingConfig, staff_names
from hotline.features.accounts.errors import ApiBadQuery, ApiNotFound, StaffNotAllowed
from hotline.features.accounts.service import Accounts, Authenticated
from hotline.features.accounts.web import HEADERS, Api, Route, authenticate, static_text
from hotline.features.kb.hot import fill_report
from hotline.features.reports.render import FORMATS, MEDIA_TYPES, render
from hotline.ledger.access import Reader, show_call
from hotline.ledger.export import export, labelled
from hotline.ledger.report import INTERVALS, interval_figures, quarter_bounds, quarterly
from hotline.ledger.search import MAX_PAGE, BadCursor, CallQuery, search_calls
from hotline.ledger.store import Ledger, iso

log = structlog.get_logger("hotline.reports")

FILES = resources.files("hotline.features.reports")
PAGE_HEADERS = {**HEADERS, "Content-Security-Policy": (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'")}
# The HTML report shown inside the reports page: its own styles, no script, framed only
# by this host's pages.
REPORT_HEADERS = {**HEADERS, "X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; sandbox")}
MAX_DAYS = 400  # the longest span a search or an export covers
SEARCH = ("from", "to", "number", "seat", "queue", "category", "outcome", "limit", "cursor")
NUMBER = re.compile(r"\+?[0-9]{3,20}")
SEPARATORS = re.compile(r"[\s\-()（）]")


@dataclass
class RecordSources:
    ledger: Ledger
    routing: Callable[[], RoutingConfig | None]
    unmask_users: Callable[[], set[str]] = set  # ledger.unmask_users (besides auditors)


# -- query parameters --------------------------------------------------------------------


def _query(request: web.Request, known: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(request.query) - set(known))
    if unknown:
        raise ApiBadQuery(f"unknown parameter(s) {', '.join(unknown)} (this route takes: "
                          f"{', '.join(known)})")
    out = {}
    for key in known:
        values = request.query.getall(key, [])
        if len(values) > 1:
            raise ApiBadQuery(f"{key} is given {len(values)} times")
        if values and values[0].strip():
            value = values[0].strip()
            if len(value) > 200 or not value.isprintable():
                raise ApiBadQuery(f"{key}: at most 200 printable characters")
            out[key] = value
    return out


def _date(value: str, key: str) -> date:
    try:
        return date.fromisoformat(value) if len(value) == 10 else _no_date(key, value)
    except ValueError:
        return _no_date(key, value)


def _no_date(key: str, value: str) -> date:
    raise ApiBadQuery(f"{key}: {value[:40]!r} is not a date like 2026-11-25")


def _span(params: Mapping[str, str], *, required: bool) -> tuple[str | None, str | None]:
    """from/to (Beijing days, both included) as the ledger's [start, end) times."""
    start = _date(params["from"], "from") if "from" in params else None
    end = _date(params["to"], "to") if "to" in params else None
    if required and (start is None or end is None):
        raise ApiBadQuery("from and to are required (dates like 2026-11-25)")
    if start is not None and end is not None:
        if end < start:
            raise ApiBadQuery(f"to {end} is before from {start}")
        if (end - start).days >= MAX_DAYS:
            raise ApiBadQuery(f"from..to spans more than {MAX_DAYS} days")

    def at(day: date | None) -> str | None:
        return None if day is None else iso(datetime.combine(day, datetime.min.time(),
                                                              CHINA))

    return at(start), at(end + timedelta(days=1) if end is not None else None)


def _number(value: str) -> str:
    number = SEPARATORS.sub("", unicodedata.normalize("NFKC", value))
    if not NUMBER.fullmatch(number):
        raise ApiBadQuery("number: a phone number, 3 to 20 digits (an optional leading +)")
    return number


def _choice(value: str, key: str, choices: Mapping[str, str] | set[str],
            *, none: bool = False) -> str:
    """A code, or its Chinese name (a script may send either); "-": none (with `none`)."""
    if none and value == "-":
        return value
    if value in choices:
        return value
    if isinstance(choices, Mapping):
        for code, label in choices.items():
            if label == value:
                return code
    raise ApiBadQuery(f"{key}: {value[:40]!r} is none of {', '.join(sorted(choices))}")


def _download(data: bytes | str, fmt: str, filename: str, *, inline: bool = False,
              ) -> web.Response:
    body = data.encode() if isinstance(data, str) else data
    headers = dict(REPORT_HEADERS if inline else HEADERS)
    if not inline:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return web.Response(body=body, content_type=MEDIA_TYPES.get(fmt, "text/csv"),
                        charset="utf-8" if isinstance(data, str) else None, headers=headers)


class Records:
    """The API behind the call history and reports pages."""

    def __init__(self, sources: RecordSources, api: Api) -> None:
        self.sources = sources
        self.api = api
        # matplotlib's pyplot (the report's charts) is not thread-safe: one render at a time
        self._render = asyncio.Lock()
        for route in self.routes():
            api.add(route)

    @property
    def accounts(self) -> Accounts:
        return self.api.accounts

    def names(self) -> Names:
        return staff_names(self.sources.routing())

    async def _audit(self, actor: str, action: str, target: str, detail: Any) -> None:
        await self.accounts.book.audit(actor, action, target, None if detail is None else
                                       json.dumps(detail, ensure_ascii=False),
                                       self.accounts.clock())

    async def _refuse(self, auth: Authenticated, target: str, why: str) -> None:
        await self.accounts.book.audit(auth.user.username, "api.refused", target,
                                       "ledger.read", self.accounts.clock())
        raise StaffNotAllowed(why)

    # -- which calls a person sees -------------------------------------------------------

    def _scope(self, auth: Authenticated, names: Names) -> tuple[set[str] | None, str | None]:
        """(the seats whose calls they see, None: all; the bureau they see, None: all)."""
        person = auth.person
        bureau = visible_bureau(person)
        if person.roles & {"leader", "auditor"}:
            return None, bureau
        if person.seat is None:
            return set(), bureau  # a seat's role without a seat id sees no call
        return names.stored_seats(person.seat), bureau

    # -- handlers -------------------------------------------------------------------------

    async def search(self, request: web.Request, auth: Authenticated) -> Any:
        params = _query(request, SEARCH)
        names = self.names()
        start, end = _span(params, required=False)
        own, bureau = self._scope(auth, names)
        seats: set[str] | None = own
        if "seat" in params:
            wanted = names.stored_seats(params["seat"])
            if own is not None and not wanted & own:
                await self._refuse(auth, f"GET /calls?seat={params['seat'][:20]}",
                                   f"{auth.user.username} sees only the calls of its own "
                                   "seat")
            seats = wanted if own is None else wanted & own
        routing = self.sources.routing()
        queues = set(routing.queues) if routing is not None else set()
        limit = 50
        if "limit" in params:
            if not params["limit"].isdigit() or not 1 <= int(params["limit"]) <= MAX_PAGE:
                raise ApiBadQuery(f"limit: 1 to {MAX_PAGE}")
            limit = int(params["limit"])
        query = CallQuery(
            start=start, end=end,
            number=_number(params["number"]) if "number" in params else None,
            seats=seats,
            queue=_choice(params["queue"], "queue", {q: names.queue(q) for q in queues})
            if "queue" in params else None,
            category=_choice(params["category"], "category", CATEGORIES, none=True)
            if "category" in params else None,
            outcome=_choice(params["outcome"], "outcome", OUTCOMES, none=True)
            if "outcome" in params else None,
            group=bureau, limit=limit, cursor=params.get("cursor"))
        try:
            found = await search_calls(self.sources.ledger, query)
        except BadCursor as exc:
            raise ApiBadQuery(f"cursor: {exc}") from None
        # who searched for what (a number only masked: the audit is read by many)
        shown = {k: v for k, v in params.items() if k not in ("cursor", "limit")}
        if "number" in shown:
            shown["number"] = mask_number(query.number) or ""
        if query.cursor is None:
            await self._audit(auth.user.username, "call.search", "calls", shown)
        found["calls"] = [self._labelled(row, names) for row in found["calls"]]
        return found

    @staticmethod
    def _labelled(row: dict[str, Any], names: Names) -> dict[str, Any]:
        """A row's codes and, beside each, the Chinese name staff read (`*_label`)."""
        text = labelled(row, names)
        out = dict(row)
        for key in ("category", "topic", "outcome", "queue", "seat", "seat_group",
                    "resolution"):
            out[f"{key}_label"] = text.get(key)
        out["seat_id"] = text["seat_id"]
        return out

    async def one(self, request: web.Request, auth: Authenticated) -> Any:
        linkedid = request.match_info["linkedid"]
        if len(linkedid) > 64 or not linkedid.isprintable():
            raise ApiNotFound("no such call")
        params = _query(request, ("unmask", "reason"))
        unmask = params.get("unmask") in ("1", "true")
        if "unmask" in params and params["unmask"] not in ("0", "1", "true", "false"):
            raise ApiBadQuery("unmask: 1 or 0")
        if unmask and not params.get("reason"):
            raise ApiBadQuery("unmask needs a reason (reason=...): it is audited")
        names = self.names()
        row = await self.sources.ledger.get(linkedid)
        if row is not None:
            own, bureau = self._scope(auth, names)
            if (own is not None and row.seat not in own) or (
                    bureau is not None and row.seat_group != bureau):
                await self._refuse(auth, f"call:{linkedid}",
                                   f"{auth.user.username} may not see call {linkedid}")
        who = auth.user.username
        allowed = set(self.sources.unmask_users())
        if auth.person.may("ledger.unmask"):
            allowed.add(who)
        reason = params.get("reason")

        async def audit(actor: str, action: str, target: str, detail: str | None,
                        at: datetime) -> None:
            if action == "call.unmask" and reason:
                detail = json.dumps({"reason": reason}, ensure_ascii=False)
            await self.accounts.book.audit(actor, action, target, detail, at)

        from hotline.ledger.access import CallUnknown, UnmaskRefused

        try:
            shown = await show_call(self.sources.ledger, Reader(who, allowed), linkedid,
                                    unmask=unmask, audit=audit, at=self.accounts.clock())
        except CallUnknown:
            raise ApiNotFound(f"no call {linkedid[:40]!r} in the ledger") from None
        except UnmaskRefused:
            raise StaffNotAllowed(f"{who} may not unmask a reporter's number: it needs the "
                                  "role auditor") from None
        shown = self._labelled(shown, names)
        shown["masked"] = bool(shown.get("masked")) and not unmask
        return shown

    async def call_names(self, request: web.Request, auth: Authenticated) -> Any:
        """The codes' Chinese names, for the pages' forms (the seats this person sees)."""
        _query(request, ())
        routing = self.sources.routing()
        names = self.names()
        own, bureau = self._scope(auth, names)
        seats = []
        if routing is not None:
            for seat in routing.seats.values():
                if (own is None or seat.id in own) and (bureau is None
                                                        or seat.group == bureau):
                    seats.append({"id": seat.id, "name": seat.name,
                                  "group": seat.group, "group_name": names.group(seat.group)})
        return {"categories": CATEGORIES, "topics": TOPICS, "outcomes": OUTCOMES,
                "queues": dict(names.queues), "groups": dict(names.groups), "seats": seats,
                "intervals": list(INTERVALS), "formats": list(FORMATS),
                "may": {"reports": auth.person.may("reports.read"),
                        "export": auth.person.may("ledger.export")}}

    async def intervals(self, request: web.Request, auth: Authenticated) -> Any:
        params = _query(request, ("date", "queue", "minutes"))
        if "date" not in params:
            raise ApiBadQuery("date is required (like 2026-11-25)")
        day = _date(params["date"], "date")
        minutes = params.get("minutes", "30")
        if minutes not in {str(m) for m in INTERVALS}:
            raise ApiBadQuery(f"minutes: one of {', '.join(map(str, INTERVALS))}")
        names = self.names()
        routing = self.sources.routing()
        queue = None
        if "queue" in params:
            queue = _choice(params["queue"], "queue", {q: names.queue(q) for q in (
                routing.queues if routing is not None else ())})
        rows = await interval_figures(self.sources.ledger, day, int(minutes), queue)
        return {"date": day.isoformat(), "queue": queue,
                "queue_label": names.queue(queue) if queue else "全部队列",
                "minutes": int(minutes), "intervals": rows}

    async def quarterly(self, request: web.Request, auth: Authenticated) -> web.Response:
        params = _query(request, ("quarter", "format", "download"))
        if "quarter" not in params:
            raise ApiBadQuery("quarter is required (like 2026Q4)")
        try:
            quarter_bounds(params["quarter"])
        except ValueError as exc:
            raise ApiBadQuery(f"quarter: {exc}") from None
        fmt = params.get("format", "html")
        if fmt not in FORMATS:
            raise ApiBadQuery(f"format: one of {', '.join(FORMATS)}")
        quarter = params["quarter"].upper()
        report = await fill_report(self.sources.ledger, await quarterly(
            self.sources.ledger, quarter, self.accounts.clock()))
        names = self.names()
        async with self._render:
            data = await asyncio.to_thread(render, report, fmt, names)
        await self._audit(auth.user.username, "report.read", f"report:{quarter}",
                          {"format": fmt})
        inline = fmt == "html" and params.get("download") != "1"
        return _download(data, fmt, f"report-{quarter}.{fmt}", inline=inline)

    async def export(self, request: web.Request, auth: Authenticated) -> web.StreamResponse:
        params = _query(request, ("from", "to", "format"))
        start, end = _span(params, required=True)
        assert start is not None
        assert end is not None
        fmt = params.get("format", "xlsx")
        if fmt not in ("csv", "xlsx"):
            raise ApiBadQuery("format: csv or xlsx")
        group = visible_bureau(auth.person)
        with tempfile.TemporaryFile() as spool:  # 0600 under the service's umask
            count = await export(self.sources.ledger, start, end, spool, fmt, self.names(),
                                 group=group)
            await self._audit(auth.user.username, "ledger.export", "api",
                              f"{params['from']}..{params['to']} {fmt} {count} calls")
            spool.seek(0)
            response = web.StreamResponse(headers={
                **HEADERS, "Content-Type": MEDIA_TYPES[fmt],
                "Content-Disposition": f'attachment; filename="calls-{params["from"]}-'
                                       f'{params["to"]}.{fmt}"'})
            await response.prepare(request)
            while chunk := spool.read(64 * 1024):
                await response.write(chunk)
            await response.write_eof()
        return response

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/calls", self.search, "call history: ?from=DATE&to=DATE&number=&"
                  "seat=&queue=&category=&outcome=&limit=&cursor= (newest first; `next` is "
                  "the next page's cursor; reporters masked, never found by number)",
                  permission="ledger.read", query=SEARCH),
            Route("GET", "/calls/names", self.call_names, "the Chinese names of categories, "
                  "topics, outcomes, queues, groups and the seats one sees",
                  permission="ledger.read"),
            Route("GET", "/calls/{linkedid}", self.one, "one call with its 台帐 entry "
                  "(audited; ?unmask=1&reason=TEXT: an auditor's, audited with the reason)",
                  permission="ledger.read", query=("unmask", "reason")),
            Route("GET", "/reports/intervals", self.intervals, "a day's interval figures "
                  "per queue: ?date=DATE&queue=Q&minutes=15|30|60 (offered, answered, "
                  "abandoned, 接通率, average wait)", permission="reports.read",
                  query=("date", "queue", "minutes")),
            Route("GET", "/reports/quarterly", self.quarterly, "the quarterly report: "
                  "?quarter=2026Q4&format=html|pdf|csv|xlsx|json (download=1: html as a "
                  "file)", permission="reports.read", query=("quarter", "format", "download")),
            Route("GET", "/ledger/export", self.export, "the calls of a period as CSV or "
                  "XLSX: ?from=DATE&to=DATE&format=csv|xlsx (masked; audited)",
                  permission="ledger.export", query=("from", "to", "format")),
        ]


class RecordPages:
    """/workbench/calls and /workbench/reports: plain HTML and a script each, no build."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self._files = {name: FILES.joinpath(name).read_text(encoding="utf-8") for name in (
            "calls.html", "calls.js", "reports.html", "reports.js", "records.css")}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/workbench/calls", self._page("calls.html", "ledger.read"))
        app.router.add_get("/workbench/reports", self._page("reports.html", "reports.read"))
        for name, kind in (("calls.js", "text/javascript"), ("reports.js", "text/javascript"),
                           ("records.css", "text/css")):
            app.router.add_get(f"/static/workbench-{name}", static_text(self._files[name], kind))

    def _page(self, name: str, permission: str,
              ) -> Callable[[web.Request], Any]:
        async def page(request: web.Request) -> web.StreamResponse:
            auth = await authenticate(self.accounts, request)
            if auth is None or auth.session is None:
                return web.Response(status=303, headers={**HEADERS, "Location": "/login"})
            if auth.must_change:
                return web.Response(status=303, headers={**HEADERS, "Location": "/password"})
            if not auth.person.may(permission):
                return web.Response(status=303, headers={**HEADERS,
                                                         "Location": "/workbench/"})
            return web.Response(text=self._files[name], content_type="text/html",
                                charset="utf-8", headers=PAGE_HEADERS)

        return page


def record_pages(sources: RecordSources, api: Api) -> Callable[[web.Application], None]:
    """The call history and reports routes on `api`, and their pages for the web server."""
    Records(sources, api)
    return RecordPages(api.accounts).add_routes
