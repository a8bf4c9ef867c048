"""Helpers of the fault tests: a cuttable AMI link (AmiProxy) and what Asterisk itself
says happened to each call (AsteriskTruth, from a gateway of the test's own that no cut
touches)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hotline.ledger.seats import SeatBook
from hotline.ledger.store import CallRow, Ledger
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance, find_free_port
from tests.conftest import queue_members


@dataclass
class _Link:
    client: asyncio.StreamWriter  # hotline's side
    upstream: asyncio.StreamWriter  # Asterisk's side


class AmiProxy:
    """Between hotline and Asterisk's AMI.

    `cut("drop")` closes the connections and refuses new ones. `cut("half-open")` is a
    black hole, as a lost route or a dead NAT entry makes it: the connections stay open,
    nothing reaches the other side, and a new connection gets no greeting. `restore()`
    ends the cut. What a half-open link held is then delivered, as a middlebox that
    buffered it would: everything a side sent, even a side that has reset its connection
    since (the proxy's kernel had acknowledged those bytes, and Linux still hands over
    data received before a reset), then its end. Asterisk may run only the first part of
    what it is handed before it notices the connection is gone."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = find_free_port()
        self.mode: str | None = None
        self.links: list[_Link] = []
        self.silent: list[asyncio.StreamWriter] = []  # accepted during a half-open cut
        self.server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "drop":
            writer.close()
            return
        if self.mode == "half-open":
            self.silent.append(writer)
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.links.append(_Link(writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()  # read just as the cut came: held with the rest
                if self.mode == "drop":
                    break
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    def cut(self, mode: str) -> None:
        assert mode in ("drop", "half-open"), mode
        self.mode = mode
        if mode == "drop":
            self._close_all()
        else:
            self._flowing.clear()
            for link in self.links:
                for side in (link.client, link.upstream):
                    with contextlib.suppress(Exception):
                        side.transport.pause_reading()  # the bytes wait in the kernel

    async def restore(self) -> None:
        """The route is back. Half-open: each side's held bytes go on (those of a side
        that reset its connection meanwhile too: read before the reset, then its end)."""
        mode, self.mode = self.mode, None
        if mode == "half-open":
            for writer in self.silent:
                writer.close()
            self.silent.clear()
            for link in self.links:
                for side in (link.client, link.upstream):
                    with contextlib.suppress(Exception):
                        side.transport.resume_reading()
            await asyncio.sleep(0.1)  # what each kernel held is read before relaying
        self._flowing.set()

    def _close_all(self) -> None:
        for link in self.links:
            link.client.close()
            link.upstream.close()
        self.links.clear()

    async def close(self) -> None:
        self.mode = "drop"
        self._close_all()
        self._flowing.set()
        if self.server is not None:
            self.server.close()


# The AMI events the truth is read from (the test's own gateway, never cut).
TRUTH_EVENTS = ("AGIExecStart", "AGIExecEnd", "QueueCallerJoin", "QueueCallerLeave",
                "QueueCallerAbandon", "AgentCalled", "AgentRingNoAnswer", "AgentConnect",
                "AgentComplete", "Hangup")
# A caller hears something from these on (a command of hotline's, the queue's ringing, a
# seat), and nothing after these until the next: silence, unless the call has ended.
SOUND_STARTS = ("AGIExecStart", "QueueCallerJoin", "AgentConnect", "Hangup")
SOUND_ENDS = ("AGIExecEnd", "AgentComplete", "QueueCallerLeave")


@dataclass
class CallTruth:
    """One call as Asterisk reported it: the caller's channel's events, in order, with
    Asterisk's own times (epoch seconds)."""

    linkedid: str
    events: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    ringing: str | None = None  # the seat channel (;1) ringing the caller now

    def times(self, name: str) -> list[float]:
        return [t for t, event, _ in self.events if event == name]

    def first(self, name: str) -> tuple[float, dict[str, str]] | None:
        return next(((t, h) for t, event, h in self.events if event == name), None)

    @property
    def joins(self) -> list[str]:
        return [h.get("Queue") or "" for _, event, h in self.events
                if event == "QueueCallerJoin"]

    @property
    def answered(self) -> tuple[float, str] | None:
        """Asterisk's time of the first seat's answer and that seat's name."""
        found = self.first("AgentConnect")
        return (found[0], found[1].get("MemberName") or "") if found else None

    def expected(self) -> tuple[str, str | None, str | None]:
        """(outcome, queue, seat) as the call's ledger row should have them: answered in
        the queue and by the seat of the first AgentConnect; else abandoned (Asterisk said
        QueueCallerAbandon) or unanswered, in the last queue it joined; else it ended in
        the IVR."""
        connect = self.first("AgentConnect")
        if connect is not None:
            return "answered", connect[1].get("Queue"), connect[1].get("MemberName")
        if self.joins:
            outcome = "abandoned" if self.first("QueueCallerAbandon") else "unanswered"
            return outcome, self.joins[-1], None
        return "ended_in_ivr", None, None

    @property
    def talk(self) -> float | None:
        """Seconds from the first answer to that seat's AgentComplete (or, when Asterisk
        sent none, the caller's hang-up)."""
        connect = self.first("AgentConnect")
        complete = self.first("AgentComplete") or self.first("Hangup")
        return complete[0] - connect[0] if connect and complete else None

    @property
    def ended(self) -> float | None:
        found = self.first("Hangup")
        return found[0] if found else None

    def silences(self, since: float = 0.0) -> list[tuple[float, float, str]]:
        """Each time the caller heard nothing (hotline ran no AGI command, no queue, no
        seat) from `since` on: (start, seconds, what it followed)."""
        out = []
        quiet: tuple[float, str] | None = None
        for t, event, _ in self.events:
            if event in SOUND_ENDS:
                quiet = quiet or (t, event)
            elif event in SOUND_STARTS and quiet is not None:
                if t >= since:
                    out.append((quiet[0], t - quiet[0], quiet[1]))
                quiet = None
        return out


class AsteriskTruth:
    """Every call's caller-channel events, from a gateway of the test's own."""

    def __init__(self, gateway: AmiGateway) -> None:
        self.calls: dict[str, CallTruth] = {}
        self.changed = asyncio.Event()

        def watch(message: AmiMessage | EventGap) -> None:
            if not isinstance(message, AmiMessage) or message.event is None:
                return
            linkedid = message.get("Linkedid") or ""
            if not linkedid or message.get("Uniqueid") != linkedid:
                return  # a seat's channel, or the test caller's own leg
            stamp = float(message.get("Timestamp") or time.time())
            call = self.calls.setdefault(linkedid, CallTruth(linkedid))
            call.events.append((stamp, message.event, dict(message.headers)))
            if message.event == "AgentCalled":
                call.ringing = message.get("DestChannel")
            elif message.event in ("AgentRingNoAnswer", "AgentConnect", "Hangup",
                                   "QueueCallerAbandon"):
                call.ringing = None
            self.changed.set()

        self.subscription = gateway.subscribe(f"truth-{id(self)}", TRUTH_EVENTS, watch)

    def of(self, linkedid: str) -> CallTruth:
        return self.calls.setdefault(linkedid, CallTruth(linkedid))

    async def wait(self, linkedid: str, event: str, timeout: float = 10.0,
                   after: float = 0.0) -> float:
        """Asterisk's time of the call's first `event` at or after `after`."""
        async with asyncio.timeout(timeout):
            while True:
                times = [t for t in self.of(linkedid).times(event) if t >= after]
                if times:
                    return times[0]
                self.changed.clear()
                await self.changed.wait()

    async def ringing(self, linkedid: str, timeout: float = 20.0) -> str:
        """The seat channel ringing the caller now (waits until one does)."""
        async with asyncio.timeout(timeout):
            while (channel := self.of(linkedid).ringing) is None:
                self.changed.clear()
                await self.changed.wait()
        return channel

    def close(self) -> None:
        self.subscription.unsubscribe()


async def seats_logged_in(ledger: Path, seats: Iterable[str]) -> None:
    """These demo seats logged in, in the ledger (as `hotline seats login` records it):
    the routing loop of a hotline run on that ledger makes them members of their queues."""
    book = await Ledger.open(ledger)
    try:
        for seat in seats:
            await SeatBook(book).record(seat, "login", at=datetime.now(UTC), actor="test")
    finally:
        await book.close()


async def seats_in_centre(inst: Instance, seats: Iterable[str], timeout: float = 20) -> None:
    """Wait until these demo seats are all members of the centre's queue."""
    devices = {f"Local/{seat}@seats/n" for seat in seats}
    async with asyncio.timeout(timeout):
        # Polled: no event says the routing loop's QueueAdd took.
        while not devices <= set(await asyncio.to_thread(queue_members, inst, "center")):  # noqa: ASYNC110
            await asyncio.sleep(0.3)


SILENCE_MAX = 2.0  # the fault issue's bound: no caller waits longer in silence
TALK_SLACK = 1.0  # a row's talk within 1 s of Asterisk's


def check(calls: Iterable[tuple[str, str]], rows: dict[str, CallRow], truth: AsteriskTruth,
          since: float) -> list[str]:
    """One line per call (role, linkedid): what Asterisk says and what the row says; WRONG
    where the row (outcome, queue, seat, talk within TALK_SLACK), a second queueing of an
    answered caller, or the caller's longest silence (over SILENCE_MAX) breaks a promise.
    Times are shown against `since` (the fault)."""
    out = []
    for role, lid in calls:
        told = truth.of(lid)
        row = rows[lid]
        want = told.expected()
        wrong = []
        if (row.outcome, row.queue, row.seat) != want:
            wrong.append(f"row {row.outcome}/{row.queue}/{row.seat}, Asterisk "
                         f"{'/'.join(str(w) for w in want)}")
        talk = told.talk
        answered = want[0] == "answered"
        if answered and (talk is None or row.talk_seconds is None
                         or abs(row.talk_seconds - talk) > TALK_SLACK):
            wrong.append(f"talk {row.talk_seconds} s, Asterisk {talk}")
        if answered and len(told.joins) != 1:
            wrong.append(f"answered, and queued {len(told.joins)} times: {told.joins}")
        longest = max(told.silences(), key=lambda s: s[1], default=(0.0, 0.0, "-"))
        if longest[1] > SILENCE_MAX:
            wrong.append(f"silent {longest[1]:.2f} s from {longest[0] - since:+.2f} s after "
                         f"the fault (after {longest[2]})")
        talk_text = f"{talk:.2f}" if talk is not None else "-"
        out.append(f"{'WRONG' if wrong else 'ok'} {role}: row {row.outcome}/{row.queue}/"
                   f"{row.seat} talk {row.talk_seconds} (Asterisk {talk_text}) end "
                   f"{row.end_reason}/{row.end_by}; joins {told.joins}; longest silence "
                   f"{longest[1]:.3f} s{'; ' + '; '.join(wrong) if wrong else ''}")
    return out


async def check_only_these_rows(ledger: Path, linkedids: set[str]) -> None:
    """Exactly one row per call: no row of anything else (a seat's channel, a call
    written twice under another id)."""
    async with await Ledger.open(ledger) as book:
        cursor = await book.db.execute("SELECT linkedid FROM calls")
        rows = await cursor.fetchall()
    assert sorted(r[0] for r in rows) == sorted(linkedids)
