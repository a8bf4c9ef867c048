"""The knowledge base's rules (hotline.core.kb) and its store in the ledger
(hotline.ledger.kb): versions are never lost, the status moves only as the rules allow,
and the index holds exactly the live versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from hotline.core.accounts import Person
from hotline.core.kb import (
    Draft,
    Entry,
    KbRuleError,
    Version,
    checked,
    edit_problem,
    entry_id,
    expiring,
    offered,
    publish_problem,
    review_problem,
)
from hotline.ledger.errors import KbChanged, KbEntryUnknown
from hotline.ledger.kb import Indexed, KnowledgeBase
from hotline.ledger.store import BEIJING, Ledger

TOPICS = {"invoice", "individual_income_tax"}
SCOPES = {"hefei", "wuhu"}
AT = datetime(2026, 12, 2, 10, 0, tzinfo=BEIJING)
DRAFT = Draft(question="电子发票怎么开具？", answer="登录电子税务局，进入“开票业务”。",
              spoken="您可以登录电子税务局开具电子发票。", topic="invoice",
              phrasings=("怎么开电子发票", "数电票如何开"))
SEAT = Person("li", frozenset({"seat"}), seat="8001", bureau="centre")
EXPERT = Person("wang", frozenset({"expert"}), seat="8002", bureau="centre")
LEADER = Person("zhao", frozenset({"leader"}), bureau="centre")
HEFEI_SEAT = Person("he", frozenset({"seat"}), seat="8201", bureau="hefei", remote=True)


def test_a_draft_is_checked_and_tidied() -> None:
    """Every problem of a draft is named at once; a good one comes back tidied (its
    question is not repeated among the phrasings, trailing spaces go)."""
    with pytest.raises(KbRuleError) as caught:
        checked(Draft(question="", answer="", spoken="长" * 300, topic="nope",
                      scope="hangzhou", effective_from=date(2027, 1, 1),
                      effective_until=date(2026, 1, 1)), topics=TOPICS, scopes=SCOPES)
    text = str(caught.value)
    for part in ("question: empty", "answer: empty", "spoken: 300 characters",
                 "topic: 'nope'", "scope: 'hangzhou'", "is before effective_from"):
        assert part in text
    tidy = checked(Draft(question="个税怎么算？  ", answer="按年计算。", spoken="按年计算。",
                         topic="individual_income_tax",
                         phrasings=("个税怎么算？", "个人所得税如何计算")),
                   topics=TOPICS, scopes=SCOPES)
    assert tidy.question == "个税怎么算？"
    assert tidy.phrasings == ("个人所得税如何计算",)
    assert entry_id(" kb-00012 ") == "KB-00012"
    with pytest.raises(KbRuleError, match="not an entry id"):
        entry_id("12")


def test_who_may_do_what() -> None:
    """Seats draft, experts review (not their own), leaders publish; a city bureau's
    seat drafts only its own city's entries."""
    assert edit_problem(HEFEI_SEAT, _entry("wuhu"), replace(DRAFT, scope="wuhu")) is not None
    assert edit_problem(HEFEI_SEAT, _entry("hefei"), replace(DRAFT, scope="hefei")) is None
    version = _entry(written_by="wang").latest
    assert review_problem(EXPERT, version) is not None  # wang wrote it
    assert review_problem(SEAT, version) is not None
    assert review_problem(Person("qian", frozenset({"expert"})), version) is None
    assert publish_problem(LEADER, version) is not None  # not reviewed yet


def _entry(scope: str = "province", written_by: str = "li") -> Entry:
    draft = replace(DRAFT, scope=scope)
    return Entry("KB-00001", (Version("KB-00001", 1, "draft", draft, written_by, "t"),))


async def test_versions_are_kept_and_the_index_holds_the_live_one(tmp_path: Path) -> None:
    """add -> review -> publish -> edit -> publish: both texts stay readable with who
    and when, the old live version is superseded, the index finds the new text only, an
    edit from an old version is refused, and a withdrawn entry leaves the index."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        kb = KnowledgeBase(ledger)
        entry = await kb.add(DRAFT, actor="li", at=AT)
        assert (entry.id, entry.latest.status) == ("KB-00001", "draft")
        await kb.review(entry.id, 1, actor="wang", at=AT)
        with pytest.raises(KbChanged):
            await kb.review(entry.id, 1, actor="wang", at=AT)
        await kb.publish(entry.id, 1, Indexed("电子 发票 开具", "数电票", "电子 税务局"),
                         actor="zhao", at=AT)
        assert [h.entry_id for h in await kb.search("发票")] == ["KB-00001"]
        new = replace(DRAFT, answer="登录电子税务局，进入“蓝字发票开具”。", note="新界面")
        v2 = await kb.edit(entry.id, new, base=1, actor="li", at=AT)
        assert (v2.version, v2.status) == (2, "draft")
        with pytest.raises(KbChanged, match="version 2 now"):
            await kb.edit(entry.id, new, base=1, actor="li", at=AT)
        # The live version stays offered while version 2 waits.
        assert (await kb.get(entry.id)).live == 1
        await kb.review(entry.id, 2, actor="wang", at=AT)
        await kb.publish(entry.id, 2, Indexed("电子 发票", "", "蓝字 发票"), actor="zhao",
                         at=AT)
        got = await kb.get(entry.id)
        assert got.live == 2
        assert [v.status for v in got.versions] == ["superseded", "published"]
        assert got.version(1).draft.answer == DRAFT.answer
        assert got.version(1).published_by == "zhao"
        assert [h.entry_id for h in await kb.search("蓝字")] == ["KB-00001"]
        assert await kb.search("电子 AND 税务局") == []
        assert offered(got, date(2026, 12, 2)) is not None
        assert offered(got, date(2026, 12, 2)) == got.version(2)
        await kb.withdraw(entry.id, reason="政策废止", actor="zhao", at=AT)
        assert await kb.search("发票") == []
        assert offered(await kb.get(entry.id), date(2026, 12, 2)) is None
        with pytest.raises(KbEntryUnknown):
            await kb.get("KB-00099")
        async with ledger.db.execute("SELECT actor, action FROM audit WHERE target = ? "
                                     "ORDER BY id", (f"kb:{entry.id}",)) as cur:
            trail = [tuple(r) for r in await cur.fetchall()]
        assert trail == [("li", "kb.add"), ("wang", "kb.review"), ("zhao", "kb.publish"),
                         ("li", "kb.edit"), ("wang", "kb.review"), ("zhao", "kb.publish"),
                         ("zhao", "kb.withdraw")]
    finally:
        await ledger.close()


async def test_local_entries_come_first_and_expiry_is_listed(tmp_path: Path) -> None:
    """A hefei caller's search puts hefei's local entry before the province's and
    another city's last; an entry out of force is not offered, and shows among those
    expiring."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        kb = KnowledgeBase(ledger)
        ids = await kb.add_many(
            [replace(DRAFT, scope=s, effective_until=until)
             for s, until in (("province", None), ("hefei", date(2027, 2, 1)),
                              ("wuhu", None))], actor="li", at=AT, source="test")
        for i in ids:
            await kb.review(i, 1, actor="wang", at=AT)
            await kb.publish(i, 1, Indexed("发票", "", ""), actor="zhao", at=AT)
        hits = await kb.search("发票", city="hefei")
        assert [h.scope for h in hits] == ["hefei", "province", "wuhu"]
        hefei = await kb.get(ids[1])
        assert offered(hefei, date(2027, 2, 2), city="hefei") is None
        assert offered(hefei, date(2027, 2, 1), city="hefei") is not None
        assert offered(hefei, date(2027, 2, 1), city="wuhu") is None
        soon = expiring(await kb.live(), date(2027, 1, 1), date(2027, 3, 31))
        assert [v.entry_id for v in soon] == [ids[1]]
    finally:
        await ledger.close()
