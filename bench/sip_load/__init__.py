"""Real SIP calls against native Asterisk: `python -m bench sip_load` (quick size, in
`make bench`) or `python -m bench.sip_load --full` (every size; rewrites the section too).

SIPp (Debian's sip-tester) plays the carrier over the sandbox's trunk with scenarios that
hotline.pbx.sipp generates: answer, one key (RFC 4733) 1 s after the answer while the
greeting plays (barge-in), a short prompt, the line hangs up. The same calls go to a
native context (`Read` over the greeting, `Playback`, `Hangup`) and to the hotline YAML
menu of the same shape (bench/sip_load/ holds both), on one Asterisk instance of the
bench's own, A/B/A/B; hotline is a separate `hotline run` process started for each of
its runs. Needs root (the sandbox chroot, SIPp's raw socket for play_dtmf), the built
sandbox, sipp and sox.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import Outcome

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).resolve().parent
HOTLINE_EXTEN = "12397"  # [from-carrier] _123XX -> [ivr] -> hotline's dialplan "12397"
NATIVE_EXTEN = "12398"  # [from-carrier] 12398 -> [bench-native] (bench/sip_load/native.conf)
KEY_AFTER = 1.0  # s from the answer to the key (the greeting lasts GREETING_S)
GREETING_S = 4.0
SHORT_S = 2.5
RTP_CALLS = 950  # the instance's 2,000 RTP ports: an RTP and an RTCP port per call
SEARCH_RATES = (60, 80, 100, 140, 180, 220)
SEARCH_CALLS = 1000
EXPECTED_ROW = ("ended_in_ivr", "1", "main")  # a row's (outcome, digits, ivr_path)

TITLE = "Real SIP calls (SIPp over the trunk): hotline's YAML menu vs native Asterisk"

MEASURES = """
What hotline costs on real calls, against Asterisk's native dialplan doing the same, on
one Asterisk instance of the bench's own (bench/sip_load.py):

- Calls: SIPp (Debian's sip-tester) as the carrier, from the trunk's address, with the
  scenario `hotline.pbx.sipp.caller_scenario` writes: INVITE, answer, the key `1` as RFC
  4733 events 1 s after the answer (while a 4 s greeting plays: barge-in), a 2.5 s prompt,
  the line hangs up (~4 s calls). *silent*: the caller sends no RTP but the key; *audio*:
  the caller plays a G.711 A-law tone (`tone_pcap`) from 1 s after the key to the end.
- native: `[bench-native]` (bench/sip_load/native.conf, appended to the bench instance's
  extensions.conf): `Answer`, `Read(KEY,greeting,1,,1,5)`, `Playback(short)`, `Hangup`.
  hotline: the shipped entry (`[from-carrier]` -> `[ivr]`: FastAGI to hotline with its
  lease) and bench/sip_load/12397.yaml: a menu playing the same greeting file with
  barge-in, key `1` -> `hangup: short`. hotline is a separate `hotline run` process
  (FastAGI + AMI), started before each of its runs, idle 2 s after Asterisk's
  FullyBooted, stopped after.
- A/B/A/B: native, hotline, native, hotline for each size, one instance, one run.
- CPU: utime+stime from /proc/PID/stat of Asterisk and of the hotline process, from
  SIPp's start to 1 s after it exits. *total* = Asterisk + hotline (native: Asterisk).
- Answer: SIPp's response time INVITE -> 200 (`-trace_rtt`); call: 200 -> BYE received.
  SIPp's clock moves in steps of about 4 ms here (its times are multiples of 4 ms): a p50
  is one of those steps, the mean is finer.
- "placed /s": the rate SIPp placed the calls at (first to last INVITE); with at most 500
  calls at once and ~4.2 s calls, 2,000 "at 150/s" are placed at ~115/s.
- Failed: SIPp's FailedCall count (any unexpected message, a timeout or a retransmission
  limit); rows: hotline's ledger rows of the run's calls (one caller number per run) that
  ended with outcome `ended_in_ivr`, keys `1`, path `main`.
- Highest rate: SEARCH_CALLS calls at each of SEARCH_RATES calls/s (silent caller, at most
  950 at once: the RTP ports), native and hotline alternating at each rate; a side
  sustains a rate when no call failed, SIPp placed them at >= 95 % of the rate, and (for
  hotline) every row is right. A side stops at its first rate it does not sustain.
- Targets (issue 13): 0 failed calls; rows = calls, outcomes right; total CPU <= 1.15x
  native; answer p50 <= native + 10 ms; call p50 <= native + 50 ms (silent and audio);
  hotline's CPU per call the same at 40/s and 150/s; highest rate >= 90 % of native's.
- The machine is shared with other agents' work (builds, tests): absolute figures move
  with it; compare the ratios within one run. SIPp runs on the same 2 cores.
"""

SIZES = {"quick": [(400, 40.0, 500)], "full": [(400, 40.0, 500), (2000, 150.0, 500)]}


@dataclass
class Result:
    side: str  # native | hotline
    caller: str  # silent | audio
    calls: int
    rate: float
    limit: int
    ok: int = 0
    failed: int = 0
    answer: list[float] = field(default_factory=list)  # s
    length: list[float] = field(default_factory=list)  # s
    placed_rate: float = 0.0
    asterisk_cpu: float = 0.0  # s
    hotline_cpu: float = 0.0
    rows: int = 0
    rows_right: int = 0
    wall: float = 0.0
    load: float = 0.0  # the machine's 1-minute load average at the run's end
    errors: str = ""

    @property
    def total_cpu(self) -> float:
        return self.asterisk_cpu + self.hotline_cpu

    def sustained(self) -> bool:
        rows = self.side == "native" or self.rows_right == self.calls == self.rows
        return self.failed == 0 and self.ok == self.calls and rows and \
            self.placed_rate >= 0.95 * self.rate


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def sox_tone(path: Path, seconds: float, hertz: int) -> None:
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
                    str(path), "synth", f"{seconds}", "sine", str(hertz), "vol", "0.3"],
                   check=True, capture_output=True)


class Hotline:
    """`hotline run` on the bench instance, as a process of its own."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.log_file = open(log, "a")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen([sys.executable, "-m", "hotline", "run"],
                                     env={**os.environ, **env}, cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=self.log_file)
        self.offset = log.stat().st_size if log.exists() else 0

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while "asterisk.fully_booted" not in self.log.read_text(errors="replace")[self.offset:]:
            if self.proc.poll() is not None:
                raise RuntimeError("hotline run exited:\n" + self.log.read_text()[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError("hotline run never saw Asterisk FullyBooted")
            time.sleep(0.1)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


class Bench:
    def __init__(self, folder: Path, profile: str | None = None) -> None:
        from hotline.app.settings import load_settings
        from hotline.app.wiring import asterisk_files
        from hotline.pbx.sandbox import (
            Sandbox,
            default_cache_dir,
            find_free_port,
            find_free_udp_port,
        )
        from hotline.pbx.sipp import tone_pcap

        self.folder = folder
        self.profile = profile
        self.sipp = shutil.which("sipp")
        if self.sipp is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        templates = folder / "templates"
        shutil.copytree(ROOT / "config" / "asterisk", templates)
        sounds = folder / "sounds"
        sounds.mkdir()
        sox_tone(sounds / "greeting.wav", GREETING_S, 440)
        sox_tone(sounds / "short.wav", SHORT_S, 660)
        (folder / "talk.pcap").write_bytes(tone_pcap(5.0))
        plans = folder / "dialplans"
        plans.mkdir()
        (plans / "12397.yaml").write_text(
            (FILES / "12397.yaml").read_text(encoding="utf-8").replace("@SOUNDS@", str(sounds)),
            encoding="utf-8")
        sandbox = Sandbox(default_cache_dir(), templates)
        self.trunk_port = find_free_udp_port()
        self.inst = sandbox.instance(f"bench-sip-{os.getpid()}", find_free_port(),
                                     find_free_port(), find_free_udp_port(),
                                     f"127.0.0.1:{self.trunk_port}")
        native_dir = f"{self.inst.chroot_dir}/sounds/bench"
        ext = templates / "extensions.conf"
        ext.write_text(ext.read_text(encoding="utf-8") + (FILES / "native.conf").read_text(
            encoding="utf-8").replace("@SOUNDS@", native_dir), encoding="utf-8")
        self.ledger = folder / "ledger.sqlite3"
        self.env = {
            "HOTLINE_AMI_PORT": str(self.inst.ami_port),
            "HOTLINE_AGI_PORT": str(self.inst.agi_port),
            "HOTLINE_SANDBOX_INSTANCE": self.inst.name,
            "HOTLINE_SANDBOX_SIP_PORT": str(self.inst.sip_port),
            "HOTLINE_SANDBOX_SIP_TRUNK": self.inst.sip_trunk,
            "HOTLINE_LEDGER_PATH": str(self.ledger),
            "HOTLINE_DIALPLANS_PATHS": f"[{plans}]",
            "HOTLINE_SERVICE_PID_FILE": str(folder / "hotline.pid"),
            "HOTLINE_LOG_FORMAT": "json",
            # A working-day morning: the calendar opens the line (else rows are after_hours).
            "HOTLINE_SERVICE_CALENDAR_TIME": "2026-11-25T10:00:00+08:00",
            "HOTLINE_WEB_PORT": "0",
        }
        settings = load_settings(ROOT / "config" / "hotline.yaml", self.env)
        self.inst.up(generated=asterisk_files(settings))
        (self.inst.dir / "sounds" / "bench").mkdir(exist_ok=True)
        for name in ("greeting.wav", "short.wav"):
            target = self.inst.dir / "sounds" / "bench" / name
            shutil.copy(sounds / name, target)
            target.chmod(0o644)
        (self.inst.dir / "sounds" / "bench").chmod(0o755)
        pid = self.inst.pid()
        assert pid is not None
        self.asterisk_pid = pid
        self.media_port = find_free_udp_port() & ~1
        self.runs = 0
        # The prompts are built once, before any timing (espeak/sox, cached by source).
        first = Hotline(self.env, folder / "hotline.log")
        try:
            first.wait_ready()
        finally:
            first.stop()

    def close(self) -> None:
        self.inst.down()
        shutil.rmtree(self.inst.dir, ignore_errors=True)

    # -- one SIPp run ---------------------------------------------------------------------

    def run(self, side: str, caller: str, calls: int, rate: float, limit: int) -> Result:
        from hotline.pbx.sipp import caller_scenario, presses

        self.runs += 1
        number = f"1395{os.getpid() % 1000:03d}{self.runs:04d}"
        result = Result(side, caller, calls, rate, limit)
        work = self.folder / f"run{self.runs}-{side}-{caller}-{calls}"
        work.mkdir()
        scenario = caller_scenario(
            number, presses("1", first=KEY_AFTER), wait_for_hangup=20,
            extension=HOTLINE_EXTEN if side == "hotline" else NATIVE_EXTEN,
            audio=str(self.folder / "talk.pcap") if caller == "audio" else None)
        (work / "caller.xml").write_text(scenario, encoding="utf-8")
        hotline = None
        if side == "hotline":
            hotline = Hotline(self.env, self.folder / "hotline.log")
            hotline.wait_ready()
            time.sleep(2.0)  # its boot resync and first routing round
        profiler = None
        try:
            a0 = cpu_seconds(self.asterisk_pid)
            h0 = hotline.cpu() if hotline else 0.0
            w0 = time.monotonic()
            if hotline and self.profile:
                profiler = subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "--gil", "-r", "200",
                     "-f", "raw", "-o", str(Path(self.profile).with_suffix(
                         f".run{self.runs}.txt")), "-p", str(hotline.proc.pid)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            address, _, trunk_port = self.inst.sip_trunk.partition(":")
            proc = subprocess.run(
                [self.sipp, f"127.0.0.1:{self.inst.sip_port}", "-sf", "caller.xml",
                 "-i", address, "-p", trunk_port, "-mi", "127.0.0.1",
                 "-mp", str(self.media_port), "-m", str(calls), "-r", f"{rate:g}",
                 "-l", str(limit), "-nostdin", "-trace_err", "-trace_rtt", "-rtt_freq", "1",
                 "-trace_stat", "-fd", "1", "-timeout", f"{calls / rate + 90:.0f}s",
                 "-timeout_error"],
                cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, check=False)
            time.sleep(1.0)
            result.wall = time.monotonic() - w0
            result.load = os.getloadavg()[0]
            result.asterisk_cpu = cpu_seconds(self.asterisk_pid) - a0
            result.hotline_cpu = hotline.cpu() - h0 if hotline else 0.0
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
            result.errors = "\n".join(
                line for line in proc.stderr.decode(errors="replace").splitlines()
                if line.strip() and not line.startswith("Resolving remote host"))[-2000:]
            self._read_sipp(work, result)
            if hotline:
                self._read_rows(number, result)
        finally:
            if profiler is not None and profiler.poll() is None:
                profiler.kill()
            if hotline:
                hotline.stop()
        return result

    def _read_sipp(self, work: Path, result: Result) -> None:
        starts = []
        for rtt in work.glob("caller_*_rtt.csv"):
            for line in rtt.read_text().splitlines()[1:]:
                parts = line.split(";")
                if len(parts) < 3:
                    continue
                value = float(parts[1]) / 1000
                if parts[2] == "answer":
                    result.answer.append(value)
                    starts.append(float(parts[0]) / 1000 - value)
                else:
                    result.length.append(value)
        if len(starts) > 1:
            result.placed_rate = (len(starts) - 1) / (max(starts) - min(starts))
        for stat in work.glob("caller_*_.csv"):
            lines = stat.read_text().splitlines()
            if len(lines) >= 2:
                head, last = lines[0].split(";"), lines[-1].split(";")
                values = dict(zip(head, last, strict=False))
                result.ok = int(values.get("SuccessfulCall(C)", "0") or 0)
                result.failed = int(values.get("FailedCall(C)", "0") or 0)
        for err in work.glob("caller_*_errors.log"):
            result.errors += "\n" + err.read_text(errors="replace")[-1500:]

    def _read_rows(self, number: str, result: Result) -> None:
        """The ledger rows of this run's calls, once every one has ended (hotline writes
        them as the calls end; 20 s at most)."""
        deadline = time.monotonic() + 20
        while True:
            with contextlib.closing(sqlite3.connect(f"file:{self.ledger}?mode=ro",
                                                    uri=True, timeout=5)) as db:
                rows = db.execute(
                    "SELECT ended_at, outcome, digits, ivr_path FROM calls "
                    "WHERE caller_number = ?", (number,)).fetchall()
            ended = [r for r in rows if r[0] is not None]
            if (len(ended) >= result.calls and len(ended) == len(rows)) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.5)
        result.rows = len(rows)
        right = [r for r in rows if r[0] is not None and tuple(r[1:]) == EXPECTED_ROW]
        result.rows_right = len(right)
        wrong = sorted({tuple(r[1:]) for r in rows} - {EXPECTED_ROW}, key=str)
        if wrong:
            result.errors += f"\nrows (outcome, digits, path) not as expected: {wrong[:5]}"


# -- the report -----------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


def row_of(r: Result, base: Result | None) -> list[str]:
    per_call = r.total_cpu / max(r.calls, 1) * 1000
    return [
        f"{r.side}, {r.caller}, {r.calls:,} at {r.rate:g}/s",
        f"{r.ok:,}/{r.calls:,}", str(r.failed),
        "-" if r.side == "native" else f"{r.rows_right:,}/{r.rows:,}",
        f"{r.placed_rate:.0f}",
        f"{r.asterisk_cpu:.2f}", "-" if r.side == "native" else f"{r.hotline_cpu:.2f}",
        f"{per_call:.2f}",
        "-" if r.side == "native" else f"{r.hotline_cpu / max(r.calls, 1) * 1000:.2f}",
        "1.00x" if base is None else f"{r.total_cpu / base.total_cpu:.2f}x",
        f"{ms(pct(r.answer, 50))} / {ms(mean(r.answer))} / {ms(pct(r.answer, 99))}",
        f"{pct(r.length, 50):.3f} / {pct(r.length, 99):.3f}",
    ]


COLUMNS = ["run (A/B/A/B)", "calls ok", "failed", "rows right", "placed /s",
           "Asterisk CPU s", "hotline CPU s", "total CPU ms/call", "hotline CPU ms/call",
           "total CPU vs native", "answer p50 / mean / p99 ms", "call p50 / p99 s"]


def summarise(results: list[Result], search: list[Result]) -> Outcome:
    rows: list[list[str]] = []
    notes: list[str] = []
    verdicts: list[bool] = []
    groups: dict[tuple[str, int, float], list[Result]] = {}
    for r in results:
        groups.setdefault((r.caller, r.calls, r.rate), []).append(r)
    per_call_hotline: dict[float, float] = {}
    for (caller, calls, rate), group in groups.items():
        natives = [r for r in group if r.side == "native"]
        hotlines = [r for r in group if r.side == "hotline"]
        for r in group:
            # Each hotline run against the native run just before it (A/B pairs).
            before = [n for n in natives if group.index(n) < group.index(r)]
            rows.append(row_of(r, before[-1] if r.side == "hotline" and before else None))
        cpu_n = statistics.mean(r.total_cpu for r in natives)
        cpu_h = statistics.mean(r.total_cpu for r in hotlines)
        ans_n = statistics.median(pct(r.answer, 50) for r in natives)
        ans_h = statistics.median(pct(r.answer, 50) for r in hotlines)
        mean_n = mean([a for r in natives for a in r.answer])
        mean_h = mean([a for r in hotlines for a in r.answer])
        len_n = statistics.median(pct(r.length, 50) for r in natives)
        len_h = statistics.median(pct(r.length, 50) for r in hotlines)
        failed = sum(r.calls - r.ok for r in group)  # SIPp's failed ones, and any missing
        rows_ok = all(r.rows == r.rows_right == r.calls for r in hotlines)
        cpu_ok, ans_ok, len_ok = (cpu_h / cpu_n <= 1.15, ans_h - ans_n <= 0.010,
                                  len_h - len_n <= 0.050)
        verdicts += [failed == 0, rows_ok, cpu_ok, ans_ok, len_ok]
        if caller == "silent":
            per_call_hotline[rate] = statistics.mean(r.hotline_cpu / r.calls for r in hotlines)
        notes.append(
            f"{calls:,} at {rate:g}/s, {caller} caller: failed calls {failed} (target 0); "
            f"rows right {'all' if rows_ok else 'NOT all'}; total CPU hotline/native "
            f"**{cpu_h / cpu_n:.2f}x** (target ≤ 1.15x: {'met' if cpu_ok else 'missed'}); "
            f"answer p50 {ms(ans_h)} ms vs native {ms(ans_n)} ms "
            f"(**{(ans_h - ans_n) * 1000:+.1f} ms**, "
            f"target ≤ +10: {'met' if ans_ok else 'missed'}; mean {ms(mean_h)} vs {ms(mean_n)} "
            f"ms); call p50 {len_h:.3f} s vs "
            f"{len_n:.3f} s (**{(len_h - len_n) * 1000:+.0f} ms**, target ≤ +50: "
            f"{'met' if len_ok else 'missed'}).")
    if len(per_call_hotline) > 1:
        low, high = min(per_call_hotline), max(per_call_hotline)
        ratio_ = per_call_hotline[high] / per_call_hotline[low]
        verdicts.append(ratio_ <= 1.15)
        notes.append(f"hotline CPU per call (silent caller): {per_call_hotline[low] * 1000:.2f} ms "
                     f"at {low:g}/s, {per_call_hotline[high] * 1000:.2f} ms at {high:g}/s "
                     f"(**{ratio_:.2f}x**; target the same, taken as ≤ 1.15x).")
    if search:
        best: dict[str, float] = {}
        for r in search:
            cells = row_of(r, None)
            rows.append([f"search: {r.side}, silent, {r.calls:,} at {r.rate:g}/s",
                         *cells[1:9], "-", *cells[10:]])
            if r.sustained():
                best[r.side] = max(best.get(r.side, 0.0), r.rate)
        n, h = best.get("native", 0.0), best.get("hotline", 0.0)
        ok = n > 0 and h >= 0.9 * n
        verdicts.append(ok)
        top = SEARCH_RATES[-1]
        def said(rate: float) -> str:
            if rate == 0:
                return f"below {SEARCH_RATES[0]}/s"
            return f"{rate:g}/s" + (" (the highest tried)" if rate == top else "")

        notes.append(f"highest rate sustained (rates {', '.join(map(str, SEARCH_RATES))}/s, "
                     f"{SEARCH_CALLS:,} calls each, 0 failed, placed ≥ 95 % of the rate, rows "
                     f"right): native {said(n)}, hotline {said(h)} (target ≥ 90 % of "
                     f"native's: {'met' if ok else 'missed'}).")
    loads = [r.load for r in [*results, *search]]
    notes.append("The machine (2 cores) was shared with other agents' builds and tests "
                 f"during the run (1-minute load average {min(loads):.1f}-{max(loads):.1f} at "
                 "the runs' ends, the bench's own Asterisk threads included), and SIPp "
                 "runs on it too: absolute CPU and latency move "
                 "with that load; the A/B ratios of one run are what to compare.")
    return Outcome(COLUMNS, rows, notes, all(verdicts))


def measure(size: str, search: bool, profile: str | None = None,
            callers: tuple[str, ...] = ("silent", "audio"),
            raw: Path | None = None) -> Outcome:
    folder = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    bench = Bench(folder, profile)
    results: list[Result] = []
    found: list[Result] = []
    try:
        for calls, rate, limit in SIZES[size]:
            for caller in callers:
                for side in ("native", "hotline", "native", "hotline"):
                    r = bench.run(side, caller, calls, rate, limit)
                    print(f"  {' | '.join(row_of(r, None))}", flush=True)
                    if r.errors.strip():
                        print(f"    {r.errors.strip()[-600:]}", flush=True)
                    results.append(r)
        if search:
            going = {"native", "hotline"}
            for rate in SEARCH_RATES:
                for side in ("native", "hotline"):
                    if side not in going:
                        continue
                    r = bench.run(side, "silent", SEARCH_CALLS, rate, RTP_CALLS)
                    print(f"  search {' | '.join(row_of(r, None))}", flush=True)
                    found.append(r)
                    if not r.sustained():
                        going.discard(side)
                if not going:
                    break
    finally:
        bench.close()
        shutil.rmtree(folder, ignore_errors=True)
    if raw is not None:
        raw.write_text(json.dumps([{k: v for k, v in vars(r).items()}
                                   for r in [*results, *found]], indent=1))
    outcome = summarise(results, found)
    sizes = ", ".join(f"{c:,} at {r:g}/s (at most {m} at once)" for c, r, m in SIZES[size])
    outcome.notes.insert(0, f"Sizes run: {sizes}"
                         f"{'; then the rate search' if search else ''}. `make bench` runs the "
                         "quick size; `python -m bench.sip_load --full` runs them all.")
    return outcome


def run() -> Outcome:
    """`make bench`: the quick size (400 calls at 40/s, silent and audio, A/B/A/B)."""
    return measure("quick", search=False)


def main(argv: list[str] | None = None) -> int:
    from bench import machine
    from bench.__main__ import section, table, write_report

    parser = argparse.ArgumentParser(prog="python -m bench.sip_load",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true",
                        help="400 at 40/s, 2,000 at 150/s and the rate search")
    parser.add_argument("--no-search", action="store_true")
    parser.add_argument("--profile", help="py-spy raw profiles of hotline, PATH.runN.txt")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every run's raw figures here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    outcome = measure("full" if args.full else "quick", search=args.full and not args.no_search,
                      profile=args.profile, raw=args.json)
    seconds = time.perf_counter() - start
    print(table(outcome))
    for note in outcome.notes:
        print(f"- {note}")
    if not args.no_write:
        cmd = "python -m bench.sip_load" + (" --full" if args.full else "")
        if args.no_search:
            cmd += " --no-search"
        write_report({"sip_load": section("sip_load", sys.modules[__name__], outcome, cmd, when,
                                          machine(), seconds)},
                     _order())
    return 0


def _order() -> list[str]:
    from bench.__main__ import discover

    return list(discover())

