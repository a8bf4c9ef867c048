"""What the exchange has right now, as plain data: its channels and its queues.

Filled in by the PBX adapter (hotline.pbx.queues, hotline.pbx.channels) from what Asterisk
lists, read by the adoption of calls after a restart (hotline.core.calls.adoption), the
routing loop and the wallboard. No AMI word here: the adapter has already decided what a
header means (which channel is in hotline's IVR, which queue a caller waits in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class ChannelInfo:
    """One channel of a call, as the exchange lists it."""

    channel: str
    uniqueid: str
    linkedid: str
    application: str  # the dialplan application it runs now (for logs)
    application_data: str
    context: str
    bridge_id: str  # "" when in no bridge
    age: timedelta  # how long the channel has existed
    caller_number: str | None
    caller_name: str | None
    device: str  # the device it was made for, as a queue member's `device` names it
    in_ivr: bool = False  # waiting in hotline's IVR (AsyncAGI)
    in_queue: bool = False  # in a queue (its Queue application)
    queue: str | None = None  # the queue that application was given
    on_line: bool = False  # in the line's own dialplan (its IVR entry or fallback)


@dataclass(frozen=True)
class MemberStatus:
    queue: str
    name: str
    interface: str
    penalty: int
    paused: bool
    paused_reason: str
    status: str  # the member's device state (not_in_use, in_use, ringing, ...)
    in_call: bool
    calls_taken: int
    dynamic: bool
    last_call: int = 0  # when its last call ended (epoch seconds; 0: none yet)
    device: str = ""  # its interface as a channel's `device` names it


@dataclass(frozen=True)
class WaitingCaller:
    queue: str
    position: int
    number: str | None
    name: str | None
    wait: int
    uniqueid: str = ""  # the caller's channel


@dataclass
class QueueStatus:
    queue: str
    waiting: int = 0
    holdtime: int = 0
    talktime: int = 0
    completed: int = 0
    abandoned: int = 0
    service_level: int = 0
    service_level_perf: float = 0.0
    members: list[MemberStatus] = field(default_factory=list)
    callers: list[WaitingCaller] = field(default_factory=list)

