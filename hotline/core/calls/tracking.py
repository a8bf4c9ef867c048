"""Call tracking: one call per Linkedid across all its channels, with explicit states.

Pure: the PBX adapter turns what Asterisk reports into facts (`hotline.pbx.events`), and
`CallTracker.apply` moves a call through its states with the time it is given. No I/O, no
clock, no AMI.

A call starts when its channel enters hotline's IVR (AsyncAGIStart) or, for a call that
reached a queue without hotline (the dialplan fallback), when it joins the queue. It ends
when the caller's own channel hangs up; seat legs share the Linkedid and are ignored for
that purpose.

A seat may send the caller back to a queue (a transfer): the call is queued again, and may
be answered again, but its row keeps describing its first answer (queue, seat, answered
time, wait and talk of that seat), so the outcome stays `answered` and a second queue's
wait never counts as the caller's wait for an answer. `transfers` counts such returns.
An exact replay of a QueueCallerJoin (stamped before the call got to where it is now) is
not a transfer: it changes nothing. Nor is the join that comes after a resync found the
call answered and before that answer's AgentConnect or AgentComplete: it is the late
report of the queue entry the seat answered from.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta


class CallState(enum.Enum):
    IVR = "ivr"
    QUEUED = "queued"
    RINGING = "ringing"
    CONNECTED = "connected"
    VOICEMAIL = "voicemail"
    ENDED = "ended"


S = CallState
# Which state may follow which. ENDED is reachable from everywhere.
TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    S.IVR: frozenset({S.QUEUED, S.VOICEMAIL, S.ENDED}),
    S.QUEUED: frozenset({S.RINGING, S.CONNECTED, S.IVR, S.VOICEMAIL, S.ENDED}),
    S.RINGING: frozenset({S.QUEUED, S.CONNECTED, S.IVR, S.VOICEMAIL, S.ENDED}),
    S.CONNECTED: frozenset({S.QUEUED, S.IVR, S.ENDED}),  # QUEUED: sent back by the seat
    S.VOICEMAIL: frozenset({S.IVR, S.ENDED}),
    S.ENDED: frozenset(),
}


class Outcome(enum.Enum):
    ANSWERED = "answered"
    VOICEMAIL = "voicemail"  # the caller left a voicemail
    ABANDONED = "abandoned"  # the caller hung up while queued or ringing a seat
    REFERRED = "referred"  # transferred to another number (another region's line)
    SELF_SERVICE = "self_service"  # served by self-service answers in the menu
    AFTER_HOURS = "after_hours"  # called when the line was closed, no message left
    ENDED_IN_IVR = "ended_in_ivr"
    UNANSWERED = "unanswered"  # left the queue with nobody answering (timeout)
    INTERRUPTED = "interrupted"  # vanished while hotline was not watching


class EndReason(enum.Enum):
    HANGUP = "hangup"
    VANISHED = "vanished"  # not found in Asterisk after a reconnect or restart


class RecordedBy(enum.Enum):
    """Where a row (`Call.recorded_by`) or its end time (`Call.end_by`) came from, when not
    from hotline's own events."""

    ASTERISK_RECORD = "asterisk_record"  # Asterisk's record of calls (hotline.core.calls.record)
    LAST_SEEN = "last_seen"  # the last moment hotline knew the call alive
    # Asterisk restarted (or crashed and was started again) since: the call died with it,
    # when hotline lost contact with that Asterisk (the link closed, or last spoke).
    PBX_LOST = "pbx_lost"


# -- facts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IvrEntered:
    linkedid: str
    uniqueid: str
    channel: str
    number: str | None
    name: str | None


@dataclass(frozen=True)
class QueueJoined:
    linkedid: str
    uniqueid: str
    channel: str
    queue: str
    number: str | None
    name: str | None


@dataclass(frozen=True)
class SeatRinging:
    linkedid: str
    queue: str
    seat: str


@dataclass(frozen=True)
class SeatNoAnswer:
    linkedid: str
    queue: str
    seat: str


@dataclass(frozen=True)
class SeatConnected:
    linkedid: str
    queue: str
    seat: str
    hold_seconds: float | None


@dataclass(frozen=True)
class SeatCompleted:
    linkedid: str
    talk_seconds: float | None
    # Asterisk's AgentComplete counts whole seconds (TalkTime, a difference of time()):
    # the talk is then taken from the answer and this event's precise times.
    whole_seconds: bool = False


@dataclass(frozen=True)
class QueueAbandoned:
    linkedid: str
    queue: str


@dataclass(frozen=True)
class QueueLeft:
    linkedid: str
    queue: str


@dataclass(frozen=True)
class ChannelHungUp:
    linkedid: str
    uniqueid: str
    cause: str | None


@dataclass(frozen=True)
class DigitsPressed:
    """Reported by the IVR: keys the caller entered, in order."""

    linkedid: str
    digits: str


@dataclass(frozen=True)
class IvrProgress:
    """Reported by the IVR after each step: everything so far (it replaces, not adds)."""

    linkedid: str
    pressed: str
    path: tuple[str, ...]
    category: str | None
    topic: str | None
    dialplan: str | None = None
    self_service: bool = False  # walked a self-service menu (hours, FAQ)
    after_hours: bool = False  # the line was not open when the call came
    # What the menus' `collect` steps read (taxpayer_id), for the seat's screen pop.
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Referred:
    """The IVR transferred the call to another number, and that side answered."""

    linkedid: str
    number: str


@dataclass(frozen=True)
class VoicemailStarted:
    linkedid: str


@dataclass(frozen=True)
class VoicemailSaved:
    linkedid: str
    voicemail_id: int


Fact = (IvrEntered | QueueJoined | SeatRinging | SeatNoAnswer | SeatConnected | SeatCompleted
        | QueueAbandoned | QueueLeft | ChannelHungUp | DigitsPressed | IvrProgress
        | VoicemailStarted | VoicemailSaved | Referred)

# What stands in for a caller ID that is not there: Asterisk's <unknown>, and what a
# carrier sends for a caller who withholds it (RFC 3323's "Anonymous"
# <sip:anonymous@anonymous.invalid>, which PJSIP makes number `anonymous`, name
# `Anonymous`; some carriers say Restricted, Private or Unavailable). Compared in any case.
UNKNOWN_CALLER = frozenset({"", "<unknown>", "unknown", "anonymous", "restricted", "private",
                            "unavailable"})


def caller_id(value: str | None) -> str | None:
    """A caller's number or name as the ledger keeps it: None when there is none."""
    if value is None or value.strip().lower() in UNKNOWN_CALLER:
        return None
    return value


# -- the call -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """What the ledger needs of a call, as far as it has got. Immutable: each change is a
    new value, so a snapshot handed to the ledger writer never changes under it."""

    linkedid: str
    caller_channel: str
    caller_uniqueid: str
    caller_number: str | None
    caller_name: str | None
    state: CallState
    started_at: datetime
    history: tuple[tuple[CallState, datetime], ...] = ()
    digits: str = ""
    ivr_path: tuple[str, ...] = ()
    # What the caller typed into the menus' `collect` steps (taxpayer_id -> digits): the
    # seat's screen pop shows it. Not written to the ledger.
    inputs: tuple[tuple[str, str], ...] = ()
    category: str | None = None
    topic: str | None = None
    dialplan: str | None = None
    queue: str | None = None
    queued_at: datetime | None = None
    seat: str | None = None
    seat_group: str | None = None  # filled in by the adapter from the routing config
    region: str | None = None  # filled in by the adapter from the caller's number
    seats_no_answer: tuple[str, ...] = ()
    # The seats (MemberName) ringing for the call now: a seat's screen pop shows the call
    # while it rings there, before anyone answers. Not written to the ledger.
    ringing: tuple[str, ...] = ()
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    abandoned: bool = False
    left_queue: bool = False
    voicemail_id: int | None = None
    transfers: int = 0  # times a seat sent the answered caller back to a queue
    self_service: bool = False
    after_hours: bool = False
    referred_to: str | None = None
    outcome: Outcome | None = None
    end_reason: EndReason | None = None
    recorded_by: RecordedBy | None = None  # None: from hotline's own events
    end_by: RecordedBy | None = None  # what its end time is, when not a hang-up seen

    def moved(self, state: CallState, at: datetime) -> Call:
        if state == self.state:
            return self
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(self.linkedid, self.state, state)
        return replace(self, state=state, history=(*self.history, (state, at)))


class InvalidTransition(ValueError):
    def __init__(self, linkedid: str, old: CallState, new: CallState) -> None:
        super().__init__(f"call {linkedid}: {old.value} -> {new.value} is not a transition")
        self.old = old
        self.new = new


def vanished_outcome(answered: bool, voicemail_saved: bool) -> Outcome:
    """A call that vanished while hotline was not watching (found gone after a reconnect
    or a restart): answered if a seat answered it, voicemail if the caller's message was
    saved, else interrupted (what happened in between is not known). The tracker and the
    ledger's close_vanished both end a vanished call with this."""
    if answered:
        return Outcome.ANSWERED
    if voicemail_saved:
        return Outcome.VOICEMAIL
    return Outcome.INTERRUPTED


def outcome_of(call: Call) -> Outcome:
    if call.answered_at is not None:
        return Outcome.ANSWERED
    if call.voicemail_id is not None:
        return Outcome.VOICEMAIL
    if call.referred_to is not None:
        return Outcome.REFERRED
    if call.abandoned or (call.state in (S.QUEUED, S.RINGING) and not call.left_queue):
        return Outcome.ABANDONED
    if call.queue is not None:
        return Outcome.UNANSWERED
    if call.self_service:
        return Outcome.SELF_SERVICE
    if call.after_hours:
        return Outcome.AFTER_HOURS
    return Outcome.ENDED_IN_IVR


@dataclass
class CallTracker:
    """The calls in progress, keyed by Linkedid. `apply` returns the changed call (a new
    snapshot) or None when the fact changed nothing (unknown call, replayed event)."""

    calls: dict[str, Call] = field(default_factory=dict)
    # Linkedids of calls that ended recently: a late or replayed event must not revive one.
    ended: dict[str, datetime] = field(default_factory=dict)
    finished: dict[str, Call] = field(default_factory=dict)
    ended_memory: timedelta = timedelta(minutes=10)
    # `ended` by end time, oldest first (a heap: calls do not always end in time order,
    # a resync's and held events' times are earlier than the last end), so forgetting
    # costs only the calls forgotten, not a scan of the whole memory at every call end.
    _expiry: list[tuple[datetime, str]] = field(default_factory=list, init=False,
                                                repr=False, compare=False)
    # Hang-ups of channels no tracked call has, by Uniqueid: a caller who hangs up in the
    # first milliseconds may do so before the IVR's connection makes the call known (the
    # events and the connection come by different ways). Kept `early_memory`, at most
    # `early_kept` of them.
    early_hangups: dict[str, datetime] = field(default_factory=dict)
    early_memory: timedelta = timedelta(seconds=30)
    early_kept: int = 1000
    # Tracked calls a resync found answered, whose AgentConnect has not come since:
    # Asterisk reports a queue entry's QueueCallerJoin before its AgentConnect, on the
    # caller's own stream, so a join that comes now is the late report of the entry the
    # seat answered from, not a transfer. (The answer's time is the record's or the
    # channel list's, which the AMI's stamp of that join may follow by milliseconds.)
    _unconfirmed: set[str] = field(default_factory=set, init=False, repr=False,
                                   compare=False)

    def apply(self, fact: Fact, at: datetime) -> Call | None:
        linkedid = fact.linkedid
        if linkedid in self.ended:
            # A voicemail saved after its caller hung up (a hang-up ends the recording)
            # still belongs to the call: amend the final snapshot.
            final = self.finished.get(linkedid)
            if isinstance(fact, VoicemailSaved) and final is not None:
                amended = replace(final, voicemail_id=fact.voicemail_id)
                amended = replace(amended, outcome=outcome_of(amended)
                                  if final.end_reason == EndReason.HANGUP else
                                  vanished_outcome(final.answered_at is not None, True))
                self.finished[linkedid] = amended
                return amended
            return None
        call = self.calls.get(linkedid)
        if call is None:
            if isinstance(fact, ChannelHungUp):
                self._hung_up_early(fact.uniqueid, at)
                return None
            call = self._start(fact, at)
            if call is None:
                return None
            self.calls[linkedid] = call
            hung_up = (self.early_hangups.pop(call.caller_uniqueid, None)
                       if isinstance(fact, IvrEntered) else None)
            if hung_up is not None:
                # Its caller had hung up already: the call ends at that moment.
                final = self._end(call, hung_up, EndReason.HANGUP)
                del self.calls[linkedid]
                self._remember_end(final, hung_up)
                return final
            if isinstance(fact, IvrEntered):
                return call
        new = self._next(call, fact, at)
        if new is call or new == call:
            return None
        if new.state == S.ENDED:
            del self.calls[linkedid]
            self._remember_end(new, at)
        else:
            self.calls[linkedid] = new
        return new

    def adopt(self, call: Call) -> Call | None:
        """Track a call this run did not see start: found in Asterisk by a resync (left
        by an earlier run, or reached while hotline was away). None if it is already
        tracked or ended recently."""
        if call.linkedid in self.calls or call.linkedid in self.ended:
            return None
        self.calls[call.linkedid] = call
        return call

    def amend(self, call: Call) -> Call:
        """An ended call's final snapshot, completed after its end (from Asterisk's record):
        kept as its final one."""
        if call.linkedid in self.finished:
            self.finished[call.linkedid] = call
        return call

    def _hung_up_early(self, uniqueid: str, at: datetime) -> None:
        if not uniqueid:
            return
        horizon = at - self.early_memory
        early = self.early_hangups
        for old in [u for u, t in early.items() if t < horizon]:
            del early[old]
        while len(early) >= self.early_kept:
            del early[next(iter(early))]
        early[uniqueid] = at

    def resynced(self, call: Call) -> Call | None:
        """A tracked call as a resync found it in Asterisk (after events about it were
        missed: a seat answered it, it reached a queue); None if it is not tracked or
        nothing changed."""
        old = self.calls.get(call.linkedid)
        if old is None or old == call:
            return None
        self.calls[call.linkedid] = call
        if call.state == S.CONNECTED and old.state != S.CONNECTED:
            self._unconfirmed.add(call.linkedid)
        return call

    def _start(self, fact: Fact, at: datetime) -> Call | None:
        if isinstance(fact, IvrEntered):
            return Call(fact.linkedid, fact.channel, fact.uniqueid, fact.number, fact.name,
                        S.IVR, at, ((S.IVR, at),))
        if isinstance(fact, QueueJoined):
            # Reached a queue without hotline's IVR (the dialplan's fallback).
            return Call(fact.linkedid, fact.channel, fact.uniqueid, fact.number, fact.name,
                        S.IVR, at, ((S.IVR, at),))
        return None

    def _next(self, call: Call, fact: Fact, at: datetime) -> Call:
        if isinstance(fact, IvrEntered):
            return call  # a second AGI on the same call: nothing new
        if isinstance(fact, DigitsPressed):
            return replace(call, digits=call.digits + fact.digits)
        if isinstance(fact, VoicemailStarted):
            if call.state == S.VOICEMAIL:
                return call
            return call.moved(S.VOICEMAIL, at)
        if isinstance(fact, VoicemailSaved):
            return replace(call, voicemail_id=fact.voicemail_id)
        if isinstance(fact, IvrProgress):
            # The menus' category and topic as they are now: going back undoes them.
            now = (fact.pressed, fact.path, fact.category, fact.topic,
                   fact.dialplan or call.dialplan, fact.self_service or call.self_service,
                   fact.after_hours or call.after_hours, fact.variables or call.inputs)
            if now == (call.digits, call.ivr_path, call.category, call.topic, call.dialplan,
                       call.self_service, call.after_hours, call.inputs):
                return call  # nothing new (a step that changed none of them)
            return replace(call, digits=now[0], ivr_path=now[1], category=now[2],
                           topic=now[3], dialplan=now[4], self_service=now[5],
                           after_hours=now[6], inputs=now[7])
        if isinstance(fact, Referred):
            return replace(call, referred_to=fact.number)
        if isinstance(fact, QueueJoined):
            if (call.state in (S.RINGING, S.CONNECTED) and call.history
                    and at < call.history[-1][1]):
                return call  # a replay: this join came before the call got where it is
            if call.state == S.CONNECTED and call.linkedid in self._unconfirmed:
                return call  # the late join of the entry a resync found answered
            if call.answered_at is not None:
                return self._transferred(call, at)
            moved = call.moved(S.QUEUED, at)
            # Moving on from a queue that did not answer (a region queue first, then its
            # queue): the caller has been waiting since the first one.
            since = (call.queued_at if call.left_queue and call.queued_at is not None
                     and call.answered_at is None and not call.abandoned else at)
            return replace(moved, queue=fact.queue, queued_at=since, left_queue=False)
        if isinstance(fact, SeatRinging):
            if call.state not in (S.QUEUED, S.RINGING):
                return call
            ringing = call.ringing if fact.seat in call.ringing else (*call.ringing,
                                                                          fact.seat)
            return replace(call.moved(S.RINGING, at), ringing=ringing)
        if isinstance(fact, SeatNoAnswer):
            if call.state != S.RINGING:
                return call
            return replace(call.moved(S.QUEUED, at),
                           ringing=tuple(s for s in call.ringing if s != fact.seat),
                           seats_no_answer=(*call.seats_no_answer, fact.seat))
        if isinstance(fact, SeatConnected):
            self._unconfirmed.discard(call.linkedid)
            if call.state not in (S.QUEUED, S.RINGING):
                return call
            if call.answered_at is not None:
                # Answered again after a transfer: the first answer stays in the row.
                return replace(call.moved(S.CONNECTED, at), ringing=())
            wait = fact.hold_seconds
            if call.queued_at is not None:
                # Asterisk's hold time counts this queue only; the caller may have
                # waited in another one first.
                waited = (at - call.queued_at).total_seconds()
                wait = waited if wait is None else max(wait, waited)
            return replace(call.moved(S.CONNECTED, at), seat=fact.seat, answered_at=at,
                           ringing=(),
                           wait_seconds=wait, queue=fact.queue or call.queue)
        if isinstance(fact, SeatCompleted):
            self._unconfirmed.discard(call.linkedid)  # the talk is over: a join now is new
            if call.transfers:
                return call  # the talk of the first seat was taken at the transfer
            talk = fact.talk_seconds
            if call.answered_at is not None:
                timed = (at - call.answered_at).total_seconds()
                # A whole-second count and the precise times agree within a second,
                # unless the answer time is not the seat's (a call adopted after a
                # restart, answered_at the adoption's): Asterisk's count stands then.
                if talk is None or (fact.whole_seconds and abs(timed - talk) < 1.5):
                    talk = timed
            return replace(call, talk_seconds=talk)
        if isinstance(fact, QueueAbandoned):
            if call.state not in (S.QUEUED, S.RINGING) or call.answered_at is not None:
                return call
            wait = (at - call.queued_at).total_seconds() if call.queued_at else None
            return replace(call, abandoned=True, wait_seconds=wait)
        if isinstance(fact, QueueLeft):
            # Asterisk reports the leave just before AgentConnect when a seat answers, so
            # leaving says nothing yet about where the call goes: keep the state, note it.
            if (call.state not in (S.QUEUED, S.RINGING) or call.abandoned
                    or call.answered_at is not None):
                return call
            wait = (at - call.queued_at).total_seconds() if call.queued_at else None
            return replace(call, left_queue=True, wait_seconds=wait)
        if isinstance(fact, ChannelHungUp):
            if fact.uniqueid != call.caller_uniqueid:
                return call
            return self._end(call, at, EndReason.HANGUP)
        return call

    @staticmethod
    def _transferred(call: Call, at: datetime) -> Call:
        """An answered call joins a queue: a seat sent the caller back (a transfer). The
        row keeps the first answer: queue, queued and answered times, seat and wait stay;
        the first seat's talk ends now unless Asterisk already said how long it was."""
        if call.state in (S.QUEUED, S.RINGING) or S.QUEUED not in TRANSITIONS[call.state]:
            return call  # already back in a queue (say, a region queue, then its queue)
        talk = call.talk_seconds
        if talk is None and call.answered_at is not None and call.state == S.CONNECTED:
            talk = (at - call.answered_at).total_seconds()
        return replace(call.moved(S.QUEUED, at), transfers=call.transfers + 1,
                       talk_seconds=talk)

    def _end(self, call: Call, at: datetime, reason: EndReason,
             end_by: RecordedBy | None = None) -> Call:
        if at < call.started_at:
            # Ended (Asterisk's time) before hotline's IVR connection came (hotline's time,
            # the only start it has): it started no later than it ended.
            call = replace(call, started_at=at, history=tuple(
                (state, min(when, at)) for state, when in call.history))
        if call.state == S.CONNECTED and call.talk_seconds is None and call.answered_at:
            call = replace(call, talk_seconds=(at - call.answered_at).total_seconds())
        if (call.state in (S.QUEUED, S.RINGING) and call.wait_seconds is None
                and call.queued_at and call.answered_at is None):
            call = replace(call, wait_seconds=(at - call.queued_at).total_seconds())
        # A vanished call whose end Asterisk's record tells ended as a hang-up does (its
        # facts are then completed from the record: hotline.core.calls.record.with_record);
        # without the record, what happened in between is not known.
        told = reason == EndReason.HANGUP or end_by == RecordedBy.ASTERISK_RECORD
        outcome = outcome_of(call) if told else vanished_outcome(
            call.answered_at is not None, call.voicemail_id is not None)
        return replace(call.moved(S.ENDED, at), ended_at=at, outcome=outcome, end_reason=reason,
                       end_by=end_by)

    def vanished(self, alive_linkedids: set[str], at: datetime,
                 ends: Mapping[str, tuple[datetime, RecordedBy]] | None = None) -> list[Call]:
        """After a resync: end every tracked call whose Linkedid Asterisk no longer has, at
        its time in `ends` (when it really ended, or was last known alive), else at `at`."""
        gone = [call for lid, call in self.calls.items() if lid not in alive_linkedids]
        ended = []
        for call in gone:
            end, end_by = (ends or {}).get(call.linkedid, (at, None))
            end = max(end, call.history[-1][1]) if call.history else end
            final = self._end(call, end, EndReason.VANISHED, end_by)
            del self.calls[call.linkedid]
            self._remember_end(final, at)
            ended.append(final)
        return ended

    def _remember_end(self, call: Call, at: datetime) -> None:
        self._unconfirmed.discard(call.linkedid)
        self.ended[call.linkedid] = at
        self.finished[call.linkedid] = call
        expiry = self._expiry
        heapq.heappush(expiry, (at, call.linkedid))
        horizon = at - self.ended_memory
        while expiry and expiry[0][0] < horizon:
            when, old = heapq.heappop(expiry)
            if self.ended.get(old) == when:  # not remembered again since
                del self.ended[old]
                self.finished.pop(old, None)
