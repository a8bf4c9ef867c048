"""Voicemail (留言) on the REST API, as `hotline voicemail` does it (role voicemail.handle:
seats, experts, leaders).

    GET  /api/v1/voicemail?status=new&limit=50   newest first, reporters masked
    GET  /api/v1/voicemail/{id}                  one voicemail, masked
    GET  /api/v1/voicemail/{id}/audio            its recording (audited voicemail.audio)
    POST /api/v1/voicemail/{id}/done             {"note", "department"}: handled; its work
                                                 order closed, or passed on (audited as
                                                 `hotline voicemail done` is)

A reporter's number is masked here always; an auditor unmasks one voicemail with a
reason (POST /api/v1/voicemail/{id}/unmask, hotline.features.workbench.unmask). The
server's file path is never shown.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from hotline.common.labels import CATEGORIES
from hotline.common.privacy import mask_row
from hotline.features.accounts.errors import ApiBadBody, ApiBadQuery, ApiNotFound
from hotline.features.accounts.service import Authenticated
from hotline.features.accounts.web import HEADERS, Api, Route
from hotline.features.voicemail.cli import VOICEMAIL_FLAGS, VOICEMAIL_STATUS
from hotline.features.voicemail.errors import VoicemailFileMissing
from hotline.features.workbench.web import json_body
from hotline.ledger.errors import VoicemailUnknown
from hotline.ledger.store import Ledger
from hotline.ledger.voicemail import VoicemailBook, VoicemailRow

STATUSES = ("new", "done", "failed", "discarded", "recording", "all")
MAX_LIMIT = 500
AUDIO_TYPES = {".wav": "audio/wav", ".gsm": "audio/x-gsm", ".mp3": "audio/mpeg"}


def view(row: VoicemailRow) -> dict[str, Any]:
    """A voicemail as every API answer shows it: masked for a reporter, with the labels
    staff read, without the server's file path."""
    shown = mask_row({k: v for k, v in row.as_dict().items() if k != "file"})
    shown["masked"] = bool(shown.get("masked", False))
    shown["status_label"] = VOICEMAIL_STATUS.get(row.status, row.status)
    shown["category_label"] = CATEGORIES.get(row.category or "", "未分类")
    shown["flag_labels"] = [VOICEMAIL_FLAGS.get(f, f) for f in row.flags.split(",") if f]
    return shown


def voicemail_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiNotFound(f"no voicemail {raw[:20]!r}")
    return int(raw)


def _query(request: web.Request) -> tuple[str, int]:
    unknown = sorted(set(request.query) - {"status", "limit"})
    if unknown:
        raise ApiBadQuery(f"unknown query parameter(s) {', '.join(unknown)} (parameters: "
                          "status, limit)")
    status = request.query.get("status", "all")
    if status not in STATUSES:
        raise ApiBadQuery(f"status must be one of {', '.join(STATUSES)}")
    raw = request.query.get("limit", "50")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiBadQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return status, int(raw)


class VoicemailApi:
    def __init__(self, ledger: Ledger, api: Api) -> None:
        self.book = VoicemailBook(ledger)
        self.api = api
        for route in self.routes():
            api.add(route)

    async def _row(self, request: web.Request) -> VoicemailRow:
        found = voicemail_id(request)
        row = await self.book.get(found)
        if row is None:
            raise VoicemailUnknown(f"no voicemail {found}")
        return row

    async def listing(self, request: web.Request, auth: Authenticated) -> Any:
        status, limit = _query(request)
        return [view(r) for r in await self.book.listing(status, limit)]

    async def one(self, request: web.Request, auth: Authenticated) -> Any:
        return view(await self._row(request))

    async def audio(self, request: web.Request, auth: Authenticated) -> web.StreamResponse:
        row = await self._row(request)
        path = Path(row.file)
        if not await asyncio.to_thread(path.is_file):
            raise VoicemailFileMissing(f"voicemail {row.id}: its recording is missing")
        accounts = self.api.accounts
        await accounts.book.audit(auth.user.username, "voicemail.audio",
                                  f"voicemail:{row.id}", None, accounts.clock())
        kind = AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return web.FileResponse(path, headers={
            **HEADERS, "Content-Type": kind,
            "Content-Disposition": f'attachment; filename="voicemail-{row.id}{path.suffix}"'})

    async def done(self, request: web.Request, auth: Authenticated) -> Any:
        found = voicemail_id(request)
        data = await json_body(request)
        unknown = sorted(set(data) - {"note", "department"})
        if unknown:
            raise ApiBadBody(f"unknown field(s) {', '.join(unknown)} (fields: note, "
                             "department)")
        note, department = data.get("note"), data.get("department")
        if not isinstance(note, str) or not note.strip() or len(note) > 2000 or any(
                ord(c) < 32 and c not in "\n\t" for c in note):
            raise ApiBadBody("note: say what was done (at most 2,000 characters)")
        if department is not None and (not isinstance(department, str) or not
                                       department.strip() or len(department) > 200 or
                                       any(ord(c) < 32 for c in department)):
            raise ApiBadBody("department: the department's name, one line")
        row = await self.book.handle(found, at=self.api.accounts.clock(), note=note.strip(),
                                     department=department.strip() if department else None,
                                     actor=auth.user.username)
        return view(row)

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/voicemail", self.listing, "voicemails, newest first (?status=new|"
                  "done|failed|discarded|recording|all, ?limit=1..500), reporters masked",
                  permission="voicemail.handle"),
            Route("GET", "/voicemail/{id}", self.one, "one voicemail, reporters masked",
                  permission="voicemail.handle"),
            Route("GET", "/voicemail/{id}/audio", self.audio, "the voicemail's recording "
                  "(audited)", permission="voicemail.handle"),
            Route("POST", "/voicemail/{id}/done", self.done, "mark a voicemail handled: its "
                  "work order is closed, or passed on to `department`",
                  permission="voicemail.handle", body={"note": "string",
                                                       "department": "string"}),
        ]
