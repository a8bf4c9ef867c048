"""The line uses the knowledge base: the kb_menu and kb actions as the dialplan compiler
reads them, the menu engine walks them, `hotline check` warns of them, and KbLine swaps
the snapshot of offered entries when the ledger's knowledge base changes."""

from __future__ import annotations

import json
import textwrap
from datetime import date, datetime
from pathlib import Path

import pytest

from hotline.core.ivr.dialplan import Dialplan, KbMenu, KbPlay, load_dialplan
from hotline.core.ivr.engine import (
    CallContext,
    Done,
    Finish,
    JoinQueue,
    Key,
    NoKey,
    NoteFeedback,
    PlayAnswer,
    PlayPrompts,
    PromptsDone,
    ReadKey,
    self_served,
    simulate,
    start,
    step,
)
from hotline.core.ivr.kbline import KbItem, KbSnapshot
from hotline.core.ivr.lint import dialplan_topics, kb_problems
from hotline.core.kb import Draft, Version
from hotline.features.ivr.errors import KbPromptTooLong
from hotline.features.kb.line import KbLine, build_spoken, seconds_of
from hotline.ledger.kb import Indexed, KnowledgeBase
from hotline.ledger.store import BEIJING, Ledger
from tests.cli import hotline

REPO = Path(__file__).resolve().parents[2]
AT = datetime(2026, 12, 2, 10, 0, tzinfo=BEIJING)
DAY = date(2026, 12, 2)

PLAN = """\
dialplan: "t"
prompts:
  hi: 你好
  kb_feedback: 解决了请按一，转人工请按二。
  thanks: 谢谢，再见。
  none: 暂无答复。
  gone: 该问题的答复已撤回。
menus:
  main:
    greeting: hi
    options:
      "3": [{set: {topic: invoice}}, {queue: center}]
      "4": {kb_menu: {topic: invoice, max: 2, thanks: thanks, empty: none}}
      "5": {kb: KB-00002}
      "6": {kb: {entry: kb-00009, missing: gone, solved: "9", seat: "0", queue: iit}}
      "0": {queue: center}
"""

INVOICE = [KbItem("KB-00001", 1, "invoice", "发票怎么查验", "登录查验平台查验。"),
           KbItem("KB-00002", 3, "invoice", "发票丢了怎么办", "凭记账联复印件入账。"),
           KbItem("KB-00003", 1, "invoice", "第三个问题", "第三个答复。"),
           KbItem("KB-00004", 2, "invoice", "合肥本地发票", "到合肥办税厅。", scope="hefei"),
           KbItem("KB-00005", 1, "invoice", "过期政策", "已过期。",
                  effective_until=date(2026, 6, 30))]
KB = KbSnapshot.of(INVOICE)


def compile_text(tmp_path: Path, text: str) -> tuple[Dialplan | None, list[str]]:
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    plan, problems = load_dialplan(path, "plan.yaml", queues={"center", "iit"})
    return plan, [str(p) for p in problems]


@pytest.fixture
def plan(tmp_path: Path) -> Dialplan:
    compiled, problems = compile_text(tmp_path, PLAN)
    assert compiled is not None, problems
    return compiled


def walk(plan: Dialplan, *events: object, city: str | None = None,
         ) -> tuple[object, list[object]]:
    session, command = start(plan, CallContext(kb=KB, day=DAY, city=city))
    commands = [command]
    for event in events:
        session, command = step(session, event)  # type: ignore[arg-type]
        commands.append(command)
    return session, commands


# -- the schema ----------------------------------------------------------------------------


def test_kb_actions_compile_with_their_defaults(plan: Dialplan) -> None:
    """kb_menu and kb compile to typed steps: the keys, queue and prompts as written, or
    solved 1, seat 2, queue center, prompt kb_feedback; an entry id typed in lower case
    is the entry's id."""
    menu_step = plan.menus["main"].options["4"][0]
    assert isinstance(menu_step, KbMenu)
    assert (menu_step.topic, menu_step.max, menu_step.empty) == ("invoice", 2, "none")
    fb = menu_step.feedback
    assert (fb.solved, fb.seat, fb.queue, fb.prompt, fb.thanks) == (
        "1", "2", "center", "kb_feedback", "thanks")
    play = plan.menus["main"].options["6"][0]
    assert isinstance(play, KbPlay)
    assert (play.entry_id, play.missing) == ("KB-00009", "gone")
    assert (play.feedback.solved, play.feedback.seat, play.feedback.queue) == ("9", "0", "iit")


@pytest.mark.parametrize(("option", "message"), [
    ('{kb_menu: {max: 3}}', "menus.main.options.\"1\".kb_menu: required key 'topic' is missing"),
    ('{kb_menu: {topic: invoice, max: 12}}', "kb_menu.max"),
    ('{kb_menu: {topic: invoice, solved: "1", seat: "1"}}',
     "seat and solved are both '1'"),
    ('{kb_menu: {topic: invoice, seat: "12"}}', "'12' is not one key"),
    ('{kb_menu: {topic: invoice, colour: red}}', "colour"),
    ('{kb: KB-12}', "'KB-12' is not an entry id"),
    ('{kb: {entry: KB-00001, queue: nowhere}}', "unknown queue 'nowhere'"),
    ('{kb: {entry: KB-00001, feedback: nope}}', "unknown prompt 'nope'"),
    ('[{kb: KB-00001}, {play: hi}]', "'kb' leaves the menu"),
])
def test_bad_kb_actions_are_errors_naming_file_line_and_path(
        tmp_path: Path, option: str, message: str) -> None:
    """A wrong kb_menu or kb step is an error naming the file, line and key path."""
    plan, problems = compile_text(tmp_path, f"""\
        dialplan: "t"
        prompts: {{hi: 你好, kb_feedback: 请按键。}}
        menus:
          main:
            greeting: hi
            options:
              "1": {option}
              "0": {{queue: center}}
        """)
    assert plan is None
    errors = [p for p in problems if "warning" not in p]
    assert any(p.startswith("plan.yaml:7: ") and message in p for p in errors), problems


def test_the_shipped_dialplan_lists_each_topic_on_keys_4_to_8() -> None:
    """12366's faq menu keeps keys 1-3 and lists the entries of the five topics on 4-8,
    each transferring to its topic's queue."""
    plan, problems = load_dialplan(REPO / "dialplans" / "12366.yaml")
    assert plan is not None, problems
    faq = plan.menus["faq"].options
    assert [type(faq[k][0]).__name__ for k in "123"] == ["Play"] * 3
    steps = [faq[k][0] for k in "45678"]
    assert all(isinstance(s, KbMenu) for s in steps)
    assert [(s.topic, s.feedback.queue) for s in steps if isinstance(s, KbMenu)] == [
        ("individual_income_tax", "iit"), ("social_insurance", "social_insurance"),
        ("invoice", "invoice"), ("property_and_land", "property"), ("other", "center")]
    assert {s.topic for s in steps if isinstance(s, KbMenu)} <= dialplan_topics([plan])


# -- the engine ----------------------------------------------------------------------------


def test_a_kb_menu_reads_the_offered_questions_and_their_keys(plan: Dialplan) -> None:
    """The generated menu reads, for keys 1..max, each offered entry's question then
    "press N": another city's local entry and an expired one are not offered."""
    _, commands = walk(plan, Key("4"))
    menu = commands[-1]
    assert menu == PlayPrompts(("kb:KB-00001-v1-question", "kb:press-1",
                                "kb:KB-00002-v3-question", "kb:press-2"))


def test_a_callers_city_hears_its_local_entries_first(plan: Dialplan) -> None:
    """A caller of Hefei hears Hefei's local entry first (max 2: then one of the
    province's)."""
    _, commands = walk(plan, Key("4"), city="hefei")
    assert commands[-1] == PlayPrompts(("kb:KB-00004-v2-question", "kb:press-1",
                                        "kb:KB-00001-v1-question", "kb:press-2"))


def test_solved_records_the_feedback_and_ends_the_call_in_self_service(
        plan: Dialplan) -> None:
    """Choosing an entry plays its answer, the feedback prompt follows, `1` records
    "solved" and the call ends with the thanks: served by self-service."""
    session, commands = walk(plan, Key("4"), Key("2"), PromptsDone(), PromptsDone(),
                             Key("1"), Done())
    assert commands[2] == PlayAnswer("KB-00002", 3, "kb:KB-00002-v3-spoken")
    assert commands[3] == PlayPrompts(("kb_feedback",))
    assert commands[4] == ReadKey(6.0)
    assert commands[5] == NoteFeedback("KB-00002", 3, "solved")
    assert commands[6] == Finish("thanks", "kb-solved")
    assert self_served(session)  # type: ignore[arg-type]
    assert session.answered == ("KB-00002",)  # type: ignore[attr-defined]


def test_seat_records_the_feedback_and_queues_the_call(plan: Dialplan) -> None:
    """A key pressed during the answer stops it: `2` records "seat" and the call joins
    the step's queue."""
    _, commands = walk(plan, Key("5"), Key("2"), Done())
    assert commands[1] == PlayAnswer("KB-00002", 3, "kb:KB-00002-v3-spoken")
    assert commands[2] == NoteFeedback("KB-00002", 3, "seat")
    assert isinstance(commands[3], JoinQueue)
    assert commands[3].queue == "center"


def test_no_feedback_returns_to_the_menu_after_asking_twice(plan: Dialplan) -> None:
    """No key after the answer: the feedback prompt once more, then back to the menu of
    the questions (the caller may choose another); nothing is recorded."""
    _, commands = walk(plan, Key("4"), Key("1"), PromptsDone(), PromptsDone(), NoKey(),
                       PromptsDone(), NoKey())
    assert commands[5] == PlayPrompts(("kb_feedback",))
    assert commands[-1] == PlayPrompts(("kb:KB-00001-v1-question", "kb:press-1",
                                        "kb:KB-00002-v3-question", "kb:press-2"))
    assert not any(isinstance(c, NoteFeedback) for c in commands)


def test_star_in_a_kb_menu_goes_back(plan: Dialplan) -> None:
    """`*` in the generated menu returns to the menu it was chosen from."""
    _, commands = walk(plan, Key("4"), Key("*"))
    assert commands[-1] == PlayPrompts(("hi",))


def test_an_entry_not_offered_plays_missing_and_returns(plan: Dialplan) -> None:
    """kb of an entry that is not published (withdrawn, never) plays its `missing`
    prompt and returns to the menu; a topic with no entry plays `empty`."""
    _, commands = walk(plan, Key("6"), PromptsDone())
    assert commands[1:] == [PlayPrompts(("gone",)), PlayPrompts(("hi",))]
    session, command = start(plan, CallContext(kb=KbSnapshot(), day=DAY))
    session, command = step(session, Key("4"))
    assert command == PlayPrompts(("none",))


def test_a_plain_menu_call_is_not_self_served(plan: Dialplan) -> None:
    """A call that only walked a plain menu to a queue is not counted as self-service."""
    session, _ = walk(plan, Key("3"))
    assert not self_served(session)  # type: ignore[arg-type]


def test_simulate_walks_a_kb_menu_with_the_texts(plan: Dialplan) -> None:
    """`simulate` shows the questions' and the answer's texts and ends where the caller
    does."""
    _, trace = simulate(plan, CallContext(kb=KB, day=DAY), ["4", "1", "1"])
    texts = [t for s in trace.steps for t in s.get("prompts", [])]  # type: ignore[attr-defined]
    assert "kb:KB-00001-v1-question: 发票怎么查验" in texts
    assert "kb:KB-00001-v1-spoken: 登录查验平台查验。" in texts
    assert trace.final["action"] == "hang up after thanks (kb-solved)"
    assert trace.final["kb_answers"] == ["KB-00001"]


# -- hotline check ---------------------------------------------------------------------------


def test_check_warns_of_empty_topics_and_entries_not_offered(plan: Dialplan) -> None:
    """Against the knowledge base, a kb_menu topic with no entry in force and a kb entry
    not published are warnings (entries come and go), with their line; a topic no
    dialplan sets is a warning too."""
    problems = [str(p) for p in kb_problems(plan, KbSnapshot(), DAY, {"invoice"})]
    assert problems == [
        "plan.yaml:13: menus.main: warning: kb_menu: topic 'invoice' has no published "
        "entry in force: callers hear the menu they came from",
        "plan.yaml:14: menus.main: warning: kb: entry KB-00002 is not published (or not "
        "in force): callers hear the menu instead",
        "plan.yaml:15: menus.main: warning: kb: entry KB-00009 is not published (or not "
        "in force): callers hear the menu instead"]
    assert [p.severity for p in kb_problems(plan, KB, DAY, {"invoice"})] == ["warning"]
    unknown = [str(p) for p in kb_problems(plan, None, DAY, {"vat"})]
    assert unknown == ["plan.yaml:13: menus.main: warning: kb_menu: topic 'invoice' is set "
                       "by no dialplan option (topics: vat)"]


# -- prompts and the live snapshot -------------------------------------------------------------


def version_of(entry_id: str, number: int, spoken: str, question: str = "问题") -> Version:
    return Version(entry_id, number, "published",
                   Draft(question=question, answer=spoken, spoken=spoken, topic="invoice"),
                   "li", "2026-12-02T10:00:00.000+08:00")


def test_build_spoken_measures_the_answer(tmp_path: Path) -> None:
    """The spoken answer and the question become 8 kHz WAV prompts; the returned file is
    the answer, its duration that of the text read."""
    path = build_spoken(version_of("KB-00001", 2, "您可以登录电子税务局开具电子发票。"),
                        tmp_path)
    assert path == tmp_path / "KB-00001-v2-spoken.wav"
    assert 1.0 < seconds_of(path) < 15.0
    assert (tmp_path / "KB-00001-v2-question.wav").is_file()


def test_an_answer_over_60_seconds_is_refused(tmp_path: Path) -> None:
    """A spoken answer that lasts over 60 s raises kb-prompt-too-long naming the entry and
    its length, and leaves no prompt behind."""
    long_text = "纳税人可以登录电子税务局办理相关业务并按规定如实申报缴纳税款。" * 12
    with pytest.raises(KbPromptTooLong) as caught:
        build_spoken(version_of("KB-00007", 1, long_text), tmp_path)
    assert caught.value.code == "kb-prompt-too-long"
    assert "KB-00007 第1版" in str(caught.value)
    assert caught.value.details["seconds"] > 60
    assert list(tmp_path.glob("KB-00007*")) == []


async def test_the_publication_hook_refuses_an_answer_too_long(tmp_path: Path) -> None:
    """KbLine.on_publish (the desk's hook) builds the prompts into the line's folder, and
    raises kb-prompt-too-long for an answer over 60 s."""
    from hotline.features.ivr.prompts import PromptStore

    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        line = KbLine(KnowledgeBase(ledger), PromptStore(tmp_path / "kb", "/sounds/kb"))
        await line.on_publish(version_of("KB-00003", 1, "请登录电子税务局办理。"))
        assert (tmp_path / "kb" / "KB-00003-v1-spoken.wav").is_file()
        with pytest.raises(KbPromptTooLong):
            await line.on_publish(version_of("KB-00004", 1, "请登录电子税务局办理相关业务。" * 30))
    finally:
        await ledger.close()


async def publish(kb: KnowledgeBase, draft: Draft, entry_id: str | None = None) -> str:
    if entry_id is None:
        entry_id = (await kb.add(draft, actor="li", at=AT)).id
        number = 1
    else:
        number = (await kb.edit(entry_id, draft, base=None, actor="li", at=AT)).version
    await kb.review(entry_id, number, actor="wang", at=AT)
    await kb.publish(entry_id, number, Indexed(draft.question, "", draft.answer),
                     actor="zhao", at=AT)
    return entry_id


async def test_kb_line_swaps_the_snapshot_when_the_ledger_changes(tmp_path: Path) -> None:
    """KbLine builds the prompts of what is published and swaps the snapshot whole:
    nothing changed, no rebuild; a published edit offers the new version; a withdrawn
    entry is no longer offered."""
    from hotline.features.ivr.prompts import PromptStore

    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        kb = KnowledgeBase(ledger)
        line = KbLine(kb, PromptStore(tmp_path / "kb", "/sounds/kb"))
        assert await line.refresh() is True  # the empty knowledge base
        assert line().by_id == {}
        draft = Draft(question="发票怎么查验", answer="登录查验平台。", spoken="登录查验平台。",
                      topic="invoice")
        entry = await publish(kb, draft)
        assert await line.refresh() is True
        assert [(i.entry_id, i.version) for i in line().offered("invoice", DAY, None)] == [
            (entry, 1)]
        assert (tmp_path / "kb" / f"{entry}-v1-spoken.wav").is_file()
        assert (tmp_path / "kb" / "press-1.wav").is_file()
        before = line()
        assert await line.refresh() is False
        assert line() is before
        await publish(kb, Draft(question="发票怎么查验", answer="新答复。", spoken="新的答复。",
                                topic="invoice"), entry)
        assert await line.refresh() is True
        assert line().entry(entry, DAY, None) == KbItem(entry, 2, "invoice", "发票怎么查验",
                                                        "新的答复。")
        await kb.withdraw(entry, reason="政策废止", actor="zhao", at=AT)
        assert await line.refresh() is True
        assert line().entry(entry, DAY, None) is None
    finally:
        await ledger.close()


async def test_a_failed_rebuild_keeps_the_old_snapshot(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       ) -> None:
    """When the prompts cannot be made (the TTS fails), the rebuild raises and the line
    keeps offering the snapshot it had."""
    from hotline.features.ivr import prompts as prompts_module
    from hotline.features.ivr.prompts import PromptError, PromptStore

    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        kb = KnowledgeBase(ledger)
        line = KbLine(kb, PromptStore(tmp_path / "kb", "/sounds/kb"))
        await publish(kb, Draft(question="问一", answer="答一。", spoken="答一。",
                                topic="invoice"))
        await line.refresh()
        good = line()

        def broken(text: str, target: Path, voice: str = "cmn") -> None:
            raise PromptError("espeak-ng failed: no voice")

        monkeypatch.setattr(prompts_module, "synthesise", broken)
        await publish(kb, Draft(question="问二", answer="答二。", spoken="答二。",
                                topic="invoice"))
        with pytest.raises(PromptError):
            await line.refresh()
        assert line() is good
        assert len(line().by_id) == 1
    finally:
        await ledger.close()


def test_simulate_reads_the_ledgers_entries_and_a_city(tmp_path: Path) -> None:
    """`hotline simulate --city` walks the shipped faq menu into the invoice entries of
    the ledger, the city's local one first; an unknown city is an error naming it."""
    import asyncio

    async def fill() -> None:
        ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
        try:
            kb = KnowledgeBase(ledger)
            await publish(kb, Draft(question="发票怎么查验", answer="平台查验。",
                                    spoken="登录查验平台查验。", topic="invoice"))
            await publish(kb, Draft(question="合肥发票领用", answer="到合肥办税厅。",
                                    spoken="到合肥办税厅领用。", topic="invoice",
                                    scope="hefei"))
        finally:
            await ledger.close()

    asyncio.run(fill())
    env = {"HOTLINE_LEDGER_PATH": str(tmp_path / "ledger.sqlite3")}
    result = hotline("simulate", "--json", "--at", "2026-11-25T10:00:00+08:00",
                     "--city", "hefei", "--keys", "5 2 6 1 1", env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["city"] == "hefei"
    assert out["final"]["kb_answers"] == ["KB-00002"]
    assert out["final"]["path"][-1] == "kb:invoice"
    bad = hotline("simulate", "--city", "hangzhou", "--keys", "5", env=env)
    assert bad.returncode != 0
    assert "--city: 'hangzhou' is not a city bureau (bureaus: hefei, wuhu" in bad.stderr
