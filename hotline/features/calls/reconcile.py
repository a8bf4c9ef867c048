"""Reconciling Asterisk's own record of calls with the ledger, at every (re)connect.

Asterisk records every call it handles (hotline.pbx.record), also those it handled alone
while hotline was down (the dialplan's fallback: the centre's queue, then voicemail).
After the resync, each finished call of the record that the ledger and the tracker do not
know gets its row, once (written only where no row exists: a call hotline tracked is
never overwritten), marked `recorded_by = asterisk_record`; a fallback voicemail imported
meanwhile is linked to its call. The record's rows of calls the ledger has are then
deleted: they hold callers' numbers. Before the resync closes the calls that vanished,
`ends` says when each really ended (the record), or was last known alive.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import UTC, datetime

import structlog

from hotline.core.calls.record import (
    RecordEvent,
    by_call,
    end_times,
    reconcile,
    recorded_call,
    written_rows,
)
from hotline.core.calls.tracking import Call, CallTracker, RecordedBy
from hotline.core.configuration import ConfigAccessor
from hotline.ledger import record as ledger_record
from hotline.ledger.region import region_of
from hotline.ledger.store import Ledger
from hotline.pbx.queues import member_device
from hotline.pbx.record import CallRecord, RecordUnreadable

log = structlog.get_logger("hotline.calls")

Ends = dict[str, tuple[datetime, RecordedBy]]


class Reconciler:
    def __init__(self, record: CallRecord | None, ledger: Ledger, config: ConfigAccessor,
                 lost_contact: Callable[[], float | None]) -> None:
        self.record = record
        self.ledger = ledger
        self.config = config
        self.lost_contact = lost_contact  # wall time the last lost link last spoke
        self._events: list[RecordEvent] = []
        self._unreadable_warned = False
        self._prune_warned = False

    async def ends(self, alive: Collection[str], tracker: CallTracker) -> Ends:
        """When each call that vanished (tracked, or open in the ledger, and not `alive`)
        ended: the record's end, else the last moment the lost link spoke (the record as
        read now is kept for `run`)."""
        self._events = await self._read()
        vanished = {lid for lid in tracker.calls if lid not in alive}
        vanished |= {lid for lid in await self.ledger.open_calls() if lid not in alive}
        lost = self.lost_contact()
        last_seen = datetime.fromtimestamp(lost, tz=UTC) if lost is not None else None
        return end_times(self._events, vanished, last_seen)

    async def run(self, alive: Collection[str], tracker: CallTracker, now: datetime) -> int:
        """Write the record's calls the ledger lacks; returns how many were written."""
        events = self._events or await self._read()
        self._events = []
        if not events:
            return 0
        linkedids = {e.linkedid for e in events}
        known = await ledger_record.known(self.ledger, linkedids)
        known |= {lid for lid in linkedids if lid in tracker.calls or lid in tracker.ended}
        found = reconcile(events, known, alive, self._seat_of,
                          await ledger_record.unlinked_voicemails(self.ledger))
        calls = [self._completed(c) for c in found.new_calls]
        written = await ledger_record.add_recorded(self.ledger, calls, now) if calls else []
        for call in calls:
            if call.linkedid in written:
                log.warning("calls.reconciled_from_asterisk_record", linkedid=call.linkedid,
                            outcome=call.outcome and call.outcome.value, queue=call.queue,
                            seat=call.seat, voicemail_id=call.voicemail_id)
        await self._prune(found.prunable)
        return len(written)

    async def prune_written(self) -> int:
        """Delete the record's rows of finished calls the ledger has: between two resyncs
        (a reconnect may be weeks away) the record would otherwise keep every caller's
        number, reporters' too. Returns how many rows went."""
        events = await self._read()
        if not events:
            return 0
        # Only calls whose row is final: a call that ended while the AMI link was cut
        # has an open row until the next resync, which needs the record to close it.
        done = await ledger_record.ended(self.ledger, {e.linkedid for e in events})
        rows = written_rows(events, done)
        await self._prune(rows)
        return len(rows)

    def recorded(self, linkedids: Collection[str]) -> dict[str, Call]:
        """What the record read by `ends` says of each of `linkedids` that it saw end
        (queue, seat, answer, talk, abandoned), for the calls that vanished while hotline
        was cut off: it missed those events, Asterisk did not."""
        calls = by_call(e for e in self._events if e.linkedid in linkedids)
        out = {}
        for linkedid, events in calls.items():
            call = recorded_call(events, self._seat_of)
            if call is not None:
                out[linkedid] = self._completed(call)
        return out

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
