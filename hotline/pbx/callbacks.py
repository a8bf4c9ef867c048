"""Placing a callback over AMI, and what Asterisk says of it (pbx/ is the only code that
speaks AMI; the callback loop, features/callbacks/, decides).

An attempt is an Originate of the caller's phone (`dial`, e.g. PJSIP/{number}@carrier;
in the sandbox a Local channel, Local/{number}@callback-phone/n, stands for it) into
`[hotline-callback-connect]` (config/asterisk/extensions.conf): once the caller
answers, a UserEvent HotlineCallback (State: answered) is sent, the caller hears that
the seat is being connected and enters the queue with QUEUE_PRIO, ahead of later
callers; when the call ends (its `h` extension), a second UserEvent says connected (a
seat answered) or unanswered. An attempt the phone does not answer ends in a failed
OriginateResponse.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap, Subscription

CONNECT_CONTEXT = "hotline-callback-connect"
USER_EVENT = "HotlineCallback"
# Ahead of every caller who joined the queue the ordinary way (priority 0).
QUEUE_PRIORITY = 10
# OriginateResponse's Reason (Asterisk's ast_control_frame_type of the outcome).
REASONS = {"0": "failed", "1": "hangup", "3": "no_answer", "4": "answered", "5": "busy",
           "8": "congestion"}
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
_QUEUE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def channel_id(callback_id: int, attempt_id: int) -> str:
    """The Uniqueid the attempt's channel is given (Originate's ChannelId): its
    OriginateResponse and QueueStatus entry are recognised by it."""
    return f"hotline-callback-{callback_id}-{attempt_id}"


def dial_channel(template: str, number: str) -> str:
    """The channel that rings the caller's phone: `template` with {number}."""
    if not _NUMBER.match(number):
        raise ValueError("not a number a callback can dial")
    return template.format(number=number)


async def place(gateway: AmiGateway, *, callback_id: int, attempt_id: int, dial: str,
                number: str, queue: str, wait: int, ring: int, hello: str) -> str:
    """Originate the attempt (without waiting for the answer); returns its channel id.
    `wait`: seconds the answered caller may wait in the queue; `hello`: the sound the
    caller hears on answering (as Asterisk names it)."""
    if not _QUEUE.match(queue):
        raise ValueError(f"not a queue name: {queue!r}")
    if any(c in hello for c in ",()$ \n"):
        raise ValueError(f"not a sound a callback can play: {hello!r}")
    uid = channel_id(callback_id, attempt_id)
    variables = {"HOTLINE_CALLBACK_ID": str(callback_id), "HOTLINE_CALLBACK_QUEUE": queue,
                 "HOTLINE_CALLBACK_WAIT": str(int(wait)), "HOTLINE_CALLBACK_HELLO": hello,
                 "QUEUE_PRIO": str(QUEUE_PRIORITY)}
    await gateway.send({
        "Action": "Originate", "Channel": dial_channel(dial, number),
        "Context": CONNECT_CONTEXT, "Exten": "s", "Priority": "1",
        "CallerID": "12366", "Async": "true", "Timeout": str(int(ring * 1000)),
        "ChannelId": uid, "OtherChannelId": f"{uid}-2",
        "Variable": ",".join(f"{k}={v}" for k, v in variables.items())})
    return uid


@dataclass(frozen=True)
class AttemptEnded:
    """The caller's phone was not answered (or the call could not be placed)."""

    channel_id: str
    result: str  # no_answer, busy, congestion, failed, hangup


@dataclass(frozen=True)
class CallbackProgress:
    """The dialplan's word on an answered callback: answered (entering the queue),
    connected (a seat answered) or unanswered (the queue returned without a seat)."""

    callback_id: int
    state: str
    member: str | None = None


CallbackEvent = AttemptEnded | CallbackProgress


def callback_event(message: AmiMessage) -> CallbackEvent | None:
    if message.event == "OriginateResponse":
        uid = message.get("Uniqueid") or ""
        if not uid.startswith("hotline-callback-") or message.get("Response") == "Success":
            return None
        return AttemptEnded(uid, REASONS.get(message.get("Reason") or "0", "failed"))
    if message.event == "UserEvent" and message.get("UserEvent") == USER_EVENT:
        try:
            callback_id = int(message.get("Id") or "")
        except ValueError:
            return None
        return CallbackProgress(callback_id, (message.get("State") or "").strip(),
                                (message.get("Member") or "").strip() or None)
    return None


def watch(gateway: AmiGateway, handler: Callable[[CallbackEvent], None]) -> Subscription:
    """Every callback's events, typed, to `handler` (a consumer of its own)."""

    def deliver(message: AmiMessage | EventGap) -> None:
        if isinstance(message, AmiMessage):
            event = callback_event(message)
            if event is not None:
                handler(event)

    return gateway.subscribe("callbacks", ("OriginateResponse", "UserEvent"), deliver)
