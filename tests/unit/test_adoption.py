"""Adopting the calls of an earlier run (hotline.core.calls.adoption): pure, on the plain
channel and queue data pbx/ fills in, and on the call the earlier run's ledger row says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hotline.core.calls.adoption import adopted_call, caller_channel
from hotline.core.calls.live import ChannelInfo, MemberStatus, QueueStatus, WaitingCaller
from hotline.core.calls.tracking import Call, CallState

NOW = datetime(2025, 11, 27, 8, 1, 0, tzinfo=UTC)
A = "1764230400.14"


def channel(name: str, uniqueid: str, *, age: int, bridge: str = "", device: str = "",
            in_ivr: bool = False, queue: str | None = None, on_line: bool = False,
            ) -> ChannelInfo:
    return ChannelInfo(name, uniqueid, A, "Queue" if queue else "AGI" if in_ivr else "Dial",
                       "", "ivr" if on_line else "seats", bridge, timedelta(seconds=age),
                       "055112345678", "纳税人张三", device, in_ivr=in_ivr,
                       in_queue=queue is not None, queue=queue, on_line=on_line)


CALLER = channel("PJSIP/trunk-00000007", A, age=42, bridge="b1", queue="tax-inquiry",
                 on_line=True)
SEAT_LEG = channel("Local/1001@seats-00000003;1", "1764230412.17", age=36, bridge="b1",
                   device="Local/1001@seats")
MEMBERS = QueueStatus("tax-inquiry", members=[
    MemberStatus("tax-inquiry", "座席1002", "Local/1002@seats/n", 0, False, "", "not_in_use",
                 False, 3, True, device="Local/1002@seats"),
    MemberStatus("tax-inquiry", "座席1001", "Local/1001@seats/n", 0, False, "", "in_use",
                 True, 0, True, device="Local/1001@seats"),
])


def earlier(state: CallState = CallState.IVR, **changes: object) -> Call:
    call = Call(A, "", "", "055112345678", "纳税人张三", state, NOW - timedelta(seconds=50),
                ((CallState.IVR, NOW - timedelta(seconds=50)),), digits="12",
                category="consultation")
    return replace(call, **changes)  # type: ignore[arg-type]


def test_a_call_answered_while_hotline_was_down_is_adopted_with_its_seat() -> None:
    """No row: the seat is the member whose device the channel sharing the caller's bridge
    was made for; it answered when that channel was made, the call began with its own."""
    call = adopted_call(A, [CALLER, SEAT_LEG], None, [MEMBERS], NOW)
    assert call is not None
    assert (call.state, call.caller_channel, call.caller_uniqueid) == (
        CallState.CONNECTED, CALLER.channel, A)
    assert (call.queue, call.seat, call.answered_at) == (
        "tax-inquiry", "座席1001", NOW - timedelta(seconds=36))
    assert call.started_at == NOW - timedelta(seconds=42)


def test_a_seat_leg_alone_is_no_call_to_follow() -> None:
    """Without the caller's channel (no IVR, queue, first channel or line context) and no
    row, nothing is adopted."""
    assert adopted_call(A, [SEAT_LEG], None, [MEMBERS], NOW) is None


def test_the_caller_is_the_channel_in_the_ivr_before_one_in_a_queue_or_the_first() -> None:
    """The caller's channel: in hotline's IVR, else in a queue, else the call's first
    channel, else one in the line's dialplan."""
    ivr = channel("PJSIP/x-1", "u1", age=5, in_ivr=True)
    queued = channel("PJSIP/x-2", "u2", age=5, queue="q")
    first = channel("PJSIP/x-3", A, age=5)
    line = channel("PJSIP/x-4", "u4", age=5, on_line=True)
    assert caller_channel(A, [line, first, queued, ivr]) is ivr
    assert caller_channel(A, [line, first, queued]) is queued
    assert caller_channel(A, [line, first]) is first
    assert caller_channel(A, [SEAT_LEG, line]) is line
    assert caller_channel(A, [SEAT_LEG]) is None


def test_a_call_left_in_the_menu_keeps_its_row_on_its_channel_now() -> None:
    """With a row: the call is what the row said (keys, category), on the channel the
    exchange has now, in the IVR."""
    ivr = channel("PJSIP/trunk-00000007", A, age=50, in_ivr=True)
    call = adopted_call(A, [ivr], earlier(), [], NOW)
    assert call is not None
    assert (call.state, call.caller_channel, call.caller_uniqueid) == (
        CallState.IVR, ivr.channel, A)
    assert (call.digits, call.category) == ("12", "consultation")


def test_a_call_that_went_from_the_menu_to_a_queue_is_queued_since_its_wait() -> None:
    """The row says IVR, the exchange has the caller waiting 12 s: queued 12 s ago, in
    the queue the waiting caller is listed in."""
    waiting = channel("PJSIP/trunk-00000007", A, age=50, queue="tax-inquiry,r")
    status = QueueStatus("tax-inquiry", callers=[
        WaitingCaller("tax-inquiry", 1, "055112345678", None, 12, A)])
    call = adopted_call(A, [waiting], earlier(), [status], NOW)
    assert call is not None
    assert (call.state, call.queue, call.queued_at) == (
        CallState.QUEUED, "tax-inquiry", NOW - timedelta(seconds=12))
    assert call.history[-1] == (CallState.QUEUED, NOW - timedelta(seconds=12))


def test_an_answered_call_back_in_a_queue_counts_a_transfer() -> None:
    """The row says a seat answered; the caller waits in a queue again: sent back by the
    seat, one more transfer, the first answer kept."""
    answered_at = NOW - timedelta(seconds=30)
    waiting = channel("PJSIP/trunk-00000007", A, age=50, queue="tax-inquiry")
    status = QueueStatus("tax-inquiry", callers=[
        WaitingCaller("tax-inquiry", 1, None, None, 5, A)])
    call = adopted_call(A, [waiting], earlier(CallState.CONNECTED, answered_at=answered_at,
                                              seat="座席1001"), [status], NOW)
    assert call is not None
    assert (call.state, call.transfers, call.answered_at, call.seat) == (
        CallState.QUEUED, 1, answered_at, "座席1001")


def test_a_call_in_a_queue_without_a_bridge_stays_as_the_row_says() -> None:
    """In the queue application but neither waiting nor bridged (between the queue and a
    seat): as the row says, the next event tells where it is."""
    between = channel("PJSIP/trunk-00000007", A, age=50, queue="tax-inquiry")
    row = earlier(CallState.RINGING, queue="tax-inquiry")
    assert adopted_call(A, [between], row, [], NOW) == replace(
        row, caller_channel=between.channel, caller_uniqueid=A)
