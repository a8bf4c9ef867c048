"""Keeps Asterisk's queue members as the routing policy wants them.

Every `interval` seconds, and soon after any queue event, it reads what Asterisk has
(its queue status), what the ledger says of each seat (logged in, paused, moved in),
decides (hotline.core.routing.policy) and sends only the difference: members added,
removed, given another penalty, paused or unpaused. That one loop carries overflow in and
out (remote seats join a queue under pressure and leave when it has been calm), fixes
drift after hotline or Asterisk restarts (reconciliation), and raises the coverage alert.
It manages only dynamic members of seats in config/routing.yaml; static members of
queues.conf are left alone.

Queue events only say that something changed: under load they come by the thousand (every
caller joining, ringing, leaving; every seat's phone changing state), and a round per
event cost more CPU than Asterisk itself spent on the calls. So rounds are coalesced: at
most one every `min_gap` seconds, whatever the event rate, the events of the gap folded
into the next round. A change is acted on within `min_gap` plus one round.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import structlog

from hotline.common.clock import CHINA
from hotline.core.calls.live import QueueStatus
from hotline.core.configuration import ConfigAccessor
from hotline.core.routing.config import RoutingConfig, with_day_skills
from hotline.core.routing.policy import (
    Alert,
    OverflowState,
    QueueLoad,
    SeatState,
    Snapshot,
    changes,
    decide,
    phone_reachable,
    phone_ready,
    wrapping_up,
    wrapup_of,
)
from hotline.ledger.seats import SeatBook, SeatRecord
from hotline.ledger.skills import DaySkills, SkillBook
from hotline.ledger.store import Ledger
from hotline.pbx.gateway import (
    AmiActionFailed,
    AmiAlready,
    AmiError,
    AmiGateway,
    Spawn,
    Subscription,
)

log = structlog.get_logger("hotline.routing")



class RoutingLoop:
    def __init__(self, gateway: AmiGateway, ledger: Ledger, config: ConfigAccessor,
                 is_open: Callable[[datetime], bool], clock: Callable[[], datetime],
                 interval: float = 2.0,
                 queue_open: Callable[[datetime], Mapping[str, bool]] | None = None,
                 min_gap: float = 0.25) -> None:
        self.gateway = gateway
        self.book = SeatBook(ledger)
        self.skills = SkillBook(ledger)
        # The live configuration; each round works on the routing.yaml live at its start
        # (`routing`, which the wallboard reads too).
        self.config = config
        self.routing = self._live_routing()
        self.is_open = is_open
        self.queue_open = queue_open  # the queues with their own hours: open or not
        self.clock = clock
        self.interval = interval
        self.min_gap = min_gap  # seconds from one round's start to the next's, at least
        self.rounds = 0  # rounds done by run() (tests and the benchmark count them)
        self.overflow: dict[str, OverflowState] = {}
        self.alerts: dict[str, Alert] = {}
        self._poke = asyncio.Event()
        self._retired: set[str] = set()  # devices of seats a reload removed
        # The last round's QueueStatus and when it was taken (the wallboard shows it).
        self.live: dict[str, QueueStatus] = {}
        self.live_at: datetime | None = None
        self.records: dict[str, SeatRecord] = {}  # the seats as the ledger has them
        # routing.yaml with today's skill changes (a leader's, seat_skill_days): what
        # the last round decided on
        self.day_routing = self.routing
        self._day_skills: DaySkills = {}
        self._day_base = self.routing  # the routing.yaml day_routing was made from

    def _live_routing(self) -> RoutingConfig:
        routing = self.config().routing
        if routing is None:
            raise RuntimeError("the routing loop runs only with a routing.yaml")
        return routing

    def _follow(self) -> None:
        """A new routing.yaml (reloaded): seats it no longer has leave their queues in
        this round; overflow of queues it no longer has is forgotten."""
        routing = self._live_routing()
        if routing is self.routing:
            return
        kept = {seat.device for seat in routing.seats.values()}
        self._retired |= {seat.device for seat in self.routing.seats.values()} - kept
        self.overflow = {q: s for q, s in self.overflow.items() if q in routing.queues}
        self.routing = routing

    async def _follow_day_skills(self) -> None:
        """Today's skill changes (Beijing day) on routing.yaml; the combined config is
        made again only when they (or routing.yaml) changed, keeping its indexes."""
        day = await self.skills.of_day(self.clock().astimezone(CHINA).date())
        if day != self._day_skills or self._day_base is not self.routing:
            self._day_skills, self._day_base = day, self.routing
            self.day_routing = with_day_skills(self.routing, day)

    def poke(self) -> None:
        """A round soon (a reload changed routing.yaml, a queue event came)."""
        self._poke.set()

    def attach(self, spawn: Spawn | None = None) -> Subscription:
        # A queue change starts a round soon: the decision, and the wallboard's view of
        # the queues (a member added or removed by the last round is seen by the next).
        return self.gateway.subscribe_queue_changes(self.poke, spawn=spawn)

    async def run(self) -> None:
        last = -self.min_gap  # monotonic time of the last round's start
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._poke.wait()
            # Coalesce: what else comes meanwhile is folded into this round.
            wait = last + self.min_gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            # Cleared before the round: an event during it calls for another one (its
            # QueueStatus may have been read before the change).
            self._poke.clear()
            if not self.gateway.connected.is_set():
                continue
            last = time.monotonic()
            try:
                await self.round()
            except AmiError as exc:
                log.warning("routing.round_failed", error=str(exc))
            self.rounds += 1

    async def round(self) -> None:
        """One look at Asterisk and the ledger, one decision, the difference applied."""
        self._follow()
        live = await self.gateway.queue_status()
        self.live, self.live_at = live, self.clock()
        for moved in await self.book.expire_moves(self.clock()):
            log.warning("seat.moved_out_at_until", seat=moved.seat)
        records = await self.book.states()
        self.records = records
        await self._follow_day_skills()
        device_of = {seat.device: seat.id for seat in self.routing.seats.values()}
        epoch = self.clock().timestamp()
        # Free only if every queue it is in could ring it now (policy.phone_ready).
        ready: set[str] = set()
        busy: set[str] = set()
        unreachable: set[str] = set()
        current: dict[str, dict[str, int]] = {
            q: {} for q in [*self.routing.queues, *self.routing.region_queues()]}
        paused_live: dict[str, bool] = {}
        for queue in live.values():
            for member in queue.members:
                if member.interface in self._retired and member.dynamic:
                    await self._send(self.gateway.queue_remove(queue.queue, member.interface),
                                     "remove", queue.queue, member.interface)
                    continue
                seat_id = device_of.get(member.interface)
                if seat_id is None:
                    continue
                wrap = wrapping_up(member.last_call, wrapup_of(self.routing, queue.queue),
                                   epoch)
                (ready if phone_ready(member.status, member.in_call, wrap) else busy).add(
                    seat_id)
                if not phone_reachable(member.status):
                    unreachable.add(seat_id)
                if member.dynamic and queue.queue in current:
                    current[queue.queue][seat_id] = member.penalty
                    paused_live[seat_id] = member.paused
        seats = {sid: SeatState(r.logged_in, r.paused, r.moved_in,
                                busy=sid in busy or sid not in ready,
                                reachable=sid not in unreachable)
                 for sid, r in records.items()}
        now = self.clock()
        snap = Snapshot(time.monotonic(), self.is_open(now), seats, _loads(live),
                        dict(self.overflow),
                        self.queue_open(now) if self.queue_open is not None else {})
        decision = decide(self.day_routing, snap)
        for name, state in decision.overflow.items():
            before = self.overflow.get(name, OverflowState())
            if state.active != before.active:
                log.warning("routing.overflow_on" if state.active else "routing.overflow_off",
                            queue=name, load=snap.loads.get(name, QueueLoad()).__dict__)
        self.overflow = dict(decision.overflow)
        await self._apply(current, decision.members, records, paused_live)
        self._alerts(decision.alerts)

    async def _apply(self, current: Mapping[str, Mapping[str, int]],
                     desired: Mapping[str, Mapping[str, int]],
                     records: Mapping[str, SeatRecord],
                     paused_live: Mapping[str, bool]) -> None:
        gateway = self.gateway
        for change in changes(current, desired):
            seat = self.routing.seats[change.seat]
            operation: Awaitable[None]
            if change.action == "add":
                record = records.get(change.seat)
                paused = record is not None and record.paused is not None
                operation = gateway.queue_add(change.queue, seat.device, seat.name,
                                              change.penalty, paused=paused)
            elif change.action == "remove":
                operation = gateway.queue_remove(change.queue, seat.device)
            else:
                operation = gateway.queue_penalty(change.queue, seat.device, change.penalty)
            await self._send(operation, change.action, change.queue, seat.device,
                             penalty=change.penalty)
        # Pauses the ledger knows and Asterisk does not (after a restart), or the reverse.
        for seat_id, live_paused in paused_live.items():
            known = records.get(seat_id)
            want = known is not None and known.paused is not None
            if want != live_paused:
                reason = self.routing.pause_reasons.get(
                    known.paused if known is not None and known.paused else "", "")
                device = self.routing.seats[seat_id].device
                await self._send(gateway.queue_pause(device, want, reason),
                                 "pause" if want else "unpause", None, device, reason=reason)

    async def _send(self, operation: Awaitable[None], change: str, queue: str | None,
                    interface: str, **details: object) -> None:
        """Apply one change; one Asterisk refuses is logged, and the next round tries
        again if it still differs. A change already made (a seat's login or logout
        command applies its membership too, between this round's QueueStatus and now)
        is the intent met: no warning."""
        try:
            await operation
            log.info("routing.applied", change=change, queue=queue, interface=interface,
                     **details)
        except AmiAlready:
            log.debug("routing.already_applied", change=change, queue=queue,
                      interface=interface)
        except AmiActionFailed as exc:
            log.warning("routing.action_refused", change=change, queue=queue,
                        interface=interface, error=str(exc))

    def _alerts(self, alerts: tuple[Alert, ...]) -> None:
        """One line per round for the queues that lost (or regained) cover, not one per
        queue: at every start, and every morning at opening time, no seat has logged in
        yet and every queue is uncovered. That is a state of the day, not a fault of
        hotline's (routing.yaml with a queue no seat can serve is refused at load), so a
        warning; the wallboard shows each alert for as long as it holds."""
        now = {a.queue: a for a in alerts}
        lost = sorted(set(now) - set(self.alerts))
        if lost:
            log.warning("routing.coverage_alert", queues=lost, uncovered=len(now),
                        of=len(self.routing.queues))
        regained = sorted(set(self.alerts) - set(now))
        if regained:
            log.info("routing.coverage_restored", queues=regained)
        self.alerts = now


def _loads(live: dict[str, QueueStatus]) -> dict[str, QueueLoad]:
    """Waiting callers and the expected wait: the longest current wait, or Asterisk's
    average hold time when someone waits, whichever is larger."""
    loads = {}
    for queue, status in live.items():
        longest = max((c.wait for c in status.callers), default=0)
        waiting = max(status.waiting, len(status.callers))
        expected = max(float(longest), float(status.holdtime) if waiting else 0.0)
        loads[queue] = QueueLoad(waiting, expected)
    return loads
