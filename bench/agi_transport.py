"""AGI transports against the real sandbox Asterisk: `python -m bench.agi_transport`.

Measures, on an Asterisk instance of its own (started and stopped here, on free ports,
with bench-only contexts appended to a copy of config/asterisk/extensions.conf), for the
choice of how hotline drives a call (issue 12, "Callers left in silence"):

1. AsyncAGI: per-command latency (AMI `AGI` action sent -> `AsyncAGIExec` received) of
   `GET VARIABLE`, for a mute caller (no frames), a waiting caller (`Wait()`, which sends
   silence frames with transmit_silence=yes) and a caller playing audio; then what a
   caller in AsyncAGI gets when the AMI client that drives it dies.
2. FastAGI (`agi://`, a minimal asyncio server run as a subprocess): the same latency;
   time from kill -9 / SIGSTOP of the server to the channel's next priority (AGISTATUS),
   with and without a command in flight; a call arriving while nothing listens, and while
   the server is stopped (connection accepted by the kernel, never served).
3. The lease: TIMEOUT(absolute) on the channel, pushed forward over AMI (Setvar) once a
   second; when the refreshes stop, how late the `T` extension runs and whether it
   interrupts AsyncAGI, FastAGI (with and without AGIEXITONHANGUP), Playback and Queue;
   and the Asterisk CPU the refreshes cost.
4. Asterisk CPU (/proc/<pid>/stat utime+stime) per 100 short calls (answer, a short
   prompt, a 1 s digit wait, hangup) for native dialplan, AsyncAGI and FastAGI, run
   A/B/C/A/B/C in one instance, as ratios to native.

Runs about 5-8 minutes (too slow for `make bench`: the module has no `run`/`TITLE`, so
`python -m bench` does not pick it up). Prints Markdown tables; `--json FILE` also
writes the raw figures. Needs root (the sandbox chroot) and the built sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "config" / "asterisk"
LONG_SOUND = "demo-instruct"  # 73 s in the sandbox's English prompts
SHORT_SOUND = "beep"

BENCH_DIALPLAN = r"""
; ---- appended by bench/agi_transport.py (bench instance only) ----
[bench-caller-mute]
; A caller that sends no frames at all (Echo returns only what it gets: nothing).
exten => s,1,Answer()
 same => n,Echo()

[bench-caller-wait]
; Like [caller]: Wait() sends silence frames (transmit_silence = yes), like RTP would.
exten => s,1,Answer()
 same => n,Wait(3600)

[bench-caller-audio]
; A caller that talks all the time.
exten => s,1,Answer()
 same => n(loop),Playback(@LONG@)
 same => n,Goto(loop)

[bench-ivr]
; The IVR leg: AGI(${AGIURL}), optionally under a lease TIMEOUT(absolute)=${LEASE}.
exten => s,1,Answer()
 same => n,GotoIf($["${LEASE}" = ""]?agi)
 same => n,Set(TIMEOUT(absolute)=${LEASE})
 same => n(agi),Set(AGIEXITONHANGUP=${EXITHUP})
 same => n,UserEvent(BenchBefore,Url: ${AGIURL})
 same => n,AGI(${AGIURL})
 same => n,UserEvent(BenchAfter,Status: ${AGISTATUS})
 same => n,Hangup()
exten => T,1,UserEvent(BenchT,Status: ${AGISTATUS})
 same => n,Hangup()

[bench-lease-app]
; A native application under a lease: Playback of a long prompt, or a Queue nobody serves.
exten => s,1,Answer()
 same => n,Set(TIMEOUT(absolute)=${LEASE})
 same => n,UserEvent(BenchBefore,App: ${APP})
 same => n,GotoIf($["${APP}" = "queue"]?q)
 same => n,Playback(@LONG@)
 same => n,UserEvent(BenchAfter,Status: played)
 same => n,Hangup()
 same => n(q),Queue(benchq,r)
 same => n,UserEvent(BenchAfter,Status: ${QUEUESTATUS})
 same => n,Hangup()
exten => T,1,UserEvent(BenchT,Status: lease)
 ; The lease is cleared once T runs: the fallback can queue the caller for its full time.
 same => n,Queue(benchq,r,,,3)
 same => n,UserEvent(BenchTAfter,Status: ${QUEUESTATUS})
 same => n,Hangup()

[bench-cpu]
; The short call of the CPU series: native, or the same steps over AGI(${AGIURL}).
exten => s,1,Answer()
 same => n,GotoIf($["${AGIURL}" = ""]?native)
 same => n,AGI(${AGIURL})
 same => n,Hangup()
 same => n(native),Playback(@SHORT@)
 same => n,Read(DIGIT,,1,,1,1)
 same => n,Hangup()
"""

QUEUES_CONF = """[general]
persistentmembers = no

[benchq]
strategy = ringall
joinempty = yes
leavewhenempty = no
"""


# -- FastAGI server (runs as a subprocess: `--serve PORT`) ---------------------------------


async def _agi_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    env: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"":
            break
        key, _, value = line.decode(errors="replace").partition(":")
        env[key.strip()] = value.strip()
    script = env.get("agi_network_script", "").strip("/")
    parts = script.split("/")
    uid = env.get("agi_uniqueid", "?")

    async def cmd(text: str) -> str:
        writer.write(text.encode() + b"\n")
        await writer.drain()
        while True:
            raw = await reader.readline()
            if not raw:
                raise ConnectionError("closed")
            reply = raw.decode(errors="replace").rstrip("\r\n")
            if reply == "HANGUP":  # sent when the channel hangs up (AGISIGHUP)
                continue
            if len(reply) >= 4 and reply[:3].isdigit() and reply[3] == " ":
                return reply

    def dead(reply: str) -> bool:
        return reply.startswith("511") or "result=-1" in reply

    print(f"conn {uid} {script}", flush=True)
    try:
        mode = parts[0]
        if mode == "latency":
            times = []
            for _ in range(int(parts[1])):
                start = time.perf_counter()
                await cmd("GET VARIABLE BENCHX")
                times.append(time.perf_counter() - start)
            print("lat " + json.dumps(times), flush=True)
        elif mode == "hold":
            wait_ms = int(parts[1])
            if wait_ms == 0:
                await reader.read()  # idle: no command until Asterisk closes
            else:
                while not dead(await cmd(f"WAIT FOR DIGIT {wait_ms}")):
                    pass
        elif mode == "cpu":
            await cmd(f'STREAM FILE {SHORT_SOUND} ""')
            await cmd("WAIT FOR DIGIT 1000")
            await cmd("HANGUP")
        elif mode == "exec":
            await cmd(f"EXEC Playback {LONG_SOUND}")
            await reader.read()
        elif mode == "stream":
            reply = await cmd(f'STREAM FILE {LONG_SOUND} ""')
            print(f"reply {reply}", flush=True)
            await reader.read()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_agi_session, "127.0.0.1", port, backlog=64)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


class AgiServer:
    """The FastAGI server subprocess, its stdout lines queued."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> AgiServer:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.agi_transport", "--serve", str(self.port),
            stdout=asyncio.subprocess.PIPE, cwd=str(ROOT))
        self._task = asyncio.create_task(self._pump())
        assert await self.line("ready", 10) is not None, "FastAGI server did not start"
        return self

    async def _pump(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            await self.lines.put(raw.decode().rstrip("\n"))

    async def line(self, prefix: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                text = await asyncio.wait_for(self.lines.get(), left)
            except TimeoutError:
                return None
            if text.startswith(prefix):
                return text
        return None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
            await self.proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# -- a minimal AMI client (no hotline or panoramisk code: an independent measurement) ------

Event = dict[str, str]


class Ami:
    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.pending: dict[str, asyncio.Future[Event]] = {}
        self.waiters: list[tuple[Callable[[Event], bool], asyncio.Future[Event]]] = []
        self.handlers: list[Callable[[Event], None]] = []
        self._ids = 0
        self._task: asyncio.Task[None] | None = None

    async def connect(self, port: int, user: str, secret: str) -> Ami:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        await self.reader.readline()  # banner
        self._task = asyncio.create_task(self._read())
        reply = await self.action("Login", Username=user, Secret=secret, Events="on")
        assert reply.get("Response") == "Success", reply
        return self

    async def _read(self) -> None:
        assert self.reader is not None
        frame: Event = {}
        while raw := await self.reader.readline():
            line = raw.decode(errors="replace").rstrip("\r\n")
            if line:
                key, _, value = line.partition(":")
                frame.setdefault(key.strip(), value.strip())
                continue
            if not frame:
                continue
            frame["_t"] = repr(time.monotonic())
            self._dispatch(frame)
            frame = {}
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("AMI closed"))

    def _dispatch(self, frame: Event) -> None:
        action_id = frame.get("ActionID", "")
        if "Response" in frame and action_id in self.pending:
            fut = self.pending.pop(action_id)
            if not fut.done():
                fut.set_result(frame)
            return
        for pred, fut in list(self.waiters):
            if not fut.done() and pred(frame):
                fut.set_result(frame)
        for handler in self.handlers:
            handler(frame)

    def send(self, name: str, variables: dict[str, str] | None = None,
             **fields: str) -> asyncio.Future[Event]:
        assert self.writer is not None
        self._ids += 1
        action_id = f"b{self._ids}"
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self.pending[action_id] = fut
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in fields.items()]
        lines += [f"Variable: {k}={v}" for k, v in (variables or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return fut

    async def action(self, name: str, variables: dict[str, str] | None = None,
                     **fields: str) -> Event:
        return await asyncio.wait_for(self.send(name, variables, **fields), 10)

    def expect(self, pred: Callable[[Event], bool]) -> asyncio.Future[Event]:
        """A future for the next event matching `pred` (register before acting)."""
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self.waiters.append(entry)
        fut.add_done_callback(lambda _: self.waiters.remove(entry))
        return fut

    def abort(self) -> None:
        """Drop the connection as a killed process would (the kernel closes it)."""
        assert self.writer is not None
        self.writer.transport.abort()


async def wait(fut: asyncio.Future[Event], timeout: float) -> Event | None:
    try:
        return await asyncio.wait_for(asyncio.shield(fut), timeout)
    except TimeoutError:
        fut.cancel()
        return None


def user_event(uid: str, *names: str) -> Callable[[Event], bool]:
    return lambda e: (e.get("Event") == "UserEvent" and e.get("UserEvent") in names
                      and e.get("Uniqueid") == uid)


def is_hangup(uid: str) -> Callable[[Event], bool]:
    return lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == uid


def stamp(event: Event) -> float:
    """Asterisk's own clock for the event (timestampevents = yes): same host clock."""
    return float(event["Timestamp"])


# -- the bench --------------------------------------------------------------------------


class Bench:
    def __init__(self, parts: str = "1234") -> None:
        self.parts = parts
        self.seq = 0
        self.results: dict[str, Any] = {}
        self.tables: list[str] = []

    def uid(self) -> str:
        self.seq += 1
        return f"{int(time.time())}.b{self.seq}"

    async def originate(self, uid: str, caller: str, context: str,
                        variables: dict[str, str], ami: Ami | None = None) -> None:
        reply = await (ami or self.ami).action(
            "Originate", variables, Channel=f"Local/s@bench-caller-{caller}/n",
            Context=context, Exten="s", Priority="1", Async="true",
            ChannelId=uid, OtherChannelId=uid + "-2")
        assert reply.get("Response") == "Success", reply

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def table(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        text = [f"### {title}", "", "| " + " | ".join(columns) + " |",
                "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|"]
        text += ["| " + " | ".join(row) + " |" for row in rows]
        out = "\n".join(text) + "\n"
        self.tables.append(out)
        print(out, flush=True)

    # ---- setup ---------------------------------------------------------------------

    async def run(self) -> None:
        from hotline.pbx.sandbox import (
            Sandbox,
            default_cache_dir,
            find_free_port,
            find_free_udp_port,
        )

        folder = Path(tempfile.mkdtemp(prefix="bench-agi-"))
        templates = folder / "templates"
        shutil.copytree(TEMPLATES, templates)
        self.agi_port = find_free_port()
        self.dead_port = find_free_port()
        ext = templates / "extensions.conf"
        ext.write_text(ext.read_text() + BENCH_DIALPLAN.replace("@LONG@", LONG_SOUND)
                       .replace("@SHORT@", SHORT_SOUND))
        sandbox = Sandbox(default_cache_dir(), templates)
        inst = sandbox.instance(f"bench-agi-{os.getpid()}", find_free_port(), find_free_port(),
                                find_free_udp_port(), wss_port=find_free_port())
        self.names: dict[str, str] = {}
        started = time.monotonic()
        inst.up(print, generated={"queues.conf": QUEUES_CONF})
        try:
            pid = inst.pid()
            assert pid is not None
            self.pid = pid
            self.results["asterisk"] = inst.cli("core show version").strip()
            self.ami = await Ami().connect(inst.ami_port, "hotline", inst.secret())
            self.ami.handlers.append(self._learn_names)
            self.secret = inst.secret()
            self.ami_port = inst.ami_port
            for part in self.parts:
                await getattr(self, f"part{part}")()
        finally:
            with contextlib.suppress(Exception):
                self.ami.abort()
            inst.down(print)
            shutil.rmtree(inst.dir, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
        self.results["seconds"] = time.monotonic() - started

    def _learn_names(self, event: Event) -> None:
        if event.get("Event") == "Newchannel":
            self.names[event.get("Uniqueid", "")] = event.get("Channel", "")

    def channel(self, uid: str) -> str:
        return self.names[uid]

    async def fresh_server(self) -> AgiServer:
        return await AgiServer(self.agi_port).start()

    def url(self, path: str, port: int | None = None) -> str:
        return f"agi://127.0.0.1:{port or self.agi_port}/{path}"

    # ---- 1. AsyncAGI -----------------------------------------------------------------

    async def part1(self, n: int = 200) -> None:
        rows = []
        for caller in ("mute", "wait", "audio"):
            uid = self.uid()
            start = self.ami.expect(lambda e, u=uid: e.get("Event") == "AsyncAGIStart"
                                    and e.get("Uniqueid") == u)
            await self.originate(uid, caller, "bench-ivr", {"AGIURL": "agi:async"})
            ev = await wait(start, 10)
            assert ev is not None, "no AsyncAGIStart"
            chan = ev["Channel"]
            times = []
            for i in range(n + 5):
                cid = f"{uid}-{i}"
                done = self.ami.expect(lambda e, c=cid: e.get("Event") == "AsyncAGIExec"
                                       and e.get("CommandId") == c)
                t0 = time.monotonic()
                self.ami.send("AGI", Channel=chan, Command="GET VARIABLE BENCHX",
                              CommandID=cid)
                got = await wait(done, 5)
                assert got is not None, "no AsyncAGIExec"
                if i >= 5:
                    times.append(float(got["_t"]) - t0)
            await self.hangup_channel(uid, chan)
            rows.append([f"AsyncAGI, {caller} caller", *summary(times)])
            self.results[f"async_latency_{caller}"] = times
        self.latency_rows = rows

        # The AMI client that drives the call dies: does the caller ever leave AGI?
        kill_rows = []
        for trial in range(2):
            ctl = await Ami().connect(self.ami_port, "hotline", self.secret)
            uid = self.uid()
            start = ctl.expect(lambda e, u=uid: e.get("Event") == "AsyncAGIStart"
                               and e.get("Uniqueid") == u)
            await self.originate(uid, "wait", "bench-ivr", {"AGIURL": "agi:async"}, ami=ctl)
            ev = await wait(start, 10)
            assert ev is not None
            chan = ev["Channel"]
            for i in range(3):
                done = ctl.expect(lambda e, c=f"k{trial}{i}": e.get("Event") == "AsyncAGIExec"
                                  and e.get("CommandId") == c)
                ctl.send("AGI", Channel=chan, Command="GET VARIABLE BENCHX",
                         CommandID=f"k{trial}{i}")
                await wait(done, 5)
            left = self.ami.expect(lambda e, u=uid: e.get("Uniqueid") == u and (
                e.get("Event") == "AsyncAGIEnd" or e.get("UserEvent") in ("BenchAfter",
                                                                            "BenchT")))
            killed = time.time()
            ctl.abort()
            observe = 10.0
            got = await wait(left, observe)
            kill_rows.append([f"AsyncAGI, AMI client dropped (trial {trial + 1})",
                              "never (still in AGI)" if got is None
                              else f"{stamp(got) - killed:.3f} s", f">= {observe:.0f} s"
                              if got is None else "-"])
            await self.hangup_channel(uid, chan)
        self.kill_rows = kill_rows

    async def hangup_channel(self, uid: str, chan: str) -> None:
        gone = self.ami.expect(is_hangup(uid))
        with contextlib.suppress(Exception):
            await self.ami.action("Hangup", Channel=chan)
        await wait(gone, 5)

    # ---- 2. FastAGI ----------------------------------------------------------------

    async def part2(self, n: int = 200) -> None:
        server = await self.fresh_server()
        try:
            for caller in ("mute", "wait", "audio"):
                uid = self.uid()
                after = self.ami.expect(user_event(uid, "BenchAfter"))
                await self.originate(uid, caller, "bench-ivr",
                                     {"AGIURL": self.url(f"latency/{n + 5}")})
                line = await server.line("lat ", 30)
                assert line is not None, "no latency from the FastAGI server"
                times = json.loads(line[4:])[5:]
                self.latency_rows.append([f"FastAGI, {caller} caller", *summary(times)])
                self.results[f"fast_latency_{caller}"] = times
                await wait(after, 5)
        finally:
            await server.stop()
        self.table("Per-command latency, GET VARIABLE (ms), 200 commands each",
                   ["transport, caller", "p50", "p90", "p99", "max", "mean"],
                   self.latency_rows)

        rows: list[list[str]] = []
        # Server killed (kill -9: the kernel closes the socket).
        for path, label in (("hold/0", "idle (no command in flight)"),
                            ("hold/1000", "WAIT FOR DIGIT 1000 in flight"),
                            ("stream", "STREAM FILE (73 s prompt) in flight"),
                            ("exec", "EXEC Playback (73 s prompt) in flight")):
            figures, statuses = [], set()
            for trial in range(5):
                server = await self.fresh_server()
                uid = self.uid()
                after = self.ami.expect(user_event(uid, "BenchAfter", "BenchT"))
                await self.originate(uid, "wait", "bench-ivr", {"AGIURL": self.url(path)})
                assert await server.line("conn ", 10) is not None
                await asyncio.sleep(0.5 + trial * 0.17)
                killed = time.time()
                server.signal(signal.SIGKILL)
                got = await wait(after, 8)
                await server.stop()
                if got is None:
                    figures.append(float("inf"))
                    await self.hangup_channel(uid, self.channel(uid))
                else:
                    figures.append(stamp(got) - killed)
                    statuses.add(got.get("Status", "?"))
            rows.append([f"kill -9, {label}", fmt_s(figures), ",".join(sorted(statuses))])
            self.results[f"fast_kill_{path}"] = figures

        # Nothing listening when the call arrives.
        figures, statuses = [], set()
        for _ in range(5):
            uid = self.uid()
            before = self.ami.expect(user_event(uid, "BenchBefore"))
            after = self.ami.expect(user_event(uid, "BenchAfter"))
            await self.originate(uid, "wait", "bench-ivr",
                                 {"AGIURL": self.url("hold/0", self.dead_port)})
            b, a = await wait(before, 5), await wait(after, 8)
            assert b is not None
            assert a is not None
            figures.append(stamp(a) - stamp(b))
            statuses.add(a.get("Status", "?"))
        rows.append(["no server listening (refused)", fmt_s(figures),
                     ",".join(sorted(statuses))])
        self.results["fast_refused"] = figures

        # SIGSTOP: the server process is wedged; its socket stays open (half-open/wedged).
        for label, path, stop_first in (
                ("SIGSTOP, WAIT FOR DIGIT 1000 in flight, no lease", "hold/1000", False),
                ("SIGSTOP before the call arrives, no lease", "hold/1000", True)):
            figures, statuses = [], set()
            for _ in range(2):
                got, waited = await self.stopped_trial(path, stop_first, lease=None,
                                                       exit_on_hangup=False)
                figures.append(waited if got is None else got[0])
                if got is not None:
                    statuses.add(got[1])
            rows.append([label, fmt_s(figures, observed=8), ",".join(sorted(statuses)) or "-"])
        self.fast_rows = rows

    async def stopped_trial(self, path: str, stop_first: bool, lease: int | None,
                            exit_on_hangup: bool, observe: float = 8.0,
                            ) -> tuple[tuple[float, str, str] | None, float]:
        """A FastAGI call whose server is SIGSTOPped (before the call or once it is in AGI,
        at the moment lease refreshes stop). Returns (seconds from the stop, or from the
        last refresh + lease, to the next priority; AGISTATUS; event) or None."""
        server = await self.fresh_server()
        uid = self.uid()
        try:
            after = self.ami.expect(user_event(uid, "BenchAfter", "BenchT"))
            before = self.ami.expect(user_event(uid, "BenchBefore"))
            variables = {"AGIURL": self.url(path), "EXITHUP": "yes" if exit_on_hangup else ""}
            if lease is not None:
                variables["LEASE"] = str(lease)
            if stop_first:
                server.signal(signal.SIGSTOP)
            await self.originate(uid, "wait", "bench-ivr", variables)
            b = await wait(before, 5)
            assert b is not None
            mark = stamp(b)
            if not stop_first:
                assert await server.line("conn ", 10) is not None
            if lease is not None:
                for _ in range(2):  # hotline alive: the lease is pushed forward
                    await asyncio.sleep(1.0)
                    mark = time.time()
                    await self.ami.action("Setvar", Channel=b["Channel"],
                                          Variable="TIMEOUT(absolute)", Value=str(lease))
                mark += lease  # when the lease runs out
            if not stop_first:
                server.signal(signal.SIGSTOP)
                if lease is None:
                    mark = time.time()
            got = await wait(after, observe + (lease or 0))
            if got is None:
                await self.hangup_channel(uid, b["Channel"])
                return None, observe
            return (stamp(got) - mark, got.get("Status", "?"), got["UserEvent"]), 0.0
        finally:
            await server.stop()

    # ---- 3. the lease ------------------------------------------------------------------

    async def part3(self) -> None:
        rows: list[list[str]] = []
        # AsyncAGI under a lease refreshed over AMI; refreshes stop (hotline dead/wedged).
        for caller in ("mute", "wait"):
            figures, outcome = [], set()
            for _ in range(3):
                uid = self.uid()
                before = self.ami.expect(user_event(uid, "BenchBefore"))
                end = self.ami.expect(user_event(uid, "BenchAfter", "BenchT"))
                await self.originate(uid, caller, "bench-ivr",
                                     {"AGIURL": "agi:async", "LEASE": "3"})
                b = await wait(before, 5)
                assert b is not None
                last = time.time()
                for _ in range(2):
                    await asyncio.sleep(1.0)
                    last = time.time()
                    await self.ami.action("Setvar", Channel=b["Channel"],
                                          Variable="TIMEOUT(absolute)", Value="3")
                got = await wait(end, 8)
                if got is None:
                    figures.append(float("inf"))
                    await self.hangup_channel(uid, b["Channel"])
                else:
                    figures.append(stamp(got) - (last + 3))
                    outcome.add(f"{got['UserEvent']}/{got.get('Status')}")
            rows.append([f"AsyncAGI (idle), {caller} caller, lease 3 s", fmt_s(figures),
                         ",".join(sorted(outcome))])

        # FastAGI, server wedged (SIGSTOP) at the moment refreshes stop.
        for path, exit_on_hangup, label in (
                ("hold/1000", False, "FastAGI WAIT FOR DIGIT loop, AGIEXITONHANGUP unset"),
                ("hold/1000", True, "FastAGI WAIT FOR DIGIT loop, AGIEXITONHANGUP=yes"),
                ("hold/0", True, "FastAGI idle server, AGIEXITONHANGUP=yes")):
            figures, outcome = [], set()
            for _ in range(2 if not exit_on_hangup else 3):
                got, _waited = await self.stopped_trial(path, False, 3, exit_on_hangup)
                if got is None:
                    figures.append(float("inf"))
                else:
                    figures.append(got[0])
                    outcome.add(f"{got[2]}/{got[1]}")
            rows.append([label + ", SIGSTOP, lease 3 s", fmt_s(figures, observed=8),
                         ",".join(sorted(outcome)) or "stuck in AGI"])
        # A call that arrives while the server is already wedged (accepted, never served).
        figures, outcome = [], set()
        for _ in range(3):
            got, _w = await self.stopped_trial("hold/1000", True, 3, True)
            figures.append(float("inf") if got is None else got[0])
            if got is not None:
                outcome.add(f"{got[2]}/{got[1]}")
        rows.append(["FastAGI, server SIGSTOPped before the call, AGIEXITONHANGUP=yes, lease 3 s",
                     fmt_s(figures, observed=8), ",".join(sorted(outcome)) or "stuck"])

        # The lease interrupts a command in flight / native applications (no refresh).
        server = await self.fresh_server()
        try:
            for label, ctx, variables in (
                    ("FastAGI STREAM FILE (73 s prompt) in flight", "bench-ivr",
                     {"AGIURL": self.url("stream"), "LEASE": "2", "EXITHUP": "yes"}),
                    ("native Playback (73 s prompt)", "bench-lease-app",
                     {"APP": "playback", "LEASE": "2"}),
                    ("native Queue (nobody serving)", "bench-lease-app",
                     {"APP": "queue", "LEASE": "2"})):
                figures, outcome = [], set()
                for _ in range(2):
                    uid = self.uid()
                    before = self.ami.expect(user_event(uid, "BenchBefore"))
                    end = self.ami.expect(user_event(uid, "BenchAfter", "BenchT"))
                    await self.originate(uid, "wait", ctx, variables)
                    b = await wait(before, 5)
                    assert b is not None
                    got = await wait(end, 8)
                    if got is None:
                        figures.append(float("inf"))
                        await self.hangup_channel(uid, b["Channel"])
                    else:
                        figures.append(stamp(got) - (stamp(b) + 2))
                        outcome.add(f"{got['UserEvent']}/{got.get('Status')}")
                rows.append([f"{label}, lease 2 s", fmt_s(figures), ",".join(sorted(outcome))])
            # After T the lease is off: the fallback Queue (3 s timeout) runs in full.
            uid = self.uid()
            first = self.ami.expect(user_event(uid, "BenchT"))
            then = self.ami.expect(user_event(uid, "BenchTAfter"))
            await self.originate(uid, "wait", "bench-lease-app", {"APP": "playback",
                                                                  "LEASE": "1"})
            t, a = await wait(first, 6), await wait(then, 8)
            rows.append(["T extension then Queue(benchq,r,,,3): time in that queue",
                         "-" if t is None or a is None else f"{stamp(a) - stamp(t):.3f} s",
                         "-" if a is None else f"BenchTAfter/{a.get('Status')}"])
        finally:
            await server.stop()

        # Refreshed leases while the FastAGI server is alive but idle (no command): does a
        # refresh wake Asterisk without a winner (run_agi's "No channel, no fd?" retries)?
        server = await self.fresh_server()
        try:
            for caller in ("mute", "wait"):
                uid = self.uid()
                before = self.ami.expect(user_event(uid, "BenchBefore"))
                end = self.ami.expect(user_event(uid, "BenchAfter", "BenchT"))
                await self.originate(uid, caller, "bench-ivr",
                                     {"AGIURL": self.url("hold/0"), "LEASE": "3",
                                      "EXITHUP": "yes"})
                b = await wait(before, 5)
                assert b is not None
                refreshes = 0
                while not end.done() and refreshes < 8:
                    await asyncio.sleep(1.0)
                    refreshes += 1
                    with contextlib.suppress(Exception):
                        await self.ami.action("Setvar", Channel=b["Channel"],
                                              Variable="TIMEOUT(absolute)", Value="3")
                if end.done():
                    got = end.result()
                    rows.append([f"FastAGI idle server alive, {caller} caller, lease 3 s "
                                 "refreshed each 1 s", "left AGI after "
                                 f"{stamp(got) - stamp(b):.2f} s (while refreshed)",
                                 f"{got['UserEvent']}/{got.get('Status')}"])
                else:
                    got = await wait(end, 5)
                    rows.append([f"FastAGI idle server alive, {caller} caller, lease 3 s "
                                 "refreshed each 1 s", "stayed in AGI for 8 refreshes; "
                                 + ("then T" if got else "then ?"),
                                 f"{got['UserEvent']}/{got.get('Status')}" if got else "-"])
                    if got is None:
                        await self.hangup_channel(uid, b["Channel"])
        finally:
            await server.stop()
        self.table("Time to the next priority after a failure (s; Asterisk's event clock)",
                   ["case", "seconds (min / median / max of trials)", "AGISTATUS"],
                   self.kill_rows + self.fast_rows)
        self.table("The lease (TIMEOUT(absolute)): lateness of the T extension after the "
                   "lease ran out (s)",
                   ["case", "lateness (min / median / max)", "event/status"], rows)
        await self.lease_cost()

    async def lease_cost(self, calls: int = 20, seconds: int = 10) -> None:
        uids, chans = [], []
        for _ in range(calls):
            uid = self.uid()
            before = self.ami.expect(user_event(uid, "BenchBefore"))
            await self.originate(uid, "mute", "bench-ivr", {"AGIURL": "agi:async"})
            b = await wait(before, 5)
            assert b is not None
            uids.append(uid)
            chans.append(b["Channel"])
        await asyncio.sleep(1)
        c0 = self.cpu()
        await asyncio.sleep(seconds)
        idle = self.cpu() - c0
        c0 = self.cpu()
        rtts = []
        for _ in range(seconds):
            tick = time.monotonic()
            for chan in chans:
                t0 = time.monotonic()
                await self.ami.action("Setvar", Channel=chan, Variable="TIMEOUT(absolute)",
                                      Value="30")
                rtts.append(time.monotonic() - t0)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        refreshed = self.cpu() - c0
        for uid, chan in zip(uids, chans, strict=True):
            await self.hangup_channel(uid, chan)
        n = calls * seconds
        extra = refreshed - idle
        self.results["lease_cost"] = {"idle_cpu_s": idle, "refreshed_cpu_s": refreshed,
                                      "setvars": n, "rtt": rtts}
        self.table(f"Lease refresh cost: {calls} idle AsyncAGI calls, {seconds} s, one AMI "
                   "Setvar TIMEOUT(absolute) per call per second",
                   ["series", "Asterisk CPU (ms)", "per 1000 Setvar (ms)",
                    "Setvar round trip p50 / p99 (ms)"],
                   [["no refresh", f"{idle * 1000:.0f}", "-", "-"],
                    ["refreshed", f"{refreshed * 1000:.0f}",
                     f"{extra * 1000 / n * 1000:.0f}",
                     f"{pct(rtts, 50) * 1000:.2f} / {pct(rtts, 99) * 1000:.2f}"]])

    # ---- 4. CPU ----------------------------------------------------------------------

    async def part4(self, calls: int = 100, concurrency: int = 10) -> None:
        server = await self.fresh_server()
        async_uids: set[str] = set()

        def on_start(event: Event) -> None:
            if event.get("Event") == "AsyncAGIStart" and event.get("Uniqueid") in async_uids:
                asyncio.get_running_loop().create_task(self.drive_async(event["Channel"],
                                                                        event["Uniqueid"]))

        self.ami.handlers.append(on_start)
        variants = {"native": {"AGIURL": ""}, "AsyncAGI": {"AGIURL": "agi:async"},
                    "FastAGI": {"AGIURL": self.url("cpu")}}
        spent: dict[str, list[float]] = {name: [] for name in variants}
        walls: dict[str, list[float]] = {name: [] for name in variants}
        try:
            for _ in range(2):
                for name, variables in variants.items():
                    await asyncio.sleep(1.0)
                    c0, w0 = self.cpu(), time.monotonic()
                    sem = asyncio.Semaphore(concurrency)

                    async def one(variables: dict[str, str] = variables,
                                  name: str = name, sem: asyncio.Semaphore = sem) -> None:
                        async with sem:
                            uid = self.uid()
                            if name == "AsyncAGI":
                                async_uids.add(uid)
                            gone = self.ami.expect(is_hangup(uid))
                            await self.originate(uid, "wait", "bench-cpu", variables)
                            assert await wait(gone, 20) is not None, f"{name} call stuck"

                    await asyncio.gather(*(one() for _ in range(calls)))
                    await asyncio.sleep(0.5)  # let the caller halves finish too
                    spent[name].append(self.cpu() - c0)
                    walls[name].append(time.monotonic() - w0)
        finally:
            self.ami.handlers.remove(on_start)
            await server.stop()
        native = statistics.mean(spent["native"])
        rows = [[name, " / ".join(f"{s * 1000:.0f}" for s in spent[name]),
                 f"{statistics.mean(spent[name]) / native:.2f}x",
                 " / ".join(f"{w:.1f}" for w in walls[name])] for name in variants]
        self.results["cpu"] = {"spent": spent, "walls": walls}
        self.table(f"Asterisk CPU per {calls} short calls ({concurrency} at a time; order "
                   "native, AsyncAGI, FastAGI, twice)",
                   ["variant", "CPU ms (run 1 / run 2)", "ratio to native", "wall s"], rows)

    async def drive_async(self, chan: str, uid: str) -> None:
        for i, command in enumerate((f'STREAM FILE {SHORT_SOUND} ""', "WAIT FOR DIGIT 1000",
                                     "HANGUP")):
            cid = f"{uid}-c{i}"
            done = self.ami.expect(lambda e, c=cid: e.get("Event") == "AsyncAGIExec"
                                   and e.get("CommandId") == c)
            self.ami.send("AGI", Channel=chan, Command=command, CommandID=cid)
            if await wait(done, 10) is None:
                return


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(times: list[float]) -> list[str]:
    return [f"{pct(times, 50) * 1000:.2f}", f"{pct(times, 90) * 1000:.2f}",
            f"{pct(times, 99) * 1000:.2f}", f"{max(times) * 1000:.2f}",
            f"{statistics.mean(times) * 1000:.2f}"]


def fmt_s(values: list[float], observed: float | None = None) -> str:
    if all(v == float("inf") for v in values) or (observed and all(
            v >= observed for v in values)):
        return f"never within the {observed or 8:.0f} s watched ({len(values)} trials)"
    finite = sorted(v for v in values if v != float("inf"))
    text = f"{finite[0]:.3f} / {statistics.median(finite):.3f} / {finite[-1]:.3f}"
    stuck = len(values) - len(finite)
    return text + (f" ({stuck} of {len(values)} never)" if stuck else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agi_transport",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--parts", default="1234",
                        help="which parts to run (default 1234; 2 and 3 need 1 and 2)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.serve))
        return 0
    bench = Bench(args.parts)
    asyncio.run(bench.run())
    print(f"({bench.results.get('seconds', 0):.0f} s; {bench.results.get('asterisk')})")
    if args.json:
        args.json.write_text(json.dumps(bench.results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
