"""The long AMI fuzz run: `make fuzz` (`python -m bench.ami_fuzz [--messages N]`).

Feeds N fuzzed AMI messages (default 300,000) into the gateway's protocol, as Asterisk's
socket would, while actions are always pending (Ping, QueueStatus, CoreShowChannels,
AsyncAGI commands) and three consumers like the service's (calls, routing, lifecycle)
take their events. The traffic mixes well-formed junk events (random names and headers,
the names the service subscribes to), responses and list events carrying the pending
actions' ActionIDs in every order, AsyncAGIExec with garbage results, random bytes,
invalid UTF-8 and NUL bytes, keys without values, and now and then a frame with no end
(2 MiB). A protocol violation drops the connection; the run then connects a new protocol
object, as the gateway's `run` does.

It reports what escaped (exceptions out of the gateway, actions that ended with anything
but a result or an AmiError, actions that outlived their timeout), the reconnects, the
largest size each bounded structure reached, and the process's memory: at the start, at
its peak, and after the flood once the consumers have caught up. It exits 1 when
anything escaped or a structure passed its bound. Not part of `make bench` (no ratio to
report) nor of .ci/run (a few minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import random
import sys
import time
from pathlib import Path
from typing import Any

import structlog

from hotline.pbx.ami.message import MAX_FRAME
from hotline.pbx.events import CALL_EVENTS
from hotline.pbx.gateway import (
    CONSUMER_BYTES,
    ROUTE_CACHE_MAX,
    AmiError,
    AmiGateway,
    EventGap,
    _Protocol,
)

GREETING = b"Asterisk Call Manager/11.0.0\r\n"
CHANNEL = "PJSIP/trunk-cmcc-00000007"
NAMES = (*CALL_EVENTS, "QueueParams", "QueueMember", "QueueEntry", "QueueStatusComplete",
         "CoreShowChannel", "CoreShowChannelsComplete", "AsyncAGIEnd", "FullyBooted",
         "Shutdown", "QueueMemberStatus", "Newchannel", "VarSet")


def rss_kib() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in KiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        if len(self.written) < 1000:
            self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class Fuzzer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def text(self, most: int = 30) -> str:
        rng = self.rng
        alphabet = rng.choice(["abcXYZ019 :-_", "纳税人张三", "\x00\x01\t:", "\u202e\ufeffé"])
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))

    def frame(self, ids: list[str], command_ids: list[str]) -> bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.01:
            return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
        if roll < 0.0105:
            return b"Event: Endless\r\nData: " + b"z" * (2 * MAX_FRAME)  # never ends
        lines = []
        kind = rng.random()
        if kind < 0.7:
            name = rng.choice(NAMES) if rng.random() < 0.6 else f"Junk{rng.getrandbits(40)}"
            lines.append(f"Event: {name}")
        elif kind < 0.9:
            lines.append("Response: " + rng.choice(["Success", "Error", "Follows", self.text()]))
        if ids and rng.random() < 0.3:
            lines.append("ActionID: " + (rng.choice(ids) if rng.random() < 0.8 else self.text()))
        if rng.random() < 0.2:
            lines.append("EventList: " + rng.choice(["start", "Complete", self.text()]))
        if command_ids and rng.random() < 0.1:
            lines += [f"CommandID: {rng.choice(command_ids)}",
                      f"Channel: {CHANNEL if rng.random() < 0.8 else self.text()}",
                      "Result: " + rng.choice(["200%20result%3D49", "200 result=" + "9" * 40,
                                               "511", "%FF%FE", self.text()])]
        for _ in range(rng.randint(0, 12)):
            key = rng.choice(["Channel", "Linkedid", "Uniqueid", "Queue", "CallerIDNum",
                              self.text(12)])
            lines.append(rng.choice([f"{key}: {self.text()}", f"{key}:", key]))
        raw = "\r\n".join(lines).encode("utf-8")
        if rng.random() < 0.02:
            raw += bytes(rng.getrandbits(8) for _ in range(8))  # invalid UTF-8, NUL
        return raw + b"\r\n\r\n"


async def fuzz(messages: int, seed: int) -> int:
    counts: collections.Counter[str] = collections.Counter()

    def count(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        counts[f"log {event_dict['event']}"] += 1
        raise structlog.DropEvent

    structlog.configure(processors=[count])
    gateway = AmiGateway("127.0.0.1", 1, "hotline", "x", action_timeout=0.05)
    handled: collections.Counter[str] = collections.Counter()

    def consumer(name: str) -> Any:
        def handle(item: Any) -> None:
            if isinstance(item, EventGap):
                handled[f"{name} gaps"] += 1
                return
            # What the service's consumers do: read a few headers.
            item.get("Channel"), item.get("Linkedid"), item.get("Queue")
            handled[name] += 1
        return handle

    subscriptions = [gateway.subscribe("calls", CALL_EVENTS, consumer("calls")),
                     gateway.subscribe("routing", ["Queue*", "Agent*"], consumer("routing")),
                     gateway.subscribe("lifecycle", ["FullyBooted", "Shutdown"],
                                       consumer("lifecycle"))]

    def connect() -> tuple[_Protocol, _Transport]:
        protocol = _Protocol(gateway)
        transport = _Transport()
        protocol.connection_made(transport)
        gateway._protocol, gateway._logged_in = protocol, True
        protocol.data_received(GREETING)
        return protocol, transport

    gc.collect()
    rss_start, _ = rss_kib()
    fuzzer = Fuzzer(seed)
    protocol, transport = connect()
    actions: set[asyncio.Task[Any]] = set()
    started: dict[asyncio.Task[Any], float] = {}
    outcomes: collections.Counter[str] = collections.Counter()
    peaks: collections.Counter[str] = collections.Counter()
    escaped: list[str] = []

    def finished(task: asyncio.Task[Any]) -> None:
        actions.discard(task)
        late = time.monotonic() - started.pop(task) - 0.05
        peaks["action lateness ms"] = max(peaks["action lateness ms"], int(late * 1000))
        error = None if task.cancelled() else task.exception()
        if error is None:
            outcomes["result"] += 1
        elif isinstance(error, AmiError):
            outcomes[type(error).__name__] += 1
        else:
            escaped.append(repr(error))

    def issue() -> None:
        for coro in (gateway.send({"Action": "Ping"}),
                     gateway.send_list({"Action": "QueueStatus"}),
                     gateway.send_list({"Action": "CoreShowChannels"}),
                     gateway.agi(CHANNEL, "WAIT FOR DIGIT 10", timeout=0.05)):
            task = asyncio.create_task(coro)
            started[task] = time.monotonic()
            actions.add(task)
            task.add_done_callback(finished)

    t0 = time.monotonic()
    sent = 0
    sent_bytes = 0
    reconnects = 0
    while sent < messages:
        if len(actions) < 8:
            issue()
        await asyncio.sleep(0)
        ids, command_ids = list(gateway._pending), list(gateway._agi)
        if sent % 50_000 < 200 and sent:
            # A burst the consumers cannot keep up with (in one go, no yield): past their
            # queue's bound events are dropped and an EventGap follows.
            batch = [b"Event: Hangup\r\nChannel: PJSIP/x-%d\r\nLinkedid: %d\r\n\r\n"
                     % (i, i) for i in range(min(15_000, messages - sent))]
        else:
            batch = [fuzzer.frame(ids, command_ids) for _ in range(min(200, messages - sent))]
        data = b"".join(batch)
        sent += len(batch)
        sent_bytes += len(data)
        for start in range(0, len(data), 65536):
            protocol.data_received(data[start:start + 65536])
            peaks["framer pending bytes"] = max(peaks["framer pending bytes"],
                                                protocol.framer.pending_bytes)
            if transport.closed:
                break
        if transport.closed:
            reconnects += 1
            protocol, transport = connect()
        peaks["route cache names"] = max(peaks["route cache names"], len(gateway._route_cache))
        for sub in subscriptions:
            key = f"{sub.consumer.name} queued bytes"
            peaks[key] = max(peaks[key], sub.consumer.queued_bytes)
            key = f"{sub.consumer.name} queued events"
            peaks[key] = max(peaks[key], sub.consumer.queue.qsize())
        peaks["pending actions"] = max(peaks["pending actions"], len(gateway._pending))
        if sent % 20_000 < 200:
            peaks["rss peak KiB"] = max(peaks["rss peak KiB"], rss_kib()[0])
    flood_s = time.monotonic() - t0
    # Let the actions end and the consumers catch up, then see what memory is left.
    await asyncio.wait(set(actions), timeout=2.0) if actions else None
    hung = len(actions)
    for sub in subscriptions:
        await gateway.caught_up(sub.consumer.name, timeout=30.0)
    peaks["rss peak KiB"] = max(peaks["rss peak KiB"], rss_kib()[0])
    for sub in subscriptions:
        sub.unsubscribe()
    gc.collect()
    rss_end, rss_hwm = rss_kib()

    print(f"messages {sent:,} ({sent_bytes / 1e6:.1f} MB) in {flood_s:.1f} s "
          f"({sent / flood_s:,.0f}/s), seed {seed}")
    print(f"escaped exceptions: {len(escaped)}; handle_failed logs: "
          f"{counts['log ami.handle_failed']}; actions past their timeout: {hung}")
    print(f"reconnects: {reconnects} (protocol violations "
          f"{counts['log ami.protocol_violation']}, frames too large "
          f"{counts['log ami.frame_too_large']})")
    print("actions: " + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())))
    print("consumers: " + ", ".join(f"{k} {v:,}" for k, v in sorted(handled.items())))
    print("peaks: " + ", ".join(f"{k} {v:,}" for k, v in sorted(peaks.items())))
    print(f"memory: RSS {rss_start / 1024:.0f} MiB at start, {peaks['rss peak KiB'] / 1024:.0f}"
          f" MiB peak (high-water {rss_hwm / 1024:.0f} MiB), {rss_end / 1024:.0f} MiB after")
    for line in escaped[:10]:
        print("escaped:", line)
    bounded = (peaks["route cache names"] <= ROUTE_CACHE_MAX
               and peaks["framer pending bytes"] <= MAX_FRAME
               and all(peaks[f"{s.consumer.name} queued bytes"] <= CONSUMER_BYTES
                       for s in subscriptions))
    ok = not escaped and not hung and not counts["log ami.handle_failed"] and bounded
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    return asyncio.run(fuzz(args.messages, args.seed))


if __name__ == "__main__":
    sys.exit(main())
