"""config/routing.yaml: queues, seat groups (the centre and the city bureaus), seats with
skills, overflow thresholds and pause reasons. Validated once into frozen objects; every
problem is `file:line: key.path: message`.

    queues:
      center: {name: 综合咨询, ring_timeout: 15, wrapup: 10, max_wait: 300,
               announce: {position: true, expected_wait: true},
               on_no_answer: voicemail, region_wait: 20}
    groups:
      centre: {name: 省局12366中心, kind: centre}
      hefei: {name: 合肥市税务局, kind: remote, area_codes: ["0551"]}
    seats:
      "1001": {name: 张敏, group: centre, device: Local/1001@seats/n,
               skills: {center: 5, iit: 3}}
      "1002": {name: 李娜, group: centre, device: PJSIP/1002, webrtc: true,
               skills: {center: 5}}     # a browser phone (WebRTC)
    overflow:
      enter: {waiting: 5, expected_wait: 60}
      leave: {waiting: 1, expected_wait: 20, after: 120}
      remote_penalty: 10
    pause_reasons: {meal: 用餐, training: 培训, after_call_work: 话后处理}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# RoutingInvalid stays importable from here.
from hotline.common.errors import RoutingInvalid as RoutingInvalid
from hotline.common.labels import Names
from hotline.common.validate import Checker
from hotline.common.yamlsrc import PathKey, Sourced

STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear",
              "wrandom", "rrordered")
NO_ANSWER = ("voicemail", "callback", "hangup")
SEAT_ID = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
# Queue and group ids: no '-', which joins them in the name of a region queue.
NAME_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
REGION_SEP = "-"
DEVICE = re.compile(r"^(Local|PJSIP|SIP|IAX2|DAHDI)/\S+$")
# A seat's own PJSIP endpoint (what the sandbox writes a phone for; see pbx/pjsip_conf).
WEBRTC_DEVICE = re.compile(r"^PJSIP/[0-9A-Za-z_-]{1,32}$")
# A call answered within this many seconds of waiting counts for the service level: in
# Asterisk's queues.conf (servicelevel) and in the ledger's figures alike.
SERVICE_LEVEL_SECONDS = 20
# Far above a province's hotline (a few queues, a city bureau per city, a few hundred
# seats): they bound queues.conf, the region queues (a queue per queue and bureau) and
# the routing loop's round, whatever a file of at most 1 MiB holds.
MAX_QUEUES = 200
MAX_GROUPS = 200
MAX_SEATS = 5000
MAX_REGION_QUEUES = 2000
MAX_AREA_CODES = 100  # per group
MAX_PAUSE_REASONS = 50
PAUSE_CODE = NAME_ID
DEFAULT_PAUSE_REASONS = {"meal": "用餐", "training": "培训", "after_call_work": "话后处理",
                         "meeting": "会议", "other": "其他"}


@dataclass(frozen=True)
class QueueDef:
    id: str
    name: str
    strategy: str = "rrmemory"
    ring_timeout: int = 15
    wrapup: int = 0
    max_wait: int = 300
    announce_position: bool = False
    announce_wait: bool = False
    on_no_answer: str = "voicemail"
    region_wait: int = 20  # seconds a caller waits for the seats of their city first


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    kind: str  # centre | remote
    area_codes: tuple[str, ...] = ()

    @property
    def remote(self) -> bool:
        return self.kind == "remote"


def penalty_for(level: int) -> int:
    """A seat's queue penalty from its skill level: 9 (expert) -> 1 .. 1 (can) -> 9, so
    that experts ring first (Asterisk rings the lowest penalty first)."""
    return 10 - level


@dataclass(frozen=True)
class Seat:
    id: str
    name: str
    group: str
    device: str
    skills: Mapping[str, int]  # queue -> level 1 (can) .. 9 (expert)
    # The seat's phone is the browser phone (WebRTC: SIP over secure WebSocket, DTLS-SRTP,
    # ICE) rather than a SIP phone; only with a PJSIP/<name> device.
    webrtc: bool = False


@dataclass(frozen=True)
class Thresholds:
    waiting: int
    expected_wait: float
    after: float = 0.0  # leave only after the pressure stayed low this long (seconds)


@dataclass(frozen=True)
class OverflowPolicy:
    enter: Thresholds = Thresholds(5, 60.0)
    leave: Thresholds = Thresholds(1, 20.0, 120.0)
    remote_penalty: int = 10


@dataclass(frozen=True)
class RoutingConfig:
    queues: Mapping[str, QueueDef]
    groups: Mapping[str, Group]
    seats: Mapping[str, Seat]
    overflow: OverflowPolicy = OverflowPolicy()
    pause_reasons: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PAUSE_REASONS))

    def seats_for(self, queue: str) -> tuple[tuple[Seat, bool], ...]:
        """The seats with a skill for `queue`, each with whether it is remote (indexed
        once: the policy asks on every queue event)."""
        index = self.__dict__.get("_by_queue")
        if index is None:
            built: dict[str, list[tuple[Seat, bool]]] = {q: [] for q in self.queues}
            for seat in self.seats.values():
                remote = self.groups[seat.group].remote if seat.group in self.groups else False
                for skill in seat.skills:
                    built.setdefault(skill, []).append((seat, remote))
            index = {q: tuple(v) for q, v in built.items()}
            object.__setattr__(self, "_by_queue", index)
        found: tuple[tuple[Seat, bool], ...] = index.get(queue, ())
        return found

    def ranks_for(self, queue: str) -> tuple[tuple[str, int, bool], ...]:
        """seats_for(queue) as the policy reads it on every queue event: (seat id, its
        penalty from its level, 9 -> 1 so that experts ring first, remote or not)."""
        index: dict[str, tuple[tuple[str, int, bool], ...]] | None = self.__dict__.get(
            "_ranks")
        if index is None:
            index = {}
            object.__setattr__(self, "_ranks", index)
        found = index.get(queue)
        if found is None:
            found = tuple((seat.id, penalty_for(seat.skills[queue]), remote)
                          for seat, remote in self.seats_for(queue))
            index[queue] = found
        return found

    def region_ranks(self) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
        """Every region queue with its seats as the policy reads them: (seat id,
        penalty from its level in the region queue's queue)."""
        ranks: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] | None = (
            self.__dict__.get("_region_ranks"))
        if ranks is None:
            regions, seats = self._region_index()
            ranks = tuple((name, tuple((seat.id, penalty_for(seat.skills[queue]))
                                       for seat in seats.get(name, ())))
                          for name, (queue, _) in regions.items())
            object.__setattr__(self, "_region_ranks", ranks)
        return ranks

    def region_queues(self) -> dict[str, tuple[str, str]]:
        """The region queues, name -> (queue, remote group): one per queue and city bureau
        with area codes and a seat skilled for the queue. A caller of that city whose
        dialplan step asks for it (`prefer_region`) waits there first, rung only by the
        bureau's moved-in seats, before the queue itself."""
        return dict(self._region_index()[0])

    def _region_index(self) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[Seat, ...]]]:
        index = self.__dict__.get("_regions")
        if index is None:
            found: dict[str, tuple[str, str]] = {}
            seats: dict[str, list[Seat]] = {}
            for queue in self.queues:
                for seat, remote in self.seats_for(queue):
                    group = self.groups[seat.group]
                    if remote and group.area_codes:
                        name = region_queue_name(queue, group.id)
                        found[name] = (queue, group.id)
                        seats.setdefault(name, []).append(seat)
            index = (dict(sorted(found.items())), {k: tuple(v) for k, v in seats.items()})
            object.__setattr__(self, "_regions", index)
        found_index: tuple[dict[str, tuple[str, str]], dict[str, tuple[Seat, ...]]] = index
        return found_index

    def region_for(self, queue: str, caller: str | None) -> str | None:
        """The region queue a caller of `queue` waits in first when the dialplan asks for
        the caller's region: that of the city bureau of the caller's area code, if any."""
        group = self.group_for_caller(caller)
        if group is None:
            return None
        name = region_queue_name(queue, group.id)
        return name if name in self.region_queues() else None

    def base_queue(self, name: str) -> str:
        """The queue a (possibly region) queue name belongs to."""
        return name.split(REGION_SEP, 1)[0]

    def group_for_caller(self, number: str | None) -> Group | None:
        """The remote group whose area code the caller's number starts with (landlines)."""
        if not number:
            return None
        best: Group | None = None
        best_len = 0
        for group in self.groups.values():
            for code in group.area_codes:
                if number.startswith(code) and len(code) > best_len:
                    best, best_len = group, len(code)
        return best


def with_day_skills(routing: RoutingConfig,
                    day: Mapping[str, Mapping[str, int | None]]) -> RoutingConfig:
    """routing.yaml with a day's skill changes (seat -> queue -> level, None: taken away
    that day) applied; seats and queues it does not have are ignored (a reload dropped
    them). The same object when nothing changes, so its indexes are kept."""
    seats = dict(routing.seats)
    changed = False
    for seat_id, queues in day.items():
        seat = seats.get(seat_id)
        if seat is None:
            continue
        skills = dict(seat.skills)
        for queue, level in queues.items():
            if queue not in routing.queues:
                continue
            if level is None:
                skills.pop(queue, None)
            else:
                skills[queue] = level
        if skills != dict(seat.skills):
            seats[seat_id] = replace(seat, skills=skills)
            changed = True
    return replace(routing, seats=seats) if changed else routing


def region_queue_name(queue: str, group: str) -> str:
    return f"{queue}{REGION_SEP}{group}"


class _Parser(Checker):
    def section(self, value: Any, path: PathKey, what: str,
                limit: int | None = None) -> dict[str, Any]:
        """A mapping (absent: empty); anything else is a problem, read as empty, and so
        is one of more than `limit` entries (not read: the error is enough)."""
        data = self.mapping(value, path, what, absent_ok=True) or {}
        if limit is not None and len(data) > limit:
            self.error(path, f"at most {limit} {what}, not {len(data)}")
            return {}
        return data

    def keys(self, data: Mapping[str, Any], allowed: tuple[str, ...], path: PathKey) -> None:
        self.unknown_keys(data, allowed, path)

    def whole(self, data: Mapping[str, Any], key: str, default: int, low: int, high: int,
              path: PathKey) -> int:
        value = self.integer(data.get(key, default), (*path, key), low, high)
        return default if value is None else value

    def seconds(self, data: Mapping[str, Any], key: str, default: float, low: float,
                high: float, path: PathKey) -> float:
        value = self.number(data.get(key, default), (*path, key), low, high)
        return default if value is None else value

    def field_text(self, data: Mapping[str, Any], key: str, path: PathKey,
                   default: str | None = None) -> str | None:
        value = data.get(key, default)
        if value is None:
            self.error(path, f"required key '{key}' is missing")
            return None
        return self.text(value, (*path, key))

    def parse(self) -> RoutingConfig:
        data = self.section(self.source.data, (), "the routing file")
        self.keys(data, ("queues", "groups", "seats", "overflow", "pause_reasons"), ())
        queues: dict[str, QueueDef] = {}
        for qid, spec in self.section(data.get("queues"), ("queues",), "queues",
                                      MAX_QUEUES).items():
            path = ("queues", qid)
            if not NAME_ID.match(str(qid)):
                self.error(path, "a queue id is lower-case letters, digits and _, starting "
                           "with a letter (it is the Asterisk queue's name)")
            body = self.section(spec, path, "a queue")
            self.keys(body, ("name", "strategy", "ring_timeout", "wrapup", "max_wait",
                             "announce", "on_no_answer", "region_wait"), path)
            strategy = str(body.get("strategy", "rrmemory"))
            if strategy not in STRATEGIES:
                self.error((*path, "strategy"), f"unknown strategy '{strategy}' (expected "
                           f"one of: {', '.join(STRATEGIES)})")
            on_no_answer = str(body.get("on_no_answer", "voicemail"))
            if on_no_answer not in NO_ANSWER:
                self.error((*path, "on_no_answer"), f"must be one of: {', '.join(NO_ANSWER)}")
            announce = self.section(body.get("announce"), (*path, "announce"), "announce")
            self.keys(announce, ("position", "expected_wait"), (*path, "announce"))
            queues[qid] = QueueDef(
                qid, self.field_text(body, "name", path, qid) or qid, strategy,
                self.whole(body, "ring_timeout", 15, 5, 120, path),
                self.whole(body, "wrapup", 0, 0, 600, path),
                self.whole(body, "max_wait", 300, 10, 3600, path),
                bool(announce.get("position", False)),
                bool(announce.get("expected_wait", False)), on_no_answer,
                self.whole(body, "region_wait", 20, 5, 600, path))
        if not queues:
            self.error(("queues",), "at least one queue is needed")
        groups: dict[str, Group] = {}
        raw_groups = self.section(data.get("groups"), ("groups",), "groups", MAX_GROUPS)
        for gid, spec in raw_groups.items():
            path = ("groups", gid)
            if not NAME_ID.match(str(gid)):
                self.error(path, "a group id is lower-case letters, digits and _, starting "
                           "with a letter")
            body = self.section(spec, path, "a group")
            self.keys(body, ("name", "kind", "area_codes"), path)
            kind = str(body.get("kind", "remote"))
            if kind not in ("centre", "remote"):
                self.error((*path, "kind"), "must be centre or remote")
            codes = body.get("area_codes", [])
            if isinstance(codes, list) and len(codes) > MAX_AREA_CODES:
                self.error((*path, "area_codes"), f"at most {MAX_AREA_CODES} area codes, "
                           f"not {len(codes)}")
                codes = []
            elif not isinstance(codes, list) or not all(
                    isinstance(c, str) and c.isascii() and c.isdigit() and len(c) <= 8
                    for c in codes):
                self.error((*path, "area_codes"), 'must be a list of quoted area codes, e.g. '
                           '["0551"]')
                codes = []
            groups[gid] = Group(gid, self.field_text(body, "name", path, gid) or gid, kind,
                                tuple(codes))
        if raw_groups and not any(g.kind == "centre" for g in groups.values()):
            self.error(("groups",), "one group must be the provincial centre (kind: centre)")
        seats: dict[str, Seat] = {}
        for sid, spec in self.section(data.get("seats"), ("seats",), "seats",
                                      MAX_SEATS).items():
            path = ("seats", sid)
            if not SEAT_ID.match(str(sid)):
                self.error(path, "a seat id is letters, digits, _ or - (quote numbers)")
            body = self.section(spec, path, "a seat")
            self.keys(body, ("name", "group", "device", "skills", "webrtc"), path)
            group = self.field_text(body, "group", path)
            if group is not None and group not in groups:
                self.error((*path, "group"), f"unknown group '{group}'")
            device = self.field_text(body, "device", path)
            if device is not None and not DEVICE.match(device):
                self.error((*path, "device"), f"'{device}' is not an Asterisk interface "
                           "(e.g. PJSIP/1001 or Local/1001@seats/n)")
            skills_raw = self.section(body.get("skills"), (*path, "skills"), "skills")
            skills: dict[str, int] = {}
            for queue, level in skills_raw.items():
                if queue not in queues:
                    self.error((*path, "skills", queue), f"unknown queue '{queue}'")
                elif isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
                    self.error((*path, "skills", queue), "a skill level is 1 to 9")
                else:
                    skills[queue] = level
            if not skills_raw:
                self.error(path, "a seat with no skill can serve no queue")
            name = self.field_text(body, "name", path, str(sid)) or str(sid)
            webrtc = body.get("webrtc", False)
            if not isinstance(webrtc, bool):
                self.error((*path, "webrtc"), "webrtc is true (the browser phone) or false")
                webrtc = False
            elif webrtc and device is not None and not WEBRTC_DEVICE.match(device):
                self.error((*path, "webrtc"), f"a browser phone is a PJSIP endpoint of its "
                           f"own: device PJSIP/<name>, not '{device}'")
            seats[str(sid)] = Seat(str(sid), name, group or "", device or "", skills, webrtc)
        served = {q for seat in seats.values() for q in seat.skills}
        if seats:
            for qid in queues:
                if qid not in served:
                    self.error(("queues", qid), "no seat has this skill: no one can serve "
                               "the queue")
        overflow = self._overflow(self.section(data.get("overflow"), ("overflow",),
                                               "overflow"))
        reasons = self.section(data.get("pause_reasons"), ("pause_reasons",), "pause_reasons",
                               MAX_PAUSE_REASONS)
        pause_reasons: dict[str, str] = {}
        for code, label in reasons.items():
            if not PAUSE_CODE.match(code):
                self.error(("pause_reasons", code), "a pause reason's code is lower-case "
                           "letters, digits and _, starting with a letter")
                continue
            text = self.text(label, ("pause_reasons", code), "a pause reason's label")
            if text is not None:
                pause_reasons[code] = text
        config = RoutingConfig(queues, groups, seats, overflow,
                               pause_reasons or dict(DEFAULT_PAUSE_REASONS))
        regions = len(config.region_queues()) if not self.errors else 0
        if regions > MAX_REGION_QUEUES:
            self.error(("groups",), f"{regions} region queues (one per queue and city "
                       "bureau with area codes and a seat skilled for the queue): at most "
                       f"{MAX_REGION_QUEUES}")
        return config

    def _overflow(self, data: dict[str, Any]) -> OverflowPolicy:
        self.keys(data, ("enter", "leave", "remote_penalty"), ("overflow",))
        enter = self.section(data.get("enter"), ("overflow", "enter"), "enter")
        leave = self.section(data.get("leave"), ("overflow", "leave"), "leave")
        self.keys(enter, ("waiting", "expected_wait"), ("overflow", "enter"))
        self.keys(leave, ("waiting", "expected_wait", "after"), ("overflow", "leave"))
        policy = OverflowPolicy(
            Thresholds(self.whole(enter, "waiting", 5, 1, 10_000, ("overflow", "enter")),
                       self.seconds(enter, "expected_wait", 60, 1, 3600,
                                    ("overflow", "enter"))),
            Thresholds(self.whole(leave, "waiting", 1, 0, 10_000, ("overflow", "leave")),
                       self.seconds(leave, "expected_wait", 20, 0, 3600,
                                    ("overflow", "leave")),
                       self.seconds(leave, "after", 120, 0, 3600, ("overflow", "leave"))),
            self.whole(data, "remote_penalty", 10, 1, 100, ("overflow",)))
        if policy.leave.waiting >= policy.enter.waiting or (
                policy.leave.expected_wait >= policy.enter.expected_wait):
            self.error(("overflow", "leave"), "leave thresholds must be below enter "
                       "thresholds (hysteresis), or overflow would flap")
        return policy


def parse_routing(source: Sourced) -> RoutingConfig:
    """Validate config/routing.yaml into a RoutingConfig; raises RoutingInvalid listing
    every problem as `file:line: key.path: message`."""
    parser = _Parser(source)
    config = parser.parse()
    parser.raise_if_errors(RoutingInvalid)
    return config


def staff_names(config: RoutingConfig | None) -> Names:
    """The Chinese names of routing.yaml's queues, groups and seats (a seat by the name
    Asterisk reports it by, its device and its id), for exports, reports and pages."""
    if config is None:
        return Names()
    seats: dict[str, tuple[str, str]] = {}
    for seat in config.seats.values():
        for key in (seat.device, seat.name, seat.id):
            seats[key] = (seat.id, seat.name)
    return Names({q.id: q.name for q in config.queues.values()},
                 {g.id: g.name for g in config.groups.values()}, seats)
