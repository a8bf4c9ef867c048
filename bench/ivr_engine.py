"""YAML dialplans and the IVR engine: engine steps/s, and digit -> next AGI command turnaround.

1. The pure engine (`hotline.core.ivr.engine.start/step`) on dialplans/12366.yaml, sessions
   driven through a weighted mix of realistic key sequences, against a table-driven state
   machine holding the same transitions (one dict lookup per step), and against the
   100,000 steps/s target.
2. The in-process turnaround from a key arriving (an AsyncAGIExec that carries it) to the
   next AGI action being sent, through the real path: one `AmiGateway` connected to a fake
   Asterisk (bench/fake_asterisk.py) on 127.0.0.1, 1,000 `IvrRunner`s on the 12366
   dialplan, each on a channel of its own; against a bare asyncio client on the same fake
   server (the loopback round trip without hotline).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from bench import Outcome, ratio, thousands
from bench.fake_asterisk import BareClient, FakeAsterisk, cycle_keys, uniform_pause
from hotline.core.ivr import engine
from hotline.core.ivr.dialplan import Dialplan, load_dialplan
from hotline.core.ivr.engine import (
    CallContext,
    Command,
    Done,
    Finish,
    Key,
    NoKey,
    PlayPrompts,
    PromptsDone,
    ReadKey,
)
from hotline.features.ivr.prompts import PromptStore
from hotline.features.ivr.runner import IvrRunner, Progress
from hotline.pbx.events import AgiCommandEnded, AgiCommandStarted, CallsEvent, KeyReceived
from hotline.pbx.gateway import AmiError, AmiGateway, EventGap

TITLE = "YAML dialplans and the IVR engine: engine steps/s, key -> next AGI command turnaround"

ROOT = Path(__file__).resolve().parents[1]
DIALPLAN = ROOT / "dialplans" / "12366.yaml"
SEED = 12366

# -- part 1: the pure engine -------------------------------------------------------------------

ENGINE_SESSIONS = 3_000  # sessions per timed run
ENGINE_RUNS = 5
TARGET_STEPS = 100_000  # steps/s

# -- part 2: turnaround --------------------------------------------------------------------------

SESSIONS = 1_000  # IVR sessions at once (each replaced by a new call when it ends)
PAUSE = (0.3, 1.7)  # seconds a reading command takes (the caller's pause), uniform
RAMP = 1.0  # seconds over which the sessions start
WARMUP = 2.0  # seconds after the ramp before samples are kept
WINDOW = 9.0  # seconds of samples
TARGET_P99_MS = 5.0

_TAXPAYER_15 = " ".join("340104197812056")
_TAXPAYER_20 = " ".join("34010419781205601234")

# (weight, calendar, keys): one key per listen (a prompt, or a wait for a key), pressed at
# once (barge-in); "_": the caller lets that prompt play to its end / lets the wait time
# out; after the last key the caller presses nothing more.
SCENARIOS: tuple[tuple[int, str, str], ...] = (
    (10, "open", "1 1"),  # consultation: individual income tax
    (5, "open", "1 2"),  # social insurance
    (5, "open", "1 3"),  # invoices
    (3, "open", "1 4"),  # property and land (region first)
    (3, "open", "1 5"),  # other taxes
    (4, "open", "2"),  # tip-off
    (3, "open", "3"),  # complaint
    (2, "open", "4"),  # suggestion
    (6, "open", "0"),  # straight to a seat
    (4, "open", "5 2 1 * *"),  # FAQ: income tax, back, back, then silence
    (3, "open", "5 1"),  # office hours, then silence until goodbye
    (5, "open", ""),  # no key at all
    (5, "open", "_ _ 1 _ 3"),  # hears the greeting out, waits, then chooses
    (4, "open", "7 8 1 6 3"),  # invalid keys on the way
    (2, "open", "9 9 9"),  # invalid until the attempts run out
    (2, "open", "# 1 * 2"),  # repeat, consultation, back, tip-off
    (1, "open", "2 0"),  # a key typed during the tip-off prompt
    (5, "open", f"1 9 {_TAXPAYER_15} #"),  # progress enquiry: a 15-digit taxpayer ID
    (2, "open", "1 9 1 2 3 4 5 # " + _TAXPAYER_15 + " #"),  # too short, then right
    (1, "open", f"1 9 {_TAXPAYER_20}"),  # 20 digits: max_length ends it, no #
    (1, "open", "1 9 _"),  # enquiry, then silence
    (3, "after_hours", ""),  # closed: no key, voicemail
    (4, "after_hours", "2"),  # closed: voicemail
    (2, "non_working_day", "1 2 2 * *"),  # closed: self-service FAQ
)

MEASURES = f"""
Two measures for the YAML dialplans and the IVR engine, on dialplans/12366.yaml.

**1. Engine steps/s.** `hotline.core.ivr.engine.start` / `step` (pure, no I/O) driven through
{ENGINE_SESSIONS:,} sessions per run, drawn (seed {SEED}) from {len(SCENARIOS)} weighted key
sequences: "1 1", "2", "0", "5 2 1 * *", no key at all, invalid keys ("7 8 1 6 3",
"9 9 9"), prompts heard out before choosing, a key typed during a prompt, the progress
enquiry collecting a 15-digit taxpayer ID ("1 9 3 4 0 ... #", also too short then right,
and 20 digits without `#`), after hours and on a non-working day. The driver acts as the
AGI adapter does: a key when one is scripted, else `PromptsDone` / `NoKey`, `Done` after a
queue / voicemail, until `Finish`. steps/s = `step()` calls / seconds (the time includes
each session's `start()` and the driver); best of {ENGINE_RUNS} runs after a warm-up run.
Baseline: a table-driven state machine holding the same transitions (built beforehand
from the engine's own runs of these sessions: state x event -> next state and command,
one dict lookup per step) walked by the same driver: the floor for a step in CPython,
so the ratio is the share of that floor the engine reaches. Checked outside the timing:
both give the same commands and the same step count. Target: ≥ {TARGET_STEPS:,} steps/s.

**2. Turnaround, key -> next AGI command**, at {SESSIONS:,} IVR sessions at once, in one
process and one event loop: a fake Asterisk (bench/fake_asterisk.py) on 127.0.0.1, one
real `AmiGateway` logged in to it, with the service's typed `calls` subscription (it
hands the AGI command and key events to the runner of the channel, as the service
does) and {SESSIONS:,} `IvrRunner`s (`ANSWER`, then `run()`), each on a channel of its
own; a finished session is replaced by a new call. The fake answers every AGI action with
`Response: Success` and an `AsyncAGIExec` (the 18 headers Asterisk 22 sends, URL-encoded
`Result`): reading commands (STREAM FILE with escape digits, WAIT FOR DIGIT) after the
caller's pause, uniform {PAUSE[0]:g}–{PAUSE[1]:g} s (≈ {SESSIONS / sum(PAUSE) * 2:,.0f} reading
results/s overall), with the session's next scripted key (the same mix as part 1, one key
per reading command; `result=<ASCII code>`) or none; anything else (ANSWER, EXEC Queue /
VoiceMail, SET VARIABLE, HANGUP) at once. Turnaround = from just before the fake writes
an AsyncAGIExec carrying a key to the read that brings the next AGI action of that
channel, both taken with `time.perf_counter` on the server side. Sessions start over
{RAMP:g} s; samples are kept for {WINDOW:g} s after {WARMUP:g} s of warm-up. GC on, as in the
service. Baseline: the same fake server and pauses with a bare asyncio client (no
hotline) that sends each channel's next reading command as soon as its AsyncAGIExec
arrives, {SESSIONS:,} channels: the loopback round trip in the same loop, so the ratio is
hotline's overhead. The fake emits no AGIExecStart / AGIExecEnd / DTMFEnd events.
Target: p99 ≤ {TARGET_P99_MS:g} ms.
"""


# -- part 1 ----------------------------------------------------------------------------------------

EVENTS: dict[str, engine.Event] = {k: Key(k) for k in "0123456789*#"}
EVENTS |= {"done": PromptsDone(), "nokey": NoKey(), "ended": Done()}

Session = tuple[CallContext, tuple[str, ...]]


def sessions(count: int, seed: int = SEED) -> list[Session]:
    rng = random.Random(seed)
    weights = [w for w, _, _ in SCENARIOS]
    picked = rng.choices(SCENARIOS, weights, k=count)
    return [(CallContext(f"1{rng.randrange(30, 99)}{rng.randrange(10**8):08d}", calendar),
             tuple(keys.split())) for _, calendar, keys in picked]


def drive_engine(plan: Dialplan, work: Sequence[Session]) -> int:
    """Run every session through the engine; returns the number of step() calls."""
    start, step, events = engine.start, engine.step, EVENTS
    steps = 0
    for context, keys in work:
        session, command = start(plan, context)
        i, n = 0, len(keys)
        while True:
            kind = type(command)
            if kind is PlayPrompts or kind is ReadKey:
                token = keys[i] if i < n else "_"
                i += 1
                if token == "_":
                    token = "done" if kind is PlayPrompts else "nokey"
            elif kind is Finish:
                break
            else:
                token = "ended"
            session, command = step(session, events[token])
            steps += 1
    return steps


Node = dict[str, tuple["Node", Command]]


def drive_table(work: Sequence[tuple[tuple[Node, Command], tuple[str, ...]]]) -> int:
    """The baseline: the same driver over precomputed transitions."""
    steps = 0
    for root, keys in work:
        node, command = root
        i, n = 0, len(keys)
        while True:
            kind = type(command)
            if kind is PlayPrompts or kind is ReadKey:
                token = keys[i] if i < n else "_"
                i += 1
                if token == "_":
                    token = "done" if kind is PlayPrompts else "nokey"
            elif kind is Finish:
                break
            else:
                token = "ended"
            node, command = node[token]
            steps += 1
    return steps


def trace(plan: Dialplan, context: CallContext, keys: tuple[str, ...]
          ) -> tuple[Command, list[tuple[str, Command]]]:
    """The engine's commands for one session: the first, then (event token, command)."""
    session, command = engine.start(plan, context)
    first, out = command, []
    i = 0
    while not isinstance(command, Finish):
        if isinstance(command, (PlayPrompts, ReadKey)):
            token = keys[i] if i < len(keys) else "_"
            i += 1
            if token == "_":
                token = "done" if isinstance(command, PlayPrompts) else "nokey"
        else:
            token = "ended"
        session, command = engine.step(session, EVENTS[token])
        out.append((token, command))
    return first, out


def build_table(plan: Dialplan, work: Sequence[Session]
                ) -> list[tuple[tuple[Node, Command], tuple[str, ...]]]:
    """The baseline's state machine: a tree of transitions per calendar state (the only
    part of the context 12366's dialplan looks at), merged over every distinct session."""
    roots: dict[str, tuple[Node, Command]] = {}
    done: set[tuple[str, tuple[str, ...]]] = set()
    for context, keys in work:
        if (context.calendar, keys) in done:
            continue
        done.add((context.calendar, keys))
        first, steps = trace(plan, context, keys)
        root = roots.setdefault(context.calendar, ({}, first))
        if root[1] != first:
            raise AssertionError("the engine's first command depends on more than the calendar")
        node = root[0]
        for token, command in steps:
            child = node.get(token)
            if child is None:
                child = node[token] = ({}, command)
            elif child[1] != command:
                raise AssertionError(f"the engine is not deterministic after {token!r}")
            node = child[0]
    return [(roots[context.calendar], keys) for context, keys in work]


def check_table(plan: Dialplan, work: Sequence[Session],
                table: Sequence[tuple[tuple[Node, Command], tuple[str, ...]]]) -> None:
    """Both sides give the same commands, session by session."""
    for (context, keys), (root, _) in zip(work, table, strict=True):
        first, steps = trace(plan, context, keys)
        node, command = root
        if command != first:
            raise AssertionError("the table's first command differs from the engine's")
        for token, want in steps:
            node, command = node[token]
            if command != want:
                raise AssertionError(f"the table differs from the engine after {token!r}")


@dataclass
class EngineResult:
    steps: int
    engine_times: list[float]
    table_times: list[float]
    outcomes: dict[str, int]

    @property
    def engine_rate(self) -> float:
        return self.steps / min(self.engine_times)

    @property
    def table_rate(self) -> float:
        return self.steps / min(self.table_times)


def measure_engine(plan: Dialplan) -> EngineResult:
    work = sessions(ENGINE_SESSIONS)
    table = build_table(plan, work)
    check_table(plan, work, table)
    outcomes: dict[str, int] = {}
    for context, keys in work:
        _, steps = trace(plan, context, keys)
        last = steps[-1][1]
        assert isinstance(last, Finish)
        if last.reason.startswith("after-") and len(steps) > 1:
            name = engine._describe(steps[-2][1])  # the queue / voicemail it ended in
        else:
            name = "hang up" + (f" after {last.prompt}" if last.prompt else "")
        outcomes[name] = outcomes.get(name, 0) + 1
    steps = drive_engine(plan, work)
    if drive_table(table) != steps:
        raise AssertionError("the table and the engine counted different steps")
    engine_times, table_times = [], []
    for _ in range(ENGINE_RUNS):
        gc.collect()
        start = time.perf_counter()
        drive_engine(plan, work)
        engine_times.append(time.perf_counter() - start)
        gc.collect()
        start = time.perf_counter()
        drive_table(table)
        table_times.append(time.perf_counter() - start)
    return EngineResult(steps, engine_times, table_times, outcomes)


# -- part 2 ----------------------------------------------------------------------------------------


@dataclass
class Turnaround:
    samples: list[float]  # seconds
    seconds: float
    reads: int
    keys: int
    sessions_started: int = 0
    sessions_finished: int = 0
    errors: list[str] = field(default_factory=list)
    gaps: int = 0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
        return ordered[index]

    @property
    def maximum(self) -> float:
        return max(self.samples) if self.samples else float("nan")


def _scripts(seed: int) -> list[tuple[str, list[str | None]]]:
    """Per slot, a stream of (calendar, keys per reading command) for its calls."""
    return [(context.calendar, [None if k == "_" else k for k in keys])
            for context, keys in sessions(SESSIONS * 8, seed)]


async def turnaround_hotline(plan: Dialplan) -> Turnaround:
    server = FakeAsterisk(uniform_pause(*PAUSE, seed=SEED))
    await server.start()
    gateway = AmiGateway("127.0.0.1", server.port, "hotline", "bench")
    runners: dict[str, IvrRunner] = {}
    result = Turnaround([], 0.0, 0, 0)

    def on_event(event: CallsEvent | EventGap) -> None:
        if isinstance(event, EventGap):
            result.gaps += 1
            return
        if isinstance(event, AgiCommandStarted | AgiCommandEnded | KeyReceived):
            runner = runners.get(event.channel)
            if runner is not None:
                runner.on_event(event)

    gateway.subscribe_calls(on_event)
    connection = asyncio.create_task(gateway.run())
    await gateway.wait_connected(5)
    prompts = PromptStore(Path("/var/lib/hotline/prompts"),
                          "/var/lib/hotline/prompts").for_dialplan(plan.name)
    scripts = _scripts(SEED + 1)
    progress: list[Progress] = []

    def report(item: Progress) -> None:
        if progress:
            progress[0] = item
        else:
            progress.append(item)

    async def slot(index: int) -> None:
        await asyncio.sleep(index * RAMP / SESSIONS)
        for generation in range(1 << 30):
            calendar, keys = scripts[(index * 7 + generation) % len(scripts)]
            channel = f"PJSIP/12366-trunk-{index:04d}{generation:04x}"
            server.script(channel, keys)
            runner = IvrRunner(gateway, channel, plan, CallContext("13912366000", calendar),
                               prompts, report, lambda: False)
            runners[channel] = runner
            result.sessions_started += 1
            try:
                await runner.agi.answer()
                await runner.run()
                result.sessions_finished += 1
            except AmiError as exc:
                result.errors.append(f"{channel}: {exc}")
            finally:
                runners.pop(channel, None)

    tasks = [asyncio.create_task(slot(i)) for i in range(SESSIONS)]
    await asyncio.sleep(RAMP + WARMUP)
    reads, keys = server.reads, server.keys
    server.recording = True
    started = time.perf_counter()
    await asyncio.sleep(WINDOW)
    server.recording = False
    result.seconds = time.perf_counter() - started
    result.reads, result.keys = server.reads - reads, server.keys - keys
    result.samples = server.samples
    for task in tasks:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    result.errors += [repr(o) for o in outcomes
                      if isinstance(o, BaseException) and not isinstance(o, asyncio.CancelledError)]
    await gateway.close()
    connection.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await connection
    await server.close()
    return result


async def turnaround_bare() -> Turnaround:
    server = FakeAsterisk(uniform_pause(*PAUSE, seed=SEED))
    await server.start()
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_connection(BareClient, "127.0.0.1", server.port)
    await asyncio.wait_for(client.logged_in, 5)
    scripts = _scripts(SEED + 1)

    def begin(index: int) -> None:
        channel = f"PJSIP/12366-trunk-{index:04d}0000"
        server.script(channel, cycle_keys(scripts[index * 7 % len(scripts)][1] + [None]))
        client.send(channel.encode())

    for i in range(SESSIONS):
        loop.call_later(i * RAMP / SESSIONS, begin, i)
    await asyncio.sleep(RAMP + WARMUP)
    reads, keys = server.reads, server.keys
    server.recording = True
    started = time.perf_counter()
    await asyncio.sleep(WINDOW)
    server.recording = False
    seconds = time.perf_counter() - started
    result = Turnaround(server.samples, seconds, server.reads - reads, server.keys - keys,
                        SESSIONS)
    transport.close()
    await server.close()
    return result


@contextlib.contextmanager
def quiet_logs() -> Any:
    """hotline logs `ami.connected` and the like at info: keep the output to warnings."""
    old = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**old)


# -- the report ---------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def _ratio(value: float, baseline: float) -> str:
    """Like bench.ratio, with two significant digits below 0.1x (0.0047x, not 0.00x)."""
    if not baseline:
        return "n/a"
    r = value / baseline
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"


def run() -> Outcome:
    plan, problems = load_dialplan(DIALPLAN, "dialplans/12366.yaml")
    if plan is None:
        raise AssertionError("dialplans/12366.yaml does not compile: "
                             + "; ".join(str(p) for p in problems))
    started = time.perf_counter()
    eng = measure_engine(plan)
    print(f"engine: {eng.steps:,} steps per run, best {min(eng.engine_times) * 1000:.0f} ms "
          f"({time.perf_counter() - started:.1f} s)", flush=True)

    with quiet_logs():
        started = time.perf_counter()
        bare = asyncio.run(turnaround_bare())
        print(f"bare client: {len(bare.samples):,} samples "
              f"({time.perf_counter() - started:.1f} s)", flush=True)
        started = time.perf_counter()
        hot = asyncio.run(turnaround_hotline(plan))
        print(f"hotline: {len(hot.samples):,} samples, {hot.sessions_finished:,} calls "
              f"finished ({time.perf_counter() - started:.1f} s)", flush=True)

    steps_met = eng.engine_rate >= TARGET_STEPS
    p99 = hot.percentile(99)
    p99_met = p99 * 1000 <= TARGET_P99_MS and not hot.errors and not hot.gaps
    columns = ["measure", "hotline", "baseline", "hotline / baseline", "target", "met"]
    rows = [
        ["engine steps/s, 12366 (best of 5); baseline: table-driven state machine",
         thousands(eng.engine_rate), thousands(eng.table_rate),
         _ratio(eng.engine_rate, eng.table_rate),
         f"≥ {TARGET_STEPS:,} steps/s (reached: {eng.engine_rate / TARGET_STEPS:.2f}x)",
         "yes" if steps_met else "**no**"],
        ["engine µs per step (best run)", f"{1e6 / eng.engine_rate:.1f}",
         f"{1e6 / eng.table_rate:.2f}", ratio(1 / eng.engine_rate, 1 / eng.table_rate),
         f"≤ {1e6 / TARGET_STEPS:.0f} µs", "yes" if steps_met else "**no**"],
        ["key -> next AGI action, p50 (ms); baseline: bare asyncio client",
         _ms(hot.percentile(50)), _ms(bare.percentile(50)),
         ratio(hot.percentile(50), bare.percentile(50)), "", ""],
        ["key -> next AGI action, p99 (ms)", _ms(p99), _ms(bare.percentile(99)),
         ratio(p99, bare.percentile(99)), f"≤ {TARGET_P99_MS:g} ms",
         "yes" if p99_met else "**no**"],
        ["key -> next AGI action, p99.9 (ms)", _ms(hot.percentile(99.9)),
         _ms(bare.percentile(99.9)), ratio(hot.percentile(99.9), bare.percentile(99.9)),
         "", ""],
        ["key -> next AGI action, max (ms)", _ms(hot.maximum), _ms(bare.maximum),
         ratio(hot.maximum, bare.maximum), "", ""],
        ["samples (keys answered in the window)", thousands(len(hot.samples)),
         thousands(len(bare.samples)), "", "", ""],
        ["reading results/s sent by the fake", thousands(hot.reads / hot.seconds),
         thousands(bare.reads / bare.seconds), "", "", ""],
    ]
    mix = ", ".join(f"{name} {count:,}" for name, count in
                    sorted(eng.outcomes.items(), key=lambda kv: -kv[1]))
    notes = [
        f"engine: {eng.steps:,} steps in {ENGINE_SESSIONS:,} sessions per run "
        f"({eng.steps / ENGINE_SESSIONS:.1f} per session); runs "
        f"{min(eng.engine_times) * 1000:.0f}–{max(eng.engine_times) * 1000:.0f} ms, baseline "
        f"{min(eng.table_times) * 1000:.1f}–{max(eng.table_times) * 1000:.1f} ms. Where the "
        f"sessions end: {mix}.",
        f"engine vs target: **{thousands(eng.engine_rate)} steps/s = "
        f"{eng.engine_rate / TARGET_STEPS:.2f}x the {TARGET_STEPS:,} steps/s target** "
        f"({'met' if steps_met else 'NOT met'}).",
        f"turnaround: **p99 {_ms(p99)} ms** at {SESSIONS:,} sessions (target ≤ "
        f"{TARGET_P99_MS:g} ms: {'met' if p99_met else 'NOT met'}); p50 {_ms(hot.percentile(50))} "
        f"ms; hotline adds {_ms(hot.percentile(50) - bare.percentile(50))} ms at p50 and "
        f"{_ms(p99 - bare.percentile(99))} ms at p99 over the bare loopback round trip.",
        f"hotline side: {hot.sessions_started:,} calls started, {hot.sessions_finished:,} "
        f"finished over the whole run; {len(hot.errors)} errors, {hot.gaps} event gaps."
        + (f" First error: {hot.errors[0]}" if hot.errors else ""),
    ]
    return Outcome(columns, rows, notes, targets_met=steps_met and p99_met)
