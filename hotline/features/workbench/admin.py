"""The administrator's page: staff accounts (on the accounts' /api/v1/users routes) and
a view of the configuration the service runs on.

    GET /workbench/admin         the page (Chinese; plain HTML and a script)
    GET /api/v1/config           the running snapshot: dialplans (name, version), the
                                 queues, seat groups and seats of routing.yaml, the
                                 calendar's next days, the reload generation

Read-only: the configuration is changed in its files and reloaded (`hotline reload`),
where it is checked whole; the page shows what is in force.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from aiohttp import web

from hotline.common.clock import CHINA
from hotline.core.configuration import ConfigAccessor
from hotline.features.accounts.service import Authenticated
from hotline.features.accounts.web import HEADERS, Api, Route, logged_in_page

FILES = resources.files("hotline.features.workbench")
CALENDAR_DAYS = 14  # days of the calendar the page shows, from today
PAGE_HEADERS = {**HEADERS, "Content-Security-Policy": (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")}


def _hours(hours: Any) -> str:
    return "、".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in hours) or "不开放"


def config_view(config: ConfigAccessor, now: datetime) -> dict[str, Any]:
    """The snapshot in force, as the page shows it (Chinese labels where staff read)."""
    snapshot = config()
    out: dict[str, Any] = {
        "generation": snapshot.generation,
        "dialplans": [{"name": name, "version": plan.version, "language": plan.language,
                       "menus": len(plan.menus), "prompts": len(plan.prompts)}
                      for name, plan in sorted(snapshot.dialplans.items())],
        "queues": [], "groups": [], "seats": [],
    }
    routing = snapshot.routing
    if routing is not None:
        out["queues"] = [{"id": q.id, "name": q.name, "strategy": q.strategy,
                          "ring_timeout": q.ring_timeout, "max_wait": q.max_wait,
                          "on_no_answer": q.on_no_answer}
                         for q in routing.queues.values()]
        out["groups"] = [{"id": g.id, "name": g.name, "remote": g.remote,
                          "area_codes": list(g.area_codes)} for g in routing.groups.values()]
        out["seats"] = [{"id": s.id, "name": s.name, "group": s.group,
                         "group_name": routing.groups[s.group].name
                         if s.group in routing.groups else s.group,
                         "device": s.device, "webrtc": s.webrtc,
                         "skills": [{"queue": q, "queue_name": routing.queues[q].name
                                     if q in routing.queues else q, "level": level}
                                    for q, level in sorted(s.skills.items())]}
                        for s in routing.seats.values()]
    today = now.astimezone(CHINA).date()
    out["calendar"] = [{"date": d.day.isoformat(), "working": d.working, "label": d.label,
                        "hours": _hours(d.hours)}
                       for d in snapshot.calendar.days(
                           today, today + timedelta(days=CALENDAR_DAYS - 1))]
    return out


class AdminPage:
    def __init__(self, api: Api, config: ConfigAccessor) -> None:
        self.api = api
        self.config = config
        self._html = FILES.joinpath("admin.html").read_text(encoding="utf-8")
        self._script = FILES.joinpath("admin.js").read_text(encoding="utf-8")
        api.add(Route("GET", "/config", self.config_handler, "the configuration in force: "
                      "dialplans, queues, seat groups, seats, the next days of the "
                      "calendar, the reload generation", permission="config.read"))

    async def config_handler(self, request: web.Request, auth: Authenticated) -> Any:
        return config_view(self.config, self.api.accounts.clock())

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/workbench/admin", self.page)
        app.router.add_get("/static/workbench-admin.js", self.script)

    async def page(self, request: web.Request) -> web.StreamResponse:
        return await logged_in_page(self.api.accounts, request, self._html, PAGE_HEADERS)

    async def script(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self._script, content_type="text/javascript",
                            charset="utf-8", headers=HEADERS)


def admin_page(api: Api, config: ConfigAccessor) -> Callable[[web.Application], None]:
    """The admin's API route on `api`, and the page's routes for the web server."""
    return AdminPage(api, config).add_routes
