"""A real SIP phone for the tests: Debian's baresip (package baresip-core), registered as a
seat's phone, answering by itself, driven over its `ctrl_tcp` module.

Each phone gets a config folder of its own (in the test's tmp folder): `config` (no sound
card: it sends a WAV file, `aufile`, and hands what it receives to an `aubridge` device
nobody reads, so it needs none), `accounts` (the seat's user and password, 0600; the
password is read from the sandbox instance and goes nowhere else: baresip does not print
it, and no command sent to it carries it). Commands and events are netstrings of JSON
on the ctrl_tcp connection: `{"command": ..., "params": ..., "token": ...}` is answered
by `{"response": true, "ok": ..., "data": ..., "token": ...}`; events (`REGISTER_OK`,
`CALL_INCOMING`, `CALL_ESTABLISHED`, `CALL_CLOSED`, ...) come as `{"event": true, ...}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import struct
import wave
from pathlib import Path
from typing import Any

from hotline.pbx.sandbox import find_free_port

MODULES = Path("/usr/lib/baresip/modules")
# baresip's aufile source wants 16-bit mono at the codec's rate (G.711: 8 kHz).
TONE_RATE = 8000


def baresip_path() -> str | None:
    path = shutil.which("baresip")
    return path if path is not None and (MODULES / "ctrl_tcp.so").exists() else None


def write_tone(path: Path, seconds: float = 60.0, hertz: float = 600.0) -> Path:
    """A sine tone of `seconds` as baresip's aufile source reads it (the seat's voice)."""
    frames = int(TONE_RATE * seconds)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(TONE_RATE)
        out.writeframes(b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * hertz * n / TONE_RATE)))
            for n in range(frames)))
    return path


class Phone:
    """One baresip process registered as `user` at `server` (host:port, UDP)."""

    def __init__(self, program: str, folder: Path, user: str, password: str, server: str,
                 tone: Path) -> None:
        self.program = program
        self.folder = folder
        self.user = user
        self.server = server
        self.ctrl_port = find_free_port()
        self._password = password
        self.tone = tone
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._listener: asyncio.Task[None] | None = None
        self._tokens = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []  # every event, for a failing test's message
        self.log = folder / "baresip.log"

    def _write_config(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "config").write_text("\n".join([
            "poll_method epoll",
            # Loopback only: SIP and RTP on 127.0.0.1 (the sandbox's address).
            "net_interface 127.0.0.1",
            "sip_listen 127.0.0.1:0",
            "audio_player aubridge,received",
            f"audio_source aufile,{self.tone}",
            "audio_alert aubridge,alert",
            "rtp_stats yes",
            f"module_path {MODULES}",
            "module g711.so",
            "module aufile.so",
            "module aubridge.so",
            "module_app account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            "",
        ]), encoding="utf-8")
        accounts = self.folder / "accounts"
        accounts.touch(mode=0o600)
        os.chmod(accounts, 0o600)
        # answermode=auto: the phone answers at once, as a seat's headset with auto-answer.
        accounts.write_text(f"<sip:{self.user}@{self.server}>;auth_pass={self._password};"
                            "answermode=auto;regint=60\n", encoding="utf-8")

    async def start(self, timeout: float = 10.0) -> None:
        """Start baresip and wait until Asterisk has accepted its registration."""
        self._write_config()
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                self.program, "-f", str(self.folder), stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=asyncio.subprocess.STDOUT)
        async with asyncio.timeout(timeout):
            while True:
                try:
                    self._reader, self._writer = await asyncio.open_connection(
                        "127.0.0.1", self.ctrl_port)
                    break
                except OSError:
                    if self.proc.returncode is not None:
                        raise AssertionError(f"baresip exited: {self.log.read_text()[-2000:]}"
                                             ) from None
                    await asyncio.sleep(0.05)
            self._listener = asyncio.create_task(self._listen())
            # REGISTER_OK may have come before the connection: ask.
            while not self.registered(await self.command("reginfo")):  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    async def _listen(self) -> None:
        assert self._reader is not None
        reader = self._reader
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                length = int((await reader.readuntil(b":"))[:-1])
                body = await reader.readexactly(length + 1)  # the trailing comma
                message = json.loads(body[:-1])
                if message.get("response"):
                    future = self._pending.pop(str(message.get("token")), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif message.get("event"):
                    self.seen.append(message)
                    await self.events.put(message)

    @staticmethod
    def registered(reginfo: str) -> bool:
        """`reginfo`'s answer says the phone is registered."""
        return " OK " in reginfo.replace("\x1b[32m", " ").replace("\x1b[;m", " ")

    async def command(self, name: str, params: str = "", timeout: float = 5.0) -> str:
        """Run one of baresip's commands (menu: hangup, sndcode, callstat, ...); its
        answer's text. A command baresip refuses fails the test."""
        assert self._writer is not None, "the phone is not running"
        token = str(next(self._tokens))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        body = json.dumps({"command": name, "params": params, "token": token}).encode()
        self._writer.write(b"%d:%s," % (len(body), body))
        await self._writer.drain()
        async with asyncio.timeout(timeout):
            reply = await future
        assert reply.get("ok"), f"baresip refused {name}: {reply}"
        return str(reply.get("data", ""))

    async def wait_event(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next event of `kind` (others before it are dropped)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = await self.events.get()
                    if event.get("type") == kind:
                        return event
        except TimeoutError:
            raise AssertionError(f"baresip sent no {kind} event in {timeout} s (events: "
                                 f"{[e.get('type') for e in self.seen]})") from None

    def password_in_log(self) -> bool:
        """baresip's output holds the seat's password (it must not)."""
        return self.log.exists() and self._password in self.log.read_text(errors="replace")

    def kill(self) -> None:
        """The phone vanishes: killed with no chance to unregister (a crash, a pulled
        cable)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        """Quit (baresip unregisters on its way out), or kill it if it does not."""
        if self._listener is not None:
            self._listener.cancel()
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(5):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        elif self.proc is not None:
            await self.proc.wait()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
