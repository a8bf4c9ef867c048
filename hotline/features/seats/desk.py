"""Seats at work: log in, log out, pause, unpause, move in and out (迁入迁出).

A command is recorded in the ledger (event and state, together) and then applied to
Asterisk over AMI: a centre seat that logs in becomes a member of every queue it has a
skill for (QueueAdd, penalty from its level), logs out with QueueRemove, pauses with
QueuePause and its reason. A remote seat's move-in puts it in provincial service; it
rings only when overflow pulls it into a queue, at the overflow penalty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from hotline.core.routing.config import RoutingConfig, Seat, penalty_for
from hotline.core.routing.policy import pause_code
from hotline.features.seats.errors import (
    SeatBadReason,
    SeatBadUntil,
    SeatNotLoggedIn,
    SeatNotRemote,
    SeatUnknown,
)
from hotline.features.seats.errors import SeatError as SeatError  # importable from here
from hotline.ledger.seats import SeatBook, SeatChange, SeatRecord
from hotline.ledger.store import Ledger
from hotline.pbx.gateway import AmiActionFailed, AmiGateway

log = structlog.get_logger("hotline.seats")

# Replies that mean "already as you want it": not an error for an idempotent intent.
ALREADY = ("already there", "not there", "interface not found")


@dataclass(frozen=True)
class MemberStatus:
    queue: str
    name: str
    interface: str
    penalty: int
    paused: bool
    paused_reason: str
    status: str  # Asterisk's device state of the member
    in_call: bool
    calls_taken: int
    dynamic: bool
    last_call: int = 0  # when its last call ended (epoch seconds; 0: none yet)


@dataclass(frozen=True)
class WaitingCaller:
    queue: str
    position: int
    number: str | None
    name: str | None
    wait: int


@dataclass
class QueueStatus:
    queue: str
    waiting: int = 0
    holdtime: int = 0
    talktime: int = 0
    completed: int = 0
    abandoned: int = 0
    service_level: int = 0
    service_level_perf: float = 0.0
    members: list[MemberStatus] = field(default_factory=list)
    callers: list[WaitingCaller] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue, "waiting": self.waiting, "holdtime": self.holdtime,
            "talktime": self.talktime, "completed": self.completed,
            "abandoned": self.abandoned, "service_level": self.service_level,
            "service_level_perf": self.service_level_perf,
            "members": [m.__dict__ for m in self.members],
            "callers": [c.__dict__ for c in self.callers],
        }


DEVICE_STATES = {"0": "unknown", "1": "not_in_use", "2": "in_use", "3": "busy",
                 "4": "invalid", "5": "unavailable", "6": "ringing", "7": "ringinuse",
                 "8": "onhold"}


async def queue_status(gateway: AmiGateway) -> dict[str, QueueStatus]:
    """Every queue as Asterisk has it now (QueueStatus)."""
    out: dict[str, QueueStatus] = {}
    for event in await gateway.send_list({"Action": "QueueStatus"}):
        queue = event.get("Queue") or ""
        entry = out.setdefault(queue, QueueStatus(queue))
        if event.event == "QueueParams":
            entry.waiting = _int(event.get("Calls"))
            entry.holdtime = _int(event.get("Holdtime"))
            entry.talktime = _int(event.get("TalkTime"))
            entry.completed = _int(event.get("Completed"))
            entry.abandoned = _int(event.get("Abandoned"))
            entry.service_level = _int(event.get("ServiceLevel"))
            try:
                entry.service_level_perf = float(event.get("ServicelevelPerf") or 0)
            except ValueError:
                entry.service_level_perf = 0.0
        elif event.event == "QueueMember":
            entry.members.append(MemberStatus(
                queue, event.get("Name") or "", event.get("Location") or "",
                _int(event.get("Penalty")), event.get("Paused") == "1",
                event.get("PausedReason") or "",
                DEVICE_STATES.get(event.get("Status") or "0", "unknown"),
                event.get("InCall") == "1", _int(event.get("CallsTaken")),
                event.get("Membership") == "dynamic", _int(event.get("LastCall"))))
        elif event.event == "QueueEntry":
            entry.callers.append(WaitingCaller(
                queue, _int(event.get("Position")), event.get("CallerIDNum"),
                event.get("CallerIDName"), _int(event.get("Wait"))))
    return out


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def held(routing: RoutingConfig, state: SeatRecord) -> str:
    """What holds for a seat, in the words of the command that would repeat it."""
    if not state.logged_in:
        where = "logged out"
    elif state.paused:
        where = f"paused ({routing.pause_reasons.get(state.paused, state.paused)})"
    else:
        where = "logged in, not paused"
    seat = routing.seats.get(state.seat)
    if seat is None or not routing.groups[seat.group].remote:
        return where
    if not state.moved_in:
        return where + ", moved out"
    return where + ", moved in" + (f" until {state.moved_until}" if state.moved_until else "")


class SeatDesk:
    def __init__(self, gateway: AmiGateway, ledger: Ledger, routing: RoutingConfig,
                 clock: Callable[[], datetime]) -> None:
        self.gateway = gateway
        self.book = SeatBook(ledger)
        self.routing = routing
        self.clock = clock

    def seat(self, seat_id: str) -> Seat:
        seat = self.routing.seats.get(seat_id)
        if seat is None:
            known = ", ".join(sorted(self.routing.seats)) or "none"
            raise SeatUnknown(f"unknown seat {seat_id!r} (config/routing.yaml has: {known})")
        return seat

    async def command(self, seat_id: str, event: str, *, actor: str,
                      reason: str | None = None, until: datetime | None = None) -> SeatChange:
        """Record the event and apply it to Asterisk. A pause reason may be given as its
        code or its label (午休). Repeating a change (a second move-out) records and sends
        nothing: the result says it was unchanged."""
        seat = self.seat(seat_id)
        remote = self.routing.groups[seat.group].remote
        current = await self.book.state(seat_id)
        if event == "pause":
            code = pause_code(self.routing.pause_reasons, reason)
            if code is None:
                known = "、".join(f"{c} ({label})"
                                 for c, label in self.routing.pause_reasons.items())
                raise SeatBadReason(f"--reason {reason!r} is not a pause reason (one of: "
                                    f"{known})")
            reason = code
        if event in ("pause", "unpause") and not current.logged_in:
            raise SeatNotLoggedIn(f"seat {seat_id} is not logged in")
        if event in ("move_in", "move_out") and not remote:
            raise SeatNotRemote(f"seat {seat_id} belongs to the centre: only remote seats of a "
                                "city bureau move in and out")
        if until is not None and event != "move_in":
            raise SeatBadUntil("--until goes with move-in only")
        if until is not None and until <= self.clock():
            raise SeatBadUntil(f"--until {until.isoformat()} is not in the future")
        change = await self.book.record(seat_id, event, at=self.clock(), actor=actor,
                                        reason=reason, until=until)
        if not change.changed:
            log.info("seat.unchanged", seat=seat_id, seat_event=event, actor=actor)
            return change
        await self.apply(seat, change.record, event)
        log.info("seat.changed", seat=seat_id, seat_event=event, reason=reason, actor=actor)
        return change

    async def apply(self, seat: Seat, record: SeatRecord, event: str) -> None:
        """Bring Asterisk's membership of this seat in line with its state."""
        remote = self.routing.groups[seat.group].remote
        for queue, level in sorted(seat.skills.items()):
            if event == "login" and not remote:
                await self._send({"Action": "QueueAdd", "Queue": queue,
                                  "Interface": seat.device, "MemberName": seat.name,
                                  "Penalty": str(penalty_for(level)), "Paused": "false"})
            elif event == "logout" or (event == "move_out" and remote):
                await self._send({"Action": "QueueRemove", "Queue": queue,
                                  "Interface": seat.device})
        if event == "logout" or (event == "move_out" and remote):
            for region, (queue, group) in self.routing.region_queues().items():
                if group == seat.group and queue in seat.skills:
                    await self._send({"Action": "QueueRemove", "Queue": region,
                                      "Interface": seat.device})
        if event in ("pause", "unpause") and record.logged_in:
            await self._send({"Action": "QueuePause", "Interface": seat.device,
                              "Paused": "true" if event == "pause" else "false",
                              "Reason": self.routing.pause_reasons.get(record.paused or "",
                                                                       "")})

    async def _send(self, action: dict[str, str]) -> None:
        try:
            await self.gateway.send(action)
        except AmiActionFailed as exc:
            message = (exc.response.get("Message") if exc.response else "") or ""
            if any(text in message.lower() for text in ALREADY):
                return  # already as wanted
            raise
