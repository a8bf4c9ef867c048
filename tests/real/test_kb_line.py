"""The line answers from the knowledge base, on real calls through the real Asterisk and
the shipped 12366 menu: an entry published in the ledger (its prompt built as at
publication) is listed in the generated menu, its spoken answer is played whole, the
caller's "solved" is recorded and the call counts as diverted (self-service); a
published edit reaches the next call without a restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.app.wiring import ledger_path
from hotline.core.kb import Draft, Version
from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.features.kb.line import build_spoken, seconds_of
from hotline.features.kb.words import indexed
from hotline.ledger.store import CallRow
from hotline.pbx import testline
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap

pytestmark = pytest.mark.asterisk


async def publish(service: Service, draft: Draft, entry_id: str | None = None,
                  ) -> tuple[Version, Path]:
    """Publish `draft` (a new entry, or a new version of `entry_id`) through the ledger's
    store, its spoken prompt built first as the desk's publication does; wait until the
    running line offers it."""
    kb = service.kb_line.store
    from hotline.common.clock import utc_now

    now = utc_now()
    if entry_id is None:
        entry_id = (await kb.add(draft, actor="li", at=now)).id
        number = 1
    else:
        number = (await kb.edit(entry_id, draft, base=None, actor="li", at=now)).version
    await kb.review(entry_id, number, actor="wang", at=now)
    version = (await kb.get(entry_id)).version(number)
    spoken = await asyncio.to_thread(build_spoken, version, service.kb_line.prompts.host_dir)
    await kb.publish(entry_id, number, indexed(draft), actor="zhao", at=now)
    async with asyncio.timeout(10):  # the line polls every second
        while True:
            item = service.kb_line().entry(entry_id, None, None)
            if item is not None and item.version == number:
                return version, spoken
            await asyncio.sleep(0.1)


@dataclass
class Caller:
    """Presses a key when a prompt whose file name holds a marker starts (the next one
    of `script`), and times the knowledge-base answer as Asterisk played it."""

    linkedid: str
    script: list[tuple[str, str]]
    gateway: AmiGateway
    answer_file: str | None = None
    answer_started: float | None = None
    answer_seconds: float | None = None
    commands: list[str] = field(default_factory=list)

    async def on_message(self, message: AmiMessage | EventGap) -> None:
        if not isinstance(message, AmiMessage) or message.get("Linkedid") != self.linkedid:
            return
        if message.event == "AGIExecStart":
            command = message.get("Command") or ""
            self.commands.append(command)
            if "-spoken" in command:
                self.answer_file = command.split()[2].strip('"').rsplit("/", 1)[-1]
                self.answer_started = time.monotonic()
            if self.script and self.script[0][0] in command:
                _, key = self.script.pop(0)
                await testline.press(self.gateway, message.get("Channel") or "", key)
        elif (message.event == "AGIExecEnd" and self.answer_started is not None
              and self.answer_seconds is None):
            self.answer_seconds = time.monotonic() - self.answer_started


async def kb_call(service: Service, caller: AmiGateway, key: str, feedback: str = "1",
                  ) -> tuple[CallRow, Caller]:
    """A call to 12366 that walks 5 (self-service), 2 (FAQ), 6 (invoice entries), `key`
    (the entry), hears the answer whole, then presses `feedback` (1 solved, 2 a seat)."""
    linkedid = f"hotline-call-{uuid.uuid4().hex[:12]}"
    script = [("/welcome", "5"), ("/self_menu", "2"), ("/faq_menu", "6"), ("/kb_intro", key),
              ("/kb_feedback", feedback)]
    watcher = Caller(linkedid, script, caller)
    subscription = caller.subscribe(f"kb-caller-{linkedid}", ("AGIExecStart", "AGIExecEnd"),
                                    watcher.on_message)
    try:
        call = TestCall("13955112345", "知识库测试", [], linkedid=linkedid)
        await place_call(caller, call, timeout=90)
    finally:
        subscription.unsubscribe()
    row = await wait_for_ledger_row(ledger_path(service.settings), linkedid)
    assert watcher.script == [], f"keys not pressed: {watcher.script}; {watcher.commands}"
    return row, watcher


def key_of(service: Service, entry_id: str) -> str:
    items = service.kb_line().offered("invoice", None, None)
    return str([i.entry_id for i in items].index(entry_id) + 1)


async def test_a_published_entry_is_answered_and_solved_then_an_edit_reaches_the_next_call(
        hotline_service: Service, caller: AmiGateway) -> None:
    """A real call walks the generated invoice menu, hears the published entry's answer
    for as long as its built prompt lasts, presses 1: the ledger records the answer with
    "solved" and the call as self-service (diverted, no queue). A published edit is what
    the next call hears (version 2, its own prompt), with no restart."""
    version, spoken = await publish(hotline_service, Draft(
        question="发票丢失了怎么办", answer="丢失发票可凭记账联复印件入账。",
        spoken="丢失增值税发票的，可以凭发票记账联复印件入账。", topic="invoice"))
    entry = version.entry_id
    row, heard = await kb_call(hotline_service, caller, key_of(hotline_service, entry))
    assert heard.answer_file == f"{entry}-v1-spoken"
    assert heard.answer_seconds is not None
    assert abs(heard.answer_seconds - seconds_of(spoken)) < 0.8, heard.answer_seconds
    assert (row.outcome, row.queue, row.seat) == ("self_service", None, None)
    assert row.self_service
    assert row.ivr_path == "main>self_service>faq>kb:invoice"
    assert row.digits == f"526{key_of(hotline_service, entry)}1"
    answers = await hotline_service.kb_line.store.answers_of(row.linkedid)
    assert [(a["entry_id"], a["version"], a["feedback"]) for a in answers] == [
        (entry, 1, "solved")]

    edited, spoken2 = await publish(hotline_service, Draft(
        question="发票丢失了怎么办", answer="新规定：可凭电子底账入账。",
        spoken="根据新规定，丢失发票可以凭电子底账信息入账，无需登报声明，也不必再到办税服务厅办理任何手续。",
        topic="invoice"), entry)
    assert edited.version == 2
    assert abs(seconds_of(spoken2) - seconds_of(spoken)) > 1.0  # the two are told apart
    row2, heard2 = await kb_call(hotline_service, caller, key_of(hotline_service, entry))
    assert heard2.answer_file == f"{entry}-v2-spoken"
    assert heard2.answer_seconds is not None
    assert abs(heard2.answer_seconds - seconds_of(spoken2)) < 0.8, heard2.answer_seconds
    assert row2.outcome == "self_service"
    answers2 = await hotline_service.kb_line.store.answers_of(row2.linkedid)
    assert [(a["version"], a["feedback"]) for a in answers2] == [(2, "solved")]


async def test_asking_for_a_seat_after_an_answer_is_recorded_and_not_diverted(
        hotline_service: Service, caller: AmiGateway) -> None:
    """After an answer, 2 records "seat" and the call goes to the invoice queue, where a
    seat answers: it walked self-service but is answered, not diverted."""
    version, _ = await publish(hotline_service, Draft(
        question="发票怎么查验真伪", answer="登录全国增值税发票查验平台。",
        spoken="您可以登录全国增值税发票查验平台查验发票。", topic="invoice"))
    await caller.set_global("SEAT_TALK_8001", "0.5")
    try:
        row, heard = await kb_call(hotline_service, caller,
                                   key_of(hotline_service, version.entry_id), feedback="2")
    finally:
        await caller.set_global("SEAT_TALK_8001", "")
    assert heard.answer_file == f"{version.entry_id}-v1-spoken"
    assert (row.outcome, row.queue) == ("answered", "invoice")
    assert row.self_service  # it walked the self-service menus: the flag stays
    answers = await hotline_service.kb_line.store.answers_of(row.linkedid)
    assert [(a["entry_id"], a["feedback"]) for a in answers] == [(version.entry_id, "seat")]
