"""`hotline check`, `hotline simulate` and `hotline prompts build`: the dialplans as an
administrator validates, walks and voices them."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hotline.common.errors import BadKeys, ConfigError, DialplanInvalid, DialplanMissing
from hotline.features.cli_support import Context, a_datetime, a_path, a_text, relative

if TYPE_CHECKING:
    from hotline.core.ivr.dialplan import Dialplan
    from hotline.core.ivr.kbline import KbSnapshot
    from hotline.features.cli_support import Subparsers


def register(sub: Subparsers) -> None:
    check = sub.add_parser("check", help="validate dialplans and what they refer to")
    check.add_argument("paths", nargs="*", type=a_path, metavar="PATH",
                       help="dialplan files or folders (default: the configured ones)")
    check.set_defaults(handler=cmd_check)

    simulate = sub.add_parser("simulate", help="walk a dialplan offline, as a caller")
    simulate.add_argument("--dialplan", type=a_path, metavar="FILE", help="a dialplan file")
    simulate.add_argument("--line", type=a_text,
                          help="the dialplan to use among the configured ones (default 12366)")
    simulate.add_argument("--at", type=a_datetime, metavar="ISO-DATETIME",
                          help="the moment of the call (default now; no offset: Beijing)")
    simulate.add_argument("--caller", type=a_text, metavar="NUMBER")
    simulate.add_argument("--city", type=a_text, metavar="BUREAU",
                          help="the caller's city bureau (routing.yaml's remote group) for "
                          "local knowledge-base entries; default: by the caller's area code")
    simulate.add_argument("--keys", default="", type=a_text, help='keys pressed, e.g. "1 2 #"')
    simulate.add_argument("--json", action="store_true")
    simulate.set_defaults(handler=cmd_simulate, paths=None)

    prompts = sub.add_parser("prompts", help="prompt audio")
    psub = prompts.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)
    pbuild = psub.add_parser("build", help="make each prompt playable (recording or speech)")
    pbuild.add_argument("--dialplan", type=a_path, metavar="FILE")
    pbuild.set_defaults(handler=cmd_prompts_build)


def _dialplan_paths(args: argparse.Namespace, ctx: Context) -> list[Path]:
    given = getattr(args, "paths", None) or []
    return [Path(p) for p in given] or ctx.dialplan_paths


def cmd_check(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.features.ivr.registry import dialplan_files, load_all

    paths = _dialplan_paths(args, ctx)
    routing_errors = 0
    try:
        queues = ctx.known_queues()
    except ConfigError as exc:  # the routing file is broken: report it, check the rest
        for routing_problem in exc.problems:
            print(routing_problem)
        routing_errors, queues = len(exc.problems), None
    result = load_all(paths, queues, display_root=Path.cwd())
    for problem in result.problems:
        print(problem)
    errors = len(result.errors)
    warnings = len(result.problems) - errors
    files = len(dialplan_files(paths))
    calendar_errors, calendar_warnings = _check_calendar(ctx, queues)
    errors += calendar_errors + routing_errors + _check_kb_words(ctx) + _check_quality(ctx)
    warnings += calendar_warnings
    if queues is not None:
        unchecked = ""
    elif routing_errors:
        unchecked = f" (queues not checked: {relative(ctx.routing_path)} has errors)"
    else:
        unchecked = " (queues not checked: no routing file)"
    warnings += _check_kb(ctx, list(result.plans.values()))
    print(f"{files} file(s), {len(result.plans)} dialplan(s): {errors} error(s), "
          f"{warnings} warning(s)" + unchecked)
    return 1 if errors else 0


def _knowledge_base(ctx: Context) -> KbSnapshot | None:
    """The published entries of the ledger's knowledge base (None: no ledger yet)."""
    import asyncio

    from hotline.features.kb.line import published

    if not ctx.ledger_path.is_file():
        return None
    return asyncio.run(published(ctx.ledger_path))


def _check_kb(ctx: Context, plans: list[Dialplan]) -> int:
    """Warnings for the kb_menu and kb steps (topics no dialplan sets; topics with no
    entry and entries not offered today, by the ledger's knowledge base)."""
    from hotline.common.clock import CHINA
    from hotline.core.ivr.lint import dialplan_topics, kb_problems

    kb = _knowledge_base(ctx)
    today = datetime.now(UTC).astimezone(CHINA).date()
    topics = dialplan_topics(plans)
    count = 0
    for plan in plans:
        for problem in kb_problems(plan, kb, today, topics):
            print(problem)
            count += 1
    if kb is None:
        print(f"knowledge-base entries not checked: no ledger at {ctx.ledger_path} yet")
    return count


def _check_calendar(ctx: Context, queues: set[str] | None) -> tuple[int, int]:
    """Validate config/calendar.yaml (queue_hours against routing's `queues`) and warn
    about years without an official schedule."""
    from hotline.common.clock import CHINA

    try:
        calendar = ctx.calendar(queues)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return len(exc.problems), 0
    year = datetime.now(CHINA).year
    missing = calendar.missing_years([year, year + 1])
    for item in missing:
        print(f"{relative(ctx.calendar_path)}:1: years: warning: no official schedule for "
              f"{item}: Monday to Friday are taken as working days and only 1 Jan, 1-2 May "
              f"and 1-3 Oct as holidays; add years.{item} when the State Council publishes "
              "it")
    return 0, len(missing)


def _check_kb_words(ctx: Context) -> int:
    """Print the problems of the knowledge base's search words (the tax terms'
    dictionary, the synonyms); their number."""
    from hotline.features.kb import words

    found = words.problems(*ctx.kb_words_paths())
    for problem in found:
        print(problem)
    return len(found)


def _check_quality(ctx: Context) -> int:
    """Print the problems of config/quality.yaml (the quality review's plan and form);
    their number. A broken routing.yaml is reported by the routing check, not here."""
    from hotline.common.errors import QualityPlanInvalid

    try:
        ctx.quality_plan()
    except QualityPlanInvalid as exc:
        for problem in exc.problems:
            print(problem)
        return len(exc.problems)
    except ConfigError:
        return 0
    return 0


def load_plan(args: argparse.Namespace, ctx: Context) -> Dialplan:
    """The dialplan --dialplan names, or --line among the configured ones (12366)."""
    from hotline.features.ivr.registry import load_all

    paths = [Path(args.dialplan)] if args.dialplan else _dialplan_paths(args, ctx)
    result = load_all(paths, ctx.known_queues(), display_root=Path.cwd())
    if result.errors:
        raise DialplanInvalid([str(p) for p in result.errors])
    if args.dialplan or (args.line is None and len(result.plans) == 1):
        return next(iter(result.plans.values()))
    plan = result.plans.get(args.line or "12366")
    if plan is None:
        raise DialplanMissing([f"no dialplan named {args.line or '12366'!r} (found: "
                           f"{', '.join(sorted(result.plans))})"])
    return plan


def plans_for(ctx: Context, queues: set[str] | None) -> list[Dialplan]:
    """The configured dialplans, checked against `queues` (None: no routing file)."""
    from hotline.features.ivr.registry import load_all

    result = load_all(ctx.dialplan_paths, queues, display_root=Path.cwd())
    if result.errors:
        raise DialplanInvalid([str(p) for p in result.errors])
    return list(result.plans.values())


def cmd_simulate(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import CHINA
    from hotline.core.ivr.engine import CallContext, simulate
    from hotline.core.ivr.kbline import EMPTY
    from hotline.features.calls.testcall import check_number

    plan = load_plan(args, ctx)
    keys = [c for c in (args.keys or "") if not c.isspace()]
    bad = sorted({k for k in keys if k not in "0123456789*#"})
    if bad:
        raise BadKeys([f"--keys: {''.join(bad)!r} is not a key (use 0-9, * and #)"])
    caller = check_number(args.caller) if args.caller else None
    at = args.at or datetime.now(UTC)
    calendar = ctx.calendar()
    state = calendar.state(at)
    queues = {queue: calendar.state(at, queue) for queue in calendar.queue_hours}
    city = _city(ctx, args.city, caller)
    kb = _knowledge_base(ctx) or EMPTY
    _, trace = simulate(plan, CallContext(caller, state, queues, kb=kb,
                                          day=at.astimezone(CHINA).date(), city=city), keys)
    if args.json:
        print(json.dumps({"dialplan": plan.name, "version": plan.version,
                          "at": at.isoformat(), "calendar": state, "city": city,
                          "queue_calendar": queues, "caller": caller,
                          "steps": trace.steps, "final": trace.final}, ensure_ascii=False))
        return 0
    print(f"dialplan {plan.name} ({plan.source}), {at.isoformat()}: {state}"
          + "".join(f", {queue} {queue_state}" for queue, queue_state in queues.items())
          + (f", caller {caller}" if caller else "") + (f", city {city}" if city else ""))
    for i, entry in enumerate(trace.steps, 1):
        print(f"{i:3}. [{entry['menu'] or '-'}] {entry['command']}")
        for text in entry.get("prompts", []) or []:  # type: ignore[attr-defined]
            print(f"       “{text}”")
        if "event" in entry:
            print(f"       -> {entry['event']}")
    final = trace.final
    print(f"final: {final['action']}")
    print(f"  path: {' > '.join(final['path']) or '-'}; keys: {final['pressed'] or '-'}")  # type: ignore[arg-type]
    for key in ("category", "topic"):
        if final.get(key):
            print(f"  {key}: {final[key]}")
    if final.get("variables"):
        print(f"  collected: {final['variables']}")
    if final.get("kb_answers"):
        print(f"  knowledge-base answers: {', '.join(final['kb_answers'])}")  # type: ignore[arg-type]
    if final.get("unused_keys"):
        print(f"  keys never used: {final['unused_keys']}")
    return 0


def _city(ctx: Context, given: str | None, caller: str | None) -> str | None:
    """--city (a city bureau of routing.yaml), else the bureau of the caller's area code."""
    routing = ctx.routing()
    bureaus = sorted(g.id for g in routing.groups.values() if g.remote) if routing else []
    if given is not None:
        if given not in bureaus:
            raise ConfigError(f"--city: {given!r} is not a city bureau (bureaus: "
                              f"{', '.join(bureaus) or 'none: no routing file'})")
        return given
    group = routing.group_for_caller(caller) if routing is not None else None
    return group.id if group is not None else None


def cmd_prompts_build(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.features.ivr.prompts import prompts_of

    plan_args = argparse.Namespace(dialplan=args.dialplan, line=None, paths=None)
    plans = ([load_plan(plan_args, ctx)] if args.dialplan
             else plans_for(ctx, ctx.known_queues()))
    store = ctx.prompts()
    for plan in plans:
        target = store.for_dialplan(plan.name)
        built = target.build(prompts_of(plan), plan.language)
        print(f"{plan.name}: {len(built)} built, {len(plan.prompts) - len(built)} "
              f"up to date, in {target.host_dir}")
    if not args.dialplan:
        phrases, numbers = ctx.queue_sounds()
        built = ctx.build_queue_sounds()
        print(f"queue announcements: {len(built)} built, in {phrases.host_dir}"
              + (f" and {numbers.host_dir}" if numbers is not None else
                 " (numbers: set prompts.asterisk_sounds_dir to Asterisk's sounds folder)"))
    return 0
