"""Routing policy, pure: which seats serve which queue, at what priority, and when remote
seats are pulled in (overflow) or a queue is left uncovered.

Asterisk's app_queue rings the members; the policy decides the members. Centre seats
with a skill are members of that queue at a penalty from their level (an expert rings
first). Remote seats (city bureaus, 远程座席) are members only while overflow is on for the
queue, at `remote_penalty` more, so the centre always rings first. Overflow turns on when
the queue's waiting callers or expected wait reach the `enter` thresholds, or when no
centre seat can answer; it turns off only when both are at or below `leave` for `after`
seconds (hysteresis: no flapping). During opening hours, a queue that no seat on duty
covers (no centre seat on duty, and no moved-in remote seat on duty pulled in by
overflow) raises a coverage alert, whether or not callers are waiting yet; overflow
pulls in the moved-in remote seats (顶岗) as soon as a caller waits.

Two words, defined here once for the routing loop, the wallboard and `hotline queues`:
a seat is **free** when Asterisk would ring it for a new caller now (logged in, not
paused, its phone idle: not on a call, not ringing, reachable, and not in the queue's
wrap-up after a call); a seat is **on duty** when it is logged in with a reachable phone,
whether free, busy, ringing, in wrap-up or on a short pause.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from hotline.core.routing.config import RoutingConfig

# -- state ---------------------------------------------------------------------------------


# Asterisk's device state of a phone that can be rung for a new caller.
IDLE_DEVICE = "not_in_use"
# Device states of a phone that cannot take a call at all (nothing registered there).
UNREACHABLE_DEVICES = frozenset({"unavailable", "invalid"})


def wrapping_up(last_call: float, wrapup: float, now: float) -> bool:
    """Within the queue's wrap-up after the member's last call ended (Asterisk's
    LastCall, epoch seconds; 0: no call yet): Asterisk does not ring it then."""
    return wrapup > 0 and last_call > 0 and 0 <= now - last_call < wrapup


def phone_ready(device: str | None, in_call: bool, in_wrapup: bool) -> bool:
    """The phone can be rung for a new caller now: idle, not on a call, not in wrap-up.
    A phone Asterisk does not report (None) is not."""
    return device == IDLE_DEVICE and not in_call and not in_wrapup


def phone_reachable(device: str | None) -> bool:
    """The phone can take calls at all (an unknown one is taken as reachable)."""
    return device not in UNREACHABLE_DEVICES


@dataclass(frozen=True)
class SeatState:
    logged_in: bool = False
    paused: str | None = None  # the pause reason, None when not paused
    moved_in: bool = False  # a remote seat in provincial service (迁入)
    busy: bool = False  # its phone cannot be rung now (not phone_ready)
    reachable: bool = True  # its phone can take calls at all (phone_reachable)

    @property
    def available(self) -> bool:
        """Free: Asterisk would ring it for a new caller now."""
        return self.logged_in and self.paused is None and not self.busy

    @property
    def on_duty(self) -> bool:
        """Staffed: logged in with a reachable phone (free, busy or on a pause)."""
        return self.logged_in and self.reachable


def wrapup_of(config: RoutingConfig, queue: str) -> int:
    """The wrap-up seconds of a queue or region queue (a region queue has its queue's)."""
    found = config.queues.get(config.base_queue(queue))
    return found.wrapup if found is not None else 0


def is_free(paused: bool, device: str | None, in_call: bool, in_wrapup: bool) -> bool:
    """A queue member (so logged in) that is free, from Asterisk's view of it."""
    return not paused and phone_ready(device, in_call, in_wrapup)


@dataclass(frozen=True)
class QueueLoad:
    waiting: int = 0
    expected_wait: float = 0.0  # seconds a new caller is expected to wait


@dataclass(frozen=True)
class OverflowState:
    active: bool = False
    calm_since: float | None = None  # when the pressure first fell below `leave`


@dataclass(frozen=True)
class Snapshot:
    now: float  # seconds (monotonic or epoch: only differences matter)
    open: bool  # opening hours: the coverage guard applies
    seats: Mapping[str, SeatState]
    loads: Mapping[str, QueueLoad]
    overflow: Mapping[str, OverflowState] = field(default_factory=dict)
    # Queues with their own hours (calendar.yaml's queue_hours): open or not, instead of
    # `open`.
    queue_open: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    queue: str
    code: str  # no-seat-available
    message: str


@dataclass(frozen=True)
class Decision:
    overflow: Mapping[str, OverflowState]
    members: Mapping[str, Mapping[str, int]]  # queue -> seat id -> penalty
    alerts: tuple[Alert, ...] = ()


def pause_code(reasons: Mapping[str, str], text: str | None) -> str | None:
    """The pause reason staff typed, as its code: a code of routing.yaml's pause_reasons
    (meal) or its label (用餐, 午休 where configured); None if it is neither."""
    if text is None:
        return None
    word = text.strip()
    if word in reasons:
        return word
    return next((code for code, label in reasons.items() if label == word), None)


# -- the decision ---------------------------------------------------------------------------


def next_overflow(policy_enter_waiting: int, policy_enter_wait: float,
                  policy_leave_waiting: int, policy_leave_wait: float, policy_after: float,
                  state: OverflowState, load: QueueLoad, centre_available: int,
                  now: float) -> OverflowState:
    pressure = (load.waiting >= policy_enter_waiting
                or load.expected_wait >= policy_enter_wait
                or (centre_available == 0 and load.waiting > 0))
    if not state.active:
        return OverflowState(True, None) if pressure else state
    calm = (load.waiting <= policy_leave_waiting and load.expected_wait <= policy_leave_wait
            and centre_available > 0)
    if not calm:
        return replace(state, calm_since=None) if state.calm_since is not None else state
    if state.calm_since is None:
        return replace(state, calm_since=now) if policy_after > 0 else OverflowState()
    if now - state.calm_since >= policy_after:
        return OverflowState()
    return state


class QueueDecision(NamedTuple):
    """(A tuple: made for every queue of every routing round, and a frozen dataclass
    costs several times more to make.)"""

    queue: str
    overflow: OverflowState
    members: Mapping[str, int]  # seat id -> penalty
    alert: Alert | None = None


def decide_queue(config: RoutingConfig, snap: Snapshot, queue: str) -> QueueDecision:
    """One queue: what a change of its load or of one of its seats calls for. This is
    the decision taken on every queue event, so it only looks at the queue's own seats
    (one pass over them: it runs for every queue of every routing round too)."""
    policy = config.overflow
    states = snap.seats
    centre_available = 0
    centre_on_duty = 0
    remote_on_duty = 0
    members: dict[str, int] = {}  # the centre's logged-in seats
    remote: list[tuple[str, int]] = []  # logged-in, moved-in remote seats, if overflow
    for seat_id, penalty, is_remote in config.ranks_for(queue):
        state = states.get(seat_id)
        if state is None or not state.logged_in:
            continue
        # SeatState.available and .on_duty, inlined (this runs for every queue event).
        available = state.paused is None and not state.busy
        if is_remote:
            if state.moved_in:
                remote.append((seat_id, penalty))
                remote_on_duty += state.reachable
        else:
            members[seat_id] = penalty
            centre_available += available
            centre_on_duty += state.reachable
    load = snap.loads.get(queue, QueueLoad())
    flow = next_overflow(policy.enter.waiting, policy.enter.expected_wait,
                         policy.leave.waiting, policy.leave.expected_wait,
                         policy.leave.after, snap.overflow.get(queue, OverflowState()),
                         load, centre_available, snap.now)
    if flow.active:
        extra = policy.remote_penalty
        for seat_id, penalty in remote:
            members[seat_id] = penalty + extra
    alert = None
    if (centre_on_duty == 0 and (remote_on_duty == 0 or not flow.active)
            and snap.queue_open.get(queue, snap.open)):
        alert = Alert(queue, "no-seat-available",
                      f"队列 {config.queues[queue].name} 没有在岗座席")
    return QueueDecision(queue, flow, members, alert)


def region_members(config: RoutingConfig, snap: Snapshot) -> dict[str, dict[str, int]]:
    """The members of each region queue: the city bureau's logged-in, moved-in seats with
    the skill, experts first. Overflow does not matter here: a caller of that city who
    asked for their region rings these seats before the queue's."""
    out: dict[str, dict[str, int]] = {}
    states = snap.seats
    for name, ranks in config.region_ranks():
        members: dict[str, int] = {}
        for seat_id, penalty in ranks:
            state = states.get(seat_id)
            if state is not None and state.logged_in and state.moved_in:
                members[seat_id] = penalty
        out[name] = members
    return out


def decide(config: RoutingConfig, snap: Snapshot) -> Decision:
    """Overflow per queue, the members each queue (and region queue) should have, and
    coverage alerts."""
    parts = [decide_queue(config, snap, queue) for queue in config.queues]
    members: dict[str, Mapping[str, int]] = {p.queue: p.members for p in parts}
    members.update(region_members(config, snap))
    return Decision({p.queue: p.overflow for p in parts}, members,
                    tuple(p.alert for p in parts if p.alert is not None))


# -- applying it ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One change of a queue's members to bring them to the decision."""

    action: str  # add | remove | penalty (a new penalty for a member)
    queue: str
    seat: str
    penalty: int = 0


def changes(current: Mapping[str, Mapping[str, int]],
            desired: Mapping[str, Mapping[str, int]]) -> list[Change]:
    """The fewest actions from `current` members to `desired` (queue -> seat -> penalty):
    only what differs, so an unchanged decision issues nothing (no action storms)."""
    out: list[Change] = []
    for queue in sorted(set(current) | set(desired)):
        now = current.get(queue, {})
        want = desired.get(queue, {})
        for seat in sorted(set(now) - set(want)):
            out.append(Change("remove", queue, seat))
        for seat in sorted(set(want) - set(now)):
            out.append(Change("add", queue, seat, want[seat]))
        for seat in sorted(set(want) & set(now)):
            if want[seat] != now[seat]:
                out.append(Change("penalty", queue, seat, want[seat]))
    return out

