"""The AMI gateway: the one object that owns the connection to Asterisk.

Everything else in hotline asks it: its typed operations (hotline.pbx.operations: queue
members, queue status, channels, variables, sending a call on), an AsyncAGI command
(through hotline.pbx.agi.AgiChannel), typed events (subscribe_calls,
subscribe_queue_changes, subscribe_lifecycle: hotline.pbx.events). `send`, `send_list`
and `subscribe` take raw actions and AMI event names: for pbx/ itself and tests.

panoramisk 1.4 provides the protocol class the connection is made with
(`panoramisk.ami_protocol.AMIProtocol`); its defects are contained here, each replaced
by behaviour that has a test (tests/unit/test_gateway.py):

1. AsyncAGI results never resolve (it knows only the pre-12 `AsyncAGI/Exec` event):
   commands complete on `Event: AsyncAGIExec` by CommandID.
2. QueueAdd never resolves, 3. "... successfully queued" replies drop the connection:
   a response completes its action unless the action asked for an EventList.
4. An exception in an event callback drops the connection: consumers run in their own
   tasks behind bounded queues; an exception is logged with the event.
5. Non-ASCII text split across TCP reads is lost: bytes are framed before decoding.
6. No action timeout, fire-and-forget ping, endless login retries: every action has a
   timeout, a watchdog pings and drops a dead connection, a refused login raises.
7. Unanswered actions are re-sent after a reconnect: never; they fail with
   AmiDisconnected and their caller decides.
8. Events with a pending ActionID never reach event handlers: events are always
   dispatched; only responses and EventList members go to the action.

Slow consumers: each consumer has a bounded queue. When it is full the gateway does not
block (calls would stall) and does not drop silently: it counts what the consumer missed,
logs `ami.events_dropped`, and hands the consumer an `EventGap` as soon as it has caught up
(always before its next event), so the consumer knows to resync its state from Asterisk
(the call tracker does).

Nothing Asterisk (or whatever answers on its port) sends can end the service or grow its
memory without bound (tests/unit/test_ami_fuzz.py, bench/ami_fuzz.py):

- a frame over 1 MiB, or 1 MiB buffered with no frame end (`ami.frame_too_large`), and a
  frame that breaks the protocol (an action's list events or list end before its
  response, a list over LIST_EVENTS_MAX events or LIST_BYTES_MAX bytes:
  `ami.protocol_violation`) drop the connection; its pending actions fail with
  AmiDisconnected and `run` reconnects (and the on_connect resyncs run);
- each consumer's queue holds at most `queue_size` events and CONSUMER_BYTES bytes of
  frame text (past either, events are dropped and counted, and an EventGap follows);
- the route cache (event name -> consumers) keeps at most ROUTE_CACHE_MAX names, of
  at most ROUTE_NAME_MAX characters: random event names cannot grow it;
- a frame that is neither a response nor an event, a response to no pending action, a
  second response, an AsyncAGIExec of another channel are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import inspect
import itertools
import re
import socket
import struct
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from panoramisk.ami_protocol import AMIProtocol

from hotline.common.privacy import mask_name, mask_number
from hotline.pbx.ami.agi import AgiResult, parse_agi_result
from hotline.pbx.ami.message import AmiFramer, AmiMessage, FrameTooLarge, serialize_action

# The AMI errors are defined in pbx/errors.py; importable from here as before.
from hotline.pbx.errors import AgiHangup as AgiHangup
from hotline.pbx.errors import AmiActionFailed as AmiActionFailed
from hotline.pbx.errors import AmiAlready as AmiAlready
from hotline.pbx.errors import AmiDisconnected as AmiDisconnected
from hotline.pbx.errors import AmiError as AmiError
from hotline.pbx.errors import AmiLoginRefused as AmiLoginRefused
from hotline.pbx.errors import AmiTimeout as AmiTimeout
from hotline.pbx.events import (
    CALL_EVENTS,
    LIFECYCLE_EVENTS,
    QUEUE_EVENTS,
    CallsEvent,
    LifecycleEvent,
    calls_event,
    lifecycle_event,
)
from hotline.pbx.events import EventGap as EventGap  # importable from here as before
from hotline.pbx.operations import AsteriskOperations

log = structlog.get_logger("hotline.ami")

# Bounds on what the peer can make the gateway hold (see the module docstring). Real
# lists are far smaller: CoreShowChannels of 1,000 channels is about 1.5 MB.
LIST_EVENTS_MAX = 100_000
LIST_BYTES_MAX = 64 << 20
CONSUMER_BYTES = 32 << 20
ROUTE_CACHE_MAX = 512
ROUTE_NAME_MAX = 64
# Two start times (FullyBooted's Uptime, whole seconds) further apart than this are two
# Asterisks: it restarted in between.
RESTART_SLACK = 2.0


EventHandler = Callable[[AmiMessage | EventGap], Awaitable[None] | None]


@dataclass
class _Pending:
    name: str
    future: asyncio.Future[Any]
    wants_list: bool = False
    events: list[AmiMessage] = field(default_factory=list)
    events_bytes: int = 0
    response: AmiMessage | None = None


@dataclass
class _PendingAgi:
    channel: str
    command: str
    future: asyncio.Future[AgiResult]


class _Consumer:
    def __init__(self, name: str, patterns: tuple[str, ...], handler: EventHandler,
                 size: int, max_bytes: int = CONSUMER_BYTES) -> None:
        self.name = name
        self.patterns = patterns
        self.exact = frozenset(p.lower() for p in patterns if not _is_glob(p))
        self.globs = [re.compile(fnmatch.translate(p.lower())) for p in patterns if _is_glob(p)]
        self.handler = handler
        self.queue: asyncio.Queue[AmiMessage | EventGap] = asyncio.Queue(size)
        # Frame text held in the queue: a count bound alone would let 10,000 frames of
        # 1 MiB each sit there.
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self.dropped = 0
        self.task: asyncio.Task[None] | None = None
        self.offered = 0  # events offered to this consumer (delivered or dropped)
        self.handled = 0  # events its handler has finished with
        self._progress = asyncio.Event()

    def wants(self, event_lower: str) -> bool:
        if event_lower in self.exact:
            return True
        return any(g.match(event_lower) for g in self.globs)

    def offer(self, message: AmiMessage) -> None:
        self.offered += 1
        size = len(message.text)
        if self.queue.full() or self.queued_bytes + size > self.max_bytes:
            self.dropped += 1
            return
        if self.dropped:
            self._put_gap()
            if self.queue.full():
                self.dropped += 1
                return
        self.queue.put_nowait(message)
        self.queued_bytes += size

    def _put_gap(self) -> None:
        self.queue.put_nowait(EventGap(self.dropped))
        log.error("ami.events_dropped", consumer=self.name, dropped=self.dropped,
                  queue_size=self.queue.maxsize)
        self.dropped = 0

    async def run(self) -> None:
        while True:
            if self.dropped and self.queue.empty():
                # Caught up after missing events: say so now, not with the next event,
                # which may be long in coming (a quiet line after a burst).
                self._put_gap()
            item = await self.queue.get()
            if isinstance(item, AmiMessage):
                self.queued_bytes -= len(item.text)
            try:
                result = self.handler(item)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                event = item.event if isinstance(item, AmiMessage) else "EventGap"
                fields = item.headers if isinstance(item, AmiMessage) else {"gap": item}
                # Not `event=`: that is the log line's own name in structlog (a TypeError
                # here would end this consumer's task).
                log.exception("ami.consumer_failed", consumer=self.name, ami_event=event,
                              fields=_safe_fields(fields))
            finally:
                if isinstance(item, EventGap):
                    self.handled += item.dropped
                else:
                    self.handled += 1
                self._progress.set()

    async def caught_up(self) -> None:
        """Return once every event offered so far has been handled (or dropped)."""
        target = self.offered
        while self.handled + self.dropped < target:
            self._progress.clear()
            await self._progress.wait()


class Spawn(Protocol):
    """What starts a consumer's task: the loop's create_task, or a TaskGroup's."""

    def __call__(self, coro: Coroutine[Any, Any, None], *,
                 name: str | None = None) -> asyncio.Task[None]: ...


@dataclass(frozen=True, eq=False)
class Subscription:
    """A subscriber's handle (subscribe's answer): unsubscribe() ends its deliveries and
    its consumer task."""

    gateway: AmiGateway
    consumer: _Consumer

    def unsubscribe(self) -> None:
        self.gateway.unsubscribe(self)


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


# Caller identity in an event may be a reporter's: never written to a log in clear.
_CALLER_NUMBERS = {"calleridnum", "connectedlinenum"}
_CALLER_NAMES = {"calleridname", "connectedlinename"}


def _safe_fields(fields: Any) -> Any:
    """An event's headers fit for a log line: no secret, callers masked."""
    if not isinstance(fields, dict):
        return fields
    safe = {}
    for key, value in fields.items():
        lower = key.lower()
        if lower == "secret":
            value = "***"
        elif lower in _CALLER_NUMBERS:
            value = mask_number(value)
        elif lower in _CALLER_NAMES:
            value = mask_name(value)
        safe[key] = value
    return safe


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's AMIProtocol with its receive path and close replaced (defects 5, 7, 8)."""

    def __init__(self, gateway: AmiGateway) -> None:
        self.gateway = gateway
        self.framer = AmiFramer()
        self.closed_future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.greeted: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.timed_out = False  # the watchdog gave up on it: lost since its last message
        # Actions written in this turn of the event loop, sent together at its end (one
        # send for a lease round's hundreds of Setvars, not one each; in order).
        self._out: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        try:
            for message in self.framer.feed(data):
                if self.closed:  # dropped by a message of this same read
                    return
                try:
                    self.gateway._handle(message, self)
                except Exception:
                    # A bug in handling one message must neither drop the connection nor
                    # lose the other messages of the same read.
                    log.exception("ami.handle_failed", ami_event=message.event)
        except FrameTooLarge as exc:
            log.error("ami.frame_too_large", address=self.gateway.address, size=exc.size,
                      limit=exc.limit)
            self.violated("frame too large")
            return
        if self.framer.greeting is not None and not self.greeted.done():
            self.greeted.set_result(self.framer.greeting)

    def reset(self) -> None:
        """Drop a stalled connection with a reset (RST), not a close: what the kernel still
        holds to send (actions written while the link was half-open) is thrown away. A
        close would deliver it if the route heals, and a lease refresh arriving late
        re-arms the timeout of a caller who is by then in the fallback's queue: Asterisk
        hangs that caller up 2 s later. (What the other end had already acknowledged, a
        middlebox or a stalled Asterisk, can still run, in part: fastagi.Lease.relinked
        voids those channels again on the next link.)"""
        transport = getattr(self, "transport", None)
        if transport is not None and not getattr(self, "closed", False):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
            transport.abort()
        self.closed = True

    def violated(self, reason: str) -> None:
        """The peer broke the protocol: drop this connection (its pending actions fail
        with AmiDisconnected) so that `run` makes a fresh one."""
        if self.gateway._protocol is self:
            self.gateway._drop_connection(f"AMI connection dropped ({reason})")
        self.close()
        if not self.closed_future.done():
            self.closed_future.set_result(None)
        if not self.greeted.done():
            self.greeted.set_exception(AmiDisconnected(f"AMI peer broke the protocol: {reason}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.closed_future.done():
            self.closed_future.set_result(None)
        # Closed before the greeting or during login: fail now, not at connect_timeout.
        if not self.greeted.done():
            self.greeted.set_exception(AmiDisconnected("AMI closed the connection at once"))
        if self.gateway._protocol is self:
            self.gateway._drop_connection("AMI connection lost")

    def close(self) -> None:
        # Unlike panoramisk, nothing is kept for re-sending.
        if not self.closed:
            self._flush()  # what was written before the close goes first
            self.closed = True
            self.transport.close()

    def write(self, data: bytes) -> None:
        if self._out is None:
            self._out = [data]
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._out.append(data)

    def _flush(self) -> None:
        out, self._out = self._out, None
        # Dropped (reset, a protocol violation): what was not sent yet is thrown away,
        # like what the kernel held (see reset).
        if out and not self.closed:
            self.transport.write(b"".join(out))


class AmiGateway(AsteriskOperations):
    """Owns the AMI connection: login, actions with timeouts, AsyncAGI, events, reconnect.

    Run `run()` as a long-lived task; it returns only when cancelled and raises
    AmiLoginRefused when Asterisk refuses the credentials (retrying would not help).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        action_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        watchdog_interval: float = 5.0,
        # Retrying a refused connection costs nothing, and while AMI is down no call's
        # lease is refreshed (every caller goes to the fallback). And a link that heals
        # may run a lease refresh it held on a caller already in the fallback's queue,
        # who is hung up a lease (1.75 s) later unless the next link voids it first
        # (fastagi.Lease.relinked): back within 0.5 s of Asterisk answering again.
        backoff_max: float = 0.5,
        queue_size: int = 10_000,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.action_timeout = action_timeout
        self.connect_timeout = connect_timeout
        self.watchdog_interval = watchdog_interval
        self.backoff_max = backoff_max
        self.queue_size = queue_size  # each consumer's, unless its subscribe says
        self._protocol: _Protocol | None = None
        self._pending: dict[str, _Pending] = {}
        self._agi: dict[str, _PendingAgi] = {}
        self._consumers: list[_Consumer] = []
        self._route_cache: dict[str, list[_Consumer]] = {}
        self._ids = itertools.count(1)
        self._prefix = f"hotline-{uuid.uuid4().hex[:8]}"
        self._on_connect: list[Callable[[], Awaitable[None]]] = []
        self.connected = asyncio.Event()
        self._logged_in = False
        self.asterisk_version: str | None = None
        self.connections = 0
        self.last_received = 0.0
        self.events_received = 0
        # Wall-clock time (epoch seconds) the last connection was lost: the last moment
        # its calls were known alive (None: none lost yet). When its socket closed (EOF or
        # reset: Asterisk gone, or the link cut), since a live Asterisk would have told of
        # a hang-up before; only for a link the watchdog gave up on (silent, maybe
        # half-open) is it the last message received.
        self.lost_contact_at: float | None = None
        # When the Asterisk of this connection started (its FullyBooted's Uptime), and
        # whether it is not the one of the connection before: it was restarted, or
        # crashed and was started again, in between, so none of that one's calls lived on.
        self.asterisk_started_at: float | None = None
        self.asterisk_restarted = False
        self._started_before: float | None = None
        self._booted = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def on_connect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` after every successful login (the first and each reconnect)."""
        self._on_connect.append(callback)

    async def run(self) -> None:
        backoff = 0.25
        try:
            while True:
                try:
                    await self._session()
                    backoff = 0.25
                except AmiLoginRefused:
                    raise
                except (OSError, TimeoutError, AmiError) as exc:
                    log.warning("ami.connect_failed", address=self.address, error=str(exc))
                log.info("ami.reconnecting", address=self.address, delay=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)
        finally:
            for consumer in self._consumers:
                if consumer.task is not None:
                    consumer.task.cancel()
            self._drop_connection("gateway stopped")

    async def wait_connected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self.connected.wait()

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that races with completion, and the service would never stop.
        async with asyncio.timeout(self.connect_timeout):
            _, protocol = await loop.create_connection(
                lambda: _Protocol(self), self.host, self.port)
        self._protocol = protocol
        self.last_received = time.monotonic()
        if self.asterisk_started_at is not None:
            self._started_before = self.asterisk_started_at
        self.asterisk_started_at = None
        self.asterisk_restarted = False
        self._booted.clear()
        try:
            async with asyncio.timeout(self.connect_timeout):
                self.asterisk_version = await protocol.greeted
            await self._login()
            self.connections += 1
            self._logged_in = True
            log.info("ami.connected", address=self.address, user=self.username,
                     protocol=self.asterisk_version, connection=self.connections)
            await self._wait_booted(protocol)
            for callback in self._on_connect:
                try:
                    await callback()
                except Exception:
                    log.exception("ami.on_connect_failed", callback=repr(callback))
            # `connected` means logged in *and* resynced by the on_connect callbacks.
            self.connected.set()
            watchdog = asyncio.create_task(self._watchdog(protocol))
            try:
                await protocol.closed_future
            finally:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            # watchdog: lost since its last message (silent_for ago), else now (closed).
            log.warning("ami.disconnected", address=self.address, watchdog=protocol.timed_out,
                        silent_for=round(time.monotonic() - self.last_received, 3))
        finally:
            self._drop_connection("AMI connection lost")

    async def _wait_booted(self, protocol: _Protocol) -> None:
        """Before the resync, Asterisk's FullyBooted: a booted one sends it with the login's
        answer, one still starting (AMI listens before the modules are loaded) once it is
        done. The resync needs the queues loaded, and the Uptime tells whether Asterisk
        restarted (its calls are gone). Waited for at most connect_timeout (an account
        without the `system` read class never gets it)."""
        if self._booted.is_set():
            return
        booted: asyncio.Future[Any] = asyncio.ensure_future(self._booted.wait())
        waiters: set[asyncio.Future[Any]] = {booted, protocol.closed_future}
        try:
            await asyncio.wait(waiters, timeout=self.connect_timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            booted.cancel()
        if not self._booted.is_set() and not protocol.closed:
            log.warning("ami.not_fully_booted", address=self.address,
                        waited=self.connect_timeout,
                        consequence="resync now; a restart of Asterisk goes unnoticed")

    async def _login(self) -> None:
        try:
            reply = await self.send(
                {"Action": "Login", "Username": self.username, "Secret": self._secret,
                 "Events": "on"}, timeout=self.connect_timeout, check=False)
        except AmiTimeout:
            raise AmiError(f"AMI login timed out for user {self.username} at "
                           f"{self.address}") from None
        if not reply.is_success:
            raise AmiLoginRefused(
                f"AMI login refused for user {self.username} at {self.address}: "
                f"{reply.get('Message') or 'no reason given'}")

    async def _watchdog(self, protocol: _Protocol) -> None:
        """Ping when the line is quiet; a ping unanswered within the interval means the
        connection is dead or half-open: drop it so `run` reconnects."""
        while not protocol.closed:
            await asyncio.sleep(self.watchdog_interval)
            if time.monotonic() - self.last_received < self.watchdog_interval:
                continue
            try:
                await self.send({"Action": "Ping"}, timeout=self.watchdog_interval)
            except (AmiTimeout, AmiDisconnected):
                log.error("ami.watchdog_timeout", address=self.address,
                          silent_for=round(time.monotonic() - self.last_received, 1))
                protocol.timed_out = True  # lost since its last message, not since now
                protocol.reset()
                if not protocol.closed_future.done():
                    protocol.closed_future.set_result(None)
                return

    def _drop_connection(self, reason: str) -> None:
        if self._logged_in:
            now = time.time()
            timed_out = self._protocol is not None and self._protocol.timed_out
            self.lost_contact_at = (now - (time.monotonic() - self.last_received)
                                    if timed_out else now)
        self.connected.clear()
        self._logged_in = False
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.close()
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if not item.future.done():
                item.future.set_exception(AmiDisconnected(
                    f"{reason} before {item.name} was answered; it was not re-sent"))
        agis, self._agi = self._agi, {}
        for agi in agis.values():
            if not agi.future.done():
                agi.future.set_exception(AmiDisconnected(
                    f"{reason} while AGI {agi.command!r} ran on {agi.channel}; not re-sent"))

    async def close(self) -> None:
        """Log off politely (best effort) and drop the connection."""
        if self._protocol is not None and self.connected.is_set():
            with contextlib.suppress(AmiError, OSError):
                await self.send({"Action": "Logoff"}, timeout=1.0, check=False)
        self._drop_connection("gateway closed")

    # -- actions --------------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    def owns_id(self, action_or_command_id: str) -> bool:
        """Whether this gateway (this run of hotline) issued the id."""
        return action_or_command_id.startswith(self._prefix)

    async def send(self, action: dict[str, Any], *, timeout: float | None = None,
                   check: bool = True) -> AmiMessage:
        """Send an action and return its response. `check`: raise AmiActionFailed on an
        Error response. Raises AmiTimeout, AmiDisconnected (never re-sent)."""
        response, _ = await self._send(action, timeout, wants_list=False)
        if check and not response.is_success:
            raise AmiActionFailed(
                f"{action.get('Action')} failed: {response.get('Message') or 'error'}",
                response)
        return response

    async def send_list(self, action: dict[str, Any], *,
                        timeout: float | None = None) -> list[AmiMessage]:
        """Send an action answered by an EventList; return its events (without the
        closing `...Complete` event). Raises AmiActionFailed on an Error response."""
        response, events = await self._send(action, timeout, wants_list=True)
        if not response.is_success:
            raise AmiActionFailed(
                f"{action.get('Action')} failed: {response.get('Message') or 'error'}",
                response)
        return events

    async def send_many(self, actions: list[dict[str, Any]], *,
                        timeout: float | None = None) -> list[AmiMessage | AmiError]:
        """Send actions together (one write) and wait, up to `timeout` for all of them,
        for their responses: each action's response, or the error it met (AmiTimeout,
        AmiDisconnected, AmiActionFailed on an Error response). Never re-sent. For the
        lease's rounds: one await for hundreds of Setvars, not a task and a timer each."""
        protocol = self._protocol
        if protocol is None or protocol.closed or not self._logged_in:
            return [AmiDisconnected(f"not connected to AMI at {self.address}; "
                                    f"{a.get('Action', '?')} not sent") for a in actions]
        loop = asyncio.get_running_loop()
        sent: list[tuple[str, _Pending]] = []
        for action in actions:
            action_id, name, fields = self._fields(action)
            pending = _Pending(name, loop.create_future())
            self._pending[action_id] = pending
            sent.append((action_id, pending))
            protocol.write(serialize_action(fields))
        limit = self.action_timeout if timeout is None else timeout
        try:
            if sent:
                await asyncio.wait([p.future for _, p in sent], timeout=limit)
        finally:
            for action_id, _ in sent:
                self._pending.pop(action_id, None)
        results: list[AmiMessage | AmiError] = []
        for _, pending in sent:
            name = pending.name
            failed = pending.future.exception() if pending.future.done() else None
            if isinstance(failed, AmiError):  # the connection dropped meanwhile
                results.append(failed)
            elif pending.response is None:
                results.append(AmiTimeout(f"{name} got no answer from AMI at {self.address} "
                                          f"within {limit:g} s"))
                pending.future.cancel()
            elif not pending.response.is_success:
                results.append(AmiActionFailed(
                    f"{name} failed: {pending.response.get('Message') or 'error'}",
                    pending.response))
            else:
                results.append(pending.response)
        return results

    def _fields(self, action: dict[str, Any]) -> tuple[str, str, dict[str, str | list[str]]]:
        """A fresh ActionID, the action's name and its headers."""
        name = str(action.get("Action", "?"))
        action_id = self._next_id()
        fields: dict[str, str | list[str]] = {"Action": name, "ActionID": action_id}
        for key, value in action.items():
            if key.lower() in ("action", "actionid"):
                continue
            fields[key] = [str(v) for v in value] if isinstance(value, list) else str(value)
        return action_id, name, fields

    async def _send(self, action: dict[str, Any], timeout: float | None,
                    wants_list: bool) -> tuple[AmiMessage, list[AmiMessage]]:
        protocol = self._protocol
        name = str(action.get("Action", "?"))
        if protocol is None or protocol.closed or (
                not self._logged_in and name.lower() != "login"):
            raise AmiDisconnected(f"not connected to AMI at {self.address}; {name} not sent")
        action_id, name, fields = self._fields(action)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending = _Pending(name, future, wants_list)
        self._pending[action_id] = pending
        try:
            protocol.write(serialize_action(fields))
            limit = self.action_timeout if timeout is None else timeout
            try:
                async with asyncio.timeout(limit):
                    await future
            except TimeoutError:
                raise AmiTimeout(
                    f"{name} got no answer from AMI at {self.address} within {limit:g} s"
                ) from None
        finally:
            self._pending.pop(action_id, None)
        if pending.response is None:  # _handle completes an action only with its response
            raise AmiDisconnected(f"{name} was completed without a response from AMI at "
                                  f"{self.address}")
        return pending.response, pending.events

    async def agi(self, channel: str, command: str, *, timeout: float | None = None,
                  ) -> AgiResult:
        """Run one AsyncAGI command on `channel`; returns when Asterisk reports it done
        (AsyncAGIExec). Raises AgiHangup if the channel leaves AGI first."""
        command_id = self._next_id()
        future: asyncio.Future[AgiResult] = asyncio.get_running_loop().create_future()
        self._agi[command_id] = _PendingAgi(channel, command, future)
        try:
            await self.send({"Action": "AGI", "Channel": channel, "Command": command,
                             "CommandID": command_id}, timeout=timeout)
            if timeout is None:
                return await future
            try:
                async with asyncio.timeout(timeout):
                    return await future
            except TimeoutError:
                raise AmiTimeout(f"AGI {command!r} on {channel} did not finish within "
                                 f"{timeout:g} s") from None
        finally:
            self._agi.pop(command_id, None)
            if future.done() and not future.cancelled():
                future.exception()  # failed (a drop) while its AGI action was unanswered

    # -- events ---------------------------------------------------------------------------

    def subscribe(self, name: str, patterns: Iterable[str], handler: EventHandler, *,
                  queue_size: int | None = None, spawn: Spawn | None = None) -> Subscription:
        """Deliver events whose name matches one of `patterns` (exact or glob, case-
        insensitive) to `handler`, in order, from a task of the consumer's own, started
        by `spawn` (a TaskGroup's create_task; default: the running loop's). Undone by
        the answer's unsubscribe()."""
        consumer = _Consumer(name, tuple(patterns), handler, queue_size or self.queue_size)
        start = spawn or asyncio.get_running_loop().create_task
        consumer.task = start(consumer.run(), name=f"ami-consumer-{name}")
        self._consumers.append(consumer)
        self._route_cache.clear()
        return Subscription(self, consumer)

    def subscribe_calls(self, handler: Callable[[CallsEvent | EventGap], Awaitable[None] | None],
                        *, spawn: Spawn | None = None) -> Subscription:
        """Every call event, typed (hotline.pbx.events: call facts with their time, AGI
        commands starting and ending, keys received, an earlier run's AGI command
        finishing) and EventGap, to one consumer named "calls", in Asterisk's order: a
        call is in the tracker before its IVR session hears of it."""

        def deliver(message: AmiMessage | EventGap) -> Awaitable[None] | None:
            if isinstance(message, EventGap):
                return handler(message)
            event = calls_event(message, self.owns_id)
            return handler(event) if event is not None else None

        return self.subscribe("calls", CALL_EVENTS, deliver, spawn=spawn)

    def subscribe_queue_changes(self, handler: Callable[[], None], *,
                                spawn: Spawn | None = None) -> Subscription:
        """`handler()` whenever a queue's callers or members change (and after missed
        events, which may have changed them)."""
        return self.subscribe("queue-changes", QUEUE_EVENTS, lambda _: handler(),
                              spawn=spawn)

    def subscribe_lifecycle(self, handler: Callable[[LifecycleEvent], Awaitable[None] | None],
                            *, spawn: Spawn | None = None) -> Subscription:
        """Asterisk fully booted, or shutting down."""

        def deliver(message: AmiMessage | EventGap) -> Awaitable[None] | None:
            event = lifecycle_event(message) if isinstance(message, AmiMessage) else None
            return handler(event) if event is not None else None

        return self.subscribe("lifecycle", LIFECYCLE_EVENTS, deliver, spawn=spawn)

    def unsubscribe(self, subscription: Subscription) -> None:
        """No more events for that subscriber; its task is cancelled (idempotent)."""
        consumer = subscription.consumer
        if consumer in self._consumers:
            self._consumers.remove(consumer)
            self._route_cache.clear()
        if consumer.task is not None:
            consumer.task.cancel()

    async def caught_up(self, consumer: str, timeout: float = 1.0) -> bool:
        """Wait until `consumer` has handled every event received so far (False if it
        did not within `timeout`)."""
        for item in self._consumers:
            if item.name == consumer:
                try:
                    async with asyncio.timeout(timeout):
                        await item.caught_up()
                except TimeoutError:
                    return False
                return True
        raise KeyError(consumer)

    def _handle(self, message: AmiMessage, protocol: _Protocol | None = None) -> None:
        self.last_received = time.monotonic()
        event = message.event
        action_id = message.action_id
        if event is None:
            if action_id is not None and message.response is not None:
                pending = self._pending.get(action_id)
                if pending is not None and pending.response is None:
                    pending.response = message
                    if not (pending.wants_list and message.is_success
                            and message.get("EventList") == "start") and not pending.future.done():
                        pending.future.set_result(None)
            # Else a frame that is neither a response nor an event, or a response to no
            # action of ours (any more), or a second one: nothing to do with it.
            return
        self.events_received += 1
        if action_id is not None:
            pending = self._pending.get(action_id)
            if pending is not None and pending.wants_list:
                self._list_event(pending, message, protocol)
                return
        if event == "AsyncAGIExec":
            self._agi_exec(message)
        elif event == "AsyncAGIEnd":
            self._agi_end(message)
        elif event == "FullyBooted":
            self._fully_booted(message)
        lower = event.lower()
        consumers = self._route_cache.get(lower)
        if consumers is None:
            consumers = [c for c in self._consumers if c.wants(lower)]
            # Bounded: a peer sending endless new (or huge) event names must not grow it.
            if len(lower) <= ROUTE_NAME_MAX:
                if len(self._route_cache) >= ROUTE_CACHE_MAX:
                    self._route_cache.clear()
                self._route_cache[lower] = consumers
        for consumer in consumers:
            consumer.offer(message)

    def _list_event(self, pending: _Pending, message: AmiMessage,
                    protocol: _Protocol | None) -> None:
        """An event of a list action's answer; before the response (Asterisk sends the
        response first), or past the list bounds, it breaks the protocol."""
        if pending.future.done():
            return
        reason = None
        if pending.response is None:
            reason = f"{message.event} for {pending.name} before its response"
        elif message.get_exact("EventList") == "Complete" or (
                message.event is not None and message.event.endswith("Complete")
                and message.get("EventList") == "Complete"):
            # Exact first: a list item has no EventList, and a case-insensitive miss
            # parses all its headers (a third of a QueueStatus round's CPU).
            pending.future.set_result(None)
            return
        elif (len(pending.events) >= LIST_EVENTS_MAX
              or pending.events_bytes + len(message.text) > LIST_BYTES_MAX):
            reason = f"{pending.name} answered with more than {len(pending.events)} events"
        else:
            pending.events.append(message)
            pending.events_bytes += len(message.text)
            return
        log.error("ami.protocol_violation", address=self.address, reason=reason)
        target = protocol if protocol is not None else self._protocol
        if target is not None:
            target.violated(reason)
        else:
            self._drop_connection(f"AMI connection dropped ({reason})")

    def _fully_booted(self, message: AmiMessage) -> None:
        """Asterisk says how long it has run (at every login, and when it boots): when it
        started, and whether that is after the Asterisk of the previous connection."""
        try:
            uptime = int(message.get("Uptime") or "")
        except ValueError:
            return
        started = time.time() - uptime
        before = self._started_before
        self.asterisk_started_at = started
        self._booted.set()
        # Uptime is whole seconds: one Asterisk seen twice differs by about 1 s at most.
        if (before is not None and started - before > RESTART_SLACK
                and not self.asterisk_restarted):
            self.asterisk_restarted = True
            lost = self.lost_contact_at
            log.error("ami.asterisk_restarted", address=self.address, uptime=uptime,
                      down_for=round(started - lost, 1) if lost is not None else None,
                      consequence="calls it had are gone; they end when contact was lost")

    def _agi_exec(self, message: AmiMessage) -> None:
        command_id = message.get("CommandID")
        agi = self._agi.get(command_id) if command_id else None
        channel = message.get("Channel")
        if channel is not None and agi is not None and channel != agi.channel:
            return  # not the command's channel: not its result
        if agi is not None and not agi.future.done():
            agi.future.set_result(parse_agi_result(message.get("Result") or ""))

    def _agi_end(self, message: AmiMessage) -> None:
        channel = message.get("Channel")
        for agi in list(self._agi.values()):
            if agi.channel == channel and not agi.future.done():
                agi.future.set_exception(AgiHangup(
                    f"{channel} left AsyncAGI before {agi.command!r} finished"))
