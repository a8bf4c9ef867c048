"""Calls that end while hotline is cut off from Asterisk (an AMI cut): the resync closes
them with what Asterisk's record says happened meanwhile, and the record of such a call
is kept until then."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from hotline.core.calls.record import recorded_view, with_record
from hotline.core.calls.tracking import (
    CallState,
    CallTracker,
    IvrEntered,
    Outcome,
    QueueJoined,
    RecordedBy,
    SeatConnected,
)
from hotline.features.calls.reconcile import Reconciler
from hotline.ledger.store import Ledger
from tests.unit.test_record_reconcile import _at, abandoned, answered


def seat(device: str) -> str | None:
    return {"Local/8001@seats": "演示座席8001"}.get(device)


def queued_call(tracker: CallTracker, lid: str) -> None:
    tracker.apply(IvrEntered(lid, lid, f"Local/s@caller-{lid};1", "13955100001", None), _at(0))
    tracker.apply(QueueJoined(lid, lid, f"Local/s@caller-{lid};1", "center", None, None),
                  _at(1))


def test_a_call_answered_and_ended_during_a_cut_is_closed_answered_by_its_seat() -> None:
    """Queued when the link went; a seat answered and the call ended before it came back:
    answered, by that seat, the record's talk (not interrupted, no seat)."""
    tracker = CallTracker()
    queued_call(tracker, "a")
    [gone] = tracker.vanished(set(), _at(30), {"a": (_at(6), RecordedBy.ASTERISK_RECORD)})
    view = recorded_view(answered("a"), seat)
    assert view is not None
    call = with_record(gone, view)
    assert (call.outcome and call.outcome.value, call.queue, call.seat) == (
        "answered", "center", "演示座席8001")
    assert (call.answered_at, call.talk_seconds, call.ended_at) == (_at(4), 2.0, _at(6))
    assert call.end_by == RecordedBy.ASTERISK_RECORD


def test_a_known_answer_keeps_its_time_and_takes_the_records_talk() -> None:
    """hotline saw the seat answer, not the end: its answer stays, the talk is the
    record's (not up to the last message before the cut)."""
    tracker = CallTracker()
    queued_call(tracker, "a")
    tracker.apply(SeatConnected("a", "center", "演示座席8001", 3.0), _at(4))
    [gone] = tracker.vanished(set(), _at(30), {"a": (_at(6), RecordedBy.ASTERISK_RECORD)})
    view = recorded_view(answered("a"), seat)
    assert view is not None
    call = with_record(gone, view)
    assert (call.answered_at, call.talk_seconds, call.seat) == (_at(4), 2.0, "演示座席8001")


def test_a_caller_who_hung_up_in_the_queue_during_a_cut_abandoned_it() -> None:
    tracker = CallTracker()
    queued_call(tracker, "b")
    [gone] = tracker.vanished(set(), _at(30), {"b": (_at(3), RecordedBy.ASTERISK_RECORD)})
    view = recorded_view(abandoned("b"), seat)
    assert view is not None
    call = with_record(gone, view)
    assert (call.outcome and call.outcome.value, call.queue, call.seat) == (
        "abandoned", "center", None)


def test_without_the_record_a_vanished_call_is_interrupted() -> None:
    """Asterisk itself went down (no record of the end): what happened is not known."""
    tracker = CallTracker()
    queued_call(tracker, "b")
    [call] = tracker.vanished(set(), _at(30), {"b": (_at(3), RecordedBy.LAST_SEEN)})
    assert call.outcome == Outcome.INTERRUPTED


class FakeRecord:
    def __init__(self, events: list) -> None:  # type: ignore[type-arg]
        self.rows = events
        self.pruned: list[int] = []

    async def events(self) -> list:  # type: ignore[type-arg]
        return self.rows

    async def prune(self, rows: list[int]) -> None:
        self.pruned += rows


async def test_the_record_of_a_call_whose_row_is_still_open_is_not_pruned(
        tmp_path: Path) -> None:
    """Between resyncs only calls whose row is final lose their record: a call that
    ended while the link was cut has an open row, and the resync needs its record."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        tracker = CallTracker()
        queued_call(tracker, "a")  # open: ended in Asterisk during the cut
        queued_call(tracker, "b")
        done = tracker.vanished({"a"}, _at(3))  # "b" is final in the ledger
        await ledger.upsert_calls([replace(tracker.calls["a"]), *done], _at(40))
        record = FakeRecord([*answered("a"), *abandoned("b")])
        config = lambda: SimpleNamespace(routing=None, seat_groups={})  # noqa: E731
        reconciler = Reconciler(record, ledger, config, lambda: None)  # type: ignore[arg-type]
        await reconciler.prune_written()
    finally:
        await ledger.close()
    assert sorted(record.pruned) == sorted(e.row for e in abandoned("b"))
    assert tracker.calls["a"].state == CallState.QUEUED
