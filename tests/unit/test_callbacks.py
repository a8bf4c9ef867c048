"""Callbacks that keep the caller's place: the order, the pacing, retries and hours
(hotline.core.callbacks), and the queue's `callback:` block in routing.yaml."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from hotline.common.errors import RoutingInvalid
from hotline.common.yamlsrc import load_text
from hotline.core.calendar.schedule import CHINA, Calendar, Override, Span
from hotline.core.callbacks import (
    Callback,
    CallbackRules,
    Hold,
    Place,
    SeatView,
    after_failed_attempt,
    next_open,
    plan,
)
from hotline.core.routing.config import parse_routing

# A Tuesday, 10:00 Beijing time: the line is open.
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=CHINA)
OPEN = {"center": True, "iit": True}


def ago(seconds: int) -> datetime:
    return NOW - timedelta(seconds=seconds)


def seat(sid: str, *, free: bool = True, queues: tuple[str, ...] = ("center",),
         held_for: int | None = None, available: bool = True) -> SeatView:
    return SeatView(sid, frozenset(queues), free, held_for, available)


def test_a_free_seat_places_the_callback_and_is_held_for_it() -> None:
    """The earliest place with a free seat: placed now, that seat held for it."""
    result = plan([Callback(1, "center", ago(120))], {"center": []}, [seat("8001")], NOW,
                  OPEN)
    assert result.place == (Place(1, "8001"),)
    assert result.hold == (Hold(1, "8001", "center"),)


def test_a_caller_who_joined_earlier_is_served_first() -> None:
    """A caller still waiting who joined before the callback's place goes first: the
    callback is not placed, and no seat is held for it."""
    result = plan([Callback(1, "center", ago(60))], {"center": [ago(90)]}, [seat("8001")],
                  NOW, OPEN)
    assert result.place == ()
    assert result.hold == ()
    assert result.blocked == {1: "earlier_caller"}


def test_callers_who_joined_later_do_not_hold_the_callback_back() -> None:
    """Two callers who joined after the callback's place: the callback goes first."""
    result = plan([Callback(1, "center", ago(120))], {"center": [ago(60), ago(30)]},
                  [seat("8001")], NOW, OPEN)
    assert result.place == (Place(1, "8001"),)


def test_one_callback_per_free_seat_never_a_burst() -> None:
    """Five callbacks, two free seats and nothing busy: two placed (the two earliest
    places, each with its own seat), the three others wait for a seat."""
    callbacks = [Callback(i, "center", ago(300 - i * 10)) for i in (5, 3, 1, 2, 4)]
    result = plan(callbacks, {}, [seat("8001"), seat("8002")], NOW, OPEN)
    assert result.place == (Place(1, "8001"), Place(2, "8002"))
    assert {result.blocked[i] for i in (3, 4, 5)} == {"no_seat"}


def test_callbacks_of_two_queues_share_no_seat() -> None:
    """One free seat in both queues: only the earlier place of the two queues gets it."""
    both = ("center", "iit")
    result = plan([Callback(1, "iit", ago(100)), Callback(2, "center", ago(200))], {},
                  [seat("8001", queues=both)], NOW, OPEN)
    assert result.place == (Place(2, "8001"),)
    assert result.blocked[1] == "no_seat"


def test_a_callback_in_flight_keeps_its_seat_and_the_next_waits() -> None:
    """While the first callback's phone rings, its held seat is not given to the next
    callback; the next one reserves the busy seat instead."""
    callbacks = [Callback(1, "center", ago(300), state="calling", attempts=1),
                 Callback(2, "center", ago(200))]
    seats = [seat("8001", held_for=1), seat("8002", free=False)]
    result = plan(callbacks, {}, seats, NOW, OPEN)
    assert result.place == ()
    assert result.release == ()  # 8001 stays held
    assert result.hold == (Hold(2, "8002", "center"),)  # the next free seat is for #2


def test_a_busy_seat_is_reserved_when_no_seat_is_free() -> None:
    """No free seat: one busy seat is held for the earliest place, so that when its call
    ends it is not rung for the later callers; then the callback is placed with it."""
    callbacks = [Callback(1, "center", ago(300))]
    later = {"center": [ago(100), ago(50)]}
    first = plan(callbacks, later, [seat("8001", free=False)], NOW, OPEN)
    assert first.hold == (Hold(1, "8001", "center"),)
    assert first.place == ()
    # The call ended: 8001 is free, still held for #1 (paused in the queue).
    second = plan(callbacks, later, [seat("8001", held_for=1)], NOW, OPEN)
    assert second.place == (Place(1, "8001"),)
    assert second.hold == ()  # already held


def test_no_callback_and_no_hold_outside_opening_hours() -> None:
    """Closed: nothing placed, and a seat held for the callback is let go."""
    result = plan([Callback(1, "center", ago(300))], {}, [seat("8001", held_for=1)], NOW,
                  {"center": False})
    assert (result.place, result.hold, result.release) == ((), (), ("8001",))
    assert result.blocked == {1: "closed"}


def test_a_retry_waits_for_its_time_and_does_not_block_the_next() -> None:
    """A callback whose retry is due later is not placed; a later place of the same
    queue that can be placed now is not held back by it."""
    callbacks = [Callback(1, "center", ago(600), attempts=1, next_at=NOW + timedelta(60)),
                 Callback(2, "center", ago(300))]
    result = plan(callbacks, {}, [seat("8001")], NOW, OPEN)
    assert result.blocked[1] == "retry_later"
    assert result.place == (Place(2, "8001"),)
    due = plan([Callback(1, "center", ago(600), attempts=1, next_at=NOW)], {},
               [seat("8001")], NOW, OPEN)
    assert due.place == (Place(1, "8001"),)


def test_a_free_seat_beats_the_busy_one_held_for_a_callback() -> None:
    """A callback waiting for its held busy seat is placed with a seat that frees first,
    and the busy seat's hold is let go."""
    result = plan([Callback(1, "center", ago(300))], {},
                  [seat("8001", free=False, held_for=1), seat("8002")], NOW, OPEN)
    assert result.place == (Place(1, "8002"),)
    assert result.release == ("8001",)


def test_each_callback_ahead_of_the_callers_reserves_its_own_busy_seat() -> None:
    """Two callbacks ahead of a waiting caller, two busy seats: each holds one, so the
    next two seats to free up are theirs, not the later caller's."""
    result = plan([Callback(1, "center", ago(300)), Callback(2, "center", ago(200))],
                  {"center": [ago(100)]},
                  [seat("8001", free=False), seat("8002", free=False)], NOW, OPEN)
    assert result.hold == (Hold(1, "8001", "center"), Hold(2, "8002", "center"))


def test_a_hold_no_callback_needs_is_let_go() -> None:
    """A seat held for a callback that is no longer waiting (connected, or gone) is
    released."""
    result = plan([], {}, [seat("8001", held_for=7)], NOW, OPEN)
    assert result.release == ("8001",)


def test_a_seat_of_another_queue_or_unavailable_is_not_used() -> None:
    """Only a seat of the callback's queue, logged in and not on a pause, is used."""
    result = plan([Callback(1, "center", ago(300))], {},
                  [seat("8001", queues=("iit",)), seat("8002", available=False)], NOW, OPEN)
    assert result.place == ()
    assert result.blocked == {1: "no_seat"}


def test_a_held_seat_that_logged_out_is_replaced() -> None:
    """The seat held for a callback went away (logged out): another free seat is used."""
    result = plan([Callback(1, "center", ago(300))], {},
                  [seat("8001", held_for=1, available=False), seat("8002")], NOW, OPEN)
    assert result.place == (Place(1, "8002"),)
    assert result.release == ("8001",)


RULES = CallbackRules(retries=2, interval=300)


def test_an_unanswered_attempt_is_retried_after_the_interval() -> None:
    """The first and second unanswered attempts are retried `interval` seconds later."""
    assert after_failed_attempt(1, RULES, NOW, Calendar()).next_at == NOW + timedelta(
        seconds=300)
    assert after_failed_attempt(2, RULES, NOW, Calendar()).state == "waiting"


def test_after_the_last_attempt_the_callback_becomes_a_work_order() -> None:
    """With 2 retries, the third unanswered attempt ends in a callback work order."""
    assert after_failed_attempt(3, RULES, NOW, Calendar()).state == "order"
    assert after_failed_attempt(1, CallbackRules(retries=0), NOW, Calendar()).state == "order"


def test_a_retry_that_would_fall_after_hours_waits_for_the_next_opening() -> None:
    """At 17:28 with a 5-minute interval the retry falls after closing (17:30): it is
    tried at the next opening, Wednesday 08:30; at lunch, at 13:30."""
    evening = datetime(2026, 3, 10, 17, 28, tzinfo=CHINA)
    assert after_failed_attempt(1, RULES, evening, Calendar()).next_at == datetime(
        2026, 3, 11, 8, 30, tzinfo=CHINA)
    lunch = datetime(2026, 3, 10, 11, 58, tzinfo=CHINA)
    assert after_failed_attempt(1, RULES, lunch, Calendar()).next_at == datetime(
        2026, 3, 10, 13, 30, tzinfo=CHINA)


def test_next_open_skips_weekends_and_closures() -> None:
    """Friday evening's next opening is Monday 08:30; a closure that Monday moves it to
    Tuesday."""
    friday = datetime(2026, 3, 13, 18, 0, tzinfo=CHINA)
    assert next_open(Calendar(), friday) == datetime(2026, 3, 16, 8, 30, tzinfo=CHINA)
    closed = Calendar(overrides=(Override(Span(date(2026, 3, 16), date(2026, 3, 16)),
                                          closed=True),))
    assert next_open(closed, friday) == datetime(2026, 3, 17, 8, 30, tzinfo=CHINA)
    assert next_open(Calendar(), NOW) == NOW


ROUTING = """\
queues:
  center:
    name: 综合咨询
    callback: {offer_after: 45, key: "1", retries: 3, interval: 600}
  iit: {name: 个人所得税}
seats:
  "8001": {name: 座席, group: centre, device: Local/8001@seats/n,
           skills: {center: 5, iit: 5}}
groups:
  centre: {name: 中心, kind: centre}
"""


def test_routing_yaml_configures_a_queue_s_callbacks() -> None:
    """A queue's `callback:` block gives its offer, key, retries and interval; a queue
    without one offers no callback."""
    config = parse_routing(load_text(ROUTING, "routing.yaml"))
    rules = config.queues["center"].callback
    assert rules == CallbackRules(offer_after=45, key="1", retries=3, interval=600)
    assert rules.attempts == 4
    assert config.queues["iit"].callback is None


@pytest.mark.parametrize(("block", "message"), [
    ('{key: "12"}', "callback.key: the callback key is one digit"),
    ("{retries: -1}", "callback.retries: must be a whole number from 0 to 10"),
    ("{interval: 5}", "callback.interval: must be a whole number from 30 to 86400"),
    ("{when: 3}", "callback.when: unknown key"),
    ("[1]", "a callback block must be a mapping"),
])
def test_a_bad_callback_block_is_refused_at_its_line(block: str, message: str) -> None:
    """A bad callback block is refused naming the key and the file's line."""
    text = ROUTING.replace('{offer_after: 45, key: "1", retries: 3, interval: 600}', block)
    with pytest.raises(RoutingInvalid) as caught:
        parse_routing(load_text(text, "routing.yaml"))
    assert message in str(caught.value)
    assert "routing.yaml:4" in str(caught.value)


def test_a_queue_offering_callbacks_exits_on_its_key_with_a_periodic_offer() -> None:
    """queues.conf: a queue with a callback block leaves the queue on its key (the key's
    context) and offers it every offer_after seconds; a queue without one offers none."""
    from hotline.pbx.queues_conf import render_queues

    config = parse_routing(load_text(ROUTING, "routing.yaml"))
    text = render_queues(config, "/prompts/_queues")
    sections = {block.split("]", 1)[0]: block for block in text.split("\n[")[1:]}
    center = sections["center"]
    assert "\ncontext = hotline-callback-1\n" in center
    assert "\nperiodic-announce = /prompts/_queues/callback_offer_1\n" in center
    assert "\nperiodic-announce-frequency = 45\n" in center
    assert center.count("periodic-announce-frequency") == 1
    assert "context =" not in sections["iit"]
    assert "\nperiodic-announce-frequency = 0\n" in sections["iit"]


def test_the_dialplan_has_an_exit_for_every_key_and_the_connect_context() -> None:
    """extensions.conf holds the ten one-key exit contexts queues.conf names, the
    callback context that tells hotline, and the context an answered callback runs."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "config/asterisk/extensions.conf").read_text()
    for key in "0123456789":
        assert f"[hotline-callback-{key}]\nexten => {key},1,Goto(hotline-callback,s,1)" in text
    assert "Set(HOTLINE_CALLBACK=1)" in text
    assert "[hotline-callback-connect]" in text
    assert "[callback-phone]" in text


def test_the_call_that_asked_for_a_callback_says_so_on_its_row() -> None:
    """A caller who left the queue with the callback key ends with outcome callback (预约
    回拨), its wait up to the key, not abandoned nor unanswered."""
    from datetime import UTC

    from hotline.common.labels import OUTCOMES
    from hotline.core.calls.tracking import (
        CallbackAsked,
        CallTracker,
        ChannelHungUp,
        IvrEntered,
        Outcome,
        QueueJoined,
        QueueLeft,
    )

    t0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    tr = CallTracker()
    tr.apply(IvrEntered("L1", "L1", "Local/s@caller-1;1", "055112345678", None), t0)
    tr.apply(QueueJoined("L1", "L1", "c", "center", None, None), t0 + timedelta(seconds=5))
    tr.apply(QueueLeft("L1", "center"), t0 + timedelta(seconds=65))
    tr.apply(CallbackAsked("L1", "center"), t0 + timedelta(seconds=66))
    call = tr.apply(ChannelHungUp("L1", "L1", "16"), t0 + timedelta(seconds=70))
    assert call is not None
    assert call.outcome == Outcome.CALLBACK
    assert call.wait_seconds == 60.0
    assert OUTCOMES[call.outcome.value] == "预约回拨"


async def test_the_ledger_keeps_the_place_and_every_attempt(tmp_path: object) -> None:
    """A callback's row keeps the first place asked (asking again changes nothing); an
    attempt makes it calling, its end moves it on, and the attempts are listed."""
    from pathlib import Path

    from hotline.ledger.callbacks import CallbackBook
    from hotline.ledger.store import Ledger

    assert isinstance(tmp_path, Path)
    async with await Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        book = CallbackBook(ledger)
        row = await book.ask(linkedid="L1", queue="center", number="055112345678",
                             joined_at=ago(120), asked_at=NOW)
        again = await book.ask(linkedid="L1", queue="center", number="055112345678",
                               joined_at=ago(10), asked_at=NOW)
        assert again == row
        assert (row.state, row.attempts) == ("waiting", 0)
        attempt = await book.start_attempt(row.id, at=NOW, channel="c1")
        assert (await book.open())[0].state == "calling"
        with pytest.raises(ValueError, match="not waiting"):
            await book.start_attempt(row.id, at=NOW, channel="c2")
        later = NOW + timedelta(seconds=300)
        await book.end_attempt(attempt, result="no_answer", at=NOW, state="waiting",
                               next_at=later)
        found = await book.get(row.id)
        assert found is not None
        assert (found.state, found.attempts) == ("waiting", 1)
        assert found.next_at is not None
        assert datetime.fromisoformat(found.next_at) == later
        second = await book.start_attempt(row.id, at=later, channel="c3")
        await book.end_attempt(second, result="connected", at=later, state="connected")
        assert [a.result for a in await book.attempts(row.id)] == ["no_answer", "connected"]
        assert await book.open() == []


def test_asterisk_s_word_on_an_attempt_is_read_and_nothing_else_is() -> None:
    """A failed OriginateResponse of a callback channel is an ended attempt with its
    reason; a successful one, another program's, or a stranger's UserEvent is nothing;
    the dialplan's HotlineCallback UserEvent is the callback's progress."""
    from hotline.pbx.ami.message import parse_frame
    from hotline.pbx.callbacks import AttemptEnded, CallbackProgress, callback_event

    def event(text: str) -> object:
        message = parse_frame(text.replace("\n", "\r\n"))
        assert message is not None
        return callback_event(message)

    assert event("Event: OriginateResponse\nResponse: Failure\nReason: 3\n"
                 "Uniqueid: hotline-callback-4-9") == AttemptEnded("hotline-callback-4-9",
                                                                   "no_answer")
    assert event("Event: OriginateResponse\nResponse: Failure\nReason: 5\n"
                 "Uniqueid: hotline-callback-4-9") == AttemptEnded("hotline-callback-4-9",
                                                                   "busy")
    assert event("Event: OriginateResponse\nResponse: Success\nReason: 4\n"
                 "Uniqueid: hotline-callback-4-9") is None
    assert event("Event: OriginateResponse\nResponse: Failure\nReason: 3\n"
                 "Uniqueid: 1700000000.12") is None
    assert event("Event: UserEvent\nUserEvent: HotlineCallback\nId: 4\nState: answered"
                 ) == CallbackProgress(4, "answered")
    assert event("Event: UserEvent\nUserEvent: CallerSpoke\nId: 4") is None
    assert event("Event: UserEvent\nUserEvent: HotlineCallback\nId: x\nState: answered"
                 ) is None


def test_a_seat_s_pause_reason_names_the_callback_it_is_held_for() -> None:
    """回拨保留#12 holds the seat for callback 12; an ordinary pause holds it for none."""
    from hotline.features.callbacks.loop import held_for, hold_reason

    assert held_for(hold_reason(12)) == 12
    assert held_for("用餐") is None
    assert held_for("回拨保留#x") is None


def test_a_callback_dials_only_a_number() -> None:
    """The caller's number goes into the dial string only if it is digits: nothing else
    can reach the Originate's channel."""
    from hotline.pbx.callbacks import dial_channel

    assert dial_channel("PJSIP/{number}@carrier", "055112345678") == (
        "PJSIP/055112345678@carrier")
    with pytest.raises(ValueError, match="not a number"):
        dial_channel("PJSIP/{number}@carrier", "0551&Local/x")
