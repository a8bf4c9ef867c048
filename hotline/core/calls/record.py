"""Asterisk's own record of calls, and what the ledger makes of it: the calls Asterisk
handled that hotline never saw (they started and ended while it was down: the dialplan's
fallback), and when the calls that vanished while it was away really ended.

Pure: the PBX adapter (hotline.pbx.record) reads Asterisk's channel event log (CEL) into
`RecordEvent`s, having already decided what Asterisk's words mean (which application was a
queue and which queue, which device a bridged peer was made for). The decision here works
on those events, on what the ledger and the tracker know, at the times it is given.

A call of the record is its Linkedid. Its caller is the channel whose Uniqueid is the
Linkedid (the call's first channel); the other channels of the call (a seat's) count only
through the caller's bridge. A call is one of the line's when its caller ran the line's
dialplan (`on_line`), and finished when its caller's channel ended.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hotline.core.calls.tracking import (
    Call,
    CallState,
    EndReason,
    RecordedBy,
    caller_id,
    outcome_of,
)


class RecordKind(enum.Enum):
    CHANNEL_START = "channel_start"
    ANSWER = "answer"
    APP_START = "app_start"  # a tracked application (a queue, voicemail) started
    APP_END = "app_end"
    BRIDGE_ENTER = "bridge_enter"
    BRIDGE_EXIT = "bridge_exit"
    HANGUP = "hangup"
    CHANNEL_END = "channel_end"
    CALL_END = "call_end"  # the last channel of the Linkedid is gone
    OTHER = "other"


@dataclass(frozen=True)
class RecordEvent:
    """One event of Asterisk's record, as the adapter read it."""

    row: int  # its position in the record (for pruning)
    kind: RecordKind
    at: datetime
    linkedid: str
    uniqueid: str
    channel: str
    number: str | None
    name: str | None
    on_line: bool = False  # the channel was in the line's dialplan (its entry, fallback)
    queue: str | None = None  # the queue of a Queue application
    voicemail: bool = False  # the application is voicemail
    peer_device: str = ""  # the device of the channel it was bridged with


@dataclass(frozen=True)
class FallbackVoicemail:
    """A message Asterisk's own VoiceMail took, imported into the ledger, not yet linked
    to its call."""

    voicemail_id: int
    caller_number: str | None
    started_at: datetime


# A fallback message's time is Asterisk's origtime (whole seconds, when the recording
# started): it is linked to a call that was in voicemail around then.
VOICEMAIL_SLACK = timedelta(seconds=2)


def by_call(events: Iterable[RecordEvent]) -> dict[str, list[RecordEvent]]:
    calls: dict[str, list[RecordEvent]] = {}
    for event in sorted(events, key=lambda e: (e.at, e.row)):
        if event.linkedid:
            calls.setdefault(event.linkedid, []).append(event)
    return calls


def finished(events: Sequence[RecordEvent]) -> datetime | None:
    """When the caller's channel of a call ended (None: not in the record)."""
    caller = [e for e in events if e.uniqueid == e.linkedid]
    ends = [e.at for e in caller if e.kind in (RecordKind.HANGUP, RecordKind.CHANNEL_END)]
    return min(ends) if ends else None


def recorded_call(events: Sequence[RecordEvent], seat_of: Callable[[str], str | None],
                  voicemails: Sequence[FallbackVoicemail] = ()) -> Call | None:
    """The finished call one Linkedid's events tell (in time order), as the ledger should
    keep it: started, queued, answered (the first seat the caller was bridged with, named
    by `seat_of` its device) and ended times, wait and talk, outcome; linked to the
    fallback voicemail of `voicemails` it left, if any. None if the caller is not in the
    record, did not run the line's dialplan or has not ended."""
    caller = [e for e in events if e.uniqueid == e.linkedid]
    if not caller or not any(e.on_line for e in caller):
        return None
    ended = finished(events)
    if ended is None:
        return None
    first = caller[0]
    number = next((caller_id(e.number) for e in reversed(caller) if caller_id(e.number)),
                  None)
    name = next((caller_id(e.name) for e in reversed(caller) if caller_id(e.name)), None)
    started = first.at
    history: list[tuple[CallState, datetime]] = [(CallState.IVR, started)]
    queue: str | None = None
    queued = answered = left = talk_end = in_voicemail = None
    seat: str | None = None
    for event in caller:
        if event.at > ended:
            break
        if event.kind == RecordKind.APP_START and event.queue and answered is None:
            if queue is None:
                queue, queued = event.queue, event.at
                history.append((CallState.QUEUED, event.at))
            left = None
        elif event.kind == RecordKind.APP_END and event.queue and queued is not None:
            left = left or event.at
        elif event.kind == RecordKind.APP_START and event.voicemail and in_voicemail is None:
            in_voicemail = event.at
            history.append((CallState.VOICEMAIL, event.at))
        elif (event.kind == RecordKind.BRIDGE_ENTER and event.queue and event.peer_device
              and answered is None):
            answered, seat = event.at, seat_of(event.peer_device)
            history.append((CallState.CONNECTED, event.at))
        elif event.kind == RecordKind.BRIDGE_EXIT and answered is not None and talk_end is None:
            talk_end = event.at
    # The queue let the caller go (nobody answered) when the dialplan went on after it;
    # a caller whose channel ended in the queue abandoned it.
    went_on = left is not None and any(
        e.kind == RecordKind.APP_START and e.at >= left for e in caller)
    abandoned = queued is not None and answered is None and not went_on
    voicemail = _voicemail_of(number, in_voicemail, ended, voicemails)
    wait_until = answered or (left if went_on else ended)
    call = Call(
        first.linkedid, first.channel, first.uniqueid, number, name, CallState.ENDED, started,
        (*history, (CallState.ENDED, ended)), queue=queue, queued_at=queued, seat=seat,
        answered_at=answered, ended_at=ended,
        wait_seconds=(wait_until - queued).total_seconds()
        if queued is not None and wait_until is not None else None,
        talk_seconds=((talk_end or ended) - answered).total_seconds()
        if answered is not None else None,
        abandoned=abandoned, left_queue=went_on,
        voicemail_id=voicemail.voicemail_id if voicemail is not None else None,
        end_reason=EndReason.HANGUP, recorded_by=RecordedBy.ASTERISK_RECORD)
    return replace(call, outcome=outcome_of(call))


def _voicemail_of(number: str | None, started: datetime | None, ended: datetime,
                  voicemails: Sequence[FallbackVoicemail]) -> FallbackVoicemail | None:
    if started is None:
        return None
    return next((v for v in voicemails if v.caller_number == number
                 and started - VOICEMAIL_SLACK <= v.started_at <= ended + VOICEMAIL_SLACK),
                None)


@dataclass(frozen=True)
class Reconciliation:
    """What to write after reading the record: the calls to add to the ledger (none of
    them known to it or to the tracker), and the record rows that may be pruned (their
    calls are finished and in the ledger)."""

    new_calls: tuple[Call, ...]
    prunable: tuple[int, ...]


def reconcile(events: Iterable[RecordEvent], known: Collection[str], alive: Collection[str],
              seat_of: Callable[[str], str | None],
              voicemails: Sequence[FallbackVoicemail] = ()) -> Reconciliation:
    """The record against the ledger: every finished call of the line whose Linkedid is not
    `known` (a ledger row, or a call the tracker has or ended) nor `alive` (Asterisk still
    has it: the resync adopts it) becomes a new row, once; a call hotline knows is never
    written from the record. A fallback voicemail is linked to one call only. Record rows
    of finished calls that are known (or added now) may be pruned."""
    new: list[Call] = []
    prunable: list[int] = []
    left = list(voicemails)
    for linkedid, one in by_call(events).items():
        if linkedid in alive:
            continue
        done = finished(one) is not None
        if linkedid in known:
            if done:
                prunable.extend(e.row for e in one)
            continue
        call = recorded_call(one, seat_of, left)
        if call is None:
            continue
        if call.voicemail_id is not None:
            left = [v for v in left if v.voicemail_id != call.voicemail_id]
        new.append(call)
        prunable.extend(e.row for e in one)
    return Reconciliation(tuple(new), tuple(sorted(prunable)))


def end_times(events: Iterable[RecordEvent], vanished: Collection[str],
              last_seen: datetime | None) -> dict[str, tuple[datetime, RecordedBy]]:
    """When each `vanished` call (hotline tracked it, and Asterisk no longer has it)
    ended: its caller's end in the record, else `last_seen` (the last moment hotline knew
    it alive: the last message of the link that was lost), if known. Calls with neither
    are left out (they end at the resync's time, as before)."""
    calls = by_call(e for e in events if e.linkedid in vanished)
    out: dict[str, tuple[datetime, RecordedBy]] = {}
    for linkedid in vanished:
        ended = finished(calls.get(linkedid, ()))
        if ended is not None:
            out[linkedid] = (ended, RecordedBy.ASTERISK_RECORD)
        elif last_seen is not None:
            out[linkedid] = (last_seen, RecordedBy.LAST_SEEN)
    return out


def written_rows(events: Iterable[RecordEvent], known: Collection[str]) -> list[int]:
    """The record rows of calls that are finished and whose row the ledger has (`known`):
    nothing is left to learn from them, and they hold the caller's number."""
    return [e.row for linkedid, one in by_call(events).items()
            if linkedid in known and finished(one) is not None for e in one]
