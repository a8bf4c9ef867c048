"""Asterisk's queues as hotline reads them: the QueueStatus answer parsed once, into the
plain data of hotline.core.calls.live (for the seats, the routing loop, the wallboard and
the resync of calls)."""

from __future__ import annotations

from collections.abc import Iterable

from hotline.core.calls.live import MemberStatus, QueueStatus, WaitingCaller
from hotline.pbx.ami.message import AmiMessage

# A queue member's Status header: Asterisk's device state (ast_device_state).
DEVICE_STATES = {"0": "unknown", "1": "not_in_use", "2": "in_use", "3": "busy",
                 "4": "invalid", "5": "unavailable", "6": "ringing", "7": "ringinuse",
                 "8": "onhold"}

# A Queue application's options as hotline runs it: ring the caller while seats ring,
# rather than music.
QUEUE_OPTIONS = "r"


def queue_args(queue: str, timeout: int) -> str:
    """The arguments of the Queue application: `queue`, hotline's options, at most
    `timeout` seconds of waiting."""
    return f"{queue},{QUEUE_OPTIONS},,,{timeout}"


def member_device(interface: str) -> str:
    """A queue member's interface as the channels made for it are named: without the
    `/n` option of a Local channel (Local/1001@seats/n -> Local/1001@seats)."""
    return interface.removesuffix("/n")


def parse_queue_status(events: Iterable[AmiMessage]) -> dict[str, QueueStatus]:
    """The events of a QueueStatus answer (QueueParams, QueueMember, QueueEntry) as one
    QueueStatus per queue."""
    out: dict[str, QueueStatus] = {}
    for event in events:
        queue = event.get("Queue") or ""
        entry = out.setdefault(queue, QueueStatus(queue))
        if event.event == "QueueParams":
            entry.waiting = _int(event.get("Calls"))
            entry.holdtime = _int(event.get("Holdtime"))
            entry.talktime = _int(event.get("TalkTime"))
            entry.completed = _int(event.get("Completed"))
            entry.abandoned = _int(event.get("Abandoned"))
            entry.service_level = _int(event.get("ServiceLevel"))
            try:
                entry.service_level_perf = float(event.get("ServicelevelPerf") or 0)
            except ValueError:
                entry.service_level_perf = 0.0
        elif event.event == "QueueMember":
            interface = event.get("Location") or ""
            entry.members.append(MemberStatus(
                queue, event.get("Name") or "", interface,
                _int(event.get("Penalty")), event.get("Paused") == "1",
                event.get("PausedReason") or "",
                DEVICE_STATES.get(event.get("Status") or "0", "unknown"),
                event.get("InCall") == "1", _int(event.get("CallsTaken")),
                event.get("Membership") == "dynamic", _int(event.get("LastCall")),
                member_device(interface)))
        elif event.event == "QueueEntry":
            entry.callers.append(WaitingCaller(
                queue, _int(event.get("Position")), event.get("CallerIDNum"),
                event.get("CallerIDName"), _int(event.get("Wait")),
                event.get("Uniqueid") or ""))
    return out


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
