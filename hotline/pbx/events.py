"""AMI events -> typed events: the facts of the call domain (hotline.core.calls.tracking),
what happens on a channel in AsyncAGI, queue changes and Asterisk's lifecycle.

The only place that knows which AMI event and header carries what. Code outside pbx/
subscribes through the gateway (subscribe_calls, subscribe_queue_changes,
subscribe_lifecycle) and sees only the types below, never an AMI message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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
from hotline.pbx.operations import is_send_on


@dataclass(frozen=True)
class EventGap:
    """Handed to a consumer that was too slow: `dropped` events were not delivered to it."""

    dropped: int


@dataclass(frozen=True)
class CallEvent:
    """A fact about a call, with Asterisk's own time of it (None: the event carried no
    timestamp, manager.conf lacks `timestampevents = yes`)."""

    fact: Fact
    at: datetime | None
    kind: str  # what Asterisk reported, for logs only
    # For IvrEntered (a channel entered AsyncAGI): the extension it dialled.
    extension: str | None = None


@dataclass(frozen=True)
class AgiCommandStarted:
    """An AGI command started on `channel`."""

    channel: str
    linkedid: str
    reads_keys: bool  # it takes the key pressed while it runs (barge-in, wait for digit)
    keys_wanted: int  # how many keys it reads at most (0: none)
    records: bool  # it records the caller


@dataclass(frozen=True)
class AgiCommandEnded:
    channel: str
    linkedid: str


@dataclass(frozen=True)
class KeyReceived:
    """The caller pressed `digit` on `channel` (a DTMF key received, once it ended)."""

    channel: str
    linkedid: str
    digit: str


@dataclass(frozen=True)
class EarlierAgiFinished:
    """An AGI command neither this run of hotline sent nor a send-on finished on `channel`:
    a command of an earlier run. The channel now waits in AsyncAGI for a next command."""

    channel: str
    linkedid: str


ChannelEvent = AgiCommandStarted | AgiCommandEnded | KeyReceived
CallsEvent = CallEvent | ChannelEvent | EarlierAgiFinished


@dataclass(frozen=True)
class AsteriskBooted:
    status: str | None
    uptime: str | None


@dataclass(frozen=True)
class AsteriskShuttingDown:
    shutdown: str | None  # how (Cleanly, Uncleanly)
    restart: str | None


LifecycleEvent = AsteriskBooted | AsteriskShuttingDown

# The AMI events subscribe_calls listens to (one consumer, in order).
CALL_EVENTS = (
    "AsyncAGIStart", "AsyncAGIExec", "QueueCallerJoin", "QueueCallerLeave",
    "QueueCallerAbandon", "AgentCalled", "AgentRingNoAnswer", "AgentConnect",
    "AgentComplete", "Hangup", "DTMFEnd", "AGIExecStart", "AGIExecEnd",
)
# Each changes what a queue holds (callers or members).
QUEUE_EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon",
                "QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded",
                "QueueMemberRemoved", "QueueMemberPenalty")
LIFECYCLE_EVENTS = ("FullyBooted", "Shutdown")


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
        return SeatCompleted(linkedid, _seconds(message.get("TalkTime")), whole_seconds=True)
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


def reads_keys(command: str) -> bool:
    """Whether an AGI command (as AGIExecStart reports it) takes the key pressed while it
    runs: WAIT FOR DIGIT, or STREAM FILE with escape digits."""
    upper = command.upper()
    return upper.startswith("WAIT FOR DIGIT") or (
        upper.startswith("STREAM FILE") and not upper.endswith('""'))


def channel_event(message: AmiMessage) -> ChannelEvent | None:
    """What an AMI event says happened on a channel in AsyncAGI, if anything."""
    event = message.event
    channel = message.get("Channel") or ""
    linkedid = message.get("Linkedid") or ""
    if event == "AGIExecStart":
        command = message.get("Command") or ""
        return AgiCommandStarted(channel, linkedid, reads_keys(command),
                                 reading_capacity(command), starts_recording(command))
    if event == "AGIExecEnd":
        return AgiCommandEnded(channel, linkedid)
    if event == "DTMFEnd" and message.get("Direction") == "Received":
        return KeyReceived(channel, linkedid, message.get("Digit") or "")
    return None


def calls_event(message: AmiMessage, owns_id: Callable[[str], bool]) -> CallsEvent | None:
    """The typed event subscribe_calls delivers for an AMI event (None: nothing to
    deliver). `owns_id`: whether this run issued an AGI CommandID."""
    if message.event in ("AGIExecStart", "AGIExecEnd", "DTMFEnd"):
        return channel_event(message)
    if message.event == "AsyncAGIExec":
        channel = message.get("Channel")
        command_id = message.get("CommandID") or ""
        if not channel or owns_id(command_id) or is_send_on(command_id):
            return None
        return EarlierAgiFinished(channel, message.get("Linkedid") or "")
    fact = fact_from_event(message)
    if fact is None:
        return None
    extension = (agi_env(message).get("agi_extension")
                 if isinstance(fact, IvrEntered) else None)
    return CallEvent(fact, event_time(message), message.event or "", extension)


def lifecycle_event(message: AmiMessage) -> LifecycleEvent | None:
    if message.event == "FullyBooted":
        return AsteriskBooted(message.get("Status"), message.get("Uptime"))
    if message.event == "Shutdown":
        return AsteriskShuttingDown(message.get("Shutdown"), message.get("Restart"))
    return None


def reading_capacity(command: str) -> int:
    """How many keys an AGI command (as AGIExecStart reports it) reads: 0 if none."""
    upper = command.upper()
    if upper.startswith("GET DATA"):
        # GET DATA <file> [timeout] [maxdigits]; quotes keep a file name one word.
        args = re.findall(r'"[^"]*"|\S+', command)[2:]
        if len(args) >= 3:
            try:
                return max(1, int(args[2]))
            except ValueError:
                return 1024
        return 1024
    if upper.startswith(("WAIT FOR DIGIT", "GET OPTION", "CONTROL STREAM FILE")):
        return 1
    if upper.startswith("STREAM FILE"):
        args = re.findall(r'"[^"]*"|\S+', command)[2:]
        escape = args[1].strip('"') if len(args) >= 2 else ""
        return 1 if escape else 0
    if upper.startswith("RECORD FILE"):
        return 1
    return 0


def starts_recording(command: str) -> bool:
    """Whether an AGI command (as AGIExecStart reports it) records the caller."""
    return command.upper().startswith("RECORD FILE")
