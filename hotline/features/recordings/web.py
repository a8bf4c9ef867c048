"""Seat conversation recordings (录音) on the REST API, by the desk's rules (as `hotline
recordings` does it; permission recordings.read: seats, experts, leaders, auditors).

    GET /api/v1/recordings                  newest first: since, until (a day, or an ISO
                                            date-time), seat, status, category, limit;
                                            a seat sees only its own seat's
    GET /api/v1/recordings/{id}/audio?reason=TEXT
                                            the WAV (audio/wav), after the desk's checks
                                            (who may play it, a reason, saved, the file
                                            there); each request audited `recording.play`

The audio's URL is what an <audio> element of the quality review's page plays. Neither
answer shows the server's file path or a caller's number.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from hotline.core.recordings import STATUSES
from hotline.features.accounts.errors import ApiBadQuery, ApiNotFound
from hotline.features.accounts.service import Authenticated
from hotline.features.accounts.web import HEADERS, Api, Route, query_number, query_of
from hotline.features.recordings.desk import MAX_LIMIT, RecordingDesk, view

LIST_QUERY = ("since", "until", "seat", "status", "category", "limit")


def recording_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiNotFound(f"no recording {raw[:20]!r}")
    return int(raw)


def _moment(query: dict[str, str], key: str, *, end: bool) -> datetime | None:
    """A day (YYYY-MM-DD: its start; `end`: the next day's start, so that the day is in)
    or an ISO date-time (Beijing time when it has no offset)."""
    from hotline.common.clock import CHINA

    text = query.get(key)
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        if len(text) == 10:
            return datetime.combine(day + timedelta(days=1 if end else 0), time(),
                                    tzinfo=CHINA)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiBadQuery(f"{key} must be a day like 2026-12-01 or an ISO date-time, not "
                          f"{text[:30]!r}") from None
    if not 2000 <= moment.year <= 2099:
        raise ApiBadQuery(f"{key}: {text[:30]!r} is outside the years 2000 to 2099")
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA)


class RecordingsApi:
    """The recordings' routes on `api`."""

    def __init__(self, desk: RecordingDesk, api: Api) -> None:
        self.desk = desk
        self.api = api
        for route in self.routes():
            api.add(route)

    async def listing(self, request: web.Request, auth: Authenticated) -> Any:
        query = query_of(request, LIST_QUERY)
        status = query.get("status") or None
        if status is not None and status not in STATUSES:
            raise ApiBadQuery(f"status must be one of {', '.join(STATUSES)}")
        since = _moment(query, "since", end=False)
        until = _moment(query, "until", end=True)
        if since is not None and until is not None and until <= since:
            raise ApiBadQuery("until is not after since")
        rows = await self.desk.listing(
            auth.person, since=since, until=until, seat=query.get("seat") or None,
            status=status, category=query.get("category") or None,
            limit=query_number(query, "limit", 100, 1, MAX_LIMIT))
        return {"recordings": [view(r, self.desk.retention) for r in rows]}

    async def audio(self, request: web.Request, auth: Authenticated) -> web.StreamResponse:
        found = recording_id(request)
        query = query_of(request, ("reason",))
        path = await self.desk.play(found, auth.person, query.get("reason"))
        return web.FileResponse(path, headers={
            **HEADERS, "Content-Type": "audio/wav",
            "Content-Disposition": f'inline; filename="recording-{found}.wav"'})

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/recordings", self.listing, "seat conversation recordings, "
                  "newest first (a seat: its own seat's); no file path, no caller's number",
                  permission="recordings.read", query=LIST_QUERY),
            Route("GET", "/recordings/{id}/audio", self.audio, "a recording's WAV "
                  "(audio/wav) for who may play it, with a reason; audited recording.play",
                  permission="recordings.read", query=("reason",)),
        ]

