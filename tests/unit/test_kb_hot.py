"""Hot topics (集中咨询的热点难点问题): the seats' 台帐 questions and the self-service
choices of a period, grouped by the entry that answers them (a relative bm25 threshold),
the others by their normalised text, most asked first, and which have no entry yet."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome
from hotline.core.kb import Draft
from hotline.features.kb.hot import fill_report, hot_topics, normalised, register
from hotline.features.kb.words import indexed
from hotline.features.reports.render import to_csv
from hotline.ledger.kb import KnowledgeBase
from hotline.ledger.report import quarter_bounds, quarterly
from hotline.ledger.store import Ledger, iso

Q4 = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, tzinfo=UTC)
ENTRIES = (("个人所得税年度汇算怎么办理", ("个税汇算在哪里办",)),
           ("电子发票如何开具", ("怎么开电子发票",)),
           ("城乡居民社保费怎么缴纳", ()))
# What the seats wrote in the 台帐, and how often
TEXTS = (["请问个人所得税汇算在哪里办理？"] * 3 + ["个人所得税年度汇算怎么办理"] * 2
         + ["电子发票怎么开"] + ["车船税在哪里交？", "请问，车船税在哪里交", "车船税 在哪里交"]
         + ["契税减免政策"])


async def seeded(path: Path) -> dict[str, str]:
    """A ledger with the three entries published, the 台帐 texts of 2026Q4 (and one of
    2027Q1), four self-service answers of the social-insurance entry; question -> id."""
    ledger = await Ledger.open(path)
    kb = KnowledgeBase(ledger)
    ids = {}
    for question, phrasings in ENTRIES:
        d = Draft(question=question, answer=f"{question}：请登录电子税务局办理。",
                  spoken="请登录电子税务局办理。", topic="other", phrasings=phrasings)
        entry = await kb.add(d, actor="li", at=NOW)
        await kb.review(entry.id, 1, actor="wang", at=NOW)
        await kb.publish(entry.id, 1, indexed(d), actor="zhao", at=NOW)
        ids[question] = entry.id
    texts = [*((Q4 + timedelta(minutes=i), t) for i, t in enumerate(TEXTS)),
             (datetime(2027, 1, 5, tzinfo=UTC), "车船税在哪里交")]  # next quarter
    calls = [Call(f"L{i}", "c", f"L{i}", "13955112345", None, CallState.ENDED, at,
                  ended_at=at + timedelta(minutes=1), end_reason=EndReason.HANGUP,
                  outcome=Outcome.ANSWERED, queue="center", answered_at=at,
                  seat="8001") for i, (at, _) in enumerate(texts)]
    calls.append(Call("U1", "c", "U1", "1", None, CallState.ENDED, Q4, ended_at=Q4,
                      self_service=True, outcome=Outcome.SELF_SERVICE))
    await ledger.upsert_calls(calls, NOW)
    async with ledger.transaction() as db:
        for i, (at, text) in enumerate(texts):
            await db.execute("INSERT INTO call_entries (linkedid, seat, question, saved_by, "
                             "saved_at) VALUES (?, '8001', ?, 'li', ?)",
                             (f"L{i}", text, iso(at)))
        # a draft never saved, and a saved entry with no question: neither is counted
        await db.execute("INSERT INTO call_entries (linkedid, seat, question, draft) VALUES "
                         "('U1', '8001', '车船税在哪里交', '{}')")
    for i in range(4):
        await kb.answered("U1", ids["城乡居民社保费怎么缴纳"], 1, Q4 + timedelta(seconds=i))
    await ledger.close()
    return ids


def test_normalised_text() -> None:
    """Width, punctuation, spaces and a leading 请问/您好 do not make two questions
    different."""
    assert normalised("请问，车船税在哪里交？") == normalised("车船税 在哪里交") == "车船税在哪里交"
    assert normalised("您好，请问ＡＢＣ发票？") == "abc发票"
    assert normalised("请问") == "请问"  # nothing but courtesy is kept as it is


async def test_questions_are_grouped_by_entry_and_by_text(tmp_path: Path) -> None:
    """台帐 questions that the search finds an entry for count for the entry, with the
    self-service answers of it; the rest are grouped by normalised text and marked as
    having no entry; most asked first; another quarter's texts are not counted."""
    ids = await seeded(tmp_path / "ledger.sqlite3")
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    found = await hot_topics(ledger, *quarter_bounds("2026Q4"))
    await ledger.close()
    assert (found.texts, found.choices) == (10, 4)
    got = [(t.entry_id, t.question, t.seat_entries, t.self_service) for t in found.topics]
    assert got == [
        (ids["个人所得税年度汇算怎么办理"], "个人所得税年度汇算怎么办理", 5, 0),
        (ids["城乡居民社保费怎么缴纳"], "城乡居民社保费怎么缴纳", 0, 4),
        (None, "车船税在哪里交？", 3, 0),
        (None, "契税减免政策", 1, 0),  # a tie: the one without an entry first
        (ids["电子发票如何开具"], "电子发票如何开具", 1, 0)]
    assert [t.question for t in found.without_entry()] == ["车船税在哪里交？", "契税减免政策"]
    assert found.topics[0].examples == ["请问个人所得税汇算在哪里办理？",
                                        "个人所得税年度汇算怎么办理"]


async def test_a_weak_match_is_not_an_entry(tmp_path: Path) -> None:
    """车船税在哪里交 shares only a common word with the 社保费 entry (交, which the search's
    synonyms make 缴纳): under the relative threshold it has no entry; with the threshold
    near zero it would be counted for that entry."""
    ids = await seeded(tmp_path / "ledger.sqlite3")
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    strict = await hot_topics(ledger, *quarter_bounds("2026Q4"))
    loose = await hot_topics(ledger, *quarter_bounds("2026Q4"), share=0.01)
    await ledger.close()
    assert "车船税在哪里交？" in [t.question for t in strict.without_entry()]
    assert "车船税在哪里交？" not in [t.question for t in loose.topics]
    social = next(t for t in loose.topics if t.entry_id == ids["城乡居民社保费怎么缴纳"])
    assert social.seat_entries == 3


async def test_the_quarterly_report_has_the_hot_topics(tmp_path: Path) -> None:
    """The quarterly report's section 集中咨询的热点难点问题 lists the topics with their
    counts and 无（待补充条目） for a question no entry answers."""
    await seeded(tmp_path / "ledger.sqlite3")
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    report = await fill_report(ledger, await quarterly(ledger, "2026Q4", NOW))
    await ledger.close()
    text = to_csv(report)
    section = text.split("\n集中咨询的热点难点问题")[1]
    assert "个人所得税年度汇算怎么办理,KB-00001,5,5,0" in section
    assert "车船税在哪里交？,无（待补充条目）,3,3,0" in section


@dataclass
class _Ctx:
    ledger_path: Path

    def routing(self) -> None:
        return None

    def kb_words_paths(self) -> tuple[Path, Path]:
        from hotline.features.kb import words

        return words.SHIPPED_DICTIONARY, words.SHIPPED_SYNONYMS


def _hot(ctx: _Ctx, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["hot", *argv])
    return int(args.handler(args, ctx))


def test_the_hot_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`kb hot --quarter` prints the topics as a table in Chinese with the count of those
    without an entry; --missing lists only those; --json gives the figures; a --to
    before --from is refused naming both."""
    from hotline.common.errors import BadDates

    path = tmp_path / "ledger.sqlite3"
    asyncio.run(seeded(path))
    ctx = _Ctx(path)
    assert _hot(ctx, "--quarter", "2026Q4") == 0
    out = capsys.readouterr().out
    assert "台帐问题 10 条，自助服务选择 4 次" in out
    assert "个人所得税年度汇算怎么办理" in out
    assert "尚无知识条目的问题：2 个" in out
    assert _hot(ctx, "--from", "2026-10-01", "--to", "2026-12-31", "--missing",
                "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [(t["question"], t["count"], t["has_entry"]) for t in data["topics"]] == [
        ("车船税在哪里交？", 3, False), ("契税减免政策", 1, False)]
    with pytest.raises(BadDates, match="--to 2026-10-01 is before --from 2026-12-31"):
        _hot(ctx, "--from", "2026-12-31", "--to", "2026-10-01")


async def test_the_scorer_is_fts5s_bm25(tmp_path: Path) -> None:
    """The in-memory scorer gives the entries the scores FTS5's bm25 gives them (with the
    store's weights), so the hot topics match as the search would."""
    from hotline.features.kb.hot import Scorer, terms_of
    from hotline.features.kb.words import match
    from hotline.ledger.report import kb_index

    await seeded(tmp_path / "ledger.sqlite3")
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    scorer = Scorer(await kb_index(ledger))
    for text in ("请问个人所得税汇算在哪里办理？", "电子发票怎么开", "社保费交不上怎么办"):
        async with ledger.db.execute(
                "SELECT entry_id, bm25(kb_fts, 0, 10, 6, 1) FROM kb_fts WHERE kb_fts MATCH ? "
                "ORDER BY 2, 1 LIMIT 1", (match(text),)) as cur:
            fts = await cur.fetchone()
        assert fts is not None
        best = scorer.best(terms_of(match(text)))
        assert best is not None
        assert best[0] == fts[0]
        assert best[1] == pytest.approx(-fts[1], rel=1e-6)
    await ledger.close()
