"""The AGI commands hotline's IVR uses (IvrChannel), and one channel in AsyncAGI driven
through the gateway (AgiChannel). The line itself runs FastAGI (hotline.pbx.fastagi);
AsyncAGI stays for tools and tests that drive a channel over AMI alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hotline.pbx.ami.agi import AgiResult, quote_agi_arg
from hotline.pbx.errors import AgiHangup
from hotline.pbx.events import reads_keys as reads_keys  # importable here as before
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.operations import DONE_VARIABLE
from hotline.pbx.queues import queue_args

# The outbound context of hotline's dialplan (config/asterisk/extensions.conf): a number
# the menu transfers to is dialled there.
OUTBOUND = "Local/{number}@outbound/n"


@dataclass(frozen=True)
class DialOutcome:
    answered: bool
    status: str | None  # Asterisk's DIALSTATUS (ANSWER, BUSY, NOANSWER, ...)


@dataclass(frozen=True)
class QueueOutcome:
    """What a Queue did, as the channel's variables say after it returned."""

    queue: str | None
    status: str | None  # QUEUESTATUS: TIMEOUT, FULL, JOINEMPTY, LEAVEEMPTY, CONTINUE, ...
    member: str | None  # MEMBERINTERFACE of the seat that answered (None: nobody)
    member_name: str | None
    talk_seconds: float | None  # ANSWEREDTIME_MS / 1000
    wait_seconds: float | None  # QUEUEWAIT

    @property
    def answered(self) -> bool:
        return self.member is not None


class IvrChannel(Protocol):
    """What the IVR runner asks of its call's channel, whatever the AGI transport."""

    channel: str

    async def answer(self) -> None: ...

    async def stream_file(self, prompt: str, escape: str = "") -> str | None: ...

    async def wait_for_digit(self, timeout_ms: int) -> str | None: ...

    async def get_variable(self, name: str) -> str | None: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def record_file(self, path: str, *, max_seconds: float, silence_seconds: float,
                          ) -> AgiResult: ...

    async def queue(self, queue: str, timeout: int) -> QueueOutcome: ...

    async def dial_out(self, number: str, timeout: int = 60) -> DialOutcome: ...

    async def finish(self) -> None: ...


class AgiChannel:
    def __init__(self, gateway: AmiGateway, channel: str) -> None:
        self.gateway = gateway
        self.channel = channel

    async def command(self, text: str, timeout: float | None = None) -> AgiResult:
        """One raw AGI command (for this module and tests); raises AgiHangup when the
        channel is gone (511)."""
        result = await self.gateway.agi(self.channel, text, timeout=timeout)
        if result.code == 511:
            raise AgiHangup(f"{self.channel} hung up during {text!r}")
        return result

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def stream_file(self, prompt: str, escape: str = "") -> str | None:
        """Play `prompt`; a key in `escape` stops it and is returned."""
        result = await self.command(
            f"STREAM FILE {quote_agi_arg(prompt)} {quote_agi_arg(escape)}")
        if result.hangup:
            raise AgiHangup(f"{self.channel} hung up while a prompt played")
        return result.digit

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """The key pressed within `timeout_ms`, or None."""
        return (await self.command(f"WAIT FOR DIGIT {timeout_ms}")).digit

    async def get_variable(self, name: str) -> str | None:
        return (await self.command(f"GET VARIABLE {name}")).data

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {name} {quote_agi_arg(value)}")

    async def queue(self, queue: str, timeout: int) -> QueueOutcome:
        """Wait in `queue` (ringing, not music) for up to `timeout` seconds, or until a seat
        answered and the call with it ended; what happened, as the channel says."""
        await self.set_variable("MEMBERINTERFACE", "")
        await self._exec("Queue", queue_args(queue, timeout))
        member = await self.get_variable("MEMBERINTERFACE")
        talk = await self.get_variable("ANSWEREDTIME_MS")
        wait = await self.get_variable("QUEUEWAIT")
        return QueueOutcome(queue, await self.get_variable("QUEUESTATUS"), member or None,
                            await self.get_variable("MEMBERNAME") or None,
                            float(talk) / 1000 if talk and talk.isdigit() else None,
                            float(wait) if wait and wait.isdigit() else None)

    async def dial_out(self, number: str, timeout: int = 60) -> DialOutcome:
        """Transfer the caller to `number` (rung up to `timeout` seconds)."""
        await self._exec("Dial", f"{OUTBOUND.format(number=number)},{timeout}")
        status = await self.get_variable("DIALSTATUS")
        return DialOutcome(status == "ANSWER", status)

    async def record_file(self, path: str, *, max_seconds: float, silence_seconds: float,
                          ) -> AgiResult:
        """Record the caller into `path` (wav) after a beep; `#`, `max_seconds` or
        `silence_seconds` of silence end it. `data` is "hangup" when the caller hung up."""
        return await self.command(
            f"RECORD FILE {quote_agi_arg(path)} wav \"#\" {int(max_seconds * 1000)} 0 "
            f"BEEP s={int(silence_seconds)}")

    async def finish(self) -> None:
        """Hotline has finished with the call: mark it done (the dialplan then hangs up
        rather than falling back) and hang up."""
        await self.set_variable(DONE_VARIABLE, "1")
        await self.command("HANGUP")

    async def _exec(self, application: str, args: str) -> AgiResult:
        """Run a dialplan application until it returns."""
        return await self.command(f"EXEC {application} {quote_agi_arg(args)}")
