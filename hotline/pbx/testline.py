"""The test caller of hotline's own dialplan (config/asterisk/extensions.conf): how a test
call is placed, keys pressed, speech played and the caller hung up, in AMI's words.

The caller is `Local/s@caller/n`: its `;1` half runs the line's entry (the side hotline
sees as the caller), its `;2` half is the caller's own leg in `[caller]`.
"""

from __future__ import annotations

import re

from hotline.pbx.operations import AsteriskOperations

CALLER = "Local/s@caller/n"
ENTRY_CONTEXT = "ivr"
SPEAK_CONTEXT = "caller-speak"  # plays ${SPEAK} into the call, then UserEvent CallerSpoke
SPEAK_VARIABLE = "SPEAK"
# A file Asterisk ships: what the test caller says when a recording starts.
DEFAULT_SPEECH = "/usr/share/asterisk/sounds/en_US_f_Allison/tt-weasels"


def caller_leg(ivr_channel: str) -> str:
    """The caller's own leg of the Local channel whose IVR half is `ivr_channel`."""
    return ivr_channel.replace(";1", ";2")


async def dial(gateway: AsteriskOperations, extension: str, number: str, name: str | None,
               linkedid: str) -> None:
    """Place the test call to `extension`; its IVR half gets `linkedid` as Uniqueid."""
    await gateway.originate(CALLER, ENTRY_CONTEXT, extension, caller_number=number,
                            caller_name=name, channel_id=linkedid,
                            other_channel_id=f"{linkedid}-caller", ring_timeout=30.0)


async def press(gateway: AsteriskOperations, ivr_channel: str, key: str) -> None:
    """The caller presses `key` (as received on the IVR half)."""
    await gateway.play_dtmf(ivr_channel, key, received=True)


async def hang_up(gateway: AsteriskOperations, ivr_channel: str) -> None:
    """The caller's own leg hangs up; Asterisk hangs up the IVR half with it."""
    await gateway.hangup(caller_leg(ivr_channel))


async def speak(gateway: AsteriskOperations, ivr_channel: str, sound: str) -> None:
    """The caller's leg plays `sound` (a file as Asterisk names it, no extension) into
    the call."""
    leg = caller_leg(ivr_channel)
    await gateway.set_channel_variable(leg, SPEAK_VARIABLE, sound)
    await gateway.redirect(leg, SPEAK_CONTEXT)


def reading_capacity(command: str) -> int:
    """How many keys an AGI command (as AGIExecStart reports it) reads: 0 if none."""
    upper = command.upper()
    if upper.startswith("GET DATA"):
        # GET DATA <file> [timeout] [maxdigits]; quotes keep a file name one word.
        args = re.findall(r'"[^"]*"|\S+', command)[2:]
        if len(args) >= 3:
            try:
                return max(1, int(args[2]))
            except ValueError:
                return 1024
        return 1024
    if upper.startswith(("WAIT FOR DIGIT", "GET OPTION", "CONTROL STREAM FILE")):
        return 1
    if upper.startswith("STREAM FILE"):
        args = re.findall(r'"[^"]*"|\S+', command)[2:]
        escape = args[1].strip('"') if len(args) >= 2 else ""
        return 1 if escape else 0
    if upper.startswith("RECORD FILE"):
        return 1
    return 0


def starts_recording(command: str) -> bool:
    """Whether an AGI command (as AGIExecStart reports it) records the caller."""
    return command.upper().startswith("RECORD FILE")
