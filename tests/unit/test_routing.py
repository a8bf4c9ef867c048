"""Seat routing: config/routing.yaml (schema and its `file:line: key.path: message`
problems), caller regions, overflow with hysteresis, queue members, the coverage guard,
the AMI changes that apply a decision, and regional preference.

Routing files are written inline, so the line a problem names can be counted in the test.
The policy is pure: time is the snapshot's `now`, controlled by the test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from hotline.common.yamlsrc import load_file, load_text
from hotline.core.ivr.dialplan import ToQueue, load_dialplan
from hotline.core.ivr.lint import menu_steps, walk
from hotline.core.routing.config import (
    Group,
    OverflowPolicy,
    QueueDef,
    RoutingConfig,
    RoutingInvalid,
    Seat,
    Thresholds,
    parse_routing,
)
from hotline.core.routing.policy import (
    Alert,
    Change,
    OverflowState,
    QueueLoad,
    SeatState,
    Snapshot,
    changes,
    decide,
    decide_queue,
    is_free,
    next_overflow,
    phone_reachable,
    phone_ready,
    wrapping_up,
)

REPO = Path(__file__).resolve().parents[2]
FILE = "config/routing.yaml"

# A valid routing file; the tests below change one line of it (line numbers kept).
BASE = """\
queues:
  center: {name: 综合咨询}
  iit: {name: 个人所得税, strategy: leastrecent}
groups:
  centre: {name: 省局12366中心, kind: centre}
  hefei: {name: 合肥市税务局, kind: remote, area_codes: ["0551"]}
seats:
  "1001": {name: 张敏, group: centre, device: Local/1001@seats/n, skills: {center: 5, iit: 3}}
  "2001": {name: 李强, group: hefei, device: PJSIP/2001, skills: {center: 4}}
overflow:
  enter: {waiting: 5, expected_wait: 60}
  leave: {waiting: 1, expected_wait: 20, after: 120}
  remote_penalty: 10
"""


def variant(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def parse(text: str) -> RoutingConfig:
    return parse_routing(load_text(text, FILE))


def problems(text: str) -> list[str]:
    with pytest.raises(RoutingInvalid) as info:
        parse(text)
    assert info.value.code == "routing-invalid"
    return info.value.problems


# -- the schema -----------------------------------------------------------------------------


def test_base_parses_into_frozen_objects() -> None:
    """The valid base file gives its queues, groups, seats, overflow and default reasons."""
    config = parse(BASE)
    assert config.queues["iit"] == QueueDef("iit", "个人所得税", "leastrecent")
    assert config.groups["hefei"] == Group("hefei", "合肥市税务局", "remote", ("0551",))
    assert config.groups["centre"].remote is False
    assert config.seats["1001"] == Seat("1001", "张敏", "centre", "Local/1001@seats/n",
                                        {"center": 5, "iit": 3})
    assert config.overflow == OverflowPolicy(Thresholds(5, 60.0), Thresholds(1, 20.0, 120.0),
                                             10)
    assert config.pause_reasons["meal"] == "用餐"
    assert [(s.id, remote) for s, remote in config.seats_for("center")] == [
        ("1001", False), ("2001", True)]


def test_unknown_top_level_key() -> None:
    """A top-level key routing does not know is named at its line with the allowed keys."""
    assert problems(BASE + "agents: {}\n") == [
        "config/routing.yaml:14: agents: unknown key (expected one of: groups, overflow, "
        "pause_reasons, queues, seats)"]


def test_unknown_key_in_a_seat() -> None:
    """A misspelt seat key is named with the seat's path."""
    assert problems(variant("device: PJSIP/2001", "device: PJSIP/2001, skils: {}")) == [
        'config/routing.yaml:9: seats."2001".skils: unknown key (expected one of: device, '
        "group, name, skills, webrtc)"]


def test_unknown_strategy() -> None:
    """A queue strategy app_queue does not have is an error listing the strategies."""
    assert problems(variant("strategy: leastrecent", "strategy: roundrobin")) == [
        "config/routing.yaml:3: queues.iit.strategy: unknown strategy 'roundrobin' (expected "
        "one of: ringall, leastrecent, fewestcalls, random, rrmemory, linear, wrandom, "
        "rrordered)"]


def test_seat_with_unknown_group() -> None:
    """A seat in a group that is not defined is an error at its group key."""
    assert problems(variant("group: hefei", "group: bengbu")) == [
        "config/routing.yaml:9: seats.\"2001\".group: unknown group 'bengbu'"]


def test_seat_with_no_skill() -> None:
    """A seat with an empty skills mapping can serve nothing: an error at the seat."""
    assert problems(variant("skills: {center: 4}", "skills: {}")) == [
        'config/routing.yaml:9: seats."2001": a seat with no skill can serve no queue']


def test_seat_without_a_skills_key() -> None:
    """A seat with no skills key at all is the same error."""
    assert problems(variant(", skills: {center: 4}", "")) == [
        'config/routing.yaml:9: seats."2001": a seat with no skill can serve no queue']


def test_skill_on_an_unknown_queue() -> None:
    """A skill for a queue that is not defined is named at that skill."""
    assert problems(variant("skills: {center: 4}", "skills: {center: 4, vat: 3}")) == [
        "config/routing.yaml:9: seats.\"2001\".skills.vat: unknown queue 'vat'"]


@pytest.mark.parametrize("level", ["0", "10", "-1", "5.5", "true", "expert"])
def test_skill_level_out_of_range(level: str) -> None:
    """A skill level is a whole number 1 to 9: 0, 10 and non-numbers are errors."""
    assert problems(variant("skills: {center: 4}", f"skills: {{center: 4, iit: {level}}}")) == [
        'config/routing.yaml:9: seats."2001".skills.iit: a skill level is 1 to 9']


@pytest.mark.parametrize("level", [1, 9])
def test_skill_levels_1_and_9_are_accepted(level: int) -> None:
    """The bounds themselves are valid levels."""
    config = parse(variant("skills: {center: 4}", f"skills: {{center: {level}}}"))
    assert config.seats["2001"].skills == {"center": level}


def test_queue_no_seat_can_serve() -> None:
    """A queue no seat has a skill for is an error at the queue."""
    text = variant("  iit: {name: 个人所得税, strategy: leastrecent}\n",
                   "  iit: {name: 个人所得税, strategy: leastrecent}\n  vat: {name: 增值税}\n")
    assert problems(text) == [
        "config/routing.yaml:4: queues.vat: no seat has this skill: no one can serve the queue"]


def test_device_that_is_not_an_interface() -> None:
    """A device that is not an Asterisk interface (technology/resource) is an error."""
    assert problems(variant("device: PJSIP/2001", "device: 2001")) == [
        "config/routing.yaml:9: seats.\"2001\".device: '2001' is not an Asterisk interface "
        "(e.g. PJSIP/1001 or Local/1001@seats/n)"]


@pytest.mark.parametrize("codes", ["[0551]", "[551]", '"0551"', '["0551", 553]', '["05a1"]'])
def test_area_codes_must_be_quoted_digits(codes: str) -> None:
    """Unquoted area codes (YAML reads 0551 as a number) and non-lists are rejected."""
    assert problems(variant('area_codes: ["0551"]', f"area_codes: {codes}")) == [
        'config/routing.yaml:6: groups.hefei.area_codes: must be a list of quoted area codes, '
        'e.g. ["0551"]']


@pytest.mark.parametrize(("old", "new"), [
    ("leave: {waiting: 1,", "leave: {waiting: 5,"),
    ("leave: {waiting: 1,", "leave: {waiting: 7,"),
    ("expected_wait: 20,", "expected_wait: 60,"),
    ("expected_wait: 20,", "expected_wait: 90,"),
])
def test_leave_thresholds_must_be_below_enter(old: str, new: str) -> None:
    """leave at or above enter (either threshold) is the hysteresis error."""
    assert problems(variant(old, new)) == [
        "config/routing.yaml:12: overflow.leave: leave thresholds must be below enter "
        "thresholds (hysteresis), or overflow would flap"]


def test_overflow_number_out_of_range() -> None:
    """An overflow threshold out of its range is named at its key."""
    assert problems(variant("after: 120", "after: -5")) == [
        "config/routing.yaml:12: overflow.leave.after: must be a number from 0 to 3600, "
        "not -5"]


def test_no_centre_group() -> None:
    """Groups without the provincial centre are an error at groups."""
    text = variant("  centre: {name: 省局12366中心, kind: centre}\n",
                   "  centre: {name: 省局12366中心, kind: remote}\n")
    assert problems(text) == [
        "config/routing.yaml:4: groups: one group must be the provincial centre (kind: centre)"]


def test_every_problem_is_reported_at_once() -> None:
    """Several mistakes give several problems, in file order, not only the first."""
    text = (BASE.replace("strategy: leastrecent", "strategy: roundrobin")
            .replace("group: hefei", "group: bengbu")
            .replace("device: PJSIP/2001", "device: 2001"))
    assert problems(text) == [
        "config/routing.yaml:3: queues.iit.strategy: unknown strategy 'roundrobin' (expected "
        "one of: ringall, leastrecent, fewestcalls, random, rrmemory, linear, wrandom, "
        "rrordered)",
        "config/routing.yaml:9: seats.\"2001\".group: unknown group 'bengbu'",
        "config/routing.yaml:9: seats.\"2001\".device: '2001' is not an Asterisk interface "
        "(e.g. PJSIP/1001 or Local/1001@seats/n)"]


def test_shipped_routing_parses_and_serves_the_shipped_dialplan() -> None:
    """config/routing.yaml parses, and its queues are exactly those 12366.yaml routes to."""
    config = parse_routing(load_file(REPO / FILE, FILE))
    assert any(g.kind == "centre" for g in config.groups.values())
    plan, found = load_dialplan(REPO / "dialplans" / "12366.yaml", "dialplans/12366.yaml",
                                config.queues)
    assert [str(p) for p in found if "unknown queue" in p.message] == []
    assert plan is not None
    steps = list(walk(plan.entry))
    for menu in plan.menus:
        steps += menu_steps(plan, menu)
    routed = {s.queue for s in steps if isinstance(s, ToQueue)}
    assert routed == set(config.queues)
    for queue in config.queues:  # every queue can be served by a centre seat
        assert any(not remote for _, remote in config.seats_for(queue)), queue


# -- a config for the policy ------------------------------------------------------------------

ENTER = Thresholds(5, 60.0)
LEAVE = Thresholds(1, 20.0, 120.0)


def make_config() -> RoutingConfig:
    """Queues center and iit; centre seats c1, c2; hefei seats h1, h2; wuhu seat w1."""
    queues = {"center": QueueDef("center", "综合咨询"), "iit": QueueDef("iit", "个人所得税")}
    groups = {"centre": Group("centre", "省局12366中心", "centre"),
              "hefei": Group("hefei", "合肥市税务局", "remote", ("0551",)),
              "wuhu": Group("wuhu", "芜湖市税务局", "remote", ("0553",))}
    seats = {
        "c1": Seat("c1", "张敏", "centre", "PJSIP/c1", {"center": 5, "iit": 3}),
        "c2": Seat("c2", "王芳", "centre", "PJSIP/c2", {"center": 7}),
        "h1": Seat("h1", "李强", "hefei", "PJSIP/h1", {"center": 4, "iit": 6}),
        "h2": Seat("h2", "赵磊", "hefei", "PJSIP/h2", {"center": 8}),
        "w1": Seat("w1", "陈静", "wuhu", "PJSIP/w1", {"center": 2}),
    }
    return RoutingConfig(queues, groups, seats, OverflowPolicy(ENTER, LEAVE, 10))


CONFIG = make_config()
READY = SeatState(logged_in=True)
OUT = SeatState()
BUSY = SeatState(logged_in=True, busy=True)
PAUSED = SeatState(logged_in=True, paused="meal")
MOVED = SeatState(logged_in=True, moved_in=True)
MOVED_BUSY = SeatState(logged_in=True, moved_in=True, busy=True)
ALL_MOVED_IN = {"c1": READY, "c2": READY, "h1": MOVED, "h2": MOVED, "w1": MOVED}


def snap(now: float = 0.0, *, seats: Mapping[str, SeatState] | None = None,
         waiting: int = 0, expected_wait: float = 0.0, queue: str = "center",
         overflow: Mapping[str, OverflowState] | None = None, open: bool = True) -> Snapshot:
    return Snapshot(now, open, dict(ALL_MOVED_IN if seats is None else seats),
                    {queue: QueueLoad(waiting, expected_wait)}, dict(overflow or {}))


def step(state: OverflowState, waiting: int, expected_wait: float = 0.0,
         centre_available: int = 2, now: float = 0.0) -> OverflowState:
    return next_overflow(ENTER.waiting, ENTER.expected_wait, LEAVE.waiting,
                         LEAVE.expected_wait, LEAVE.after, state,
                         QueueLoad(waiting, expected_wait), centre_available, now)


ON = OverflowState(True)


# -- caller regions ---------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "group"), [
    ("055112345678", "hefei"),
    ("055312345678", "wuhu"),
    ("13955112345", None),  # a mobile: no area code
    ("0551", "hefei"),
    ("05", None),
    ("", None),
    (None, None),
])
def test_group_for_caller(number: str | None, group: str | None) -> None:
    """A landline's area code gives its city bureau; mobiles and unknowns give None."""
    found = CONFIG.group_for_caller(number)
    assert (found.id if found else None) == group


@pytest.mark.parametrize("long_first", [True, False])
def test_group_for_caller_longest_area_code_wins(long_first: bool) -> None:
    """With nested area codes the longest match wins, whatever the groups' order."""
    short = Group("region", "某地区", "remote", ("055",))
    long = Group("hefei", "合肥市税务局", "remote", ("0551",))
    order = [long, short] if long_first else [short, long]
    config = RoutingConfig(CONFIG.queues, {g.id: g for g in order}, {})
    assert config.group_for_caller("055112345678") is long
    assert config.group_for_caller("055912345678") is short


# -- overflow with hysteresis --------------------------------------------------------------------


@pytest.mark.parametrize(("waiting", "wait", "centre", "active"), [
    (4, 59.0, 2, False),  # just below both enter thresholds
    (5, 0.0, 2, True),  # enter.waiting reached
    (0, 60.0, 2, True),  # enter.expected_wait reached
    (1, 0.0, 0, True),  # a caller waits and no centre seat can answer
    (0, 0.0, 0, False),  # no centre seat, but nobody waiting
])
def test_overflow_enters(waiting: int, wait: float, centre: int, active: bool) -> None:
    """Overflow turns on at enter.waiting, enter.expected_wait, or no centre seat free."""
    assert step(OverflowState(), waiting, wait, centre).active is active


def test_overflow_does_not_leave_while_above_leave_thresholds() -> None:
    """Active overflow stays on, with no calm clock, while either load is above leave."""
    for now in range(0, 3600, 10):
        state = step(ON, 2, 0.0, now=now)  # waiting above leave.waiting
        assert state == ON
        state = step(ON, 0, 21.0, now=now)  # expected wait above leave.expected_wait
        assert state == ON


def test_overflow_leaves_only_after_staying_calm_for_after_seconds() -> None:
    """Calm starts a clock; overflow stays on until it has run `after` seconds."""
    state = step(ON, 1, 20.0, now=1000)  # at the leave thresholds: calm
    assert state == OverflowState(True, 1000)
    for now in (1001, 1060, 1119.9):
        state = step(state, 0, 0.0, now=now)
        assert state == OverflowState(True, 1000)
    assert step(state, 0, 0.0, now=1120) == OverflowState()


def test_overflow_leaves_at_once_when_after_is_zero() -> None:
    """With leave.after 0 the first calm decision ends overflow."""
    state = next_overflow(5, 60, 1, 20, 0, ON, QueueLoad(0, 0), 1, 50)
    assert state == OverflowState()


def test_spike_during_calm_restarts_the_clock() -> None:
    """A spike above leave (even below enter) resets the calm clock."""
    state = step(ON, 0, now=0)
    assert state.calm_since == 0
    state = step(state, 3, now=60)  # between leave and enter: not calm
    assert state == ON
    state = step(state, 0, now=61)
    assert state.calm_since == 61
    state = step(state, 0, now=180)  # 180 s after the first calm, 119 after the spike
    assert state.active
    assert step(state, 0, now=181) == OverflowState()


def test_no_centre_seat_is_not_calm() -> None:
    """Calm needs a centre seat free: with none, the calm clock does not start."""
    assert step(ON, 0, 0.0, centre_available=0, now=10) == ON


def decide_over_time(loads: Sequence[tuple[float, int, float]],
                     seats: Mapping[str, SeatState] = ALL_MOVED_IN,
                     start: OverflowState | None = None) -> list[bool]:
    """Run decide() on `center` over (now, waiting, expected_wait) events, feeding each
    decision's overflow into the next snapshot; the active flag after each event."""
    overflow = {"center": start or OverflowState()}
    out = []
    for now, waiting, wait in loads:
        decision = decide(CONFIG, snap(now, seats=seats, waiting=waiting, expected_wait=wait,
                                       overflow=overflow))
        overflow = dict(decision.overflow)
        out.append(overflow["center"].active)
    return out


def test_decide_over_time_enters_holds_and_leaves() -> None:
    """decide() carries overflow through a busy spell, a calm spell and out of it."""
    events = [(0, 0, 0.0), (10, 6, 30.0), (20, 3, 40.0), (30, 1, 10.0), (100, 0, 0.0),
              (149, 0, 0.0), (150, 0, 0.0), (160, 2, 0.0)]
    assert decide_over_time(events) == [False, True, True, True, True, True, False, False]


@pytest.mark.parametrize("start", [OverflowState(), ON])
def test_no_flapping_between_leave_and_enter(start: OverflowState) -> None:
    """Load oscillating between the leave and enter thresholds never toggles overflow."""
    events = [(t * 5.0, 2 if t % 2 else 4, 25.0 if t % 3 else 55.0) for t in range(2000)]
    flags = decide_over_time(events, start=start)
    assert set(flags) == {start.active}


def test_no_flapping_when_calm_spells_are_shorter_than_after() -> None:
    """Calm spells shorter than leave.after between mid-load spells keep overflow on."""
    events = [(t * 10.0, 0 if (t // 5) % 2 else 3, 0.0) for t in range(1000)]  # 50 s spells
    assert set(decide_over_time(events, start=ON)) == {True}


# -- members --------------------------------------------------------------------------------------


def test_centre_seats_are_members_at_penalty_ten_minus_level() -> None:
    """Without overflow only centre seats with the skill are members, experts first."""
    decision = decide(CONFIG, snap())
    assert {q: m for q, m in decision.members.items() if q in CONFIG.queues} == {
        "center": {"c1": 5, "c2": 3}, "iit": {"c1": 7}}
    assert decision.alerts == ()


def test_logged_out_seats_are_not_members() -> None:
    """A centre seat that is logged out is not a member of any queue."""
    seats = {**ALL_MOVED_IN, "c2": OUT}
    assert decide_queue(CONFIG, snap(seats=seats), "center").members == {"c1": 5}


def test_seat_without_state_is_treated_as_logged_out() -> None:
    """A seat the snapshot does not mention is not a member."""
    assert decide_queue(CONFIG, snap(seats={"c1": READY}), "center").members == {"c1": 5}


def test_paused_and_busy_seats_stay_members() -> None:
    """Paused seats stay members (Asterisk pauses them) and busy ones too, same penalty."""
    seats = {**ALL_MOVED_IN, "c1": PAUSED, "c2": BUSY}
    part = decide_queue(CONFIG, snap(seats=seats), "center")
    assert part.members == {"c1": 5, "c2": 3}
    # ... but they cannot answer: a waiting caller pulls in the remote seats.
    part = decide_queue(CONFIG, snap(seats=seats, waiting=1), "center")
    assert part.overflow.active
    assert part.members == {"c1": 5, "c2": 3, "h1": 16, "h2": 12, "w1": 18}


def test_remote_seats_join_only_during_overflow_with_remote_penalty() -> None:
    """Moved-in remote seats join at 10 - level + remote_penalty while overflow is on."""
    off = decide_queue(CONFIG, snap(waiting=4), "center")
    assert not off.overflow.active
    assert off.members == {"c1": 5, "c2": 3}
    on = decide_queue(CONFIG, snap(waiting=5), "center")
    assert on.overflow.active
    assert on.members == {"c1": 5, "c2": 3, "h1": 16, "h2": 12, "w1": 18}
    assert max(on.members[s] for s in ("c1", "c2")) < min(on.members[s]
                                                          for s in ("h1", "h2", "w1"))


def test_remote_seat_not_moved_in_never_joins() -> None:
    """A remote seat not moved in (or logged out) stays out even under overflow."""
    seats = {**ALL_MOVED_IN, "h1": READY, "w1": SeatState(moved_in=True)}
    for waiting in (0, 5, 50):
        part = decide_queue(CONFIG, snap(seats=seats, waiting=waiting, overflow={"center": ON}),
                            "center")
        assert part.overflow.active
        assert "h1" not in part.members
        assert "w1" not in part.members
        assert part.members["h2"] == 12


def test_remote_seat_joins_only_queues_it_has_a_skill_for() -> None:
    """Overflow on iit pulls in h1 (iit 6) but not h2 or w1, who have no iit skill."""
    part = decide_queue(CONFIG, snap(waiting=9, queue="iit"), "iit")
    assert part.overflow.active
    assert part.members == {"c1": 7, "h1": 14}


# -- the coverage guard ---------------------------------------------------------------------------

# c1 is logged in but its phone is unreachable (unavailable), c2 logged out.
UNREACHABLE = SeatState(logged_in=True, busy=True, reachable=False)
NO_CENTRE = {"c1": UNREACHABLE, "c2": OUT, "h1": MOVED, "h2": MOVED_BUSY, "w1": READY}


def test_no_centre_seat_on_duty_in_opening_hours_alerts() -> None:
    """Open, no centre seat on duty, no overflow: a no-seat-available alert in Chinese."""
    decision = decide(CONFIG, snap(seats={**NO_CENTRE, "h1": READY}))
    assert decision.alerts == (
        Alert("center", "no-seat-available", "队列 综合咨询 没有在岗座席"),
        Alert("iit", "no-seat-available", "队列 个人所得税 没有在岗座席"))


def test_busy_or_paused_centre_seats_cover_their_queues() -> None:
    """Seats merely busy, ringing, in wrap-up or paused are on duty: no coverage alert
    (the banner named every queue while they were)."""
    for c1, c2 in ((BUSY, PAUSED), (BUSY, BUSY), (PAUSED, OUT)):
        decision = decide(CONFIG, snap(seats={**NO_CENTRE, "c1": c1, "c2": c2}))
        assert decision.alerts == (), (c1, c2)


def test_a_seat_is_free_only_when_asterisk_would_ring_it() -> None:
    """One definition of free for the routing loop and the wallboard: idle phone, no
    call, not paused, not in wrap-up; ringing or unavailable phones are not free."""
    assert is_free(False, "not_in_use", False, False)
    for device in ("ringing", "ringinuse", "unavailable", "invalid", "in_use", "busy",
                   "onhold", "unknown", None):
        assert not is_free(False, device, False, False), device
        assert not phone_ready(device, False, False), device
    assert not is_free(True, "not_in_use", False, False)  # paused
    assert not is_free(False, "not_in_use", True, False)  # on a call
    assert not is_free(False, "not_in_use", False, True)  # in wrap-up
    assert not phone_reachable("unavailable")
    assert phone_reachable("ringing")


def test_wrap_up_lasts_the_queues_wrapup_after_the_last_call() -> None:
    """A member is in wrap-up for `wrapup` seconds after its last call ended, not before
    a first call, and not in a queue without wrap-up."""
    assert wrapping_up(1000, 10, 1009.5)
    assert not wrapping_up(1000, 10, 1010)
    assert not wrapping_up(0, 10, 5)  # no call yet
    assert not wrapping_up(1000, 0, 1001)  # no wrap-up in this queue


def test_no_alert_outside_opening_hours() -> None:
    """Closed: no coverage alert, whatever the seats."""
    decision = decide(CONFIG, snap(seats={}, waiting=3, open=False))
    assert decision.alerts == ()


def test_a_queue_with_its_own_hours_is_guarded_by_them() -> None:
    """queue_hours: iit closed by its own hours raises no alert while the line is open;
    open by them while the line is closed, it does."""
    seats = {**NO_CENTRE, "h1": READY}
    open_line = replace(snap(seats=seats), queue_open={"iit": False})
    assert [a.queue for a in decide(CONFIG, open_line).alerts] == ["center"]
    closed_line = replace(snap(seats=seats, open=False), queue_open={"iit": True})
    assert [a.queue for a in decide(CONFIG, closed_line).alerts] == ["iit"]


def test_no_alert_with_overflow_and_a_moved_in_remote_seat() -> None:
    """A caller waits, overflow is on and h1 (moved in, free) can answer: no alert."""
    part = decide_queue(CONFIG, snap(seats=NO_CENTRE, waiting=1), "center")
    assert part.overflow.active
    assert part.alert is None
    assert part.members == {"c1": 5, "h1": 16, "h2": 12}


def test_busy_moved_in_remote_seats_pulled_in_cover() -> None:
    """Overflow on and the moved-in remote seats busy: they are on duty, no alert."""
    seats = {**NO_CENTRE, "h1": MOVED_BUSY}
    part = decide_queue(CONFIG, snap(seats=seats, waiting=1), "center")
    assert part.overflow.active
    assert part.alert is None


def test_alert_when_moved_in_remote_seats_are_unreachable() -> None:
    """Overflow on but no moved-in remote seat has a reachable phone: uncovered."""
    gone = SeatState(logged_in=True, moved_in=True, busy=True, reachable=False)
    seats = {**NO_CENTRE, "h1": gone, "h2": gone}
    part = decide_queue(CONFIG, snap(seats=seats, waiting=1), "center")
    assert part.overflow.active
    assert part.alert == Alert("center", "no-seat-available", "队列 综合咨询 没有在岗座席")


def test_available_seat_that_is_not_moved_in_does_not_cover() -> None:
    """A free remote seat that is not moved in does not count as coverage."""
    seats = {**NO_CENTRE, "h1": READY, "h2": OUT}
    part = decide_queue(CONFIG, snap(seats=seats, waiting=1), "center")
    assert part.overflow.active
    assert part.alert is not None


# -- changes ------------------------------------------------------------------------------------


def test_changes_are_only_the_differences_sorted() -> None:
    """Removals, additions and penalty changes, by queue then seat; equal members none."""
    current = {"iit": {"c1": 7, "b": 1}, "center": {"c2": 3, "x": 5, "c1": 5}}
    desired = {"center": {"c1": 4, "c2": 3, "a": 2, "h1": 16}, "iit": {"c1": 7},
               "invoice": {"z": 1}}
    assert changes(current, desired) == [
        Change("remove", "center", "x"),
        Change("add", "center", "a", 2),
        Change("add", "center", "h1", 16),
        Change("penalty", "center", "c1", 4),
        Change("remove", "iit", "b"),
        Change("add", "invoice", "z", 1),
    ]


def test_unchanged_decision_gives_no_action() -> None:
    """Applying the same decision again issues nothing."""
    members = decide(CONFIG, snap(waiting=9)).members
    assert changes(members, members) == []
    assert changes({}, {}) == []
    assert changes(members, decide(CONFIG, snap(now=30, waiting=9)).members) == []


def test_overflow_change_is_one_action_per_remote_member() -> None:
    """Overflow on then off on `center` (3 remote seats): 3 members added, later 3 removed."""
    overflow: dict[str, OverflowState] = {}
    applied: Mapping[str, Mapping[str, int]] = {}
    log: list[list[Change]] = []
    for now, waiting in [(0, 0), (10, 6), (20, 8), (30, 0), (100, 0), (150, 0), (200, 0)]:
        decision = decide(CONFIG, snap(now, waiting=waiting, overflow=overflow))
        overflow = dict(decision.overflow)
        log.append(changes(applied, decision.members))
        applied = decision.members
    # At the start: the centre seats, and the moved-in seats in their region queues.
    assert log[0] == [Change("add", "center", "c1", 5),
                      Change("add", "center", "c2", 3),
                      Change("add", "center-hefei", "h1", 6),
                      Change("add", "center-hefei", "h2", 2),
                      Change("add", "center-wuhu", "w1", 8),
                      Change("add", "iit", "c1", 7),
                      Change("add", "iit-hefei", "h1", 4)]
    assert log[1] == [Change("add", "center", "h1", 16),
                      Change("add", "center", "h2", 12),
                      Change("add", "center", "w1", 18)]
    assert log[2:5] == [[], [], []]
    assert log[5] == [Change("remove", "center", "h1"),
                      Change("remove", "center", "h2"),
                      Change("remove", "center", "w1")]
    assert log[6] == []


# -- regional preference ---------------------------------------------------------------------------


def test_region_queues_per_queue_and_bureau_with_a_skilled_seat() -> None:
    """One region queue per queue and city bureau whose seats have the skill."""
    assert CONFIG.region_queues() == {"center-hefei": ("center", "hefei"),
                                      "center-wuhu": ("center", "wuhu"),
                                      "iit-hefei": ("iit", "hefei")}
    assert CONFIG.base_queue("center-hefei") == "center"
    assert CONFIG.base_queue("center") == "center"


def test_region_for_a_caller_of_the_bureau_s_area_code() -> None:
    """A 0551 caller waits first in center-hefei; a Wuhu caller has no iit region queue
    (no Wuhu seat knows iit); mobiles, hidden and unknown numbers have none."""
    assert CONFIG.region_for("center", "055112345678") == "center-hefei"
    assert CONFIG.region_for("iit", "055112345678") == "iit-hefei"
    assert CONFIG.region_for("center", "055312345678") == "center-wuhu"
    assert CONFIG.region_for("iit", "055312345678") is None
    for caller in ("13955112345", None, "", "055912345678"):
        assert CONFIG.region_for("center", caller) is None


def test_region_queue_members_are_the_bureau_s_moved_in_seats() -> None:
    """Logged-in, moved-in seats of the bureau with the skill, experts first, whether or
    not overflow is on; a seat not moved in, or logged out, is not a member."""
    decision = decide(CONFIG, snap())
    assert decision.members["center-hefei"] == {"h1": 6, "h2": 2}
    assert decision.members["iit-hefei"] == {"h1": 4}
    seats = {**ALL_MOVED_IN, "h1": READY, "w1": SeatState(moved_in=True)}
    decision = decide(CONFIG, snap(seats=seats))
    assert decision.members["center-hefei"] == {"h2": 2}
    assert decision.members["center-wuhu"] == {}
    assert decision.members["iit-hefei"] == {}


def test_region_queues_render_with_strict_join_and_the_queue_s_settings() -> None:
    """queues.conf from routing: every queue and region queue, the queue's settings; a
    region queue takes no caller unless a seat can answer now."""
    from hotline.pbx.queues_conf import render_queues

    config = RoutingConfig(
        {"center": QueueDef("center", "综合咨询", "linear", 12, 7, announce_position=True),
         "iit": QueueDef("iit", "个人所得税")},
        CONFIG.groups, CONFIG.seats, CONFIG.overflow)
    text = render_queues(config)
    sections = {block.split("]", 1)[0]: block for block in text.split("\n[")[1:]}
    assert set(sections) == {"general", "center", "iit", "center-hefei", "center-wuhu",
                             "iit-hefei"}
    center = sections["center"]
    for line in ("strategy = linear", "timeout = 12", "wrapuptime = 7", "joinempty = yes",
                 "announce-position = yes", "announce-frequency = 30"):
        assert f"\n{line}\n" in center, line
    region = sections["center-hefei"]
    assert "\njoinempty = paused,penalty,inuse,ringing,unavailable,invalid,unknown,wrapup\n" \
        in region
    assert "\nannounce-position = no\n" in region
    assert "member =>" not in text  # members are hotline's to add over AMI


def test_a_days_skills_change_only_the_seats_named_and_keep_the_rest() -> None:
    """A day's change adds a queue at a level and takes another away from one seat; the
    other seats, queues and reasons are routing.yaml's (the same objects); an unknown
    seat or queue is ignored; no change is the same config, its indexes kept."""
    from hotline.core.routing.config import with_day_skills

    config = make_config()
    seat_id, seat = next((i, s) for i, s in config.seats.items()
                         if 0 < len(s.skills) < len(config.queues))
    queue = next(iter(seat.skills))
    other = next(q for q in config.queues if q not in seat.skills)
    day = with_day_skills(config, {seat_id: {other: 9, queue: None, "nope": 3},
                                   "ghost": {queue: 1}})
    assert day.seats[seat_id].skills == {**{q: v for q, v in seat.skills.items()
                                            if q != queue}, other: 9}
    assert config.seats[seat_id].skills == seat.skills
    assert all(day.seats[s] is config.seats[s] for s in config.seats if s != seat_id)
    assert day.queues is config.queues
    assert with_day_skills(config, {}) is config
    assert with_day_skills(config, {seat_id: {queue: seat.skills[queue]}}) is config
