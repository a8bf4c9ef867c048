"""The test caller of hotline's own dialplan (config/asterisk/extensions.conf): how a test
call is placed, keys pressed, speech played and the caller hung up, in AMI's words.

The caller is `Local/s@caller/n`: its `;1` half runs the line's entry (the side hotline
sees as the caller), its `;2` half is the caller's own leg in `[caller]`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.events import CALL_EVENTS, CallsEvent, EventGap, calls_event
from hotline.pbx.events import reading_capacity as reading_capacity  # importable here
from hotline.pbx.events import starts_recording as starts_recording
from hotline.pbx.gateway import AmiGateway, Subscription
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


@dataclass(frozen=True)
class CallNotPlaced:
    """Asterisk could not place the test call (its OriginateResponse failed)."""

    reason: str | None


@dataclass(frozen=True)
class CallerSpoke:
    """The test caller finished saying what `speak` gave it."""


TestCallEvent = CallsEvent | CallNotPlaced | CallerSpoke
_WATCHED = (*CALL_EVENTS, "OriginateResponse", "UserEvent")


def watch(gateway: AmiGateway, linkedid: str,
          handler: Callable[[TestCallEvent], None]) -> Subscription:
    """The events of the test call `linkedid`, typed, in order, to `handler` (a consumer
    of its own; unsubscribe when the call is over)."""

    def deliver(message: AmiMessage | EventGap) -> None:
        if not isinstance(message, AmiMessage) or message.get("Linkedid") != linkedid:
            return
        event: TestCallEvent | None
        if message.event == "OriginateResponse":
            event = (CallNotPlaced(message.get("Reason"))
                     if message.get("Response") != "Success" else None)
        elif message.event == "UserEvent":
            event = CallerSpoke() if message.get("UserEvent") == "CallerSpoke" else None
        else:
            event = calls_event(message, lambda _: True)
        if event is not None:
            handler(event)

    return gateway.subscribe(f"test-call-{linkedid}", _WATCHED, deliver)
