"""The knowledge base on the web: its /api/v1 routes (on the accounts' `Api`: the same
login, CSRF check, role check and JSON errors), the 知识库 page, and the seat page's
search box (kb-search.js).

    GET   /workbench/kb              the page (Chinese; plain HTML and a script)
    GET   /api/v1/kb                 entries by their newest version: status, topic,
                                     scope, expiring=1
    GET   /api/v1/kb/search          q, city, limit: the published entries offered today,
                                     the person's (or `city`'s) local entries first
    GET   /api/v1/kb/export          format=yaml|csv, live=1: a file (not JSON)
    POST  /api/v1/kb/import          {format, text, name}: drafts, whole or nothing
    GET   /api/v1/kb/{id}            an entry and every version (who, when)
    POST  /api/v1/kb                 a new entry (a draft)
    PATCH /api/v1/kb/{id}            a new version from `base` (fields not given: the
                                     base version's)
    POST  /api/v1/kb/{id}/review     {version}: an expert
    POST  /api/v1/kb/{id}/publish    {version}: a team leader
    POST  /api/v1/kb/{id}/withdraw   {reason}: a team leader
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from aiohttp import web

from hotline.features.accounts.errors import ApiBadBody, ApiBadQuery
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
from hotline.features.kb import io as kbio
from hotline.features.kb.service import KbDesk, entry_view, version_view
from hotline.ledger.errors import KbInvalid

FILES = resources.files("hotline.features.kb")
PAGE_HEADERS = {**HEADERS, "Content-Security-Policy": (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")}
DRAFT_FIELDS = {"question": "string", "phrasings": "array", "answer": "string",
                "spoken": "string", "topic": "string", "scope": "string",
                "source_number": "string", "source_date": "string",
                "effective_from": "string", "effective_until": "string", "note": "string"}
EDIT_FIELDS = {"base": "integer", **DRAFT_FIELDS}
VERSION_FIELDS = {"version": "integer"}
WITHDRAW_FIELDS = {"reason": "string"}
IMPORT_FIELDS = {"format": "string", "text": "string", "name": "string"}
MAX_BODY = 200_000  # bytes of a draft (an answer is at most 20,000 characters)
MAX_IMPORT_BODY = kbio.MAX_FILE * 2 + 10_000  # the file as JSON text (escapes)
LIST_QUERY = ("status", "topic", "scope", "expiring", "limit", "offset")
LIST_LIMIT = 500  # entries a page of the list shows at most (default 200)
TYPES: Mapping[str, type] = {"string": str, "integer": int, "array": list}


async def _body(request: web.Request, fields: Mapping[str, str],
                required: tuple[str, ...] = (), limit: int = MAX_BODY) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > limit:
        raise ApiBadBody(f"the body is over {limit:,} bytes")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise ApiBadBody(f"the body is over {limit:,} bytes")
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ApiBadBody("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiBadBody("the body must be a JSON object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ApiBadBody(f"unknown field(s) {', '.join(unknown)[:200]} (fields: "
                         f"{', '.join(fields) or 'none'})")
    missing = [f for f in required if data.get(f) is None]
    if missing:
        raise ApiBadBody(f"missing field(s) {', '.join(missing)}")
    for key, value in data.items():
        kind = fields[key]
        if value is None:
            continue
        if not isinstance(value, TYPES[kind]) or isinstance(value, bool):
            raise ApiBadBody(f"{key} must be a{'n' if kind in ('integer', 'array') else ''} "
                             f"{kind}" + (" of texts" if kind == "array" else ""))
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise ApiBadBody(f"{key} must be an array of texts")
    return data








def _draft_of(data: Mapping[str, Any]) -> Any:
    fields = {k: v for k, v in data.items() if k != "base"}
    _, draft, problems = kbio.draft_of(fields)
    if problems:
        raise KbInvalid("; ".join(problems))
    return draft


class KbPages:
    """The knowledge base's routes on `api` and its pages."""

    def __init__(self, desk: KbDesk, api: Api) -> None:
        self.desk = desk
        self.api = api
        self._files = {name: FILES.joinpath(name).read_text(encoding="utf-8")
                       for name in ("kb.html", "kb.js", "kb.css", "kb-search.js")}
        for route in self.routes():
            api.add(route)

    # -- handlers --------------------------------------------------------------------------

    async def listing(self, request: web.Request, auth: Authenticated) -> Any:
        query = query_of(request, LIST_QUERY)
        limit = query_number(query, "limit", 200, 1, LIST_LIMIT)
        offset = query_number(query, "offset", 0, 0, 10**7)
        entries = await self.desk.listing(
            auth.person, status=query.get("status") or None, topic=query.get("topic") or None,
            scope=query.get("scope") or None, expiring_soon=query_flag(query, "expiring"))
        return {"entries": [entry_view(e, versions=False)
                            for e in entries[offset:offset + limit]],
                "total": len(entries), "topics": dict(self.desk.topics()),
                "scopes": sorted(self.desk.scopes())}

    async def search(self, request: web.Request, auth: Authenticated) -> Any:
        query = query_of(request, ("q", "city", "limit"))
        limit = query_number(query, "limit", 10, 1, 50)
        found = await self.desk.search(auth.person, query.get("q", ""),
                                       city=query.get("city") or None, limit=limit)
        return {"found": [{**version_view(f.version), "rank": round(f.rank, 3)}
                          for f in found]}

    async def one(self, request: web.Request, auth: Authenticated) -> Any:
        query_of(request, ())
        return entry_view(await self.desk.show(auth.person, request.match_info["id"]))

    async def add(self, request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, DRAFT_FIELDS, ("question", "answer", "spoken", "topic"))
        return 201, entry_view(await self.desk.add(auth.person, _draft_of(data)))

    async def edit(self, request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, EDIT_FIELDS, ("base",))
        entry = await self.desk.show(auth.person, request.match_info["id"])
        base = self.desk.version_of(entry, int(data["base"]))
        record = {k: v for k, v in kbio.record(base).items()
                  if k in DRAFT_FIELDS and k != "note"}
        draft = _draft_of({**record, **{k: v for k, v in data.items() if k != "base"}})
        return version_view(await self.desk.edit(auth.person, entry.id, draft,
                                                 base=int(data["base"])))

    async def review(self, request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, VERSION_FIELDS)
        return version_view(await self.desk.review(auth.person, request.match_info["id"],
                                                   data.get("version")))

    async def publish(self, request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, VERSION_FIELDS)
        return version_view(await self.desk.publish(auth.person, request.match_info["id"],
                                                    data.get("version")))

    async def withdraw(self, request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, WITHDRAW_FIELDS, ("reason",))
        return version_view(await self.desk.withdraw(auth.person, request.match_info["id"],
                                                     data["reason"]))

    async def import_(self, request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, IMPORT_FIELDS, ("format", "text"), MAX_IMPORT_BODY)
        if data["format"] not in ("yaml", "csv"):
            raise ApiBadBody("format must be yaml or csv")
        name = str(data.get("name") or f"import.{data['format']}")[:100]
        rows = kbio.read(data["text"].encode("utf-8", "surrogatepass"), name, data["format"])
        ids = await self.desk.import_rows(auth.person, rows, name)
        return 201, {"imported": ids}

    async def export(self, request: web.Request, auth: Authenticated) -> web.Response:
        query = query_of(request, ("format", "live"))
        fmt = query.get("format", "yaml")
        if fmt not in ("yaml", "csv"):
            raise ApiBadQuery("format must be yaml or csv")
        versions = kbio.chosen(await self.desk.listing(auth.person),
                               "live" if query_flag(query, "live") else "latest")
        text = kbio.to_yaml(versions) if fmt == "yaml" else kbio.to_csv(versions)
        kind = "application/yaml" if fmt == "yaml" else "text/csv"
        day = self.desk.today().isoformat()
        return web.Response(text=text, content_type=kind, charset="utf-8", headers={
            **HEADERS, "Content-Disposition": f'attachment; filename="kb-{day}.{fmt}"'})

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/kb", self.listing, "knowledge-base entries by their newest "
                  "version: status, topic, scope, expiring=1 (ends by the end of next "
                  "quarter); limit (200, at most 500), offset; total: how many matched",
                  permission="kb.read", query=LIST_QUERY),
            Route("GET", "/kb/search", self.search, "the published entries offered today "
                  "for q, the person's (or city's) local entries first; not audited",
                  permission="kb.read", query=("q", "city", "limit")),
            Route("GET", "/kb/export", self.export, "the entries as a YAML or CSV file "
                  "(format=yaml|csv; live=1: the published versions only)",
                  permission="kb.read", query=("format", "live")),
            Route("POST", "/kb/import", self.import_, "entries of a YAML or CSV file as "
                  "drafts: every bad row named by its line, nothing stored if one is bad",
                  permission="kb.draft", body=IMPORT_FIELDS),
            Route("GET", "/kb/{id}", self.one, "an entry and every version of it",
                  permission="kb.read"),
            Route("POST", "/kb", self.add, "a new entry (a draft)", permission="kb.draft",
                  body=DRAFT_FIELDS),
            Route("PATCH", "/kb/{id}", self.edit, "a new version (a draft) made from "
                  "version `base`; refused (kb-changed) if a newer one exists",
                  permission="kb.draft", body=EDIT_FIELDS),
            Route("POST", "/kb/{id}/review", self.review, "an expert reviews a draft "
                  "(version: default the newest)", permission="kb.review",
                  body=VERSION_FIELDS),
            Route("POST", "/kb/{id}/publish", self.publish, "a team leader publishes a "
                  "reviewed version (its spoken prompt is built first)",
                  permission="kb.publish", body=VERSION_FIELDS),
            Route("POST", "/kb/{id}/withdraw", self.withdraw, "a team leader withdraws the "
                  "live version, with the reason", permission="kb.publish",
                  body=WITHDRAW_FIELDS),
        ]

    # -- the pages -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/workbench/kb", self._page)
        for name, kind in (("kb.js", "text/javascript"), ("kb.css", "text/css"),
                           ("kb-search.js", "text/javascript")):
            app.router.add_get(f"/static/workbench-{name}", static_text(self._files[name], kind))

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return await logged_in_page(self.api.accounts, request, self._files["kb.html"],
                                    PAGE_HEADERS)


def kb_pages(desk: KbDesk, api: Api) -> Callable[[web.Application], None]:
    """The knowledge base's routes on `api`, and its pages' routes for the web server."""
    return KbPages(desk, api).add_routes
