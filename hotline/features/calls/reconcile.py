"""Reconciling Asterisk's own record of calls with the ledger, at every (re)connect and
between them.

Asterisk records every call it handles (hotline.pbx.record), also those it handled alone
while hotline was down (the dialplan's fallback: the centre's queue, then voicemail).
At each resync, before the calls that vanished are closed, `ends` reads the record: a
vanished call the record saw end is completed from it (`completed`, `complete_rows`:
the queue it reached, the seat that answered, its true end and outcome, marked
`recorded_by`/`end_by = asterisk_record`; what hotline knew stays), else it ends when
it was last known alive. A call the resync adopts takes what the record saw meanwhile
(`so_far`). Then (`run`, also every few seconds between resyncs and soon after a call
of the line hung up before hotline knew it) each finished call of the record that the
ledger and the tracker do not know gets its row, once (written only where no row
exists), and fallback voicemails imported meanwhile are linked to their calls. The
record's rows of calls whose ledger row is final are then deleted: they hold callers'
numbers. A call whose life overlapped an event gap (its events may have been dropped, and
the tracker ended it from what it saw) is `pending`: at each such look after its end, once
the record shows that end, its row is settled from the record (`Checked`), and its
record is kept until then.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import structlog

from hotline.core.calls.record import (
    FallbackVoicemail,
    RecordEvent,
    adds_to,
    by_call,
    end_times,
    reconcile,
    recorded_view,
    settled,
    voicemail_calls,
    with_record,
    written_rows,
)
from hotline.core.calls.tracking import Call, CallState, CallTracker, RecordedBy
from hotline.core.configuration import ConfigAccessor
from hotline.ledger import record as ledger_record
from hotline.ledger.region import region_of
from hotline.ledger.store import Ledger, call_from_row
from hotline.pbx.queues import member_device
from hotline.pbx.record import CallRecord, RecordUnreadable

log = structlog.get_logger("hotline.calls")

Ends = dict[str, tuple[datetime, RecordedBy]]


@dataclass
class Checked:
    """What a look at the record found for the tracker: fallback messages of tracked calls
    (`links`: their rows are the call writer's), and of the `pending` calls asked about
    (ended calls whose life overlapped an event gap), those the record saw end
    (`settled`) and, of them, the ones whose row it corrects (`amended`: completed from
    the record, for the tracker and the writer)."""

    links: list[tuple[str, int]] = field(default_factory=list)
    settled: set[str] = field(default_factory=set)
    amended: list[Call] = field(default_factory=list)


class Reconciler:
    def __init__(self, record: CallRecord | None, ledger: Ledger, config: ConfigAccessor,
                 lost_contact: Callable[[], float | None],
                 pbx_restarted: Callable[[], bool] = lambda: False) -> None:
        self.record = record
        self.ledger = ledger
        self.config = config
        self.lost_contact = lost_contact  # wall time the last link was lost
        self.pbx_restarted = pbx_restarted  # Asterisk is not the one of that link
        self._events: list[RecordEvent] = []
        self._views: dict[str, Call] = {}  # vanished calls the record saw end
        self._unreadable_warned = False
        self._prune_warned = False

    async def ends(self, alive: Collection[str], tracker: CallTracker) -> Ends:
        """When each call that vanished (tracked, or open in the ledger, and not `alive`)
        ended: the record's end, else when the link was lost, marked pbx_lost if the
        Asterisk is another since (the record as read now is kept for `completed`,
        `complete_rows`, `so_far` and `run`)."""
        self._events = await self._read()
        vanished = {lid for lid in tracker.calls if lid not in alive}
        vanished |= {lid for lid in await self.ledger.open_calls() if lid not in alive}
        calls = by_call(e for e in self._events if e.linkedid in vanished)
        voicemails = await ledger_record.unlinked_voicemails(self.ledger) if calls else []
        self._views = {}
        for linkedid, events in calls.items():
            view = recorded_view(events, self._seat_of, voicemails)
            if view is not None and view.state == CallState.ENDED:
                self._views[linkedid] = view
                if view.voicemail_id is not None:
                    voicemails = [v for v in voicemails if v.voicemail_id != view.voicemail_id]
        lost = self.lost_contact()
        last_seen = datetime.fromtimestamp(lost, tz=UTC) if lost is not None else None
        lost_by = RecordedBy.PBX_LOST if self.pbx_restarted() else RecordedBy.LAST_SEEN
        return end_times(self._events, vanished, last_seen, lost_by)

    def completed(self, call: Call) -> Call:
        """A tracked call that vanished, completed from the record if it saw the call end
        (else as it is)."""
        view = self._views.get(call.linkedid)
        return self._completed(with_record(call, view)) if view is not None else call

    async def complete_rows(self, linkedids: Collection[str], now: datetime) -> list[str]:
        """Rows an earlier run left open whose calls the record saw end: completed from it
        and written (one transaction). Returns the others, for closing as vanished."""
        done: list[Call] = []
        rest: list[str] = []
        for linkedid in linkedids:
            view = self._views.get(linkedid)
            row = await self.ledger.get(linkedid) if view is not None else None
            if view is None or row is None or row.ended_at is not None:
                rest.append(linkedid)
                continue
            done.append(self._completed(with_record(call_from_row(row), view)))
        if done:
            await self.ledger.upsert_calls(done, now)
            for call in done:
                self._log_completed(call)
        await self.link_completed(done)
        return rest

    async def link_completed(self, calls: Collection[Call]) -> None:
        """The fallback messages calls completed from the record left: theirs now (the
        calls' rows have them already)."""
        for call in calls:
            if call.voicemail_id is not None:
                await ledger_record.link_voicemail(self.ledger, call.voicemail_id,
                                                   call.linkedid, row_too=False)

    def _log_completed(self, call: Call) -> None:
        log.warning("calls.completed_from_asterisk_record", linkedid=call.linkedid,
                    outcome=call.outcome and call.outcome.value, queue=call.queue,
                    seat=call.seat, talk=call.talk_seconds, voicemail_id=call.voicemail_id)

    def so_far(self, linkedid: str, earlier: Call | None) -> Call | None:
        """A call the resync is about to adopt (Asterisk has it), with what the record saw
        of it while hotline was away (a queue, a seat's answer, with their times): from
        the earlier run's row (`earlier`) completed, or from the record alone."""
        events = [e for e in self._events if e.linkedid == linkedid]
        view = recorded_view(events, self._seat_of) if events else None
        if view is None or view.state == CallState.ENDED:
            return earlier
        if earlier is None:
            return self._completed(view)
        return self._completed(with_record(earlier, view))

    async def run(self, alive: Collection[str], tracker: CallTracker, now: datetime,
                  pending: Collection[str] = ()) -> Checked:
        """At the end of a resync (on the record `ends` read): settle the `pending` calls
        that ended (see `Checked`); write the record's finished calls the ledger lacks;
        link the fallback messages imported meanwhile to their calls; prune (not the
        record of a pending call not yet settled: it is still needed)."""
        events = self._events or await self._read()
        self._events, self._views = [], {}
        return await self._run(events, alive, tracker, now, pending, at_resync=True)

    async def check(self, tracker: CallTracker, now: datetime,
                    pending: Collection[str] = ()) -> Checked:
        """`run` between resyncs, on the record as it is now (only finished calls are
        written: Asterisk has none of them)."""
        return await self._run(await self._read(), (), tracker, now, pending)

    def _settle(self, events: list[RecordEvent], pending: Collection[str],
                tracker: CallTracker) -> Checked:
        """The pending calls the tracker has ended, from the record once it shows their
        end: its account, not the tracker's partial one (a seat's answer or a queue whose
        event was dropped), where the two differ."""
        checked = Checked()
        ended = {lid: tracker.finished[lid] for lid in pending if lid in tracker.finished}
        # Died with the Asterisk that crashed: its record never shows an end, and the
        # tracker's account (ended when the link was lost) is the one there is.
        lost = {lid for lid, call in ended.items() if call.end_by == RecordedBy.PBX_LOST}
        checked.settled |= lost
        ended = {lid: call for lid, call in ended.items() if lid not in lost}
        calls = by_call(e for e in events if e.linkedid in ended) if ended else {}
        for linkedid, one in calls.items():
            call = settled(ended[linkedid], one, self._seat_of)
            if call is None:
                continue  # its end is not in the record yet
            checked.settled.add(linkedid)
            call = self._completed(call)
            if adds_to(self._completed(ended[linkedid]), call):
                checked.amended.append(call)
                was = ended[linkedid].outcome
                log.warning("calls.amended_from_asterisk_record", linkedid=linkedid,
                            was=was and was.value, outcome=call.outcome and call.outcome.value,
                            queue=call.queue, seat=call.seat, talk=call.talk_seconds)
        return checked

    async def _run(self, events: list[RecordEvent], alive: Collection[str],
                   tracker: CallTracker, now: datetime, pending: Collection[str] = (),
                   at_resync: bool = False) -> Checked:
        checked = self._settle(events, pending, tracker)
        voicemails = await ledger_record.unlinked_voicemails(self.ledger)
        if not events and not voicemails:
            return checked
        linkedids = {e.linkedid for e in events}
        rows = await ledger_record.known(self.ledger, linkedids)
        known = rows | {lid for lid in linkedids
                        if lid in tracker.calls or lid in tracker.ended}
        done = await ledger_record.ended(self.ledger, rows)
        done = {lid for lid in done if lid not in tracker.calls} | {
            lid for lid in linkedids if lid in tracker.ended}
        done -= {lid for lid in pending if lid not in checked.settled}
        found = reconcile(events, known, alive, self._seat_of, voicemails, done=done,
                          lost_unended=at_resync)
        calls = [self._completed(c) for c in found.new_calls]
        written = await ledger_record.add_recorded(self.ledger, calls, now) if calls else []
        for call in calls:
            if call.linkedid in written:
                log.warning("calls.reconciled_from_asterisk_record", linkedid=call.linkedid,
                            outcome=call.outcome and call.outcome.value, queue=call.queue,
                            seat=call.seat, voicemail_id=call.voicemail_id)
        linked = {c.voicemail_id for c in calls if c.linkedid in written}
        tracked = await self._link_voicemails(
            events, [v for v in voicemails if v.voicemail_id not in linked], tracker,
            known | set(written))
        await self._prune(found.prunable)
        checked.links = tracked
        return checked

    async def _link_voicemails(self, events: list[RecordEvent],
                               voicemails: list[FallbackVoicemail],
                               tracker: CallTracker, known: set[str]) -> list[tuple[str, int]]:
        """Fallback messages not yet linked: each to its call (the record's, else a call of
        that caller going at the message's time), if found."""
        if not voicemails:
            return []
        live = [*tracker.calls.values(), *tracker.finished.values()]
        rows = await ledger_record.voicemail_candidates(
            self.ledger, {v.caller_number for v in voicemails if v.caller_number})
        mine = {c.linkedid for c in live}
        calls = [*live, *(c for c in rows if c.linkedid not in mine)]
        links = voicemail_calls(events, voicemails, calls, known | mine)
        tracked: list[tuple[str, int]] = []
        for voicemail_id, linkedid in links.items():
            in_tracker = linkedid in tracker.calls or linkedid in tracker.ended
            if await ledger_record.link_voicemail(self.ledger, voicemail_id, linkedid,
                                                  row_too=not in_tracker):
                log.warning("voicemail.linked_to_call", voicemail_id=voicemail_id,
                            linkedid=linkedid)
                if in_tracker:
                    tracked.append((linkedid, voicemail_id))
        return tracked

    async def prune_written(self) -> int:
        """Delete the record's rows of finished calls whose ledger row is final: between
        two resyncs (a reconnect may be weeks away) the record would otherwise keep every
        caller's number, reporters' too. A call whose row is still open keeps its record
        (the next resync completes the row from it). Returns how many rows went."""
        events = await self._read()
        if not events:
            return 0
        # Only calls whose row is final: a call that ended while the AMI link was cut
        # has an open row until the next resync, which needs the record to close it.
        done = await ledger_record.ended(self.ledger, {e.linkedid for e in events})
        rows = written_rows(events, done)
        await self._prune(rows)
        return len(rows)

    def _seat_of(self, device: str) -> str | None:
        routing = self.config().routing
        if routing is None:
            return None
        return next((seat.name for seat in routing.seats.values()
                     if member_device(seat.device) == device), None)

    def _completed(self, call: Call) -> Call:
        """What the call writer adds to every row: the base queue, seat group, region."""
        config = self.config()
        if config.routing is not None and call.queue is not None:
            call = replace(call, queue=config.routing.base_queue(call.queue))
        if call.seat is not None:
            call = replace(call, seat_group=config.seat_groups.get(call.seat))
        if call.caller_number:
            call = replace(call, region=region_of(call.caller_number))
        return call

    async def _read(self) -> list[RecordEvent]:
        if self.record is None:
            return []
        try:
            return await self.record.events()
        except RecordUnreadable as exc:
            if not self._unreadable_warned:
                self._unreadable_warned = True
                log.error("calls.asterisk_record_unreadable", error=str(exc),
                          consequence="calls Asterisk handled alone get no ledger row")
            return []

    async def _prune(self, rows: Collection[int]) -> None:
        if self.record is None or not rows:
            return
        try:
            await self.record.prune(list(rows))
        except RecordUnreadable as exc:
            if not self._prune_warned:
                self._prune_warned = True
                log.warning("calls.asterisk_record_not_pruned", error=str(exc),
                            consequence="the record keeps callers' numbers")
