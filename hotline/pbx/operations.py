"""The typed operations hotline asks of Asterisk: the one place that knows AMI's action
names and headers (and the AGI commands sent through AMI).

`AmiGateway` (hotline.pbx.gateway) has these methods; outside pbx/ nothing builds an
action. Each raises what the gateway's `send` raises (AmiTimeout, AmiDisconnected,
AmiActionFailed); a queue member change that finds the member already as wanted raises
AmiAlready, which an idempotent caller may ignore.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hotline.core.calls.live import ChannelInfo, QueueStatus
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.channels import parse_channels
from hotline.pbx.errors import AmiActionFailed, AmiAlready, AmiError
from hotline.pbx.queues import parse_queue_status

# The channel variable that tells the dialplan (config/asterisk/extensions.conf) hotline
# has finished with a call (hang up rather than fall back).
DONE_VARIABLE = "HOTLINE_DONE"
# CommandIDs of the AGI commands that send a call on. Not tied to one run: a new run
# recognises the send-on of an earlier one (its completion needs no answer).
SEND_ON_PREFIX = "hotline-send-on-"
# Replies to a queue member change that mean "already as you want it".
_ALREADY = ("already there", "not there", "interface not found")
# ChanSpy's options per mode of a leader on a seat's call (Asterisk's app_chanspy): q
# no beep nor channel name read out; w whisper (the leader talks to the seat alone); B
# barge (the leader talks to both); E leave when the spied channel hangs up; S leave when
# there is nothing (left) to spy on. No `d`: its keys would switch the mode unaudited.
SPY_OPTIONS = {"listen": "qES", "whisper": "qwES", "barge": "qBES"}
# A channel name ChanSpy may be given: no comma, parenthesis, `$` or space, so it cannot
# carry other options or a second argument into the application's data.
_SPY_CHANNEL = re.compile(r"[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9@._+:=-]+(;[12])?")
# A file MixMonitor may be given: the dialplan passes it as the application's first
# argument, so a comma (or a parenthesis, `$`) would smuggle options or a command
# (MixMonitor runs it when the recording ends) in. Why the dialplan and not AMI's
# MixMonitor action: that action needs the `system` write class, which hotline's AMI
# account never has (config/asterisk/manager.conf).
_MONITOR_FILE = re.compile(r"/[A-Za-z0-9/._-]+\.wav")
# The channel variable MixMonitor stores its ID in (option i): StopMixMonitor by ID stops
# that recording only (not a leader's ChanSpy, not another recording).
MONITOR_ID_VARIABLE = "HOTLINE_RECORDING_ID"


def check_monitor_file(file: str) -> str:
    """`file` if MixMonitor may be given it (an absolute .wav path of letters, digits and
    . _ - /, no `..`); ValueError otherwise."""
    if not _MONITOR_FILE.fullmatch(file) or "/../" in file:
        raise ValueError(f"not a file MixMonitor may be given: {file!r}")
    return file


def mix_monitor_args(file: str) -> str:
    """MixMonitor's data: `file`, bridged audio only (b: the conversation with the seat,
    not the queue's ringing nor what follows), its ID kept in MONITOR_ID_VARIABLE."""
    return f"{check_monitor_file(file)},bi({MONITOR_ID_VARIABLE})"


def is_send_on(command_id: str) -> bool:
    """Whether an AGI command (by its CommandID) was hotline sending a call on."""
    return command_id.startswith(SEND_ON_PREFIX)


def caller_id_text(number: str, name: str | None) -> str:
    """A CallerID header: `"name" <number>`, or the number alone."""
    return f'"{name}" <{number}>' if name else number


class AsteriskOperations:
    """Mixed into AmiGateway: typed operations built on its `send` and `send_list`."""

    if TYPE_CHECKING:
        async def send(self, action: dict[str, Any], *, timeout: float | None = None,
                       check: bool = True) -> AmiMessage: ...

        async def send_list(self, action: dict[str, Any], *,
                            timeout: float | None = None) -> list[AmiMessage]: ...

        async def send_many(self, actions: list[dict[str, Any]], *,
                            timeout: float | None = None) -> list[AmiMessage | AmiError]: ...

    # -- queue members ------------------------------------------------------------------

    async def queue_add(self, queue: str, interface: str, member_name: str, penalty: int,
                        *, paused: bool = False) -> None:
        """Make `interface` a dynamic member of `queue`."""
        await self._member_change({"Action": "QueueAdd", "Queue": queue,
                                   "Interface": interface, "MemberName": member_name,
                                   "Penalty": str(penalty), "Paused": _bool(paused)})

    async def queue_remove(self, queue: str, interface: str) -> None:
        await self._member_change({"Action": "QueueRemove", "Queue": queue,
                                   "Interface": interface})

    async def queue_pause(self, interface: str, paused: bool, reason: str = "") -> None:
        """Pause (or unpause) `interface` in every queue it is a member of."""
        await self._member_change({"Action": "QueuePause", "Interface": interface,
                                   "Paused": _bool(paused), "Reason": reason})

    async def queue_penalty(self, queue: str, interface: str, penalty: int) -> None:
        await self._member_change({"Action": "QueuePenalty", "Queue": queue,
                                   "Interface": interface, "Penalty": str(penalty)})

    async def _member_change(self, action: dict[str, str]) -> None:
        try:
            await self.send(action)
        except AmiActionFailed as exc:
            message = (exc.response.get("Message") if exc.response else "") or ""
            if any(text in message.lower() for text in _ALREADY):
                raise AmiAlready(str(exc), exc.response) from None
            raise

    # -- queues and channels, as they are now ---------------------------------------------

    async def queue_status(self, queue: str | None = None) -> dict[str, QueueStatus]:
        """Every queue (or `queue` alone) as Asterisk has it now."""
        action = {"Action": "QueueStatus"} | ({"Queue": queue} if queue else {})
        return parse_queue_status(await self.send_list(action))

    async def channels(self) -> list[ChannelInfo]:
        """Every channel Asterisk has now."""
        return parse_channels(await self.send_list({"Action": "CoreShowChannels"}))

    async def reload_queue_parameters(self) -> None:
        """Re-read queues.conf's queue parameters; members stay as they are."""
        await self.send({"Action": "QueueReload", "Parameters": "yes"})

    # -- variables ------------------------------------------------------------------------

    async def set_global(self, name: str, value: str, *, timeout: float | None = None,
                         ) -> None:
        await self.send({"Action": "Setvar", "Variable": name, "Value": value},
                        timeout=timeout)

    async def set_channel_variable(self, channel: str, name: str, value: str, *,
                                   timeout: float | None = None) -> None:
        await self.send({"Action": "Setvar", "Channel": channel, "Variable": name,
                         "Value": value}, timeout=timeout)

    async def set_channel_variables(self, channels: list[str], name: str, value: str, *,
                                    timeout: float | None = None) -> list[AmiError | None]:
        """The same variable on many channels, sent together: for each channel None (set)
        or the error its Setvar met."""
        replies = await self.send_many(
            [{"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value}
             for channel in channels], timeout=timeout)
        return [r if isinstance(r, AmiError) else None for r in replies]

    # -- channels -------------------------------------------------------------------------

    async def send_on(self, channel: str, *, done: bool) -> None:
        """End AsyncAGI on `channel` without waiting for it: the call goes on in the
        dialplan after AGI(agi:async), to the fallback (queue, voicemail), or, when
        hotline has finished with it (`done`), to hang up."""
        if done:
            await self.send({"Action": "AGI", "Channel": channel,
                             "Command": f"SET VARIABLE {DONE_VARIABLE} 1",
                             "CommandID": f"{SEND_ON_PREFIX}done-{channel}"})
        await self.send({"Action": "AGI", "Channel": channel, "Command": "ASYNCAGI BREAK",
                         "CommandID": f"{SEND_ON_PREFIX}{channel}"})

    async def originate(self, channel: str, context: str, exten: str, *,
                        caller_number: str, caller_name: str | None = None,
                        channel_id: str | None = None, other_channel_id: str | None = None,
                        ring_timeout: float = 30.0) -> None:
        """Place a call from `channel` to `exten` in `context`, without waiting for it
        (its OriginateResponse event tells how it went)."""
        action = {"Action": "Originate", "Channel": channel, "Context": context,
                  "Exten": exten, "Priority": "1",
                  "CallerID": caller_id_text(caller_number, caller_name), "Async": "true",
                  "Timeout": str(int(ring_timeout * 1000))}
        if channel_id is not None:
            action["ChannelId"] = channel_id
        if other_channel_id is not None:
            action["OtherChannelId"] = other_channel_id
        await self.send(action)

    async def spy(self, phone: str, channel: str, mode: str, *, caller_name: str,
                  caller_number: str = "12366", channel_id: str | None = None,
                  ring_timeout: float = 30.0) -> None:
        """Ring `phone` (a device: PJSIP/8101, Local/8002@seats/n) and, once it answers,
        spy on `channel` (one channel's full name, PJSIP/8001-0000002a, so ChanSpy's
        prefix match finds that channel only) in `mode` (listen, whisper, barge), until
        that channel hangs up. Without waiting for the answer."""
        options = SPY_OPTIONS.get(mode)
        if options is None:
            raise ValueError(f"spy mode {mode!r} is not one of {', '.join(SPY_OPTIONS)}")
        if not _SPY_CHANNEL.fullmatch(channel) or not _SPY_CHANNEL.fullmatch(
                phone.removesuffix("/n")):
            raise ValueError(f"not a channel ChanSpy may be given: {channel!r} / {phone!r}")
        action = {"Action": "Originate", "Channel": phone, "Application": "ChanSpy",
                  "Data": f"{channel},{options}",
                  "CallerID": caller_id_text(caller_number, caller_name), "Async": "true",
                  "Timeout": str(int(ring_timeout * 1000))}
        if channel_id is not None:
            action["ChannelId"] = channel_id
        await self.send(action)

    async def play_dtmf(self, channel: str, digit: str, *, received: bool = True) -> None:
        """Send key `digit` on `channel` (`received`: as if it came from the far end)."""
        await self.send({"Action": "PlayDTMF", "Channel": channel, "Digit": digit,
                         "Receive": _bool(received)})

    async def hangup(self, channel: str, cause: int = 16) -> None:
        """Hang `channel` up (cause 16: normal clearing)."""
        await self.send({"Action": "Hangup", "Channel": channel, "Cause": str(cause)})

    async def redirect(self, channel: str, context: str, exten: str = "s",
                       priority: int = 1) -> None:
        await self.send({"Action": "Redirect", "Channel": channel, "Context": context,
                         "Exten": exten, "Priority": str(priority)})


def _bool(value: bool) -> str:
    return "true" if value else "false"
