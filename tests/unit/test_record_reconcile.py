"""The pure reconcile of Asterisk's record of calls (hotline.core.calls.record)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hotline.core.calls.record import (
    FallbackVoicemail,
    RecordEvent,
    RecordKind,
    end_times,
    reconcile,
    recorded_view,
    voicemail_calls,
    with_record,
    written_rows,
)
from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome, RecordedBy

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
K = RecordKind


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _call(lid: str, *steps: tuple[float, RecordKind, dict[str, object]]) -> list[RecordEvent]:
    rows = [RecordEvent(0, K.CHANNEL_START, _at(0), lid, lid, f"Local/s@caller-{lid};1",
                        None, None)]
    for seconds, kind, extra in steps:
        rows.append(RecordEvent(0, kind, _at(seconds), lid, str(extra.pop("uniqueid", lid)),
                                f"Local/s@caller-{lid};1", "13955100001", "纳税人",
                                **extra))  # type: ignore[arg-type]
    return [replace(e, row=i + 100 * len(lid)) for i, e in enumerate(rows)]


Q = {"on_line": True, "queue": "center"}


def answered(lid: str = "a") -> list[RecordEvent]:
    return _call(lid, (1, K.APP_START, dict(Q)),
                 (4, K.BRIDGE_ENTER, {**Q, "peer_device": "Local/8001@seats"}),
                 (4.1, K.BRIDGE_ENTER, {"uniqueid": "seat-leg"}),
                 (6, K.BRIDGE_EXIT, dict(Q)), (6, K.APP_END, dict(Q)),
                 (6, K.HANGUP, {"on_line": True}), (6, K.CHANNEL_END, {}),
                 (6.2, K.CALL_END, {"uniqueid": "x"}))


def abandoned(lid: str = "b") -> list[RecordEvent]:
    return _call(lid, (1, K.APP_START, dict(Q)), (3, K.APP_END, dict(Q)),
                 (3, K.HANGUP, {"on_line": True}))


def voicemail(lid: str = "v") -> list[RecordEvent]:
    return _call(lid, (1, K.APP_START, dict(Q)), (4, K.APP_END, dict(Q)),
                 (4, K.APP_START, {"on_line": True, "voicemail": True}),
                 (9, K.HANGUP, {"on_line": True}))


def seat_legs(lid: str, ring: float, bridged: float | None, ended: float,
              device: str = "Local/8001@seats") -> list[RecordEvent]:
    """The two halves of the Local channel a queue rang a seat on, under the caller's
    Linkedid (as Asterisk records them): the seat's side answers at `ring`; the queue's
    side (`AppQueue`) enters the queue's bridge at `bridged` (None: never)."""
    name = f"{device}-0000002e"
    leg, seat_side = f"{lid}-leg", f"{lid}-seat"

    def event(at: float, kind: RecordKind, uniqueid: str, **extra: object) -> RecordEvent:
        side = ";1" if uniqueid == leg else ";2"
        return RecordEvent(0, kind, _at(at), lid, uniqueid, name + side, "13955100001",
                           None, device=device, **extra)  # type: ignore[arg-type]

    events = [event(ring, K.CHANNEL_START, leg, queue_leg=True),
              event(ring, K.CHANNEL_START, seat_side),
              event(ring, K.ANSWER, seat_side), event(ring, K.ANSWER, leg, queue_leg=True)]
    if bridged is not None:
        events += [event(bridged, K.BRIDGE_ENTER, leg, queue_leg=True),
                   event(ended, K.BRIDGE_EXIT, leg, queue_leg=True)]
    events += [event(ended, K.HANGUP, leg, queue_leg=True), event(ended, K.HANGUP, seat_side)]
    return [replace(e, row=900 + i) for i, e in enumerate(events)]


def seat(device: str) -> str | None:
    return {"Local/8001@seats": "演示座席8001"}.get(device)


def test_an_answered_fallback_call_gets_its_queue_seat_and_times() -> None:
    """A call a seat answered in the fallback queue: queue, seat, queued/answered/ended
    times, wait and talk from the record, marked as from it."""
    [call] = reconcile(answered(), set(), set(), seat).new_calls
    assert (call.outcome, call.queue, call.seat) == (Outcome.ANSWERED, "center", "演示座席8001")
    assert (call.queued_at, call.answered_at, call.ended_at) == (_at(1), _at(4), _at(6))
    assert (call.wait_seconds, call.talk_seconds) == (3.0, 2.0)
    assert call.recorded_by == RecordedBy.ASTERISK_RECORD
    assert call.caller_number == "13955100001"


def test_a_caller_who_hangs_up_in_the_queue_abandoned() -> None:
    """Hanging up in the queue (nothing after it) is abandoned, its wait counted to the end."""
    [call] = reconcile(abandoned(), set(), set(), seat).new_calls
    assert (call.outcome, call.seat, call.wait_seconds) == (Outcome.ABANDONED, None, 2.0)


def test_a_fallback_voicemail_links_to_its_call() -> None:
    """The queue let go, voicemail followed: the imported message of that caller and time is
    the call's voicemail (outcome voicemail); without one the call is unanswered."""
    message = FallbackVoicemail(7, "13955100001", _at(5))
    [call] = reconcile(voicemail(), set(), set(), seat, [message]).new_calls
    assert (call.outcome, call.voicemail_id, call.wait_seconds) == (Outcome.VOICEMAIL, 7, 3.0)
    [alone] = reconcile(voicemail(), set(), set(), seat).new_calls
    assert (alone.outcome, alone.voicemail_id) == (Outcome.UNANSWERED, None)
    other = FallbackVoicemail(8, "13900000000", _at(5))
    [wrong] = reconcile(voicemail(), set(), set(), seat, [other]).new_calls
    assert wrong.voicemail_id is None


def test_known_alive_unfinished_and_foreign_calls_are_not_written() -> None:
    """A call the ledger or tracker knows, one Asterisk still has, one not ended and one that
    never ran the line's dialplan get no row; only the known finished one is prunable."""
    unfinished = _call("u", (1, K.APP_START, dict(Q)))
    foreign = _call("f", (1, K.HANGUP, {}))
    found = reconcile([*answered("a"), *abandoned("b"), *unfinished, *foreign],
                      known={"a"}, alive={"b"}, seat_of=seat)
    assert found.new_calls == ()
    assert set(found.prunable) == {e.row for e in answered("a")}


def test_reconciling_twice_adds_nothing_the_second_time() -> None:
    """Once written (so known), the record's call is never written again."""
    events = [*answered(), *abandoned()]
    first = reconcile(events, set(), set(), seat)
    assert len(first.new_calls) == 2
    again = reconcile(events, {c.linkedid for c in first.new_calls}, set(), seat)
    assert again.new_calls == ()


def test_a_vanished_call_ends_when_the_record_says_else_when_last_seen() -> None:
    """A vanished call's end: the record's hang-up if there is one, else the last moment
    the link spoke; with neither, no time is given."""
    ends = end_times([*answered("a"), *_call("u", (1, K.APP_START, dict(Q)))],
                     {"a", "u"}, _at(3))
    assert ends == {"a": (_at(6), RecordedBy.ASTERISK_RECORD),
                    "u": (_at(3), RecordedBy.LAST_SEEN)}
    assert end_times([], {"u"}, None) == {}


def test_a_vanished_connected_call_ends_at_its_given_time_not_the_resync() -> None:
    """After an Asterisk crash a connected call ends (and its talk stops) at the last moment
    it was known alive, marked so, not at the reconnect."""
    from hotline.core.calls.tracking import (
        CallTracker,
        EndReason,
        IvrEntered,
        QueueJoined,
        SeatConnected,
    )

    tracker = CallTracker()
    tracker.apply(IvrEntered("c", "c", "chan", "1", None), _at(0))
    tracker.apply(QueueJoined("c", "c", "chan", "center", "1", None), _at(1))
    tracker.apply(SeatConnected("c", "center", "演示座席8001", 1.0), _at(2))
    [call] = tracker.vanished(set(), _at(60), {"c": (_at(14.6), RecordedBy.LAST_SEEN)})
    assert (call.ended_at, call.talk_seconds, call.end_reason, call.end_by) == (
        _at(14.6), 12.6, EndReason.VANISHED, RecordedBy.LAST_SEEN)


def test_only_finished_calls_the_ledger_has_are_pruned_between_resyncs() -> None:
    """Between resyncs the record loses the rows of finished calls the ledger has (they
    hold callers' numbers), and keeps a call still going and one the ledger lacks."""
    done, going, unknown = answered("a"), _call("g", (1, K.APP_START, dict(Q))), abandoned("b")
    rows = written_rows([*done, *going, *unknown], known={"a", "g"})
    assert sorted(rows) == sorted(e.row for e in done)


def _hotline_row(lid: str) -> Call:
    """A call as a killed run left it: in the menu, keys and menus known."""
    return Call(lid, f"Local/s@caller-{lid};1", lid, "13955100001", "纳税人", CallState.IVR,
                _at(0.2), ((CallState.IVR, _at(0.2)),), digits="1", ivr_path=("main", "vat"),
                dialplan="12366", category="consultation")


def test_a_row_hotline_wrote_is_completed_from_the_record() -> None:
    """A row hotline wrote in the menu, whose call went on and ended without it: the
    record's queue, seat, times, talk and outcome are added, marked as from the record;
    what hotline knew (start, keys, menus, category) stays."""
    view = recorded_view(answered("a"), seat)
    assert view is not None
    call = with_record(_hotline_row("a"), view)
    assert (call.outcome, call.queue, call.seat, call.state) == (
        Outcome.ANSWERED, "center", "演示座席8001", CallState.ENDED)
    assert (call.queued_at, call.answered_at, call.ended_at) == (_at(1), _at(4), _at(6))
    assert (call.wait_seconds, call.talk_seconds) == (3.0, 2.0)
    assert (call.recorded_by, call.end_by, call.end_reason) == (
        RecordedBy.ASTERISK_RECORD, RecordedBy.ASTERISK_RECORD, EndReason.HANGUP)
    assert (call.started_at, call.digits, call.ivr_path, call.category) == (
        _at(0.2), "1", ("main", "vat"), "consultation")
    gone = with_record(_hotline_row("b"), recorded_view(abandoned("b"), seat))  # type: ignore[arg-type]
    assert (gone.outcome, gone.queue, gone.wait_seconds) == (Outcome.ABANDONED, "center", 2.0)


def test_a_call_still_going_takes_what_the_record_saw_so_far() -> None:
    """A call still going (adopted at a resync) gets the record's queue and answer with
    their times, in the state they put it in, and no end."""
    going = _call("g", (1, K.APP_START, dict(Q)),
                  (4, K.BRIDGE_ENTER, {**Q, "peer_device": "Local/8001@seats"}))
    view = recorded_view(going, seat)
    assert view is not None
    call = with_record(_hotline_row("g"), view)
    assert (call.state, call.answered_at, call.seat, call.ended_at, call.outcome) == (
        CallState.CONNECTED, _at(4), "演示座席8001", None, None)


def test_a_known_call_whose_row_is_open_keeps_its_record() -> None:
    """The record of a known call is pruned only once its row is final: an open row (a
    killed run's) is completed from it at the next resync."""
    found = reconcile(answered("a"), known={"a"}, alive=set(), seat_of=seat, done=set())
    assert found.prunable == ()


def test_a_fallback_message_finds_its_call_in_the_record_or_the_ledger() -> None:
    """A message imported later is linked to the known call of the record that was in
    voicemail then, else to a call of that caller going at its time, no seat's."""
    message = FallbackVoicemail(7, "13955100001", _at(5))
    assert voicemail_calls(voicemail("v"), [message], [], known={"v"}) == {7: "v"}
    assert voicemail_calls(voicemail("v"), [message], [], known=set()) == {}
    row = replace(_hotline_row("r"), ended_at=_at(9))
    assert voicemail_calls([], [message], [row], known=set()) == {7: "r"}
    late = replace(row, ended_at=_at(2.5))
    assert voicemail_calls([], [message], [late], known=set()) == {}


def test_a_hangup_before_the_ivr_connection_ends_the_call_at_once() -> None:
    """The caller hung up before hotline's IVR connection made the call known: the call
    ends as it starts, at the hang-up's time."""
    from hotline.core.calls.tracking import CallTracker, ChannelHungUp, IvrEntered

    tracker = CallTracker()
    assert tracker.apply(ChannelHungUp("e", "e", "16"), _at(1)) is None
    call = tracker.apply(IvrEntered("e", "e", "chan", "1", None), _at(1.01))
    assert call is not None
    assert (call.state, call.ended_at, call.started_at, call.end_reason) == (
        CallState.ENDED, _at(1), _at(1), EndReason.HANGUP)
    assert tracker.calls == {}


def test_a_known_call_an_asterisk_crash_left_unfinished_adds_nothing_and_is_pruned() -> None:
    """After an Asterisk crash the record holds the call with no hang-up (it never will have
    one): at the resync it is known (the ledger closes it), not alive, so it gets no second
    row and its record rows (the caller's number) go; one still alive keeps its rows, and
    between resyncs (Asterisk's calls unknown) nothing unfinished goes."""
    crashed = _call("c", (1, K.APP_START, dict(Q)),
                    (4, K.BRIDGE_ENTER, {**Q, "peer_device": "Local/8001@seats"}))
    going = _call("g", (1, K.APP_START, dict(Q)))
    found = reconcile([*crashed, *going], known={"c", "g"}, alive={"g"}, seat_of=seat,
                      lost_unended=True)
    assert found.new_calls == ()
    assert sorted(found.prunable) == sorted(e.row for e in crashed)
    between = reconcile([*crashed, *going], known={"c", "g"}, alive=(), seat_of=seat)
    assert between.prunable == ()


def test_a_call_lost_with_asterisk_is_marked_so() -> None:
    """A vanished call with no end in the record, when Asterisk restarted meanwhile, ends
    when contact was lost and is marked pbx_lost; a call the record ended keeps that."""
    ends = end_times([*answered("a"), *_call("u", (1, K.APP_START, dict(Q)))],
                     {"a", "u"}, _at(3), RecordedBy.PBX_LOST)
    assert ends == {"a": (_at(6), RecordedBy.ASTERISK_RECORD),
                    "u": (_at(3), RecordedBy.PBX_LOST)}


def answered_at_the_hang_up(lid: str = "h", peer: str = "") -> list[RecordEvent]:
    """A seat answered 3 ms after the caller joined the queue, and the caller hung up 10 ms
    later (seen in the flood test): the seat's leg entered the queue's bridge, then the
    caller, whose enter Asterisk wrote with no peer (`peer`: as it usually does)."""
    caller = _call(lid, (1, K.APP_START, dict(Q)),
                   (1.0045, K.BRIDGE_ENTER, {**Q, "peer_device": peer}),
                   (1.015, K.BRIDGE_EXIT, dict(Q)), (1.016, K.APP_END, dict(Q)),
                   (1.016, K.HANGUP, {"on_line": True}), (1.016, K.CHANNEL_END, {}))
    return [*caller, *seat_legs(lid, 1.003, 1.0035, 1.0155)]


def test_a_seat_whose_leg_entered_the_queues_bridge_answered_though_the_caller_has_no_peer(
        ) -> None:
    """The caller's bridge enter names no seat, but the queue's leg to seat 8001 entered
    that bridge: the record says answered by 8001 at that moment, its talk to the caller's
    exit (no row says abandoned for a call a seat took)."""
    call = recorded_view(answered_at_the_hang_up(), seat)
    assert call is not None
    assert (call.outcome, call.queue, call.seat, call.abandoned) == (
        Outcome.ANSWERED, "center", "演示座席8001", False)
    assert call.answered_at == _at(1.0035)
    assert call.talk_seconds is not None
    assert abs(call.talk_seconds - 0.0115) < 1e-6
    with_peer = recorded_view(answered_at_the_hang_up(peer="Local/8001@seats"), seat)
    assert with_peer is not None
    assert (with_peer.seat, with_peer.answered_at) == ("演示座席8001", _at(1.0035))


def test_a_gap_call_the_tracker_ended_without_the_answer_is_settled_answered() -> None:
    """The tracker lost the AgentConnect in an event gap and ended the call as vanished
    (interrupted, queued): settled from the record it is answered by 8001, and the row
    tells something new (it is rewritten)."""
    view = recorded_view(answered_at_the_hang_up(), seat)
    assert view is not None
    tracked = Call("h", "Local/s@caller-h;1", "h", "13955100001", None, CallState.ENDED,
                   _at(0), ((CallState.IVR, _at(0)), (CallState.QUEUED, _at(1)),
                            (CallState.ENDED, _at(1.05))),
                   queue="center", queued_at=_at(1), ended_at=_at(1.05),
                   end_reason=EndReason.VANISHED, outcome=Outcome.INTERRUPTED)
    settled = with_record(tracked, view)
    assert (settled.outcome, settled.seat, settled.end_reason) == (
        Outcome.ANSWERED, "演示座席8001", EndReason.HANGUP)
    assert settled.talk_seconds is not None
    assert settled.talk_seconds < 0.05


def test_a_seat_that_picked_up_after_the_caller_hung_up_did_not_answer() -> None:
    """The seat's phone answered, but the caller had hung up before the queue connected
    them (no leg of the queue entered a bridge; Asterisk's queue logs ABANDON, sends no
    AgentConnect): abandoned, no seat. A bridge the seat's own side entered (its phone's)
    is no connection to the caller either."""
    caller = _call("p", (1, K.APP_START, dict(Q)), (3.02, K.APP_END, dict(Q)),
                   (3.02, K.HANGUP, {"on_line": True}))
    own = replace(seat_legs("p", 3, None, 3.02)[1], kind=K.BRIDGE_ENTER, row=990,
                  at=_at(3.001))
    call = recorded_view([*caller, *seat_legs("p", 3, None, 3.02), own], seat)
    assert call is not None
    assert (call.outcome, call.seat, call.answered_at, call.abandoned) == (
        Outcome.ABANDONED, None, None, True)

