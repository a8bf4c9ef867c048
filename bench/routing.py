"""Seat routing, the pure policy: decision time per queue event at province scale, and the
AMI actions an overflow change costs.

A synthetic routing config built in code (seed 12366): the provincial centre and 15 city
bureaus, 500 seats with 2 to 8 skills over 50 queues, 2,000 callers waiting. A stream of
queue events (a caller arrives or leaves a queue, a seat logs in or out, pauses, takes or
ends a call, is moved in or out) drives `hotline.core.routing.policy.decide_queue`, timed per
call, against a trivial loop over the same queue's seats that only counts the available
ones (the part no policy can avoid). The full `decide()` over all 50 queues is timed too.
Then every queue's overflow is flipped on and off, counting the `changes()` each flip
issues against the remote seats that can join.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import Outcome
from hotline.core.routing.config import (
    Group,
    OverflowPolicy,
    QueueDef,
    RoutingConfig,
    Seat,
    Thresholds,
)
from hotline.core.routing.policy import (
    Change,
    OverflowState,
    QueueLoad,
    SeatState,
    Snapshot,
    changes,
    decide,
    decide_queue,
)

TITLE = ("Seat routing policy: decision time at 500 seats, 50 queues, 2,000 waiting callers; "
         "AMI actions per overflow change")

SEED = 12366
QUEUES = 50
SEATS = 500
CENTRE_SHARE = 0.6
WAITING = 2_000
EVENTS = 30_000  # queue events timed
FULL_RUNS = 400  # full decide() calls timed
TARGET_P99_MS = 1.0

# The 15 city bureaus of the province besides Hefei's centre... and Hefei's own bureau.
CITIES = (("hefei", "合肥市税务局", "0551"), ("wuhu", "芜湖市税务局", "0553"),
          ("bengbu", "蚌埠市税务局", "0552"), ("huainan", "淮南市税务局", "0554"),
          ("maanshan", "马鞍山市税务局", "0555"), ("huaibei", "淮北市税务局", "0561"),
          ("tongling", "铜陵市税务局", "0562"), ("anqing", "安庆市税务局", "0556"),
          ("huangshan", "黄山市税务局", "0559"), ("chuzhou", "滁州市税务局", "0550"),
          ("fuyang", "阜阳市税务局", "0558"), ("suzhou", "宿州市税务局", "0557"),
          ("luan", "六安市税务局", "0564"), ("chizhou", "池州市税务局", "0566"),
          ("xuancheng", "宣城市税务局", "0563"))

POLICY = OverflowPolicy(Thresholds(5, 60.0), Thresholds(1, 20.0, 120.0), 10)

MEASURES = f"""
Routing decision time of the pure policy (`hotline.core.routing.policy`, no I/O) at province
scale, and the AMI actions an overflow change costs. Target: decision p99 ≤
{TARGET_P99_MS:g} ms.

- Config (built in code, seed {SEED}): {QUEUES} queues; the centre group and
  {len(CITIES)} city bureaus (remote, one area code each); {SEATS} seats, about
  {CENTRE_SHARE:.0%} in the centre and the rest spread unevenly over the bureaus, each with
  2 to 8 skills (levels 1 to 9) drawn with uneven (Zipf-like) queue popularity, from about
  10 seats for the rarest queue to over 300 for the most popular. Overflow: enter at 5
  waiting or 60 s, leave at 1 / 20 s after 120 s calm, remote penalty 10.
- State: {WAITING:,} callers waiting, spread unevenly (Zipf-like) over the queues, expected
  wait 1 to 6 s per caller waiting; seats logged in or out, paused (meal, training, after call
  work), busy, remote seats moved in or not; overflow already on where the load calls for it.
- Events ({EVENTS:,}, the same stream for both sides): 60% a caller arrives at or leaves a
  queue (the total stays near {WAITING:,}), 40% one seat changes (logs in or out, pauses or
  resumes, takes or ends a call, is moved in or out), advancing `now` by 0 to 0.1 s. A queue
  event is decided with one `decide_queue()` call; a seat event with one per queue of the
  seat's skills, each timed on its own (and the seat event's sum reported too). The
  decision's overflow state is fed into the next snapshot, outside the timing.
- Baseline, timed on the same events right after the policy (the order alternating): a
  loop over the same queue's seats (`config.seats_for`) that only counts the available
  ones: the irreducible part of any decision, so the ratio is the policy's overhead.
  Full `decide()` over all {QUEUES} queues: {FULL_RUNS} calls spread over the stream,
  against the same counting loop over every queue.
- Times with `time.perf_counter_ns`, garbage collector on (as in the service).
- AMI actions per overflow change: for each queue, from its state in the stream's final
  snapshot with overflow off, the load raised to `enter` (overflow on), then lowered to 0
  and held calm for `leave.after` (overflow off); `changes()` between the members before
  and after each flip, against the queue's remote members (remote seats with the skill
  that are logged in and moved in) and all its remote seats with the skill. A second
  identical decision must issue nothing.
"""


# -- the synthetic province ------------------------------------------------------------------


@dataclass
class World:
    config: RoutingConfig
    seats: dict[str, SeatState]
    loads: dict[str, QueueLoad]
    overflow: dict[str, OverflowState]
    queue_weights: list[float]


def build(rng: random.Random) -> World:
    queue_ids = [f"q{i:02d}" for i in range(QUEUES)]
    queues = {q: QueueDef(q, f"咨询队列{i + 1}") for i, q in enumerate(queue_ids)}
    groups = {"centre": Group("centre", "省局12366中心", "centre")}
    for gid, name, code in CITIES:
        groups[gid] = Group(gid, name, "remote", (code,))
    # Queue popularity: Zipf-like, shuffled so it is not the queue order.
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(QUEUES)]
    rng.shuffle(weights)
    city_weights = [rng.uniform(0.3, 3.0) for _ in CITIES]
    seats: dict[str, Seat] = {}
    states: dict[str, SeatState] = {}
    centre_count = round(SEATS * CENTRE_SHARE)
    for index in range(SEATS):
        centre = index < centre_count
        group = "centre" if centre else rng.choices([c[0] for c in CITIES], city_weights)[0]
        sid = f"{8000 + index}"
        count = rng.randint(2, 8)
        chosen: set[str] = set()
        while len(chosen) < count:
            chosen.add(rng.choices(queue_ids, weights)[0])
        skills = {q: rng.randint(1, 9) for q in sorted(chosen)}
        seats[sid] = Seat(sid, f"座席{sid}", group, f"Local/{sid}@seats/n", skills)
        states[sid] = random_state(rng, remote=not centre)
    config = RoutingConfig(queues, groups, seats, POLICY)
    # 2,000 callers, unevenly: the popular queues take most.
    loads: dict[str, QueueLoad] = {}
    counts = {q: 0 for q in queue_ids}
    for q in rng.choices(queue_ids, [w ** 1.5 for w in weights], k=WAITING):
        counts[q] += 1
    for q, n in counts.items():
        loads[q] = QueueLoad(n, n * rng.uniform(1.0, 6.0))
    overflow = {q: OverflowState(loads[q].waiting >= POLICY.enter.waiting
                                 or loads[q].expected_wait >= POLICY.enter.expected_wait)
                for q in queue_ids}
    return World(config, states, loads, overflow, weights)


def random_state(rng: random.Random, remote: bool) -> SeatState:
    if rng.random() < (0.25 if remote else 0.1):
        return SeatState()
    paused = (rng.choice(("meal", "training", "after_call_work"))
              if rng.random() < 0.15 else None)
    busy = paused is None and rng.random() < 0.5
    moved_in = remote and rng.random() < 0.6
    return SeatState(True, paused, moved_in, busy)


def seat_change(rng: random.Random, state: SeatState, remote: bool) -> SeatState:
    roll = rng.random()
    if not state.logged_in:
        return SeatState(True, None, remote and rng.random() < 0.6, False)
    if roll < 0.1:
        return SeatState()
    if roll < 0.3:
        return SeatState(True, None if state.paused else rng.choice(("meal", "training")),
                         state.moved_in, False)
    if roll < 0.85:
        return SeatState(True, state.paused, state.moved_in,
                         not state.busy and state.paused is None)
    return SeatState(True, state.paused, remote and not state.moved_in, state.busy)


# -- the measurement ---------------------------------------------------------------------------


def count_available(config: RoutingConfig, snap: Snapshot, queue: str) -> int:
    """The baseline: the queue's seats, counting the available ones, nothing else."""
    count = 0
    seats = snap.seats
    for seat, _remote in config.seats_for(queue):
        state = seats.get(seat.id)
        if state is not None and state.available:
            count += 1
    return count


def count_all(config: RoutingConfig, snap: Snapshot) -> int:
    return sum(count_available(config, snap, q) for q in config.queues)


def percentile(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


@dataclass
class Timings:
    policy: list[float]  # seconds per decide_queue call
    baseline: list[float]
    seat_policy: list[float]  # seconds per seat event (all its queues)
    seat_baseline: list[float]
    full_policy: list[float]
    full_baseline: list[float]
    seconds: float
    overflow_on: int  # queues with overflow on at the end


def stream(world: World, rng: random.Random) -> Timings:
    config = world.config
    clock = time.perf_counter_ns
    queue_ids = list(config.queues)
    seat_ids = list(config.seats)
    remote = {sid: config.groups[s.group].remote for sid, s in config.seats.items()}
    now = 1_000_000.0
    t = Timings([], [], [], [], [], [], 0.0, 0)
    snap = Snapshot(now, True, world.seats, world.loads, world.overflow)
    decide(config, snap)  # builds the seats_for index once, as the service does at start
    full_every = max(1, EVENTS // FULL_RUNS)
    started = time.perf_counter()
    for event in range(EVENTS):
        now += rng.uniform(0.0, 0.1)
        seat_event = rng.random() >= 0.6
        if not seat_event:
            total = sum(load.waiting for load in world.loads.values())
            if total < WAITING or (total == WAITING and rng.random() < 0.5):
                queue = rng.choices(queue_ids, world.queue_weights)[0]
                delta = 1
            else:
                busy = [q for q in queue_ids if world.loads[q].waiting]
                queue = rng.choices(busy, [world.loads[q].waiting for q in busy])[0]
                delta = -1
            waiting = world.loads[queue].waiting + delta
            world.loads[queue] = QueueLoad(waiting, waiting * rng.uniform(1.0, 6.0))
            targets = [queue]
        else:
            sid = rng.choice(seat_ids)
            world.seats[sid] = seat_change(rng, world.seats[sid], remote[sid])
            targets = list(config.seats[sid].skills)
        snap = Snapshot(now, True, world.seats, world.loads, world.overflow)
        policy_first = event % 2 == 0
        policy_total = baseline_total = 0
        for queue in targets:
            if policy_first:
                a = clock()
                part = decide_queue(config, snap, queue)
                b = clock()
                count_available(config, snap, queue)
                c = clock()
                spent, base = b - a, c - b
            else:
                a = clock()
                count_available(config, snap, queue)
                b = clock()
                part = decide_queue(config, snap, queue)
                c = clock()
                spent, base = c - b, b - a
            t.policy.append(spent / 1e9)
            t.baseline.append(base / 1e9)
            policy_total += spent
            baseline_total += base
            world.overflow[queue] = part.overflow
        if seat_event:
            t.seat_policy.append(policy_total / 1e9)
            t.seat_baseline.append(baseline_total / 1e9)
        if event % full_every == 0:
            full_s, base_s = _time_full(config, snap, policy_first)
            t.full_policy.append(full_s)
            t.full_baseline.append(base_s)
    t.seconds = time.perf_counter() - started
    t.overflow_on = sum(state.active for state in world.overflow.values())
    return t


def _time_full(config: RoutingConfig, snap: Snapshot, policy_first: bool) -> tuple[float, float]:
    clock = time.perf_counter_ns
    if policy_first:
        a = clock()
        decide(config, snap)
        b = clock()
        count_all(config, snap)
        c = clock()
        return (b - a) / 1e9, (c - b) / 1e9
    a = clock()
    count_all(config, snap)
    b = clock()
    decide(config, snap)
    c = clock()
    return (c - b) / 1e9, (b - a) / 1e9


# -- AMI actions per overflow change ----------------------------------------------------------


@dataclass
class Flip:
    queue: str
    remote_seats: int  # remote seats with the skill
    remote_members: int  # ... logged in and moved in: those overflow adds
    on: list[Change]
    off: list[Change]
    repeat: int  # actions issued by a second, identical decision
    left: bool  # overflow went off after the calm period


def flips(world: World) -> list[Flip]:
    config = world.config
    policy = config.overflow
    out = []
    now = 2_000_000.0
    for queue in config.queues:
        seats = config.seats_for(queue)
        remote_seats = [s for s, remote in seats if remote]
        remote_members = [s for s in remote_seats
                          if world.seats[s.id].logged_in and world.seats[s.id].moved_in]

        def at(when: float, waiting: int, state: OverflowState,
               queue: str = queue) -> Snapshot:
            return Snapshot(when, True, world.seats, {queue: QueueLoad(waiting, 0.0)},
                            {queue: state})

        off = decide_queue(config, at(now, 0, OverflowState()), queue)
        on = decide_queue(config, at(now, policy.enter.waiting, off.overflow), queue)
        again = decide_queue(config, at(now + 1, policy.enter.waiting, on.overflow), queue)
        calm = decide_queue(config, at(now + 2, 0, on.overflow), queue)
        after = decide_queue(config, at(now + 2 + policy.leave.after, 0, calm.overflow), queue)
        out.append(Flip(queue, len(remote_seats), len(remote_members),
                        changes({queue: off.members}, {queue: on.members}),
                        changes({queue: calm.members}, {queue: after.members}),
                        len(changes({queue: on.members}, {queue: again.members})),
                        not after.overflow.active and on.overflow.active))
    return out


# -- the report ----------------------------------------------------------------------------------


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def _latency_rows(label: str, policy: Sequence[float], baseline: Sequence[float],
                  target: Callable[[float], tuple[str, str]] | None) -> list[list[str]]:
    rows = []
    for name, pick in (("p50", lambda s: percentile(s, 50)), ("p99", lambda s: percentile(s, 99)),
                       ("p99.9", lambda s: percentile(s, 99.9)), ("max", max)):
        value, base = pick(policy), pick(baseline)
        goal, met = target(value) if target is not None and name == "p99" else ("", "")
        rows.append([f"{label}, {name} (µs)", _us(value), _us(base), _ratio(value, base),
                     goal, met])
    return rows


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def run() -> Outcome:
    rng = random.Random(SEED)
    world = build(rng)
    config = world.config
    sizes = [len(config.seats_for(q)) for q in config.queues]
    centre = sum(not config.groups[s.group].remote for s in config.seats.values())
    skills = [len(s.skills) for s in config.seats.values()]
    start_overflow = sum(state.active for state in world.overflow.values())
    # decide() is decide_queue() per queue: checked once, outside the timing.
    snap = Snapshot(0.0, True, world.seats, world.loads, world.overflow)
    whole = decide(config, snap)
    for queue in config.queues:
        assert whole.members[queue] == decide_queue(config, snap, queue).members

    t = stream(world, rng)
    print(f"stream: {len(t.policy):,} decisions in {t.seconds:.1f} s", flush=True)
    target_s = TARGET_P99_MS / 1000
    p99 = percentile(t.policy, 99)
    met = p99 <= target_s

    def goal(value: float) -> tuple[str, str]:
        return f"≤ {TARGET_P99_MS * 1000:,.0f} µs", "yes" if value <= target_s else "**no**"

    full_p99 = percentile(t.full_policy, 99)

    def full_goal(value: float) -> tuple[str, str]:
        return (f"(≤ {TARGET_P99_MS * 1000:,.0f} µs, not required)",
                "yes" if value <= target_s else "no")

    rows = _latency_rows("decide_queue(), one queue's decision", t.policy, t.baseline, goal)
    rows += _latency_rows(f"seat event: decide_queue() for each of its skills "
                          f"({_mean(skills):.1f} on average)", t.seat_policy, t.seat_baseline,
                          None)[:2]
    rows += _latency_rows(f"full decide(), all {QUEUES} queues", t.full_policy,
                          t.full_baseline, full_goal)

    result = flips(world)
    on_counts = [len(f.on) for f in result]
    off_counts = [len(f.off) for f in result]
    members = [f.remote_members for f in result]
    remote_all = [f.remote_seats for f in result]
    exact_on = all(len(f.on) == f.remote_members
                   and all(c.action == "add" for c in f.on) for f in result)
    left = [f for f in result if f.left]
    exact_off = all(len(f.off) == f.remote_members
                    and all(c.action == "remove" for c in f.off) for f in left)
    repeats = sum(f.repeat for f in result)
    bounded = all(a <= f.remote_seats for f in result for a in (len(f.on), len(f.off)))
    ratio_on = sum(on_counts) / sum(members) if sum(members) else float("nan")
    ratio_off = (sum(len(f.off) for f in left) / sum(f.remote_members for f in left)
                 if left and sum(f.remote_members for f in left) else float("nan"))
    ratio_all = sum(on_counts) / sum(remote_all) if sum(remote_all) else float("nan")
    actions_met = exact_on and exact_off and bounded and repeats == 0
    rows += [
        ["AMI actions per overflow on (QueueAdd), max / mean per queue",
         f"{max(on_counts)} / {_mean(on_counts):.1f}",
         f"{max(members)} / {_mean(members):.1f} remote members", f"{ratio_on:.2f}x",
         "= 1 per remote member", "yes" if exact_on else "**no**"],
        ["AMI actions per overflow off (QueueRemove), max / mean per queue",
         f"{max(off_counts)} / {_mean(off_counts):.1f}",
         f"{max(members)} / {_mean(members):.1f} remote members", f"{ratio_off:.2f}x",
         "= 1 per remote member", "yes" if exact_off else "**no**"],
        ["AMI actions per overflow on vs all remote seats with the skill",
         f"{sum(on_counts):,}", f"{sum(remote_all):,}", f"{ratio_all:.2f}x", "≤ 1x",
         "yes" if bounded else "**no**"],
        ["AMI actions for a repeated identical decision (all queues)", str(repeats), "0", "",
         "0", "yes" if repeats == 0 else "**no**"],
    ]
    notes = [
        f"config: {QUEUES} queues (and {len(config.region_queues())} region queues, one "
        "per queue and city bureau with a skilled seat, whose members full decide() "
        f"computes too), {len(config.groups)} groups, {SEATS} seats ({centre} "
        f"centre, {SEATS - centre} remote), {min(skills)}–{max(skills)} skills per seat "
        f"({_mean(skills):.1f} on average); seats per queue {min(sizes)}–{max(sizes)} "
        f"({_mean(sizes):.1f} on average); {WAITING:,} callers waiting; overflow on in "
        f"{start_overflow} queues at the start, {t.overflow_on} at the end.",
        f"stream: {EVENTS:,} events, {len(t.policy):,} decide_queue() calls "
        f"({len(t.seat_policy):,} seat events), {len(t.full_policy)} full decide() calls, "
        f"{t.seconds:.1f} s (both sides and the driver).",
        f"decide_queue() per queue event: **p99 {_us(p99)} µs** (target ≤ "
        f"{TARGET_P99_MS * 1000:,.0f} µs: {'met' if met else 'NOT met'}, "
        f"{TARGET_P99_MS / 1000 / p99 if p99 else float('inf'):,.0f}x headroom); the policy "
        f"costs {_ratio(p99, percentile(t.baseline, 99))} the bare counting loop at p99. "
        f"Full decide() over {QUEUES} queues: p99 {_us(full_p99)} µs.",
        f"overflow flips: {len(result)} queues; overflow went off after the calm period in "
        f"{len(left)}"
        + (" (the others have no centre seat free: by design overflow stays on)"
           if len(left) < len(result) else "") + "; "
        f"{sum(on_counts):,} QueueAdd and {sum(len(f.off) for f in left):,} QueueRemove for "
        f"{sum(members):,} remote members.",
    ]
    return Outcome(["measure", "policy", "baseline", "policy / baseline", "target", "met"],
                   rows, notes, targets_met=met and actions_met)
