"""Calls: AMI events -> call tracker -> ledger; FastAGI connections -> the IVR.

A call starts when its FastAGI connection arrives (hotline.pbx.fastagi): it is in the
tracker before its IVR session starts, so before the session reports anything; one
consumer handles every AMI call event in order. (A channel that enters AsyncAGI, from a
dialplan not yet updated, is served as before.) The ledger is written by a task of its
own behind a queue: a slow or failing disk never holds up a caller, and a failed write
is retried, not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog

from hotline.common.clock import CHINA, Clock, Now, utc_now
from hotline.core.calls.adoption import adopted_call
from hotline.core.calls.live import ChannelInfo, QueueStatus
from hotline.core.calls.tracking import (
    Call,
    CallState,
    CallTracker,
    ChannelHungUp,
    Fact,
    IvrEntered,
    IvrProgress,
    RecordedBy,
    SeatCompleted,
    SeatConnected,
    VoicemailSaved,
)
from hotline.core.configuration import ConfigAccessor
from hotline.core.ivr.engine import CallContext
from hotline.core.ivr.kbline import EMPTY
from hotline.core.routing.config import RoutingConfig
from hotline.features.calls.reconcile import Checked, Reconciler
from hotline.features.ivr.prompts import PromptStore
from hotline.features.ivr.runner import CallLink, IvrRunner, Progress, QueueRecorder
from hotline.features.kb.line import KbLine
from hotline.features.voicemail.service import Voicemail
from hotline.ledger.orders import OrderBook
from hotline.ledger.region import region_of
from hotline.ledger.store import Ledger, call_from_row
from hotline.pbx.agi import IvrChannel
from hotline.pbx.events import (
    AgiCommandEnded,
    AgiCommandStarted,
    CallEvent,
    CallsEvent,
    EarlierAgiFinished,
    KeyReceived,
)
from hotline.pbx.fastagi import AFTER_QUEUE_SCRIPT, FastAgiChannel, FastAgiServer
from hotline.pbx.gateway import (
    AgiHangup,
    AmiDisconnected,
    AmiError,
    AmiGateway,
    EventGap,
    Spawn,
    Subscription,
)

log = structlog.get_logger("hotline.calls")

# Seconds between looks at Asterisk's record between resyncs (calls hotline never knew,
# fallback messages to link, rows of calls already in the ledger to prune).
PRUNE_INTERVAL = 10.0
# Seconds after a hang-up hotline could not place before the record is read: Asterisk
# writes its record beside its events, not before them. A loaded Asterisk writes it
# later still: the record is read again, that often, until the call has its row.
RECORD_CHECK_DELAY = 1.0
RECORD_CHECK_TRIES = 5

# Calls of these kinds get a work order when they end (passed on within 1 working day).
ORDER_KINDS = frozenset({"tip_off", "complaint", "suggestion"})

@dataclass(eq=False)
class _Unwritten:
    """A call's newest snapshot not yet in the ledger, and how its writes have gone."""

    call: Call
    failures: int = 0  # failed writes of it, whatever the cause
    strikes: int = 0  # failed writes while the ledger took other calls: its own fault
    delay: float = 0.0  # its own retry delay, once it failed alone
    due: float = 0.0  # loop time of its next try
    error: str = ""
    aside: bool = False  # set aside (unwritable): retried every dead_retry, not drained


class LedgerWriter:
    """Writes call snapshots in batches, newest snapshot per call; retries on failure.

    New snapshots are written together, one batch every batch_interval (50 ms) at most. A
    batch that fails is retried call by call; a call that failed is retried on its own
    delay (retry_first, doubling up to retry_max), apart from the new calls, so one call
    that cannot be written never holds back the others. When the ledger takes no write at
    all (a full disk: more than one call failed and none was written since), every call
    waits for one common delay instead, so the disk is not hammered. A call that failed
    `dead_after` times while the ledger took other calls is set aside: named once
    (ledger.call_unwritable), retried every `dead_retry`, and not waited for by drain().
    As in the ledger, an ended call is final: a later snapshot in progress does not
    replace it. Whatever is still unwritten when the writer is stopped is named in the
    log, not dropped without a word."""

    # After a failed write, wait retry_first, doubling after each failure up to retry_max.
    retry_first = 0.1
    retry_max = 5.0
    # A call that failed this often while other calls were written is set aside, and is
    # then retried every dead_retry seconds.
    dead_after = 5
    dead_retry = 60.0
    # At most one transaction per batch_interval: what comes meanwhile waits for the next
    # one (a row is at most that late). Each transaction is four round trips to SQLite's
    # thread and an fsync; a call makes four or five snapshots (entered, menu progress,
    # end), so writing each at once cost a transaction per snapshot: 14 % of hotline's
    # CPU at 40 calls/s (bench/sip_load). A batch takes the newest snapshot of each call.
    batch_interval = 0.05

    def __init__(self, ledger: Ledger, clock: Now = utc_now) -> None:
        self.ledger = ledger
        self.clock = clock
        self._queue: asyncio.Queue[Call] = asyncio.Queue()
        self._unwritten: dict[str, _Unwritten] = {}
        self._writable: bool | None = None  # did the last write that told anything land?
        self._failed_alone: str | None = None  # the call that failed alone since then
        self._delay = 0.0  # the common delay while the ledger takes nothing (0: not yet)
        self._hold_until = 0.0
        self._next_batch = 0.0  # loop time before which no write starts (batch_interval)
        self.written = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def put(self, call: Call) -> None:
        self.idle.clear()
        self._queue.put_nowait(call)

    def failing(self) -> int:
        """Calls whose last write failed and that wait for a retry (0 while the ledger
        takes every write)."""
        return sum(1 for u in self._unwritten.values() if u.failures)

    def _take(self, call: Call) -> None:
        old = self._unwritten.get(call.linkedid)
        if old is None:
            self._unwritten[call.linkedid] = _Unwritten(call)
        elif old.call.ended_at is None or call.ended_at is not None:
            old.call = call  # its retries go on as they were

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        unwritten = self._unwritten
        try:
            while True:
                while not self._queue.empty():
                    self._take(self._queue.get_nowait())
                now = loop.time()
                if unwritten and now < self._next_batch:
                    # Too soon after the last write: what comes meanwhile joins this batch
                    # (waiting on the queue instead would wake for every snapshot).
                    await asyncio.sleep(self._next_batch - now)
                    continue
                wake: float | None = self._hold_until
                if now >= self._hold_until:
                    due = [u for u in unwritten.values() if u.due <= now]
                    if due:
                        self._next_batch = now + self.batch_interval
                        await self._write(due, loop)
                        continue
                    wake = min((u.due for u in unwritten.values()), default=None)
                if self._queue.empty() and all(u.aside for u in unwritten.values()):
                    self.idle.set()
                # (asyncio.timeout_at, not wait_for: in Python 3.11 wait_for swallows a
                # cancel that comes as a call arrives, and the writer would never stop.)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(wake):
                        self._take(await self._queue.get())
        except asyncio.CancelledError:
            while not self._queue.empty():
                self._take(self._queue.get_nowait())
            if unwritten:
                log.error("ledger.unwritten_at_stop", calls=len(unwritten),
                          linkedids=sorted(unwritten))
            raise

    async def _write(self, due: list[_Unwritten], loop: asyncio.AbstractEventLoop) -> None:
        """Write the new calls in one batch, then the calls being retried; a batch that
        fails call by call. Then reschedule what failed."""
        failed: list[_Unwritten] = []
        landed = 0
        for group in ([u for u in due if not u.failures], [u for u in due if u.failures]):
            try:
                if group:
                    await self.ledger.upsert_calls([u.call for u in group], self.clock())
            except Exception as exc:
                if len(group) == 1:
                    group[0].error = str(exc)
                    failed.append(group[0])
                    continue
                for u in group:
                    try:
                        await self.ledger.upsert_calls([u.call], self.clock())
                    except Exception as one:
                        u.error = str(one)
                        failed.append(u)
                    else:
                        self._landed(u)
                        landed += 1
            else:
                for u in group:
                    self._landed(u)
                landed += len(group)
        if landed:
            self._writable, self._failed_alone = True, None
            self._delay, self._hold_until = 0.0, 0.0
        if failed:
            self._failed(failed, landed > 0, loop.time())

    def _landed(self, u: _Unwritten) -> None:
        del self._unwritten[u.call.linkedid]
        self.written += 1
        if u.aside:
            log.warning("ledger.call_written_late", linkedid=u.call.linkedid,
                        failures=u.failures)

    def _failed(self, failed: list[_Unwritten], landed: bool, now: float) -> None:
        for u in failed:
            u.failures += 1
        aside = [u for u in failed if u.aside]
        for u in aside:
            u.due = now + self.dead_retry
            log.debug("ledger.unwritable_retry_failed", linkedid=u.call.linkedid,
                      error=u.error, retry_in=self.dead_retry)
        failed = [u for u in failed if not u.aside]
        if not failed:
            return
        if not landed and (self._writable is False or len(failed) > 1 or self._failed_alone
                           not in (None, failed[0].call.linkedid)):
            # Nothing written and more than one call failed: the ledger takes no write
            # (a full disk, a lock held elsewhere), not the calls' fault. All wait.
            delay = self._delay or self.retry_first
            self._writable, self._hold_until = False, now + delay
            log.error("ledger.write_failed", error=failed[-1].error, calls=len(failed),
                      linkedids=[u.call.linkedid for u in failed[:10]], retry_in=delay)
            self._delay = min(delay * 2, self.retry_max)
            return
        if not landed:
            self._failed_alone = failed[0].call.linkedid
        # The ledger took other calls (in this round, or last time it told): their fault.
        own_fault = landed or self._writable is True
        for u in failed:
            u.delay = min(u.delay * 2, self.retry_max) if u.delay else self.retry_first
            u.due = now + u.delay
            if own_fault:
                u.strikes += 1
            if u.strikes >= self.dead_after:
                u.aside, u.due = True, now + self.dead_retry
        log.error("ledger.write_failed", error=failed[-1].error, calls=len(failed),
                  linkedids=[u.call.linkedid for u in failed[:10]],
                  retry_in=min(self.dead_retry if u.aside else u.delay for u in failed))
        for u in failed:
            if u.aside:
                log.error("ledger.call_unwritable", linkedid=u.call.linkedid, reason=u.error,
                          failures=u.failures, retry_every=self.dead_retry)

    async def drain(self, timeout: float = 3.0) -> None:
        """Wait (up to `timeout`) until every call is written, but those set aside."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.idle.wait()


class CallHandling:
    def __init__(self, gateway: AmiGateway, ledger: Ledger, config: ConfigAccessor,
                 prompts: PromptStore, clock: Now = utc_now,
                 service_clock: Clock | None = None,
                 voicemail: Voicemail | None = None,
                 reconciler: Reconciler | None = None,
                 kb: KbLine | None = None) -> None:
        self.gateway = gateway
        # The knowledge base's live snapshot (kb_menu, kb): a session takes the one of
        # its start, like the configuration.
        self.kb = kb
        self.reconciler = reconciler  # Asterisk's record of calls, at every resync
        # The live configuration (dialplans, routing, calendar), read when needed: an
        # IVR session takes the snapshot of its start and keeps it to its end.
        self.config = config
        self.voicemail = voicemail
        self._untimed_warned = False
        # `clock` times what happens (the ledger's times, when Asterisk gave none);
        # the service clock (pinned by service.calendar_time, or the real time) is the
        # time of the decisions: the menu's calendar, work-order deadlines.
        self.service_clock = service_clock or Clock()
        self.ledger = ledger
        self.prompts = prompts
        self.clock = clock
        self.tracker = CallTracker()
        # Records each queue attempt's seat conversation (set by the service when on).
        self.recorder: QueueRecorder | None = None
        self.writer = LedgerWriter(ledger, clock)
        # Told of every call snapshot as it is recorded (the seats' pages: screen pop).
        # A listener must not block nor raise.
        self.listeners: list[Callable[[Call], None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._sending_on: set[str] = set()  # channels an earlier run left, being sent on
        self.sessions: dict[str, asyncio.Task[None]] = {}  # channel -> IVR session
        self.runners: dict[str, IvrRunner] = {}
        # While a resync runs, facts about calls it may yet adopt (not tracked, not ended)
        # are held here and applied once it is done, in order.
        self._resyncing = 0
        self._held: list[tuple[Fact, datetime]] = []
        # The FastAGI server the line's calls come through (set by the service).
        self.agi_server: FastAgiServer | None = None
        self._record_check_due = False
        # Calls of hang-ups hotline could not place, awaiting their row from the record:
        # Linkedid -> looks left.
        self._record_awaited: dict[str, int] = {}
        # Calls alive at some moment between an event gap (or a lost link) and the end of
        # the resync after it: their events may have been dropped, so the tracker may end
        # them from a partial view (a seat's answer or a queue missed). Once ended, each
        # is settled from Asterisk's record at the next look at it that shows its end.
        self._gap_calls: set[str] = set()

    @property
    def routing(self) -> RoutingConfig | None:
        return self.config().routing

    @property
    def orders(self) -> OrderBook:
        """Work orders, their deadlines on the calendar live now."""
        return OrderBook(self.ledger, self.config().calendar)

    def attach(self, spawn: Spawn | None = None) -> Subscription:
        self.gateway.on_connect(self.resync)
        return self.gateway.subscribe_calls(self._on_event, spawn=spawn)

    # -- events ---------------------------------------------------------------------------

    async def _on_event(self, event: CallsEvent | EventGap) -> None:
        if isinstance(event, EventGap):
            log.error("calls.events_missed", dropped=event.dropped)
            await self.resync()
            return
        if isinstance(event, AgiCommandStarted | AgiCommandEnded | KeyReceived):
            runner = self.runners.get(event.channel)
            if runner is not None:
                runner.on_event(event)
            return
        if isinstance(event, EarlierAgiFinished):
            self._on_earlier_agi(event)  # AsyncAGI only
            return
        await self._on_call_event(event)

    async def _on_call_event(self, event: CallEvent) -> None:
        fact = event.fact
        stamped = event.at
        if stamped is None and not self._untimed_warned:
            # Times then come from arrival, and a late or replayed event cannot be told
            # from a new one: an Asterisk of one's own must stamp its events.
            self._untimed_warned = True
            log.warning("ami.events_without_timestamp", event_name=event.kind,
                        fix="set timestampevents = yes in manager.conf [general]")
        at = stamped or self.clock()
        if (self._resyncing and not isinstance(fact, IvrEntered)
                and fact.linkedid not in self.tracker.calls
                and fact.linkedid not in self.tracker.ended):
            # Maybe a call the resync is about to adopt (from its ledger row): not to be
            # started afresh nor ignored meanwhile.
            self._held.append((fact, at))
            return
        call = self.tracker.apply(fact, at)
        if call is not None:
            self._record(call)
        elif (isinstance(fact, ChannelHungUp) and fact.uniqueid == fact.linkedid
              and fact.linkedid not in self.tracker.ended):
            # A call's first channel, of a call hotline never knew: its row comes from
            # Asterisk's record.
            self.check_record_soon(fact.linkedid)
        if isinstance(fact, IvrEntered) and call is not None and fact.channel not in self.sessions:
            self._start_session(fact, event.extension)  # AsyncAGI

    # -- FastAGI connections --------------------------------------------------------------

    def on_agi_call(self, agi: FastAgiChannel) -> None:
        """A FastAGI connection of the line (the FastAGI server's callback): the call
        starts here, in the tracker first, then its IVR session."""
        if agi.script == AFTER_QUEUE_SCRIPT:
            # Back from a queue with no session waiting: hotline restarted meanwhile.
            self._background_task(self._after_queue_without_session(agi))
            return
        fact = IvrEntered(agi.linkedid, agi.uniqueid, agi.channel, agi.number, agi.name)
        call = self.tracker.apply(fact, self.clock()) if agi.channel not in self.sessions \
            else None
        if call is None:
            log.error("ivr.entry_refused", linkedid=agi.linkedid, channel=agi.channel,
                      reason="call already ended or channel already in a session")
            agi.close()  # to the fallback
            return
        self._record(call)
        if call.state == CallState.ENDED:
            # Its caller hung up before the connection came (the tracker had the hang-up):
            # ended at once, nothing to run.
            agi.close()
            return
        self._start_session(fact, agi.extension, agi)

    async def _after_queue_without_session(self, agi: FastAgiChannel) -> None:
        """After a queue, the session that sent the caller there is gone (an earlier
        run): answered (the channel says so) -> hotline is done, hang up; else on to the
        fallback. The call's row learns the answer if this run missed it."""
        with structlog.contextvars.bound_contextvars(linkedid=agi.linkedid,
                                                     channel=agi.channel):
            try:
                outcome = await agi.queue_outcome()
                call = self.tracker.calls.get(agi.linkedid)
                if outcome.answered and call is not None and call.answered_at is None:
                    self._apply(SeatConnected(agi.linkedid, call.queue or "",
                                              outcome.member_name or outcome.member or "",
                                              outcome.wait_seconds))
                    self._apply(SeatCompleted(agi.linkedid, outcome.talk_seconds))
                elif outcome.answered and call is not None and outcome.talk_seconds is not None:
                    # In milliseconds: the AgentComplete it had says whole seconds.
                    self._apply(SeatCompleted(agi.linkedid, outcome.talk_seconds))
                log.warning("ivr.after_queue_of_earlier_run", answered=outcome.answered,
                            status=outcome.status)
                if outcome.answered:
                    await agi.finish()
                else:
                    await agi.send_on(done=False)
            except Exception as exc:
                log.warning("ivr.after_queue_failed", error=str(exc))
            finally:
                agi.close()

    def _background_task(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _work_order(self, call: Call) -> None:
        """Tip-offs, complaints and suggestions get a work order at once, due to be passed
        on within 1 working day; the seat completes its content."""
        try:
            await self.orders.from_call(
                linkedid=call.linkedid, kind=call.category or "other",
                number=call.caller_number, name=call.caller_name,
                at=self.service_clock.at(call.ended_at or self.clock()))
        except Exception:
            log.exception("ledger.work_order_failed", linkedid=call.linkedid)

    async def _callback_order(self, linkedid: str, number: str | None, name: str | None,
                              queue: str, closed: bool = False) -> None:
        """Nobody answered `queue` (on_no_answer: callback), or it was `closed` by its own
        hours: a work order to call back, due like an ordinary question."""
        call = self.tracker.calls.get(linkedid)
        kind = (call.category if call is not None else None) or "consultation"
        routing = self.routing
        label = routing.queues[queue].name if (
            routing is not None and queue in routing.queues) else queue
        try:
            await self.orders.from_call(
                linkedid=linkedid, kind=kind, number=number, name=name,
                at=self.service_clock.at(self.clock()),
                content=f"{label}{'不在服务时间' if closed else '无人接听'}，请回电（{linkedid}）")
            log.info("ivr.callback_registered", queue=queue, kind=kind)
        except Exception:
            log.exception("ledger.work_order_failed", linkedid=linkedid)

    def _record(self, call: Call) -> None:
        config = self.config()
        changes: dict[str, Any] = {}  # one replace for all (a call makes several snapshots)
        if config.routing is not None and call.queue is not None:
            base = config.routing.base_queue(call.queue)
            if base != call.queue:  # a region queue counts as its queue
                changes["queue"] = base
        if call.seat is not None and call.seat_group is None:
            group = config.seat_groups.get(call.seat)
            if group is not None:
                changes["seat_group"] = group
        if call.region is None and call.caller_number:
            changes["region"] = region_of(call.caller_number)
        if changes:
            call = replace(call, **changes)
        self.writer.put(call)
        for listener in self.listeners:
            try:
                listener(call)
            except Exception:  # a page's bug must not stop the call's recording
                log.exception("calls.listener_failed")
        if call.state == CallState.ENDED and self.agi_server is not None:
            self.agi_server.caller_gone(call.linkedid)  # nobody comes back from its queue
        if call.state == CallState.ENDED and call.category in ORDER_KINDS:
            task = asyncio.get_running_loop().create_task(self._work_order(call))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if call.state == CallState.ENDED and call.linkedid in self._gap_calls:
            self.check_record_soon()  # its events may have been lost: the record tells
        if call.state == CallState.ENDED:
            log.info("call.finished", linkedid=call.linkedid, outcome=call.outcome and
                     call.outcome.value, dialplan=call.dialplan, digits=call.digits,
                     queue=call.queue, seat=call.seat,
                     wait=call.wait_seconds, talk=call.talk_seconds,
                     reason=call.end_reason and call.end_reason.value)

    def _on_earlier_agi(self, event: EarlierAgiFinished) -> None:
        """An AGI command we did not send finished on a channel no session of ours owns:
        the command of an earlier hotline run. The channel now waits in AsyncAGI with
        nobody to talk to it; send it on so the caller is never left in silence.

        Only a channel of a call the tracker has (the resync adopts an earlier run's calls
        and sends on those it finds in AGI), once at a time, and not from the event path:
        an AMI action per event, awaited by the one consumer of every call's events,
        let a flood of such events about channels that do not exist stall the line's
        events (its queue overflows) and make hotline send an action for each of them."""
        channel = event.channel
        call = self.tracker.calls.get(event.linkedid)
        if (call is None or channel != call.caller_channel or channel in self.sessions
                or channel in self._sending_on):
            return
        self._sending_on.add(channel)

        async def send_on() -> None:
            try:
                await self._send_on(channel, done=call.answered_at is not None)
            finally:
                self._sending_on.discard(channel)

        self._background_task(send_on())

    # -- IVR sessions -----------------------------------------------------------------------

    def _start_session(self, fact: IvrEntered, extension: str | None,
                       agi: FastAgiChannel | None = None) -> None:
        channel = fact.channel
        task = asyncio.get_running_loop().create_task(
            self._session(fact, extension, agi), name=f"ivr-{channel}")
        self.sessions[channel] = task

        def done(_: asyncio.Task[None]) -> None:
            self.sessions.pop(channel, None)
            self.runners.pop(channel, None)

        task.add_done_callback(done)

    async def _session(self, fact: IvrEntered, extension: str | None,
                       agi: FastAgiChannel | None) -> None:
        try:
            await self._run_session(fact, extension, agi)
        finally:
            if agi is not None:
                agi.close()  # whatever happened: the caller goes on in the dialplan

    async def _run_session(self, fact: IvrEntered, extension: str | None,
                           agi: FastAgiChannel | None) -> None:
        channel, linkedid = fact.channel, fact.linkedid
        with structlog.contextvars.bound_contextvars(linkedid=linkedid, channel=channel):
            # The call's configuration, kept to its end whatever a reload swaps in.
            config = self.config()
            plan = config.dialplan_for(extension)
            if plan is None:
                log.error("ivr.no_dialplan", extension=extension)
                await self._leave(agi, channel, done=False)
                return
            now = self.service_clock.at(self.clock())
            calendar = config.calendar
            group = (config.routing.group_for_caller(fact.number)
                     if config.routing is not None else None)
            context = CallContext(fact.number, calendar.state(now), {
                queue: calendar.state(now, queue) for queue in calendar.queue_hours},
                kb=self.kb() if self.kb is not None else EMPTY,
                day=now.astimezone(CHINA).date(), city=group.id if group else None)

            def report(progress: Progress) -> None:
                self_service = progress.self_service or any(
                    plan.menus[m].self_service for m in progress.path if m in plan.menus)
                self._apply(IvrProgress(linkedid, progress.pressed, progress.path,
                                        progress.category, progress.topic, plan.name,
                                        self_service, progress.after_hours,
                                        progress.variables))

            def answered() -> bool:
                call = self.tracker.calls.get(linkedid)
                return call is not None and call.answered_at is not None

            async def callback(queue: str, closed: bool) -> None:
                await self._callback_order(linkedid, fact.number, fact.name, queue, closed)

            link = CallLink(linkedid, fact.number, fact.name, self._apply, callback,
                            recorder=self.recorder)
            runner = IvrRunner(self.gateway, channel, plan, context,
                               self.prompts.for_dialplan(plan.name), report, answered,
                               link, self.voicemail, config.routing, agi, self.kb)
            self.runners[channel] = runner
            # Debug: call.finished is the call's one info line (dialplan included).
            log.debug("ivr.started", dialplan=plan.name, version=plan.version,
                      calendar=context.calendar, generation=config.generation)
            try:
                await runner.agi.answer()
                finish = await runner.run()
                log.debug("ivr.finished", reason=finish.reason)
            except AgiHangup:
                log.debug("ivr.caller_left")
            except AmiDisconnected:
                # AMI dropped mid-menu (AsyncAGI): once back, send the call on. (Over
                # FastAGI, AMI is not on the call's path; the lease covers a cut.)
                log.warning("ivr.ami_lost_mid_menu")
                with contextlib.suppress(TimeoutError):
                    if agi is None:
                        await self.gateway.wait_connected(30)
                    await self._leave(agi, channel, done=False)
            except AmiError as exc:
                log.error("ivr.failed", error=str(exc))
                await self._leave(agi, channel, done=False)
            except Exception:
                # A bug must not leave the caller in silence.
                log.exception("ivr.crashed")
                await self._leave(agi, channel, done=False)

    def _apply(self, fact: Fact) -> None:
        call = self.tracker.apply(fact, self.clock())
        if call is not None:
            self._record(call)

    async def _leave(self, agi: IvrChannel | None, channel: str, *, done: bool) -> None:
        """The session is over: the caller goes on in the dialplan (FastAGI: close the
        connection; AsyncAGI: send it on)."""
        if isinstance(agi, FastAgiChannel):
            with contextlib.suppress(AmiError):
                await agi.send_on(done=done)
            agi.close()
        else:
            await self._send_on(channel, done=done)

    async def _send_on(self, channel: str, *, done: bool) -> None:
        """Leave AsyncAGI: to the dialplan's fallback (queue, voicemail), or, when the
        call is finished (`done`), to hang up."""
        try:
            await self.gateway.send_on(channel, done=done)
            log.info("ivr.sent_on", channel=channel, done=done)
        except AmiError as exc:
            log.warning("ivr.send_on_failed", channel=channel, error=str(exc))

    # -- resync -------------------------------------------------------------------------------

    async def resync(self) -> None:
        """After every (re)connect: close calls that vanished, adopt the calls Asterisk has
        that this run does not track (left by an earlier run: in the IVR, queued or with
        a seat), and send on channels left in AsyncAGI."""
        self._resyncing += 1
        if self.reconciler is not None:
            self._gap_calls |= set(self.tracker.calls)  # alive when the events were lost
        try:
            await self._resync()
        finally:
            self._resyncing -= 1
            if not self._resyncing:
                if self.reconciler is not None:
                    # Alive during the resync (started or adopted meanwhile): in the gap.
                    self._gap_calls |= set(self.tracker.calls)
                held, self._held = self._held, []
                for fact, at in held:  # what happened meanwhile, to adopted calls too
                    call = self.tracker.apply(fact, at)
                    if call is not None:
                        self._record(call)
                if any(lid in self.tracker.finished for lid in self._gap_calls):
                    self.check_record_soon()  # the record may not show their end yet

    async def _resync(self) -> None:
        # The calls tracked before Asterisk was asked: only these can be missing from its
        # answer because they are gone. A call that starts while the list is made (its
        # FastAGI connection is no AMI event: it comes at any moment) is not in it but
        # alive; taken for gone, its row said `interrupted` and its end was lost (the
        # flood test: a resync after every event gap closed calls started meanwhile).
        listed_before = set(self.tracker.calls)
        try:
            channels = await self.gateway.channels()
        except AmiError as exc:
            log.error("calls.resync_failed", error=str(exc))
            return
        now = self.clock()
        alive = {c.linkedid for c in channels}
        ends = await self.reconciler.ends(alive, self.tracker) if self.reconciler else {}
        # Started while the list was made: not in it, but alive (see above).
        alive |= set(self.tracker.calls) - listed_before
        completed = []
        lost = sorted(at for at, by in ends.values() if by == RecordedBy.PBX_LOST)
        if lost:  # Asterisk crashed or restarted with these calls: say so, once
            log.error("calls.lost_with_asterisk", count=len(lost), at=lost[0].isoformat())
        for call in self.tracker.vanished(alive, now, ends):
            if self.reconciler is not None:
                # Ended while the link was cut or its events were lost: what Asterisk's
                # record says happened meanwhile (a seat answered, the caller gave up).
                call = self.tracker.amend(self.reconciler.completed(call))
                completed.append(call)
            self._record(call)
        if self.reconciler is not None:
            await self.reconciler.link_completed(completed)
        tracked = set(self.tracker.calls)
        # An open row of a call this run ended is the writer's (its final snapshot may not
        # be written yet): not an earlier run's to close or complete from the record.
        stale = [lid for lid in await self.ledger.open_calls()
                 if lid not in alive and lid not in tracked and lid not in self.tracker.ended]
        if stale and self.reconciler is not None:
            stale = await self.reconciler.complete_rows(stale, now)
        if stale:
            await self.ledger.close_vanished(stale, now, ends)
            log.warning("calls.closed_vanished", count=len(stale))
        queues = list((await self._resync_queues()).values())
        by_call: dict[str, list[ChannelInfo]] = {}
        for chan in channels:
            if chan.linkedid:
                by_call.setdefault(chan.linkedid, []).append(chan)
        for linkedid, chans in by_call.items():
            tracked_call = self.tracker.calls.get(linkedid)
            if tracked_call is not None:
                # Tracked, but events about it may have been missed (an EventGap, a cut
                # link): where Asterisk says it is now (queued, answered by a seat) wins.
                known = (self.reconciler.so_far(linkedid, tracked_call)
                         if self.reconciler is not None else tracked_call)
                now_found = adopted_call(linkedid, chans, known, queues, now)
                updated = (self.tracker.resynced(now_found) if now_found is not None
                           else None)
                if updated is not None:
                    self._record(updated)
                    log.warning("calls.resynced_from_asterisk", linkedid=linkedid,
                                was=tracked_call.state.value, now=updated.state.value)
            elif linkedid not in self.tracker.ended:
                row = await self.ledger.get(linkedid)
                earlier = call_from_row(row) if row is not None else None
                if self.reconciler is not None and (row is None or row.ended_at is None):
                    earlier = self.reconciler.so_far(linkedid, earlier)
                found = (adopted_call(linkedid, chans, earlier, queues, now)
                         if row is None or row.ended_at is None else None)
                adopted = self.tracker.adopt(found) if found is not None else None
                if adopted is not None:
                    self._record(adopted)
                    log.warning("calls.adopted_from_earlier_run", linkedid=linkedid,
                                channel=adopted.caller_channel, state=adopted.state.value,
                                from_ledger=row is not None)
            for chan in chans:
                if chan.in_ivr and chan.channel not in self.sessions:
                    log.warning("calls.sent_on_from_earlier_run", channel=chan.channel)
                    await self._send_on(chan.channel, done=False)
        if self.reconciler is not None:
            self._checked(await self.reconciler.run(alive, self.tracker, now,
                                                    self._gap_calls))
        log.info("calls.resynced", channels=len(channels), tracked=len(self.tracker.calls))

    async def _resync_queues(self) -> dict[str, QueueStatus]:
        """What the queues hold now (callers waiting, members), as Asterisk says (nothing
        if it cannot say)."""
        try:
            queues = await self.gateway.queue_status()
        except AmiError as exc:
            log.error("calls.queue_resync_failed", error=str(exc))
            return {}
        log.info("calls.queues_resynced",
                 waiting={q: len(s.callers) for q, s in queues.items() if s.callers},
                 members={q: len(s.members) for q, s in queues.items() if s.members})
        return queues

    async def shutdown(self) -> None:
        """On a clean stop: send every caller still in the menu on to the fallback (the
        centre's queue), and let queued and connected calls finish without hotline.

        The IVR sessions and work order writes are tasks of this object's own, not of
        the service's TaskGroup: each belongs to one call, and one that fails must not
        end the service. So they end here: sessions cancelled and awaited, work orders
        awaited (they are quick ledger writes), then the ledger writer drained."""
        sessions = list(self.sessions.items())
        for channel, task in sessions:
            runner = self.runners.get(channel)
            task.cancel()  # a FastAGI session closes its connection: on to the fallback
            if runner is not None and isinstance(runner.agi, FastAgiChannel):
                continue
            call = next((c for c in self.tracker.calls.values()
                         if c.caller_channel == channel), None)
            in_menu = call is None or call.state == CallState.IVR
            await self._send_on(channel, done=not in_menu)
        await asyncio.gather(*(task for _, task in sessions), *self._background,
                             return_exceptions=True)
        await self.writer.drain()
        await self.prune_record()

    async def prune_record(self) -> None:
        """Asterisk's record of the calls already in the ledger goes (it holds callers'
        numbers); at a clean stop."""
        if self.reconciler is None:
            return
        try:
            await self.reconciler.prune_written()
        except Exception:
            log.exception("calls.asterisk_record_prune_failed")

    async def check_record(self) -> None:
        """Between resyncs: the calls of the line Asterisk's record saw finish that hotline
        never knew (hung up before hotline's IVR answered) get their rows, fallback
        messages imported meanwhile are linked to their calls, and the record of calls
        the ledger has goes (it holds callers' numbers)."""
        if self.reconciler is None or self._resyncing:
            return  # a resync does all this itself
        try:
            self._checked(await self.reconciler.check(self.tracker, self.clock(),
                                                      self._gap_calls))
        except Exception:
            log.exception("calls.asterisk_record_check_failed")

    def _checked(self, checked: Checked) -> None:
        for linkedid, voicemail_id in checked.links:  # tracked: their rows are the writer's
            self._apply(VoicemailSaved(linkedid, voicemail_id))
        for call in checked.amended:  # an ended call of a gap, as the record tells it
            self.writer.put(self.tracker.amend(call))
        # Settled, or forgotten by the tracker (their record never showed an end).
        self._gap_calls = {lid for lid in self._gap_calls if lid not in checked.settled
                           and (lid in self.tracker.calls or lid in self.tracker.finished)}

    def check_record_soon(self, linkedid: str | None = None) -> None:
        """A call of the line may have ended before hotline knew it (its caller hung up
        before the IVR's connection came), or with its events lost: look in the record
        shortly (once for many); for `linkedid`, a call hotline never knew, again until it
        has its row (at most RECORD_CHECK_TRIES looks)."""
        if self.reconciler is None:
            return
        if linkedid is not None:
            self._record_awaited[linkedid] = RECORD_CHECK_TRIES
        if self._record_check_due:
            return
        self._record_check_due = True

        async def later() -> None:
            try:
                while True:
                    await asyncio.sleep(RECORD_CHECK_DELAY)
                    await self.check_record()
                    for awaited in list(self._record_awaited):
                        left = self._record_awaited[awaited] - 1
                        if (left <= 0 or awaited in self.tracker.calls
                                or awaited in self.tracker.ended
                                or await self.ledger.get(awaited) is not None):
                            del self._record_awaited[awaited]
                        else:
                            self._record_awaited[awaited] = left
                    if not self._record_awaited:
                        break
            finally:
                self._record_check_due = False
                self._record_awaited.clear()

        self._background_task(later())

    async def prune_record_loop(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_INTERVAL)
            await self.check_record()
