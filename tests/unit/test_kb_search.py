"""The knowledge base's search in the ledger (hotline.ledger.kb KnowledgeBase.search): the
words found in most entries are left out of an OR query, and a city's local entries are
weighed up, not put above a much better province answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from hotline.core.kb import Draft
from hotline.ledger.kb import Indexed, KnowledgeBase
from hotline.ledger.store import BEIJING, Ledger

AT = datetime(2026, 12, 3, 10, 0, tzinfo=BEIJING)
DRAFT = Draft(question="问题", answer="答案", spoken="答案", topic="invoice")


async def _published(kb: KnowledgeBase, rows: list[tuple[str, Indexed]]) -> list[str]:
    ids = await kb.add_many([replace(DRAFT, scope=scope) for scope, _ in rows], actor="li",
                            at=AT, source="test")
    for entry_id, (_, words) in zip(ids, rows, strict=True):
        await kb.review(entry_id, 1, actor="wang", at=AT)
        await kb.publish(entry_id, 1, words, actor="zhao", at=AT)
    return ids


async def test_a_word_in_most_entries_is_left_out(tmp_path: Path) -> None:
    """办理 is in 5 of 6 entries: a search for 办理 OR 红冲 finds the entry with 红冲 and
    not the five that only say 办理; a search of 办理 alone still finds all of them; a
    query that is not an OR of quoted words is searched as it is."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        kb = KnowledgeBase(ledger)
        ids = await _published(kb, [("province", Indexed("办理 发票", "", "办理"))] * 5
                               + [("province", Indexed("红冲 发票", "", "作废"))])
        assert [h.entry_id for h in await kb.search('"办理" OR "红冲"')] == [ids[5]]
        assert len(await kb.search('"办理"')) == 5
        assert len(await kb.search("办理 OR 红冲")) == 6
        assert len(await kb.search('"办理" OR "没有的词"')) == 5
    finally:
        await ledger.close()


async def test_local_entries_are_weighed_up_not_put_first(tmp_path: Path) -> None:
    """At equal footing hefei's entry comes first for a hefei caller and the province's
    for the centre; a province entry much better than hefei's stays first for hefei too;
    wuhu's entry comes last for hefei."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        kb = KnowledgeBase(ledger)
        same = Indexed("发票 开具", "", "")
        province, hefei, wuhu = await _published(
            kb, [("province", same), ("hefei", same), ("wuhu", same)])
        assert [h.entry_id for h in await kb.search('"发票" OR "开具"', city="hefei")] == [
            hefei, province, wuhu]
        assert [h.entry_id for h in await kb.search('"发票" OR "开具"')][:1] == [province]
        better, weak = await _published(
            kb, [("province", Indexed("红冲 发票", "红字 发票", "")),
                 ("hefei", Indexed("合肥 办税", "", "红冲 发票 办税 服务厅 地址"))])
        hits = await kb.search('"红冲"', city="hefei")
        assert [h.entry_id for h in hits] == [better, weak]
    finally:
        await ledger.close()


async def test_an_entry_holding_all_the_words_beats_one_rare_word(tmp_path: Path) -> None:
    """For 在职 OR 研究生 OR 扣除, plain bm25 puts first a short entry that holds only the
    rarest word (研究生, three times); weighed by coverage, the long question holding all
    three words comes first, and the same entries are found."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        kb = KnowledgeBase(ledger)
        common = [("province", Indexed(f"在职 扣除 职工 {n} 工资 薪金 申报 标准 说明", "", ""))
                  for n in ("一", "二", "三", "四")]
        whole = ("在职 研究生 继续 教育 专项 附加 扣除 享受 条件 有 哪些 规定 需要 什么 资料 "
                 "怎么 办理 个人 所得税 年度 汇算 时候 填报")
        rows = [*common, ("province", Indexed("研究生", "研究生 研究生", "")),
                ("province", Indexed(whole, "", ""))]
        ids = await _published(kb, rows + [("province", Indexed("其他 问题", "", ""))] * 5)
        query = '"在职" OR "研究生" OR "扣除"'
        plain = [h.entry_id for h in await kb.search(query, coverage=0.0)]
        weighed = [h.entry_id for h in await kb.search(query)]
        assert plain[:2] == [ids[4], ids[5]]
        assert weighed[:2] == [ids[5], ids[4]]
        assert set(weighed) == set(plain)
    finally:
        await ledger.close()
