"""The call tracker's cost per call end as its memory of ended calls grows: 1,000 against
12,000 calls remembered (the last 10 minutes at about 1.7 and 20 calls/s).

`CallTracker` remembers every call that ended in the last `ended_memory` (10 minutes) so
that a late or replayed event cannot revive one. Until issue 13 every call end scanned
that whole memory for calls to forget (0.54 ms per call end at 4,000 remembered calls,
2.07 ms at 12,000 in the issue's load run): CPU per call grew with the call rate and the
event loop would saturate at about 86 calls/s sustained. The tracker now keeps the ends
in time order (a heap), so a call end costs the same whatever the memory holds.
"""

from __future__ import annotations

import gc
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench import Outcome, ratio
from hotline.core.calls.tracking import (
    Call,
    CallTracker,
    ChannelHungUp,
    DigitsPressed,
    IvrEntered,
    QueueJoined,
    QueueLeft,
    SeatCompleted,
    SeatConnected,
    SeatRinging,
)

TITLE = "Call tracker: cost per call end with 1,000 and 12,000 ended calls remembered"

SEED = 12366
MEMORIES = (1_000, 12_000)
ENDS = 2_000  # call ends timed per memory size and implementation
ROUNDS = 3  # best of, the sides alternating
MEMORY = timedelta(minutes=10)
TARGET = 1.2  # cost at 12,000 remembered / cost at 1,000

MEASURES = f"""
What a call end costs `hotline.core.calls.tracking.CallTracker` (pure, no I/O) when it
remembers {MEMORIES[0]:,} and {MEMORIES[1]:,} calls that ended in the last
{MEMORY.seconds // 60} minutes (`ended_memory`): the steady state of a sustained
{MEMORIES[0] / MEMORY.total_seconds():.1f} and {MEMORIES[1] / MEMORY.total_seconds():.0f}
calls/s. Target: the cost at {MEMORIES[1]:,} at most {TARGET:g}x the cost at
{MEMORIES[0]:,} (nothing grows with history).

- Each tracker is first filled with that many ended calls, ending evenly over the last 10
  minutes. Then {ENDS:,} more calls are played through it, each answered by a seat (IVR,
  a key, queue, ringing, connected, completed, hang-up: seed {SEED}), ends spaced so that the
  memory stays at its size (one old call forgotten per call end). Only
  `apply(ChannelHungUp)` of the caller is timed (`time.perf_counter_ns`, garbage
  collector on as in the service): the call end with its remembering and forgetting.
  The two memory sizes run side by side, their call ends interleaved one by one, so that
  the machine's other load weighs on both alike; the median is the figure compared.
- Sides: the tracker (`CallTracker`, ends kept in time order) and, as the reference
  measured in the same run, the same tracker with the scan it had before issue 13 (every
  call end looked at every remembered call). Best median of {ROUNDS} rounds each, the
  sides alternating; mean and p99 of the same round.
- The baseline of the ratio is the same side's cost at {MEMORIES[0]:,} remembered calls.
"""


class ScanningTracker(CallTracker):
    """The tracker as it was before issue 13: every call end scans the whole memory."""

    def _remember_end(self, call: Call, at: datetime) -> None:
        self.ended[call.linkedid] = at
        self.finished[call.linkedid] = call
        horizon = at - self.ended_memory
        for old in [lid for lid, t in self.ended.items() if t < horizon]:
            del self.ended[old]
            self.finished.pop(old, None)


T0 = datetime(2026, 12, 1, 1, 0, 0, tzinfo=UTC)


def play(tracker: CallTracker, lid: str, end: datetime, rng: random.Random) -> int:
    """One answered call ending at `end`; the nanoseconds its hang-up took."""
    chan = f"PJSIP/trunk-{lid}"
    start = end - timedelta(seconds=rng.uniform(30, 300))
    step = (end - start) / 8
    tracker.apply(IvrEntered(lid, lid, chan, f"139{rng.randrange(10**8):08d}", None), start)
    tracker.apply(DigitsPressed(lid, "1"), start + step)
    tracker.apply(QueueJoined(lid, lid, chan, "center", None, None), start + 2 * step)
    tracker.apply(SeatRinging(lid, "center", "8001"), start + 3 * step)
    tracker.apply(QueueLeft(lid, "center"), start + 4 * step)
    tracker.apply(SeatConnected(lid, "center", "8001", 2.0), start + 4 * step)
    tracker.apply(SeatCompleted(lid, 60.0), end)
    hangup = ChannelHungUp(lid, lid, "16")
    a = time.perf_counter_ns()
    call = tracker.apply(hangup, end)
    b = time.perf_counter_ns()
    assert call is not None
    assert call.ended_at == end
    return b - a


def filled(kind: type[CallTracker], memory: int) -> tuple[CallTracker, datetime]:
    """A tracker remembering `memory` calls ended evenly over the last 10 minutes, and
    the time of the last end."""
    tracker = kind(ended_memory=MEMORY)
    spacing = MEMORY / memory
    ends = [T0 + i * spacing for i in range(memory)]
    if kind is CallTracker:
        rng = random.Random(SEED)
        for i, end in enumerate(ends):
            play(tracker, f"fill-{i}", end, rng)
    else:
        # The scan's whole state is the two dicts: filled directly (through its own
        # path that would take minutes, which is the defect).
        sample = CallTracker(ended_memory=MEMORY)
        play(sample, "sample", T0, random.Random(SEED))
        final = sample.finished["sample"]
        for i, end in enumerate(ends):
            tracker.ended[f"fill-{i}"] = end
            tracker.finished[f"fill-{i}"] = final
    return tracker, ends[-1]


@dataclass
class Run:
    p50_us: float
    mean_us: float
    p99_us: float
    remembered: int  # at the end: the memory held its size


def measure(kind: type[CallTracker]) -> dict[int, Run]:
    """Both memory sizes, their call ends interleaved one by one (the order alternating)
    so that whatever else the machine does weighs on both alike."""
    trackers = {memory: filled(kind, memory) for memory in MEMORIES}
    rngs = {memory: random.Random(SEED + memory) for memory in MEMORIES}
    samples: dict[int, list[int]] = {memory: [] for memory in MEMORIES}
    gc.collect()
    for i in range(ENDS):
        for memory in (MEMORIES if i % 2 == 0 else MEMORIES[::-1]):
            tracker, last = trackers[memory]
            end = last + (i + 1) * (MEMORY / memory)
            samples[memory].append(play(tracker, f"t-{i}", end, rngs[memory]))
    out = {}
    for memory, values in samples.items():
        values.sort()
        out[memory] = Run(values[len(values) // 2] / 1e3, sum(values) / len(values) / 1e3,
                          values[min(len(values) - 1, int(len(values) * 0.99))] / 1e3,
                          len(trackers[memory][0].ended))
    return out


def run() -> Outcome:
    sides = (("tracker (ends in time order)", CallTracker),
             ("reference: the scan before issue 13", ScanningTracker))
    best: dict[tuple[str, int], Run] = {}
    for round_no in range(ROUNDS):
        order = sides if round_no % 2 == 0 else sides[::-1]
        for name, kind in order:
            for memory, result in measure(kind).items():
                key = (name, memory)
                if key not in best or result.p50_us < best[key].p50_us:
                    best[key] = result
                print(f"round {round_no + 1}: {name}, {memory:,} remembered: "
                      f"{result.p50_us:,.1f} µs per call end (median)", flush=True)
    rows = []
    met = True
    for name, _kind in sides:
        small, large = best[(name, MEMORIES[0])], best[(name, MEMORIES[1])]
        growth = large.p50_us / small.p50_us
        is_tracker = name == sides[0][0]
        if is_tracker:
            met = growth <= TARGET
        for memory, result in ((MEMORIES[0], small), (MEMORIES[1], large)):
            last = memory == MEMORIES[1]
            rows.append([f"{name}, {memory:,} remembered", f"{result.p50_us:,.1f}",
                         f"{result.mean_us:,.1f}", f"{result.p99_us:,.1f}",
                         f"{result.remembered:,}", ratio(result.p50_us, small.p50_us),
                         (f"≤ {TARGET:g}x" if is_tracker else "(reference)") if last else "",
                         ("yes" if met else "**no**") if last and is_tracker else ""])
    tracker_large = best[(sides[0][0], MEMORIES[1])]
    scan_large = best[(sides[1][0], MEMORIES[1])]
    tracker_small = best[(sides[0][0], MEMORIES[0])]
    scan_small = best[(sides[1][0], MEMORIES[0])]
    notes = [
        f"at {MEMORIES[1]:,} remembered calls a call end costs the tracker "
        f"{tracker_large.p50_us:,.1f} µs (median) against {scan_large.p50_us:,.1f} µs with "
        f"the scan ({scan_large.p50_us / tracker_large.p50_us:,.0f}x less); growth from "
        f"{MEMORIES[0]:,} to {MEMORIES[1]:,}: "
        f"{tracker_large.p50_us / tracker_small.p50_us:.2f}x (target ≤ {TARGET:g}x: "
        f"{'met' if met else 'NOT met'}), the scan's "
        f"{scan_large.p50_us / scan_small.p50_us:.1f}x.",
    ]
    return Outcome(["tracker, memory", "µs per call end (median)", "mean (µs)", "p99 (µs)",
                    "remembered at the end", "vs 1,000 remembered", "target", "met"],
                   rows, notes, targets_met=met)
