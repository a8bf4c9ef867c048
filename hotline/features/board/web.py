"""The wallboard (大屏) of the running service, and the JSON behind it (aiohttp).

    GET /            the wallboard, in Simplified Chinese, refreshing itself every 2 s
    GET /api/status  the line (open or not, the AMI link); today's calls, 接通率 and
                     service level; work orders to do, due today, overdue; per queue:
                     waiting callers and their waits, its seats, today's figures,
                     overflow and coverage alerts; every seat with its group and state
                     (logged in, paused and why, moved in); `?queue=ID` for one queue
    GET /healthz     200 while hotline can take calls (AMI connected, the ledger taking
                     every write), else 503 naming what is wrong

Read-only, and it shows no caller's number or name (waiting callers are a position and
a wait), so a screen in the centre may show it. Queue data comes from the routing loop's
last round (it asks Asterisk every `routing.interval`), so any number of screens adds no
AMI traffic; today's figures are read from the ledger at most every FIGURES_TTL seconds.
Every error is JSON naming the problem: {"error": CODE, "message": ...}.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from hotline.common.clock import CHINA
from hotline.core.calendar.schedule import Calendar
from hotline.core.routing.config import SERVICE_LEVEL_SECONDS
from hotline.features.board.board import board, seat_rows
from hotline.features.calls.handling import LedgerWriter
from hotline.features.seats.routing_loop import RoutingLoop
from hotline.ledger.orders import OrderBook
from hotline.ledger.report import DayFigures, day_figures
from hotline.ledger.store import Ledger
from hotline.pbx.gateway import AmiGateway

log = structlog.get_logger("hotline.web")

FIGURES_TTL = 5.0
PAGE = resources.files("hotline.features.board").joinpath("wallboard.html")
LINE_STATES = {"open": "服务时间", "after_hours": "非服务时间", "non_working_day": "休息日"}


@dataclass
class Sources:
    """What the wallboard reads: the running service's parts."""

    gateway: AmiGateway
    ledger: Ledger
    writer: LedgerWriter
    routing: Callable[[], RoutingLoop | None]
    calendar: Callable[[], Calendar]
    clock: Callable[[], datetime]  # now
    # The service clock (pinned by service.calendar_time, or the real time): the moment
    # the calendar is read at and work orders are counted overdue at.
    calendar_clock: Callable[[], datetime]


class Wallboard:
    def __init__(self, sources: Sources,
                 pages: Sequence[Callable[[web.Application], None]] = ()) -> None:
        self.sources = sources
        # Other pages the same server serves (the browser phone): each adds its routes.
        self.pages = tuple(pages)
        self._figures: tuple[float, date, DayFigures, dict[str, int]] | None = None
        self._runner: web.AppRunner | None = None
        self.url: str | None = None
        # Read once: no file I/O per request.
        self._page_text = PAGE.read_text(encoding="utf-8").replace(
            "@SERVICE_LEVEL@", str(SERVICE_LEVEL_SECONDS))

    # -- the server ----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_json_errors])
        app.router.add_get("/", self._page)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/healthz", self._health)
        for add_routes in self.pages:
            add_routes(app)
        return app

    async def start(self, host: str, port: int) -> bool:
        """Listen on host:port (port 0: any free one). The wallboard is not what takes
        calls: if it cannot listen, it says so in the log and the service goes on."""
        runner = _Runner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            log.error("web.unavailable", host=host, port=port, error=str(exc),
                      hint="another program listens there: set web.port (or "
                           "HOTLINE_WEB_PORT), or web.enabled: false")
            return False
        self._runner = runner
        bound = runner.addresses[0][1] if runner.addresses else port  # port 0: which one
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound}/"
        log.info("web.listening", url=self.url)
        return True

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers ------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        _no_parameters(request, ())
        return web.Response(text=self._page_text, content_type="text/html", charset="utf-8")

    async def _status(self, request: web.Request) -> web.StreamResponse:
        _no_parameters(request, ("queue",))
        wanted = request.query.get("queue")
        loop = self.sources.routing()
        if loop is not None and wanted is not None and wanted not in loop.routing.queues:
            raise _error(400, "unknown-queue", f"unknown queue {wanted!r} (routing knows: "
                         f"{', '.join(sorted(loop.routing.queues))})")
        if loop is None and wanted is not None:
            raise _error(400, "unknown-queue", f"unknown queue {wanted!r} (no routing.yaml: "
                         "hotline knows no queues)")
        return web.json_response(await self.status(wanted), dumps=_dumps)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        _no_parameters(request, ())
        problems = self.problems()
        body = {"status": "ok" if not problems else "degraded", "problems": problems}
        return web.json_response(body, status=200 if not problems else 503, dumps=_dumps)

    # -- what they show ------------------------------------------------------------------

    async def status(self, queue: str | None = None) -> dict[str, Any]:
        sources = self.sources
        now = sources.clock()
        line = sources.calendar().state(sources.calendar_clock())
        loop = sources.routing()
        queues: list[dict[str, Any]] = []
        seats: list[dict[str, Any]] = []
        updated = None
        figures, orders = await self._day_figures(now)
        if loop is not None:
            routing = loop.routing
            queues = board(routing, loop.live, figures, loop.overflow, loop.alerts,
                           loop.live_at)
            seats = seat_rows(routing, loop.records, loop.live, loop.live_at)
            if queue is not None:
                queues = [q for q in queues if q["queue"] == queue]
                seats = [s for s in seats if queue in routing.seats[s["seat"]].skills]
            updated = loop.live_at
        return {
            "at": now.astimezone(CHINA).isoformat(timespec="seconds"),
            "updated_at": updated.astimezone(CHINA).isoformat(timespec="seconds")
            if updated is not None else None,
            "line": line, "line_label": LINE_STATES.get(line, line),
            "ami_connected": sources.gateway.connected.is_set(),
            "problems": self.problems(),
            "today": figures.totals(),
            "orders": orders,
            "queues": queues,
            "seats": seats,
        }

    def problems(self) -> list[str]:
        """What keeps hotline from taking calls as it should (empty: nothing)."""
        out = []
        if not self.sources.gateway.connected.is_set():
            out.append("ami: not connected to Asterisk (callers go to the centre's queue "
                       "by the dialplan's fallback)")
        failing = self.sources.writer.failing()
        if failing:
            out.append(f"ledger: {failing} call(s) not written yet (retrying)")
        return out

    async def _day_figures(self, now: datetime) -> tuple[DayFigures, dict[str, int]]:
        """Today's figures and the work orders to do, from the ledger (read again at most
        every FIGURES_TTL seconds, whatever the number of screens)."""
        day = now.astimezone(CHINA).date()
        cached = self._figures
        tick = time.monotonic()
        if cached is not None and cached[1] == day and tick - cached[0] < FIGURES_TTL:
            return cached[2], cached[3]
        figures = await day_figures(self.sources.ledger, day)
        # The day's calls by the ledger's real times; the work orders overdue or due
        # today by the service clock, the one their deadlines were counted from (pinned
        # by service.calendar_time, or the real time).
        decided = self.sources.calendar_clock()
        order_day = decided.astimezone(CHINA).date()
        day_end = datetime.combine(order_day + timedelta(days=1), datetime.min.time(), CHINA)
        orders = await OrderBook(self.sources.ledger, self.sources.calendar()).counts(
            decided, day_end)
        self._figures = (tick, day, figures, orders)
        return figures, orders


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _error(status: int, code: str, message: str) -> web.HTTPException:
    body = _dumps({"error": code, "message": message})
    kinds: Mapping[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
        500: web.HTTPInternalServerError}
    if status == 405:
        return web.HTTPMethodNotAllowed("", ["GET"], text=body,
                                        content_type="application/json")
    return kinds[status](text=body, content_type="application/json")


def _no_parameters(request: web.Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        expected = ", ".join(allowed) if allowed else "none"
        raise _error(400, "unknown-parameter", f"unknown query parameter(s) "
                     f"{', '.join(unknown)} for {request.path} (expected: {expected})")
    repeated = sorted(key for key in set(request.query) if len(request.query.getall(key)) > 1)
    if repeated:
        # ?queue=a&queue=b: which one was meant? Refused rather than guessed.
        raise _error(400, "repeated-parameter", f"query parameter(s) {', '.join(repeated)} "
                     f"given more than once for {request.path}: give each once")


PATHS = ("/, /api/status, /healthz, /phone/, /login, /workbench/, /workbench/seat, "
         "/workbench/liaison, /workbench/leader/followup, "
         "/api/v1/openapi.json")


@web.middleware
async def _json_errors(request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                       ) -> web.StreamResponse:
    """aiohttp's own 404 and 405 as JSON naming the problem, like every other error."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        if exc.status == 404:
            raise _error(404, "not-found", f"no such page: {request.path} (there are: "
                         f"{PATHS})") from None
        if exc.status == 405:
            raise _error(405, "method-not-allowed", f"{request.method} {request.path}: "
                         "the wallboard is read-only (use GET)") from None
        raise
    except Exception:
        log.exception("web.request_failed", path=request.path)
        raise _error(500, "internal-error", f"{request.path} failed; the service log "
                     "says why (web.request_failed)") from None


class _JsonErrorHandler(RequestHandler):
    """aiohttp's handler of one connection, answering what its HTTP parser refuses (a bad
    character in the path, a header line over 8,190 bytes, a malformed request line) in
    JSON like every other error, instead of aiohttp's plain text. These never reach the
    application (its middlewares), so they are answered here."""

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: too late for an answer
            raise ConnectionError("the response was sent already")
        if status >= 500:
            log.error("web.request_failed", error=repr(exc)[:300])
            body = {"error": "internal-error", "message": "the request failed; the service "
                    "log says why (web.request_failed)"}
        else:
            # aiohttp's reason, without the lines that draw a caret under the request.
            reason = str(message or exc or "malformed request").split("\n")[0].rstrip(": ")
            log.info("web.bad_request", status=status, reason=reason[:300])
            body = {"error": "bad-request", "message": "the request could not be read as "
                    f"HTTP: {reason[:300]}"}
        response = web.Response(status=status, text=_dumps(body),
                                content_type="application/json")
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    """The app's runner, its connections handled by _JsonErrorHandler."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # aiohttp offers no other way to choose it
        return server
