"""Unmasking with a reason (保密 records, for auditors): the one way a page or an API answer
carries a reporter's or complainant's full number.

    GET  /workbench/unmask                 the auditor's page (Chinese): a call's id or a
                                           voicemail's number, the reason, the record
    POST /api/v1/calls/{linkedid}/unmask   {"reason"}: the call's record unmasked
    POST /api/v1/voicemail/{id}/unmask     {"reason"}: the voicemail's record unmasked

Only a person with the permission ledger.unmask (the auditor role) may, one record at a
time and with a reason of 4 to 200 characters; each unmask is audited (call.unmask,
voicemail.unmask) with the person's name and the reason as its detail, in the ledger's
append-only audit trail; a refusal is audited too (api.refused). Every other answer of
the API and every page masks reporters (hotline.common.privacy)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from aiohttp import web

from hotline.features.accounts.errors import ApiBadBody, ApiNotFound
from hotline.features.accounts.service import Authenticated
from hotline.features.accounts.web import HEADERS, Api, Route
from hotline.features.voicemail.web import voicemail_id
from hotline.features.workbench.web import json_body, logged_in_page
from hotline.ledger.access import Reader, show_call
from hotline.ledger.errors import VoicemailUnknown
from hotline.ledger.store import Ledger
from hotline.ledger.voicemail import VoicemailBook

FILES = resources.files("hotline.features.workbench")
REASON_MIN, REASON_MAX = 4, 200


async def reason_of(request: web.Request) -> str:
    """The body's reason: why this record is unmasked (one line, 4 to 200 characters)."""
    data = await json_body(request)
    if set(data) - {"reason"}:
        raise ApiBadBody("the body is {\"reason\": TEXT}: why the record is unmasked")
    reason = data.get("reason")
    if not isinstance(reason, str) or not REASON_MIN <= len(reason.strip()) <= REASON_MAX \
            or any(ord(c) < 32 for c in reason):
        raise ApiBadBody(f"reason: say why the record is unmasked, {REASON_MIN} to "
                         f"{REASON_MAX} characters of one line")
    return reason.strip()


class Unmasking:
    def __init__(self, ledger: Ledger, api: Api) -> None:
        self.ledger = ledger
        self.api = api
        self._script = FILES.joinpath("unmask.js").read_text(encoding="utf-8")
        self._html = FILES.joinpath("unmask.html").read_text(encoding="utf-8")
        for route in self.routes():
            api.add(route)

    async def _audit(self, actor: str, action: str, target: str, detail: str | None,
                     at: Any) -> None:
        await self.api.accounts.book.audit(actor, action, target, detail, at)

    async def call(self, request: web.Request, auth: Authenticated) -> Any:
        linkedid = request.match_info["linkedid"]
        if len(linkedid) > 64 or not linkedid.isprintable():
            raise ApiNotFound("no such call")
        reason = await reason_of(request)
        name = auth.user.username
        return await show_call(self.ledger, Reader(name, {name}), linkedid, unmask=True,
                               audit=self._audit, at=self.api.accounts.clock(),
                               reason=json.dumps({"reason": reason}, ensure_ascii=False))

    async def voicemail(self, request: web.Request, auth: Authenticated) -> Any:
        found = voicemail_id(request)
        reason = await reason_of(request)
        row = await VoicemailBook(self.ledger).get(found)
        if row is None:
            raise VoicemailUnknown(f"no voicemail {found}")
        await self._audit(auth.user.username, "voicemail.unmask", f"voicemail:{found}",
                          json.dumps({"reason": reason}, ensure_ascii=False),
                          self.api.accounts.clock())
        return {k: v for k, v in row.as_dict().items() if k != "file"}  # unmasked

    def routes(self) -> list[Route]:
        body = {"reason": "string"}
        return [
            Route("POST", "/calls/{linkedid}/unmask", self.call, "a call's record with the "
                  "reporter's number, for an auditor giving a reason (audited)",
                  permission="ledger.unmask", body=body),
            Route("POST", "/voicemail/{id}/unmask", self.voicemail, "a voicemail with the "
                  "caller's number, for an auditor giving a reason (audited)",
                  permission="ledger.unmask", body=body),
        ]

    # -- the page -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/workbench/unmask", self.page)
        app.router.add_get("/static/workbench-unmask.js", self.script)

    async def page(self, request: web.Request) -> web.StreamResponse:
        return await logged_in_page(self.api, request, self._html)

    async def script(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self._script, content_type="text/javascript",
                            charset="utf-8", headers=HEADERS)
