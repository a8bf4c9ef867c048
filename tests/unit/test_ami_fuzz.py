"""Whatever arrives on the AMI connection, the gateway neither raises nor grows without
bound: fuzzed byte streams and fuzzed AMI frames (hypothesis) into the framer and into the
gateway's protocol while actions are pending, and the connection drops and comes back
(the fake AMI server) when a frame breaks the protocol. The long run is bench/ami_fuzz.py
(`make fuzz`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from hotline.pbx.ami.message import MAX_FRAME, AmiFramer, FrameTooLarge
from hotline.pbx.gateway import (
    ROUTE_CACHE_MAX,
    AmiDisconnected,
    AmiError,
    AmiGateway,
    _Protocol,
)
from tests.fakeami import GREETING, FakeAmi, event, response, running, wait_until

CHANNEL = "PJSIP/trunk-cmcc-00000007"
KNOWN_EVENTS = ("QueueParams", "QueueMember", "QueueEntry", "QueueStatusComplete",
                "CoreShowChannel", "CoreShowChannelsComplete", "AsyncAGIStart",
                "AsyncAGIExec", "AsyncAGIEnd", "Hangup", "QueueCallerJoin", "AgentConnect",
                "DTMFEnd", "FullyBooted")
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Each example waits for its unanswered actions' timeouts (20 ms): fewer of them.
GATEWAY_FUZZ = settings(FUZZ, max_examples=80)


# -- the framer ---------------------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=4000), st.lists(st.integers(1, 4000), max_size=12),
       st.integers(16, 600))
def test_the_framer_never_raises_but_frame_too_large_and_never_holds_more(
        data: bytes, cuts: list[int], limit: int) -> None:
    """Any bytes in any pieces: the framer yields messages or raises FrameTooLarge, and
    never buffers more than its limit."""
    framer = AmiFramer(max_frame=limit)
    points = sorted({c for c in cuts if c < len(data)})
    for start, end in zip([0, *points], [*points, len(data)], strict=True):
        try:
            for message in framer.feed(data[start:end]):
                assert message.text  # and reading it never raises either
                _ = message.event, message.action_id, message.headers, message.is_success
        except FrameTooLarge as exc:
            too_large = exc.size
            assert too_large > limit
            framer = AmiFramer(max_frame=limit)  # the gateway reconnects: a new framer
        assert framer.pending_bytes <= limit


def test_a_frame_with_no_end_is_refused_at_the_limit_not_buffered() -> None:
    """64 MB with no frame end, in 64 KiB reads: FrameTooLarge once 1 MiB is buffered,
    within one read of the limit (it was buffered whole, and each read copied it)."""
    framer = AmiFramer()
    list(framer.feed(GREETING.encode() + b"\r\n"))
    piece = b"X" * 65536
    fed = 0

    def flood() -> None:
        nonlocal fed
        while fed < 64 << 20:
            list(framer.feed(piece))
            fed += len(piece)
            assert framer.pending_bytes <= MAX_FRAME

    with pytest.raises(FrameTooLarge):
        flood()
    assert MAX_FRAME < fed + len(piece) <= MAX_FRAME + len(piece)
    assert framer.pending_bytes == 0


def test_frames_before_a_too_large_one_are_still_delivered() -> None:
    """The whole frames of a read come out before the framer refuses an overlong one."""
    framer = AmiFramer(max_frame=100)
    got: list[str | None] = []
    frames = framer.feed(b"Event: A\r\n\r\nEvent: B\r\nX: " + b"y" * 200 + b"\r\n\r\n")
    got.append(next(frames).event)
    with pytest.raises(FrameTooLarge):
        next(frames)
    assert got == ["A"]


# -- the gateway, fed directly ---------------------------------------------------------------

class _Transport:
    """Stands in for the socket: keeps what the gateway writes, notes close()."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def _text() -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)


@st.composite
def _frame(draw: st.DrawFn, ids: list[str], command_ids: list[str]) -> bytes:
    """One AMI frame, well or badly formed: an event or a response or neither, the
    ActionIDs and CommandIDs of pending actions among random ones."""
    lines: list[str] = []
    kind = draw(st.sampled_from(["event", "response", "neither"]))
    if kind == "event":
        lines.append("Event: " + draw(st.sampled_from(KNOWN_EVENTS) | _text()))
    elif kind == "response":
        lines.append("Response: " + draw(st.sampled_from(
            ["Success", "Error", "Follows", "Goodbye"]) | _text()))
    # Weighted towards the pending actions' ids and list markers: the orderings that
    # matter (a list's end before its response, ...) must come up within a few examples.
    if ids and draw(st.integers(0, 3)):
        lines.append("ActionID: " + draw(st.one_of(
            st.sampled_from(ids), st.sampled_from(ids), st.sampled_from(ids), _text())))
    if draw(st.booleans()):
        lines.append("EventList: " + draw(st.one_of(
            st.sampled_from(["start", "Complete"]), st.just("Complete"), _text())))
    if command_ids and draw(st.booleans()):
        lines.append("CommandID: " + draw(st.sampled_from(command_ids)))
        lines.append("Channel: " + draw(st.sampled_from([CHANNEL]) | _text()))
        lines.append("Result: " + draw(st.sampled_from(
            ["200%20result%3D49", "200 result=99999999999999999999", "511", "%FF%00"])
            | _text()))
    for _ in range(draw(st.integers(0, 4))):
        key = draw(_text())
        value = draw(_text())
        lines.append(draw(st.sampled_from([f"{key}: {value}", f"{key}:", key, f"{key}:{value}"])))
    raw = "\r\n".join(lines).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:  # invalid UTF-8, NUL bytes
        raw += draw(st.binary(min_size=1, max_size=20))
    return raw + b"\r\n\r\n"


@contextlib.asynccontextmanager
async def _fed_gateway() -> AsyncIterator[tuple[AmiGateway, _Protocol, _Transport]]:
    gateway = AmiGateway("127.0.0.1", 1, "hotline", "x", action_timeout=0.02)
    protocol = _Protocol(gateway)
    transport = _Transport()
    protocol.connection_made(transport)
    gateway._protocol = protocol
    gateway._logged_in = True
    protocol.data_received(GREETING.encode() + b"\r\n")
    yield gateway, protocol, transport


async def _fuzz_gateway(data: st.DataObject) -> None:
    async with _fed_gateway() as (gateway, protocol, transport):
        inbox: list[Any] = []
        subscription = gateway.subscribe("fuzz", ["*"], inbox.append, queue_size=20)
        subscription.consumer.max_bytes = 2000
        tasks = [asyncio.create_task(c) for c in (
            gateway.send({"Action": "Ping"}),
            gateway.send_list({"Action": "QueueStatus"}),
            gateway.send_list({"Action": "CoreShowChannels"}),
            gateway.agi(CHANNEL, "WAIT FOR DIGIT 10", timeout=0.02))]
        await asyncio.sleep(0)
        ids = list(gateway._pending)
        command_ids = list(gateway._agi)
        frames = data.draw(st.lists(_frame(ids, command_ids), min_size=1, max_size=40))
        stream = b"".join(frames)
        cuts = sorted(set(data.draw(st.lists(st.integers(0, max(len(stream), 1)),
                                             max_size=8))))
        with capture_logs() as logs:
            for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
                protocol.data_received(stream[start:end])
                consumer = subscription.consumer
                assert consumer.queue.qsize() <= consumer.queue.maxsize
                assert consumer.queued_bytes <= consumer.max_bytes
                assert len(gateway._route_cache) <= ROUTE_CACHE_MAX
                assert protocol.framer.pending_bytes <= MAX_FRAME
            started = time.monotonic()
            done, _ = await asyncio.wait(tasks, timeout=1.0)
        assert len(done) == len(tasks), "a pending action outlived its timeout"
        assert time.monotonic() - started < 0.5
        for task in tasks:
            error = task.exception()
            assert error is None or isinstance(error, AmiError), repr(error)
        names = [entry["event"] for entry in logs]
        assert "ami.handle_failed" not in names
        if "ami.protocol_violation" in names:
            assert transport.closed
            assert gateway._protocol is None
            assert not gateway._pending
        subscription.unsubscribe()


@GATEWAY_FUZZ
@given(st.data())
def test_fuzzed_frames_never_raise_out_of_the_gateway_and_every_action_ends(
        data: st.DataObject) -> None:
    """Random AMI frames (random events, responses, ActionIDs of the pending actions,
    list ends, AsyncAGIExec results, bad UTF-8) in random pieces while actions are
    pending: nothing raises in the gateway, every action ends by its timeout with a
    result or an AmiError (never the AssertionError that ended the service), a protocol
    violation drops the connection, and the consumer queue and route cache stay bounded."""
    asyncio.run(_fuzz_gateway(data))


@GATEWAY_FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise_out_of_the_gateway(stream: bytes) -> None:
    """Random bytes after the greeting while actions are pending: nothing raises in the
    gateway and every action ends by its timeout."""

    async def scenario() -> None:
        async with _fed_gateway() as (gateway, protocol, _):
            tasks = [asyncio.create_task(gateway.send_list({"Action": "QueueStatus"})),
                     asyncio.create_task(gateway.send({"Action": "Ping"}))]
            await asyncio.sleep(0)
            with capture_logs() as logs:
                protocol.data_received(stream)
                done, _ = await asyncio.wait(tasks, timeout=1.0)
            assert len(done) == len(tasks)
            for task in tasks:
                assert isinstance(task.exception(), AmiError | None)
            assert "ami.handle_failed" not in [entry["event"] for entry in logs]

    asyncio.run(scenario())


async def test_random_event_names_do_not_grow_the_route_cache() -> None:
    """100,000 events of distinct random names (and some of 100 kB names) leave the
    route cache at most ROUTE_CACHE_MAX names (before: one entry per name, kept forever)."""
    async with _fed_gateway() as (gateway, protocol, _):
        gateway.subscribe("calls", ["Hangup", "Queue*"], lambda item: None)
        for n in range(0, 100_000, 1000):
            protocol.data_received(b"".join(
                b"Event: Junk%d\r\nX: y\r\n\r\n" % i for i in range(n, n + 1000)))
        protocol.data_received(b"Event: " + b"Q" * 100_000 + b"\r\n\r\n")
        assert len(gateway._route_cache) <= ROUTE_CACHE_MAX
        assert all(len(name) <= 64 for name in gateway._route_cache)


async def test_a_consumer_queue_holds_a_bounded_number_of_bytes() -> None:
    """Events of nearly 1 MiB each fill a consumer's queue only up to its byte bound,
    the rest is dropped and counted (before: 10,000 of them, 10 GB, could queue)."""
    async with _fed_gateway() as (gateway, protocol, _):
        subscription = gateway.subscribe("slow", ["Big"], lambda item: None)
        consumer = subscription.consumer
        body = b"Event: Big\r\nData: " + b"x" * 1_000_000 + b"\r\n\r\n"
        for _ in range(60):
            protocol.data_received(body)
        assert consumer.queued_bytes <= consumer.max_bytes
        assert consumer.queue.qsize() == consumer.max_bytes // 1_000_000
        assert consumer.dropped == 60 - consumer.queue.qsize()
        subscription.unsubscribe()


# -- the gateway against the fake AMI server -------------------------------------------------

async def test_a_list_end_before_its_response_drops_the_connection_not_the_service() -> None:
    """QueueStatus answered by its list's end before its response (the fuzzed traffic
    that raised AssertionError out of the gateway and ended hotline): the action fails
    with AmiDisconnected, the connection is dropped and made again, and the next
    QueueStatus works."""
    async with FakeAmi() as ami, running(ami, backoff_max=0.2) as gateway:
        ami.reply("QueueStatus",
                  event("QueueStatusComplete", {"ActionID": "{ActionID}",
                                                "EventList": "Complete", "ListItems": "0"})
                  + response("Queue status will follow", EventList="start"))
        with capture_logs() as logs:
            with pytest.raises(AmiDisconnected):
                await gateway.send_list({"Action": "QueueStatus"})
            await ami.wait_connections(2)
            await gateway.wait_connected(2.0)
        assert "ami.protocol_violation" in [entry["event"] for entry in logs]
        ami.reply("QueueStatus", response("Queue status will follow", EventList="start")
                  + event("QueueStatusComplete", {"ActionID": "{ActionID}",
                                                  "EventList": "Complete",
                                                  "ListItems": "0"}))
        assert await gateway.send_list({"Action": "QueueStatus"}) == []


async def test_a_frame_with_no_end_drops_the_connection_and_it_comes_back() -> None:
    """A peer sending 3 MiB with no frame end: `ami.frame_too_large` is logged, the
    pending action fails at once with AmiDisconnected, and the gateway logs in again."""
    async with FakeAmi() as ami, running(ami, backoff_max=0.2) as gateway:
        # An action the fake does not answer: still pending when the flood comes.
        pending = asyncio.create_task(gateway.send({"Action": "Status"}))
        await ami.wait_action("Status")
        with capture_logs() as logs:
            await ami.connection.push(b"Event: Endless\r\nData: " + b"z" * (3 << 20))
            with pytest.raises(AmiDisconnected):
                await pending
            await ami.wait_connections(2)
            await gateway.wait_connected(2.0)
        entries = [entry for entry in logs if entry["event"] == "ami.frame_too_large"]
        assert entries
        assert entries[0]["limit"] == MAX_FRAME
        await wait_until(lambda: gateway.connected.is_set())
        assert (await gateway.send({"Action": "Ping"})).get("Ping") == "Pong"
