"""Real test calls: a Local channel dials 12366 in the running Asterisk and presses keys
when the IVR is ready for them.

The test caller of hotline's dialplan (hotline.pbx.testline) places the call; the side
hotline sees as the caller is its IVR half. A key is pressed once an AGI command that
reads keys has started on it, never after a fixed sleep; the next key waits until
Asterisk has reported the previous one received. `h` hangs the caller up at
that point. The call's row is read through the ledger (hotline.ledger.store).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hotline.common.errors import BadKeys, BadNumber
from hotline.common.phone import is_phone_number
from hotline.core.calls.tracking import ChannelHungUp, IvrEntered, QueueJoined, SeatConnected
from hotline.features.calls.errors import TestCallError as TestCallError  # importable here
from hotline.features.calls.errors import TestCallNoLedgerRow
from hotline.ledger.store import CallRow, Ledger
from hotline.pbx import testline
from hotline.pbx.events import AgiCommandEnded, AgiCommandStarted, CallEvent, KeyReceived
from hotline.pbx.gateway import AmiGateway, Subscription
from hotline.pbx.testline import CallerSpoke, CallNotPlaced, TestCallEvent

KEYS = set("0123456789*#hs")


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
    speak: str = testline.DEFAULT_SPEECH
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
    events: asyncio.Queue[TestCallEvent | None] = asyncio.Queue()
    held.append(testline.watch(gateway, call.linkedid, events.put_nowait))
    await testline.dial(gateway, call.extension, call.number, call.name, call.linkedid)
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
            item = await events.get()
            fact = item.fact if isinstance(item, CallEvent) else None
            if (call.ivr_channel is None and isinstance(item, AgiCommandStarted)
                    and item.linkedid == call.linkedid):
                # Over FastAGI no event says "entered the IVR": its first AGI command does
                # (only the line's entry runs AGI in the call).
                call.ivr_channel = item.channel
            on_ivr = (isinstance(item, AgiCommandStarted | AgiCommandEnded | KeyReceived)
                      and item.channel == call.ivr_channel)
            if isinstance(item, CallNotPlaced):
                raise TestCallError(f"the test call could not be placed: reason "
                                    f"{item.reason}")
            if isinstance(fact, IvrEntered):
                call.ivr_channel = fact.channel
            elif isinstance(item, AgiCommandStarted) and on_ivr:
                capacity = item.keys_wanted
                if item.records:
                    call.recording_started = True
                    if keys and keys[0] == "s":
                        keys.pop(0)
                        await testline.speak(gateway, call.ivr_channel or "", call.speak)
                        speaking = True
            elif isinstance(item, CallerSpoke):
                speaking = False
            elif isinstance(item, AgiCommandEnded) and on_ivr:
                capacity = 0
            elif isinstance(item, KeyReceived) and on_ivr:
                if item.digit == awaiting_digit:
                    awaiting_digit = None
            elif isinstance(fact, QueueJoined):
                call.queued = True
                if call.hangup_when_queued:
                    await testline.hang_up(gateway, call.ivr_channel or "")
            elif isinstance(fact, SeatConnected):
                call.answered = True
            elif isinstance(fact, ChannelHungUp) and fact.uniqueid == call.linkedid:
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
                    await testline.hang_up(gateway, call.ivr_channel or "")
                    capacity = 0
                    continue
                await testline.press(gateway, call.ivr_channel, key)
                call.pressed.append(key)
                awaiting_digit = key
                capacity -= 1


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


async def read_ledger_row(path: Path, linkedid: str) -> CallRow | None:
    """The call's ledger row as the ledger has it now (None while there is no ledger)."""
    if not await asyncio.to_thread(path.exists):
        return None
    async with await Ledger.open(path) as ledger:
        return await ledger.get(linkedid)


async def wait_for_ledger_row(path: Path, linkedid: str, timeout: float = 10.0) -> CallRow:
    """Wait until the service has written the call's final row."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    ledger: Ledger | None = None
    try:
        while True:
            if ledger is None and await asyncio.to_thread(path.exists):
                ledger = await Ledger.open(path)
            row = await ledger.get(linkedid) if ledger is not None else None
            if row is not None and row.ended_at is not None:
                return row
            if loop.time() > deadline:
                raise TestCallNoLedgerRow(
                    f"call {linkedid} has no final ledger row in {path} after {timeout:g} "
                    "s: is the hotline service running on this Asterisk and this ledger?")
            await asyncio.sleep(0.05)
    finally:
        if ledger is not None:
            await ledger.close()
