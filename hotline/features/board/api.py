"""The queues on the REST API (role seats.read: seats, experts, leaders, admins).

    GET /api/v1/queues[?queue=ID]   per queue: callers waiting, the longest wait, its
                                    seats counted by state and listed, today's figures

The same data as the wallboard (hotline.features.board.web): the routing loop's last round
of Asterisk's queue status, so any number of callers adds no AMI traffic, and today's
figures read from the ledger at most every FIGURES_TTL seconds. No caller's number is in
it (a waiting caller is a position and a wait). A remote bureau's people (not leaders)
see only their own bureau's seats (hotline.core.accounts.visible_bureau); the queues'
waiting callers are the whole line's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from aiohttp import web

from hotline.common.clock import CHINA
from hotline.core.accounts import visible_bureau
from hotline.features.accounts.errors import ApiBadQuery
from hotline.features.accounts.service import Authenticated
from hotline.features.accounts.web import Api, Route
from hotline.features.board.board import MEMBER_STATE, board
from hotline.features.seats.routing_loop import RoutingLoop
from hotline.ledger.report import DayFigures, day_figures
from hotline.ledger.store import Ledger

FIGURES_TTL = 5.0
# A queue member's state, as the API counts it (and as staff read it).
STATES = {"free": "空闲", "ringing": "振铃", "talking": "通话中", "wrap_up": "话后整理",
          "paused": "暂停", "unavailable": "不可用"}


def member_state(member: dict[str, Any]) -> str:
    """One of STATES for a member of board()'s queue entry."""
    if member["paused"]:
        return "paused"
    if member["free"]:
        return "free"
    status = member["status"]
    if status in ("ringing", "ringinuse"):
        return "ringing"
    if member["in_call"] or status in ("in_use", "busy", "onhold"):
        return "talking"
    if member["wrapping_up"]:
        return "wrap_up"
    return "unavailable"


class QueuesApi:
    def __init__(self, ledger: Ledger, routing: Callable[[], RoutingLoop | None],
                 clock: Callable[[], datetime], api: Api) -> None:
        self.ledger = ledger
        self.routing = routing
        self.clock = clock
        self._figures: tuple[float, date, DayFigures] | None = None
        api.add(Route("GET", "/queues", self.queues, "the queues: callers waiting, the "
                      "longest wait, seats by state (a remote bureau's people: their "
                      "bureau's seats), today's figures (?queue=ID for one)",
                      permission="seats.read"))

    async def _day(self, now: datetime) -> DayFigures:
        day = now.astimezone(CHINA).date()
        cached, tick = self._figures, time.monotonic()
        if cached is not None and cached[1] == day and tick - cached[0] < FIGURES_TTL:
            return cached[2]
        figures = await day_figures(self.ledger, day)
        self._figures = (tick, day, figures)
        return figures

    async def queues(self, request: web.Request, auth: Authenticated) -> Any:
        unknown = sorted(set(request.query) - {"queue"})
        if unknown:
            raise ApiBadQuery(f"unknown query parameter(s) {', '.join(unknown)} "
                              "(parameters: queue)")
        wanted = request.query.get("queue")
        loop = self.routing()
        now = self.clock()
        if loop is None:
            if wanted is not None:
                raise ApiBadQuery(f"unknown queue {wanted[:40]!r} (no routing.yaml)")
            return {"at": now.astimezone(CHINA).isoformat(timespec="seconds"),
                    "updated_at": None, "bureau": None, "queues": []}
        routing = loop.routing
        if wanted is not None and wanted not in routing.queues:
            raise ApiBadQuery(f"unknown queue {wanted[:40]!r} (queues: "
                              f"{', '.join(sorted(routing.queues))})")
        bureau = visible_bureau(auth.person)
        out = []
        for entry in board(routing, loop.live, await self._day(now), loop.overflow,
                           loop.alerts, loop.live_at):
            if wanted is not None and entry["queue"] != wanted:
                continue
            seats = []
            counts = dict.fromkeys(STATES, 0)
            for member in entry["seats"]:
                if bureau is not None and member["group"] != bureau:
                    continue
                state = member_state(member)
                counts[state] += 1
                seats.append({"seat": member["seat"], "name": member["name"],
                              "group": member["group"], "state": state,
                              "state_label": STATES[state],
                              "device_state": member["status"],
                              "device_label": MEMBER_STATE.get(str(member["status"]),
                                                               str(member["status"])),
                              "paused_reason": member["paused_reason"],
                              "answered_today": member["answered_today"],
                              "avg_talk_today": member["avg_talk_today"]})
            out.append({"queue": entry["queue"], "name": entry["name"],
                        "waiting": entry["waiting"], "longest_wait": entry["longest_wait"],
                        "callers": entry["callers"], "seats_by_state": counts,
                        "seats": seats, "overflow": entry.get("overflow"),
                        "alert": entry.get("alert"), "today": entry["today"]})
        at = loop.live_at
        return {"at": now.astimezone(CHINA).isoformat(timespec="seconds"),
                "updated_at": at.astimezone(CHINA).isoformat(timespec="seconds")
                if at is not None else None,
                "bureau": bureau, "states": STATES, "queues": out}
