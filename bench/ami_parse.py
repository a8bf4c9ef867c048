"""AMI parse and dispatch: hotline's gateway against panoramisk 1.4's stock parser.

Both sides get the same bytes (bench/stream.py: a greeting then ~100,000 events, cut
into 64 KiB reads) and the same three consumers subscribed to the same event names,
each reading the same headers of every event it gets. The values read are checked
against the generator's ground truth afterwards, outside the timing.
"""

from __future__ import annotations

import asyncio
import fnmatch
import gc
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager

from bench import Outcome, ratio, thousands
from bench import stream as recorded
from hotline.pbx.gateway import AmiGateway, EventGap, _Protocol

TITLE = "AMI parse and dispatch, hotline's gateway vs panoramisk 1.4"

RUNS = 5
TARGET_RATIO = 3.0

BASE = ("Uniqueid", "Linkedid", "Channel", "CallerIDNum", "CallerIDName")

# consumer -> (patterns it subscribes to, headers it reads per event besides `Event`)
CONSUMERS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "calls": (("Newchannel", "Newstate", "NewConnectedLine", "Hangup", "Bridge*"), {
        "Newchannel": (*BASE, "ConnectedLineName", "Exten"),
        "Newstate": (*BASE, "ChannelState", "ConnectedLineName"),
        "NewConnectedLine": (*BASE, "ConnectedLineNum", "ConnectedLineName"),
        "Hangup": (*BASE, "Cause"),
        "BridgeEnter": (*BASE, "BridgeUniqueid"),
        "BridgeLeave": (*BASE, "BridgeUniqueid"),
        "BridgeCreate": ("BridgeUniqueid",),
        "BridgeDestroy": ("BridgeUniqueid",),
    }),
    "ivr": (("AsyncAGI*", "DTMF*"), {
        "AsyncAGIStart": ("Uniqueid", "Channel", "Env"),
        "AsyncAGIExec": ("Uniqueid", "Channel", "CommandID"),
        "AsyncAGIEnd": ("Uniqueid", "Channel"),
        "DTMFBegin": ("Uniqueid", "Digit", "Direction"),
        "DTMFEnd": ("Uniqueid", "Digit", "DurationMs"),
    }),
    "queues": (("Queue*", "Agent*"), {
        "QueueCallerJoin": (*BASE, "Queue", "Position"),
        "QueueCallerLeave": (*BASE, "Queue"),
        "QueueCallerAbandon": (*BASE, "Queue", "HoldTime"),
        "QueueMemberStatus": ("Queue", "Interface", "MemberName", "Status", "InCall"),
        "AgentCalled": (*BASE, "Queue", "Interface", "MemberName", "DestChannel",
                        "DestUniqueid", "DestCallerIDName"),
        "AgentRingNoAnswer": (*BASE, "Queue", "MemberName", "DestUniqueid", "RingTime"),
        "AgentConnect": (*BASE, "Queue", "MemberName", "DestUniqueid", "HoldTime"),
        "AgentComplete": (*BASE, "Queue", "MemberName", "DestUniqueid", "TalkTime",
                          "Reason"),
    }),
}

MEASURES = f"""
Throughput of turning AMI bytes into events delivered to consumers, on one core:
hotline's `AmiGateway` (its connection protocol `_Protocol.data_received`: `AmiFramer`,
`AmiGateway._handle` routing, the consumers' bounded queues and their tasks) against
panoramisk 1.4's stock path (`AMIProtocol.data_received`, `Message.from_line`,
`Manager.dispatch` to callbacks registered with `register_event`), the baseline.

- Stream (bench/stream.py, seed {recorded.DEFAULT_SEED}): {recorded.DEFAULT_COUNT:,} events of
  Asterisk 22 as a 12366 call centre produces them, {recorded.CONCURRENT_CALLS} calls at once
  (IVR over AsyncAGI with DTMF, queue, seats, bridges, hang-ups, Newexten and VarSet too),
  5 to 37 headers each (19 on average), mostly Chinese CallerIDName / ConnectedLineName /
  MemberName values of 2 to 25 characters, UTF-8 with CRLF, cut into 64 KiB reads (the
  size of a TCP read) wherever the cut falls, inside a character too.
- Consumers, the same on both sides: `calls` (Newchannel, Newstate, NewConnectedLine,
  Hangup, Bridge*), `ivr` (AsyncAGI*, DTMF*), `queues` (Queue*, Agent*); each reads
  `Event` and 1 to 11 more headers of every event it gets (Uniqueid, Linkedid, Channel,
  CallerIDNum, CallerIDName, ...) with `.get()`. Other events (Newexten, VarSet,
  AGIExec*, DeviceStateChange, *HangupRequest) are parsed and routed to nobody. hotline
  parses lazily, so reading headers is where its cost is: it is inside the timing.
- Both run in one asyncio loop; after each 64 KiB read the feeder yields once to the loop
  (hotline's consumer tasks run then; panoramisk calls its callbacks synchronously); for
  hotline the clock stops only when every consumer queue is empty. events/s = events in
  the stream / seconds; best of {RUNS} runs each, after one warm-up run each, the two sides
  alternating.
- Correctness, checked outside the timing on the warm-up run (every timed run must
  deliver the same number of events): every value read is compared with the generator's
  ground truth; *corrupted* = a different value, *missing* = no value or an event not
  delivered. Target: hotline at least {TARGET_RATIO:g}x the baseline, 0 corrupted values.
"""


@dataclass
class Expected:
    """What the consumers must read, in stream order, per consumer."""

    data: bytes
    events: int
    values: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)


def build_stream(count: int = recorded.DEFAULT_COUNT,
                 seed: int = recorded.DEFAULT_SEED) -> Expected:
    parts = [recorded.GREETING]
    matchers = {name: [p.lower() for p in patterns]
                for name, (patterns, _) in CONSUMERS.items()}
    values: dict[str, list[tuple[str, ...]]] = {name: [] for name in CONSUMERS}
    routes: dict[str, list[str]] = {}
    events = 0
    for event in recorded.events(count, seed):
        events += 1
        parts.append(recorded.frame(event))
        name = event["Event"]
        consumers = routes.get(name)
        if consumers is None:
            consumers = [c for c, patterns in matchers.items()
                         if any(fnmatch.fnmatchcase(name.lower(), p) for p in patterns)]
            for consumer in consumers:
                if name not in CONSUMERS[consumer][1]:
                    raise AssertionError(f"consumer {consumer} gets {name} but has no reads")
            routes[name] = consumers
        for consumer in consumers:
            keys = CONSUMERS[consumer][1][name]
            values[consumer].append((name, *(event[k] for k in keys)))
    return Expected(b"".join(parts), events, values)


def make_reader(consumer: str, out: list[tuple[str | None, ...]]
                ) -> Callable[[Any], None]:
    """The consumer body, the same for both sides: read `Event`, then its headers."""
    reads = CONSUMERS[consumer][1]
    append = out.append

    def read(message: Any) -> None:
        event = message.get("Event")
        append((event, *[message.get(key) for key in reads[event]]))

    return read


class _Transport(asyncio.Transport):
    """Stands in for the TCP transport: nothing is ever written in this benchmark."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class RunResult:
    seconds: float
    events_in: int
    delivered: dict[str, list[tuple[str | None, ...]]]
    decode_errors: int = 0


async def run_stock(chunks: Iterable[bytes], count: bool = False) -> RunResult:
    """panoramisk 1.4 as an application uses it: a Manager with register_event callbacks,
    its protocol attached by the Manager's own `connection_made`. `count`: count the
    events dispatched (a wrapper that costs time: the warm-up run only)."""
    loop = asyncio.get_running_loop()
    manager = Manager(loop=loop, ping_delay=3600)
    delivered: dict[str, list[tuple[str | None, ...]]] = {}
    for consumer, (patterns, _) in CONSUMERS.items():
        out: list[tuple[str | None, ...]] = []
        delivered[consumer] = out
        read = make_reader(consumer, out)

        def callback(_manager: Manager, message: Any, read: Callable[[Any], None] = read
                     ) -> None:
            read(message)

        for pattern in patterns:
            manager.register_event(pattern, callback)
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    connected: asyncio.Future[tuple[Any, Any]] = loop.create_future()
    connected.set_result((_Transport(), protocol))
    manager.connection_made(connected)
    await asyncio.sleep(0)
    dispatched = 0
    dispatch = manager.dispatch

    def counting_dispatch(event: Any) -> Any:
        nonlocal dispatched
        dispatched += 1
        return dispatch(event)

    if count:
        manager.dispatch = counting_dispatch
    gc.collect()
    start = time.perf_counter()
    for chunk in chunks:
        protocol.data_received(chunk)
        await asyncio.sleep(0)
    seconds = time.perf_counter() - start
    manager.close()
    return RunResult(seconds, dispatched, delivered)


async def run_hotline(chunks: Iterable[bytes], events: int) -> RunResult:
    """The service's path: AmiGateway's connection protocol, its consumers' tasks."""
    gateway = AmiGateway("127.0.0.1", 5038, "bench", "unused")
    delivered: dict[str, list[tuple[str | None, ...]]] = {}
    gaps = 0
    for consumer, (patterns, _) in CONSUMERS.items():
        out: list[tuple[str | None, ...]] = []
        delivered[consumer] = out
        read = make_reader(consumer, out)

        def handler(message: Any, read: Callable[[Any], None] = read) -> None:
            nonlocal gaps
            if isinstance(message, EventGap):
                gaps += 1
                return
            read(message)

        gateway.subscribe(consumer, patterns, handler, queue_size=events + 1)
    protocol = _Protocol(gateway)
    protocol.connection_made(_Transport())
    await asyncio.sleep(0)  # the consumer tasks start and wait on their queues
    queues = [c.queue for c in gateway._consumers]
    gc.collect()
    start = time.perf_counter()
    for chunk in chunks:
        protocol.data_received(chunk)
        await asyncio.sleep(0)
    for _ in range(1000):  # the last read's events may still be queued
        if not any(q.qsize() for q in queues):
            break
        await asyncio.sleep(0)
    else:
        raise AssertionError("hotline's consumers did not drain their queues")
    seconds = time.perf_counter() - start
    tasks = [c.task for c in gateway._consumers if c.task is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if gaps:
        raise AssertionError(f"hotline dropped events ({gaps} gaps): queues too small")
    return RunResult(seconds, gateway.events_received, delivered,
                     protocol.framer.decode_errors)


@dataclass
class Check:
    delivered: int = 0
    values: int = 0
    corrupted: int = 0
    missing: int = 0
    examples: list[str] = field(default_factory=list)


def check(expected: Expected, result: RunResult) -> Check:
    report = Check()
    for consumer, want in expected.values.items():
        got = result.delivered[consumer]
        report.delivered += len(got)
        for want_row, got_row in zip(want, got, strict=False):
            report.values += len(got_row)
            for want_value, got_value in zip(want_row, got_row, strict=True):
                if got_value is None:
                    report.missing += 1
                elif got_value != want_value:
                    report.corrupted += 1
                    if len(report.examples) < 4:
                        report.examples.append(f"{want_value!r} read as {got_value!r}")
        for row in want[len(got):]:
            report.missing += len(row)
    return report


async def measure(expected: Expected, chunks: list[bytes]
                  ) -> tuple[list[float], list[float], RunResult, RunResult]:
    stock_times: list[float] = []
    hotline_times: list[float] = []
    stock_first = await run_stock(chunks, count=True)
    hotline_first = await run_hotline(chunks, expected.events)
    for _ in range(RUNS):
        stock = await run_stock(chunks)
        hotline = await run_hotline(chunks, expected.events)
        for name, first, again in (("stock", stock_first, stock),
                                   ("hotline", hotline_first, hotline)):
            counts = [len(v) for v in first.delivered.values()]
            if [len(v) for v in again.delivered.values()] != counts:
                raise AssertionError(f"{name}: a timed run delivered different events")
        stock_times.append(stock.seconds)
        hotline_times.append(hotline.seconds)
    return stock_times, hotline_times, stock_first, hotline_first


def run() -> Outcome:
    logging.getLogger("panoramisk").setLevel(logging.WARNING)
    started = time.perf_counter()
    expected = build_stream()
    chunks = recorded.chunks(expected.data)
    print(f"stream: {expected.events:,} events, {len(expected.data) / 2**20:.1f} MiB, "
          f"{len(chunks)} reads of 64 KiB (generated in {time.perf_counter() - started:.1f} s)",
          flush=True)
    stock_times, hotline_times, stock_run, hotline_run = asyncio.run(measure(expected, chunks))
    stock_check = check(expected, stock_run)
    hotline_check = check(expected, hotline_run)

    stock_rate = expected.events / min(stock_times)
    hotline_rate = expected.events / min(hotline_times)
    ratio_value = hotline_rate / stock_rate
    met = ratio_value >= TARGET_RATIO and hotline_check.corrupted == 0 \
        and hotline_check.missing == 0

    def row(name: str, rate: float, times: list[float], result: RunResult, c: Check
            ) -> list[str]:
        spread = f"{min(times) * 1000:.0f}–{max(times) * 1000:.0f}"
        return [name, thousands(rate), ratio(rate, stock_rate), spread,
                thousands(result.events_in), thousands(c.delivered), thousands(c.values),
                str(c.corrupted), str(c.missing)]

    columns = ["parser", "events/s (best of 5)", "vs stock", "ms per run (best–worst)",
               "events parsed", "events delivered", "values read", "corrupted", "missing"]
    rows = [
        row("panoramisk 1.4 stock (baseline)", stock_rate, stock_times, stock_run, stock_check),
        row("hotline AmiGateway", hotline_rate, hotline_times, hotline_run, hotline_check),
    ]
    notes = [
        f"stream: {expected.events:,} events, {len(expected.data):,} bytes in {len(chunks)} "
        f"reads, sha256 {hashlib.sha256(expected.data).hexdigest()[:16]}.",
        f"hotline / stock: **{ratio_value:.2f}x** (target ≥ {TARGET_RATIO:g}x: "
        f"{'met' if ratio_value >= TARGET_RATIO else 'NOT met'}); corrupted values: stock "
        f"{stock_check.corrupted}, hotline {hotline_check.corrupted} (target 0: "
        f"{'met' if hotline_check.corrupted == 0 else 'NOT met'}).",
        f"hotline's framer counted {hotline_run.decode_errors} undecodable bytes.",
    ]
    if stock_check.examples:
        notes.append("stock corruption, e.g.: " + "; ".join(stock_check.examples) + ".")
    if hotline_check.examples:
        notes.append("hotline corruption, e.g.: " + "; ".join(hotline_check.examples) + ".")
    return Outcome(columns, rows, notes, targets_met=met)
