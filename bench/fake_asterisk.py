"""A fake Asterisk AMI for the AsyncAGI turnaround benchmark (bench/ivr_engine.py).

In-process, on 127.0.0.1, written for speed rather than scripting (tests/fakeami.py is
the tests' scriptable one): it greets, accepts any Login, answers Ping, and runs AGI
actions the way Asterisk 22 reports them. Each `Action: AGI` gets at once
`Response: Success / Message: Added AGI command to queue`, then an `Event: AsyncAGIExec`
with the action's CommandID and a URL-encoded `Result`:

- a reading command (STREAM FILE with escape digits, WAIT FOR DIGIT) ends after a
  caller's pause (`pause()`, seconds) with the channel's next scripted key (`scripts`:
  one entry per reading command, a key or None for "no key": the prompt played to its
  end, or the wait timed out); STREAM FILE returns `result=<ASCII code> endpos=...`,
  WAIT FOR DIGIT `result=<ASCII code>` (0: no key);
- anything else (ANSWER, EXEC, SET VARIABLE, HANGUP, a STREAM FILE without escape
  digits) ends at once: `200 result=0` (`result=1` for SET VARIABLE and HANGUP).

Turnaround is measured here, on the server side, where both clocks are the same
`time.perf_counter`: from just before the write of an AsyncAGIExec that carries a key to
the read that brings the next AGI action for that channel.

`BareClient` is the baseline's client: a plain asyncio protocol that, on every
AsyncAGIExec, at once sends its channel's next reading command, with no hotline code.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator

GREETING = b"Asterisk Call Manager/11.0.0\r\n"
FRAME_END = b"\r\n\r\n"
ALL_KEYS = "0123456789*#"

# The headers Asterisk 22 puts before CommandID/Result in AsyncAGIExec (a channel's
# snapshot): parsing and routing them is part of the cost being measured.
_EXEC_HEAD = (
    "Event: AsyncAGIExec\r\nPrivilege: agi,all\r\nChannel: {channel}\r\n"
    "ChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: {number}\r\n"
    "CallerIDName: 纳税人{number_tail}\r\nConnectedLineNum: <unknown>\r\n"
    "ConnectedLineName: <unknown>\r\nLanguage: zh\r\nAccountCode: \r\n"
    "Context: hotline-ivr\r\nExten: 12366\r\nPriority: 2\r\n"
    "Uniqueid: {uniqueid}\r\nLinkedid: {uniqueid}\r\n"
)


def agi_result(text: str) -> str:
    """`200 result=49` -> the URL-encoded form Asterisk puts in `Result:`."""
    return text.replace(" ", "%20").replace("=", "%3D") + "%0A"


# Key -> the encoded results of a reading command that a key ended.
_STREAM_KEY = {k: agi_result(f"200 result={ord(k)} endpos=23840") for k in ALL_KEYS}
_WAIT_KEY = {k: agi_result(f"200 result={ord(k)}") for k in ALL_KEYS}
_STREAM_NONE = agi_result("200 result=0 endpos=51200")
_WAIT_NONE = agi_result("200 result=0")
_RESULT_0 = agi_result("200 result=0")
_RESULT_1 = agi_result("200 result=1")


def _classify(command: str) -> int:
    """0: ends at once; 1: STREAM FILE that reads keys; 2: WAIT FOR DIGIT."""
    upper = command[:16].upper()
    if upper.startswith("WAIT FOR DIGIT"):
        return 2
    if upper.startswith("STREAM FILE"):
        return 0 if command.endswith('""') else 1
    return 0


class _Channel:
    __slots__ = ("head", "script")

    def __init__(self, channel: str, index: int, script: Iterable[str | None]) -> None:
        number = f"1{3 + index % 7}{index % 10}{index:08d}"[-11:]
        self.head = _EXEC_HEAD.format(channel=channel, number=number, number_tail=number[-4:],
                                      uniqueid=f"1764230400.{index}")
        self.script: Iterator[str | None] = iter(script)


class FakeAsterisk:
    """The server. `scripts`: channel -> its keys, one per reading command (set by the
    client side before the channel's first command; an unknown or spent channel gets no
    keys). `pause()`: seconds a reading command takes. `recording`: keep samples."""

    def __init__(self, pause: Callable[[], float]) -> None:
        self.pause = pause
        self.port = 0
        self.recording = False
        self.samples: list[float] = []  # seconds, key written -> next action read
        self.reads = 0  # reading commands answered (with or without a key)
        self.keys = 0  # ... with a key
        self.actions = 0
        self.unanswered = 0  # actions it did not understand
        self._channels: dict[str, _Channel] = {}
        self._sent: dict[str, float] = {}  # channel -> when its last key was written
        self._count = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._transports: list[asyncio.Transport] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def script(self, channel: str, keys: Iterable[str | None]) -> None:
        self._channels[channel] = _Channel(channel, next(self._count), keys)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            lambda: _ServerProtocol(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for transport in self._transports:
                transport.close()
            await self._server.wait_closed()

    # -- actions ------------------------------------------------------------------------

    def action(self, transport: asyncio.Transport, frame: str, received: float) -> None:
        self.actions += 1
        headers = {}
        for line in frame.split("\r\n"):
            key, _, value = line.partition(": ")
            headers[key] = value
        name = headers.get("Action", "").lower()
        action_id = headers.get("ActionID", "")
        if name == "agi":
            self._agi(transport, headers, action_id, received)
        elif name == "login":
            transport.write(f"Response: Success\r\nActionID: {action_id}\r\n"
                            "Message: Authentication accepted\r\n\r\n"
                            "Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 8\r\n"
                            "LastReload: 8\r\nStatus: Fully Booted\r\n\r\n".encode())
        elif name == "ping":
            transport.write(f"Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\n"
                            "Timestamp: 1764230400.000000\r\n\r\n".encode())
        elif name == "logoff":
            transport.write(f"Response: Goodbye\r\nActionID: {action_id}\r\n"
                            "Message: Thanks for all the fish.\r\n\r\n".encode())
            transport.close()
        else:
            self.unanswered += 1

    def _agi(self, transport: asyncio.Transport, headers: dict[str, str], action_id: str,
             received: float) -> None:
        channel = headers.get("Channel", "")
        sent = self._sent.pop(channel, None)
        if sent is not None and self.recording:
            self.samples.append(received - sent)
        command = headers.get("Command", "")
        command_id = headers.get("CommandID", "")
        response = (f"Response: Success\r\nActionID: {action_id}\r\n"
                    "Message: Added AGI command to queue\r\n\r\n")
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = _Channel(channel, next(self._count), ())
        kind = _classify(command)
        if kind == 0:
            upper = command[:12].upper()
            result = _RESULT_1 if upper.startswith(("SET VARIABLE", "HANGUP")) else _RESULT_0
            transport.write((response + state.head + f"CommandID: {command_id}\r\n"
                             f"Result: {result}\r\n\r\n").encode())
            if upper.startswith("HANGUP"):
                del self._channels[channel]
            return
        transport.write(response.encode())
        key = next(state.script, None)
        assert self._loop is not None
        self._loop.call_later(self.pause(), self._key_result, transport, channel, state,
                              command_id, kind, key)

    def _key_result(self, transport: asyncio.Transport, channel: str, state: _Channel,
                    command_id: str, kind: int, key: str | None) -> None:
        if transport.is_closing():
            return
        self.reads += 1
        if key is None:
            result = _STREAM_NONE if kind == 1 else _WAIT_NONE
        else:
            result = (_STREAM_KEY if kind == 1 else _WAIT_KEY)[key]
        data = (state.head + f"CommandID: {command_id}\r\nResult: {result}\r\n\r\n").encode()
        if key is not None:
            self.keys += 1
            self._sent[channel] = time.perf_counter()
        transport.write(data)


class _ServerProtocol(asyncio.Protocol):
    def __init__(self, server: FakeAsterisk) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._transports.append(transport)
        transport.write(GREETING)

    def data_received(self, data: bytes) -> None:
        received = time.perf_counter()
        frames = (self.buffer + data).split(FRAME_END)
        self.buffer = frames.pop()
        assert self.transport is not None
        for frame in frames:
            if frame:
                self.server.action(self.transport, frame.decode("utf-8"), received)


# -- the baseline's client -----------------------------------------------------------------


class BareClient(asyncio.Protocol):
    """No hotline: logs in, then keeps every channel in a loop of reading commands, each
    sent as soon as the previous one's AsyncAGIExec arrives (found with bytes.find)."""

    PROMPT = b'STREAM FILE "/var/lib/hotline/prompts/12366/main_short" "0123456789*#"'

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.ids = itertools.count(1)
        self.logged_in = asyncio.get_running_loop().create_future()
        self.greeted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, channel: bytes) -> None:
        assert self.transport is not None
        n = next(self.ids)
        self.transport.write(b"Action: AGI\r\nActionID: bare-%d\r\nChannel: %s\r\n"
                             b"Command: %s\r\nCommandID: bare-c%d\r\n\r\n"
                             % (n, channel, self.PROMPT, n))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.greeted:
            end = buffer.find(b"\r\n")
            if end < 0:
                self.buffer = buffer
                return
            self.greeted = True
            buffer = buffer[end + 2:]
            assert self.transport is not None
            self.transport.write(b"Action: Login\r\nActionID: bare-login\r\nUsername: bench"
                                 b"\r\nSecret: bench\r\nEvents: on\r\n\r\n")
        frames = buffer.split(FRAME_END)
        self.buffer = frames.pop()
        for frame in frames:
            if frame.startswith(b"Event: AsyncAGIExec"):
                start = frame.find(b"\r\nChannel: ") + 11
                self.send(frame[start:frame.find(b"\r\n", start)])
            elif not self.logged_in.done() and b"ActionID: bare-login" in frame:
                self.logged_in.set_result(None)


def uniform_pause(low: float, high: float, seed: int) -> Callable[[], float]:
    rng = random.Random(seed)
    return lambda: rng.uniform(low, high)


def cycle_keys(keys: Iterable[str | None]) -> Iterable[str | None]:
    return itertools.cycle(list(keys))
