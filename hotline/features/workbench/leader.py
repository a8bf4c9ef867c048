"""The team leader's page (班长工作台) behind the API: the live floor and the leader's
actions on a seat.

The floor is everything the wallboard shows (its status: the line, today's figures,
work orders to do, the queues with their waiting callers and alerts) and, per seat: its
state and since when, its call (ringing or connected: since when, the category the
caller chose; never the caller's number), why it is paused and since when, after-call
work, its queues and today's skills; and the calls in the IVR. It is read from the
service's own state only (the routing loop's last look at Asterisk, the call tracker,
the ledger's seat states), so an open page adds no AMI traffic; one view is computed per
change (or per second) and shared by every open page.

The actions go through the seats feature's desk (as `hotline seats` does: recorded in
seat_events, applied to Asterisk) and are audited with the leader's name: force pause,
unpause, log out, move a remote seat in (with an until time) or out, add or take away a
skill for today (seat_skill_days; the routing loop applies it), and listen to, whisper
to or barge into a seat's call on the leader's own phone (Asterisk's ChanSpy).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from hotline.common.clock import CHINA
from hotline.common.labels import CATEGORIES, TOPICS
from hotline.core.accounts import Person, visible_bureau
from hotline.core.calls.tracking import Call, CallState
from hotline.core.routing.config import RoutingConfig, Seat, with_day_skills
from hotline.features.accounts.errors import ApiBadBody
from hotline.features.board.board import queue_label
from hotline.features.seats.desk import SeatDesk
from hotline.features.seats.errors import (
    SeatBadUntil,
    SeatOnNoCall,
    SpyNotRunning,
    SpyPhoneInvalid,
)
from hotline.features.workbench.seat import WRAP_UP, SeatWork
from hotline.ledger.audit import record as audit_record
from hotline.ledger.skills import SkillBook
from hotline.pbx.channels import seat_channel
from hotline.pbx.errors import AmiActionFailed

log = structlog.get_logger("hotline.workbench")

SEAT_ACTIONS = ("pause", "unpause", "logout", "move_in", "move_out")
SPY_MODES = {"listen": "监听", "whisper": "耳语", "barge": "强插"}
STATE_LABELS = {"logged_out": "未登录", "ready": "空闲", "ringing": "振铃",
                "on_call": "通话中", "paused": "暂停", "wrap_up": "话后处理",
                "phone_offline": "话机不在线"}


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(CHINA).isoformat(timespec="seconds") if at is not None else None


def _stamp(text: str | None) -> str | None:
    """A ledger time (UTC ISO text) as Beijing time, like the page's other times."""
    if not text:
        return None
    return _iso(datetime.fromisoformat(text))


@dataclass(frozen=True)
class Spy:
    channel_id: str  # the leader's phone channel's id (given at its Originate)
    mode: str
    phone: str
    actor: str
    linkedid: str  # the seat's call spied on


class LeaderWork:
    def __init__(self, work: SeatWork,
                 board: Callable[[], Awaitable[dict[str, Any]] | None]) -> None:
        """`board`: the wallboard's status (None: no wallboard, the floor's seats only)."""
        self.work = work
        self.sources = work.sources
        self.board = board
        self.skills = SkillBook(work.sources.ledger)
        # bureau seen (None: all) -> (change count, second, the view): one view per
        # change or per second, however many pages are open
        self._views: dict[str | None, tuple[int, int, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()
        # seat id -> the listen, whisper or barge started on its call (for 结束)
        self.spies: dict[str, Spy] = {}

    # -- the floor ------------------------------------------------------------------------

    async def floor(self, person: Person) -> dict[str, Any]:
        bureau = visible_bureau(person)
        key = (self.work.changes.generation, int(asyncio.get_running_loop().time()))
        async with self._lock:
            cached = self._views.get(bureau)
            if cached is not None and cached[:2] == key:
                return cached[2]
            view = await self._floor(bureau)
            self._views[bureau] = (*key, view)
            return view

    async def _day_routing(self) -> RoutingConfig:
        """routing.yaml with today's skill changes, from the ledger (the routing loop
        follows them within a round; the floor shows them at once)."""
        return with_day_skills(self.work.routing(), await self.skills.of_day(self._today()))

    def _today(self) -> Any:
        return self.sources.clock().astimezone(CHINA).date()

    async def _floor(self, bureau: str | None) -> dict[str, Any]:
        routing = self.work.routing()
        today = await self._day_routing()
        now = self.sources.clock()
        pending = self.board()
        status: dict[str, Any] = dict(await pending) if pending is not None else {}
        board_seats = {s["seat"]: s for s in status.pop("seats", [])}
        states = await self.work.seats.states()
        calls = list(self.sources.calls().values())
        seats = []
        for seat in sorted(routing.seats.values(), key=lambda s: s.id):
            if bureau is not None and seat.group != bureau:
                continue
            seats.append(self._seat(routing, today, seat, states.get(seat.id),
                                    board_seats.get(seat.id, {}), calls))
        if bureau is not None:
            for queue in status.get("queues", []):
                queue["seats"] = [s for s in queue["seats"]
                                  if s["seat"] is None or s["group"] == bureau]
        ivr = sorted((c for c in calls if c.state == CallState.IVR),
                     key=lambda c: c.started_at)
        return {
            **status,
            "at": _iso(now),
            "seats": seats,
            "ivr": {"count": len(ivr), "calls": [
                {"linkedid": c.linkedid, "since": _iso(c.started_at),
                 "menus": list(c.ivr_path),
                 "category_label": CATEGORIES.get(c.category or "", None)}
                for c in ivr]},
            "pause_reasons": [{"code": c, "label": label}
                              for c, label in routing.pause_reasons.items()],
            "queue_list": [{"queue": q.id, "name": q.name} for q in routing.queues.values()],
            "spy_modes": SPY_MODES,
            # the phones a leader may be rung on (a seat's device of routing.yaml)
            "phones": [{"device": s.device, "seat": s.id, "name": s.name}
                       for s in sorted(routing.seats.values(), key=lambda s: s.id)],
        }

    def _seat(self, routing: RoutingConfig, today: RoutingConfig, seat: Seat,
              state: Any, shown: Mapping[str, Any], calls: list[Call]) -> dict[str, Any]:
        group = routing.groups[seat.group]
        logged_in = bool(state and state.logged_in)
        paused = state.paused if state else None
        since = _stamp(state.updated_at) if state else None
        call = self._call_of(seat, calls)
        if not logged_in:
            code = "logged_out"
        elif paused == WRAP_UP or shown.get("status") == "话后整理":
            code = "wrap_up"
        elif paused:
            code = "paused"
        elif call is not None:
            code = "on_call" if call["state"] == "connected" else "ringing"
        elif shown.get("phone_offline"):
            code = "phone_offline"
        else:
            code = "ready"
        label = STATE_LABELS[code]
        if code == "paused":
            label = f"暂停（{routing.pause_reasons.get(paused or '', paused)}）"
        if call is not None and code in ("on_call", "ringing"):
            since = call["since"]
        base, day = seat.skills, today.seats[seat.id].skills
        skills = [{"queue": q, "name": routing.queues[q].name, "level": day.get(q, base.get(q)),
                   "today": ("added" if q not in base else "removed" if q not in day
                             else "changed" if day[q] != base[q] else None)}
                  for q in routing.queues if q in base or q in day]
        return {
            "seat": seat.id, "name": seat.name, "group": seat.group,
            "group_name": group.name, "remote": group.remote,
            "state": code, "state_label": label, "since": since,
            "logged_in": logged_in, "paused": paused,
            "paused_label": routing.pause_reasons.get(paused, paused) if paused else None,
            "paused_since": _stamp(state.updated_at) if paused and state else None,
            "wrap_up": code == "wrap_up",
            "moved_in": bool(state and state.moved_in),
            "moved_until": _stamp(state.moved_until) if state else None,
            "board_status": shown.get("status"),
            "queues": shown.get("queues", []), "queue_names": shown.get("queue_names", []),
            "skills": skills,
            "call": call,
            "spy": self._spy_of(seat.id, call),
        }

    def _call_of(self, seat: Seat, calls: list[Call]) -> dict[str, Any] | None:
        """The seat's call: connected to it, else ringing it. No caller's number."""
        names = {seat.name, seat.device}
        found: tuple[str, Call] | None = None
        for call in calls:
            if call.state == CallState.CONNECTED and call.seat in names:
                found = ("connected", call)
                break
            if (call.state in (CallState.RINGING, CallState.QUEUED)
                    and names.intersection(call.ringing) and found is None):
                found = ("ringing", call)
        if found is None:
            return None
        kind, call = found
        routing = self.work.routing()
        return {"linkedid": call.linkedid, "state": kind,
                "state_label": "通话中" if kind == "connected" else "振铃",
                "since": _iso(call.answered_at if kind == "connected" else
                              call.queued_at or call.started_at),
                "queue": call.queue,
                "queue_name": queue_label(routing, call.queue) if call.queue else None,
                "category_label": CATEGORIES.get(call.category or "", "未分类"),
                "topic_label": TOPICS.get(call.topic or "", call.topic)}

    # -- actions --------------------------------------------------------------------------

    async def act(self, seat_id: str, action: str, reason: str | None, until: str | None,
                  *, actor: str) -> dict[str, Any]:
        """Force pause (with a reason), unpause, log out; move a remote seat in (until a
        time, or open-ended) or out. Recorded and applied by the desk, audited."""
        if action not in SEAT_ACTIONS:
            raise ApiBadBody(f"action {action!r} is not one of {', '.join(SEAT_ACTIONS)}")
        if until is not None and action != "move_in":
            raise SeatBadUntil("until goes with move_in only")
        self.work.seat(seat_id)
        if action in ("pause", "unpause", "logout"):
            return await self.work.act(seat_id, action, reason, actor=actor)
        if reason is not None:
            raise ApiBadBody("a reason goes with pause only")
        when = self._until(until) if until is not None else None
        routing = self.work.routing()
        desk = SeatDesk(self.sources.gateway, self.sources.ledger, routing,
                        self.sources.clock)
        change = await desk.command(seat_id, action, actor=actor, until=when)
        if change.changed:
            async with self.sources.ledger.transaction() as db:
                await audit_record(db, at=self.sources.clock(), actor=actor,
                                   action=f"seat.{action}", target=f"seat:{seat_id}",
                                   detail=change.record.moved_until)
            self._poke()
        self.work.changes.notify()
        return {"changed": change.changed, "moved_in": change.record.moved_in,
                "moved_until": _stamp(change.record.moved_until)}

    @staticmethod
    def _until(text: str) -> datetime:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise SeatBadUntil(f"until {text[:40]!r} is not an ISO date-time (e.g. "
                               "2026-12-02T17:30 or 2026-12-02T17:30+08:00)") from None
        return value if value.tzinfo else value.replace(tzinfo=CHINA)

    async def skill(self, seat_id: str, queue: str, action: str, level: int | None, *,
                    actor: str) -> dict[str, Any]:
        """Add a skill (queue) for today, or take one away for today: the seats
        feature's desk (as `hotline seats skill-add|skill-remove`), audited."""
        if action not in ("add", "remove"):
            raise ApiBadBody("action must be add or remove")
        desk = SeatDesk(self.sources.gateway, self.sources.ledger, self.work.routing(),
                        self.sources.clock)
        change = await desk.day_skill(seat_id, queue, action == "add", actor=actor,
                                      level=level)
        if change.changed:
            self._poke()
            self.work.changes.notify()
        return {"changed": change.changed, "seat": seat_id, "queue": queue,
                "level": change.level, "day": change.day.isoformat()}

    async def spy(self, seat_id: str, mode: str, phone: str | None, person: Person, *,
                  actor: str) -> dict[str, Any]:
        """Ring the leader's phone (the device of their own seat, or `phone`: a device
        of routing.yaml) into Asterisk's ChanSpy on the seat's live call: listen, whisper
        (to the seat) or barge (to both). Audited with the mode."""
        if mode not in SPY_MODES:
            raise ApiBadBody(f"mode {mode!r} is not one of {', '.join(SPY_MODES)}")
        routing = self.work.routing()
        seat = self.work.seat(seat_id)
        devices = {s.device for s in routing.seats.values()}
        if phone is None:
            own = routing.seats.get(person.seat or "")
            if own is None:
                raise SpyPhoneInvalid(f"{actor} has no seat of their own whose phone would "
                                      "ring: give the phone (a device of routing.yaml)")
            phone = own.device
        elif phone not in devices:
            raise SpyPhoneInvalid(f"{phone[:60]!r} is not a seat's device in routing.yaml "
                                  f"({', '.join(sorted(devices))})")
        if phone == seat.device:
            raise SpyPhoneInvalid(f"{phone} is seat {seat_id}'s own phone")
        target = seat_channel(await self.sources.gateway.channels(), seat.device)
        if target is None:
            raise SeatOnNoCall(f"seat {seat_id} ({seat.name}) is on no call now")
        # The leader's phone channel gets an id of ours, so that 结束 can hang it up.
        channel_id = f"hotline-spy-{secrets.token_hex(8)}"
        await self.sources.gateway.spy(phone, target.channel, mode,
                                       caller_name=f"班长{SPY_MODES[mode]} {seat.id}",
                                       channel_id=channel_id)
        self.spies[seat_id] = Spy(channel_id, mode, phone, actor, target.linkedid)
        self.work.changes.notify()
        async with self.sources.ledger.transaction() as db:
            await audit_record(db, at=self.sources.clock(), actor=actor,
                               action="seat.spy", target=f"seat:{seat_id}",
                               detail=json.dumps({"mode": mode, "phone": phone,
                                                  "call": target.linkedid}))
        log.info("seat.spy", seat=seat_id, mode=mode, phone=phone, actor=actor,
                 linkedid=target.linkedid)
        return {"seat": seat_id, "mode": mode, "mode_label": SPY_MODES[mode],
                "phone": phone, "linkedid": target.linkedid}

    async def stop_spy(self, seat_id: str, *, actor: str) -> dict[str, Any]:
        """End the listen, whisper or barge started on the seat's call: hang up the
        leader's phone channel (by the id given at its Originate). Audited."""
        self.work.seat(seat_id)
        spy = self.spies.pop(seat_id, None)
        if spy is None:
            raise SpyNotRunning(f"no listen, whisper or barge of seat {seat_id} is running")
        try:
            await self.sources.gateway.hangup(spy.channel_id)
            ended = True
        except AmiActionFailed:  # gone already: the call ended, or the leader hung up
            ended = False
        async with self.sources.ledger.transaction() as db:
            await audit_record(db, at=self.sources.clock(), actor=actor,
                               action="seat.spy_stop", target=f"seat:{seat_id}",
                               detail=json.dumps({"mode": spy.mode, "phone": spy.phone,
                                                  "call": spy.linkedid,
                                                  "hung_up": ended}))
        log.info("seat.spy_stop", seat=seat_id, mode=spy.mode, actor=actor, hung_up=ended)
        self.work.changes.notify()
        return {"seat": seat_id, "stopped": spy.mode, "hung_up": ended}

    def _spy_of(self, seat_id: str, call: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The spy running on the seat's current call, as the floor shows it (one on an
        earlier call is forgotten: ChanSpy's E option ended it with that call)."""
        spy = self.spies.get(seat_id)
        if spy is None:
            return None
        if call is None or call["linkedid"] != spy.linkedid:
            del self.spies[seat_id]
            return None
        return {"mode": spy.mode, "mode_label": SPY_MODES[spy.mode], "by": spy.actor,
                "phone": spy.phone}

    def _poke(self) -> None:
        loop = self.sources.loop()
        if loop is not None:
            loop.poke()
