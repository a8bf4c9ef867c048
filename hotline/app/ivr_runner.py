"""Runs the menu engine on a real call over AsyncAGI.

Each engine command becomes AGI commands: prompts are played with STREAM FILE and every
key as escape digit (barge-in), keys are read with WAIT FOR DIGIT, queues, voicemail and
transfers are dialplan applications run with EXEC.

Type-ahead: Asterisk discards DTMF that arrives while no AGI command reads keys, but it
still publishes DTMFEnd. The runner watches AGIExecStart / AGIExecEnd / DTMFEnd for its
channel: a key that no reading command took is kept and handed to the engine before the
next command that would read keys, so nothing the caller pressed is lost.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from hotline.ivr import engine
from hotline.ivr.dialplan import Dialplan
from hotline.ivr.prompts import PromptStore
from hotline.pbx.agi import AgiChannel
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway

log = structlog.get_logger("hotline.ivr")

ALL_KEYS = "0123456789*#"
QUEUE_OPTIONS = "r"  # ring the caller while seats ring, rather than music
QUEUE_TIMEOUT = 300


@dataclass
class Progress:
    pressed: str
    path: tuple[str, ...]
    category: str | None
    topic: str | None


class IvrRunner:
    def __init__(self, gateway: AmiGateway, channel: str, plan: Dialplan,
                 context: engine.CallContext, prompts: PromptStore,
                 report: Callable[[Progress], None],
                 answered: Callable[[], bool]) -> None:
        self.gateway = gateway
        self.agi = AgiChannel(gateway, channel)
        self.channel = channel
        self.plan = plan
        self.context = context
        self.prompts = prompts
        self.report = report
        self.answered = answered
        self.typeahead: collections.deque[str] = collections.deque()
        self._reading = False
        self._consumed = False
        self.session: engine.Session | None = None

    # -- events of this channel (from the calls consumer, in AMI order) ----------------

    def on_event(self, message: AmiMessage) -> None:
        event = message.event
        if event == "AGIExecStart":
            command = (message.get("Command") or "").upper()
            self._reading = command.startswith("WAIT FOR DIGIT") or (
                command.startswith("STREAM FILE") and not command.endswith('""'))
            self._consumed = False
        elif event == "AGIExecEnd":
            self._reading = False
        elif event == "DTMFEnd" and message.get("Direction") == "Received":
            digit = message.get("Digit") or ""
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
        self.report(Progress(session.pressed, session.path, session.category, session.topic))

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
                key = await self.agi.stream_file(self.prompts.playable(name),
                                                 ALL_KEYS if command.interruptible else "")
                if key:
                    return engine.Key(key)
            return engine.PromptsDone()
        if isinstance(command, engine.ReadKey):
            early = await self._typed_ahead()
            if early is not None:
                return engine.Key(early)
            result = await self.agi.command(f"WAIT FOR DIGIT {int(command.timeout * 1000)}")
            key = result.digit
            return engine.Key(key) if key else engine.NoKey()
        if isinstance(command, engine.JoinQueue):
            await self.agi.exec("Queue", f"{command.queue},{QUEUE_OPTIONS},,,{QUEUE_TIMEOUT}")
            return engine.Done(answered=self.answered())
        if isinstance(command, engine.LeaveVoicemail):
            await self.agi.exec("VoiceMail", f"{command.box}@hotline,s")
            return engine.Done()
        if isinstance(command, engine.Dial):
            if command.prompt:
                await self.agi.stream_file(self.prompts.playable(command.prompt))
            await self.agi.exec("Dial", f"Local/{command.number}@outbound/n,60")
            return engine.Done()
        raise AssertionError(f"unexpected command {command!r}")

    async def _finish(self, command: engine.Finish) -> None:
        if command.prompt:
            await self.agi.stream_file(self.prompts.playable(command.prompt))
        await self.agi.set_variable("HOTLINE_DONE", "1")
        await self.agi.hangup()
