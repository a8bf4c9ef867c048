"""Runs the menu engine on a real call over AGI (FastAGI on the line).

Each engine command becomes AGI commands (hotline.pbx.agi.IvrChannel): prompts are played
with every key as escape digit (barge-in), keys are read one at a time, queues and
transfers are dialplan applications the channel runs, voicemail is recorded. After a
queue, what happened (answered by whom, for how long) is read from the channel itself,
never assumed from the events hotline happened to receive.

Type-ahead: Asterisk discards DTMF that arrives while no AGI command reads keys, but it
still reports the key. The runner watches its channel's events (hotline.pbx.events: an
AGI command started, ended, a key received): a key that no reading command took is kept
and handed to the engine before the next command that would read keys, so nothing the
caller pressed is lost.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from hotline.common.clock import utc_now
from hotline.core.calls.tracking import (
    Fact,
    Referred,
    SeatCompleted,
    SeatConnected,
    VoicemailSaved,
    VoicemailStarted,
)
from hotline.core.ivr import engine
from hotline.core.ivr.dialplan import Dialplan
from hotline.core.ivr.kbline import KB_PROMPT
from hotline.core.routing.config import RoutingConfig
from hotline.features.ivr.prompts import PromptStore
from hotline.features.voicemail.service import Recording, Voicemail, VoicemailError
from hotline.pbx.agi import AgiChannel, IvrChannel, QueueOutcome
from hotline.pbx.events import AgiCommandEnded, AgiCommandStarted, ChannelEvent, KeyReceived
from hotline.pbx.gateway import AgiHangup, AmiGateway

log = structlog.get_logger("hotline.ivr")

ALL_KEYS = "0123456789*#"
QUEUE_TIMEOUT = 300  # without config/routing.yaml: the longest wait in a queue


@dataclass
class Progress:
    pressed: str
    path: tuple[str, ...]
    category: str | None
    topic: str | None
    after_hours: bool = False  # the line was closed, or a queue the call came to was
    variables: tuple[tuple[str, str], ...] = ()  # what `collect` steps read (taxpayer_id)
    self_service: bool = False  # served by self-service answers (engine.self_served)


class KbCalls(Protocol):
    """The knowledge base as a call uses it (hotline.features.kb.line.KbLine): where its
    prompts are, and the records of the answers played and the caller's feedback."""

    prompts: PromptStore

    async def answered(self, linkedid: str, item_id: str, version: int,
                       at: datetime) -> int: ...

    async def feedback(self, answer_id: int, feedback: str, at: datetime) -> None: ...


@dataclass
class CallLink:
    """What the runner knows of its call, and how it tells the tracker."""

    linkedid: str
    number: str | None
    name: str | None
    apply: Callable[[Fact], None]
    # Registers a callback work order when nobody answered `queue` (on_no_answer), or
    # (True) the queue was closed by its own hours.
    callback: Callable[[str, bool], Awaitable[None]] | None = None
    # Records the conversation with the seat of each queue attempt (recordings feature).
    recorder: QueueRecorder | None = None


class QueueRecorder(Protocol):
    """Seat conversations recorded (hotline.features.recordings.recorder.SeatRecorder)."""

    async def arm(self, linkedid: str, category: str | None) -> Any: ...

    async def after_queue(self, armed: Any, *, answered: bool, seat: str | None) -> None: ...


class IvrRunner:
    def __init__(self, gateway: AmiGateway, channel: str, plan: Dialplan,
                 context: engine.CallContext, prompts: PromptStore,
                 report: Callable[[Progress], None],
                 answered: Callable[[], bool], link: CallLink | None = None,
                 voicemail: Voicemail | None = None,
                 routing: RoutingConfig | None = None,
                 agi: IvrChannel | None = None, kb: KbCalls | None = None) -> None:
        self.gateway = gateway
        self.agi: IvrChannel = agi if agi is not None else AgiChannel(gateway, channel)
        self.channel = channel
        self.plan = plan
        self.context = context
        self.prompts = prompts
        self.report = report
        self.answered = answered
        self.link = link
        self.voicemail = voicemail
        self.routing = routing
        self.typeahead: collections.deque[str] = collections.deque()
        self._reading = False
        self._consumed = False
        self.session: engine.Session | None = None
        self.after_hours = context.calendar != "open"
        self.kb = kb
        self._answer_id: int | None = None  # the call_kb row of the last answer played

    # -- events of this channel (from the calls consumer, in AMI order) ----------------

    def on_event(self, event: ChannelEvent) -> None:
        if isinstance(event, AgiCommandStarted):
            self._reading = event.reads_keys
            self._consumed = False
        elif isinstance(event, AgiCommandEnded):
            self._reading = False
        elif isinstance(event, KeyReceived):
            digit = event.digit
            if digit not in ALL_KEYS or not digit:
                return
            if self._reading and not self._consumed:
                self._consumed = True  # the running command takes this key
            else:
                self.typeahead.append(digit)
                log.debug("ivr.typeahead", digit=digit)

    # -- the call -------------------------------------------------------------------------

    async def run(self) -> engine.Finish:
        session, command = engine.start(self.plan, self.context)
        while True:
            self.session = session
            self._report(session)
            if isinstance(command, engine.Finish):
                await self._finish(command)
                return command
            event = await self._execute(command)
            session, command = engine.step(session, event)

    def _report(self, session: engine.Session) -> None:
        self.report(Progress(session.pressed, session.path, session.category, session.topic,
                             self.after_hours, session.variables,
                             engine.self_served(session)))

    def _playable(self, name: str) -> str:
        """A prompt as Asterisk names it: the knowledge base's (`kb:`) from its folder."""
        if name.startswith(KB_PROMPT) and self.kb is not None:
            return self.kb.prompts.playable(name.removeprefix(KB_PROMPT))
        return self.prompts.playable(name)

    async def _typed_ahead(self) -> str | None:
        # Let the consumer handle every event received so far, so a key pressed just
        # before this command is in the type-ahead buffer, not lost behind it.
        await self.gateway.caught_up("calls", timeout=0.5)
        return self.typeahead.popleft() if self.typeahead else None

    async def _execute(self, command: engine.Command) -> engine.Event:
        if isinstance(command, engine.PlayPrompts):
            if command.interruptible:
                early = await self._typed_ahead()
                if early is not None:
                    return engine.Key(early)
            for name in command.prompts:
                key = await self.agi.stream_file(self._playable(name),
                                                 ALL_KEYS if command.interruptible else "")
                if key:
                    return engine.Key(key)
            return engine.PromptsDone()
        if isinstance(command, engine.ReadKey):
            early = await self._typed_ahead()
            if early is not None:
                return engine.Key(early)
            key = await self.agi.wait_for_digit(int(command.timeout * 1000))
            return engine.Key(key) if key else engine.NoKey()
        if isinstance(command, engine.PlayAnswer):
            return await self._answer(command)
        if isinstance(command, engine.NoteFeedback):
            await self._feedback(command)
            return engine.Done()
        if isinstance(command, engine.JoinQueue):
            return await self._queue(command)
        if isinstance(command, engine.LeaveVoicemail):
            await self._leave_voicemail(command)
            return engine.Done()
        if isinstance(command, engine.Dial):
            if command.prompt:
                await self.agi.stream_file(self.prompts.playable(command.prompt))
            dialled = await self.agi.dial_out(command.number)
            answered = dialled.answered
            if answered and self.link is not None:
                self.link.apply(Referred(self.link.linkedid, command.number))
            if not answered:
                log.warning("ivr.transfer_failed", number=command.number,
                            dial_status=dialled.status)
            return engine.Done(answered=answered)
        raise AssertionError(f"unexpected command {command!r}")

    async def _answer(self, command: engine.PlayAnswer) -> engine.Event:
        """Record that the line answered the call with this entry version, and play it
        (a key stops it: the caller's feedback)."""
        self._answer_id = None
        if self.kb is not None and self.link is not None:
            try:
                self._answer_id = await self.kb.answered(
                    self.link.linkedid, command.entry_id, command.version, utc_now())
            except Exception as exc:  # the caller hears the answer all the same
                log.error("kb.answer_not_recorded", entry_id=command.entry_id,
                          error=str(exc))
        log.debug("kb.answered", entry_id=command.entry_id, version=command.version)
        key = await self.agi.stream_file(self._playable(command.prompt), ALL_KEYS)
        return engine.Key(key) if key else engine.PromptsDone()

    async def _feedback(self, command: engine.NoteFeedback) -> None:
        if self.kb is None or self._answer_id is None:
            return
        try:
            await self.kb.feedback(self._answer_id, command.feedback, utc_now())
        except Exception as exc:
            log.error("kb.feedback_not_recorded", entry_id=command.entry_id,
                      error=str(exc))
        log.debug("kb.feedback", entry_id=command.entry_id, feedback=command.feedback)

    async def _queue(self, command: engine.JoinQueue) -> engine.Done:
        """Wait in the queue up to its max_wait; a caller whose step prefers the region
        waits first (region_wait) in the region queue, rung only by the seats of their
        city bureau (Asterisk lets nobody join it when none of them can answer now).
        Unanswered: routing.yaml's on_no_answer says what follows."""
        routing = self.routing
        spec = routing.queues.get(command.queue) if routing is not None else None
        mode = spec.on_no_answer if spec is not None else "voicemail"
        if command.closed:
            # Outside the queue's own hours: the caller is not left waiting for nobody.
            log.info("ivr.queue_closed", queue=command.queue, then=mode)
            self.after_hours = True
            if self.session is not None:
                self._report(self.session)
            return await self._unanswered(command.queue, mode, closed=True)
        max_wait = spec.max_wait if spec is not None else QUEUE_TIMEOUT
        started = time.monotonic()
        if command.prefer_region and routing is not None and spec is not None:
            region = routing.region_for(command.queue, self.link.number if self.link else None)
            if region is not None:
                outcome = await self._queue_in(region, min(spec.region_wait, max_wait))
                if outcome.answered:
                    self._answered_in(region, outcome)
                    return engine.Done(answered=True)
                log.info("ivr.region_queue_unanswered", queue=region, status=outcome.status)
        remaining = max(1, round(max_wait - (time.monotonic() - started)))
        outcome = await self._queue_in(command.queue, remaining)
        if outcome.answered:
            self._answered_in(command.queue, outcome)
            return engine.Done(answered=True)
        log.warning("ivr.queue_unanswered", queue=command.queue, status=outcome.status,
                    then=mode)
        return await self._unanswered(command.queue, mode)

    async def _queue_in(self, queue: str, wait: int) -> QueueOutcome:
        """One queue attempt, its conversation with a seat recorded when a recorder is
        wired (the row first; without a row, queued unrecorded rather than not at all)."""
        recorder = self.link.recorder if self.link is not None else None
        if recorder is None or self.link is None:
            return await self.agi.queue(queue, wait)
        category = self.session.category if self.session is not None else None
        armed = await recorder.arm(self.link.linkedid, category)
        if armed is None:
            return await self.agi.queue(queue, wait)
        outcome = await self.agi.queue(queue, wait, recording=armed.asterisk_file)
        await recorder.after_queue(armed, answered=outcome.answered,
                                   seat=outcome.member_name or outcome.member)
        return outcome

    def _answered_in(self, queue: str, outcome: QueueOutcome) -> None:
        """A seat answered (the channel says so): if hotline missed it (AMI was cut
        meanwhile), the call learns it now, with the seat and the talk Asterisk timed."""
        if self.link is None or self.answered():
            return
        log.warning("ivr.answer_learnt_from_channel", queue=queue, member=outcome.member)
        self.link.apply(SeatConnected(self.link.linkedid, queue,
                                      outcome.member_name or outcome.member or "",
                                      outcome.wait_seconds))
        self.link.apply(SeatCompleted(self.link.linkedid, outcome.talk_seconds))

    async def _unanswered(self, queue: str, mode: str, closed: bool = False) -> engine.Done:
        if mode == "callback" and self.link is not None and self.link.callback is not None:
            await self.link.callback(queue, closed)
        return engine.Done(answered=False, unanswered=mode)

    async def _leave_voicemail(self, command: engine.LeaveVoicemail) -> None:
        """Record (beep, maximum length, silence or # ends it), let the caller listen or
        record again if the dialplan offers it, then save: file, ledger row and work
        order together. Any failure ends with the dialplan's apology, never silence."""
        spec = command.step
        if self.voicemail is None or self.link is None:
            await self._play_optional(spec.failed)
            return
        link = self.link
        link.apply(VoicemailStarted(link.linkedid))
        session = self.session
        recording: Recording | None = None
        try:
            while True:
                recording = await self.voicemail.begin(
                    linkedid=link.linkedid, caller_number=link.number, caller_name=link.name,
                    box=spec.box, category=session.category if session else None,
                    topic=session.topic if session else None)
                try:
                    result = await self.agi.record_file(
                        recording.asterisk_path, max_seconds=spec.max_seconds,
                        silence_seconds=spec.silence_seconds)
                except AgiHangup:
                    recording.flags.append("hangup")
                    await self._save(recording)
                    raise
                if result.data == "hangup":
                    recording.flags.append("hangup")
                    await self._save(recording)
                    raise AgiHangup(f"{self.channel} hung up while recording")
                if result.code != 200 or result.result == "-1":
                    await self.voicemail.fail(recording, result.data or f"agi-{result.code}")
                    log.error("voicemail.record_failed", result=result.raw,
                              file=str(recording.host_path))
                    await self._play_optional(spec.failed)
                    return
                choice = await self._review(spec.review, recording)
                if choice == "2":
                    await self.voicemail.discard(recording)
                    recording = None
                    continue
                break
            await self._save(recording)
            await self._play_optional(spec.saved)
        except VoicemailError as exc:
            log.error("voicemail.unavailable", error=str(exc), code=exc.code)
            if recording is not None and exc.code != "voicemail-no-audio":
                await self.voicemail.fail(recording, "error")
            await self._play_optional(spec.failed)

    async def _review(self, prompt: str | None, recording: Recording) -> str | None:
        """`1` listens, `2` records again, `#` or nothing saves."""
        if prompt is None:
            return None
        for _ in range(3):
            key = await self.agi.stream_file(self.prompts.playable(prompt), ALL_KEYS)
            if key is None:
                key = await self.agi.wait_for_digit(5000)
            if key == "1":
                await self.agi.stream_file(recording.asterisk_path, "#")
                continue
            return key
        return None

    async def _save(self, recording: Recording) -> None:
        assert self.voicemail is not None
        assert self.link is not None
        voicemail_id = await self.voicemail.save(recording)
        self.link.apply(VoicemailSaved(self.link.linkedid, voicemail_id))

    async def _play_optional(self, prompt: str | None) -> None:
        if prompt:
            await self.agi.stream_file(self.prompts.playable(prompt))

    async def _finish(self, command: engine.Finish) -> None:
        if command.prompt:
            await self.agi.stream_file(self.prompts.playable(command.prompt))
        await self.agi.finish()
