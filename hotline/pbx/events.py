"""AMI events -> the facts of the call domain (hotline.core.calls.tracking).

The only place that knows which AMI event and header carries which fact of a call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote

from hotline.core.calls.tracking import (
    ChannelHungUp,
    Fact,
    IvrEntered,
    QueueAbandoned,
    QueueJoined,
    QueueLeft,
    SeatCompleted,
    SeatConnected,
    SeatNoAnswer,
    SeatRinging,
    caller_id,
)
from hotline.pbx.ami.message import AmiMessage


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def event_time(message: AmiMessage) -> datetime | None:
    """The event's own time (manager.conf `timestampevents = yes`), if it carries one."""
    stamp = message.get("Timestamp")
    if stamp is None:
        return None
    try:
        return datetime.fromtimestamp(float(stamp), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def fact_from_event(message: AmiMessage) -> Fact | None:
    """The fact an AMI event carries for call tracking, or None if it carries none."""
    event = message.event
    linkedid = message.get("Linkedid")
    if event is None or not linkedid:
        return None
    queue = message.get("Queue") or ""
    seat = message.get("MemberName") or message.get("Interface") or ""
    if event == "AsyncAGIStart":
        return IvrEntered(linkedid, message.get("Uniqueid") or "", message.get("Channel") or "",
                          caller_id(message.get("CallerIDNum")),
                          caller_id(message.get("CallerIDName")))
    if event == "QueueCallerJoin":
        return QueueJoined(linkedid, message.get("Uniqueid") or "",
                           message.get("Channel") or "", queue,
                           caller_id(message.get("CallerIDNum")),
                           caller_id(message.get("CallerIDName")))
    if event == "AgentCalled":
        return SeatRinging(linkedid, queue, seat)
    if event == "AgentRingNoAnswer":
        return SeatNoAnswer(linkedid, queue, seat)
    if event == "AgentConnect":
        return SeatConnected(linkedid, queue, seat, _seconds(message.get("HoldTime")))
    if event == "AgentComplete":
        return SeatCompleted(linkedid, _seconds(message.get("TalkTime")))
    if event == "QueueCallerAbandon":
        return QueueAbandoned(linkedid, queue)
    if event == "QueueCallerLeave":
        return QueueLeft(linkedid, queue)
    if event == "Hangup":
        return ChannelHungUp(linkedid, message.get("Uniqueid") or "", message.get("Cause"))
    return None


def agi_env(message: AmiMessage) -> dict[str, str]:
    """The `agi_*` variables of an AsyncAGIStart event (its Env header is URL-encoded)."""
    env: dict[str, str] = {}
    for line in unquote(message.get("Env") or "").splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            env[key] = value
    return env
