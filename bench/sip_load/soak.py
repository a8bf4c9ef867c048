"""The soak run of bench/sip_load: 10 minutes of real SIP calls at 40 calls/s on the
12397 menu over FastAGI, hotline's CPU per call minute by minute
(`python -m bench.sip_load --soak`, or `python -m bench sip_soak`; not in `make bench`:
about 11 minutes of both cores).

Whether anything in hotline grows with history: its CPU per call in the first minute and
in the last should be the same, and its memory should come back to a plateau.
"""

from __future__ import annotations

import bisect

from bench import Outcome

# calls/s: a rate this 2-core machine carries with Asterisk and hotline on it (at 80/s
# SIPp placed 61/s and 9,310 of 48,000 calls failed: a soak that measures the machine)
SOAK_RATE = 40.0
SOAK_SECONDS = 600.0
SOAK_LIMIT = 950  # calls at once at most (the instance's RTP ports)
TARGET_GROWTH = 1.15  # last minute's CPU per call / first minute's, at most ("the same")

TITLE = (f"Soak: 10 minutes of SIP calls at {SOAK_RATE:g} calls/s, hotline's CPU per call "
         "minute by minute (nothing grows with history)")

MEASURES = f"""
Whether hotline's cost per call grows with the calls it has seen (bench/sip_load/soak.py):

- Calls: SIPp as in the sip_load section (silent caller, the key `1` 1 s after the
  answer, ~4.2 s calls) to hotline's 12397 menu over FastAGI, {SOAK_RATE:g} calls/s for
  {SOAK_SECONDS / 60:g} minutes ({SOAK_RATE * SOAK_SECONDS:,.0f} calls, at most {SOAK_LIMIT} at
  once), one `hotline run` process for the whole run, on an Asterisk instance of the
  bench's own. Not in `make bench`: `python -m bench.sip_load --soak`.
- Every second, from /proc: Asterisk's and hotline's CPU (utime+stime) and hotline's RSS.
- Per minute of the run (from SIPp's start): the calls whose middle (their BYE less half
  their length, from SIPp's RTT trace) falls in that minute, plus the calls that failed
  in it (SIPp's per-second statistics: a failed call has no length), and the CPU spent
  in it; CPU per call = CPU of the minute / those calls. Answer p50 of the calls
  answered in it. A minute with failed calls is not comparable with one without (a
  failed call costs another amount than a whole one): the run then says so.
- Target (issue 13): hotline's CPU per call the same in the first and the last minute
  (taken as ≤ {TARGET_GROWTH:.2f}x); 0 failed calls; a right ledger row per call (outcome
  `ended_in_ivr`, key `1`, path `main`).
"""

COLUMNS = ["minute", "calls (failed)", "hotline CPU ms/call", "Asterisk CPU ms/call",
           "hotline CPU % of a core", "hotline RSS MiB (at its end)", "answer p50 ms"]


def _at(samples: list[tuple[float, float, float, int]], t: float, index: int) -> float:
    """Field `index` of the samples at time `t`, interpolated linearly."""
    times = [s[0] for s in samples]
    i = bisect.bisect_left(times, t)
    if i <= 0:
        return samples[0][index]
    if i >= len(samples):
        return samples[-1][index]
    (t0, *a), (t1, *b) = samples[i - 1], samples[i]
    share = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
    return a[index - 1] + (b[index - 1] - a[index - 1]) * share


def measure(rate: float = SOAK_RATE, seconds: float = SOAK_SECONDS,
            keep: bool = False) -> Outcome:
    from bench.sip_load import bench_in, ms, pct

    calls = round(rate * seconds)
    with bench_in("bench-sip-soak-", keep) as bench:
        r = bench.run("hotline", "silent", calls, rate, SOAK_LIMIT, sample=True)
    if r.errors.strip():
        print(f"    {r.errors.strip()[-600:]}", flush=True)
    # A minute each in the 10-minute run; a tenth of a shorter one (a trial run), but
    # 10 s at least (a window shorter than a call has no call's middle in it at first).
    window = 60.0 if seconds >= 600 else max(10.0, seconds / 10)
    mids = sorted(end - length / 2 for end, length in zip(r.ends, r.length, strict=True))
    answers = sorted(zip(r.answer_at, r.answer, strict=True))
    rows: list[list[str]] = []
    per_call: list[float] = []
    n = round(seconds / window)
    for k in range(n):
        # Equal windows; a call counts where its middle falls (with the cost spread over
        # the call, the ramps at both ends are no bias: the calls whose middle falls after
        # the last window spend their CPU after it, mostly).
        t0, t1 = r.started + k * window, r.started + (k + 1) * window
        failed = sum(f for at, _, f in r.periods if t0 <= at < t1)
        count = bisect.bisect_left(mids, t1) - bisect.bisect_left(mids, t0) + failed
        hot = _at(r.samples, t1, 2) - _at(r.samples, t0, 2)
        ast = _at(r.samples, t1, 1) - _at(r.samples, t0, 1)
        rss = _at(r.samples, t1, 3)
        answered = [a for at, a in answers if t0 <= at < t1]
        h_ms = hot / max(count, 1) * 1000
        per_call.append(h_ms)
        rows.append([f"{k + 1} ({k * window:.0f}-{(k + 1) * window:.0f} s)",
                     f"{count:,} ({failed:,})",
                     f"{h_ms:.2f}", f"{ast / max(count, 1) * 1000:.2f}",
                     f"{hot / (t1 - t0):.0%}", f"{rss / 1024:.1f}",
                     ms(pct(answered, 50))])
    rss_start = r.samples[0][3] / 1024 if r.samples else 0.0
    rss_end = r.samples[-1][3] / 1024 if r.samples else 0.0
    rss_peak = max((s[3] for s in r.samples), default=0) / 1024
    growth = per_call[-1] / per_call[0] if per_call and per_call[0] else float("nan")
    ok = r.failed == 0 and r.ok == r.calls
    rows_ok = r.rows == r.rows_right == r.calls
    grew_ok = growth <= TARGET_GROWTH
    unit = "minute" if window == 60 else f"{window:g} s window"
    if r.failed:
        notes_failed = [
            f"**Not a valid soak**: {r.failed:,} calls failed (SIPp placed {r.placed_rate:.1f} "
            f"calls/s of the {r.rate:g} asked): the machine did not carry the rate, so the "
            "minutes are not comparable and the first-against-last ratio says nothing about "
            "growth with history. Run it again on a quieter machine."]
    else:
        notes_failed = []
    notes = [
        f"{r.calls:,} calls at {r.rate:g}/s for {seconds:g} s (placed at {r.placed_rate:.1f}/s): "
        f"calls ok {r.ok:,}, failed {r.failed} (target 0: {'met' if ok else 'missed'}); rows "
        f"right {r.rows_right:,} of {r.rows:,} ({'all' if rows_ok else 'NOT all'}).",
        f"hotline's CPU per call: first {unit} {per_call[0]:.2f} ms, last {per_call[-1]:.2f} ms "
        f"(**{growth:.2f}x**; target the same, taken as ≤ {TARGET_GROWTH:.2f}x: "
        f"{'not judged: calls failed' if r.failed else 'met' if grew_ok else 'missed'}); "
        "over the whole run "
        f"{r.hotline_cpu / max(r.calls, 1) * 1000:.2f} ms (Asterisk "
        f"{r.asterisk_cpu / max(r.calls, 1) * 1000:.2f} ms).",
        f"hotline's RSS: {rss_start:.1f} MiB at SIPp's start, {rss_end:.1f} MiB at the end "
        f"(1 s after SIPp exited), {rss_peak:.1f} MiB at most.",
        f"The machine (2 cores) was shared with other agents' work (1-minute load average "
        f"{r.load:.1f} at the run's end); SIPp and Asterisk run on it too.",
        *notes_failed,
    ]
    return Outcome(COLUMNS, rows, notes, ok and rows_ok and grew_ok)


def run() -> Outcome:
    """`python -m bench sip_soak`: the 10-minute run at SOAK_RATE calls/s (40)."""
    return measure()
