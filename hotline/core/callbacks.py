"""Callbacks that keep the caller's place (回拨): which callback to place now, and what
follows a failed attempt.

Pure: no I/O, no clock (every time is an argument). The callback loop
(features/callbacks/) reads the ledger and Asterisk's queues, asks `plan()`, and
applies the answer.

A caller waiting in a queue may press the key to be called back: their place is the
moment they joined the queue (`joined_at`). The rules:

- **Keeping the place.** A callback is placed only when it is the earliest place in its
  queue: no caller still waiting there joined before it; callbacks go in the order of
  their places (an earlier one gets the first seat). Callers who joined after it are
  never served first (as far as hotline can see: a seat Asterisk rings in the same
  second is Asterisk's).
- **Pacing.** A callback needs a free seat of its queue that no other callback holds: at
  most one callback in flight per free seat, never a burst. The seat is *held* for it
  (paused in that queue with HOLD_REASON) while the caller's phone rings, so that a
  later caller cannot take it; once the caller answers, they enter the queue ahead of
  later callers (Queue priority) and the seat is let go to ring for them.
- **Reserving ahead.** When the earliest place of a queue is a callback and no seat of
  the queue is free, one busy seat of the queue is held for it: when its call ends it is
  not rung for a later caller, and the callback is placed with it.
- **Hours.** Nothing is placed, and no seat held, outside the queue's opening hours (the
  calendar's).
- **Retries.** An attempt the caller does not answer is retried `interval` seconds
  later (at the next opening moment if that is after hours), `retries` times; after the
  last failed attempt the callback becomes a callback work order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from hotline.core.calendar.schedule import CHINA, Calendar

# The pause reason of a seat held for a callback (Asterisk's PausedReason): the routing
# loop leaves such a pause alone; the callback loop lifts it.
HOLD_REASON = "回拨保留"
STATES = ("waiting", "calling", "connected", "failed", "order")
# How far next_open() looks for an opening moment (a closure is days, not months).
HORIZON_DAYS = 60


@dataclass(frozen=True)
class CallbackRules:
    """A queue's callback settings (routing.yaml, the queue's `callback:` block)."""

    offer_after: int = 60  # seconds of waiting before the caller hears the offer
    key: str = "1"  # the key that asks for the callback
    retries: int = 2  # further attempts after the first unanswered one
    interval: int = 300  # seconds between two attempts
    ring: int = 30  # seconds the caller's phone rings on an attempt

    @property
    def attempts(self) -> int:
        """Attempts in all before the callback becomes a work order."""
        return 1 + self.retries


@dataclass(frozen=True)
class Callback:
    """A callback as the policy reads it (a `callbacks` row)."""

    id: int
    queue: str
    joined_at: datetime  # the caller's place: when they joined the queue
    state: str = "waiting"  # waiting | calling (the caller's phone rings)
    attempts: int = 0
    next_at: datetime | None = None  # not before (a retry's time)


@dataclass(frozen=True)
class SeatView:
    """A queue member as the policy reads it, from Asterisk's QueueStatus."""

    id: str
    queues: frozenset[str]  # the queues it is a member of
    free: bool  # Asterisk could ring it now, but for a callback hold
    held_for: int | None = None  # the callback it is held for (paused, HOLD_REASON)
    available: bool = True  # logged in, not on an ordinary pause, phone reachable


@dataclass(frozen=True)
class Place:
    """Place callback `callback` now, with `seat` held for it."""

    callback: int
    seat: str


@dataclass(frozen=True)
class Hold:
    """Hold `seat` (in `queue`) for `callback`."""

    callback: int
    seat: str
    queue: str


@dataclass(frozen=True)
class Plan:
    place: tuple[Place, ...] = ()
    hold: tuple[Hold, ...] = ()
    release: tuple[str, ...] = ()  # seats held for a callback that no longer needs them
    blocked: Mapping[int, str] = field(default_factory=dict)  # callback -> why it waits


def plan(callbacks: Iterable[Callback], waiting: Mapping[str, Sequence[datetime]],
         seats: Iterable[SeatView], now: datetime,
         is_open: Mapping[str, bool]) -> Plan:
    """Which callbacks to place now, which seats to hold, which holds to let go.

    `callbacks`: the callbacks waiting or in flight (`calling`); `waiting`: per queue the
    moments the callers waiting there (live, in Asterisk) joined; `seats`: the queues'
    members; `is_open`: per queue, whether it is within opening hours now (a queue
    missing: closed)."""
    seat_list = sorted(seats, key=lambda s: s.id)
    by_id = {s.id: s for s in seat_list}
    held: dict[int, str] = {}
    for member in seat_list:
        if member.held_for is not None:
            held.setdefault(member.held_for, member.id)
    keep: set[str] = set()  # held seats that stay held
    used: set[str] = set()  # seats given this round
    place: list[Place] = []
    hold: list[Hold] = []
    blocked: dict[int, str] = {}
    ordered = sorted(callbacks, key=lambda c: (c.joined_at, c.id))
    # In flight first: their seats stay theirs while the caller's phone rings.
    for cb in ordered:
        if cb.state == "calling" and cb.id in held:
            keep.add(held[cb.id])
            used.add(held[cb.id])
    for cb in ordered:
        if cb.state != "waiting":
            continue
        queue = cb.queue
        if not is_open.get(queue, False):
            blocked[cb.id] = "closed"
            continue
        if cb.next_at is not None and cb.next_at > now:
            blocked[cb.id] = "retry_later"
            continue
        if any(joined < cb.joined_at for joined in waiting.get(queue, ())):
            blocked[cb.id] = "earlier_caller"
            continue
        mine = held.get(cb.id)
        seat: SeatView | None = by_id.get(mine) if mine is not None else None
        if seat is not None and not (queue in seat.queues and seat.available):
            seat = None  # its held seat went away (logged out, moved): another one
        if seat is not None and seat.free:
            keep.add(seat.id)
            used.add(seat.id)
            place.append(Place(cb.id, seat.id))
            continue
        free = _first(seat_list, queue, used, free=True)
        if free is not None:  # a free seat now beats the busy one held for it
            used.add(free.id)
            keep.add(free.id)
            place.append(Place(cb.id, free.id))
            hold.append(Hold(cb.id, free.id, queue))
            continue
        if seat is not None:  # its held seat is still busy: it waits for that one
            keep.add(seat.id)
            used.add(seat.id)
            blocked[cb.id] = "seat_busy"
            continue
        busy = _first(seat_list, queue, used, free=False)
        if busy is not None:
            used.add(busy.id)
            keep.add(busy.id)
            hold.append(Hold(cb.id, busy.id, queue))
            blocked[cb.id] = "seat_busy"
        else:
            blocked[cb.id] = "no_seat"
    release = tuple(s.id for s in seat_list if s.held_for is not None and s.id not in keep)
    return Plan(tuple(place), tuple(hold), release, blocked)


def _first(seats: Sequence[SeatView], queue: str, used: set[str], *,
           free: bool) -> SeatView | None:
    for seat in seats:
        if (seat.id not in used and seat.held_for is None and seat.available
                and queue in seat.queues and seat.free == free):
            return seat
    return None


@dataclass(frozen=True)
class AfterAttempt:
    """What follows an unanswered attempt: tried again at `next_at`, or a work order."""

    state: str  # waiting | order
    next_at: datetime | None


def after_failed_attempt(attempts: int, rules: CallbackRules, now: datetime,
                         calendar: Calendar, queue: str | None = None) -> AfterAttempt:
    """`attempts` made so far (this one included), the last unanswered: tried again
    `interval` seconds later, within opening hours, or, after the last, a work order."""
    if attempts >= rules.attempts:
        return AfterAttempt("order", None)
    due = next_open(calendar, now + timedelta(seconds=rules.interval), queue)
    if due is None:
        return AfterAttempt("order", None)
    return AfterAttempt("waiting", due)


def next_open(calendar: Calendar, at: datetime, queue: str | None = None) -> datetime | None:
    """`at` if the queue is open then, else the next opening moment (Beijing time), or
    None within HORIZON_DAYS."""
    local = at.astimezone(CHINA)
    day = local.date()
    for offset in range(HORIZON_DAYS + 1):
        info = calendar.day(day + timedelta(days=offset), queue)
        if not info.working:
            continue
        for start, end in info.hours:
            begin = datetime.combine(info.day, start, tzinfo=CHINA)
            close = datetime.combine(info.day, end, tzinfo=CHINA) if end != time(0) else (
                begin + timedelta(days=1))
            if offset == 0 and close <= local:
                continue
            return max(begin, local) if offset == 0 else begin
    return None


def validate_rules(data: Mapping[str, object]) -> list[tuple[str, str]]:
    """Problems of a queue's `callback:` block as (key, message); none: it is valid."""
    problems: list[tuple[str, str]] = []
    allowed = ("offer_after", "key", "retries", "interval", "ring")
    for name in data:
        if name not in allowed:
            problems.append((str(name), "unknown key (expected one of: "
                             f"{', '.join(allowed)})"))
    digit = data.get("key", "1")
    if not (isinstance(digit, str | int) and not isinstance(digit, bool)
            and len(str(digit)) == 1 and str(digit) in "0123456789"):
        problems.append(("key", "the callback key is one digit, 0-9 (quote it: \"1\")"))
    for name, low, high in (("offer_after", 5, 3600), ("retries", 0, 10),
                            ("interval", 30, 86400), ("ring", 5, 120)):
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append((name, f"must be a whole number from {low} to {high}"))
    return problems


def rules_from(data: Mapping[str, object]) -> CallbackRules:
    """A valid `callback:` block (validate_rules found nothing) as CallbackRules."""
    base = CallbackRules()

    def whole(name: str, default: int) -> int:
        value = data.get(name, default)
        return value if isinstance(value, int) else default

    return CallbackRules(whole("offer_after", base.offer_after), str(data.get("key", "1")),
                         whole("retries", base.retries), whole("interval", base.interval),
                         whole("ring", base.ring))
