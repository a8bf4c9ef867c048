"""The realistic run of bench/sip_load: real SIP callers on the shipped 12366 menu, to
Local seats that answer (`python -m bench sip_realistic`, in `make bench`; or
`python -m bench.sip_load --realistic`).

No native side: there is no native 12366 menu to measure against. What it measures is
hotline's own cost on the line as it ships (the menu, the queue, the seats, the routing
loop), against Asterisk's on the same calls.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bench import Outcome

ROOT = Path(__file__).resolve().parents[2]
LINE_SEATS = 40
LINE_SEAT_IDS = tuple(str(8001 + n) for n in range(LINE_SEATS))
LINE_KEYS = "1 1"  # main: 1 consultation -> consult: 1 individual income tax -> queue iit
LINE_QUEUE = "iit"
LINE_PATH = "main>consult"
LINE_TALK_S = 2.0  # each seat talks this long (SEAT_TALK_<seat>), then hangs up
LINE_SIZE = (400, 10.0)  # calls, calls/s
TARGET_SHARE = 0.25  # hotline's CPU per call at most this share of Asterisk's (issue 13)

TITLE = ("Realistic run: SIP callers on the shipped 12366 menu to 40 Local seats that "
         "answer (hotline's CPU against Asterisk's; QueueStatus rounds)")

MEASURES = f"""
hotline's cost on the line as it ships, against Asterisk's on the same calls
(bench/sip_load/line.py), on one Asterisk instance of the bench's own:

- Calls: {LINE_SIZE[0]:,} at {LINE_SIZE[1]:g} calls/s from SIPp over the trunk (the scenario
  `hotline.pbx.sipp.caller_scenario` writes, silent caller), to 12366: the shipped
  dialplans/12366.yaml over FastAGI; keys `{LINE_KEYS}` as RFC 4733 events 0.5 s and 1.5 s
  after the answer (barge-in into the welcome and the consultation menu), so the caller
  hears 转接 and waits in queue `{LINE_QUEUE}`; a seat answers, talks {LINE_TALK_S:g} s
  (`SEAT_TALK_<seat>`) and hangs up; hotline ends the call (SIPp waits for the BYE).
- Seats: {LINE_SEATS} Local seats (`Local/<seat>@seats/n`, the sandbox's answering seat), in
  the 8 queues of config/routing.yaml (each seat in `center`, `{LINE_QUEUE}` and two more,
  round robin; wrap-up 0 s so a seat is free again at once), all logged in (in the ledger,
  as `hotline seats login` records it), made members by hotline's routing loop before the
  calls start.
- CPU: utime+stime from /proc of Asterisk and of the `hotline run` process, from SIPp's
  start to 1 s after it exits, per call; hotline's as a share of Asterisk's (target ≤
  {TARGET_SHARE:.0%}).
- QueueStatus rounds: hotline's AMI link runs through a relay of the bench's
  (`AmiCounter`) that counts, on the wire, the `Action: QueueStatus` hotline sends (each
  routing round sends one) and the list events of the replies (QueueParams, QueueMember,
  QueueEntry); per second over the same window, and the most in one second.
- Rows: hotline's ledger rows of the run's calls (one caller number per run) with
  outcome `answered`, keys `11`, path `{LINE_PATH}`, queue `{LINE_QUEUE}` and a seat.
- No native side: there is no native 12366 menu; the ratio is hotline against Asterisk
  on the same calls.
"""


def line_skills() -> dict[str, list[str]]:
    """Each seat's queues: `center`, LINE_QUEUE and two of the other six, round robin."""
    routing = yaml.safe_load((ROOT / "config" / "routing.yaml").read_text(encoding="utf-8"))
    others = [q for q in routing["queues"] if q not in ("center", LINE_QUEUE)]
    return {seat: ["center", LINE_QUEUE, others[(2 * n) % len(others)],
                   others[(2 * n + 1) % len(others)]]
            for n, seat in enumerate(LINE_SEAT_IDS)}


def line_routing(folder: Path) -> Path:
    """config/routing.yaml's queues (wrap-up 0 s) with LINE_SEATS Local seats of the
    centre instead of the demo seats; written into `folder`."""
    routing = yaml.safe_load((ROOT / "config" / "routing.yaml").read_text(encoding="utf-8"))
    for queue in routing["queues"].values():
        queue["wrapup"] = 0
    routing["seats"] = {
        seat: {"name": f"座席{seat}", "group": "centre", "device": f"Local/{seat}@seats/n",
               "skills": dict.fromkeys(queues, 5)}
        for seat, queues in line_skills().items()}
    path = folder / "routing.yaml"
    path.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
    return path


def line_row_right(row: tuple[object, ...]) -> bool:
    """(ended_at, outcome, digits, ivr_path, queue, seat, wait): answered by a seat."""
    return (row[1], row[2], row[3], row[4]) == ("answered", "11", LINE_PATH, LINE_QUEUE) \
        and bool(row[5])


async def seats_logged_in(ledger: Path, seats: tuple[str, ...]) -> None:
    """These seats logged in, in the ledger (as `hotline seats login` records it)."""
    from hotline.ledger.seats import SeatBook
    from hotline.ledger.store import Ledger

    book = await Ledger.open(ledger)
    try:
        for seat in seats:
            await SeatBook(book).record(seat, "login", at=datetime.now(UTC), actor="bench")
    finally:
        await book.close()


COLUMNS = ["run", "calls ok", "failed", "rows right", "seats that answered",
           "Asterisk CPU ms/call", "hotline CPU ms/call", "hotline / Asterisk",
           "QueueStatus rounds /s (mean / most in 1 s)", "QueueStatus reply events /s",
           "answer p50 / p99 ms", "queue wait p50 / p99 s", "call p50 / p99 s"]


def measure(calls: int = LINE_SIZE[0], rate: float = LINE_SIZE[1],
            keep: bool = False) -> Outcome:
    from bench.sip_load import bench_in, ms, pct

    with bench_in("bench-sip-line-", keep, line=True) as bench:
        r = bench.run_line(calls, rate)
    if r.errors.strip():
        print(f"    {r.errors.strip()[-600:]}", flush=True)
    window = r.wall
    per_second: dict[int, int] = {}
    for t in r.action_times:
        per_second[int(t - r.started)] = per_second.get(int(t - r.started), 0) + 1
    a_ms = r.asterisk_cpu / max(r.calls, 1) * 1000
    h_ms = r.hotline_cpu / max(r.calls, 1) * 1000
    share = r.hotline_cpu / r.asterisk_cpu if r.asterisk_cpu else float("nan")
    rounds = r.status_actions / window
    row = [f"hotline FastAGI, 12366 keys {LINE_KEYS}, {r.calls:,} at {r.rate:g}/s",
           f"{r.ok:,}/{r.calls:,}", str(r.failed), f"{r.rows_right:,}/{r.rows:,}",
           f"{r.seats}/{LINE_SEATS}", f"{a_ms:.2f}", f"{h_ms:.2f}", f"{share:.0%}",
           f"{rounds:.2f} / {max(per_second.values(), default=0)}",
           f"{r.status_events / window:,.0f}",
           f"{ms(pct(r.answer, 50))} / {ms(pct(r.answer, 99))}",
           f"{pct(r.waits, 50):.3f} / {pct(r.waits, 99):.3f}",
           f"{pct(r.length, 50):.3f} / {pct(r.length, 99):.3f}"]
    ok = r.failed == 0 and r.ok == r.calls
    rows_ok = r.rows == r.rows_right == r.calls
    share_ok = share <= TARGET_SHARE
    notes = [
        f"{r.calls:,} calls at {r.rate:g}/s (placed at {r.placed_rate:.1f}/s), "
        f"{LINE_SEATS} seats, SIPp's window {window:.1f} s: failed calls {r.failed} "
        f"(target 0: {'met' if ok else 'missed'}); rows right "
        f"{'all' if rows_ok else 'NOT all'} ({r.rows_right:,} of {r.rows:,} rows, "
        f"{r.calls:,} calls).",
        f"CPU per call: Asterisk {a_ms:.2f} ms, hotline {h_ms:.2f} ms: hotline **{share:.0%}** "
        f"of Asterisk's (target ≤ {TARGET_SHARE:.0%}: {'met' if share_ok else 'missed'}).",
        f"QueueStatus on hotline's AMI link: {r.status_actions:,} actions in {window:.1f} s "
        f"(**{rounds:.2f} rounds/s**, at most {max(per_second.values(), default=0)} in one "
        f"second), {r.status_events:,} reply events ({r.status_events / window:,.0f}/s, "
        f"{r.status_events / max(r.status_actions, 1):.0f} per round).",
        "No native side: there is no native 12366 menu to compare with; the share is "
        "hotline's CPU against Asterisk's on the same calls.",
        f"The machine (2 cores) was shared with other agents' work during the run "
        f"(1-minute load average {r.load:.1f} at its end), and SIPp runs on it too.",
    ]
    if r.waits:
        notes.insert(1, f"Queue wait (the rows' wait_seconds): mean "
                        f"{statistics.fmean(r.waits):.3f} s, p50 {pct(r.waits, 50):.3f} s.")
    return Outcome(COLUMNS, [row], notes, ok and rows_ok and share_ok)


def run() -> Outcome:
    """`make bench`: 400 calls at 10/s."""
    return measure()
