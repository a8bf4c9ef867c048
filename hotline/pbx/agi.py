"""One channel in AsyncAGI, driven through the gateway: the commands hotline's IVR uses."""

from __future__ import annotations

from hotline.pbx.ami.agi import AgiResult, quote_agi_arg
from hotline.pbx.gateway import AgiHangup, AmiGateway

DIGITS = "0123456789*#"


class AgiChannel:
    def __init__(self, gateway: AmiGateway, channel: str) -> None:
        self.gateway = gateway
        self.channel = channel

    async def command(self, text: str, timeout: float | None = None) -> AgiResult:
        result = await self.gateway.agi(self.channel, text, timeout=timeout)
        if result.code == 511:
            raise AgiHangup(f"{self.channel} hung up during {text!r}")
        return result

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str | None:
        """Play `prompt` (interrupted by the first key) and read up to `max_digits` keys
        (`#` ends early). None when the caller pressed nothing before the timeout."""
        result = await self.command(
            f"GET DATA {quote_agi_arg(prompt)} {timeout_ms} {max_digits}")
        if result.hangup:
            raise AgiHangup(f"{self.channel} hung up while reading keys")
        digits = result.result or ""
        return digits or None

    async def stream_file(self, prompt: str, escape: str = "") -> str | None:
        """Play `prompt`; a key in `escape` stops it and is returned."""
        result = await self.command(
            f"STREAM FILE {quote_agi_arg(prompt)} {quote_agi_arg(escape)}")
        if result.hangup:
            raise AgiHangup(f"{self.channel} hung up while a prompt played")
        return result.digit

    async def exec(self, application: str, args: str) -> AgiResult:
        """Run a dialplan application (Queue, VoiceMail, ...) until it returns."""
        return await self.command(f"EXEC {application} {quote_agi_arg(args)}")

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {name} {quote_agi_arg(value)}")

    async def hangup(self) -> None:
        await self.command("HANGUP")

    async def leave(self) -> None:
        """End AsyncAGI: the channel goes on in the dialplan after AGI(agi:async)."""
        await self.command("ASYNCAGI BREAK")
