"""Properties of the menu engine and of the dialplan checks, over generated keys, events and
dialplans (hypothesis): every call ends, and a dialplan that passes the checks cannot run away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from hotline.common.yamlsrc import load_text
from hotline.core.ivr.dialplan import (
    CALENDAR_STATES,
    CATEGORIES,
    Collect,
    Dialplan,
    Goto,
    HangUp,
    Menu,
    Play,
    PromptDef,
    compile_source,
    load_dialplan,
)
from hotline.core.ivr.engine import (
    MAX_TRANSITIONS,
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
from hotline.core.ivr.lint import menu_steps, walk

REPO = Path(__file__).resolve().parents[2]
KEYS = "0123456789*#"
TERMINAL_PHASES = {"queue", "voicemail", "dial", "finished"}

# Deterministic runs (no example database, the same examples every time): fast and stable.
FAST = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def _shipped(relative: str) -> Dialplan:
    plan, problems = load_dialplan(REPO / relative)
    assert plan is not None, [str(p) for p in problems]
    return plan


SHIPPED = {name: _shipped(name) for name in ("dialplans/12366.yaml", "tests/dialplans/test.yaml")}

# -- strategies: keys, callers, calendar ------------------------------------------------------

key_sequences = st.lists(st.sampled_from(KEYS), max_size=40)
callers = st.one_of(
    st.none(),
    st.sampled_from(["", "0551", "055162345678", "05533456789", "13955112345",
                     "+8613900000000", "02112345678"]),
    st.from_regex(r"\+?[0-9]{0,15}", fullmatch=True),
)
contexts = st.builds(CallContext, caller=callers, calendar=st.sampled_from(CALENDAR_STATES))
SILENT_CONTEXTS = [CallContext(caller, calendar) for calendar in CALENDAR_STATES
                   for caller in (None, "05511234567", "05531234567", "13955112345")]


# -- helpers ---------------------------------------------------------------------------------


def assert_ends_in_a_terminal_action(plan: Dialplan, context: CallContext,
                                     keys: list[str], no_menu: bool = True) -> Session:
    """simulate() ends in a queue, voicemail, transfer or hang-up (not a runaway), and
    reports the keys it used and the keys it did not. `no_menu`: an entry that goes to no
    menu (a `when` without `else`) may hang up."""
    session, trace = simulate(plan, context, keys)
    assert session.phase in TERMINAL_PHASES, (session.phase, trace.final)
    assert session.transitions <= MAX_TRANSITIONS, trace.final
    assert "runaway" not in str(trace.final["action"]), trace.final
    assert no_menu or "no-menu" not in str(trace.final["action"]), trace.final
    unused = trace.final["unused_keys"]
    assert isinstance(unused, str)
    assert trace.final["pressed"] == session.pressed
    assert session.pressed + unused == "".join(keys)
    return session


def silent_budget(plan: Dialplan) -> int:
    """Events a caller who stopped pressing keys can still need before the call ends: each
    menu entered at most twice, each of its attempts a greeting and a wait, each play and
    each collect attempt in it, then a Done."""
    per_menu = 0
    for name, menu in plan.menus.items():
        per_menu += 2 * menu.max_attempts + 1
        for s in menu_steps(plan, name):
            if isinstance(s, Play):
                per_menu += 1
            elif isinstance(s, Collect):
                per_menu += 2 * s.attempts
    entry = sum(2 * s.attempts if isinstance(s, Collect) else 1 for s in walk(plan.entry))
    return 2 * per_menu + entry + 2


def valid_events(command: Command, keys: bool) -> st.SearchStrategy[Event]:
    """The events that can answer `command` (a key only while the caller still presses)."""
    key = st.sampled_from(KEYS).map(Key)
    if isinstance(command, PlayPrompts):
        return st.one_of(st.just(PromptsDone()), key) if keys else st.just(PromptsDone())
    if isinstance(command, ReadKey):
        return st.one_of(st.just(NoKey()), key) if keys else st.just(NoKey())
    assert isinstance(command, (JoinQueue, LeaveVoicemail, Dial)), command
    return st.builds(Done, answered=st.booleans())


def drive(plan: Dialplan, context: CallContext, data: st.DataObject, keyed: int) -> Finish:
    """Answer each command with a drawn valid event, keys allowed for the first `keyed`
    events; then count the events a silent caller needs until Finish."""
    commands = (PlayPrompts, ReadKey, JoinQueue, LeaveVoicemail, Dial, Finish)
    session, command = start(plan, context)
    budget = silent_budget(plan)
    events = silent = 0
    while not isinstance(command, Finish):
        assert isinstance(command, commands), command
        caller_presses = events < keyed
        session, command = step(session, data.draw(valid_events(command, caller_presses)))
        events += 1
        if not caller_presses:
            silent += 1
            assert silent <= budget, f"still {session.phase} in {session.menu} after " \
                f"{silent} events without a key"
    assert session.finished
    assert command.reason != "runaway"
    with pytest.raises(ValueError, match="finished"):
        step(session, NoKey())
    return command


# -- 1. shipped dialplans, any keys ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SHIPPED))
@settings(FAST, max_examples=250)
@given(keys=key_sequences, context=contexts)
def test_shipped_dialplans_end_for_any_keys(name: str, keys: list[str],
                                            context: CallContext) -> None:
    """A shipped dialplan ends every simulated call in a terminal action; pressed + unused
    keys are the keys given."""
    assert_ends_in_a_terminal_action(SHIPPED[name], context, keys, no_menu=False)


# -- 2. the engine, driven event by event ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(SHIPPED))
@settings(FAST, max_examples=150)
@given(data=st.data(), context=contexts, keyed=st.integers(0, 60))
def test_engine_answers_every_valid_event_and_ends_once_keys_stop(
        name: str, data: st.DataObject, context: CallContext, keyed: int) -> None:
    """Valid events always get a command back, and a silent caller reaches Finish within
    a budget of events."""
    drive(SHIPPED[name], context, data, keyed)


# -- 3. random dialplans: the checks are sound -----------------------------------------------

PROMPTS = {"hi": "Hello", "again": "Choose again", "info": "Some information",
           "wrong": "Wrong key", "silence": "You pressed nothing", "enter": "Enter digits",
           "bye": "Goodbye"}
OPTION_KEYS = [*KEYS, "12", "00", "*9"]


def actions(names: list[str], depth: int = 1) -> st.SearchStrategy[Any]:
    """An action as written in YAML: one step, or a short list whose only step that leaves
    the menu is its last (anything else is a compile error, not an interesting plan)."""
    leaving = st.one_of(
        st.sampled_from(names).map(lambda name: {"goto": name}),
        st.sampled_from(["back", "repeat", "hangup", "voicemail"]),
        st.sampled_from([{"queue": "center"}, {"hangup": "bye"}, {"transfer": "12366"},
                         {"queue": {"name": "iit", "prefer_region": True}}]),
    )
    staying_steps = [
        st.sampled_from([{"play": "info"}, {"play": ["info", "again"]}]),
        st.sampled_from(CATEGORIES).map(lambda c: {"set": {"category": c}}),
    ]
    if depth > 0:
        inner = actions(names, depth - 1)
        staying_steps.append(st.builds(
            lambda attempts, on_fail: {"collect": {
                "into": "digits", "prompt": "enter", "max_length": 3, "attempts": attempts,
                **({"on_fail": on_fail} if on_fail is not None else {})}},
            st.integers(1, 2), st.none() | inner))
        condition = st.one_of(
            st.sampled_from(CALENDAR_STATES).map(lambda c: {"calendar": c}),
            st.just({"calendar": ["after_hours", "non_working_day"]}),
            st.sampled_from([["0551"], ["0553", "139"]]).map(lambda p: {"caller_prefix": p}),
        )
        branch = st.builds(lambda c, then: {"if": c, "then": then}, condition, inner)
        staying_steps.append(st.builds(
            lambda branches, otherwise: {"when": branches + (
                [{"else": otherwise}] if otherwise is not None else [])},
            st.lists(branch, min_size=1, max_size=2), st.none() | inner))
    staying = st.one_of(*staying_steps)
    listed = st.builds(lambda body, last: body + ([last] if last is not None else []),
                       st.lists(staying, min_size=1, max_size=2), st.none() | leaving)
    return st.one_of(leaving, staying, listed)


@st.composite
def random_dialplans(draw: st.DrawFn) -> dict[str, Any]:
    """A small dialplan as the dict an admin would write: 2-6 menus m0.., entry to m0."""
    names = [f"m{i}" for i in range(draw(st.integers(2, 6)))]
    action = actions(names)
    menus = {}
    for name in names:
        menu: dict[str, Any] = {
            "greeting": draw(st.sampled_from(["hi", {"first": ["hi", "info"], "again": "again"}])),
            "options": draw(st.dictionaries(st.sampled_from(OPTION_KEYS), action,
                                            min_size=1, max_size=4)),
            "max_attempts": draw(st.integers(1, 3)),
        }
        if draw(st.booleans()):
            menu["on_exhausted"] = draw(action)
        if draw(st.booleans()):
            menu.update(invalid="wrong", no_input="silence")
        menus[name] = menu
    entry = draw(st.sampled_from([
        {"goto": "m0"},
        [{"play": "info"}, {"goto": "m0"}],
        {"when": [{"if": {"calendar": "open"}, "then": {"goto": "m0"}},
                  {"else": {"goto": names[-1]}}]},
        [{"when": [{"if": {"caller_prefix": ["0551"]}, "then": {"goto": names[-1]}}]},
         {"goto": "m0"}],
        {"when": [{"if": {"calendar": "open"}, "then": {"goto": "m0"}}]},  # else: no menu
    ]))
    return {"dialplan": "random", "entry": entry, "prompts": PROMPTS, "menus": menus}


def checked(source: dict[str, Any]) -> Dialplan | None:
    """Compile the dict through YAML, as `hotline check` would: None if it has errors."""
    text = yaml.safe_dump(source, allow_unicode=True, sort_keys=False)
    plan, problems = compile_source(load_text(text, "random.yaml"))
    errors = [str(p) for p in problems if p.severity == "error"]
    assert (plan is None) == bool(errors)
    # The generator writes valid YAML dialplans: only the loop checks may reject one.
    assert all("a loop with no way out" in e for e in errors), errors
    event("rejected by check" if errors else "passed check")
    return plan


# Counterexamples hypothesis found against the previous loop check, kept as examples. Each
# has a hangup among its options, so some key leads out, but a caller who presses nothing
# goes round forever: on_exhausted re-enters the menu, or two menus exhaust into each other.
REPEAT_WHEN_EXHAUSTED = {"menus": {"m0": {
    "greeting": "hi", "options": {"0": "hangup"}, "max_attempts": 1, "on_exhausted": "repeat"}}}
PLAY_WHEN_EXHAUSTED = {"menus": {"m0": {
    "greeting": "hi", "options": {"0": "hangup"}, "on_exhausted": {"play": "info"}}}}
GOTO_CYCLE_WHEN_EXHAUSTED = {"menus": {
    "m0": {"greeting": "hi", "options": {"0": "hangup"}, "on_exhausted": {"goto": "m1"}},
    "m1": {"greeting": "hi", "options": {"0": "hangup"}, "on_exhausted": {"goto": "m0"}}}}
BACK_INTO_A_CYCLE = {"menus": {
    "m0": {"greeting": "hi", "options": {"0": "hangup", "1": {"goto": "m1"}},
           "on_exhausted": {"goto": "m1"}},
    "m1": {"greeting": "hi", "options": {"0": "hangup"}, "on_exhausted": "back"}}}
BACK_AT_THE_TOP = {"menus": {
    "m0": {"greeting": "hi", "options": {"0": "hangup", "1": {"goto": "m1"}},
           "on_exhausted": "back"},
    "m1": {"greeting": "hi", "options": {"0": {"goto": "m0"}}}}}
COLLECT_WHEN_EXHAUSTED = {"menus": {"m0": {
    "greeting": "hi", "options": {"0": "hangup"},
    "on_exhausted": [{"collect": {"into": "id", "prompt": "enter"}}, "hangup"]}}}
COUNTEREXAMPLES = [REPEAT_WHEN_EXHAUSTED, PLAY_WHEN_EXHAUSTED, GOTO_CYCLE_WHEN_EXHAUSTED,
                   BACK_INTO_A_CYCLE, BACK_AT_THE_TOP, COLLECT_WHEN_EXHAUSTED]


def _plan(source: dict[str, Any]) -> dict[str, Any]:
    return {"dialplan": "example", "entry": {"goto": "m0"}, "prompts": PROMPTS, **source}


@settings(FAST, max_examples=400)
@given(source=random_dialplans(),
       runs=st.lists(st.tuples(contexts, key_sequences), max_size=3))
@example(source=_plan(REPEAT_WHEN_EXHAUSTED), runs=[])
@example(source=_plan(GOTO_CYCLE_WHEN_EXHAUSTED), runs=[])
@example(source=_plan(BACK_INTO_A_CYCLE), runs=[(CallContext(), ["1"])])
@example(source=_plan(COLLECT_WHEN_EXHAUSTED), runs=[])
def test_checked_random_dialplans_never_run_away(
        source: dict[str, Any], runs: list[tuple[CallContext, list[str]]]) -> None:
    """A dialplan with no check errors ends every call with finite keys (no runaway)."""
    plan = checked(source)
    if plan is None:
        return
    for context in SILENT_CONTEXTS:  # the silent caller, whom the loop check must cover
        assert_ends_in_a_terminal_action(plan, context, [])
    for context, keys in runs:
        assert_ends_in_a_terminal_action(plan, context, keys)


@settings(FAST, max_examples=150)
@given(source=random_dialplans(), data=st.data(), context=contexts,
       keyed=st.integers(0, 40))
def test_checked_random_dialplans_answer_every_valid_event(
        source: dict[str, Any], data: st.DataObject, context: CallContext,
        keyed: int) -> None:
    """A checked random dialplan answers any valid events and ends once keys stop."""
    plan = checked(source)
    if plan is not None:
        drive(plan, context, data, keyed)


@pytest.mark.parametrize("source", COUNTEREXAMPLES)
def test_check_rejects_a_loop_for_the_silent_caller(source: dict[str, Any]) -> None:
    """Menus that a silent caller would go round forever fail the check (error)."""
    text = yaml.safe_dump(_plan(source), sort_keys=False)
    plan, problems = compile_source(load_text(text, "plan.yaml"))
    assert plan is None
    assert any("presses nothing" in str(p) for p in problems), [str(p) for p in problems]


def test_engine_still_cuts_off_a_plan_that_bypassed_the_check() -> None:
    """A runaway plan built without the check (silent caller, on_exhausted plays and
    returns) is ended by MAX_TRANSITIONS: the engine's own guard."""
    plan = Dialplan(
        "runaway", "zh-CN", (Goto("main"),),
        {"hi": PromptDef("hi", "Hello", None), "info": PromptDef("info", "Info", None)},
        {"main": Menu("main", ("hi",), ("hi",), {"0": (HangUp(),)}, max_attempts=1,
                      on_exhausted=(Play(("info",)),))})
    session, trace = simulate(plan, CallContext(), [])
    assert trace.final["action"] == "hang up (runaway)"
    assert session.transitions == MAX_TRANSITIONS + 1
    assert session.finished
