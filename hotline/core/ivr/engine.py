"""The menu engine: a pure state machine over a compiled dialplan.

`start(plan, context)` and `step(session, event)` return the next session and the one
command the adapter must carry out; the command's result comes back as the next event.
No I/O, no clock: the same engine runs live calls (over AsyncAGI) and `hotline simulate`.

Keys are taken one at a time: a greeting is played interruptibly (barge-in: a key stops
it and counts), then the engine waits for a first key (`timeout`), then for each further
key of a multi-key option (`inter_digit_timeout`). Keys typed ahead are kept in the
session and used before anything more is played.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from hotline.core.ivr.dialplan import (
    Back,
    Collect,
    Condition,
    Dialplan,
    Goto,
    HangUp,
    KbFeedback,
    KbMenu,
    KbPlay,
    Menu,
    Play,
    Repeat,
    SetCall,
    Step,
    ToQueue,
    ToVoicemail,
    Transfer,
    When,
)
from hotline.core.ivr.kbline import EMPTY, KbItem, KbSnapshot, is_kb_menu, kb_menu_name, key_prompt

MAX_TRANSITIONS = 2000  # a runaway dialplan ends the call instead of looping forever

# -- commands (engine -> adapter) ---------------------------------------------------------


@dataclass(frozen=True)
class PlayPrompts:
    """Play these prompts in order; a key stops them (if interruptible) and is returned."""

    prompts: tuple[str, ...]
    interruptible: bool = True


@dataclass(frozen=True)
class ReadKey:
    """Wait up to `timeout` seconds for one key."""

    timeout: float


@dataclass(frozen=True)
class JoinQueue:
    queue: str
    prefer_region: bool = False
    # Outside the queue's own hours (queue_hours): nobody is there to answer, so it is
    # not joined and counts as unanswered at once (routing.yaml's on_no_answer).
    closed: bool = False


@dataclass(frozen=True)
class LeaveVoicemail:
    step: ToVoicemail

    @property
    def box(self) -> str:
        return self.step.box


@dataclass(frozen=True)
class Dial:
    number: str
    prompt: str | None = None


@dataclass(frozen=True)
class Finish:
    """Play `prompt` (if any, not interruptible) and hang up. The session is over."""

    prompt: str | None = None
    reason: str = "hangup"


@dataclass(frozen=True)
class PlayAnswer:
    """Play a knowledge-base entry's spoken answer (a key stops it and is returned); the
    adapter records that the line answered the call with this version."""

    entry_id: str
    version: int
    prompt: str


@dataclass(frozen=True)
class NoteFeedback:
    """Record what the caller pressed after the last answer: solved | seat; then Done."""

    entry_id: str
    version: int
    feedback: str


Command = PlayPrompts | ReadKey | JoinQueue | LeaveVoicemail | Dial | Finish | PlayAnswer \
    | NoteFeedback

# -- events (adapter -> engine) -------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    key: str


@dataclass(frozen=True)
class NoKey:
    """ReadKey timed out."""


@dataclass(frozen=True)
class PromptsDone:
    """PlayPrompts finished without a key."""


@dataclass(frozen=True)
class Done:
    """A queue, voicemail or dial step returned. `answered`: a seat or party answered.
    `unanswered`: after a queue nobody answered, routing.yaml's on_no_answer for it."""

    answered: bool = False
    unanswered: str | None = None


Event = Key | NoKey | PromptsDone | Done


@dataclass(frozen=True)
class CallContext:
    caller: str | None = None
    calendar: str = "open"  # open | after_hours | non_working_day
    # The state by their own hours of the queues that have them (calendar.yaml's
    # queue_hours); a queue not here follows the line's `calendar`.
    queue_calendar: Mapping[str, str] = field(default_factory=dict)
    # The knowledge base as the call's start found it, the day its entries are offered
    # on (Beijing date; None: not checked) and the caller's city bureau (local entries).
    kb: KbSnapshot = EMPTY
    day: date | None = None
    city: str | None = None

    def state_of(self, queue: str | None) -> str:
        return self.queue_calendar.get(queue, self.calendar) if queue else self.calendar


@dataclass(frozen=True)
class Collecting:
    step: Collect
    digits: str = ""
    attempts: int = 0


@dataclass(frozen=True)
class Answering:
    """A knowledge-base answer being played, and the caller's feedback on it."""

    item: KbItem
    feedback: KbFeedback
    attempts: int = 0
    chosen: str | None = None  # solved | seat, being recorded


FEEDBACK_TIMEOUT = 6.0  # seconds for the feedback key after its prompt
FEEDBACK_ATTEMPTS = 2  # a wrong key or none: the prompt once more, then the menu


@dataclass(frozen=True)
class Session:
    plan: Dialplan
    context: CallContext
    menu: str | None = None
    phase: str = "start"
    stack: tuple[str, ...] = ()
    # The category and topic each menu on the stack was entered with: going back restores
    # them, undoing what the option into the menu left (and that menu) set.
    stack_set: tuple[tuple[str | None, str | None], ...] = ()
    entered_with: tuple[str | None, str | None] = (None, None)  # the current menu's
    visited: frozenset[str] = frozenset()
    attempts: int = 0
    keys: str = ""
    pending: tuple[Step, ...] = ()
    typeahead: str = ""
    collecting: Collecting | None = None
    category: str | None = None
    topic: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    path: tuple[str, ...] = ()  # the menus entered, in order (the IVR path)
    pressed: str = ""  # every key the caller pressed, in order
    transitions: int = 0
    finished: bool = False
    answering: Answering | None = None
    answered: tuple[str, ...] = ()  # the knowledge-base entries played, in order

    def variable(self, name: str) -> str | None:
        return dict(self.variables).get(name)


Result = tuple[Session, Command]


def _update(s: Session, **changes: object) -> Session:
    """`dataclasses.replace` for the session, without re-running __init__ on its eighteen
    fields: replace() was 84% of the engine's time per step."""
    new = object.__new__(Session)
    object.__setattr__(new, "__dict__", {**s.__dict__, **changes})
    return new


def start(plan: Dialplan, context: CallContext) -> Result:
    """A new call: run the dialplan's entry action."""
    session = Session(plan, context, pending=plan.entry, phase="steps")
    return _run(session)


def step(session: Session, event: Event) -> Result:
    """Feed the result of the last command; get the next command."""
    if session.finished:
        raise ValueError("the session has finished")
    if session.transitions >= MAX_TRANSITIONS:
        return _finish(_update(session, transitions=session.transitions + 1), None, "runaway")
    if isinstance(event, Key):
        session = _update(session, transitions=session.transitions + 1,
                          pressed=session.pressed + event.key)
    else:
        session = _update(session, transitions=session.transitions + 1)
    return _dispatch(session, event)


def _dispatch(session: Session, event: Event) -> Result:
    phase = session.phase
    if phase in ("greeting", "waiting", "inter_digit"):
        return _menu_event(session, event)
    if phase in ("collect_prompt", "collect_first", "collect_next"):
        return _collect_event(session, event)
    if phase in ("kb_answer", "kb_prompt", "kb_wait", "kb_note"):
        return _kb_event(session, event)
    if phase == "play":
        if isinstance(event, Key):
            session = _update(session, typeahead=session.typeahead + event.key)
        return _run(_update(session, phase="steps"))
    if phase == "queue" and isinstance(event, Done) and event.unanswered:
        steps = session.plan.unanswered.get(event.unanswered)
        if steps:
            # No menu to return to: these steps end the call.
            return _run(_update(session, phase="steps", pending=steps, menu=None))
        return _finish(session, None, f"unanswered-{event.unanswered}")
    if phase in ("queue", "voicemail", "dial"):
        return _finish(session, None, f"after-{phase}")
    raise ValueError(f"no event expected in phase {phase!r}")


# -- running actions --------------------------------------------------------------------------


def _run(s: Session) -> Result:
    while s.pending:
        current, rest = s.pending[0], s.pending[1:]
        s = _update(s, pending=rest)
        if isinstance(current, Goto):
            if s.menu is not None:
                s = _update(s, stack=(*s.stack, s.menu),
                            stack_set=(*s.stack_set, s.entered_with))
            return _enter(s, current.menu)
        if isinstance(current, Back):
            if s.stack:
                category, topic = s.stack_set[-1]
                return _enter(_update(s, stack=s.stack[:-1], stack_set=s.stack_set[:-1],
                                      category=category, topic=topic), s.stack[-1])
            return _enter(s, s.menu) if s.menu else _finish(s, None, "no-menu")
        if isinstance(current, Repeat):
            return _enter(s, s.menu) if s.menu else _finish(s, None, "no-menu")
        if isinstance(current, Play):
            return _update(s, phase="play"), PlayPrompts(current.prompts)
        if isinstance(current, SetCall):
            s = _update(s, category=current.category or s.category,
                        topic=current.topic or s.topic)
            continue
        if isinstance(current, When):
            branch = next((b for b in current.branches
                           if b.condition is None or _holds(b.condition, s.context)), None)
            if branch is not None:
                s = _update(s, pending=(*branch.then, *s.pending))
            continue
        if isinstance(current, Collect):
            s = _update(s, collecting=Collecting(current), phase="collect_prompt")
            return _listen(s, PlayPrompts((current.prompt,)))
        if isinstance(current, ToQueue):
            closed = s.context.queue_calendar.get(current.queue, "open") != "open"
            return _update(s, phase="queue"), JoinQueue(current.queue, current.prefer_region,
                                                        closed)
        if isinstance(current, ToVoicemail):
            return _update(s, phase="voicemail"), LeaveVoicemail(current)
        if isinstance(current, Transfer):
            return _update(s, phase="dial"), Dial(current.number, current.prompt)
        if isinstance(current, HangUp):
            return _finish(s, current.prompt, "hangup")
        if isinstance(current, KbMenu):
            return _kb_menu(s, current)
        if isinstance(current, KbPlay):
            item = s.context.kb.entry(current.entry_id, s.context.day, s.context.city)
            if item is None:
                # Withdrawn, out of force or another city's: back to the menu.
                if current.missing:
                    return _update(s, phase="play", pending=()), PlayPrompts(
                        (current.missing,))
                continue
            return _answer(s, item, current.feedback)
    # The action ended without leaving: back to the menu it was chosen in.
    if s.menu is None:
        return _finish(s, None, "no-menu")
    return _enter(s, s.menu)


def _holds(condition: Condition, context: CallContext) -> bool:
    if condition.calendar and context.state_of(condition.queue) not in condition.calendar:
        return False
    if condition.caller_prefix:
        caller = context.caller or ""
        if not any(caller.startswith(p) for p in condition.caller_prefix):
            return False
    return True


def _finish(s: Session, prompt: str | None, reason: str) -> Result:
    return _update(s, phase="finished", finished=True, pending=()), Finish(prompt, reason)


# -- menus ------------------------------------------------------------------------------------


def _menu(s: Session) -> Menu:
    assert s.menu is not None
    return s.plan.menus[s.menu]


def _enter(s: Session, name: str) -> Result:
    menu = s.plan.menus[name]
    greeting = menu.greeting_again if name in s.visited else menu.greeting_first
    s = _update(s, menu=name, phase="greeting", attempts=0, keys="", collecting=None,
                visited=s.visited | {name}, path=(*s.path, name),
                entered_with=(s.category, s.topic))
    return _listen(s, PlayPrompts(greeting))


def _listen(s: Session, command: PlayPrompts | ReadKey) -> Result:
    """Issue a command that reads keys, unless keys typed ahead answer it already."""
    if s.typeahead:
        key, rest = s.typeahead[0], s.typeahead[1:]
        # Already counted in `pressed` when it was typed.
        return _dispatch(_update(s, typeahead=rest), Key(key))
    return s, command


def _menu_event(s: Session, event: Event) -> Result:
    menu = _menu(s)
    if isinstance(event, PromptsDone):
        return _update(s, phase="waiting"), ReadKey(menu.timeout)
    if isinstance(event, NoKey):
        if s.phase == "inter_digit" and s.keys in menu.options:
            return _choose(s, s.keys)
        if s.phase == "inter_digit":
            return _retry(s, menu.invalid)
        return _retry(s, menu.no_input)
    if isinstance(event, Key):
        keys = s.keys + event.key
        longer = any(k != keys and k.startswith(keys) for k in menu.options)
        if keys in menu.options and not longer:
            return _choose(s, keys)
        if longer:
            return _listen(_update(s, keys=keys, phase="inter_digit"),
                           ReadKey(menu.inter_digit_timeout))
        return _retry(s, menu.invalid)
    raise ValueError(f"unexpected {event!r} in a menu")


def _choose(s: Session, keys: str) -> Result:
    action = _menu(s).options[keys]
    return _run(_update(s, keys="", phase="steps", pending=action))


def _retry(s: Session, prompt: str | None) -> Result:
    menu = _menu(s)
    attempts = s.attempts + 1
    if attempts >= menu.max_attempts:
        return _run(_update(s, attempts=attempts, keys="", phase="steps",
                            pending=menu.on_exhausted))
    prompts = ((prompt,) if prompt else ()) + menu.greeting_again
    # Keys typed after a wrong one are dropped: the caller hears why and starts again.
    return _update(s, attempts=attempts, keys="", phase="greeting", typeahead=""), \
        PlayPrompts(prompts)


# -- collecting digits ------------------------------------------------------------------------


def _collect_event(s: Session, event: Event) -> Result:
    assert s.collecting is not None
    col = s.collecting
    spec = col.step
    if isinstance(event, PromptsDone):
        return _update(s, phase="collect_first"), ReadKey(spec.timeout)
    if isinstance(event, Key):
        if event.key == spec.terminator:
            return _collected(s)
        digits = col.digits + event.key
        s = _update(s, collecting=replace(col, digits=digits), phase="collect_next")
        if len(digits) >= spec.max_length:
            return _collected(s)
        return _listen(s, ReadKey(spec.inter_digit_timeout))
    if isinstance(event, NoKey):
        if col.digits:
            return _collected(s)
        return _collect_failed(s)
    raise ValueError(f"unexpected {event!r} while collecting")


def _collected(s: Session) -> Result:
    assert s.collecting is not None
    col = s.collecting
    spec = col.step
    value = col.digits
    ok = spec.min_length <= len(value) <= spec.max_length and (
        spec.pattern is None or re.fullmatch(spec.pattern, value) is not None)
    if not ok:
        return _collect_failed(s)
    variables = (*tuple((k, v) for k, v in s.variables if k != spec.into), (spec.into, value))
    return _run(_update(s, collecting=None, phase="steps", variables=variables))


def _collect_failed(s: Session) -> Result:
    assert s.collecting is not None
    col = s.collecting
    spec = col.step
    attempts = col.attempts + 1
    if attempts >= spec.attempts:
        return _run(_update(s, collecting=None, phase="steps", pending=spec.on_fail))
    prompts = ((spec.invalid,) if spec.invalid else ()) + (spec.prompt,)
    s = _update(s, collecting=Collecting(spec, "", attempts), phase="collect_prompt",
                typeahead="")
    return s, PlayPrompts(prompts)


# -- the knowledge base ------------------------------------------------------------------------


def _kb_menu(s: Session, step: KbMenu) -> Result:
    """Enter the menu generated from the offered entries of `step.topic`; with none, play
    `step.empty` (if any) and return to the menu it was chosen in."""
    items = s.context.kb.offered(step.topic, s.context.day, s.context.city, step.max)
    if not items:
        if step.empty:
            return _update(s, phase="play", pending=()), PlayPrompts((step.empty,))
        return _run(_update(s, pending=()))
    here = s.plan.menus.get(s.menu) if s.menu is not None else None
    greeting: list[str] = list(step.greeting)
    options: dict[str, tuple[Step, ...]] = {}
    for key, item in enumerate(items, 1):
        greeting.extend((item.question_prompt, key_prompt(key)))
        options[str(key)] = (KbPlay(item.entry_id, step.feedback),)
    options["*"] = (Back(),)
    options["#"] = (Repeat(),)
    name = kb_menu_name(step.topic)
    menu = Menu(name, tuple(greeting), tuple(greeting), options,
                timeout=here.timeout if here else 5.0,
                max_attempts=here.max_attempts if here else 3,
                invalid=here.invalid if here else None,
                no_input=here.no_input if here else None,
                on_exhausted=(Back(),), self_service=True,
                label=s.plan.topic_label(step.topic) or step.topic)
    plan = replace(s.plan, menus={**s.plan.menus, name: menu})
    if s.menu is not None:
        s = _update(s, stack=(*s.stack, s.menu), stack_set=(*s.stack_set, s.entered_with))
    return _enter(_update(s, plan=plan, topic=step.topic), name)


def _answer(s: Session, item: KbItem, feedback: KbFeedback) -> Result:
    # Keys typed ahead of the answer are dropped: it is always played (and recorded), a
    # key pressed while it plays stops it.
    s = _update(s, answering=Answering(item, feedback), phase="kb_answer", pending=(),
                answered=(*s.answered, item.entry_id), topic=s.topic or item.topic,
                typeahead="")
    return s, PlayAnswer(item.entry_id, item.version, item.answer_prompt)


def _kb_event(s: Session, event: Event) -> Result:
    answering = s.answering
    assert answering is not None
    spec = answering.feedback
    if s.phase == "kb_note":
        if answering.chosen == "solved":
            return _finish(_update(s, answering=None), spec.thanks, "kb-solved")
        steps: tuple[Step, ...] = ((Play((spec.to_seat,)),) if spec.to_seat else ()) + (
            ToQueue(spec.queue),)
        return _run(_update(s, answering=None, phase="steps", pending=steps))
    if isinstance(event, Key):
        if event.key in (spec.solved, spec.seat):
            chosen = "solved" if event.key == spec.solved else "seat"
            return _update(s, answering=replace(answering, chosen=chosen),
                           phase="kb_note"), NoteFeedback(
                answering.item.entry_id, answering.item.version, chosen)
        return _kb_retry(s)
    if isinstance(event, PromptsDone):
        if s.phase == "kb_answer":
            return _listen(_update(s, phase="kb_prompt"), PlayPrompts((spec.prompt,)))
        return _listen(_update(s, phase="kb_wait"), ReadKey(FEEDBACK_TIMEOUT))
    if isinstance(event, NoKey):
        return _kb_retry(s)
    raise ValueError(f"unexpected {event!r} after an answer")


def _kb_retry(s: Session) -> Result:
    """A wrong key or none after an answer: its prompt once more, then back to the menu
    (the caller may choose another question)."""
    answering = s.answering
    assert answering is not None
    attempts = answering.attempts + 1
    if attempts >= FEEDBACK_ATTEMPTS:
        return _run(_update(s, answering=None, phase="steps", pending=(), typeahead=""))
    return _update(s, answering=replace(answering, attempts=attempts), phase="kb_prompt",
                   typeahead=""), PlayPrompts((answering.feedback.prompt,))


def self_served(s: Session) -> bool:
    """Whether the call was served by self-service answers: it walked a self-service
    menu (of the dialplan or generated from the knowledge base) or heard an entry."""
    return bool(s.answered) or any(
        is_kb_menu(m) or (m in s.plan.menus and s.plan.menus[m].self_service)
        for m in s.path)


# -- offline runs (hotline simulate) ------------------------------------------------------------


@dataclass
class Trace:
    steps: list[dict[str, object]] = field(default_factory=list)
    final: dict[str, object] = field(default_factory=dict)


def simulate(plan: Dialplan, context: CallContext, keys: list[str],
             ) -> tuple[Session, Trace]:
    """Walk the dialplan as a caller who presses `keys` in order, each as soon as the IVR
    listens (barge-in), and nothing after them. The same engine as live calls."""
    trace = Trace()
    remaining = list(keys)
    session, command = start(plan, context)
    while True:
        entry: dict[str, object] = {"menu": session.menu, "command": _describe(command)}
        if isinstance(command, PlayPrompts):
            entry["prompts"] = [_prompt_text(plan, p, context.kb) for p in command.prompts]
        elif isinstance(command, PlayAnswer):
            entry["prompts"] = [_prompt_text(plan, command.prompt, context.kb)]
        trace.steps.append(entry)
        event: Event
        if isinstance(command, NoteFeedback):
            event = Done()
        elif isinstance(command, (PlayPrompts, ReadKey, PlayAnswer)):
            if remaining:
                event = Key(remaining.pop(0))
            else:
                event = NoKey() if isinstance(command, ReadKey) else PromptsDone()
        else:
            # A queue, voicemail, transfer or hang-up: where the caller ends up.
            break
        entry["event"] = _describe(event)
        session, command = step(session, event)
    trace.final = {"action": _describe(command), "path": list(session.path),
                   "pressed": session.pressed, "category": session.category,
                   "topic": session.topic, "variables": dict(session.variables),
                   "unused_keys": "".join(remaining),
                   "kb_answers": list(session.answered)}
    if isinstance(command, Finish) and command.prompt:
        trace.final["prompt"] = _prompt_text(plan, command.prompt, context.kb)
    return session, trace


def _prompt_text(plan: Dialplan, name: str, kb: KbSnapshot = EMPTY) -> str:
    said = kb.text_of(name) if name.startswith("kb:") else None
    if said is not None:
        return f"{name}: {said}"
    prompt = plan.prompts.get(name)
    return f"{name}: {prompt.text}" if prompt and prompt.text else name


def _describe(item: Command | Event) -> str:
    if isinstance(item, PlayPrompts):
        return "play " + ", ".join(item.prompts)
    if isinstance(item, ReadKey):
        return f"wait for a key ({item.timeout:g} s)"
    if isinstance(item, JoinQueue):
        return f"queue {item.queue}" + (" (region first)" if item.prefer_region else "") + (
            " (closed by its hours: unanswered at once)" if item.closed else "")
    if isinstance(item, LeaveVoicemail):
        return f"voicemail {item.box}"
    if isinstance(item, Dial):
        return f"transfer to {item.number}"
    if isinstance(item, PlayAnswer):
        return f"answer {item.entry_id} (version {item.version})"
    if isinstance(item, NoteFeedback):
        return f"record {item.feedback} for {item.entry_id}"
    if isinstance(item, Finish):
        return "hang up" + (f" after {item.prompt}" if item.prompt else "") + (
            f" ({item.reason})" if item.reason not in ("hangup",) else "")
    if isinstance(item, Key):
        return f"key {item.key}"
    if isinstance(item, NoKey):
        return "no key (timeout)"
    if isinstance(item, PromptsDone):
        return "prompt finished"
    return "done" + (" (answered)" if item.answered else "")
