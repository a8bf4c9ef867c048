"""FastAGI: one TCP connection per call from Asterisk to hotline, and the lease.

The line's dialplan entry (config/asterisk/extensions.conf [ivr]) runs
`AGI(agi://127.0.0.1:PORT/ivr,${CHANNEL(linkedid)},${EXTEN})` under a lease
(`TIMEOUT(absolute)`, with AGIEXITONHANGUP=yes and a `T` extension that sends the caller
on). Why both (measured in bench/agi_transport.py, README "hotline never goes silent"):

- A connection that dies (hotline killed, crashed, stopped cleanly) ends AGI at once:
  Asterisk continues the dialplan to the fallback within milliseconds, even mid-command;
  a connection refused (hotline down) goes there at once. No heartbeat, no clock shared.
- A hotline that is wedged or cut off from AMI keeps its sockets open: the lease, which
  only hotline's event loop pushes forward over AMI (Lease), runs out within
  `seconds` and Asterisk's `T` extension sends the caller on.

Queue runs in the dialplan, outside AGI (the lease would cut it): `FastAgiChannel.queue`
sets what to queue, leaves AGI, and waits for the same call's `after-queue` connection,
where it reads what happened from the channel (QUEUESTATUS, MEMBERINTERFACE,
ANSWEREDTIME_MS).

Everything a connection sends is bounded (line length, number of environment lines, time
to send them); a bad line ends that connection (logged), never the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from hotline.core.calls.tracking import caller_id
from hotline.pbx.agi import AgiCommands, DialOutcome, QueueOutcome, dial_args
from hotline.pbx.ami.agi import AgiResult, parse_agi_line
from hotline.pbx.errors import (
    AgiHangup,
    AgiPortBusy,
    AgiProtocolError,
    AmiActionFailed,
    AmiError,
)
from hotline.pbx.operations import check_monitor_file
from hotline.pbx.queues import queue_args

log = structlog.get_logger("hotline.agi")

# (channels, variable, value) -> for each channel None (set) or the error its Setvar met.
SetvarMany = Callable[[list[str], str, str], Awaitable[list[AmiError | None]]]

# The scripts of hotline's dialplan (agi://host:port/<script>).
IVR_SCRIPT = "ivr"
AFTER_QUEUE_SCRIPT = "after-queue"
# The channel variables the dialplan reads when hotline leaves AGI to queue a caller.
NEXT_VARIABLE = "HOTLINE_NEXT"
QUEUE_ARGS_VARIABLE = "HOTLINE_QUEUE_ARGS"
# The file the dialplan's MixMonitor records the queue's conversation into (empty: none).
RECORDING_VARIABLE = "HOTLINE_RECORDING"
LEASE_VARIABLE = "TIMEOUT(absolute)"
MAX_LINE = 8192  # bytes of one line from Asterisk
MAX_ENV_LINES = 200  # agi_* lines of one connection (Asterisk sends about 25)
ENV_TIMEOUT = 5.0  # seconds for Asterisk to send the environment


def default_agi_port(ami_port: int) -> int:
    """The FastAGI port beside an AMI port (the sandbox's templates and the service agree
    on it unless agi.port says otherwise)."""
    return ami_port + 1 if ami_port < 65535 else ami_port - 1


@dataclass
class AgiConnection:
    """One FastAGI connection: its `agi_*` environment and its command stream."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    env: dict[str, str]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False

    @property
    def script(self) -> str:
        # agi_network_script: "ivr" for agi://host:port/ivr (no leading slash).
        return self.env.get("agi_network_script", "").strip("/")

    def arg(self, n: int) -> str:
        return self.env.get(f"agi_arg_{n}", "")

    async def command(self, text: str) -> AgiResult:
        if "\n" in text or "\r" in text:
            raise ValueError("an AGI command is one line")
        async with self.lock:
            if self.closed:
                raise AgiHangup(f"AGI connection of {self.env.get('agi_channel')} is closed")
            try:
                self.writer.write(text.encode() + b"\n")
                await self.writer.drain()
                line = await self._line()
                if line == "HANGUP":  # the channel hung up (sent before its result)
                    raise AgiHangup(f"{self.env.get('agi_channel')} hung up during {text!r}")
                result = parse_agi_line(line)
                while line[3:4] == "-":  # a multi-line answer (520-usage ... 520 end)
                    line = await self._line()
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                self.close()
                raise AgiHangup(f"AGI connection lost during {text!r}: {exc}") from None
            except (ValueError, asyncio.LimitOverrunError) as exc:
                self.close()
                raise AgiProtocolError(f"bad AGI answer to {text!r}: {exc}") from None
            if result.code == 0:
                self.close()
                raise AgiProtocolError(f"bad AGI answer to {text!r}: {line[:80]!r}")
            if result.code == 511:
                raise AgiHangup(f"{self.env.get('agi_channel')} hung up during {text!r}")
            return result

    async def _line(self) -> str:
        raw = await self.reader.readline()
        if not raw:
            raise asyncio.IncompleteReadError(b"", None)
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


async def read_env(reader: asyncio.StreamReader) -> dict[str, str]:
    """The `agi_*` lines Asterisk sends first, up to the blank line (bounded)."""
    env: dict[str, str] = {}
    async with asyncio.timeout(ENV_TIMEOUT):
        for _ in range(MAX_ENV_LINES):
            raw = await reader.readline()  # ValueError past the reader's limit
            if not raw:
                raise AgiProtocolError("connection closed before the AGI environment ended")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                return env
            key, sep, value = line.partition(": ")
            if not sep or not key.startswith("agi_"):
                raise AgiProtocolError(f"not an AGI environment line: {line[:80]!r}")
            env[key] = value
    raise AgiProtocolError(f"AGI environment longer than {MAX_ENV_LINES} lines")


class Lease:
    """Pushes each held channel's TIMEOUT(absolute) forward over AMI every `interval`:
    while hotline's event loop runs and AMI answers, the lease never runs out; when
    either stops, Asterisk sends the caller on (the dialplan's `T`) within `seconds`.

    One Setvar per held channel per round, at most `parallel` in flight: 500 calls cost
    1,000 Setvars per second. A round that takes longer than `interval` delays the next
    one (never two rounds at once). With `setvar_many` ((channels, variable, value) ->
    awaitable of each channel's error or None) a round sends the Setvars of each
    `parallel` channels as one batch, every batch at once, and awaits each batch as a
    whole, instead of a task and a timer per channel (the lease was 7 % of hotline's CPU
    on real calls, bench/sip_load); `setvar` then only voids.

    A refresh that got no answer may still land, late, on a channel that has left AGI (in
    a queue, talking to a seat), where the re-armed timeout would cut the call `seconds`
    later: it is voided (a Setvar of 0). On the same link the void lands after it
    (Asterisk runs one connection's actions in order). But a link that is lost and heals
    (a half-open route, a middlebox, a stalled Asterisk) can deliver what it held and
    have only part of it run: the refresh, not the void after it. So the channels with a
    refresh or a void unanswered when a link is lost are voided again on the next link as
    soon as it is logged in (`relinked`, before the resync), and every round for `guard`
    seconds after, while they are out of AGI."""

    def __init__(self, setvar: Callable[[str, str, str], object], *, seconds: float = 2.0,
                 interval: float = 0.5, parallel: int = 100, guard: float = 10.0,
                 setvar_many: SetvarMany | None = None) -> None:
        self._setvar = setvar  # (channel, variable, value) -> awaitable
        self._setvar_many = setvar_many
        self.seconds = seconds
        self.interval = interval
        self.parallel = parallel
        self.guard = guard
        self.held: set[str] = set()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._voiding: dict[str, asyncio.Task[None]] = {}
        # Channels whose last refresh got no answer (timed out, or its link was lost):
        # written, it may still land.
        self._unanswered: set[str] = set()
        # Channels being released (waiting for their refresh): a refresh failing then is
        # unanswered too, though the channel is no longer held.
        self._releasing: set[str] = set()
        # Channels out of AGI whose void got no answer: it may not have run.
        self._unvoided: set[str] = set()
        # Channels a refresh of a lost link may still reach, and until when (loop time)
        # they are voided again while out of AGI.
        self._stale: dict[str, float] = {}
        self.refreshes = 0
        self.failures = 0
        self.voided = 0

    @property
    def value(self) -> str:
        return f"{self.seconds:g}"

    def hold(self, channel: str) -> None:
        self.held.add(channel)

    async def release(self, channel: str) -> None:
        """Stop refreshing `channel`; returns once no refresh of it is in flight (so the
        dialplan's own clearing of the lease is the last word), or, if one is still
        unanswered after 1 s, once it is voided (`drop`)."""
        self.held.discard(channel)
        task = self._inflight.get(channel)
        if task is not None:
            self._releasing.add(channel)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), 1.0)
            finally:
                self._releasing.discard(channel)
        self.drop(channel)

    def forget(self, channel: str) -> None:
        """Stop refreshing `channel`, without voiding a refresh in flight: for a call that
        hangs up now (finished: HOTLINE_DONE set), where a refresh landing late changes
        nothing. A void per finished call costs a Setvar each, most when Asterisk answers
        slowly (a round stays in flight longer): load on a loaded Asterisk."""
        self.held.discard(channel)
        self._unanswered.discard(channel)

    def drop(self, channel: str) -> None:
        """Stop refreshing `channel` now: its call left AGI (the lease ran out, the caller
        hung up, the session ended). A refresh of it still unanswered may yet land (a
        stalled AMI link that comes back, a busy Asterisk) with the channel in a queue,
        a transfer or talking to a seat, where a re-armed TIMEOUT(absolute) would cut the
        call 2 s later. Asterisk runs a connection's actions in order: a Setvar of 0 sent
        now lands right after that refresh and voids it. (One refresh per channel is in
        flight at most; one that timed out or lost its link is no longer in flight but
        may land all the same: it is voided too, and so is a channel a refresh of a lost
        link may still reach.)"""
        self.held.discard(channel)
        unanswered = (channel in self._inflight or channel in self._unanswered
                      or channel in self._stale)
        self._unanswered.discard(channel)
        if unanswered:
            self._start_void(channel)

    def _start_void(self, channel: str) -> None:
        if channel in self._voiding:
            return
        task = asyncio.get_running_loop().create_task(self._void(channel))
        self._voiding[channel] = task
        task.add_done_callback(lambda _: self._voiding.pop(channel, None))

    async def _void(self, channel: str) -> None:
        self.voided += 1
        try:
            await self._setvar(channel, LEASE_VARIABLE, "0")  # type: ignore[misc]
            self._unvoided.discard(channel)
        except AmiActionFailed as exc:
            # Refused: the channel is gone (hung up), nothing left to protect.
            self._unvoided.discard(channel)
            self._stale.pop(channel, None)
            log.debug("agi.lease_void_refused", channel=channel, error=str(exc))
        except AmiError as exc:
            if channel not in self.held:
                self._unvoided.add(channel)
            log.debug("agi.lease_void_failed", channel=channel, error=str(exc))

    async def relinked(self) -> None:
        """A new AMI link is logged in (the gateway's on_connect, before the resync):
        what the lost one held may still run, in part. The channels with a refresh or a
        void of theirs unanswered are guarded for `guard` seconds; those out of AGI are
        voided now, on this link."""
        until = asyncio.get_running_loop().time() + self.guard
        for channel in self._unanswered | self._unvoided:
            self._stale[channel] = until
        self._unvoided.clear()
        if self._stale:
            log.info("agi.lease_guarded_after_relink", channels=len(self._stale),
                     out_of_agi=len(set(self._stale) - self.held), guard=self.guard)
        self._void_stale()
        pending = [self._voiding[c] for c in self._stale if c in self._voiding]
        if pending:  # written before the resync's actions
            await asyncio.wait(pending, timeout=self.seconds)

    def _void_stale(self) -> None:
        """Void the guarded channels that are out of AGI (and forget those past their
        guard)."""
        now = asyncio.get_running_loop().time()
        for channel, until in list(self._stale.items()):
            if until <= now:
                del self._stale[channel]
            elif channel not in self.held:
                self._start_void(channel)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.parallel)
        while True:
            started = loop.time()
            tasks = []
            if self._stale:  # guarded after a relink: voided again while out of AGI
                self._void_stale()
            if self._setvar_many is not None:
                due = [c for c in self.held if c not in self._inflight]
                for first in range(0, len(due), self.parallel):
                    # Every batch goes out now (none waits for another's answers); a
                    # channel is in flight until its own batch is answered.
                    chunk = due[first:first + self.parallel]
                    task = loop.create_task(self._refresh_many(chunk))
                    for channel in chunk:
                        self._inflight[channel] = task
                    tasks.append(task)
                if tasks:
                    await asyncio.wait(tasks, timeout=self.seconds)
                await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))
                continue
            for channel in list(self.held):
                if channel in self._inflight:
                    continue  # its last refresh is still on its way
                await gate.acquire()
                task = loop.create_task(self._refresh(channel, gate))
                self._inflight[channel] = task
                tasks.append(task)
            if tasks:
                await asyncio.wait(tasks, timeout=self.seconds)
            await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))

    async def _refresh_many(self, channels: list[str]) -> None:
        assert self._setvar_many is not None
        try:
            # Released meanwhile (left AGI): not refreshed.
            held = [c for c in channels if c in self.held]
            errors = await self._setvar_many(held, LEASE_VARIABLE, self.value) if held else []
            for channel, error in zip(held, errors, strict=True):
                if error is None:
                    self.refreshes += 1
                    self._unanswered.discard(channel)
                    continue
                self.failures += 1
                # Timed out or cut off: it may yet land.
                if channel in self.held or channel in self._releasing:
                    self._unanswered.add(channel)
                log.debug("agi.lease_refresh_failed", channel=channel, error=str(error))
        finally:
            me = asyncio.current_task()
            for channel in channels:
                if self._inflight.get(channel) is me:
                    del self._inflight[channel]

    async def _refresh(self, channel: str, gate: asyncio.Semaphore) -> None:
        try:
            if channel in self.held:
                await self._setvar(channel, LEASE_VARIABLE, self.value)  # type: ignore[misc]
                self.refreshes += 1
                self._unanswered.discard(channel)
        except AmiError as exc:
            self.failures += 1
            # Timed out or cut off: it may yet land.
            if channel in self.held or channel in self._releasing:
                self._unanswered.add(channel)
            log.debug("agi.lease_refresh_failed", channel=channel, error=str(exc))
        finally:
            gate.release()
            self._inflight.pop(channel, None)


class FastAgiChannel(AgiCommands):
    """A call in hotline's IVR over FastAGI: the AGI commands the IVR uses (AgiCommands,
    shared with AsyncAGI's AgiChannel), across the call's connections (the menu's, and
    one after each queue)."""

    def __init__(self, server: FastAgiServer, connection: AgiConnection) -> None:
        self.server = server
        self.connection = connection
        env = connection.env
        self.channel = env.get("agi_channel", "")
        self.uniqueid = env.get("agi_uniqueid", "")
        self.linkedid = connection.arg(1) or self.uniqueid
        self.extension = connection.arg(2) or env.get("agi_extension", "")
        self.number = caller_id(env.get("agi_callerid"))
        self.name = caller_id(env.get("agi_calleridname"))
        self.script = connection.script
        # Between two connections: the caller is in a queue of the dialplan.
        self.in_queue = False
        self.finished = False  # finish() done: HOTLINE_DONE set, the call hangs up
        server.lease.hold(self.channel)

    async def command(self, text: str, timeout: float | None = None) -> AgiResult:
        if timeout is None:
            return await self.connection.command(text)
        async with asyncio.timeout(timeout):
            return await self.connection.command(text)

    async def dial_out(self, number: str, timeout: int = 60) -> DialOutcome:
        """Transfer the caller to `number`. Dial runs inside AGI without the lease (it
        would cut the call); the lease is back once Dial returns."""
        await self.server.lease.release(self.channel)
        await self.set_variable(LEASE_VARIABLE, "0")
        try:
            await self.exec("Dial", dial_args(number, timeout))
        finally:
            if not self.connection.closed:
                with contextlib.suppress(AmiError):
                    await self.set_variable(LEASE_VARIABLE, self.server.lease.value)
                self.server.lease.hold(self.channel)
        return await self.dial_status()

    async def queue(self, queue: str, timeout: int,
                    recording: str | None = None) -> QueueOutcome:
        """Wait in `queue` up to `timeout` seconds: the dialplan runs Queue (outside AGI,
        without the lease) and comes back on a new connection; what happened is read
        there from the channel. `recording`: the file (as Asterisk sees it) the
        dialplan's MixMonitor records the conversation with the seat into (bridged audio
        only), stopped when the queue returns; None: not recorded."""
        await self.set_variable(RECORDING_VARIABLE,
                                check_monitor_file(recording) if recording else "")
        await self.set_variable(QUEUE_ARGS_VARIABLE, queue_args(queue, timeout))
        await self.set_variable(NEXT_VARIABLE, "queue")
        back = self.server.expect(self.linkedid)
        self.in_queue = True
        try:
            await self._leave()
            # Bounded: the caller who hangs up in the queue never comes back (the call
            # handling cancels the wait when the call ends; this is the backstop).
            async with asyncio.timeout(timeout + 120):
                connection = await back
        finally:
            self.in_queue = False
            self.server.unexpect(self.linkedid, back)
        self.connection = connection
        self.server.lease.hold(self.channel)
        return await self.queue_outcome(queue)

    async def finish(self) -> None:
        """Hotline has finished with the call: the dialplan hangs up, not falls back.
        HOTLINE_DONE set, the connection closes and the dialplan's Hangup() follows at
        once: no AGI HANGUP (a command, and its two AGIExec events, less per call). A
        refresh in flight is neither waited for (release) nor voided (drop): landing on
        a channel that hangs up, it changes nothing."""
        await self.mark_done()
        self.server.lease.forget(self.channel)
        self.finished = True
        self.connection.close()

    async def send_on(self, *, done: bool = False) -> None:
        """Leave AGI: to the dialplan's fallback (queue, voicemail), or, `done`, to hang up."""
        if done:
            with contextlib.suppress(AmiError):
                await self.mark_done()
        await self._leave()

    async def _leave(self) -> None:
        # The lease first: no refresh may land after the dialplan cleared it.
        await self.server.lease.release(self.channel)
        self.connection.close()

    def close(self) -> None:
        """Close the connection now (the caller goes on in the dialplan); for cleanup."""
        if not self.finished:  # finish() has seen to the lease: the call hangs up
            self.server.lease.drop(self.channel)
        self.connection.close()


OnCall = Callable[[FastAgiChannel], None]


class FastAgiServer:
    """The FastAGI server on loopback: each `ivr` connection is handed to `on_call` (a
    new FastAgiChannel); an `after-queue` connection goes to the channel waiting for it,
    or, when none is (hotline restarted meanwhile), to `on_call` too."""

    def __init__(self, host: str, port: int, lease: Lease, on_call: OnCall) -> None:
        self.host = host
        self.port = port
        self.lease = lease
        self.on_call = on_call
        self.listening = asyncio.Event()
        self.connections = 0
        self.refused = 0
        self._waiting: dict[str, asyncio.Future[AgiConnection]] = {}
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"agi://{self.host}:{self.port}"

    async def listen(self) -> None:
        """Bind the port (before the service connects to anything, so a port taken by
        another program is a clear error at start, not a traceback among the tasks)."""
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(self._accept, self.host, self.port,
                                                      limit=MAX_LINE)
        except OSError as exc:
            raise AgiPortBusy(
                f"cannot listen for FastAGI on {self.host}:{self.port} "
                f"({exc.strerror or exc}): another program (another hotline?) has it; "
                "stop it, or set agi.port (HOTLINE_AGI_PORT) to the port the dialplan's "
                "AGI(agi://...) uses") from None

    async def run(self) -> None:
        await self.listen()
        server = self._server
        assert server is not None  # listen() bound it or raised
        self.listening.set()
        log.info("agi.listening", address=self.address)
        try:
            async with server:
                await server.serve_forever()
        finally:
            self._server = None
            self.listening.clear()
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(AgiHangup("FastAGI server stopped"))

    def expect(self, linkedid: str) -> asyncio.Future[AgiConnection]:
        future: asyncio.Future[AgiConnection] = asyncio.get_running_loop().create_future()
        self._waiting[linkedid] = future
        return future

    def unexpect(self, linkedid: str, future: asyncio.Future[AgiConnection]) -> None:
        if self._waiting.get(linkedid) is future:
            del self._waiting[linkedid]

    def caller_gone(self, linkedid: str) -> None:
        """The call ended: nobody comes back from its queue."""
        future = self._waiting.pop(linkedid, None)
        if future is not None and not future.done():
            future.set_exception(AgiHangup(f"call {linkedid} ended in the queue"))

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        try:
            env = await read_env(reader)
        except (AgiProtocolError, ValueError, TimeoutError, ConnectionError,
                asyncio.LimitOverrunError) as exc:
            self.refused += 1
            log.error("agi.bad_connection", error=str(exc) or type(exc).__name__)
            writer.close()
            return
        self.connections += 1
        connection = AgiConnection(reader, writer, env)
        try:
            linkedid = connection.arg(1) or env.get("agi_uniqueid", "")
            if connection.script == AFTER_QUEUE_SCRIPT:
                future = self._waiting.pop(linkedid, None)
                if future is not None and not future.done():
                    future.set_result(connection)
                    return
            elif connection.script != IVR_SCRIPT:
                log.error("agi.unknown_script", script=connection.script[:40])
                connection.close()
                return
            self.on_call(FastAgiChannel(self, connection))
        except Exception:
            # A bug in handing the call over must not end the server: this caller goes
            # on to the fallback (the connection closes), the next one is served.
            log.exception("agi.dispatch_failed",
                          took_ms=round((time.monotonic() - started) * 1000, 1))
            self.lease.drop(env.get("agi_channel", ""))
            connection.close()
