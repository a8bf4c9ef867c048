"""The menu engine: a pure state machine fed one event per command, and simulate()."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hotline.core.ivr.dialplan import Dialplan, ToVoicemail, load_dialplan
from hotline.core.ivr.engine import (
    CallContext,
    Command,
    Dial,
    Done,
    Event,
    Finish,
    JoinQueue,
    Key,
    LeaveVoicemail,
    NoKey,
    PlayPrompts,
    PromptsDone,
    ReadKey,
    Session,
    simulate,
    start,
    step,
)

REPO = Path(__file__).resolve().parents[2]

# One menu with an option of every kind. "1" and "12" share a first key.
PLAN = """\
    dialplan: test
    prompts:
      welcome: Welcome
      menu: Press a key
      short: Choose again
      wrong: Wrong key
      silence: You pressed nothing
      info: Some information
      sub: Sub menu
      deeper: Deeper menu
      enter_id: Enter your id then hash
      bad_id: That id is wrong
      bye: Goodbye
    menus:
      main:
        greeting: {first: [welcome, menu], again: short}
        options:
          "1": {queue: one}
          "12": {queue: twelve}
          "2": {goto: sub}
          "3": {play: info}
          "4": [{set: {category: complaint, topic: vat}}, {queue: center}]
          "5":
            - collect:
                into: tax_id
                prompt: enter_id
                min_length: 3
                max_length: 5
                pattern: "^1[0-9]*$"
                invalid: bad_id
                attempts: 2
                on_fail: {hangup: bye}
            - {queue: center}
          "6": voicemail
          "7": {transfer: {number: "12366", prompt: info}}
          "8": {queue: {name: property, prefer_region: true}}
          "#": repeat
        timeout: 6
        inter_digit_timeout: 1.5
        max_attempts: 3
        invalid: wrong
        no_input: silence
        on_exhausted: {hangup: bye}
      sub:
        greeting: sub
        options:
          "1": {play: info}
          "2": {goto: deeper}
          "*": back
      deeper:
        greeting: deeper
        options:
          "*": back
          "0": hangup
    """


def compile_plan(tmp_path: Path, text: str) -> Dialplan:
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    plan, problems = load_dialplan(path, "plan.yaml")
    assert plan is not None, [str(p) for p in problems]
    return plan


@pytest.fixture
def plan(tmp_path: Path) -> Dialplan:
    return compile_plan(tmp_path, PLAN)


@pytest.fixture
def shipped() -> Dialplan:
    plan, problems = load_dialplan(REPO / "dialplans" / "12366.yaml")
    assert plan is not None, [str(p) for p in problems]
    return plan


def feed(session: Session, *events: Event) -> tuple[Session, Command]:
    """Feed events one after the other; the session and command after the last."""
    command: Command | None = None
    for event in events:
        session, command = step(session, event)
    assert command is not None
    return session, command


def keys(*pressed: str) -> list[Event]:
    return [Key(k) for k in pressed]


OPEN = CallContext(caller="13955112345", calendar="open")


# -- greetings and barge-in -------------------------------------------------------------------


def test_first_entry_plays_greeting_first(plan: Dialplan) -> None:
    """A new call enters the entry menu and plays its `first` greeting, interruptibly."""
    session, command = start(plan, OPEN)
    assert command == PlayPrompts(("welcome", "menu"), interruptible=True)
    assert session.menu == "main"
    assert session.path == ("main",)
    assert session.phase == "greeting"


def test_returning_plays_greeting_again(plan: Dialplan) -> None:
    """Coming back to a menu already visited plays its `again` greeting."""
    session, _ = start(plan, OPEN)
    session, command = feed(session, Key("2"), Key("*"))
    assert command == PlayPrompts(("short",))
    assert session.menu == "main"


def test_key_during_greeting_counts_at_once(plan: Dialplan) -> None:
    """Barge-in: a key during the greeting is the choice, with no wait for a key after."""
    session, _ = start(plan, OPEN)
    session, command = step(session, Key("2"))
    assert command == PlayPrompts(("sub",))
    assert session.menu == "sub"


def test_greeting_done_waits_for_a_key(plan: Dialplan) -> None:
    """After the greeting, the engine waits the menu's timeout for a first key."""
    session, _ = start(plan, OPEN)
    session, command = step(session, PromptsDone())
    assert command == ReadKey(6.0)
    assert session.phase == "waiting"


def test_key_after_the_greeting_counts(plan: Dialplan) -> None:
    """A key read after the greeting chooses the option."""
    session, _ = start(plan, OPEN)
    _, command = feed(session, PromptsDone(), Key("6"))
    assert command == LeaveVoicemail(ToVoicemail("12366"))


# -- no key, wrong key, attempts ----------------------------------------------------------------


def test_no_key_plays_no_input_then_greeting_again(plan: Dialplan) -> None:
    """A timeout plays the no_input prompt then the `again` greeting, and counts an attempt."""
    session, _ = start(plan, OPEN)
    session, command = feed(session, PromptsDone(), NoKey())
    assert command == PlayPrompts(("silence", "short"))
    assert session.attempts == 1
    assert session.menu == "main"


def test_on_exhausted_runs_after_max_attempts(plan: Dialplan) -> None:
    """After max_attempts timeouts (3 here) the menu's on_exhausted action runs."""
    session, _ = start(plan, OPEN)
    session, command = feed(session, PromptsDone(), NoKey(), PromptsDone(), NoKey())
    assert session.attempts == 2
    assert command == PlayPrompts(("silence", "short"))
    session, command = feed(session, PromptsDone(), NoKey())
    assert command == Finish("bye", "hangup")
    assert session.finished


def test_default_on_exhausted_hangs_up(plan: Dialplan) -> None:
    """A menu without on_exhausted hangs up without a prompt when exhausted."""
    session, _ = start(plan, OPEN)
    session, _ = step(session, Key("2"))
    _, command = feed(session, *[PromptsDone(), NoKey()] * 3)
    assert command == Finish(None, "hangup")


def test_menu_without_no_input_prompt_replays_the_greeting(plan: Dialplan) -> None:
    """With no no_input prompt, a timeout replays only the greeting."""
    session, _ = start(plan, OPEN)
    session, _ = step(session, Key("2"))
    _, command = feed(session, PromptsDone(), NoKey())
    assert command == PlayPrompts(("sub",))


def test_invalid_key_plays_invalid_prompt(plan: Dialplan) -> None:
    """A key that means nothing plays the invalid prompt and the `again` greeting."""
    session, _ = start(plan, OPEN)
    session, command = step(session, Key("9"))
    assert command == PlayPrompts(("wrong", "short"))
    assert session.attempts == 1


def test_wrong_keys_and_timeouts_share_the_attempts(plan: Dialplan) -> None:
    """Wrong keys and timeouts count toward the same max_attempts."""
    session, _ = start(plan, OPEN)
    _, command = feed(session, Key("9"), PromptsDone(), NoKey(), Key("*"))
    assert command == Finish("bye", "hangup")


def test_attempts_reset_on_entering_a_menu(plan: Dialplan) -> None:
    """Entering a menu (here by `repeat`) starts its attempts afresh."""
    session, _ = start(plan, OPEN)
    session, _ = feed(session, Key("9"), Key("9"))
    assert session.attempts == 2
    session, command = step(session, Key("#"))
    assert command == PlayPrompts(("short",))
    assert session.attempts == 0


# -- multi-key options --------------------------------------------------------------------------


def test_prefix_key_waits_inter_digit_timeout(plan: Dialplan) -> None:
    """Key 1 could start "12": the engine waits inter_digit_timeout for another key."""
    session, _ = start(plan, OPEN)
    session, command = step(session, Key("1"))
    assert command == ReadKey(1.5)
    assert session.phase == "inter_digit"
    assert session.keys == "1"


def test_no_second_key_chooses_the_short_option(plan: Dialplan) -> None:
    """Key 1 then nothing chooses option "1"."""
    session, _ = start(plan, OPEN)
    _, command = feed(session, Key("1"), NoKey())
    assert command == JoinQueue("one")


def test_second_key_chooses_the_long_option(plan: Dialplan) -> None:
    """Key 1 then key 2 chooses option "12"."""
    session, _ = start(plan, OPEN)
    _, command = feed(session, Key("1"), Key("2"))
    assert command == JoinQueue("twelve")


def test_second_key_that_matches_nothing_is_invalid(plan: Dialplan) -> None:
    """Key 1 then key 3 ("13" is no option) is a wrong key."""
    session, _ = start(plan, OPEN)
    session, command = feed(session, Key("1"), Key("3"))
    assert command == PlayPrompts(("wrong", "short"))
    assert session.keys == ""


def test_timeout_on_a_prefix_that_is_no_option_is_invalid(tmp_path: Path) -> None:
    """With only option "12", key 1 then nothing is a wrong key, not a timeout."""
    plan = compile_plan(tmp_path, """\
        prompts: {hi: Hello, wrong: Wrong, none: Nothing}
        menus:
          main:
            greeting: hi
            invalid: wrong
            no_input: none
            options:
              "12": hangup
        """)
    session, _ = start(plan, OPEN)
    _, command = feed(session, Key("1"), NoKey())
    assert command == PlayPrompts(("wrong", "hi"))


# -- back, repeat, play -----------------------------------------------------------------------


def test_back_returns_along_the_menu_stack(plan: Dialplan) -> None:
    """goto pushes the menu left; back pops it, one level at a time."""
    session, _ = start(plan, OPEN)
    session, _ = feed(session, Key("2"), Key("2"))
    assert session.menu == "deeper"
    assert session.stack == ("main", "sub")
    session, command = step(session, Key("*"))
    assert (session.menu, session.stack, command) == ("sub", ("main",), PlayPrompts(("sub",)))
    session, command = step(session, Key("*"))
    assert (session.menu, session.stack, command) == ("main", (), PlayPrompts(("short",)))


def test_simulate_consultation_back_then_operator_is_uncategorised(
        shipped: Dialplan) -> None:
    """Keys 1 * 0: the caller chose consultation, went back and asked for the operator;
    going back undid the category set on the way into the menu left."""
    _, trace = simulate(shipped, OPEN, ["1", "*", "0"])
    assert trace.final["action"] == "queue center"
    assert trace.final["path"] == ["main", "consult", "main"]
    assert trace.final["category"] is None
    assert trace.final["topic"] is None


def test_back_undoes_only_what_the_menu_left_set(tmp_path: Path) -> None:
    """A category set in a menu stays there; one set on the way into a submenu (and in
    it) is undone by going back, one level at a time."""
    plan = compile_plan(tmp_path, """\
        prompts: {hi: Hello, sub: Sub, deep: Deep}
        menus:
          main:
            greeting: hi
            options:
              "1": [{set: {category: tip_off}}, {goto: sub}]
              "3": {set: {category: complaint}}
              "0": {queue: center}
          sub:
            greeting: sub
            options:
              "2": [{set: {topic: vat}}, {goto: deep}]
              "*": back
          deep:
            greeting: deep
            options:
              "*": back
        """)
    session, _ = start(plan, OPEN)
    session, _ = feed(session, Key("3"), Key("1"), Key("2"))
    assert (session.menu, session.category, session.topic) == ("deep", "tip_off", "vat")
    session, _ = step(session, Key("*"))
    assert (session.menu, session.category, session.topic) == ("sub", "tip_off", None)
    session, _ = step(session, Key("*"))
    assert (session.menu, session.category, session.topic) == ("main", "complaint", None)


def test_back_at_the_top_reenters_the_menu(tmp_path: Path) -> None:
    """`back` with an empty stack re-enters the current menu."""
    plan = compile_plan(tmp_path, """\
        prompts: {hi: Hello, again: Again}
        menus:
          main:
            greeting: {first: hi, again: again}
            options:
              "*": back
              "0": hangup
        """)
    session, _ = start(plan, OPEN)
    session, command = step(session, Key("*"))
    assert command == PlayPrompts(("again",))
    assert session.menu == "main"


def test_repeat_replays_the_greeting(plan: Dialplan) -> None:
    """`repeat` re-enters the menu: its `again` greeting plays."""
    session, _ = start(plan, OPEN)
    session, command = step(session, Key("#"))
    assert command == PlayPrompts(("short",))
    assert session.menu == "main"
    assert session.phase == "greeting"


def test_play_step_returns_to_the_menu(plan: Dialplan) -> None:
    """An option that only plays returns to its menu when the prompt ends."""
    session, _ = start(plan, OPEN)
    session, command = step(session, Key("3"))
    assert command == PlayPrompts(("info",))
    assert session.phase == "play"
    session, command = step(session, PromptsDone())
    assert command == PlayPrompts(("short",))
    assert session.menu == "main"
    assert session.phase == "greeting"


def test_key_during_play_is_applied_to_the_menu_after_it(plan: Dialplan) -> None:
    """Type-ahead: a key pressed during an information prompt chooses in the menu after it."""
    session, _ = start(plan, OPEN)
    session, _ = step(session, Key("3"))
    session, command = step(session, Key("2"))
    assert command == PlayPrompts(("sub",))
    assert session.menu == "sub"
    assert session.typeahead == ""


def test_typeahead_key_is_recorded_once(plan: Dialplan) -> None:
    """A key typed ahead appears once in `pressed`, though it is used later."""
    session, _ = start(plan, OPEN)
    session, _ = feed(session, Key("3"), Key("2"), Key("1"))
    assert session.pressed == "321"


def test_typeahead_starts_a_multi_key_option(plan: Dialplan) -> None:
    """A typed-ahead 1 waits for a second key like a 1 pressed in the menu."""
    session, _ = start(plan, OPEN)
    session, command = feed(session, Key("3"), Key("1"))
    assert command == ReadKey(1.5)
    _, command = step(session, Key("2"))
    assert command == JoinQueue("twelve")


def test_key_during_an_entry_prompt_is_typeahead(tmp_path: Path) -> None:
    """A key during a prompt the entry plays is applied to the first menu."""
    plan = compile_plan(tmp_path, """\
        prompts: {hi: Hello, notice: Calls are recorded}
        entry: [{play: notice}, {goto: main}]
        menus:
          main:
            greeting: hi
            options:
              "1": {queue: center}
        """)
    session, command = start(plan, OPEN)
    assert command == PlayPrompts(("notice",))
    assert session.menu is None
    session, command = step(session, Key("1"))
    assert command == JoinQueue("center")
    assert session.path == ("main",)


# -- set, collect -------------------------------------------------------------------------------


def test_set_records_category_and_topic(plan: Dialplan) -> None:
    """`set` records the category and topic on the session, then the next step runs."""
    session, _ = start(plan, OPEN)
    session, command = step(session, Key("4"))
    assert command == JoinQueue("center")
    assert (session.category, session.topic) == ("complaint", "vat")


def test_collect_until_terminator(plan: Dialplan) -> None:
    """collect plays its prompt, reads digits until '#', stores them, then runs on."""
    session, _ = start(plan, OPEN)
    session, command = step(session, Key("5"))
    assert command == PlayPrompts(("enter_id",))
    session, command = step(session, PromptsDone())
    assert command == ReadKey(8.0)
    session, command = feed(session, Key("1"), Key("2"))
    assert command == ReadKey(4.0)
    session, command = feed(session, Key("3"), Key("#"))
    assert command == JoinQueue("center")
    assert session.variable("tax_id") == "123"
    assert session.pressed == "5123#"


def test_collect_stops_at_max_length(plan: Dialplan) -> None:
    """At max_length digits the value is taken without waiting for '#'."""
    session, _ = start(plan, OPEN)
    session, command = feed(session, *keys("5", "1", "2", "3", "4", "5"))
    assert command == JoinQueue("center")
    assert session.variable("tax_id") == "12345"


def test_collect_takes_digits_on_timeout(plan: Dialplan) -> None:
    """A pause after enough digits ends the entry like '#'."""
    session, _ = start(plan, OPEN)
    session, command = feed(session, *keys("5", "1", "0", "0"), NoKey())
    assert command == JoinQueue("center")
    assert session.variable("tax_id") == "100"


def test_collect_pattern_failure_reprompts(plan: Dialplan) -> None:
    """Digits that miss the pattern play the invalid prompt then the collect prompt again."""
    session, _ = start(plan, OPEN)
    session, command = feed(session, *keys("5", "2", "3", "4", "#"))
    assert command == PlayPrompts(("bad_id", "enter_id"))
    assert session.collecting is not None
    assert session.collecting.attempts == 1
    assert session.collecting.digits == ""


def test_collect_too_short_reprompts(plan: Dialplan) -> None:
    """Fewer than min_length digits fail like a wrong pattern."""
    session, _ = start(plan, OPEN)
    _, command = feed(session, *keys("5", "1", "#"))
    assert command == PlayPrompts(("bad_id", "enter_id"))


def test_collect_runs_on_fail_after_its_attempts(plan: Dialplan) -> None:
    """After `attempts` failures collect runs on_fail instead of the rest of the option."""
    session, _ = start(plan, OPEN)
    session, _ = feed(session, *keys("5", "9", "#"))
    session, command = feed(session, PromptsDone(), NoKey())
    assert command == Finish("bye", "hangup")
    assert session.variable("tax_id") is None


def test_collect_retry_then_success(plan: Dialplan) -> None:
    """A failed entry can be corrected on the next attempt."""
    session, _ = start(plan, OPEN)
    session, _ = feed(session, *keys("5", "9", "#"))
    session, command = feed(session, *keys("1", "7", "7", "#"))
    assert command == JoinQueue("center")
    assert session.variable("tax_id") == "177"


def test_collect_default_on_fail_repeats_the_menu(tmp_path: Path) -> None:
    """Without on_fail, a failed collect returns to its menu's greeting."""
    plan = compile_plan(tmp_path, """\
        prompts: {hi: Hello, again: Again, ask: Enter}
        menus:
          main:
            greeting: {first: hi, again: again}
            options:
              "1": [{collect: {into: code, prompt: ask, attempts: 1}}, {queue: center}]
        """)
    session, _ = start(plan, OPEN)
    session, command = feed(session, Key("1"), PromptsDone(), NoKey())
    assert command == PlayPrompts(("again",))
    assert session.menu == "main"
    assert session.collecting is None


# -- when ---------------------------------------------------------------------------------------

WHEN_PLAN = """\
    prompts: {hi: Hello, closed: Closed, holiday: Holiday}
    entry:
      when:
        - if: {calendar: open}
          then: {goto: main}
        - if: {calendar: non_working_day}
          then: {hangup: holiday}
        - else: {goto: closed}
    menus:
      main:
        greeting: hi
        options:
          "0":
            when:
              - if: {caller_prefix: ["0551", "+86551"]}
                then: {queue: hefei}
              - else: {queue: center}
      closed:
        greeting: closed
        options:
          "1": voicemail
    """


@pytest.mark.parametrize(("calendar", "menu", "command"), [
    ("open", "main", PlayPrompts(("hi",))),
    ("after_hours", "closed", PlayPrompts(("closed",))),
    ("non_working_day", None, Finish("holiday", "hangup")),
])
def test_when_follows_the_calendar(tmp_path: Path, calendar: str, menu: str | None,
                                   command: Command) -> None:
    """The entry's `when` takes the first branch whose calendar state holds, else `else`."""
    plan = compile_plan(tmp_path, WHEN_PLAN)
    session, got = start(plan, CallContext("05511234567", calendar))
    assert got == command
    assert session.menu == menu


@pytest.mark.parametrize(("caller", "queue"), [
    ("05512345678", "hefei"),
    ("+8655112345678", "hefei"),
    ("05522345678", "center"),
    (None, "center"),
])
def test_when_follows_the_caller_prefix(tmp_path: Path, caller: str | None, queue: str) -> None:
    """caller_prefix matches the start of the caller's number; no number matches nothing."""
    plan = compile_plan(tmp_path, WHEN_PLAN)
    session, _ = start(plan, CallContext(caller, "open"))
    _, command = step(session, Key("0"))
    assert command == JoinQueue(queue)


QUEUE_HOURS_PLAN = """\
    prompts:
      hi: 您好
      vip_closed: 专线已下班
    entry:
      - when:
          - if: {calendar: open, queue: vip}
            then: {queue: vip}
          - else: {play: vip_closed}
      - queue: center
    menus: {}
"""


@pytest.mark.parametrize(("line", "vip", "first"), [
    ("open", "open", JoinQueue("vip")),
    ("open", "after_hours", PlayPrompts(("vip_closed",))),
    # The line is closed but the queue keeps longer hours: its own state counts.
    ("after_hours", "open", JoinQueue("vip")),
])
def test_a_condition_with_a_queue_follows_that_queues_hours(
        tmp_path: Path, line: str, vip: str, first: Command) -> None:
    """A condition naming a queue follows that queue's hours, not the line's."""
    plan = compile_plan(tmp_path, QUEUE_HOURS_PLAN)
    _, got = start(plan, CallContext("13955112345", line, {"vip": vip}))
    assert got == first


def test_a_queue_closed_by_its_own_hours_is_not_joined(tmp_path: Path) -> None:
    """A queue step to a queue outside its queue_hours says so (the runner then treats it
    as unanswered at once); a queue without hours of its own is joined as ever."""
    plan = compile_plan(tmp_path, "entry: {queue: vip}\nmenus: {}\n")
    _, got = start(plan, CallContext(None, "open", {"vip": "non_working_day"}))
    assert got == JoinQueue("vip", closed=True)
    _, got = start(plan, CallContext(None, "after_hours", {"vip": "open"}))
    assert got == JoinQueue("vip", closed=False)
    _, got = start(plan, CallContext(None, "after_hours", {}))
    assert got == JoinQueue("vip", closed=False)


def test_when_with_no_branch_taken_runs_on(tmp_path: Path) -> None:
    """A `when` with no matching branch and no else does nothing; the next step runs."""
    plan = compile_plan(tmp_path, """\
        prompts: {hi: Hello}
        menus:
          main:
            greeting: hi
            options:
              "1":
                - when:
                    - if: {calendar: after_hours}
                      then: voicemail
                - {queue: center}
        """)
    session, _ = start(plan, OPEN)
    _, command = step(session, Key("1"))
    assert command == JoinQueue("center")


# -- where the call ends ------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "command"), [
    ("6", LeaveVoicemail(ToVoicemail("12366"))),
    ("7", Dial("12366", "info")),
    ("8", JoinQueue("property", prefer_region=True)),
])
def test_terminal_commands(plan: Dialplan, key: str, command: Command) -> None:
    """voicemail, transfer and queue (region first) become their commands."""
    session, _ = start(plan, OPEN)
    _, got = step(session, Key(key))
    assert got == command


def test_after_a_queue_the_call_finishes(plan: Dialplan) -> None:
    """When the queue step returns, the session finishes with reason after-queue."""
    session, _ = start(plan, OPEN)
    session, _ = feed(session, Key("1"), NoKey())
    assert session.phase == "queue"
    session, command = step(session, Done(answered=True))
    assert command == Finish(None, "after-queue")
    assert session.finished


def test_after_voicemail_and_dial_the_call_finishes(plan: Dialplan) -> None:
    """Voicemail and transfer finish the session when they return."""
    for key, reason in (("6", "after-voicemail"), ("7", "after-dial")):
        session, _ = start(plan, OPEN)
        session, _ = step(session, Key(key))
        _, command = step(session, Done())
        assert command == Finish(None, reason)


def test_hangup_option_finishes(plan: Dialplan) -> None:
    """`hangup` finishes at once."""
    session, _ = start(plan, OPEN)
    session, command = feed(session, Key("2"), Key("2"), Key("0"))
    assert command == Finish(None, "hangup")
    assert session.finished


def test_no_event_after_finish(plan: Dialplan) -> None:
    """Feeding a finished session is a programming error."""
    session, _ = start(plan, OPEN)
    session, _ = feed(session, Key("2"), Key("2"), Key("0"))
    with pytest.raises(ValueError, match="finished"):
        step(session, Key("1"))


def test_path_and_pressed(plan: Dialplan) -> None:
    """The session keeps the menus entered, in order, and every key pressed."""
    session, _ = start(plan, OPEN)
    session, _ = feed(session, Key("9"), Key("2"), Key("2"), Key("*"), Key("*"), Key("6"))
    assert session.path == ("main", "sub", "deeper", "sub", "main")
    assert session.pressed == "922**6"


def test_session_is_immutable(plan: Dialplan) -> None:
    """step returns a new session; the one given is unchanged (a call can be replayed)."""
    session, _ = start(plan, OPEN)
    after, _ = step(session, Key("2"))
    assert session.menu == "main"
    assert session.pressed == ""
    assert after.menu == "sub"


# -- simulate() on the shipped dialplan ---------------------------------------------------------


def test_simulate_consultation_iit(shipped: Dialplan) -> None:
    """Keys 1 1 on a working day end in queue iit, consultation about individual income tax."""
    _, trace = simulate(shipped, OPEN, ["1", "1"])
    assert trace.final["action"] == "queue iit"
    assert trace.final["category"] == "consultation"
    assert trace.final["topic"] == "individual_income_tax"
    assert trace.final["path"] == ["main", "consult"]
    assert trace.final["pressed"] == "11"
    assert trace.final["unused_keys"] == ""


def test_simulate_after_hours_starts_closed(shipped: Dialplan) -> None:
    """After hours the call starts in `closed` and, with no key, ends in voicemail."""
    _, trace = simulate(shipped, CallContext("13955112345", "after_hours"), [])
    assert trace.final["path"] == ["closed"]
    assert trace.steps[0]["command"] == "play closed, closed_menu"
    assert trace.final["action"] == "voicemail 12366"


def test_simulate_non_working_day_starts_closed(shipped: Dialplan) -> None:
    """On a non-working day the call also starts in `closed`."""
    _, trace = simulate(shipped, CallContext(None, "non_working_day"), ["2"])
    assert trace.final["path"] == ["closed"]
    assert trace.final["action"] == "voicemail 12366"


def test_simulate_hours_info_returns_to_self_service(shipped: Dialplan) -> None:
    """Keys 5 1 play the office hours, then self-service's short greeting again."""
    session, trace = simulate(shipped, OPEN, ["5", "1"])
    commands = [s["command"] for s in trace.steps]
    assert commands[:4] == ["play welcome, main_menu", "play self_menu", "play hours_info",
                            "play self_short"]
    assert trace.steps[3]["menu"] == "self_service"
    path = trace.final["path"]
    assert isinstance(path, list)
    assert path[:2] == ["main", "self_service"]
    assert session.menu == "self_service"


def test_simulate_collects_taxpayer_id(shipped: Dialplan) -> None:
    """Keys 1 9, 15 digits and # store taxpayer_id and queue to center."""
    digits = "913401000000001"
    _, trace = simulate(shipped, OPEN, ["1", "9", *digits, "#"])
    assert trace.final["variables"] == {"taxpayer_id": digits}
    assert trace.final["action"] == "queue center"
    assert trace.final["category"] == "consultation"


def test_simulate_short_taxpayer_id_is_refused(shipped: Dialplan) -> None:
    """A taxpayer id shorter than 15 digits plays taxpayer_id_invalid and asks again."""
    _, trace = simulate(shipped, OPEN, ["1", "9", "1", "2", "3", "#"])
    assert "play taxpayer_id_invalid, enter_taxpayer_id" in [s["command"] for s in trace.steps]
    assert trace.final["variables"] == {}


def test_simulate_trace_shows_prompt_texts(shipped: Dialplan) -> None:
    """Each played prompt appears in the trace with its text."""
    _, trace = simulate(shipped, OPEN, ["0"])
    assert trace.steps[0]["prompts"] == [
        "welcome: 您好，欢迎致电一二三六六纳税服务热线。"
        "本热线受理税务咨询、涉税举报、投诉和意见建议。",
        "main_menu: 税务咨询请按一，涉税举报请按二，投诉请按三，意见建议请按四，自助查询请按五，"
        "人工服务请按零。"]
    assert trace.steps[0]["event"] == "key 0"
    assert trace.final["action"] == "queue center"


def test_simulate_self_service_exhausted_says_goodbye(shipped: Dialplan) -> None:
    """In self-service, silence until exhausted hangs up after the goodbye prompt."""
    _, trace = simulate(shipped, OPEN, ["5"])
    assert trace.final["action"] == "hang up after goodbye"
    assert trace.final["prompt"] == "goodbye: 感谢您的来电，再见。"


def test_simulate_reports_unused_keys(shipped: Dialplan) -> None:
    """A key during the prompt before a queue cuts it short and is kept; later keys are unused."""
    session, trace = simulate(shipped, OPEN, ["0", "5", "5"])
    assert trace.final["action"] == "queue center"
    assert trace.final["pressed"] == "05"
    assert session.typeahead == "5"
    assert trace.final["unused_keys"] == "5"


UNANSWERED = """\
    dialplan: test
    prompts:
      busy: All seats are busy
      later: We will call you back
    menus:
      main:
        greeting: busy
        options:
          "1": {queue: center}
    unanswered:
      voicemail: [{play: busy}, voicemail]
      callback: {hangup: later}
    """


def test_an_unanswered_queue_runs_the_dialplan_s_case(tmp_path: Path) -> None:
    """Nobody answered: routing's on_no_answer picks the case; its steps end the call."""
    plan = compile_plan(tmp_path, UNANSWERED)
    session, command = start(plan, CallContext("13955112345", "open"))
    session, command = step(session, Key("1"))
    assert command == JoinQueue("center", False)
    after, command = step(session, Done(answered=False, unanswered="voicemail"))
    assert command == PlayPrompts(("busy",))
    after, command = step(after, PromptsDone())
    assert isinstance(command, LeaveVoicemail)
    _, command = step(after, Done())
    assert isinstance(command, Finish)
    _, command = step(session, Done(answered=False, unanswered="callback"))
    assert command == Finish("later", "hangup")
    # A case the dialplan does not describe hangs up; so does an answered call.
    _, command = step(session, Done(answered=False, unanswered="hangup"))
    assert command == Finish(None, "unanswered-hangup")
    _, command = step(session, Done(answered=True))
    assert command == Finish(None, "after-queue")
