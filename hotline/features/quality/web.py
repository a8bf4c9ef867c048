"""Quality review (质检) on the REST API, by the desk's rules (as `hotline quality` does it).

    GET  /api/v1/quality/queue      the drawn calls, newest draw first: seat, pending (1),
                                    limit; each with its recording's id for the player
                                    (GET /api/v1/recordings/{id}/audio?reason=质检); a seat
                                    sees only its own reviewed calls
    POST /api/v1/quality/queue      {"linkedid"}: a leader adds an answered call (领导指定)
    GET  /api/v1/quality/form       the review form: the plan's items and maximums
    POST /api/v1/quality/reviews    {"linkedid", "scores": {item: points}, "comment"}:
                                    a leader's or an expert's review (audited)
    GET  /api/v1/quality/reviews    reviews newest first: seat, limit (a seat: its own)
    GET  /api/v1/quality/reviews/{id}  one review with its items' labels

    GET  /workbench/quality         the page (Chinese): for leaders, experts and
                                    auditors the queue, the recording's player and the
                                    form; for a seat its own reviews

No answer has a caller's number: the rows hold only linkedids.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from aiohttp import web

from hotline.features.accounts.errors import ApiBadBody, ApiNotFound
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
)
from hotline.features.quality.desk import (
    MAX_LIMIT,
    QualityDesk,
    draw_view,
    form_view,
    review_view,
)

FILES = resources.files("hotline.features.quality")
# The page plays recordings from this origin (<audio>, media-src 'self').
PAGE_HEADERS = {**HEADERS, "Content-Security-Policy": (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "media-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'")}
QUEUE_QUERY = ("seat", "pending", "limit")
REVIEWS_QUERY = ("seat", "limit")
MAX_BODY = 20_000
PICK_FIELDS: dict[str, type] = {"linkedid": str}
REVIEW_FIELDS: dict[str, type] = {"linkedid": str, "scores": dict, "comment": str}


async def _body(request: web.Request, fields: dict[str, type],
                required: tuple[str, ...]) -> dict[str, Any]:
    """The request's JSON object, its fields of these types (ApiBadBody naming the
    problem)."""
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise ApiBadBody(f"the body is over {MAX_BODY:,} bytes")
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise ApiBadBody("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiBadBody("the body must be a JSON object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ApiBadBody(f"unknown field(s) {', '.join(unknown)[:200]} (fields: "
                         f"{', '.join(fields)})")
    missing = [f for f in required if data.get(f) is None]
    if missing:
        raise ApiBadBody(f"missing field(s) {', '.join(missing)}")
    for key, value in data.items():
        if value is not None and not isinstance(value, fields[key]):
            kind = "an object" if fields[key] is dict else "a string"
            raise ApiBadBody(f"{key} must be {kind}")
    linkedid = data.get("linkedid")
    if isinstance(linkedid, str) and (not linkedid.strip() or len(linkedid) > 200
                                      or any(ord(c) < 32 for c in linkedid)):
        raise ApiBadBody("linkedid: one line of 1 to 200 characters")
    return data


def review_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiNotFound(f"no review {raw[:20]!r}")
    return int(raw)


class QualityApi:
    """The quality review's routes on `api`, and its page (add_routes)."""

    def __init__(self, desk: QualityDesk, api: Api) -> None:
        self.desk = desk
        self.api = api
        self._files = {name: FILES.joinpath(name).read_text(encoding="utf-8")
                       for name in ("quality.html", "quality.js", "quality.css")}
        for route in self.routes():
            api.add(route)

    def add_routes(self, app: web.Application) -> None:
        """The page and its script and style sheet (the API's routes are the Api's)."""
        app.router.add_get("/workbench/quality", self._page)
        for name, kind in (("quality.js", "text/javascript"), ("quality.css", "text/css")):
            app.router.add_get(f"/static/workbench-{name}",
                               static_text(self._files[name], kind))

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return await logged_in_page(self.api.accounts, request, self._files["quality.html"],
                                    PAGE_HEADERS)

    async def queue(self, request: web.Request, auth: Authenticated) -> Any:
        query = query_of(request, QUEUE_QUERY)
        rows = await self.desk.listing(
            auth.person, seat=query.get("seat") or None,
            pending=query_flag(query, "pending"),
            limit=query_number(query, "limit", 200, 1, MAX_LIMIT))
        return {"calls": [draw_view(r) for r in rows]}

    async def pick(self, request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, PICK_FIELDS, ("linkedid",))
        row = await self.desk.pick(data["linkedid"].strip(), auth.person)
        return 201, draw_view(row)

    async def form(self, request: web.Request, auth: Authenticated) -> Any:
        query_of(request, ())
        items = form_view(self.desk.plan())
        return {"items": items, "maximum": sum(i["max"] for i in items)}

    async def add_review(self, request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, REVIEW_FIELDS, ("linkedid", "scores"))
        row = await self.desk.review(data["linkedid"].strip(), auth.person, data["scores"],
                                     data.get("comment"))
        return 201, review_view(row, self.desk.plan())

    async def reviews(self, request: web.Request, auth: Authenticated) -> Any:
        query = query_of(request, REVIEWS_QUERY)
        rows = await self.desk.reviews(auth.person, seat=query.get("seat") or None,
                                       limit=query_number(query, "limit", 200, 1, MAX_LIMIT))
        plan = self.desk.plan()
        return {"reviews": [review_view(r, plan) for r in rows]}

    async def review(self, request: web.Request, auth: Authenticated) -> Any:
        found = review_id(request)
        query_of(request, ())
        row, drawn = await self.desk.show(found, auth.person)
        return {**review_view(row, self.desk.plan()),
                "draw": draw_view(drawn) if drawn is not None else None}

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/quality/queue", self.queue, "the calls drawn for quality review "
                  "(质检), newest first, each with its recording's id (a seat: its own "
                  "reviewed calls)", permission="quality.read", query=QUEUE_QUERY),
            Route("POST", "/quality/queue", self.pick, "a leader adds an answered call to "
                  "the review queue (领导指定)", permission="quality.pick",
                  body={"linkedid": "string"}),
            Route("GET", "/quality/form", self.form, "the review form: its items and their "
                  "maximum points", permission="quality.review"),
            Route("POST", "/quality/reviews", self.add_review, "review a drawn call: each "
                  "item's points and a comment (audited quality.review)",
                  permission="quality.review",
                  body={"linkedid": "string", "scores": "object", "comment": "string"}),
            Route("GET", "/quality/reviews", self.reviews, "reviews, newest first (a seat: "
                  "its own seat's)", permission="quality.read", query=REVIEWS_QUERY),
            Route("GET", "/quality/reviews/{id}", self.review, "one review with its items "
                  "(a seat: its own seat's)", permission="quality.read"),
        ]


def quality_pages(desk: QualityDesk, api: Api) -> Callable[[web.Application], None]:
    """The quality review's routes on `api`, and its page's routes for the web server."""
    return QualityApi(desk, api).add_routes
