"""Seats at work: log in, log out, pause, unpause, move in and out (迁入迁出).

A command is recorded in the ledger (event and state, together) and then applied to
Asterisk through the gateway: a centre seat that logs in becomes a member of every queue
it has a skill for (penalty from its level), logs out of them, pauses in them with its
reason. A remote seat's move-in puts it in provincial service; it rings only when
overflow pulls it into a queue, at the overflow penalty.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import structlog

from hotline.common.clock import CHINA
from hotline.core.routing.config import RoutingConfig, Seat, penalty_for, region_queue_name
from hotline.core.routing.policy import pause_code
from hotline.features.seats.errors import (
    SeatBadReason,
    SeatBadSkill,
    SeatBadUntil,
    SeatNotLoggedIn,
    SeatNotRemote,
    SeatUnknown,
)
from hotline.features.seats.errors import SeatError as SeatError  # importable from here
from hotline.ledger.seats import SeatBook, SeatChange, SeatRecord
from hotline.ledger.skills import SkillBook
from hotline.ledger.store import Ledger
from hotline.pbx.gateway import AmiAlready, AmiGateway

log = structlog.get_logger("hotline.seats")

DEFAULT_LEVEL = 5  # a skill added for a day, unless a level is given


@dataclass(frozen=True)
class SkillChange:
    """A seat's skill for a queue on a day, after a change (None: none that day)."""

    seat: str
    queue: str
    level: int | None
    day: date
    changed: bool = True


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
        self.skills = SkillBook(ledger)
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
        """Bring Asterisk's membership of this seat in line with its state. A member
        already as wanted (already there, not there) is no error: the intent holds."""
        remote = self.routing.groups[seat.group].remote
        gateway = self.gateway
        leaves = event == "logout" or (event == "move_out" and remote)
        for queue, level in sorted(seat.skills.items()):
            if event == "login" and not remote:
                with contextlib.suppress(AmiAlready):
                    await gateway.queue_add(queue, seat.device, seat.name, penalty_for(level))
            elif leaves:
                with contextlib.suppress(AmiAlready):
                    await gateway.queue_remove(queue, seat.device)
        if leaves:
            for region, (queue, group) in self.routing.region_queues().items():
                if group == seat.group and queue in seat.skills:
                    with contextlib.suppress(AmiAlready):
                        await gateway.queue_remove(region, seat.device)
        if event in ("pause", "unpause") and record.logged_in:
            with contextlib.suppress(AmiAlready):
                await gateway.queue_pause(
                    seat.device, event == "pause",
                    self.routing.pause_reasons.get(record.paused or "", ""))

    async def day_skill(self, seat_id: str, queue: str, add: bool, *, actor: str,
                        level: int | None = None) -> SkillChange:
        """Add a skill (queue) to a seat for today (Beijing day) at `level` (default:
        routing.yaml's, else 5), or take one away for today; recorded with who did it
        and audited. The routing loop makes the seat a member of the queue, or not,
        within a round; the next day routing.yaml holds again. Asking for what already
        holds records nothing."""
        seat = self.seat(seat_id)
        routing = self.routing
        if queue not in routing.queues:
            raise SeatBadSkill(f"unknown queue {queue[:40]!r} (routing.yaml has: "
                               f"{', '.join(routing.queues)})")
        if level is not None and (not add or not 1 <= level <= 9):
            raise SeatBadSkill("a level goes with adding a skill, from 1 (can answer) to 9 "
                               "(expert)")
        base = seat.skills.get(queue)
        group = routing.groups[seat.group]
        if (add and base is None and group.remote and group.area_codes
                and region_queue_name(queue, group.id) not in routing.region_queues()):
            raise SeatBadSkill(
                f"{seat.name} of {group.name} cannot take {routing.queues[queue].name} "
                "for a day: its bureau has no region queue for it in queues.conf (give "
                "the seat the skill in routing.yaml and reload)")
        now = self.clock()
        day = now.astimezone(CHINA).date()
        current = (await self.skills.of_day(day)).get(seat_id, {})
        want = (level or base or DEFAULT_LEVEL) if add else None
        if want == current.get(queue, base):
            return SkillChange(seat_id, queue, want, day, changed=False)
        await self.skills.change(seat_id, day, queue, want, keep=want != base, actor=actor,
                                 at=now)
        log.info("seat.skill_changed", seat=seat_id, queue=queue, level=want, actor=actor)
        return SkillChange(seat_id, queue, want, day)
