"""The pieces of bench/sip_load that its figures rest on: the realistic run's routing, the
AMI relay that counts QueueStatus rounds on the wire, and the soak's per-minute CPU."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

from bench.sip_load import AmiCounter
from bench.sip_load.line import LINE_QUEUE, LINE_SEATS, line_routing, line_row_right
from bench.sip_load.soak import _at
from hotline.app.settings import load_settings
from hotline.app.wiring import routing_from


def test_the_realistic_runs_routing_is_a_valid_routing_yaml_with_40_answering_seats(
        tmp_path: Path) -> None:
    """hotline accepts the realistic run's routing.yaml: 40 Local seats of the centre,
    each in the income-tax queue the keys 1 1 lead to, every shipped queue served, and no
    wrap-up (a seat takes the next call at once)."""
    path = line_routing(tmp_path)
    routing = routing_from(load_settings(None, {"HOTLINE_ROUTING_PATH": str(path)}))
    assert routing is not None
    assert len(routing.seats) == LINE_SEATS
    assert all(s.device == f"Local/{s.id}@seats/n" for s in routing.seats.values())
    assert all(LINE_QUEUE in s.skills for s in routing.seats.values())
    for queue in routing.queues:
        assert any(queue in s.skills for s in routing.seats.values()), queue
    assert all(q.wrapup == 0 for q in routing.queues.values())


def test_a_realistic_row_is_right_only_when_a_seat_of_the_queue_answered() -> None:
    """The realistic run counts a row right only if it was answered by a seat after the
    keys 1 1 on the path main>consult in queue iit."""
    good = ("2026-11-25T02:00:09", "answered", "11", "main>consult", "iit", "座席8001", 0.01)
    assert line_row_right(good)
    assert not line_row_right((*good[:5], None, 0.01))
    assert not line_row_right((good[0], "abandoned", *good[2:]))
    assert not line_row_right((*good[:4], "center", *good[5:]))


def _upstream(frames: list[bytes], expect: int) -> tuple[int, threading.Thread, list[bytes]]:
    """A one-connection TCP server that sends `frames` one write at a time, slowly
    (so the relay reads them apart), reads `expect` bytes, and then closes."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            for frame in frames:
                conn.sendall(frame)
                time.sleep(0.02)
            conn.settimeout(5)
            while sum(map(len, received)) < expect and (data := conn.recv(4096)):
                received.append(data)
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread, received


def test_the_ami_counter_counts_actions_and_reply_events_split_across_reads() -> None:
    """QueueStatus actions and their reply events are counted once each, even when a
    read ends in the middle of one, and every byte is relayed unchanged both ways."""
    reply = (b"Event: QueueParams\r\nQueue: iit\r\n\r\nEvent: QueueMember\r\nQueue: iit\r\n\r\n"
             b"Event: QueueEntry\r\nQueue: iit\r\n\r\nEvent: QueueStatusComplete\r\n\r\n")
    cut = reply.index(b"Member") + 2  # a read ends inside "Event: QueueMember"
    actions = b"Action: QueueStatus\r\nActionID: 1\r\n\r\nAction: Setvar\r\n\r\n"
    more = b"Action: QueueStatus\r\n\r\n"
    port, thread, received = _upstream([reply[:cut], reply[cut:], reply],
                                       len(actions) + len(more))
    counter = AmiCounter(port)

    async def client() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", counter.port)
        # Split inside the action's name, too.
        writer.write(actions[:10])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(actions[10:] + more)
        await writer.drain()
        got = await reader.read(-1)
        writer.close()
        return got

    try:
        got = asyncio.run(client())
        thread.join(5)
        assert got == reply * 2
        assert b"".join(received) == actions + more
        deadline = time.monotonic() + 5
        while len(counter.actions) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(counter.actions) == 2
        assert counter.events == 6
    finally:
        counter.close()


def test_the_soaks_cpu_between_two_samples_is_interpolated() -> None:
    """A minute's CPU is read between the 1 s samples: linear in between, the first or
    last sample outside them."""
    samples = [(100.0, 1.0, 10.0, 1000), (101.0, 2.0, 12.0, 3000)]
    assert _at(samples, 100.25, 1) == 1.25
    assert _at(samples, 100.5, 2) == 11.0
    assert _at(samples, 100.5, 3) == 2000
    assert _at(samples, 99.0, 2) == 10.0
    assert _at(samples, 105.0, 2) == 12.0
