"""The callback loop: places the callbacks callers asked for, in the order of their
places, at the rate seats free up (hotline.core.callbacks decides; this applies it).

Every `interval` seconds (and at once when a caller asks, or Asterisk reports on an
attempt) it reads the open callbacks from the ledger and the queues from Asterisk
(QueueStatus), asks `plan()`, and:
- holds a seat for a callback: pauses it with the reason `回拨保留#<id>` (the routing
  loop leaves that pause alone);
- places a callback: an attempt row (callback_attempts), then the Originate of the
  caller's phone (pbx/callbacks.place);
- lets a hold go (unpause) once the answered caller is in the queue, ahead of later
  callers (QUEUE_PRIO), so that the held seat rings for them; or when no callback needs
  it any more (closed, connected elsewhere).
An attempt nobody answers, or that Asterisk cannot place, is retried after the queue's
interval within opening hours, then becomes a callback work order (kind callback).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from hotline.common.clock import Clock, Now
from hotline.core.callbacks import (
    HOLD_REASON,
    Callback,
    CallbackRules,
    Plan,
    SeatView,
    after_failed_attempt,
    plan,
)
from hotline.core.calls.live import QueueStatus
from hotline.core.configuration import ConfigAccessor
from hotline.core.routing.config import RoutingConfig
from hotline.core.routing.policy import phone_ready, wrapping_up, wrapup_of
from hotline.ledger.callbacks import CallbackBook, CallbackRow
from hotline.ledger.orders import OrderBook
from hotline.pbx import callbacks as pbx
from hotline.pbx.gateway import AmiError, AmiGateway, Subscription

log = structlog.get_logger("hotline.callbacks")

# An attempt Asterisk says nothing of for this long past its ring time is ended
# (no_response) and counts as unanswered.
SILENT_AFTER = 60.0
# A callback is not placed within this many seconds of the ask: the caller is still on
# the line hearing the confirmation (the seat held for them stays held).
ASK_GRACE = 10.0
# An answered caller may wait this long in the queue before it counts as unanswered.
QUEUE_WAIT = 600


def hold_reason(callback_id: int) -> str:
    return f"{HOLD_REASON}#{callback_id}"


def held_for(reason: str) -> int | None:
    """The callback a seat's pause reason holds it for (None: not a callback hold)."""
    if not reason.startswith(HOLD_REASON + "#"):
        return None
    try:
        return int(reason.removeprefix(HOLD_REASON + "#"))
    except ValueError:
        return None


@dataclass
class _Attempt:
    callback_id: int
    attempt_id: int
    channel_id: str
    started: float  # monotonic
    ring: int
    answered: bool = False


class CallbackLoop:
    def __init__(self, gateway: AmiGateway, book: CallbackBook, orders: OrderBook,
                 config: ConfigAccessor, clock: Now, service_clock: Clock, *,
                 dial: str, hello: str, interval: float = 2.0) -> None:
        self.gateway = gateway
        self.book = book
        self.orders = orders
        self.config = config
        self.clock = clock
        self.service_clock = service_clock
        self.dial = dial
        self.hello = hello
        self.interval = interval
        self.attempts: dict[int, _Attempt] = {}  # callback id -> its attempt in flight
        self.last_plan: Plan | None = None
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Look again now (a caller asked, an attempt moved on)."""
        self._wake.set()

    def attach(self) -> Subscription:
        return pbx.watch(self.gateway, self._on_event)

    async def run(self) -> None:
        await self._interrupted()
        while True:
            try:
                if self.gateway.connected.is_set():
                    await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("callbacks.round_failed", error=str(exc) or type(exc).__name__)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()

    async def _interrupted(self) -> None:
        """Attempts left in flight by an earlier run: ended (interrupted), retried."""
        for row in await self.book.open():
            if row.state != "calling":
                continue
            for attempt in await self.book.attempts(row.id):
                if attempt.ended_at is None:
                    await self._failed(row, attempt.id, "interrupted")

    # -- one round --------------------------------------------------------------------

    async def round(self) -> None:
        config = self.config()
        routing = config.routing
        rows = await self.book.open()
        if routing is None:
            return
        live = await self.gateway.queue_status()
        now = self.clock()
        await self._timeouts(rows)
        by_id = {row.id: row for row in rows}
        # An answered caller now in the queue: connected; the seat held for them rings.
        in_queue = {caller.uniqueid for status in live.values() for caller in status.callers}
        for cb_id, attempt in list(self.attempts.items()):
            if attempt.answered and attempt.channel_id in in_queue:
                row = by_id.get(cb_id)
                if row is not None and row.state == "calling":
                    await self.book.connected(cb_id, at=now)
                    log.info("callback.in_queue", callback=cb_id, queue=row.queue)
                    rows = await self.book.open()
        callbacks = [Callback(r.id, r.queue, datetime.fromisoformat(r.joined_at), r.state,
                              r.attempts, datetime.fromisoformat(r.next_at)
                              if r.next_at else None) for r in rows
                     if r.queue in routing.queues]
        waiting, seats = self._view(routing, live, now)
        at = self.service_clock.at(now)
        is_open = {q: config.calendar.state(at, q) == "open" for q in routing.queues}
        decided = plan(callbacks, waiting, seats, now, is_open)
        self.last_plan = decided
        devices = {seat.id: seat.device for seat in routing.seats.values()}
        for seat_id in decided.release:
            await self._pause(devices[seat_id], False, "")
        for hold in decided.hold:
            await self._pause(devices[hold.seat], True, hold_reason(hold.callback))
        rows_by_id = {row.id: row for row in rows}
        for place in decided.place:
            row = rows_by_id[place.callback]
            if (now - datetime.fromisoformat(row.asked_at)).total_seconds() < ASK_GRACE:
                continue  # still hearing the confirmation: its seat stays held meanwhile
            await self._place(row, rules_of(routing, row.queue))

    def _view(self, routing: RoutingConfig, live: Mapping[str, QueueStatus],
              now: datetime) -> tuple[dict[str, list[datetime]], list[SeatView]]:
        """Asterisk's queues as the policy reads them: per queue the moments its live
        callers joined (a region queue's under its queue: the wait counts from there),
        and each seat's queues, whether it could ring now, and its hold."""
        device_of = {seat.device: seat.id for seat in routing.seats.values()}
        waiting: dict[str, list[datetime]] = {}
        queues: dict[str, set[str]] = {}
        free: dict[str, bool] = {}
        held: dict[str, int | None] = {}
        available: dict[str, bool] = {}
        epoch = now.timestamp()
        for status in live.values():
            base = routing.base_queue(status.queue)
            for caller in status.callers:
                if caller.uniqueid.startswith("hotline-callback-"):
                    continue
                waiting.setdefault(base, []).append(now - timedelta(seconds=caller.wait))
            if status.queue not in routing.queues:
                continue  # region queues: their seats are members of the queue too
            for member in status.members:
                seat_id = device_of.get(member.interface)
                if seat_id is None:
                    continue
                hold = held_for(member.paused_reason) if member.paused else None
                ready = phone_ready(member.status, member.in_call, wrapping_up(
                    member.last_call, wrapup_of(routing, status.queue), epoch))
                queues.setdefault(seat_id, set()).add(status.queue)
                free[seat_id] = free.get(seat_id, True) and ready and (
                    not member.paused or hold is not None)
                if hold is not None:
                    held[seat_id] = hold
                available[seat_id] = available.get(seat_id, True) and (
                    not member.paused or hold is not None)
        seats = [SeatView(sid, frozenset(qs), free[sid], held.get(sid), available[sid])
                 for sid, qs in queues.items()]
        return waiting, seats

    async def _pause(self, device: str, paused: bool, reason: str) -> None:
        try:
            await self.gateway.queue_pause(device, paused, reason)
            log.info("callback.hold" if paused else "callback.hold_released",
                     seat=device, reason=reason)
        except AmiError as exc:
            log.warning("callback.hold_failed", seat=device, error=str(exc))

    async def _place(self, row: CallbackRow, rules: CallbackRules) -> None:
        now = self.clock()
        attempt_id = await self.book.start_attempt(row.id, at=now, channel=None)
        uid = pbx.channel_id(row.id, attempt_id)
        await self.book.set_channel(attempt_id, uid)
        self.attempts[row.id] = _Attempt(row.id, attempt_id, uid, time.monotonic(),
                                         rules.ring)
        try:
            await pbx.place(self.gateway, callback_id=row.id, attempt_id=attempt_id,
                            dial=self.dial, number=row.number, queue=row.queue,
                            wait=QUEUE_WAIT, ring=rules.ring, hello=self.hello)
        except (AmiError, ValueError) as exc:
            log.error("callback.not_placed", callback=row.id, error=str(exc))
            self.attempts.pop(row.id, None)
            await self._failed(row, attempt_id, "failed")
            return
        log.info("callback.placed", callback=row.id, queue=row.queue, attempt=row.attempts + 1)

    async def _timeouts(self, rows: list[CallbackRow]) -> None:
        """An attempt Asterisk said nothing of, long after its ring time: unanswered."""
        now = time.monotonic()
        by_id = {row.id: row for row in rows}
        for cb_id, attempt in list(self.attempts.items()):
            if attempt.answered or now - attempt.started < attempt.ring + SILENT_AFTER:
                continue
            self.attempts.pop(cb_id, None)
            row = by_id.get(cb_id)
            if row is not None and row.state == "calling":
                await self._failed(row, attempt.attempt_id, "no_response")

    async def _failed(self, row: CallbackRow, attempt_id: int, result: str) -> None:
        """An attempt that did not reach a seat: retried later, or a work order."""
        routing = self.config().routing
        rules = rules_of(routing, row.queue) if routing is not None else CallbackRules()
        now = self.clock()
        after = after_failed_attempt(row.attempts, rules, self.service_clock.at(now),
                                     self.config().calendar, row.queue)
        order_id = None
        if after.state == "order":
            label = routing.queues[row.queue].name if (
                routing is not None and row.queue in routing.queues) else row.queue
            order_id = await self.orders.from_call(
                linkedid=row.linkedid, kind="callback", number=row.number, name=None,
                at=self.service_clock.at(now),
                content=f"{label}排队回拨{row.attempts}次未接通，请回电（{row.linkedid}）")
        next_at = None
        if after.next_at is not None:
            next_at = now + (after.next_at - self.service_clock.at(now))
        await self.book.end_attempt(attempt_id, result=result, at=now, state=after.state,
                                    next_at=next_at, work_order_id=order_id)
        log.info("callback.attempt_failed", callback=row.id, result=result,
                 then=after.state)

    # -- Asterisk's word --------------------------------------------------------------

    def _on_event(self, event: pbx.CallbackEvent) -> None:
        asyncio.get_running_loop().create_task(self._handle(event))

    async def _handle(self, event: pbx.CallbackEvent) -> None:
        try:
            if isinstance(event, pbx.AttemptEnded):
                found = next((a for a in self.attempts.values()
                              if a.channel_id == event.channel_id), None)
                if found is None:
                    return
                self.attempts.pop(found.callback_id, None)
                row = await self.book.get(found.callback_id)
                if row is not None and row.state == "calling":
                    await self._failed(row, found.attempt_id, event.result)
            else:
                attempt = self.attempts.get(event.callback_id)
                row = await self.book.get(event.callback_id)
                if row is None:
                    return
                if event.state == "answered" and attempt is not None:
                    attempt.answered = True
                    log.info("callback.answered", callback=row.id)
                elif event.state in ("connected", "unanswered") and attempt is not None:
                    self.attempts.pop(event.callback_id, None)
                    if event.state == "connected":
                        await self.book.end_attempt(attempt.attempt_id, result="connected",
                                                    at=self.clock(), state="connected")
                        log.info("callback.connected", callback=row.id)
                    else:
                        await self._failed(row, attempt.attempt_id, "no_seat")
        except Exception as exc:
            log.error("callback.event_failed", error=str(exc) or type(exc).__name__)
        self.poke()


def rules_of(routing: RoutingConfig | None, queue: str) -> CallbackRules:
    spec = routing.queues.get(queue) if routing is not None else None
    return spec.callback if spec is not None and spec.callback is not None else (
        CallbackRules())
