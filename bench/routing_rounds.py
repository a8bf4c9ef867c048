"""The routing loop under a flood of queue events: QueueStatus rounds per second and CPU,
the coalesced loop against one round per event (the loop before issue 13).

The issue's realistic run (40 Local seats in 8 queues, 10 calls/s) measured 20 rounds/s
and 4,600-6,600 QueueStatus events/s: hotline spent more CPU per call than Asterisk, 80 %
of it in the routing loop. Here the real `RoutingLoop` and `AmiGateway` run against the
fake AMI of the tests (tests/fakeami.py), which answers QueueStatus with 40 seats in 8
queues, while queue events arrive at a steady rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import Outcome
from hotline.core.configuration import Configuration
from hotline.core.routing.config import (
    Group,
    OverflowPolicy,
    QueueDef,
    RoutingConfig,
    Seat,
    Thresholds,
    penalty_for,
)
from hotline.features.seats.routing_loop import RoutingLoop
from hotline.ledger.seats import SeatBook
from hotline.ledger.store import Ledger
from tests.fakeami import Action, FakeAmi, event, response, running, wait_until

TITLE = ("Routing loop under a flood of queue events: QueueStatus rounds per second and CPU, "
         "coalesced vs one round per event")

SEED = 12366
SEATS = 40
QUEUES = 8
WAITING = 10  # callers waiting, spread over the queues
RATES = (200, 2_000)  # queue events per second
SECONDS = 4.0  # of flood per side and rate
BATCH_EVERY = 0.01  # events are sent in batches every 10 ms
TARGET_ROUNDS = 4.0  # per second, at most, whatever the rate
NOW = datetime(2026, 11, 25, 2, 0, 0, tzinfo=UTC)  # 10:00 Beijing time, a working day

MEASURES = f"""
Rounds of the routing loop (`hotline.features.seats.routing_loop.RoutingLoop`: QueueStatus,
the ledger's seats, the policy's decision) while queue events flood in, and the CPU they
cost. Target: at most {TARGET_ROUNDS:g} rounds per second at every event rate.

- The real loop and `AmiGateway` in one process against the tests' fake AMI
  (tests/fakeami.py) on 127.0.0.1, with a real ledger file: {SEATS} centre seats with 2 to
  {QUEUES} skills each over {QUEUES} queues (seed {SEED}), all logged in and already
  members as the policy wants (a round changes nothing: the steady state), {WAITING}
  callers waiting. The fake answers every QueueStatus with the same pre-rendered reply
  (its cost is a socket write).
- Queue events (`QueueMemberStatus`, `QueueCallerJoin`, `QueueCallerLeave` with the
  headers Asterisk 22 sends) at {" and ".join(f"{r:,}" for r in RATES)} a second, in
  batches every {BATCH_EVERY * 1000:g} ms, for {SECONDS:g} s per run. The loop's own timer
  (every 2 s) is on.
- Sides, one after the other for each rate: *no routing loop* (the gateway parsing and
  routing the same events to nobody: the floor), *one round per event* (`min_gap=0`: the
  loop as it was before issue 13, on today's gateway, whose list parsing got cheaper in
  the same change) and *coalesced* (the default, at most one round per `min_gap` =
  0.25 s).
- Rounds counted by the loop; QueueStatus list events = rounds × the reply's events; CPU
  = `time.process_time()` of the whole process (hotline's side and the fake's) over the
  run, per second of flood; the extra CPU over the floor is the routing loop's.
"""


def build(rng: random.Random) -> RoutingConfig:
    queues = {f"q{i}": QueueDef(f"q{i}", f"咨询队列{i + 1}") for i in range(QUEUES)}
    groups = {"centre": Group("centre", "省局12366中心", "centre")}
    seats = {}
    for n in range(SEATS):
        sid = f"{8001 + n}"
        chosen = rng.sample(sorted(queues), rng.randint(2, QUEUES))
        seats[sid] = Seat(sid, f"座席{sid}", "centre", f"Local/{sid}@seats/n",
                          {q: rng.randint(1, 9) for q in sorted(chosen)})
    policy = OverflowPolicy(Thresholds(5, 60.0), Thresholds(1, 20.0, 120.0), 10)
    return RoutingConfig(queues, groups, seats, policy)


def status_reply(config: RoutingConfig, rng: random.Random) -> tuple[bytes, int]:
    """The QueueStatus answer (ActionID left as a placeholder) and its list events."""
    frames = [response("Queue status will follow", EventList="start")]
    events = 0
    waiting = {q: 0 for q in config.queues}
    for q in rng.choices(sorted(config.queues), k=WAITING):
        waiting[q] += 1
    aid = {"ActionID": "{ActionID}"}
    for queue in sorted(config.queues):
        frames.append(event("QueueParams", {
            "Queue": queue, "Max": "0", "Strategy": "rrmemory", "Calls": str(waiting[queue]),
            "Holdtime": "12", "TalkTime": "95", "Completed": "40", "Abandoned": "2",
            "ServiceLevel": "60", "ServicelevelPerf": "90.0", "ServicelevelPerf2": "88.0",
            "Weight": "0", **aid}))
        events += 1
        for seat in config.seats.values():
            if queue not in seat.skills:
                continue
            busy = rng.random() < 0.4
            frames.append(event("QueueMember", {
                "Queue": queue, "Name": seat.name, "Location": seat.device,
                "StateInterface": seat.device.removesuffix("/n"), "Membership": "dynamic",
                "Penalty": str(penalty_for(seat.skills[queue])), "CallsTaken": "12",
                "LastCall": "1764230101", "LastPause": "0", "LoginTime": "1764229800",
                "InCall": "1" if busy else "0", "Status": "2" if busy else "1",
                "Paused": "0", "PausedReason": "", "Wrapuptime": "0", **aid}))
            events += 1
        for position in range(1, waiting[queue] + 1):
            frames.append(event("QueueEntry", {
                "Queue": queue, "Position": str(position),
                "Channel": f"PJSIP/trunk-{position:08x}", "Uniqueid": f"1764230431.{position}",
                "CallerIDNum": "13955112345", "CallerIDName": "纳税人", "ConnectedLineNum":
                "unknown", "ConnectedLineName": "unknown", "Wait": "12", "Priority": "0",
                **aid}))
            events += 1
    frames.append(event("QueueStatusComplete", {**aid, "EventList": "Complete",
                                                "ListItems": str(events)}))
    return "".join(frames).encode("utf-8"), events


def flood_events(config: RoutingConfig, rng: random.Random) -> list[bytes]:
    """A pool of queue events as Asterisk 22 sends them."""
    pool = []
    seats = list(config.seats.values())
    for n in range(500):
        seat = rng.choice(seats)
        queue = rng.choice(sorted(seat.skills))
        stamp = {"Timestamp": f"1764230{400 + n}.{rng.randrange(10**6):06d}",
                 "Privilege": "agent,all"}
        kind = n % 3
        if kind == 0:
            headers = {**stamp, "Queue": queue, "MemberName": seat.name,
                       "Interface": seat.device, "StateInterface": seat.device,
                       "Membership": "dynamic", "Penalty": "3", "CallsTaken": "12",
                       "LastCall": "1764230101", "LastPause": "0", "LoginTime": "1764229800",
                       "InCall": "1", "Status": "2", "Paused": "0", "PausedReason": "",
                       "Ringinuse": "0", "Wrapuptime": "0"}
            pool.append(event("QueueMemberStatus", headers).encode("utf-8"))
        else:
            headers = {**stamp, "Channel": f"PJSIP/trunk-{n:08x}", "ChannelState": "6",
                       "ChannelStateDesc": "Up", "CallerIDNum": "13955112345",
                       "CallerIDName": "纳税人", "ConnectedLineNum": "<unknown>",
                       "ConnectedLineName": "<unknown>", "Language": "zh", "AccountCode": "",
                       "Context": "ivr", "Exten": "12366", "Priority": "1",
                       "Uniqueid": f"1764230431.{n}", "Linkedid": f"1764230431.{n}",
                       "Queue": queue, "Position": "1", "Count": "1"}
            name = "QueueCallerJoin" if kind == 1 else "QueueCallerLeave"
            pool.append(event(name, headers).encode("utf-8"))
    return pool


@dataclass
class Run:
    side: str
    rate: int
    seconds: float
    rounds: int
    cpu: float  # process CPU seconds over the run


async def one_run(config: RoutingConfig, reply: bytes, pool: list[bytes], rate: int,
                  min_gap: float | None, folder: Path) -> Run:
    ledger = await Ledger.open(folder / f"ledger-{time.monotonic_ns()}.sqlite3")
    book = SeatBook(ledger)
    for sid in config.seats:
        await book.record(sid, "login", at=NOW, actor="bench")
    live = Configuration(routing=config)

    def answer(action: Action) -> bytes | str | None:
        name = action.name.lower()
        if name == "queuestatus":
            return reply.replace(b"{ActionID}", action.id.encode())
        if name.startswith("queue"):
            return response("Done")
        return None

    try:
        async with FakeAmi() as ami:
            ami.handler = answer
            async with running(ami) as gateway:
                loop = task = subscription = None
                if min_gap is not None:
                    loop = RoutingLoop(gateway, ledger, lambda: live, lambda now: True,
                                       lambda: NOW, min_gap=min_gap)
                    subscription = loop.attach()
                    task = asyncio.create_task(loop.run())
                    loop.poke()
                    first = loop  # the first round, outside the measure
                    await wait_until(lambda: first.rounds >= 1, 5.0, "the first round")
                per_batch = max(1, round(rate * BATCH_EVERY))
                connection = ami.connection
                rounds0 = loop.rounds if loop else 0
                cpu0, start = time.process_time(), time.monotonic()
                sent = 0
                while (elapsed := time.monotonic() - start) < SECONDS:
                    due = int(elapsed * rate) + per_batch
                    while sent < due:
                        connection.send(pool[sent % len(pool)])
                        sent += 1
                    await asyncio.sleep(BATCH_EVERY)
                seconds = time.monotonic() - start
                cpu = time.process_time() - cpu0
                rounds = (loop.rounds if loop else 0) - rounds0
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                if subscription is not None:
                    gateway.unsubscribe(subscription)
    finally:
        await ledger.close()
    side = ("no routing loop (floor)" if min_gap is None
            else "one round per event (before)" if min_gap == 0 else "coalesced (0.25 s)")
    return Run(side, rate, seconds, rounds, cpu)


def run() -> Outcome:
    rng = random.Random(SEED)
    config = build(rng)
    reply, list_events = status_reply(config, rng)
    pool = flood_events(config, rng)
    sides: tuple[float | None, ...] = (None, 0.0, 0.25)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        for rate in RATES:
            for min_gap in sides:
                result = asyncio.run(one_run(config, reply, pool, rate, min_gap, Path(tmp)))
                runs.append(result)
                print(f"{rate:,} events/s, {result.side}: {result.rounds / result.seconds:.1f} "
                      f"rounds/s, CPU {result.cpu / result.seconds * 1000:.0f} ms/s", flush=True)
    rows = []
    met = True
    notes = []
    for rate in RATES:
        floor = next(r for r in runs if r.rate == rate and r.side.startswith("no routing"))
        floor_cpu = floor.cpu / floor.seconds
        by_side = {r.side: r for r in runs if r.rate == rate}
        for r in by_side.values():
            per_s = r.rounds / r.seconds
            cpu = r.cpu / r.seconds
            coalesced = r.side.startswith("coalesced")
            ok = per_s <= TARGET_ROUNDS
            if coalesced:
                met = met and ok
            rows.append([f"{rate:,} events/s: {r.side}", f"{per_s:.1f}",
                         f"{per_s * list_events:,.0f}", f"{cpu * 1000:,.0f}",
                         f"{(cpu - floor_cpu) * 1000:,.0f}",
                         f"≤ {TARGET_ROUNDS:g}" if coalesced else "",
                         ("yes" if ok else "**no**") if coalesced else ""])
        before = by_side["one round per event (before)"]
        after = by_side["coalesced (0.25 s)"]
        extra_before = before.cpu / before.seconds - floor_cpu
        extra_after = after.cpu / after.seconds - floor_cpu
        notes.append(
            f"{rate:,} events/s: {before.rounds / before.seconds:.1f} rounds/s before, "
            f"{after.rounds / after.seconds:.1f} coalesced; the routing loop's CPU "
            f"{extra_before * 1000:,.0f} ms/s before, {extra_after * 1000:,.0f} ms/s coalesced"
            + (f" ({extra_before / extra_after:,.1f}x less)" if extra_after > 0 else "") + ".")
    notes.append(f"QueueStatus reply: {list_events} list events ({QUEUES} QueueParams, "
                 f"{list_events - QUEUES - WAITING} QueueMember, {WAITING} QueueEntry), "
                 f"{len(reply):,} bytes.")
    return Outcome(["events, side", "rounds/s", "QueueStatus list events/s",
                    "CPU (ms per s)", "over the floor (ms per s)", "target rounds/s", "met"],
                   rows, notes, targets_met=met)
