"""Exactly once through the service: hotline's real AMI gateway, call handling and ledger
writer against the fake AMI server (tests/fakeami.py), fed the recorded call
(tests/fixtures/ami) with the connection dropped mid-call, events replayed and delivered
late. Whatever arrives, each call is one ledger row with its true final values.

Asterisk is configured with `timestampevents = yes` (config/asterisk/manager.conf); the
recorded transcripts were taken without it, so the tests stamp each event with its time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hotline.core.calls.tracking import Call, CallState
from hotline.core.configuration import Configuration
from hotline.features.calls.handling import CallHandling
from hotline.features.ivr.prompts import PromptStore
from hotline.features.ivr.registry import DialplanFiles
from hotline.ledger.store import BEIJING, CallRow, Ledger
from hotline.pbx.gateway import AmiGateway
from tests.fakeami import Action, FakeAmi, event, frames, response, transcript

pytestmark = pytest.mark.timeout(30)
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 11, 27, 8, 0, 0, tzinfo=UTC)  # 16:00 Beijing time, a working day

# The recorded call (tests/fixtures/ami/inbound_call, call_to_seat): 张三 dials 12366, the
# IVR sends the call to queue tax-inquiry, seat 1001 answers after 6 s.
A = "1764230400.14"
A_CHANNEL = "PJSIP/trunk-cmcc-00000007"
A_SEAT_LEG = "1764230412.17"
# A second caller, 李四 (the other channel of the recorded CoreShowChannels).
B = "1764230431.21"
B_CHANNEL = "PJSIP/trunk-cmcc-00000009"

NEWCHANNEL, AGI_START = frames(transcript("inbound_call"))
AGI_END, QUEUE_JOIN, AGENT_CONNECT, HANGUP = frames(transcript("call_to_seat"))
SHOW_START, SHOW_A, SHOW_A_SEAT, SHOW_B, SHOW_END = frames(transcript("core_show_channels"))
# QueueStatus as Asterisk answered it: seat 1001 (in a call) and 1002, B waiting 12 s.
_, _, SEAT_1001, SEAT_1002, ENTRY_B, _ = frames(transcript("queue_status"))
# A's channel still waiting in hotline's IVR (AsyncAGI), nobody talking to it.
SHOW_A_IN_AGI = (SHOW_A.replace("Application: Queue", "Application: AGI")
                 .replace("ApplicationData: tax-inquiry,tT,,,300", "ApplicationData: agi:async")
                 .replace("BridgeId: 8c2b6f0e-5b1a-4b7e-9f63-0d6a1f2c3b4d", "BridgeId: "))


def at(frame: str, seconds: float) -> str:
    """The event stamped `seconds` after T0, as Asterisk stamps it (Timestamp header)."""
    name, rest = frame.split("\r\n", 1)
    stamp = (T0 + timedelta(seconds=seconds)).timestamp()
    return f"{name}\r\nTimestamp: {stamp:.6f}\r\n{rest}"


def as_b(frame: str) -> str:
    """The same event on the second caller's channel."""
    return (frame.replace(A, B).replace(A_CHANNEL, B_CHANNEL)
            .replace("055112345678", "055187654321").replace("纳税人张三", "纳税人李四"))


def agent_complete(talk: int) -> str:
    return event("AgentComplete", {
        "Privilege": "agent,all", "Channel": A_CHANNEL, "Uniqueid": A, "Linkedid": A,
        "DestChannel": "Local/1001@seats-00000003;1", "DestUniqueid": A_SEAT_LEG,
        "DestLinkedid": A, "Queue": "tax-inquiry", "Interface": "Local/1001@seats/n",
        "MemberName": "座席1001", "HoldTime": "6", "TalkTime": str(talk),
        "Reason": "caller"})


SEAT_LEG_HANGUP = event("Hangup", {
    "Privilege": "call,all", "Channel": "Local/1001@seats-00000003;1",
    "Uniqueid": A_SEAT_LEG, "Linkedid": A, "Cause": "16"})


@dataclass
class Asterisk:
    """What the fake Asterisk answers: the channels CoreShowChannels lists right now,
    empty queues, and every AGI command accepted (Asterisk then reports its end)."""

    ami: FakeAmi
    channels: list[str] = field(default_factory=list)  # CoreShowChannel frames
    queues: list[str] = field(default_factory=list)  # QueueMember and QueueEntry frames
    # Pushed just before the answer to QueueStatus: events in the middle of a resync.
    during_resync: list[str] = field(default_factory=list)

    async def answer(self, action: Action) -> str | None:
        if action.name == "CoreShowChannels":
            complete = SHOW_END.replace("ListItems: 3", f"ListItems: {len(self.channels)}")
            return SHOW_START + "".join(self.channels) + complete
        if action.name == "QueueStatus":
            if self.during_resync:
                await self.push(*self.during_resync)
                self.during_resync = []
                await asyncio.sleep(0.05)
            return (response("Queue status will follow", EventList="start")
                    + "".join(self.queues)
                    + event("QueueStatusComplete", {"ActionID": "{ActionID}",
                                                    "EventList": "Complete",
                                                    "ListItems": str(len(self.queues))}))
        if action.name == "AGI":
            return response("Added AGI command to queue")
        return None

    async def push(self, *texts: str) -> None:
        await self.ami.connection.push("".join(texts))


class Hotline:
    """One run of hotline's call handling (as hotline/app/service.py wires it): its own
    gateway and tracker, the ledger writer running, on a ledger file that outlives it."""

    def __init__(self, ami: FakeAmi, ledger: Ledger, clock: Callable[[], datetime],
                 tmp_path: Path) -> None:
        self.gateway = AmiGateway("127.0.0.1", ami.port, ami.username, ami.secret,
                                  action_timeout=1.0, connect_timeout=1.0,
                                  watchdog_interval=5.0, backoff_max=0.25)
        loaded = DialplanFiles([REPO / "tests" / "dialplans"]).load()
        assert not loaded.errors
        config = Configuration(loaded.plans, generation=1)
        self.calls = CallHandling(self.gateway, ledger, lambda: config,
                                  PromptStore(tmp_path / "prompts", "/prompts"), clock=clock)
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.calls.attach()
        self.tasks = [asyncio.create_task(self.gateway.run()),
                      asyncio.create_task(self.calls.writer.run())]
        await self.gateway.wait_connected(3)

    async def settled(self) -> None:
        """Every event pushed so far handled, and its snapshots in the ledger. (The Ping's
        answer comes after the events pushed before it, on the same stream.)"""
        await self.gateway.send({"Action": "Ping"})
        assert await self.gateway.caught_up("calls", timeout=2)
        async with asyncio.timeout(3):
            await self.calls.writer.idle.wait()

    async def kill(self) -> None:
        """Gone at once (kill -9 as far as the ledger is concerned: no clean stop)."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def line(tmp_path: Path) -> AsyncIterator[tuple[FakeAmi, Asterisk, Ledger]]:
    async with FakeAmi() as ami:
        asterisk = Asterisk(ami)
        ami.handler = asterisk.answer
        ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
        try:
            yield ami, asterisk, ledger
        finally:
            await ledger.close()


async def rows(ledger: Ledger) -> dict[str, CallRow]:
    found = await ledger.latest(limit=100)
    assert len({r.linkedid for r in found}) == len(found)  # the primary key holds
    return {r.linkedid: r for r in found}


async def count_rows(ledger: Ledger) -> int:
    async with ledger.db.execute("SELECT count(*) FROM calls") as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def beijing(seconds: float) -> str:
    """T0 + seconds as the ledger writes times (Beijing time, milliseconds)."""
    return (T0 + timedelta(seconds=seconds)).astimezone(BEIJING).isoformat(
        timespec="milliseconds")


async def test_reconnect_replays_and_late_events_leave_one_row_per_call(
        tmp_path: Path) -> None:
    """After an AMI reconnect, replayed and late events leave one correct ledger row per
    call."""
    now = [T0 + timedelta(seconds=30)]
    async with line(tmp_path) as (ami, asterisk, ledger):
        hotline = Hotline(ami, ledger, lambda: now[0], tmp_path)
        await hotline.start()
        try:
            # A: into the IVR, the IVR answers it, it leaves for the queue, a seat answers.
            await asterisk.push(at(NEWCHANNEL, 0), at(AGI_START, 0))
            await ami.wait_action("AGI")  # the IVR session's ANSWER
            await asterisk.push(at(AGI_END, 9), at(QUEUE_JOIN, 10), at(AGENT_CONNECT, 16))
            # B: into the IVR and the queue.
            await asterisk.push(at(as_b(AGI_START), 2))
            await ami.wait_action("AGI", 2)
            await asterisk.push(at(as_b(AGI_END), 5), at(as_b(QUEUE_JOIN), 6))
            await hotline.settled()
            before = await rows(ledger)
            assert (before[A].state, before[B].state) == ("connected", "queued")

            # The link drops mid-call. Meanwhile B hangs up, unseen; A talks on.
            asterisk.channels = [SHOW_A, SHOW_A_SEAT]
            ami.connection.drop()
            await ami.wait_connections(2, timeout=3)
            await hotline.gateway.wait_connected(3)
            await hotline.settled()
            after_resync = await rows(ledger)
            # B is closed by the resync: gone from Asterisk, so not left open.
            assert (after_resync[B].state, after_resync[B].end_reason,
                    after_resync[B].outcome) == ("ended", "vanished", "interrupted")
            assert after_resync[A].state == "connected"  # A is alive: still open

            # On the new connection: A's start replayed, B's real hang-up delivered late,
            # then the rest of A, its AgentComplete after the caller's Hangup (as Asterisk
            # sends it), and old events again after the end.
            with capture_logs() as logs:
                await asterisk.push(at(AGI_START, 0), at(QUEUE_JOIN, 10),
                                    at(AGENT_CONNECT, 16), at(as_b(HANGUP), 20),
                                    at(SEAT_LEG_HANGUP, 45.9), at(HANGUP, 46),
                                    at(agent_complete(30), 46), at(HANGUP, 46),
                                    at(AGENT_CONNECT, 16), at(AGI_START, 0),
                                    at(as_b(QUEUE_JOIN), 6))
                await hotline.settled()
            # The replayed join of a connected call is no error (and no transfer).
            assert [e for e in logs if e["log_level"] in ("error", "critical")] == []
        finally:
            await hotline.kill()

        final = await rows(ledger)
        assert await count_rows(ledger) == 2
        a, b = final[A], final[B]
        assert (a.state, a.outcome, a.end_reason) == ("ended", "answered", "hangup")
        assert (a.queue, a.seat) == ("tax-inquiry", "座席1001")
        assert (a.wait_seconds, a.talk_seconds) == (6.0, 30.0)
        assert (a.started_at, a.answered_at, a.ended_at) == (
            beijing(0), beijing(16), beijing(46))
        assert (a.caller_number, a.caller_name) == ("055112345678", "纳税人张三")
        # B stays closed, once: its late Hangup neither reopens nor duplicates it.
        assert (b.state, b.end_reason, b.outcome) == ("ended", "vanished", "interrupted")
        assert b.ended_at == beijing(30)
        assert (b.caller_number, b.queue) == ("055187654321", "tax-inquiry")
        assert await ledger.open_calls() == []
        assert hotline.calls.tracker.calls == {}


async def first_run_dies_mid_call(ami: FakeAmi, asterisk: Asterisk, ledger: Ledger,
                                  tmp_path: Path) -> None:
    """A run of hotline dies with A talking to a seat and B queued."""
    first = Hotline(ami, ledger, lambda: T0 + timedelta(seconds=30), tmp_path)
    await first.start()
    try:
        await asterisk.push(at(AGI_START, 0))
        await ami.wait_action("AGI")
        await asterisk.push(at(AGI_END, 9), at(QUEUE_JOIN, 10), at(AGENT_CONNECT, 16),
                            at(as_b(AGI_START), 2))
        await ami.wait_action("AGI", 2)
        await asterisk.push(at(as_b(AGI_END), 5), at(as_b(QUEUE_JOIN), 6))
        await first.settled()
    finally:
        await first.kill()
    assert sorted(await ledger.open_calls()) == [A, B]


async def test_after_a_restart_mid_call_the_vanished_call_is_closed_once(
        tmp_path: Path) -> None:
    """B hangs up while no hotline runs: the next run's resync closes it, once, and
    leaves A (still talking) open; B's late Hangup changes nothing."""
    async with line(tmp_path) as (ami, asterisk, ledger):
        await first_run_dies_mid_call(ami, asterisk, ledger, tmp_path)
        asterisk.channels = [SHOW_A, SHOW_A_SEAT]
        second = Hotline(ami, ledger, lambda: T0 + timedelta(seconds=40), tmp_path)
        with capture_logs() as logs:
            await second.start()
        try:
            await second.settled()
            assert [e["count"] for e in logs if e["event"] == "calls.closed_vanished"] == [1]
            assert await ledger.open_calls() == [A]
            await asterisk.push(at(as_b(HANGUP), 20), at(as_b(QUEUE_JOIN), 6))
            await second.settled()
        finally:
            await second.kill()
        assert await count_rows(ledger) == 2
        b = (await rows(ledger))[B]
        assert (b.state, b.end_reason, b.outcome) == ("ended", "vanished", "interrupted")
        assert (b.started_at, b.ended_at) == (beijing(2), beijing(40))
        assert (b.caller_number, b.queue) == ("055187654321", "tax-inquiry")


async def test_after_a_restart_mid_call_the_call_still_talking_is_ended_by_its_hangup(
        tmp_path: Path) -> None:
    """After a restart mid-call, a call still talking is adopted and ended by its own
    hangup, one row per call."""
    async with line(tmp_path) as (ami, asterisk, ledger):
        await first_run_dies_mid_call(ami, asterisk, ledger, tmp_path)
        asterisk.channels = [SHOW_A, SHOW_A_SEAT]
        second = Hotline(ami, ledger, lambda: T0 + timedelta(seconds=40), tmp_path)
        await second.start()
        try:
            # A goes on after the restart: the seat hangs up, then the caller.
            await asterisk.push(at(SEAT_LEG_HANGUP, 45.9), at(HANGUP, 46),
                                at(agent_complete(30), 46))
            await second.settled()
        finally:
            await second.kill()
        assert await count_rows(ledger) == 2
        a = (await rows(ledger))[A]
        assert (a.state, a.outcome, a.end_reason) == ("ended", "answered", "hangup")
        assert (a.seat, a.wait_seconds, a.talk_seconds) == ("座席1001", 6.0, 30.0)
        assert (a.answered_at, a.ended_at) == (beijing(16), beijing(46))


async def test_after_a_restart_a_queued_call_is_followed_to_its_answer_and_hangup(
        tmp_path: Path) -> None:
    """B waits in the queue when hotline restarts: the new run adopts it with the queue
    and wait the earlier run recorded, sees a seat answer it and B hang up."""
    async with line(tmp_path) as (ami, asterisk, ledger):
        await first_run_dies_mid_call(ami, asterisk, ledger, tmp_path)
        asterisk.channels = [SHOW_A, SHOW_A_SEAT, SHOW_B]
        asterisk.queues = [SEAT_1001, SEAT_1002, ENTRY_B]
        second = Hotline(ami, ledger, lambda: T0 + timedelta(seconds=40), tmp_path)
        await second.start()
        try:
            await second.settled()
            assert sorted(second.calls.tracker.calls) == [A, B]
            await asterisk.push(at(HANGUP, 46), at(as_b(AGENT_CONNECT), 50),
                                at(as_b(HANGUP), 70))
            await second.settled()
        finally:
            await second.kill()
        assert await count_rows(ledger) == 2
        assert await ledger.open_calls() == []
        b = (await rows(ledger))[B]
        assert (b.state, b.outcome, b.end_reason) == ("ended", "answered", "hangup")
        assert (b.caller_number, b.caller_name) == ("055187654321", "纳税人李四")
        assert (b.queue, b.seat) == ("tax-inquiry", "座席1001")
        assert (b.started_at, b.queued_at, b.answered_at, b.ended_at) == (
            beijing(2), beijing(6), beijing(50), beijing(70))
        assert (b.wait_seconds, b.talk_seconds) == (44.0, 20.0)


async def test_a_hangup_while_the_resync_runs_ends_the_adopted_call(tmp_path: Path) -> None:
    """A hangs up after the new run listed the channels but before it adopted A: the
    hang-up is held until A is adopted, not ignored."""
    async with line(tmp_path) as (ami, asterisk, ledger):
        await first_run_dies_mid_call(ami, asterisk, ledger, tmp_path)
        asterisk.channels = [SHOW_A, SHOW_A_SEAT]
        asterisk.during_resync = [at(SEAT_LEG_HANGUP, 45.9), at(HANGUP, 46)]
        second = Hotline(ami, ledger, lambda: T0 + timedelta(seconds=40), tmp_path)
        await second.start()
        try:
            await second.settled()
        finally:
            await second.kill()
        a = (await rows(ledger))[A]
        assert (a.state, a.outcome, a.end_reason) == ("ended", "answered", "hangup")
        assert (a.answered_at, a.ended_at, a.talk_seconds) == (beijing(16), beijing(46), 30.0)
        assert second.calls.tracker.calls == {}


def earlier_run_in_the_menu() -> Call:
    """A as an earlier run left it: in the IVR, keys pressed and menus walked."""
    return Call(A, A_CHANNEL, A, "055112345678", "纳税人张三", CallState.IVR, T0,
                ((CallState.IVR, T0),), digits="12", ivr_path=("main", "sub"),
                category="consultation", topic="个税", dialplan="test", region="安徽合肥")


async def test_a_call_adopted_in_the_menu_keeps_what_the_earlier_run_recorded(
        tmp_path: Path) -> None:
    """The earlier run died with A in the menu; the new run adopts it (and sends it on to
    the queue): keys, menus, category, topic and dialplan stay in its row."""
    async with line(tmp_path) as (ami, asterisk, ledger):
        await ledger.upsert_calls([earlier_run_in_the_menu()], T0 + timedelta(seconds=8))
        asterisk.channels = [SHOW_A_IN_AGI]
        second = Hotline(ami, ledger, lambda: T0 + timedelta(seconds=30), tmp_path)
        await second.start()
        try:
            await second.settled()
            send_on = await ami.wait_action("AGI")
            assert send_on.get("Command") == "ASYNCAGI BREAK"
            middle = await ledger.get(A)
            assert middle is not None
            assert (middle.state, middle.digits, middle.ivr_path) == ("ivr", "12", "main>sub")
            await asterisk.push(at(QUEUE_JOIN, 31), at(AGENT_CONNECT, 37), at(HANGUP, 60))
            await second.settled()
        finally:
            await second.kill()
        assert await count_rows(ledger) == 1
        a = (await rows(ledger))[A]
        assert (a.state, a.outcome, a.end_reason) == ("ended", "answered", "hangup")
        assert (a.digits, a.ivr_path, a.category, a.topic, a.dialplan) == (
            "12", "main>sub", "consultation", "个税", "test")
        assert (a.started_at, a.queued_at, a.answered_at, a.ended_at) == (
            beijing(0), beijing(31), beijing(37), beijing(60))
        assert (a.queue, a.seat, a.wait_seconds, a.talk_seconds) == (
            "tax-inquiry", "座席1001", 6.0, 23.0)


@pytest.mark.parametrize(("earlier", "channel", "outcome"), [
    # In a self-service menu after hours: hangs up as the new run sends it on.
    ({"self_service": True, "after_hours": True}, SHOW_A_IN_AGI, "self_service"),
    ({"after_hours": True}, SHOW_A_IN_AGI, "after_hours"),
    # Transferred by the menu to another region's number, which answered.
    ({"referred_to": "055387654321"},
     SHOW_A.replace("Application: Queue", "Application: Dial")
     .replace("ApplicationData: tax-inquiry,tT,,,300", "ApplicationData: Local/055387654321"),
     "referred"),
])
async def test_an_adopted_call_ends_with_the_outcome_the_earlier_run_saw_coming(
        tmp_path: Path, earlier: dict[str, object], channel: str, outcome: str) -> None:
    """What the outcome is drawn from (a self-service menu, the line closed, a referral)
    is in the row, so the call adopted after a restart ends as it would have."""
    async with line(tmp_path) as (ami, asterisk, ledger):
        call = replace(earlier_run_in_the_menu(), **earlier)  # type: ignore[arg-type]
        await ledger.upsert_calls([call], T0 + timedelta(seconds=8))
        asterisk.channels = [channel]
        second = Hotline(ami, ledger, lambda: T0 + timedelta(seconds=30), tmp_path)
        await second.start()
        try:
            await second.settled()
            await asterisk.push(at(HANGUP, 40))
            await second.settled()
        finally:
            await second.kill()
        a = (await rows(ledger))[A]
        assert (a.state, a.outcome, a.end_reason) == ("ended", outcome, "hangup")
        assert (a.referred_to, a.self_service, a.after_hours) == (
            earlier.get("referred_to"), int(bool(earlier.get("self_service"))),
            int(bool(earlier.get("after_hours"))))


async def test_a_call_that_left_the_menu_for_the_queue_while_hotline_was_down(
        tmp_path: Path) -> None:
    """The earlier run died with B in the menu; B went on to the queue (the fallback) and
    waits there when the new run starts: adopted as queued, in the queue QueueStatus
    names and waiting as long as it says, with the menu's keys kept."""
    async with line(tmp_path) as (ami, asterisk, ledger):
        earlier = replace(earlier_run_in_the_menu(), linkedid=B, caller_channel=B_CHANNEL,
                          caller_uniqueid=B, caller_number="055187654321",
                          caller_name="纳税人李四", started_at=T0 + timedelta(seconds=2))
        await ledger.upsert_calls([earlier], T0 + timedelta(seconds=8))
        asterisk.channels = [SHOW_B]
        asterisk.queues = [SEAT_1001, ENTRY_B]  # B has waited 12 s
        second = Hotline(ami, ledger, lambda: T0 + timedelta(seconds=30), tmp_path)
        await second.start()
        try:
            await second.settled()
            await asterisk.push(at(as_b(HANGUP), 40))
            await second.settled()
        finally:
            await second.kill()
        assert await count_rows(ledger) == 1
        b = (await rows(ledger))[B]
        assert (b.state, b.outcome, b.end_reason) == ("ended", "abandoned", "hangup")
        assert (b.digits, b.ivr_path, b.category) == ("12", "main>sub", "consultation")
        assert (b.queue, b.queued_at, b.ended_at, b.wait_seconds) == (
            "tax-inquiry", beijing(18), beijing(40), 22.0)
        assert b.started_at == beijing(2)


async def test_a_call_queued_while_hotline_was_down_gets_its_row(tmp_path: Path) -> None:
    """B reached the queue by the fallback before any hotline ran (no row): the new run
    adopts it from Asterisk alone (started as long ago as its channel, queued as long as
    it waited), so its end is recorded, once."""
    async with line(tmp_path) as (ami, asterisk, ledger):
        asterisk.channels = [SHOW_B]  # its channel is 12 s old
        asterisk.queues = [ENTRY_B]  # waiting 12 s
        run = Hotline(ami, ledger, lambda: T0 + timedelta(seconds=30), tmp_path)
        await run.start()
        try:
            await run.settled()
            await asterisk.push(at(as_b(HANGUP), 40), at(as_b(HANGUP), 40))
            await run.settled()
        finally:
            await run.kill()
        assert await count_rows(ledger) == 1
        b = (await rows(ledger))[B]
        assert (b.state, b.outcome, b.end_reason) == ("ended", "abandoned", "hangup")
        assert (b.caller_number, b.queue) == ("055187654321", "tax-inquiry")
        assert (b.started_at, b.queued_at, b.ended_at) == (beijing(18), beijing(18), beijing(40))


async def test_events_without_a_timestamp_are_named_once(tmp_path: Path) -> None:
    """An Asterisk of one's own without timestampevents: the calls still get their rows
    (times of arrival), and the log says once what to set."""
    async with line(tmp_path) as (ami, asterisk, ledger):
        hotline = Hotline(ami, ledger, lambda: T0, tmp_path)
        with capture_logs() as logs:
            await hotline.start()
            try:
                await asterisk.push(NEWCHANNEL, AGI_START, AGI_END, QUEUE_JOIN)
                await hotline.settled()
            finally:
                await hotline.kill()
        warnings = [e for e in logs if e["event"] == "ami.events_without_timestamp"]
        assert len(warnings) == 1
        assert warnings[0]["fix"] == "set timestampevents = yes in manager.conf [general]"
        a = (await rows(ledger))[A]
        assert (a.state, a.queue) == ("queued", "tax-inquiry")
