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
from hotline.pbx.operations import DONE_VARIABLE, MONITOR_ID_VARIABLE, mix_monitor_args
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

    async def queue(self, queue: str, timeout: int,
                    recording: str | None = None) -> QueueOutcome: ...

    async def dial_out(self, number: str, timeout: int = 60) -> DialOutcome: ...

    async def finish(self) -> None: ...


class AgiCommands:
    """The AGI command words hotline's IVR uses, written once for both transports: each
    channel class supplies `command(text)` (AsyncAGI over AMI, or its FastAGI socket)."""

    channel: str

    async def command(self, text: str, timeout: float | None = None) -> AgiResult:
        raise NotImplementedError

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
        """The channel variable's value; None when it is not set (`200 result=0`)."""
        result = await self.command(f"GET VARIABLE {name}")
        return result.data if result.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {name} {quote_agi_arg(value)}")

    async def record_file(self, path: str, *, max_seconds: float, silence_seconds: float,
                          ) -> AgiResult:
        """Record the caller into `path` (wav) after a beep; `#`, `max_seconds` or
        `silence_seconds` of silence end it. `data` is "hangup" when the caller hung up."""
        return await self.command(
            f"RECORD FILE {quote_agi_arg(path)} wav \"#\" {int(max_seconds * 1000)} 0 "
            f"BEEP s={int(silence_seconds)}")

    async def queue_outcome(self, queue: str | None = None) -> QueueOutcome:
        """What the last Queue did, as the channel says (its variables)."""
        status = await self.get_variable("QUEUESTATUS")
        member = await self.get_variable("MEMBERINTERFACE")
        member_name = await self.get_variable("MEMBERNAME")
        answered_ms = await self.get_variable("ANSWEREDTIME_MS")
        wait = await self.get_variable("QUEUEWAIT")
        return QueueOutcome(queue, status, member or None, member_name or None,
                            _float(answered_ms, 1000.0), _float(wait, 1.0))

    async def dial_status(self) -> DialOutcome:
        """How the last Dial went (DIALSTATUS)."""
        status = await self.get_variable("DIALSTATUS")
        return DialOutcome(status == "ANSWER", status)

    async def mark_done(self) -> None:
        """Hotline has finished with the call: the dialplan then hangs up rather than
        falling back."""
        await self.set_variable(DONE_VARIABLE, "1")

    async def exec(self, application: str, args: str) -> AgiResult:
        """Run a dialplan application until it returns."""
        return await self.command(f"EXEC {application} {quote_agi_arg(args)}")


def dial_args(number: str, timeout: int) -> str:
    """Dial's arguments for a transfer to `number` through hotline's outbound context."""
    return f"{OUTBOUND.format(number=number)},{timeout}"


class AgiChannel(AgiCommands):
    """One channel in AsyncAGI, driven through the gateway."""

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

    async def queue(self, queue: str, timeout: int,
                    recording: str | None = None) -> QueueOutcome:
        """Wait in `queue` (ringing, not music) for up to `timeout` seconds, or until a seat
        answered and the call with it ended; what happened, as the channel says.
        `recording`: the file (as Asterisk sees it) the conversation with the seat is
        recorded into (MixMonitor, bridged audio only), closed when the queue returns."""
        await self.set_variable("MEMBERINTERFACE", "")
        if recording is not None:
            await self.exec("MixMonitor", mix_monitor_args(recording))
        await self.exec("Queue", queue_args(queue, timeout))
        if recording is not None:
            await self.exec("StopMixMonitor", f"${{{MONITOR_ID_VARIABLE}}}")
        return await self.queue_outcome(queue)

    async def dial_out(self, number: str, timeout: int = 60) -> DialOutcome:
        """Transfer the caller to `number` (rung up to `timeout` seconds)."""
        await self.exec("Dial", dial_args(number, timeout))
        return await self.dial_status()

    async def finish(self) -> None:
        """Mark the call done and hang up."""
        await self.mark_done()
        await self.command("HANGUP")


def _float(text: str | None, per_unit: float) -> float | None:
    try:
        return float(text) / per_unit if text else None
    except ValueError:
        return None
