"""The routing loop against the fake AMI (tests/fakeami.py): how many QueueStatus rounds a
flood of queue events costs, and what it logs when a change it wants already holds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hotline.core.configuration import Configuration
from hotline.core.routing.config import penalty_for
from hotline.features.seats.routing_loop import RoutingLoop
from hotline.ledger.seats import SeatBook
from hotline.ledger.store import Ledger
from tests.fakeami import Action, FakeAmi, event, response, running, wait_until
from tests.unit.test_routing import make_config

NOW = datetime(2026, 11, 25, 2, 0, 0, tzinfo=UTC)  # 10:00 Beijing time, a working day
NAMES = {"c1": "张敏", "c2": "王芳", "h1": "李强", "h2": "赵磊", "w1": "陈静"}


@dataclass
class Queues:
    """Asterisk's queues as the fake AMI answers QueueStatus: members (seat -> penalty,
    all idle unless busy) and callers waiting; QueueAdd and QueueRemove change them."""

    members: dict[str, dict[str, int]] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)
    add_reply: str | None = None  # QueueAdd's answer instead of success

    def status(self) -> str:
        frames = [response("Queue status will follow", EventList="start")]
        for queue in sorted(set(self.members) | set(self.waiting)):
            callers = self.waiting.get(queue, 0)
            frames.append(event("QueueParams", {"Queue": queue, "Calls": str(callers),
                                                "Holdtime": "0", "ActionID": "{ActionID}"}))
            for seat, penalty in self.members.get(queue, {}).items():
                frames.append(event("QueueMember", {
                    "Queue": queue, "Name": NAMES[seat], "Location": f"PJSIP/{seat}",
                    "Membership": "dynamic", "Penalty": str(penalty),
                    "InCall": "1" if seat in self.busy else "0",
                    "Status": "2" if seat in self.busy else "1", "Paused": "0",
                    "ActionID": "{ActionID}"}))
            for position in range(1, callers + 1):
                frames.append(event("QueueEntry", {
                    "Queue": queue, "Position": str(position), "Wait": "5",
                    "Uniqueid": f"1764230431.{position}", "ActionID": "{ActionID}"}))
        frames.append(event("QueueStatusComplete", {"ActionID": "{ActionID}",
                                                    "EventList": "Complete"}))
        return "".join(frames)

    def answer(self, action: Action) -> str | None:
        name = action.name.lower()
        if name == "queuestatus":
            return self.status()
        queue = action.get("Queue") or ""
        seat = (action.get("Interface") or "").removeprefix("PJSIP/")
        if name == "queueadd":
            if self.add_reply is not None:
                return self.add_reply
            self.members.setdefault(queue, {})[seat] = int(action.get("Penalty") or 0)
            return response("Added interface to queue")
        if name == "queueremove":
            self.members.get(queue, {}).pop(seat, None)
            return response("Removed interface from queue")
        if name == "queuepenalty":
            self.members.setdefault(queue, {})[seat] = int(action.get("Penalty") or 0)
            return response("Interface penalty set successfully")
        if name == "queuepause":
            return response("Interface paused successfully")
        return None


@dataclass
class Rig:
    ami: FakeAmi
    queues: Queues
    loop: RoutingLoop

    def rounds(self) -> int:
        return len(self.ami.received("QueueStatus"))

    def added(self, queue: str, seat: str) -> list[Action]:
        return [a for a in self.ami.received("QueueAdd")
                if a.get("Queue") == queue and a.get("Interface") == f"PJSIP/{seat}"]


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, queues: Queues, *, logins: dict[str, list[str]],
              min_gap: float | None = None) -> AsyncIterator[Rig]:
    """The loop running (every 60 s, so only events start rounds) on the fake AMI, with
    the seats of test_routing.make_config() and these seat events in the ledger."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    book = SeatBook(ledger)
    for seat, events in logins.items():
        for seat_event in events:
            await book.record(seat, seat_event, at=NOW, actor="test")
    live = Configuration(routing=make_config())
    try:
        async with FakeAmi() as ami:
            ami.handler = queues.answer
            async with running(ami) as gateway:
                extra = {} if min_gap is None else {"min_gap": min_gap}
                loop = RoutingLoop(gateway, ledger, lambda: live, lambda now: True,
                                   lambda: NOW, interval=60.0, **extra)
                subscription = loop.attach()
                task = asyncio.create_task(loop.run())
                try:
                    yield Rig(ami, queues, loop)
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    gateway.unsubscribe(subscription)
    finally:
        await ledger.close()


STAFFED = {"c1": ["login"], "c2": ["login"], "h1": ["login", "move_in"]}


def staffed() -> Queues:
    """c1 and c2 serve center and iit (c1) as the policy wants; h1 (Hefei, moved in) is
    in its region queues only: overflow is off, nobody waits."""
    p = penalty_for
    return Queues({"center": {"c1": p(5), "c2": p(7)}, "iit": {"c1": p(3)},
                   "center-hefei": {"h1": p(4)}, "iit-hefei": {"h1": p(6)}})


async def test_a_flood_of_queue_events_costs_a_few_rounds_and_overflow_still_follows(
        tmp_path: Path) -> None:
    """Queue events at ~500/s for 1.2 s start at most one QueueStatus round per
    `min_gap` (0.25 s: at most 4 a second, 7 in all with the first), not one per event;
    and when the queue fills up midway (6 waiting, both centre seats busy) the
    moved-in remote seat h1 is still added to center within 0.5 s."""
    queues = staffed()
    async with rig(tmp_path, queues, logins=STAFFED, min_gap=0.25) as r:
        r.loop.poke()
        await wait_until(lambda: r.rounds() >= 1, 2.0, "the first round")
        await asyncio.sleep(0.3)
        before = r.rounds()
        started = time.monotonic()
        changed_at = added_at = None
        for batch in range(60):  # 60 batches of 10 events, one batch every 20 ms
            if batch == 30:
                queues.waiting["center"] = 6
                queues.busy |= {"c1", "c2"}
                changed_at = time.monotonic()
            for n in range(10):
                r.ami.connection.send(event(
                    "QueueMemberStatus" if n % 2 else "QueueCallerJoin",
                    {"Queue": "center", "Interface": "PJSIP/c1", "Status": "2"}))
            await asyncio.sleep(0.02)
            if added_at is None and r.added("center", "h1"):
                added_at = time.monotonic()
        spent = time.monotonic() - started
        rounds = r.rounds() - before
        assert changed_at is not None
        if added_at is None:
            await wait_until(lambda: bool(r.added("center", "h1")), 1.0, "h1 added")
            added_at = time.monotonic()
        assert added_at - changed_at <= 0.5, f"h1 added {added_at - changed_at:.2f} s late"
        [add] = r.added("center", "h1")
        assert add.get("Penalty") == str(penalty_for(4) + 10)  # plus the remote penalty
        assert 1 <= rounds <= spent / 0.25 + 2, f"{rounds} rounds in {spent:.2f} s"


@pytest.mark.parametrize(("reply", "warned"), [
    ("Unable to add interface: Already there", False),
    ("Unable to add interface to queue: No such queue", True)])
async def test_an_add_already_made_is_no_warning_a_refused_one_is(
        tmp_path: Path, reply: str, warned: bool) -> None:
    """c2 has logged in but is not yet in center's QueueStatus: the round adds it. When
    Asterisk answers "Already there" (the login command added it meanwhile) the intent
    is met: nothing at warning level. A real refusal is still a warning."""
    queues = staffed()
    del queues.members["center"]["c2"]
    queues.add_reply = response(reply, status="Error")
    with capture_logs() as logs:
        async with rig(tmp_path, queues, logins=STAFFED) as r:
            r.loop.poke()
            await wait_until(lambda: bool(r.added("center", "c2")), 2.0, "c2's QueueAdd")
            await wait_until(lambda: r.loop.rounds >= 1, 2.0,
                             "the round's end")
    refused = [e for e in logs if e["event"] == "routing.action_refused"]
    loud = [e for e in logs if e["log_level"] in ("warning", "error", "critical")]
    if warned:
        assert [(e["queue"], e["interface"]) for e in refused] == [("center", "PJSIP/c2")]
    else:
        assert loud == []


async def test_no_seat_logged_in_at_start_is_one_warning_for_all_queues(
        tmp_path: Path) -> None:
    """At start in opening hours nobody has logged in: every queue is uncovered. That is
    one warning naming the queues, not an error per queue; a seat logging in later
    covers its queues again (one info line), and nothing is logged again while the
    alerts stay as they were."""
    queues = Queues()
    with capture_logs() as logs:
        async with rig(tmp_path, queues, logins={}, min_gap=0.0) as r:
            r.loop.poke()
            await wait_until(lambda: r.loop.rounds >= 1, 2.0,
                             "the first round")
            assert set(r.loop.alerts) == {"center", "iit"}
            r.loop.poke()
            await wait_until(lambda: r.loop.rounds >= 2, 2.0,
                             "a second round")
            await SeatBook(r.loop.book.ledger).record("c2", "login", at=NOW, actor="test")
            r.loop.poke()
            await wait_until(lambda: "center" not in r.loop.alerts, 2.0, "center covered")
    coverage = [(e["event"], e["log_level"], e["queues"]) for e in logs
                if e["event"].startswith("routing.coverage")]
    assert coverage == [("routing.coverage_alert", "warning", ["center", "iit"]),
                        ("routing.coverage_restored", "info", ["center"])]
    assert [e for e in logs if e["log_level"] in ("error", "critical")] == []
