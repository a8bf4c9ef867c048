"""Real test calls: a Local channel dials 12366 in the running Asterisk and presses keys
when the IVR is ready for them.

The caller is `Local/s@caller/n`: its `;1` half runs the 12366 entry (the side hotline
sees as the caller), its `;2` half is the caller's own leg in `[caller]`. A key is sent
with `PlayDTMF ... Receive=true` on the `;1` half once an AGI command that reads keys has
started on it (AGIExecStart), never after a fixed sleep; the next key waits until
Asterisk has reported the previous one (DTMFEnd). `h` hangs the caller up at that point.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hotline.common.errors import BadKeys, BadNumber
from hotline.common.phone import is_phone_number
from hotline.features.calls.errors import TestCallError as TestCallError  # importable here
from hotline.features.calls.errors import TestCallNoLedgerRow
from hotline.ledger.store import COLUMNS, CallRow
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap, Subscription

KEYS = set("0123456789*#hs")
WATCHED = ("AsyncAGIStart", "AGIExecStart", "AGIExecEnd", "DTMFEnd", "QueueCallerJoin",
           "AgentConnect", "Hangup", "OriginateResponse", "UserEvent")


def parse_keys(text: str) -> list[str]:
    """`"1 2 #"` or `"12#"` -> ['1', '2', '#']; anything but 0-9 * # h s is an error."""
    keys = [c for c in text if not c.isspace()]
    bad = sorted({c for c in keys if c not in KEYS})
    if bad:
        raise BadKeys(f"--keys: {''.join(bad)!r} is not a key (use 0-9, *, #; h to "
                      "hang up, s to speak when a recording starts)")
    return keys


def check_number(number: str) -> str:
    if not is_phone_number(number):
        raise BadNumber(f"NUMBER {number!r} is not a phone number (3 to 20 digits)")
    return number


def reading_capacity(command: str) -> int:
    """How many keys an AGI command reads: 0 if it reads none."""
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


@dataclass
class TestCall:
    __test__ = False  # not a pytest test class

    number: str
    name: str | None
    keys: list[str]
    hangup_when_queued: bool = False
    extension: str = "12366"
    # Press each key as soon as Asterisk reported the previous one, without waiting for
    # the IVR to read keys: the caller who types ahead.
    rush: bool = False
    # Press no key until this is set (a test holds the caller in the menu meanwhile).
    gate: asyncio.Event | None = None
    # The sound file (as Asterisk names it, without extension) the caller says at the
    # key `s`: once a recording starts, the caller's leg plays it into the call.
    speak: str = "/usr/share/asterisk/sounds/en_US_f_Allison/tt-weasels"
    recording_started: bool = False
    linkedid: str = field(default_factory=lambda: f"hotline-call-{uuid.uuid4().hex[:12]}")
    ivr_channel: str | None = None
    pressed: list[str] = field(default_factory=list)
    queued: bool = False
    answered: bool = False


async def place_call(gateway: AmiGateway, call: TestCall, *, timeout: float = 120.0) -> None:
    """Place `call` and return once its IVR leg has hung up."""
    held: list[Subscription] = []
    try:
        await _place_call(gateway, call, timeout, held)
    finally:
        for subscription in held:  # the call's event watch ends with it
            subscription.unsubscribe()


async def _place_call(gateway: AmiGateway, call: TestCall, timeout: float,
                      held: list[Subscription]) -> None:
    events: asyncio.Queue[AmiMessage | None] = asyncio.Queue()

    def collect(message: AmiMessage | EventGap) -> None:
        if isinstance(message, AmiMessage) and message.get("Linkedid") == call.linkedid:
            events.put_nowait(message)

    held.append(gateway.subscribe(f"test-call-{call.linkedid}", WATCHED, collect))
    caller_id = f'"{call.name}" <{call.number}>' if call.name else call.number
    await gateway.send({
        "Action": "Originate", "Channel": "Local/s@caller/n", "Context": "ivr",
        "Exten": call.extension, "Priority": "1", "CallerID": caller_id, "Async": "true",
        "ChannelId": call.linkedid, "OtherChannelId": f"{call.linkedid}-caller",
        "Timeout": "30000",
    })
    keys = list(call.keys)
    capacity = 0
    awaiting_digit: str | None = None
    speaking = False
    gate = call.gate
    if gate is not None:
        # Wake the loop when the gate opens (None in the queue: no event, just look again).
        asyncio.get_running_loop().create_task(gate.wait()).add_done_callback(
            lambda _: events.put_nowait(None))
    async with asyncio.timeout(timeout):
        while True:
            message = await events.get()
            if message is None:
                message = AmiMessage("Event: GateOpened")
            event = message.event
            channel = message.get("Channel")
            if event == "OriginateResponse" and message.get("Response") != "Success":
                raise TestCallError(f"the test call could not be placed: reason "
                                    f"{message.get('Reason')}")
            if event == "AsyncAGIStart":
                call.ivr_channel = channel
            elif event == "AGIExecStart" and channel == call.ivr_channel:
                command = message.get("Command") or ""
                capacity = reading_capacity(command)
                if command.upper().startswith("RECORD FILE"):
                    call.recording_started = True
                    if keys and keys[0] == "s":
                        keys.pop(0)
                        await _speak(gateway, call)
                        speaking = True
            elif event == "UserEvent" and message.get("UserEvent") == "CallerSpoke":
                speaking = False
            elif event == "AGIExecEnd" and channel == call.ivr_channel:
                capacity = 0
            elif event == "DTMFEnd" and channel == call.ivr_channel:
                if message.get("Digit") == awaiting_digit:
                    awaiting_digit = None
            elif event == "QueueCallerJoin":
                call.queued = True
                if call.hangup_when_queued:
                    await _hang_up(gateway, call)
            elif event == "AgentConnect":
                call.answered = True
            elif event == "Hangup" and message.get("Uniqueid") == call.linkedid:
                return
            if call.rush and call.pressed and awaiting_digit is None:
                capacity = max(capacity, 1)
            if gate is not None and not gate.is_set():
                continue
            if speaking or (keys and keys[0] == "s"):
                continue  # say nothing until the recording has started and speech ended
            if capacity > 0 and awaiting_digit is None and keys and call.ivr_channel:
                key = keys.pop(0)
                if key == "h":
                    await _hang_up(gateway, call)
                    capacity = 0
                    continue
                await gateway.send({"Action": "PlayDTMF", "Channel": call.ivr_channel,
                                    "Digit": key, "Receive": "true"})
                call.pressed.append(key)
                awaiting_digit = key
                capacity -= 1


async def _hang_up(gateway: AmiGateway, call: TestCall) -> None:
    # The caller's own leg hangs up; Asterisk hangs up the IVR half with it.
    await gateway.send({"Action": "Hangup", "Channel": (call.ivr_channel or "")
                        .replace(";1", ";2"), "Cause": "16"})


async def _speak(gateway: AmiGateway, call: TestCall) -> None:
    caller_leg = (call.ivr_channel or "").replace(";1", ";2")
    await gateway.send({"Action": "Setvar", "Channel": caller_leg, "Variable": "SPEAK",
                        "Value": call.speak})
    await gateway.send({"Action": "Redirect", "Channel": caller_leg,
                        "Context": "caller-speak", "Exten": "s", "Priority": "1"})


def describe_unfinished(call: TestCall, timeout: float) -> str:
    """What became of a test call still going when `hotline call` stopped waiting: where
    it was, and that it goes on in Asterisk (the service records its end as usual)."""
    if call.ivr_channel is None:
        where = "Asterisk never started the IVR for it"
    elif call.answered:
        where = "a seat answered it and was still talking"
    elif call.recording_started:
        where = "it was leaving a voicemail (a recording can last minutes)"
    elif call.queued:
        where = "it was waiting in a queue for a seat"
    else:
        where = "it was still in the voice menu"
    pressed = "".join(call.pressed) or "-"
    return (f"call {call.linkedid} had not ended after {timeout:g} s: {where}; keys "
            f"pressed: {pressed}. It goes on without this command (`hotline ledger show "
            f"{call.linkedid}` once it ends); give --timeout SECONDS to wait longer")


def read_ledger_row(path: Path, linkedid: str) -> CallRow | None:
    """The call's ledger row, read straight from the SQLite file (read-only)."""
    if not path.exists():
        return None
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = con.execute(f"SELECT {', '.join(COLUMNS)} FROM calls WHERE linkedid = ?",
                          (linkedid,)).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    return CallRow(*row) if row is not None else None


async def wait_for_ledger_row(path: Path, linkedid: str, timeout: float = 10.0) -> CallRow:
    """Wait until the service has written the call's final row."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        row = await asyncio.to_thread(read_ledger_row, path, linkedid)
        if row is not None and row.ended_at is not None:
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise TestCallNoLedgerRow(f"call {linkedid} has no final ledger row in {path} after "
                                      f"{timeout:g} s: is the hotline service running on this "
                                      "Asterisk and this ledger?")
        await asyncio.sleep(0.05)
