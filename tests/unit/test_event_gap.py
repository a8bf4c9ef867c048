"""An event gap never loses a call: when the call handling's consumer queue overflows
(events dropped, then an EventGap) while a call is in progress, the resync from Asterisk
(CoreShowChannels, QueueStatus on the fake AMI server) recovers it, and the call still
ends with exactly one correct ledger row."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hotline.core.calls.live import ChannelInfo
from hotline.core.calls.tracking import IvrEntered
from tests.fakeami import event
from tests.unit.test_service_replay import (
    A_CHANNEL,
    AGENT_CONNECT,
    AGI_END,
    AGI_START,
    B_CHANNEL,
    HANGUP,
    NEWCHANNEL,
    QUEUE_JOIN,
    SEAT_1001,
    SEAT_LEG_HANGUP,
    SHOW_A,
    SHOW_A_SEAT,
    T0,
    A,
    B,
    Hotline,
    agent_complete,
    at,
    beijing,
    count_rows,
    line,
    rows,
)

pytestmark = pytest.mark.timeout(30)


def _junk(n: int) -> str:
    """Call events of a channel that is no call of ours (a flood hotline must read)."""
    return "".join(event("DTMFEnd", {"Channel": f"PJSIP/junk-{i:08d}", "Digit": "1",
                                      "Linkedid": f"9999.{i}", "Direction": "Received"})
                   for i in range(n))


async def test_a_call_whose_events_were_dropped_still_gets_one_correct_row(
        tmp_path: Path) -> None:
    """A's queue join and answer are dropped (the consumer's queue overflows in a flood):
    the EventGap's resync finds A with seat 1001, and A ends with one row: answered,
    tax-inquiry, seat 1001, 30 s of talk (before: abandoned, no seat)."""
    now = [T0 + timedelta(seconds=20)]
    async with line(tmp_path) as (ami, asterisk, ledger):
        hotline = Hotline(ami, ledger, lambda: now[0], tmp_path)
        await hotline.start()
        consumer = next(c for c in hotline.gateway._consumers if c.name == "calls")
        try:
            await asterisk.push(at(NEWCHANNEL, 0), at(AGI_START, 0))
            await ami.wait_action("AGI")  # the IVR session's ANSWER
            await hotline.settled()
            # What Asterisk will say when asked: A talking to seat 1001 in tax-inquiry.
            # (The channels' ages as they are at the resync, 20 s in: the seat's leg was
            # made, and answered, at 16 s.)
            asterisk.channels = [SHOW_A.replace("Duration: 00:00:42", "Duration: 00:00:20"),
                                 SHOW_A_SEAT.replace("Duration: 00:00:36",
                                                     "Duration: 00:00:04")]
            asterisk.queues = [SEAT_1001]
            consumer.max_bytes = 3000  # a small queue, so the flood overflows it
            with capture_logs() as logs:
                # The flood fills the queue after A's join: A's answer is dropped.
                await asterisk.push(at(AGI_END, 9) + at(QUEUE_JOIN, 10) + _junk(40)
                                    + at(AGENT_CONNECT, 16))
                await ami.wait_action("QueueStatus", 2)  # the gap's resync (1: connect)
                consumer.max_bytes = 32 << 20
                await hotline.settled()
            names = [entry["event"] for entry in logs]
            assert "ami.events_dropped" in names
            assert "calls.events_missed" in names
            assert consumer.dropped == 0
            assert (await rows(ledger))[A].state == "connected"
            now[0] = T0 + timedelta(seconds=46)
            await asterisk.push(at(SEAT_LEG_HANGUP, 45.9), at(HANGUP, 46),
                                at(agent_complete(30), 46))
            await hotline.settled()
        finally:
            await hotline.kill()
        assert await count_rows(ledger) == 1
        a = (await rows(ledger))[A]
        assert (a.state, a.outcome, a.end_reason) == ("ended", "answered", "hangup")
        assert (a.queue, a.seat) == ("tax-inquiry", "座席1001")
        assert (a.wait_seconds, a.talk_seconds) == (6.0, 30.0)
        assert (a.started_at, a.answered_at, a.ended_at) == (
            beijing(0), beijing(16), beijing(46))
        assert a.caller_number == "055112345678"
        assert A_CHANNEL not in hotline.calls.sessions


async def test_a_call_that_starts_while_the_resync_lists_the_channels_is_not_closed(
        tmp_path: Path) -> None:
    """B's IVR connection comes while the resync waits for Asterisk's channel list (taken
    before B existed): B is not in the list, yet alive, and stays tracked; A, tracked
    before and missing from the list, is closed as vanished (before: B too, `interrupted`,
    and its real end lost)."""
    now = [T0 + timedelta(seconds=20)]
    async with line(tmp_path) as (ami, asterisk, ledger):
        hotline = Hotline(ami, ledger, lambda: now[0], tmp_path)
        await hotline.start()
        try:
            await asterisk.push(at(NEWCHANNEL, 0), at(AGI_START, 0))
            await ami.wait_action("AGI")
            await hotline.settled()
            listing = hotline.gateway.channels

            async def channels_then_b_starts() -> list[ChannelInfo]:
                listed = await listing()  # without A (gone) and B (not there yet)
                # What on_agi_call does first with the connection: the call is tracked.
                hotline.calls._apply(IvrEntered(B, B, B_CHANNEL, "055187654321", "纳税人李四"))
                return listed

            hotline.gateway.channels = channels_then_b_starts  # type: ignore[method-assign]
            await hotline.calls.resync()
            await hotline.settled()
        finally:
            await hotline.kill()
        assert B in hotline.calls.tracker.calls
        assert A not in hotline.calls.tracker.calls
        found = await rows(ledger)
        assert found[A].end_reason == "vanished"
        assert found[B].state == "ivr"
        assert found[B].ended_at is None
