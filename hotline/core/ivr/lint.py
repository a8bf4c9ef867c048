"""Checks of a compiled dialplan beyond its schema: references, reachability, loops with no
way out, options that shadow each other, prompts with nothing to play."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import date
from functools import partial
from itertools import takewhile

from hotline.common.yamlsrc import Sourced
from hotline.core.ivr.dialplan import (
    TERMINAL,
    Back,
    Collect,
    Dialplan,
    Goto,
    KbMenu,
    KbPlay,
    Problem,
    Reference,
    Repeat,
    SetCall,
    Step,
    When,
)
from hotline.core.ivr.kbline import KbSnapshot


def walk(steps: Iterable[Step]) -> Iterator[Step]:
    """Every step, nested ones (when branches, collect's on_fail) included."""
    for step in steps:
        yield step
        if isinstance(step, When):
            for branch in step.branches:
                yield from walk(branch.then)
        elif isinstance(step, Collect):
            yield from walk(step.on_fail)


def menu_steps(plan: Dialplan, name: str) -> list[Step]:
    menu = plan.menus[name]
    steps: list[Step] = []
    for action in menu.options.values():
        steps.extend(walk(action))
    steps.extend(walk(menu.on_exhausted))
    return steps


def lint(plan: Dialplan, source: Sourced, refs: list[Reference],
         queues: Iterable[str] | None) -> list[Problem]:
    problems: list[Problem] = []

    def report(path: tuple[str | int, ...], message: str, severity: str = "error") -> None:
        problems.append(Problem(source.filename, source.line_of(path), path, message,
                                severity))

    known_queues = set(queues) if queues is not None else None
    used_prompts = set()
    for ref in refs:
        if ref.kind == "menu" and ref.name not in plan.menus:
            report(ref.path, f"unknown menu '{ref.name}'{_suggest(ref.name, plan.menus)}")
        elif ref.kind == "prompt":
            used_prompts.add(ref.name)
            if ref.name not in plan.prompts:
                report(ref.path, f"unknown prompt '{ref.name}'{_suggest(ref.name, plan.prompts)}")
        elif ref.kind == "queue" and known_queues is not None and ref.name not in known_queues:
            report(ref.path, f"unknown queue '{ref.name}' (routing knows: "
                   f"{', '.join(sorted(known_queues)) or 'none'})")

    for name, prompt in plan.prompts.items():
        if not prompt.text and prompt.file is None:
            report(("prompts", name), "a prompt needs text or a recorded file (or both)")
        elif name not in used_prompts:
            report(("prompts", name), "prompt is never played", "warning")

    # Menus reachable from the entry. Each menu's steps are walked once: the fixpoints
    # below then cost little whatever the number of menus.
    steps_of = {name: menu_steps(plan, name) for name in plan.menus}
    edges = {name: {s.menu for s in steps if isinstance(s, Goto)}
             for name, steps in steps_of.items()}
    has_back = {name for name, steps in steps_of.items()
                if any(isinstance(s, Back) for s in steps)}
    start = {s.menu for s in walk(plan.entry) if isinstance(s, Goto)}
    reachable: set[str] = set()
    todo = [m for m in start if m in plan.menus]
    while todo:
        current = todo.pop()
        if current in reachable:
            continue
        reachable.add(current)
        todo.extend(m for m in edges[current] if m in plan.menus)
    for name in plan.menus:
        if name not in reachable:
            report(("menus", name), "menu is unreachable from the entry", "warning")

    # A way out: a terminal step (queue, voicemail, transfer, hangup) reachable from the menu.
    # `back` returns to a menu on the call's stack: one that is reachable and goes here.
    parents: dict[str, set[str]] = {name: set() for name in plan.menus}
    for name, targets in edges.items():
        if name not in reachable:
            continue
        for target in targets:
            if target in parents:
                parents[target].add(name)
    # A knowledge-base answer offers its seat queue: a way out.
    exits = {name for name, steps in steps_of.items()
             if any(isinstance(s, (*TERMINAL, KbMenu, KbPlay)) for s in steps)}
    entry_exits = any(isinstance(s, TERMINAL) for s in walk(plan.entry))
    changed = True
    while changed:
        changed = False
        for name in plan.menus:
            if name in exits:
                continue
            via_goto = bool(edges[name] & exits)
            via_back = name in has_back and bool(parents[name] & exits)
            if via_goto or via_back:
                exits.add(name)
                changed = True
    for name in sorted(reachable - exits):
        report(("menus", name), "a loop with no way out: no queue, voicemail, transfer or "
               "hangup can be reached from this menu, so callers would go round forever")
    # A caller who presses nothing exhausts every menu: each on_exhausted must end the call
    # or go to menus that do so themselves (a least fixpoint, so no cycle counts).
    silent_safe: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name in sorted(reachable - silent_safe):
            back_to = parents[name] | ({name} if name in start else set())  # top: re-enter
            if _settles(plan.menus[name].on_exhausted, back_to, silent_safe):
                silent_safe.add(name)
                changed = True
    for name in sorted((reachable & exits) - silent_safe):
        report(("menus", name, "on_exhausted"), "a loop with no way out for a caller who "
               "presses nothing: on_exhausted never leads to a queue, voicemail, transfer "
               "or hangup, so the call would go round forever")
    if not start and not entry_exits:
        report(("entry",), "the entry goes to no menu and ends nothing")

    # Options that shadow longer ones: after `1`, hotline must wait to see if `2` follows.
    for name, menu in plan.menus.items():
        keys = sorted(menu.options)
        for i, short in enumerate(keys):
            # Sorted, the keys that start with `short` come right after it.
            longer = list(takewhile(partial(_extends, short), keys[i + 1:]))
            if longer:
                report(("menus", name, "options", short),
                       f"option '{short}' shadows {', '.join(repr(k) for k in longer)}: "
                       f"callers who press {short} wait {menu.inter_digit_timeout:g} s for "
                       "another key", "warning")
    return problems


def dialplan_topics(plans: Iterable[Dialplan]) -> set[str]:
    """The topics the options of `plans` set (`set: {topic: ...}`): the knowledge
    base's topics."""
    return {s.topic for plan in plans for name in plan.menus
            for s in menu_steps(plan, name) if isinstance(s, SetCall) and s.topic}


def kb_problems(plan: Dialplan, kb: KbSnapshot | None, day: date | None,
                topics: Collection[str] | None = None) -> list[Problem]:
    """Warnings (never errors: entries come and go) for the knowledge-base steps of
    `plan`: a topic no dialplan sets (`topics`, None: not checked); against the entries
    of `kb` offered on `day` (None: not checked), a topic that lists no entry (the
    province's or any city's), an entry that is not offered."""
    problems: list[Problem] = []
    for name in plan.menus:
        for step in menu_steps(plan, name):
            if isinstance(step, KbMenu):
                line = step.feedback.line
                if topics is not None and step.topic not in topics:
                    problems.append(Problem(plan.source, line, ("menus", name),
                                            f"kb_menu: topic '{step.topic}' is set by no "
                                            "dialplan option (topics: "
                                            f"{', '.join(sorted(topics))})", "warning"))
                elif kb is not None and not any(
                        i.offered(day, i.scope) for i in kb.by_topic.get(step.topic, ())):
                    problems.append(Problem(plan.source, line, ("menus", name),
                                            f"kb_menu: topic '{step.topic}' has no "
                                            "published entry in force: callers hear the "
                                            "menu they came from", "warning"))
            elif isinstance(step, KbPlay) and kb is not None:
                item = kb.by_id.get(step.entry_id)
                if item is None or not item.offered(day, item.scope):
                    problems.append(Problem(plan.source, step.feedback.line, ("menus", name),
                                            f"kb: entry {step.entry_id} is not published "
                                            "(or not in force): callers hear the menu "
                                            "instead", "warning"))
    return problems


def _extends(short: str, key: str) -> bool:
    return key.startswith(short)


def _settles(steps: tuple[Step, ...], back_to: set[str], safe: set[str]) -> bool:
    """Whether running `steps` with no key pressed surely ends the call or enters a menu in
    `safe`, whichever `when` branch is taken and whether a `collect` succeeds or fails
    (`back_to`: where `back` may return). An action that ends without leaving its menu
    enters that menu again: not settled."""
    for i, step in enumerate(steps):
        if isinstance(step, TERMINAL):
            return True
        if isinstance(step, Goto):
            return step.menu in safe
        if isinstance(step, Back):
            return bool(back_to) and back_to <= safe
        if isinstance(step, Repeat):
            return False
        rest = steps[i + 1:]
        if isinstance(step, When):
            if not all(_settles((*b.then, *rest), back_to, safe) for b in step.branches):
                return False
            if any(b.condition is None for b in step.branches):
                return True
        elif isinstance(step, Collect) and not _settles(step.on_fail, back_to, safe):
            return False  # a failed collect runs on_fail instead of the rest
    return False


def _suggest(name: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
