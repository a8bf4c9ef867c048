"""Call tracking: explicit states keyed by Linkedid, pure, with a controlled clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hotline.core.calls.tracking import (
    CallState,
    CallTracker,
    ChannelHungUp,
    DigitsPressed,
    EndReason,
    Fact,
    InvalidTransition,
    IvrEntered,
    IvrProgress,
    Outcome,
    QueueAbandoned,
    QueueJoined,
    QueueLeft,
    Referred,
    SeatCompleted,
    SeatConnected,
    SeatNoAnswer,
    SeatRinging,
    caller_id,
)
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.events import agi_env, event_time, fact_from_event

T0 = datetime(2026, 11, 27, 1, 0, 0, tzinfo=UTC)
LID = "1795769531.0"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def entered(tracker: CallTracker) -> None:
    tracker.apply(IvrEntered(LID, LID, "Local/s@caller-1;1", "13955112345", "纳税人"), at(0))


def test_answered_call_walks_every_state_with_its_times() -> None:
    """An answered call walks IVR, queued, ringing, connected, ended, with its digits,
    queue, seat and outcome."""
    tr = CallTracker()
    entered(tr)
    tr.apply(DigitsPressed(LID, "1"), at(3))
    tr.apply(QueueJoined(LID, LID, "Local/s@caller-1;1", "center", None, None), at(4))
    tr.apply(SeatRinging(LID, "center", "s1"), at(4.1))
    tr.apply(QueueLeft(LID, "center"), at(6))  # Asterisk sends it before AgentConnect
    tr.apply(SeatConnected(LID, "center", "s1", 2.0), at(6))
    tr.apply(SeatCompleted(LID, 30.0), at(36))
    call = tr.apply(ChannelHungUp(LID, LID, "16"), at(36.2))
    assert call is not None
    assert [s for s, _ in call.history] == [CallState.IVR, CallState.QUEUED, CallState.RINGING,
                                            CallState.CONNECTED, CallState.ENDED]
    assert (call.outcome, call.end_reason) == (Outcome.ANSWERED, EndReason.HANGUP)
    assert (call.digits, call.queue, call.seat) == ("1", "center", "s1")
    assert (call.wait_seconds, call.talk_seconds) == (2.0, 30.0)
    assert (call.started_at, call.answered_at, call.ended_at) == (at(0), at(6), at(36.2))
    assert LID not in tr.calls


def test_the_call_knows_which_seats_ring_for_it() -> None:
    """The seats ringing for a call (the screen pop's): each AgentCalled adds its seat,
    a no-answer takes it away, the answer clears them (the answering seat is `seat`)."""
    tr = CallTracker()
    entered(tr)
    tr.apply(QueueJoined(LID, LID, "Local/s@caller-1;1", "center", None, None), at(4))
    tr.apply(SeatRinging(LID, "center", "s1"), at(5))
    call = tr.apply(SeatRinging(LID, "center", "s2"), at(5))
    assert call is not None
    assert call.ringing == ("s1", "s2")
    call = tr.apply(SeatNoAnswer(LID, "center", "s1"), at(20))
    assert call is not None
    assert call.ringing == ("s2",)
    tr.apply(SeatRinging(LID, "center", "s2"), at(20))
    call = tr.apply(SeatConnected(LID, "center", "s2", 16.0), at(21))
    assert call is not None
    assert (call.ringing, call.seat, call.state) == ((), "s2", CallState.CONNECTED)


def test_abandoned_in_queue() -> None:
    """A caller who hangs up in the queue is abandoned, with the wait and the seats that did
    not answer."""
    tr = CallTracker()
    entered(tr)
    tr.apply(QueueJoined(LID, LID, "c", "center", None, None), at(4))
    tr.apply(SeatRinging(LID, "center", "s1"), at(5))
    tr.apply(SeatNoAnswer(LID, "center", "s1"), at(20))
    tr.apply(QueueAbandoned(LID, "center"), at(25))
    call = tr.apply(ChannelHungUp(LID, LID, "16"), at(25.1))
    assert call is not None
    assert call.outcome == Outcome.ABANDONED
    assert call.wait_seconds == 21.0
    assert call.seats_no_answer == ("s1",)
    assert call.seat is None


def test_left_queue_unanswered_is_not_abandoned() -> None:
    """A caller the queue let go at its timeout is unanswered, not abandoned."""
    tr = CallTracker()
    entered(tr)
    tr.apply(QueueJoined(LID, LID, "c", "center", None, None), at(4))
    tr.apply(QueueLeft(LID, "center"), at(124))  # the queue's timeout
    call = tr.apply(ChannelHungUp(LID, LID, "16"), at(130))
    assert call is not None
    assert call.outcome == Outcome.UNANSWERED
    assert call.wait_seconds == 120.0


def test_ended_in_ivr_and_seat_legs_do_not_end_the_call() -> None:
    """A seat leg's hangup does not end the call; the caller's hangup in the IVR ends it in
    the IVR."""
    tr = CallTracker()
    entered(tr)
    assert tr.apply(ChannelHungUp(LID, "1795769532.2", "16"), at(1)) is None  # a seat leg
    call = tr.apply(ChannelHungUp(LID, LID, "16"), at(2))
    assert call is not None
    assert call.outcome == Outcome.ENDED_IN_IVR


def test_talk_is_timed_from_the_answer_and_agent_complete_not_whole_seconds() -> None:
    """Asterisk's AgentComplete says TalkTime in whole seconds; the talk is the precise
    time from AgentConnect to AgentComplete (2.62 s, not 2). When the answer time is
    not the seat's (an adopted call's is the adoption's), TalkTime stands."""

    def ami(name: str, stamp: float, **headers: str) -> tuple[Fact, datetime]:
        lines = [f"Event: {name}", f"Timestamp: {T0.timestamp() + stamp:.6f}",
                 f"Linkedid: {LID}", f"Uniqueid: {LID}", "Queue: center",
                 "MemberName: s1", *(f"{k}: {v}" for k, v in headers.items())]
        message = AmiMessage("\r\n".join(lines))
        fact, when = fact_from_event(message), event_time(message)
        assert fact is not None
        assert when is not None
        return fact, when

    def talk(connected: float, completed: float, talk_time: str) -> float | None:
        tr = CallTracker()
        entered(tr)
        tr.apply(QueueJoined(LID, LID, "Local/s@caller-1;1", "center", None, None), at(4))
        tr.apply(*ami("AgentConnect", connected, HoldTime="2"))
        tr.apply(*ami("AgentComplete", completed, TalkTime=talk_time))
        call = tr.apply(ChannelHungUp(LID, LID, "16"), at(completed + 0.04))
        assert call is not None
        return call.talk_seconds

    assert talk(6.25, 8.87, "2") == pytest.approx(2.62, abs=1e-4)
    assert talk(6.95, 8.05, "2") == pytest.approx(1.10, abs=1e-4)
    assert talk(60.0, 70.0, "64") == 64.0  # answered_at is not the seat's answer


def test_replayed_and_late_events_change_nothing() -> None:
    """A replayed hangup and events after the end change nothing and revive nothing."""
    tr = CallTracker()
    entered(tr)
    hangup = ChannelHungUp(LID, LID, "16")
    assert tr.apply(hangup, at(2)) is not None
    assert tr.apply(hangup, at(2)) is None
    assert tr.apply(IvrEntered(LID, LID, "c", None, None), at(3)) is None  # no revival
    assert tr.apply(SeatConnected(LID, "center", "s1", 1.0), at(3)) is None


def test_an_ended_call_is_remembered_for_ended_memory_then_forgotten() -> None:
    """An ended call is remembered (not revived, its final snapshot kept) until a later
    call end is more than `ended_memory` after its own end, whatever order the ends come
    in (a resync's ends and held events carry earlier times than the last end)."""
    tr = CallTracker(ended_memory=timedelta(seconds=600))

    def end(lid: str, when: float) -> None:
        tr.apply(IvrEntered(lid, lid, f"c-{lid}", None, None), at(when - 1))
        assert tr.apply(ChannelHungUp(lid, lid, "16"), at(when)) is not None

    end("a", 100)
    end("b", 300)
    end("c", 50)  # ended earlier than the last end
    end("d", 651)  # over 600 s after c: c is forgotten, a (551 s ago) is not
    assert set(tr.ended) == set(tr.finished) == {"a", "b", "d"}
    assert tr.apply(IvrEntered("a", "a", "c-a", None, None), at(641)) is None  # no revival
    end("e", 701)  # a (100) is forgotten, b (300) is not
    assert set(tr.ended) == set(tr.finished) == {"b", "d", "e"}
    again = tr.apply(IvrEntered("a", "a", "c-a", None, None), at(702))
    assert again is not None
    assert again.state == CallState.IVR
    [gone] = tr.vanished({"b", "d", "e"}, at(1300))  # at 1300: b (300) and d (651) go
    assert gone.linkedid == "a"
    assert set(tr.ended) == set(tr.finished) == {"e", "a"}


def test_events_for_unknown_calls_are_ignored_but_a_queue_join_starts_one() -> None:
    """Events of unknown calls are ignored, except a queue join, which starts a call that
    never saw the IVR."""
    tr = CallTracker()
    assert tr.apply(SeatRinging("x", "center", "s1"), at(0)) is None
    call = tr.apply(QueueJoined("y", "y", "SIP/trunk-1", "center", "0551", None), at(0))
    assert call is not None
    assert call.state == CallState.QUEUED  # a fallback call, never in hotline's IVR


def test_vanished_calls_are_closed() -> None:
    """Calls Asterisk no longer has are closed as interrupted/vanished; the others stay."""
    tr = CallTracker()
    entered(tr)
    tr.apply(IvrEntered("other", "other", "c2", None, None), at(0))
    [gone] = tr.vanished({"other"}, at(10))
    assert (gone.linkedid, gone.outcome, gone.end_reason) == (
        LID, Outcome.INTERRUPTED, EndReason.VANISHED)
    assert set(tr.calls) == {"other"}


def test_invalid_transition_is_refused() -> None:
    """A transition the state machine does not allow (ended -> ivr) is refused."""
    tr = CallTracker()
    entered(tr)
    call = tr.calls[LID]
    ended = call.moved(CallState.ENDED, at(1))
    with pytest.raises(InvalidTransition, match="ended -> ivr"):
        ended.moved(CallState.IVR, at(2))


def test_facts_from_real_events() -> None:
    """Real AMI events become call facts with their caller, times and AGI environment;
    <unknown> and anonymous callers are None."""
    start = AmiMessage(
        "Event: AsyncAGIStart\r\nTimestamp: 1795769531.250000\r\nChannel: Local/s@caller-0;1"
        "\r\nCallerIDNum: 13955112345\r\nCallerIDName: 纳税人张三\r\nUniqueid: 1795769531.0"
        "\r\nLinkedid: 1795769531.0\r\nEnv: agi_request%3A%20async%0Aagi_calleridname%3A%20"
        "%E7%BA%B3%E7%A8%8E%E4%BA%BA%0A")
    fact = fact_from_event(start)
    assert fact == IvrEntered("1795769531.0", "1795769531.0", "Local/s@caller-0;1",
                              "13955112345", "纳税人张三")
    assert event_time(start) == datetime.fromtimestamp(1795769531.25, tz=UTC)
    assert agi_env(start)["agi_calleridname"] == "纳税人"
    unknown = AmiMessage("Event: QueueCallerJoin\r\nLinkedid: 1\r\nUniqueid: 1\r\nChannel: c"
                         "\r\nQueue: center\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>")
    assert fact_from_event(unknown) == QueueJoined("1", "1", "c", "center", None, None)
    anonymous = AmiMessage("Event: QueueCallerJoin\r\nLinkedid: 1\r\nUniqueid: 1\r\n"
                           "Channel: c\r\nQueue: center\r\nCallerIDNum: anonymous\r\n"
                           "CallerIDName: Anonymous")
    assert fact_from_event(anonymous) == QueueJoined("1", "1", "c", "center", None, None)
    assert fact_from_event(AmiMessage("Event: Newstate\r\nLinkedid: 1")) is None
    assert fact_from_event(AmiMessage("Event: Hangup\r\nUniqueid: 1")) is None  # no Linkedid


def test_a_withheld_caller_id_is_none() -> None:
    """What stands in for a missing caller ID (Asterisk's <unknown>, a carrier's
    anonymous, Anonymous, Restricted, ...) is None in the ledger, in any case and with
    spaces around; a real number or name is kept as it is."""
    for placeholder in ("", " ", "<unknown>", "unknown", "anonymous", "Anonymous",
                        "ANONYMOUS", " anonymous ", "Restricted", "private", "Unavailable"):
        assert caller_id(placeholder) is None, placeholder
    assert caller_id(None) is None
    for real in ("13955112345", "+8613955112345", "纳税人张三", "Anonymous Tax Office"):
        assert caller_id(real) == real


def connected(tracker: CallTracker) -> None:
    """In the IVR at 0, queued at 4, ringing seat s1 at 5, answered at 6 (2 s on hold)."""
    entered(tracker)
    tracker.apply(QueueJoined(LID, LID, "c", "center", None, None), at(4))
    tracker.apply(SeatRinging(LID, "center", "s1"), at(5))
    tracker.apply(SeatConnected(LID, "center", "s1", 2.0), at(6))


def test_a_replayed_queue_join_changes_nothing() -> None:
    """A QueueCallerJoin stamped before the call got where it is (replayed after a
    reconnect) is no transfer: no error, no change."""
    tr = CallTracker()
    entered(tr)
    join = QueueJoined(LID, LID, "c", "center", None, None)
    tr.apply(join, at(4))
    tr.apply(SeatRinging(LID, "center", "s1"), at(5))
    assert tr.apply(join, at(4)) is None  # ringing stays ringing
    assert tr.calls[LID].state == CallState.RINGING
    tr.apply(SeatConnected(LID, "center", "s1", 2.0), at(6))
    before = tr.calls[LID]
    assert tr.apply(join, at(4)) is None
    assert tr.calls[LID] == before


def test_a_seat_sends_the_caller_back_to_a_queue() -> None:
    """A transfer back to a queue is tracked (queued, ringing, answered again) and the
    call's row keeps its first answer: queue, seat, answered time, wait and talk."""
    tr = CallTracker()
    connected(tr)
    tr.apply(SeatCompleted(LID, 30.0), at(36))  # the first seat transfers (reason transfer)
    back = tr.apply(QueueJoined(LID, LID, "c", "experts", None, None), at(36.5))
    assert back is not None
    assert (back.state, back.transfers) == (CallState.QUEUED, 1)
    assert tr.apply(QueueJoined(LID, LID, "c", "center", None, None), at(4)) is None  # replay
    tr.apply(SeatRinging(LID, "experts", "s2"), at(37))
    tr.apply(QueueLeft(LID, "experts"), at(41.5))
    again = tr.apply(SeatConnected(LID, "experts", "s2", 5.0), at(41.5))
    assert again is not None
    assert again.state == CallState.CONNECTED
    tr.apply(SeatCompleted(LID, 20.0), at(61.5))
    call = tr.apply(ChannelHungUp(LID, LID, "16"), at(61.6))
    assert call is not None
    assert [s for s, _ in call.history] == [
        CallState.IVR, CallState.QUEUED, CallState.RINGING, CallState.CONNECTED,
        CallState.QUEUED, CallState.RINGING, CallState.CONNECTED, CallState.ENDED]
    assert (call.outcome, call.end_reason) == (Outcome.ANSWERED, EndReason.HANGUP)
    assert (call.queue, call.seat, call.queued_at, call.answered_at) == (
        "center", "s1", at(4), at(6))
    assert (call.wait_seconds, call.talk_seconds) == (2.0, 30.0)


def resync_found_answered(tracker: CallTracker) -> None:
    """In the IVR at 0 (its queue join and the answer lost in an event gap); a resync
    finds it answered by s1 at 4.0025, as Asterisk's record times it (queued at 4.0004)."""
    entered(tracker)
    call = tracker.calls[LID]
    tracker.resynced(replace(
        call.moved(CallState.QUEUED, at(4.0004)).moved(CallState.CONNECTED, at(4.0025)),
        queue="center", queued_at=at(4.0004), seat="s1", answered_at=at(4.0025),
        wait_seconds=0.0021))


def test_the_late_join_of_the_entry_a_resync_found_answered_is_no_transfer() -> None:
    """After a resync found the call answered (the record's time), the AMI's own
    QueueCallerJoin of that queue entry, stamped 5 ms after the answer, then its
    AgentConnect: still the first answer, talking, and the talk is the seat's 1.5 s (seen
    in the flood test: counted a transfer, the talk was 0.005 s)."""
    tr = CallTracker()
    resync_found_answered(tr)
    assert tr.apply(QueueJoined(LID, LID, "c", "center", None, None), at(4.0077)) is None
    assert tr.apply(SeatConnected(LID, "center", "s1", 0.0), at(4.0095)) is None
    tr.apply(SeatCompleted(LID, 1.0, whole_seconds=True), at(5.5045))
    call = tr.apply(ChannelHungUp(LID, LID, "16"), at(5.507))
    assert call is not None
    assert (call.transfers, call.seat, call.answered_at) == (0, "s1", at(4.0025))
    assert call.talk_seconds == pytest.approx(1.502)


def test_a_transfer_after_a_resync_found_the_call_answered_is_one() -> None:
    """Once the answer a resync found is confirmed (its AgentConnect, or the seat's
    AgentComplete came), a queue join is a seat sending the caller back to a queue."""
    for confirm in (SeatConnected(LID, "center", "s1", 0.0), SeatCompleted(LID, 30.0)):
        tr = CallTracker()
        resync_found_answered(tr)
        tr.apply(confirm, at(4.01) if isinstance(confirm, SeatConnected) else at(34))
        back = tr.apply(QueueJoined(LID, LID, "c", "experts", None, None), at(34.5))
        assert back is not None
        assert (back.state, back.transfers) == (CallState.QUEUED, 1)


def test_a_caller_sent_back_to_a_queue_who_hangs_up_there_was_answered() -> None:
    """A caller a seat sent back to a queue who hangs up there counts as answered by the
    first seat."""
    tr = CallTracker()
    connected(tr)
    # No AgentComplete before the transfer: the first seat's talk ends at the transfer.
    tr.apply(QueueJoined(LID, LID, "c", "experts", None, None), at(20))
    tr.apply(QueueAbandoned(LID, "experts"), at(50))
    call = tr.apply(ChannelHungUp(LID, LID, "16"), at(50.1))
    assert call is not None
    assert call.outcome == Outcome.ANSWERED
    assert (call.queue, call.seat, call.wait_seconds, call.talk_seconds) == (
        "center", "s1", 2.0, 14.0)


@pytest.mark.parametrize(("facts", "outcome"), [
    # Self-service answers, whether the line was open or not.
    ([IvrProgress(LID, "51", ("main", "self_service"), None, None, "12366", True, False)],
     Outcome.SELF_SERVICE),
    ([IvrProgress(LID, "1", ("closed", "self_service"), None, None, "12366", True, True)],
     Outcome.SELF_SERVICE),
    # The line was closed and the caller left no message.
    ([IvrProgress(LID, "", ("closed",), None, None, "12366", False, True)],
     Outcome.AFTER_HOURS),
    # Transferred to another region's line, which answered.
    ([IvrProgress(LID, "5", ("main",), None, None, "12366", False, False),
      Referred(LID, "02112366")], Outcome.REFERRED),
    # Self-service first, then a seat: answered wins; a queue nobody answered is that.
    ([IvrProgress(LID, "5", ("main", "self_service"), None, None, "12366", True, False),
      QueueJoined(LID, LID, "c", "center", None, None), QueueLeft(LID, "center")],
     Outcome.UNANSWERED),
    ([IvrProgress(LID, "0", ("main",), None, None, "12366", False, False)],
     Outcome.ENDED_IN_IVR),
])
def test_outcomes_of_calls_that_no_seat_answered(facts: list[object], outcome: Outcome) -> None:
    """Calls no seat answered get the outcome of what happened: unanswered in a queue,
    referred, after hours or ended in the IVR."""
    tr = CallTracker()
    entered(tr)
    for i, fact in enumerate(facts, start=1):
        tr.apply(fact, at(i))  # type: ignore[arg-type]
    call = tr.apply(ChannelHungUp(LID, LID, "16"), at(10))
    assert call is not None
    assert call.outcome == outcome


def test_ivr_progress_replaces_the_category_and_topic() -> None:
    """The IVR's report replaces the call's category and topic: a category undone by
    going back in the menus is gone from the call too."""
    tr = CallTracker()
    entered(tr)
    tr.apply(IvrProgress(LID, "1", ("main", "consult"), "consultation", "vat"), at(1))
    call = tr.apply(IvrProgress(LID, "1*", ("main", "consult", "main"), None, None), at(2))
    assert call is not None
    assert (call.category, call.topic) == (None, None)


def test_ivr_progress_keeps_what_the_caller_typed() -> None:
    """What the menus' collect steps read (a taxpayer ID) is the call's `inputs` (the
    seat's screen pop), kept by a later report that has none (a menu after the collect)."""
    tr = CallTracker()
    entered(tr)
    tid = (("taxpayer_id", "913401001234567897"),)
    call = tr.apply(IvrProgress(LID, "19913401001234567897#", ("main", "consult"),
                                "consultation", None, variables=tid), at(1))
    assert call is not None
    assert call.inputs == tid
    call = tr.apply(IvrProgress(LID, "19913401001234567897#", ("main", "consult"),
                                "consultation", "other"), at(2))
    assert call is not None
    assert (call.inputs, call.topic) == (tid, "other")
