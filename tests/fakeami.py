"""A small fake Asterisk Manager Interface server, and the recorded AMI transcripts.

    async with FakeAmi() as ami:
        ami.reply("QueueAdd", transcript("queue_add"))
        gateway = AmiGateway("127.0.0.1", ami.port, ami.username, ami.secret)
        ...

Like Asterisk, it greets with `Asterisk Call Manager/11.0.0`, reads actions (frames ended
by an empty line), answers Login (accepted, or refused with "Authentication failed" and
the connection closed when `accept_login` is false), Ping and Logoff, and sends
FullyBooted after a login. Everything else is scripted by the test:

- `reply(name, *texts)`: queued answers, one per action of that name, in order;
- `handler`: a callback `(action) -> text | None` (may be async), asked when nothing is
  queued for the action;
- an action nothing answers gets no answer at all (a hung Asterisk).

Reply text may hold `{ActionID}`-style placeholders, filled from the action's headers.

Each connection (`ami.connection` is the newest) can `push` raw bytes cut into separate
TCP writes at any byte offsets (to split frames and UTF-8 characters), `drop()` the
link, or go `silent` (half-open: it keeps reading actions but answers nothing).

Transcripts live in tests/fixtures/ami/*.txt: raw AMI text with CRLF line ends, as
Asterisk 22 sends it, with `{ActionID}` / `{CommandID}` where a reply echoes an action.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from hotline.pbx.gateway import AmiGateway

GREETING = "Asterisk Call Manager/11.0.0"
FIXTURES = Path(__file__).parent / "fixtures" / "ami"
FRAME_END = b"\r\n\r\n"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

Reply = str | bytes | None
Handler = Callable[["Action"], Reply | Awaitable[Reply]]


def transcript(name: str) -> str:
    """The recorded transcript tests/fixtures/ami/<name>.txt, exactly as stored."""
    return (FIXTURES / f"{name}.txt").read_bytes().decode("utf-8")


def frames(text: str) -> list[str]:
    """The frames of a transcript, each with its closing empty line."""
    return [part + "\r\n\r\n" for part in text.split("\r\n\r\n") if part]


def fill(text: str, values: Mapping[str, str] | Callable[[str], str | None]) -> str:
    """Replace `{Name}` placeholders; a placeholder with no value is a test bug."""
    lookup = values.get if isinstance(values, Mapping) else values

    def one(match: re.Match[str]) -> str:
        value = lookup(match.group(1))
        if value is None:
            raise KeyError(f"no value for placeholder {match.group(0)} in a fake AMI reply")
        return value

    return _PLACEHOLDER.sub(one, text)


def event(name: str, headers: Mapping[str, str] | None = None) -> str:
    """One event frame: `Event: name` and the headers, in order."""
    lines = [f"Event: {name}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return "\r\n".join(lines) + "\r\n\r\n"


def response(message: str | None, status: str = "Success", **headers: str) -> str:
    """A response to the action being answered (its ActionID is filled in on sending)."""
    lines = [f"Response: {status}", "ActionID: {ActionID}",
             *([f"Message: {message}"] if message is not None else []),
             *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


class Action:
    """One action as the fake received it: its header lines in order."""

    def __init__(self, raw: bytes, connection: FakeConnection) -> None:
        self.raw = raw
        self.connection = connection
        self.lines: list[tuple[str, str]] = []
        for line in raw.decode("utf-8").split("\r\n"):
            if line:
                key, _, value = line.partition(":")
                self.lines.append((key, value.removeprefix(" ")))

    @property
    def name(self) -> str:
        return self.get("Action") or ""

    @property
    def id(self) -> str:
        return self.get("ActionID") or ""

    def get(self, key: str) -> str | None:
        values = self.get_all(key)
        return values[0] if values else None

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.lines if k.lower() == key.lower()]

    def __repr__(self) -> str:
        return f"<Action {self.name} {self.id} on connection {self.connection.number}>"


class FakeConnection:
    """The server side of one AMI connection."""

    def __init__(self, server: FakeAmi, number: int, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.number = number
        self.silent = False
        self.logged_in = False
        self.actions: list[Action] = []
        self.closed = asyncio.Event()
        self.reset = False  # the client reset the connection (RST), not closed it
        self._reader = reader
        self._writer = writer

    def send(self, data: str | bytes) -> None:
        """Write now (nothing is written once the connection is silent or closed)."""
        if self.silent or self._writer.is_closing():
            return
        self._writer.write(data.encode("utf-8") if isinstance(data, str) else data)

    async def push(self, data: str | bytes, *, cut_at: Iterable[int] = (),
                   pause: float = 0.005) -> None:
        """Send `data` as separate TCP writes cut at these byte offsets, pausing between
        them so the peer reads each piece on its own."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        points = sorted({p for p in cut_at if 0 < p < len(raw)})
        for n, (start, end) in enumerate(zip([0, *points], [*points, len(raw)], strict=True)):
            if n:
                await asyncio.sleep(pause)
            self.send(raw[start:end])
            await self._writer.drain()

    def drop(self) -> None:
        """Close the connection from the server side (as when Asterisk stops)."""
        self._writer.close()

    async def serve(self) -> None:
        self.send(GREETING + "\r\n")
        try:
            while True:
                raw = await self._reader.readuntil(FRAME_END)
                action = Action(raw, self)
                self.actions.append(action)
                self.server.actions.append(action)
                if self.silent:
                    continue
                reply = await self.server.answer(action)
                if reply:
                    self.send(fill(reply, action.get) if isinstance(reply, str) else reply)
                if action.name.lower() == "logoff" or (
                        action.name.lower() == "login" and not self.logged_in):
                    self.drop()
        except ConnectionResetError:
            self.reset = True
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writer.close()
            self.closed.set()


class FakeAmi:
    """An asyncio AMI server on 127.0.0.1, on a free port (`port`)."""

    def __init__(self, *, username: str = "hotline", secret: str = "s3cret-ami",
                 accept_login: bool = True, fully_booted: bool = True) -> None:
        self.username = username
        self.secret = secret
        self.accept_login = accept_login
        self.fully_booted = fully_booted
        self.handler: Handler | None = None
        # Close this many coming connections at once, before the greeting (as Asterisk
        # does past its `authlimit` of unauthenticated sessions).
        self.close_on_accept = 0
        self.port = 0
        self.agi_port = 0  # a FastAGI port for a service under test, when a test sets one
        self.connections: list[FakeConnection] = []
        self.actions: list[Action] = []
        self._replies: dict[str, deque[str | bytes]] = defaultdict(deque)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> FakeAmi:
        await self.start_listening()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- scripting --------------------------------------------------------------------

    def reply(self, action_name: str, *texts: str | bytes) -> None:
        """Queue one answer per coming action of that name (each may hold many frames)."""
        self._replies[action_name.lower()].extend(texts)

    async def answer(self, action: Action) -> Reply:
        name = action.name.lower()
        if name == "login":
            return self._login(action)
        if self._replies[name]:
            return self._replies[name].popleft()
        if self.handler is not None:
            result = self.handler(action)
            reply = await result if inspect.isawaitable(result) else result
            if reply is not None:
                return reply
        if name == "ping":
            return response(None, Ping="Pong", Timestamp="1764230400.000000")
        if name == "logoff":
            return response("Thanks for all the fish.", status="Goodbye")
        return None

    def _login(self, action: Action) -> str:
        if not (self.accept_login and action.get("Username") == self.username
                and action.get("Secret") == self.secret):
            return response("Authentication failed", status="Error")
        action.connection.logged_in = True
        booted = transcript("fully_booted") if self.fully_booted else ""
        return response("Authentication accepted") + booted

    # -- observing --------------------------------------------------------------------

    @property
    def connection(self) -> FakeConnection:
        """The newest connection."""
        assert self.connections, "nobody has connected to the fake AMI"
        return self.connections[-1]

    def received(self, action_name: str) -> list[Action]:
        return [a for a in self.actions if a.name.lower() == action_name.lower()]

    async def wait_action(self, action_name: str, count: int = 1,
                          timeout: float = 2.0) -> Action:
        """The `count`-th action of that name, once it has arrived."""
        await wait_until(lambda: len(self.received(action_name)) >= count, timeout,
                         f"{count} {action_name} action(s)")
        return self.received(action_name)[count - 1]

    async def wait_connections(self, count: int, timeout: float = 2.0) -> FakeConnection:
        """The `count`-th connection, once it has logged in."""
        await wait_until(lambda: len(self.connections) >= count
                         and self.connections[count - 1].logged_in, timeout,
                         f"login on connection {count}")
        return self.connections[count - 1]

    # -- listening --------------------------------------------------------------------

    async def start_listening(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_listening(self) -> None:
        """Refuse new connections (established ones stay)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close(self) -> None:
        await self.stop_listening()
        for connection in self.connections:
            connection.drop()
        # Each connection's task ends on its own once its socket is closed.
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 2)

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        connection = FakeConnection(self, len(self.connections) + 1, reader, writer)
        self.connections.append(connection)
        if self.close_on_accept > 0:
            self.close_on_accept -= 1
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await connection.serve()
        finally:
            self._tasks.discard(task)


async def wait_until(condition: Callable[[], bool], timeout: float = 2.0,
                     what: str = "the condition") -> None:
    """Poll `condition` every few milliseconds; fail the test after `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():  # noqa: ASYNC110 - any condition, not one Event
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None


@contextlib.asynccontextmanager
async def running(ami: FakeAmi, **options: Any) -> AsyncIterator[AmiGateway]:
    """A gateway logged in to `ami`, its `run()` cancelled (and checked) at the end."""
    settings: dict[str, Any] = {"action_timeout": 1.0, "connect_timeout": 1.0,
                                "watchdog_interval": 5.0, "backoff_max": 0.5}
    settings.update(options)
    gateway = AmiGateway("127.0.0.1", ami.port, ami.username, ami.secret, **settings)
    task = asyncio.create_task(gateway.run())
    try:
        await gateway.wait_connected(2.0)
        yield gateway
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
