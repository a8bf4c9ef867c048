"""Real SIP calls against native Asterisk: `python -m bench sip_load` (quick size, in
`make bench`) or `python -m bench.sip_load --full` (every size; rewrites the section too).

SIPp (Debian's sip-tester) plays the carrier over the sandbox's trunk with scenarios that
hotline.pbx.sipp generates: answer, one key (RFC 4733) 1 s after the answer while the
greeting plays (barge-in), a short prompt, the line hangs up. The same calls go to a
native context (`Read` over the greeting, `Playback`, `Hangup`), to the hotline YAML
menu of the same shape over FastAGI (the shipped entry) and to the same menu over
AsyncAGI (`AGI(agi:async)`, the entry before FastAGI, which hotline still serves)
(bench/sip_load/ holds all three), on one Asterisk instance of the bench's own,
A/B/C/A/B/C; hotline is a separate `hotline run` process started for each of its runs.
Needs root (the sandbox chroot, SIPp's raw socket for play_dtmf), the built sandbox,
sipp and sox.

The same harness runs the realistic run (bench/sip_load/line.py: the 12366 menu with 40
seats that answer; `--realistic`, section sip_realistic, in `make bench`) and the soak
(bench/sip_load/soak.py: 10 minutes at 80 calls/s; `--soak`, section sip_soak, not in
`make bench`). `--calls N --rate R` (and `--seconds S` for the soak) run a trial size
without writing BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
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
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import Outcome
from bench.sip_load.line import (
    LINE_KEYS,
    LINE_SEAT_IDS,
    LINE_TALK_S,
    line_routing,
    line_row_right,
    line_skills,
    seats_logged_in,
)

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).resolve().parent
HOTLINE_EXTEN = "12397"  # [from-carrier] _123XX -> [ivr] -> hotline's dialplan "12397"
NATIVE_EXTEN = "12398"  # [from-carrier] 12398 -> [bench-native] (bench/sip_load/native.conf)
# [from-carrier] 12396 -> [bench-asyncagi] 12397: AGI(agi:async), the entry before FastAGI
# (bench/sip_load/asyncagi.conf); hotline picks the dialplan of the extension, 12397.
ASYNC_EXTEN = "12396"
SIDES = ("native", "hotline", "asyncagi")
SIDE_NAMES = {"native": "native", "hotline": "hotline FastAGI", "asyncagi": "hotline AsyncAGI"}
EXTENSIONS = {"native": NATIVE_EXTEN, "hotline": HOTLINE_EXTEN, "asyncagi": ASYNC_EXTEN}
KEY_AFTER = 1.0  # s from the answer to the key (the greeting lasts GREETING_S)
GREETING_S = 4.0
SHORT_S = 2.5
RTP_CALLS = 950  # the instance's 2,000 RTP ports: an RTP and an RTCP port per call
SEARCH_RATES = (60, 80, 100, 140, 180, 220)
SEARCH_CALLS = 1000
EXPECTED_ROW = ("ended_in_ivr", "1", "main")  # a row's (outcome, digits, ivr_path)

TITLE = ("Real SIP calls (SIPp over the trunk): hotline's YAML menu over FastAGI and over "
         "AsyncAGI vs native Asterisk")

MEASURES = """
What hotline costs on real calls, against Asterisk's native dialplan doing the same, on
one Asterisk instance of the bench's own (bench/sip_load/):

- Calls: SIPp (Debian's sip-tester) as the carrier, from the trunk's address, with the
  scenario `hotline.pbx.sipp.caller_scenario` writes: INVITE, answer, the key `1` as RFC
  4733 events 1 s after the answer (while a 4 s greeting plays: barge-in), a 2.5 s prompt,
  the line hangs up (~4 s calls). *silent*: the caller sends no RTP but the key; *audio*:
  the caller plays a G.711 A-law tone (`tone_pcap`) from 1 s after the key to the end.
- native: `[bench-native]` (bench/sip_load/native.conf, appended to the bench instance's
  extensions.conf): `Answer`, `Read(KEY,greeting,1,,1,5)`, `Playback(short)`, `Hangup`.
  hotline FastAGI: the shipped entry (`[from-carrier]` -> `[ivr]`: FastAGI to hotline
  with its lease) and bench/sip_load/12397.yaml: a menu playing the same greeting file
  with barge-in, key `1` -> `hangup: short`. hotline AsyncAGI: the same menu entered by
  `AGI(agi:async)` (bench/sip_load/asyncagi.conf: the line's entry before FastAGI, no
  lease), each command an AMI action and AsyncAGIExec event. hotline is a separate
  `hotline run` process (FastAGI + AMI), started before each of its runs, idle 2 s
  after Asterisk's FullyBooted, stopped after.
- A/B/C twice: native, hotline FastAGI, hotline AsyncAGI, native, FastAGI, AsyncAGI for
  each size and caller, one instance, one run. Each hotline run's "total CPU vs native"
  is against the native run before it.
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
- Targets (issue 13), for FastAGI (the shipped transport; AsyncAGI's figures are kept
  beside it for comparison, as the issue asks): 0 failed calls; rows = calls, outcomes
  right; total CPU <= 1.15x native; answer p50 <= native + 10 ms; call p50 <= native +
  50 ms (silent and audio); hotline's CPU per call the same at 40/s and 150/s; highest
  rate >= 90 % of native's (the search runs native and FastAGI only).
- The machine is shared with other agents' work (builds, tests): absolute figures move
  with it; compare the ratios within one run. SIPp runs on the same 2 cores.
"""

SIZES = {"quick": [(400, 40.0, 500)], "full": [(400, 40.0, 500), (2000, 150.0, 500)]}

# The gap to the CPU target and the profile that explains it (issue 13 accepts "the
# targets met, or the gap stated with the profile that explains it"); measured by hand
# (`--profile`), not by each run: update it with the code.
GAP = (
    "The CPU gap that remains (2026-12-02, py-spy --gil of hotline over two 400-call "
    "runs at 40/s, silent caller, 2,807 samples; the machine's load 12-46): hotline's own "
    "CPU was cut from 8.8-9.4 to 6.1-6.8 ms per call (the same tree's base and this one "
    "alternating on one instance, silent caller at load 22-44: 6.6-8.2 -> 5.6-6.5 ms, "
    "audio at load 13-24: 9.1-10.1 -> 6.2-6.8 ms); Asterisk's CPU "
    "on hotline's runs was 0-13 % over native's (base in the same runs 3-10 %; the "
    "lease's Setvars go in one write per round, no AGI HANGUP). That leaves total CPU at "
    "~1.3x native at best on this shared machine (target "
    "1.15x: hotline alone would have to cost <= ~2.5 ms per call). Where hotline's CPU "
    "goes now: the IVR session 29 % (menu engine steps, its 4 FastAGI commands and their "
    "results, the call's tracker updates), AMI events 25 % (about 15 per call: "
    "AGIExecStart/End of each command for type-ahead, DTMF, Hangup, plus the events "
    "hotline ignores, Newchannel, Newstate, SoftHangupRequest, DTMFBegin; and ~8 lease "
    "responses), asyncio's own scheduling and select 21 %, the FastAGI connection's "
    "set-up (accept, transport, its ~25 environment lines) 10 %, ledger writes 7 % (one "
    "transaction per 50 ms; was 15 %), lease refreshes 5 % (was 11 %), logging ~5 % "
    "inside those (one info line per call). No part is over a third: what is left is "
    "per-call Python and asyncio work spread over the call's path. Further levers: an "
    "AMI event filter for hotline's user (Asterisk would stop sending the ~5 events per "
    "call it ignores), type-ahead from the FastAGI results instead of AGIExec events "
    "(~8 events per call), fewer lease refreshes (agi.refresh up to lease/2, at the cost "
    "of the event-loop stall it tolerates)."
)


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
    started: float = 0.0  # epoch s: SIPp started
    # Every second of the run: (epoch s, Asterisk CPU s, hotline CPU s, hotline RSS KiB).
    samples: list[tuple[float, float, float, int]] = field(default_factory=list)
    # Epoch s (SIPp's clock from `started`) of each call's end (BYE) and answer (200).
    ends: list[float] = field(default_factory=list)
    answer_at: list[float] = field(default_factory=list)
    # SIPp's statistics of every second: (epoch s, calls that succeeded in it, failed).
    periods: list[tuple[float, int, int]] = field(default_factory=list)
    # On the AMI link (line runs, AmiCounter): QueueStatus actions sent in the window and
    # the list events of their replies, and the epoch times of the actions.
    status_actions: int = 0
    status_events: int = 0
    action_times: list[float] = field(default_factory=list)
    seats: int = 0  # seats that answered a call of the run (line runs)
    waits: list[float] = field(default_factory=list)  # queue waits from the rows (line runs)

    @property
    def total_cpu(self) -> float:
        return self.asterisk_cpu + self.hotline_cpu

    @property
    def label(self) -> str:
        return SIDE_NAMES.get(self.side, self.side)

    def sustained(self) -> bool:
        rows = self.side == "native" or self.rows_right == self.calls == self.rows
        return self.failed == 0 and self.ok == self.calls and rows and \
            self.placed_rate >= 0.95 * self.rate


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Sampler:
    """Every `period` s, in a thread: (epoch s, Asterisk's CPU s, hotline's CPU s, hotline's
    RSS KiB), read from /proc."""

    def __init__(self, asterisk: int, hotline: int | None, period: float = 1.0) -> None:
        self.asterisk, self.hotline, self.period = asterisk, hotline, period
        self.samples: list[tuple[float, float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def sample(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            hotline = self.hotline
            self.samples.append((time.time(), cpu_seconds(self.asterisk),
                                 cpu_seconds(hotline) if hotline else 0.0,
                                 rss_kib(hotline) if hotline else 0))

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def __enter__(self) -> Sampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


class AmiCounter:
    """A relay on hotline's AMI link (hotline connects to it, it to Asterisk) that counts
    on the wire what the routing loop costs Asterisk: the QueueStatus actions hotline sends
    (a routing round is one; the resync's at a (re)connect are the others) and the list
    events of their replies (QueueParams, QueueMember, QueueEntry). It runs its own event
    loop in a thread of the bench's process."""

    ACTION = b"Action: QueueStatus\r\n"
    REPLY = (b"Event: QueueParams\r\n", b"Event: QueueMember\r\n", b"Event: QueueEntry\r\n")

    def __init__(self, target: int) -> None:
        from hotline.pbx.sandbox import find_free_port

        self.target = target
        self.port = find_free_port()
        self.actions: list[float] = []  # epoch s of each QueueStatus action
        self.events = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ami-counter",
                                        daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", self.port), self._loop).result(10)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer, self._count_actions),
                             self._pipe(up_reader, writer, self._count_replies),
                             return_exceptions=True)

    def _count_actions(self, data: bytes) -> None:
        self.actions += [time.time()] * data.count(self.ACTION)

    def _count_replies(self, data: bytes) -> None:
        self.events += sum(data.count(token) for token in self.REPLY)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    count: Callable[[bytes], None]) -> None:
        # A token split across two reads is counted once: each read is searched with the
        # previous read's last bytes in front, shorter than any token.
        keep = max(len(self.ACTION), *map(len, self.REPLY)) - 1
        tail = b""
        try:
            while data := await reader.read(65536):
                writer.write(data)
                count(tail + data)
                tail = (tail + data)[-keep:]
                await writer.drain()
        finally:
            writer.close()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


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

    def rss(self) -> int:
        return rss_kib(self.proc.pid)

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
    """One Asterisk instance of the bench's own, and hotline's settings for it.

    `line=False` (the A/B runs): bench/sip_load's 12397 menu, the native context of the
    same shape and the AsyncAGI entry. `line=True` (the realistic run): the shipped
    dialplans (12366) and routing.yaml's queues with LINE_SEATS Local seats that answer
    (line_routing), every seat logged in, hotline's AMI link through an AmiCounter."""

    def __init__(self, folder: Path, profile: str | None = None, *, line: bool = False) -> None:
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
        self.line = line
        self.counter: AmiCounter | None = None
        sipp = shutil.which("sipp")
        if sipp is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        self.sipp: str = sipp
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
                                     f"127.0.0.1:{self.trunk_port}",
                                     wss_port=find_free_port())
        native_dir = f"{self.inst.chroot_dir}/sounds/bench"
        ext = templates / "extensions.conf"
        ext.write_text(ext.read_text(encoding="utf-8") + "".join(
            (FILES / name).read_text(encoding="utf-8").replace("@SOUNDS@", native_dir)
            for name in ("native.conf", "asyncagi.conf")), encoding="utf-8")
        self.ledger = folder / "ledger.sqlite3"
        self.env = {
            "HOTLINE_AMI_PORT": str(self.inst.ami_port),
            "HOTLINE_AGI_PORT": str(self.inst.agi_port),
            "HOTLINE_SANDBOX_INSTANCE": self.inst.name,
            "HOTLINE_SANDBOX_SIP_PORT": str(self.inst.sip_port),
            "HOTLINE_SANDBOX_SIP_TRUNK": self.inst.sip_trunk,
            "HOTLINE_LEDGER_PATH": str(self.ledger),
            "HOTLINE_DIALPLANS_PATHS": f"[{ROOT / 'dialplans'}]" if line else f"[{plans}]",
            "HOTLINE_SERVICE_PID_FILE": str(folder / "hotline.pid"),
            "HOTLINE_LOG_FORMAT": "json",
            # A working-day morning: the calendar opens the line (else rows are after_hours).
            "HOTLINE_SERVICE_CALENDAR_TIME": "2026-11-25T10:00:00+08:00",
            "HOTLINE_WEB_PORT": "0",
        }
        if line:
            self.env["HOTLINE_ROUTING_PATH"] = str(line_routing(folder))
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
        if line:
            asyncio.run(seats_logged_in(self.ledger, LINE_SEAT_IDS))
            for seat in LINE_SEAT_IDS:
                self.inst.cli(f"dialplan set global SEAT_TALK_{seat} {LINE_TALK_S:g}")
            # hotline's AMI link goes through the counter from now on (the prompts are
            # built, the seats logged in: only the runs' traffic is counted).
            self.counter = AmiCounter(self.inst.ami_port)
            self.env["HOTLINE_AMI_PORT"] = str(self.counter.port)

    def close(self) -> None:
        if self.counter is not None:
            self.counter.close()
        self.inst.down()
        shutil.rmtree(self.inst.dir, ignore_errors=True)

    # -- one SIPp run ---------------------------------------------------------------------

    def run(self, side: str, caller: str, calls: int, rate: float, limit: int, *,
            sample: bool = False) -> Result:
        """The 12397 menu (or its native twin): `side` native | hotline | asyncagi."""
        from hotline.pbx.sipp import caller_scenario, presses

        self.runs += 1
        number = f"1395{os.getpid() % 1000:03d}{self.runs:04d}"
        scenario = caller_scenario(
            number, presses("1", first=KEY_AFTER), wait_for_hangup=20,
            extension=EXTENSIONS[side],
            audio=str(self.folder / "talk.pcap") if caller == "audio" else None)
        result = Result(side, caller, calls, rate, limit)
        self._drive(result, scenario, number, sample=sample,
                    check=lambda row: tuple(row[1:4]) == EXPECTED_ROW)
        return result

    def run_line(self, calls: int, rate: float, limit: int = 500) -> Result:
        """Callers of the 12366 line pressing LINE_KEYS: to a seat of LINE_QUEUE."""
        from hotline.pbx.sipp import caller_scenario, presses

        assert self.line
        self.runs += 1
        number = f"1395{os.getpid() % 1000:03d}{self.runs:04d}"
        scenario = caller_scenario(number, presses(LINE_KEYS, first=0.5, gap=1.0),
                                   wait_for_hangup=60, extension="12366")
        result = Result("hotline", "silent", calls, rate, limit)
        self._drive(result, scenario, number, sample=False, check=line_row_right)
        return result

    def _drive(self, result: Result, scenario: str, number: str, *, sample: bool,
               check: Callable[[tuple[object, ...]], bool]) -> None:
        """SIPp places the run's calls (hotline started for them unless native); CPU of
        Asterisk and hotline from SIPp's start to 1 s after it exits; then SIPp's figures
        and the ledger's rows of `number` (`check`: whether a row is right)."""
        work = self.folder / f"run{self.runs}-{result.side}-{result.caller}-{result.calls}"
        work.mkdir()
        (work / "caller.xml").write_text(scenario, encoding="utf-8")
        hotline = None
        if result.side != "native":
            hotline = Hotline(self.env, self.folder / "hotline.log")
            hotline.wait_ready()
            if self.line:
                self._wait_members()
            time.sleep(2.0)  # its boot resync and first routing round
        profiler = None
        calls, rate, limit = result.calls, result.rate, result.limit
        try:
            a0 = cpu_seconds(self.asterisk_pid)
            h0 = hotline.cpu() if hotline else 0.0
            w0 = time.monotonic()
            result.started = time.time()
            if hotline and self.profile:
                profiler = subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "--gil", "-r", "200",
                     "-f", "raw", "-o", str(Path(self.profile).with_suffix(
                         f".run{self.runs}.txt")), "-p", str(hotline.proc.pid)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            address, _, trunk_port = self.inst.sip_trunk.partition(":")
            actions0 = len(self.counter.actions) if self.counter else 0
            events0 = self.counter.events if self.counter else 0
            sampler = Sampler(self.asterisk_pid, hotline.proc.pid if hotline else None)
            with sampler if sample else contextlib.nullcontext():
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
            result.samples = sampler.samples
            result.wall = time.monotonic() - w0
            result.load = os.getloadavg()[0]
            result.asterisk_cpu = cpu_seconds(self.asterisk_pid) - a0
            result.hotline_cpu = hotline.cpu() - h0 if hotline else 0.0
            if self.counter is not None:
                result.action_times = self.counter.actions[actions0:]
                result.status_actions = len(result.action_times)
                result.status_events = self.counter.events - events0
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
            result.errors = "\n".join(
                line for line in proc.stderr.decode(errors="replace").splitlines()
                if line.strip() and not line.startswith("Resolving remote host"))[-2000:]
            self._read_sipp(work, result)
            if hotline:
                self._read_rows(number, result, check)
        finally:
            if profiler is not None and profiler.poll() is None:
                profiler.kill()
            if hotline:
                hotline.stop()

    def _wait_members(self, timeout: float = 60.0) -> None:
        """Until the routing loop of the hotline just started has made every logged-in seat
        a member of each of its queues (polled on the CLI, before any timing)."""
        want = sum(len(skills) for skills in line_skills().values())
        deadline = time.monotonic() + timeout
        while True:
            shown = self.inst.cli("queue show")
            have = sum(1 for line in shown.splitlines() if "Local/8" in line)
            if have >= want:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {have} of {want} seat memberships after {timeout:g} s")
            time.sleep(0.5)

    def _read_sipp(self, work: Path, result: Result) -> None:
        clock0 = result.started  # SIPp's own start, from its statistics when they say
        for stat in work.glob("caller_*_.csv"):
            lines = stat.read_text().splitlines()
            if len(lines) >= 2:
                head = lines[0].split(";")
                values: dict[str, str] = {}
                for line in lines[1:]:
                    values = dict(zip(head, line.split(";"), strict=False))
                    with contextlib.suppress(ValueError, IndexError):
                        # CurrentTime: "date<TAB>time<TAB>epoch"
                        result.periods.append((
                            float(values["CurrentTime"].split("\t")[-1]),
                            int(values.get("SuccessfulCall(P)", "0") or 0),
                            int(values.get("FailedCall(P)", "0") or 0)))
                with contextlib.suppress(ValueError, KeyError):
                    clock0 = float(values["StartTime"].split("\t")[-1])
                result.ok = int(values.get("SuccessfulCall(C)", "0") or 0)
                result.failed = int(values.get("FailedCall(C)", "0") or 0)
        starts = []
        for rtt in work.glob("caller_*_rtt.csv"):
            for line in rtt.read_text().splitlines()[1:]:
                parts = line.split(";")
                if len(parts) < 3:
                    continue
                value = float(parts[1]) / 1000
                at = clock0 + float(parts[0]) / 1000  # SIPp's clock: ms since its start
                if parts[2] == "answer":
                    result.answer.append(value)
                    result.answer_at.append(at)
                    starts.append(at - value)
                else:
                    result.length.append(value)
                    result.ends.append(at)
        if len(starts) > 1:
            result.placed_rate = (len(starts) - 1) / (max(starts) - min(starts))
        for err in work.glob("caller_*_errors.log"):
            result.errors += "\n" + err.read_text(errors="replace")[-1500:]

    def _read_rows(self, number: str, result: Result,
                   check: Callable[[tuple[object, ...]], bool]) -> None:
        """The ledger rows of this run's calls, once every one has ended (hotline writes
        them as the calls end; 20 s at most). A row is (ended_at, outcome, digits,
        ivr_path, queue, seat, wait_seconds)."""
        deadline = time.monotonic() + 20
        while True:
            with contextlib.closing(sqlite3.connect(f"file:{self.ledger}?mode=ro",
                                                    uri=True, timeout=5)) as db:
                rows = db.execute(
                    "SELECT ended_at, outcome, digits, ivr_path, queue, seat, wait_seconds "
                    "FROM calls WHERE caller_number = ?", (number,)).fetchall()
            ended = [r for r in rows if r[0] is not None]
            if (len(ended) >= result.calls and len(ended) == len(rows)) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.5)
        result.rows = len(rows)
        right = [r for r in rows if r[0] is not None and check(r)]
        result.rows_right = len(right)
        result.seats = len({r[5] for r in right if r[5]})
        result.waits = [float(r[6]) for r in right if r[6] is not None]
        wrong = sorted({tuple(r[1:6]) for r in rows if r not in right}, key=str)
        if wrong:
            result.errors += ("\nrows (outcome, digits, path, queue, seat) not as expected: "
                              f"{wrong[:5]}")


# -- the report -----------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


def row_of(r: Result, base: Result | None) -> list[str]:
    per_call = r.total_cpu / max(r.calls, 1) * 1000
    return [
        f"{r.label}, {r.caller}, {r.calls:,} at {r.rate:g}/s",
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


COLUMNS = ["run (A/B/C, twice)", "calls ok", "failed", "rows right", "placed /s",
           "Asterisk CPU s", "hotline CPU s", "total CPU ms/call", "hotline CPU ms/call",
           "total CPU vs native", "answer p50 / mean / p99 ms", "call p50 / p99 s"]


@dataclass
class Side:
    """One side's runs of a group (one size, one caller), summed up."""

    runs: list[Result]

    @property
    def cpu(self) -> float:  # total CPU per run, s
        return statistics.mean(r.total_cpu for r in self.runs)

    @property
    def hotline_ms(self) -> float:
        return statistics.mean(r.hotline_cpu / r.calls for r in self.runs) * 1000

    @property
    def asterisk_ms(self) -> float:
        return statistics.mean(r.asterisk_cpu / r.calls for r in self.runs) * 1000

    @property
    def answer(self) -> float:  # the runs' median answer p50, s
        return statistics.median(pct(r.answer, 50) for r in self.runs)

    @property
    def answer_mean(self) -> float:
        return mean([a for r in self.runs for a in r.answer])

    @property
    def length(self) -> float:
        return statistics.median(pct(r.length, 50) for r in self.runs)

    @property
    def failed(self) -> int:
        return sum(r.calls - r.ok for r in self.runs)  # SIPp's failed ones, and any missing

    @property
    def rows_ok(self) -> bool:
        return all(r.rows == r.rows_right == r.calls for r in self.runs)


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
        for r in group:
            # Each hotline run against the native run just before it (A/B pairs).
            before = [n for n in natives if group.index(n) < group.index(r)]
            rows.append(row_of(r, before[-1] if r.side != "native" and before else None))
        native = Side(natives)
        sides = {side: Side([r for r in group if r.side == side])
                 for side in SIDES[1:] if any(r.side == side for r in group)}
        for side, got in sides.items():
            cpu_ok = got.cpu / native.cpu <= 1.15
            ans_ok = got.answer - native.answer <= 0.010
            len_ok = got.length - native.length <= 0.050
            if side == "hotline":  # the targets are the shipped transport's
                verdicts += [native.failed == got.failed == 0, got.rows_ok, cpu_ok, ans_ok,
                             len_ok]
                if caller == "silent":
                    per_call_hotline[rate] = got.hotline_ms / 1000
            notes.append(
                f"{calls:,} at {rate:g}/s, {caller} caller, **{SIDE_NAMES[side]}**"
                f"{'' if side == 'hotline' else ' (for comparison; no targets)'}: failed "
                f"calls {got.failed} (native {native.failed}; target 0); rows right "
                f"{'all' if got.rows_ok else 'NOT all'}; total CPU vs native "
                f"**{got.cpu / native.cpu:.2f}x** (target ≤ 1.15x: "
                f"{'met' if cpu_ok else 'missed'}; hotline {got.hotline_ms:.2f} ms/call, "
                f"Asterisk {got.asterisk_ms:.2f} vs native {native.asterisk_ms:.2f}); answer "
                f"p50 {ms(got.answer)} ms vs native {ms(native.answer)} ms "
                f"(**{(got.answer - native.answer) * 1000:+.1f} ms**, target ≤ +10: "
                f"{'met' if ans_ok else 'missed'}; mean {ms(got.answer_mean)} vs "
                f"{ms(native.answer_mean)} ms); call p50 {got.length:.3f} s vs "
                f"{native.length:.3f} s (**{(got.length - native.length) * 1000:+.0f} ms**, "
                f"target ≤ +50: {'met' if len_ok else 'missed'}).")
        if "hotline" in sides and "asyncagi" in sides:
            fast, slow = sides["hotline"], sides["asyncagi"]
            notes.append(
                f"{calls:,} at {rate:g}/s, {caller} caller, AsyncAGI against FastAGI: total "
                f"CPU {slow.cpu / fast.cpu:.2f}x (Asterisk {slow.asterisk_ms:.2f} vs "
                f"{fast.asterisk_ms:.2f} ms/call, hotline {slow.hotline_ms:.2f} vs "
                f"{fast.hotline_ms:.2f}); answer p50 {(slow.answer - fast.answer) * 1000:+.1f} "
                f"ms; call p50 {(slow.length - fast.length) * 1000:+.0f} ms.")
    if len(per_call_hotline) > 1:
        low, high = min(per_call_hotline), max(per_call_hotline)
        ratio_ = per_call_hotline[high] / per_call_hotline[low]
        verdicts.append(ratio_ <= 1.15)
        notes.append(f"hotline FastAGI CPU per call (silent caller): "
                     f"{per_call_hotline[low] * 1000:.2f} ms at {low:g}/s, "
                     f"{per_call_hotline[high] * 1000:.2f} ms at {high:g}/s "
                     f"(**{ratio_:.2f}x**; target the same, taken as ≤ 1.15x).")
    if search:
        best: dict[str, float] = {}
        for r in search:
            cells = row_of(r, None)
            rows.append([f"search: {r.label}, silent, {r.calls:,} at {r.rate:g}/s",
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
                     f"right): native {said(n)}, hotline FastAGI {said(h)} (target ≥ 90 % of "
                     f"native's: {'met' if ok else 'missed'}; AsyncAGI is not searched).")
    loads = [r.load for r in [*results, *search]]
    notes.append("The machine (2 cores) was shared with other agents' builds and tests "
                 f"during the run (1-minute load average {min(loads):.1f}-{max(loads):.1f} at "
                 "the runs' ends, the bench's own Asterisk threads included), and SIPp "
                 "runs on it too: absolute CPU and latency move "
                 "with that load; the A/B ratios of one run are what to compare.")
    return Outcome(COLUMNS, rows, notes, all(verdicts))


@contextlib.contextmanager
def bench_in(prefix: str, keep: bool, profile: str | None = None, *,
             line: bool = False) -> Iterator[Bench]:
    """A Bench in a new work folder (named from `prefix`): closed after, its folder
    removed unless `keep` (then its path is printed)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    bench = Bench(folder, profile, line=line)
    try:
        yield bench
    finally:
        bench.close()
        if keep:
            print(f"  kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def measure(size: str, search: bool, profile: str | None = None,
            callers: tuple[str, ...] = ("silent", "audio"),
            raw: Path | None = None, transports: tuple[str, ...] = SIDES[1:],
            sizes: list[tuple[int, float, int]] | None = None, keep: bool = False) -> Outcome:
    results: list[Result] = []
    found: list[Result] = []
    sizes = sizes or SIZES[size]
    with bench_in("bench-sip-", keep, profile) as bench:
        for calls, rate, limit in sizes:
            for caller in callers:
                for side in ("native", *transports) * 2:
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
    if raw is not None:
        raw.write_text(json.dumps([{k: v for k, v in vars(r).items()}
                                   for r in [*results, *found]], indent=1))
    outcome = summarise(results, found)
    outcome.notes.append(GAP)
    said = ", ".join(f"{c:,} at {r:g}/s (at most {m} at once)" for c, r, m in sizes)
    outcome.notes.insert(0, f"Sizes run: {said}"
                         f"{'; then the rate search' if search else ''}; sides native, "
                         f"{', '.join(SIDE_NAMES[t] for t in transports)}, in that order, "
                         "twice. `make bench` runs the quick size; `python -m bench.sip_load "
                         "--full` runs them all.")
    return outcome


def run() -> Outcome:
    """`make bench`: the quick size (400 calls at 40/s, silent and audio, A/B/C twice)."""
    return measure("quick", search=False)


def main(argv: list[str] | None = None) -> int:
    from bench import machine
    from bench.__main__ import section, table, write_report
    from bench.sip_load import line, soak

    parser = argparse.ArgumentParser(prog="python -m bench.sip_load",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true",
                        help="400 at 40/s, 2,000 at 150/s and the rate search")
    parser.add_argument("--no-search", action="store_true")
    parser.add_argument("--no-asyncagi", action="store_true",
                        help="leave out the hotline-over-AsyncAGI side")
    parser.add_argument("--realistic", action="store_true",
                        help="only the realistic run (12366 menu, 40 Local seats; section "
                             "sip_realistic)")
    parser.add_argument("--soak", action="store_true",
                        help=f"only the soak: {soak.SOAK_SECONDS / 60:g} minutes at "
                             f"{soak.SOAK_RATE:g} calls/s (section sip_soak; ~11 min)")
    parser.add_argument("--calls", type=int, help="a trial size: calls per run")
    parser.add_argument("--rate", type=float, help="a trial size: calls per second")
    parser.add_argument("--seconds", type=float, help="a trial soak's length (default 600)")
    parser.add_argument("--profile", help="py-spy raw profiles of hotline, PATH.runN.txt")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every run's raw figures here")
    args = parser.parse_args(argv)
    trial = args.calls is not None or args.rate is not None or args.seconds is not None
    start = time.perf_counter()
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    name, module = "sip_load", sys.modules[__name__]
    if args.soak:
        name, module = "sip_soak", soak
        outcome = soak.measure(args.rate or soak.SOAK_RATE, args.seconds or soak.SOAK_SECONDS,
                               keep=args.keep)
    elif args.realistic:
        name, module = "sip_realistic", line
        outcome = line.measure(args.calls or line.LINE_SIZE[0], args.rate or line.LINE_SIZE[1],
                               keep=args.keep)
    else:
        if args.full:  # its own section: the quick one (make bench's) stays beside it
            name = "sip_load_full"
        sizes = [(args.calls or 400, args.rate or 40.0, 500)] if trial else None
        outcome = measure("full" if args.full else "quick",
                          search=args.full and not args.no_search and not trial,
                          profile=args.profile, raw=args.json,
                          transports=("hotline",) if args.no_asyncagi else SIDES[1:],
                          sizes=sizes, keep=args.keep)
    seconds = time.perf_counter() - start
    print(table(outcome))
    for note in outcome.notes:
        print(f"- {note}")
    if trial and not args.no_write:
        print("a trial size: BENCHMARKS.md not written")
    elif not args.no_write:
        cmd = "python -m bench.sip_load" + "".join(
            f" --{flag.replace('_', '-')}" for flag in
            ("full", "no_search", "no_asyncagi", "realistic", "soak") if getattr(args, flag))
        write_report({name: section(name, module, outcome, cmd, when, machine(), seconds)},
                     _order())
    return 0


def _order() -> list[str]:
    from bench.__main__ import discover

    order = list(discover())
    order.insert(order.index("sip_load") + 1, "sip_load_full")
    return order
