"""Asterisk's own record of calls, and what the ledger makes of it: the calls Asterisk
handled that hotline never saw (they started and ended while it was down: the dialplan's
fallback), and when the calls that vanished while it was away really ended.

Pure: the PBX adapter (hotline.pbx.record) reads Asterisk's channel event log (CEL) into
`RecordEvent`s, having already decided what Asterisk's words mean (which application was a
queue and which queue, which device a bridged peer was made for). The decision here works
on those events, on what the ledger and the tracker know, at the times it is given.

A call of the record is its Linkedid. Its caller is the channel whose Uniqueid is the
Linkedid (the call's first channel); of the other channels of the call, only the one a
queue made to ring a seat counts, when it enters the queue's bridge (`recorded_view`). A
call is one of the line's when its caller ran the line's dialplan (`on_line`), and
finished when its caller's channel ended.
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
    device: str = ""  # the device this channel was made for
    queue_leg: bool = False  # a queue made this channel to ring one of its members


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
    call = recorded_view(events, seat_of, voicemails)
    return call if call is not None and call.state == CallState.ENDED else None


def recorded_view(events: Sequence[RecordEvent], seat_of: Callable[[str], str | None],
                  voicemails: Sequence[FallbackVoicemail] = ()) -> Call | None:
    """The call one Linkedid's events tell so far, ended or not (see `recorded_call`): a
    call still going is in the state its last event put it in (queued, with a seat, in
    voicemail). None if the caller is not in the record or did not run the line's
    dialplan.

    A seat answered when the queue connected it to the caller: when the channel the
    queue rang it on (`queue_leg`) entered the queue's bridge, or the caller entered one
    with a seat's channel as its peer, whichever the record shows first, while the
    caller was in the queue. The seat's leg is the surer sign: Asterisk sometimes writes
    the caller's enter with no peer although the seat's leg entered that bridge first (8
    of 28 answered calls in one run of the flood test). A seat that picked up after the
    caller had hung up gets no bridge: Asterisk's queue counts that call abandoned
    (queue_log ABANDON, QueueCallerAbandon, no AgentConnect), and so does the record."""
    events = sorted(events, key=lambda e: (e.at, e.row))
    caller = [e for e in events if e.uniqueid == e.linkedid]
    if not caller or not any(e.on_line for e in caller):
        return None
    ended = finished(events)
    first = caller[0]
    number = next((caller_id(e.number) for e in reversed(caller) if caller_id(e.number)),
                  None)
    name = next((caller_id(e.name) for e in reversed(caller) if caller_id(e.name)), None)
    started = first.at
    history: list[tuple[CallState, datetime]] = [(CallState.IVR, started)]
    queue: str | None = None
    queued = answered = left = talk_end = in_voicemail = None
    seat: str | None = None
    for event in events:
        if ended is not None and event.at > ended:
            break
        if event.uniqueid != event.linkedid:
            if (event.kind == RecordKind.BRIDGE_ENTER and event.queue_leg
                    and queued is not None and left is None and answered is None
                    and (member := seat_of(event.device)) is not None):
                answered, seat = event.at, member
                history.append((CallState.CONNECTED, event.at))
            continue
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
    abandoned = (ended is not None and queued is not None and answered is None
                 and not went_on)
    voicemail = (_voicemail_of(number, in_voicemail, ended, voicemails)
                 if ended is not None else None)
    wait_until = answered or (left if went_on else ended)
    talk_until = talk_end or ended
    if ended is not None:
        history.append((CallState.ENDED, ended))
    call = Call(
        first.linkedid, first.channel, first.uniqueid, number, name, history[-1][0], started,
        tuple(history), queue=queue, queued_at=queued, seat=seat,
        answered_at=answered, ended_at=ended,
        wait_seconds=(wait_until - queued).total_seconds()
        if queued is not None and wait_until is not None else None,
        talk_seconds=(talk_until - answered).total_seconds()
        if answered is not None and talk_until is not None else None,
        abandoned=abandoned, left_queue=went_on,
        voicemail_id=voicemail.voicemail_id if voicemail is not None else None,
        end_reason=EndReason.HANGUP if ended is not None else None,
        recorded_by=RecordedBy.ASTERISK_RECORD)
    return replace(call, outcome=outcome_of(call)) if ended is not None else call


def with_record(call: Call, view: Call) -> Call:
    """`call` as hotline knew it (its row, or its tracked snapshot), completed with what
    Asterisk's record tells of it (`view`, from `recorded_view`) that hotline missed while
    it was down or cut off: the queue it reached, the seat that answered, when it ended.
    What hotline knew stays (its start, caller, keys, menus, category; its queue, seat
    and times where it saw them: they are Asterisk's event times too). A call the
    record says ended is ended at the record's time, by hang-up, its outcome from all
    of it, marked as recorded (and ended) from the record."""
    if view.linkedid != call.linkedid:
        return call
    knew_answer = call.answered_at is not None
    answered_at = call.answered_at or view.answered_at
    seat = call.seat if knew_answer else (view.seat or call.seat)
    queue = call.queue or view.queue
    queued_at = call.queued_at or view.queued_at
    ended = view.ended_at if view.state == CallState.ENDED else None
    # The states the record saw after the last one hotline saw, and not seen by it (a
    # vanished snapshot's own end is not one of them).
    history = [h for h in call.history if h[0] != CallState.ENDED] or [
        (CallState.IVR, call.started_at)]
    seen = {state for state, _ in history}
    history += [h for h in view.history if h[1] > history[-1][1] and h[0] not in seen
                and h[0] != CallState.ENDED]
    learnt = (answered_at != call.answered_at or queue != call.queue
              or ended is not None
              or (view.voicemail_id is not None and call.voicemail_id is None))
    talk: float | None
    if knew_answer and call.talk_seconds is not None and call.end_reason != \
            EndReason.VANISHED:
        talk = call.talk_seconds  # the seat's own AgentComplete
    elif answered_at is not None and view.answered_at is not None:
        talk = view.talk_seconds
    elif answered_at is not None and ended is not None:
        talk = (ended - answered_at).total_seconds()
    else:
        talk = call.talk_seconds
    wait: float | None
    if knew_answer or call.abandoned:
        wait = call.wait_seconds
    elif view.wait_seconds is not None:
        wait = view.wait_seconds
    else:
        wait = call.wait_seconds
    merged = replace(
        call, caller_number=call.caller_number or view.caller_number,
        caller_name=call.caller_name or view.caller_name, queue=queue, queued_at=queued_at,
        seat=seat, answered_at=answered_at, wait_seconds=wait, talk_seconds=talk,
        abandoned=(call.abandoned or view.abandoned) and answered_at is None,
        left_queue=call.left_queue or view.left_queue,
        voicemail_id=call.voicemail_id or view.voicemail_id,
        history=tuple(history), state=history[-1][0],
        recorded_by=RecordedBy.ASTERISK_RECORD if learnt else call.recorded_by)
    if ended is None:
        return merged
    merged = replace(merged, state=CallState.ENDED, ended_at=ended,
                     history=(*merged.history, (CallState.ENDED, ended)),
                     end_reason=EndReason.HANGUP, end_by=RecordedBy.ASTERISK_RECORD)
    return replace(merged, outcome=outcome_of(merged))


def settled(call: Call, events: Sequence[RecordEvent],
            seat_of: Callable[[str], str | None]) -> Call | None:
    """An ended call whose events hotline may have missed (its life overlapped an event
    gap or a cut link: the tracker ended it from what it saw, which may lack a seat's
    answer or a queue), as Asterisk's record (`events`, its Linkedid's) tells it:
    `call` completed from the record (`with_record`) once the record shows the caller's
    end; None until then (Asterisk writes its record beside its events, a little after
    them: ask again later) or if the record does not have the call."""
    view = recorded_view(events, seat_of) if events else None
    if view is None or view.state != CallState.ENDED:
        return None
    return with_record(call, view)


def adds_to(call: Call, amended: Call) -> bool:
    """Whether `amended` (an ended call completed from the record) tells what its row
    `call` does not: another outcome, queue, seat or answer, a voicemail, a talk it
    lacked, a hang-up where the row has the call vanished. (Times the record and the
    events both give differ by milliseconds, and how a caller left a queue a seat then
    answered is no outcome: no reason to rewrite a row.)"""
    return ((call.outcome, call.queue, call.seat, call.answered_at is None,
             call.voicemail_id, call.end_reason, call.talk_seconds is None)
            != (amended.outcome, amended.queue, amended.seat, amended.answered_at is None,
                amended.voicemail_id, amended.end_reason, amended.talk_seconds is None))


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
              voicemails: Sequence[FallbackVoicemail] = (),
              done: Collection[str] | None = None,
              lost_unended: bool = False) -> Reconciliation:
    """The record against the ledger: every finished call of the line whose Linkedid is not
    `known` (a ledger row, or a call the tracker has or ended) nor `alive` (Asterisk still
    has it: the resync adopts it) becomes a new row, once; a call hotline knows is never
    written from the record. A fallback voicemail is linked to one call only. Record rows
    of finished calls that are `done` (their row is final; default: every known call) or
    added now may be pruned: a known call whose row is still open keeps its record, which
    the next resync completes it from. With `lost_unended` (at a resync, where `alive` is
    what Asterisk has), a known call whose row is final is pruned though its record has no
    end: Asterisk is no longer in it, so it was lost with an Asterisk that crashed (that
    record never ends). Between resyncs (`alive` unknown) only finished calls go."""
    new: list[Call] = []
    prunable: list[int] = []
    left = list(voicemails)
    final = known if done is None else done
    for linkedid, one in by_call(events).items():
        if linkedid in alive:
            continue
        ended = finished(one) is not None
        if linkedid in known:
            if (ended or lost_unended) and linkedid in final:
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


def voicemail_calls(events: Iterable[RecordEvent], voicemails: Sequence[FallbackVoicemail],
                    calls: Iterable[Call], known: Collection[str]) -> dict[int, str]:
    """Each fallback message's call (voicemail id -> Linkedid), where one is found: the
    record's call (one of `known`: it has a row, or is tracked) of that caller that was
    in Asterisk's voicemail at the message's time,
    else the one of `calls` (tracked, or rows of the ledger) of that caller going at that
    time that no seat answered and that has no voicemail yet (the latest to start). A
    call takes one message."""
    in_voicemail: list[tuple[str, str | None, datetime, datetime | None]] = []
    for linkedid, one in by_call(events).items():
        caller = [e for e in one if e.uniqueid == linkedid]
        start = next((e.at for e in caller if e.kind == RecordKind.APP_START
                      and e.voicemail), None)
        if start is None or linkedid not in known:
            continue
        number = next((caller_id(e.number) for e in reversed(caller) if caller_id(e.number)),
                      None)
        in_voicemail.append((linkedid, number, start, finished(one)))
    candidates = sorted((c for c in calls if c.answered_at is None and c.voicemail_id is None),
                        key=lambda c: c.started_at, reverse=True)
    links: dict[int, str] = {}
    taken: set[str] = set()
    for message in voicemails:
        at = message.started_at
        found = next((lid for lid, number, start, end in in_voicemail
                      if lid not in taken and number == message.caller_number
                      and start - VOICEMAIL_SLACK <= at
                      and (end is None or at <= end + VOICEMAIL_SLACK)), None)
        if found is None:
            found = next((c.linkedid for c in candidates if c.linkedid not in taken
                          and c.caller_number == message.caller_number
                          and c.started_at - VOICEMAIL_SLACK <= at
                          and (c.ended_at is None or at <= c.ended_at + VOICEMAIL_SLACK)),
                         None)
        if found is not None:
            links[message.voicemail_id] = found
            taken.add(found)
    return links


def end_times(events: Iterable[RecordEvent], vanished: Collection[str],
              last_seen: datetime | None, lost_by: RecordedBy = RecordedBy.LAST_SEEN,
              ) -> dict[str, tuple[datetime, RecordedBy]]:
    """When each `vanished` call (hotline tracked it, and Asterisk no longer has it)
    ended: its caller's end in the record, else `last_seen` (the last moment hotline knew
    it alive: when the link that was lost closed, or last spoke), marked `lost_by`
    (PBX_LOST: that Asterisk is gone), if known. Calls with neither are left out (they
    end at the resync's time, as before)."""
    calls = by_call(e for e in events if e.linkedid in vanished)
    out: dict[str, tuple[datetime, RecordedBy]] = {}
    for linkedid in vanished:
        ended = finished(calls.get(linkedid, ()))
        if ended is not None:
            out[linkedid] = (ended, RecordedBy.ASTERISK_RECORD)
        elif last_seen is not None:
            out[linkedid] = (last_seen, lost_by)
    return out


def written_rows(events: Iterable[RecordEvent], known: Collection[str]) -> list[int]:
    """The record rows of calls that are finished and whose row the ledger has (`known`):
    nothing is left to learn from them, and they hold the caller's number."""
    return [e.row for linkedid, one in by_call(events).items()
            if linkedid in known and finished(one) is not None for e in one]
