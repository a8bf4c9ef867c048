"""Adopting the calls of an earlier run: what a new run of hotline makes of a call the
exchange has and it does not track (hotline restarted, or the call reached a queue while
no hotline ran).

Pure: it works on what the exchange lists (hotline.core.calls.live, filled in by pbx/) and
on the call as the earlier run's ledger row said it was (hotline.ledger.store turns the
row into a Call), at the time it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from hotline.core.calls.live import ChannelInfo, QueueStatus
from hotline.core.calls.tracking import Call, CallState


def caller_channel(linkedid: str, channels: Sequence[ChannelInfo]) -> ChannelInfo | None:
    """The caller's channel among a call's channels: the one in hotline's IVR or in a
    queue, else the call's first channel (its Uniqueid is the Linkedid), else one in the
    line's dialplan."""
    return (next((c for c in channels if c.in_ivr), None)
            or next((c for c in channels if c.in_queue), None)
            or next((c for c in channels if c.uniqueid == linkedid), None)
            or next((c for c in channels if c.on_line), None))


def _with_state(call: Call, state: CallState, at: datetime) -> Call:
    if call.state == state:
        return call
    return replace(call, state=state, history=(*call.history, (state, at)))


def adopted_call(linkedid: str, channels: Sequence[ChannelInfo], earlier: Call | None,
                 queues: Iterable[QueueStatus], now: datetime) -> Call | None:
    """The call the exchange has (its `channels`, and what its `queues` hold), as this run
    should track it: from the call the earlier run recorded (`earlier`, its ledger row) if
    there is one, in the state the exchange says it is in now. Without it (the call
    reached a queue while hotline was away) from the exchange alone: started and queued
    times from the channel's age and the caller's wait. None if it is not a call of the
    line hotline can follow."""
    caller = caller_channel(linkedid, channels)
    if caller is None:
        return None
    if earlier is not None:
        call = replace(earlier, caller_channel=caller.channel,
                       caller_uniqueid=caller.uniqueid)
    elif caller.in_ivr or caller.in_queue:
        started = now - caller.age
        call = Call(linkedid, caller.channel, caller.uniqueid, caller.caller_number,
                    caller.caller_name, CallState.IVR, started, ((CallState.IVR, started),))
    else:
        return None
    if caller.in_ivr:
        return _with_state(call, CallState.IVR, now)
    if not caller.in_queue:
        return call  # elsewhere (a voicemail, a transfer out): as the row says
    statuses = list(queues)
    entry = next((c for q in statuses for c in q.callers if c.uniqueid == caller.uniqueid),
                 None)
    queue = (entry.queue if entry is not None else None) or caller.queue
    if entry is not None:  # waiting in a queue
        joined = now - timedelta(seconds=entry.wait)
        if call.state in (CallState.QUEUED, CallState.RINGING):
            return call  # as the earlier run saw it: its queue and wait count
        if call.answered_at is not None:  # sent back to a queue by the seat
            return replace(_with_state(call, CallState.QUEUED, joined),
                           transfers=call.transfers + 1)
        return replace(_with_state(call, CallState.QUEUED, joined), queue=queue,
                       queued_at=joined)
    if not caller.bridge_id:
        return call  # between the queue and a seat: the next event says where
    if call.state == CallState.CONNECTED:
        return call
    if call.answered_at is not None:  # answered again after a transfer
        return _with_state(call, CallState.CONNECTED, now)
    # A seat answered while no hotline ran: the seat is the queue member whose device the
    # channel sharing the caller's bridge was made for; it answered after that channel
    # was made (rung).
    peer = next((c for c in channels if c is not caller
                 and c.bridge_id == caller.bridge_id), None)
    answered = now - peer.age if peer is not None else now
    seat = None
    if peer is not None and peer.device:
        seat = next((m.name for q in statuses for m in q.members if m.device == peer.device),
                    None)
    queued = call.queued_at
    return replace(_with_state(call, CallState.CONNECTED, answered), queue=call.queue or queue,
                   seat=seat, answered_at=answered,
                   wait_seconds=(answered - queued).total_seconds()
                   if queued is not None else None)

