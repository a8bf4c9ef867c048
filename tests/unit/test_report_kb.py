"""The quarterly report's knowledge-base figures on a ledger whose answers are known in
advance: self-service and diverted calls (话务分流率), the answers played and the share
followed by "solved" (智能咨询解决率), the most used and least helpful entries, the
entries expiring next quarter."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome
from hotline.core.kb import Draft
from hotline.features.kb.words import indexed
from hotline.features.reports.render import sections, to_csv, to_html, to_json
from hotline.ledger.kb import KnowledgeBase
from hotline.ledger.report import LEAST_HELPFUL_MIN, Report, next_quarter, quarterly
from hotline.ledger.store import Ledger

Q4 = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)  # 09:00 Beijing, inside 2026Q4
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def call(i: int, **kw: object) -> Call:
    base = Call(f"L{i}", "c", f"L{i}", "13955112345", None, CallState.ENDED,
                Q4 + timedelta(minutes=i), ended_at=Q4 + timedelta(minutes=i, seconds=30),
                end_reason=EndReason.HANGUP, outcome=Outcome.ENDED_IN_IVR)
    return replace(base, **kw)  # type: ignore[arg-type]


def draft(question: str, until: date | None = None) -> Draft:
    return Draft(question=question, answer=f"{question}的答复。", spoken="请登录电子税务局办理。",
                 topic="invoice", effective_until=until)


async def publish(kb: KnowledgeBase, d: Draft) -> str:
    entry = await kb.add(d, actor="li", at=NOW)
    await kb.review(entry.id, 1, actor="wang", at=NOW)
    await kb.publish(entry.id, 1, indexed(d), actor="zhao", at=NOW)
    return entry.id


async def answers(kb: KnowledgeBase, linkedid: str, entry_id: str,
                  feedback: list[str | None], at: datetime = Q4) -> None:
    for i, pressed in enumerate(feedback):
        answer = await kb.answered(linkedid, entry_id, 1, at + timedelta(seconds=i))
        if pressed is not None:
            await kb.feedback(answer, pressed, at + timedelta(seconds=i, milliseconds=500))


async def seeded(tmp_path: Path) -> tuple[Report, tuple[str, ...]]:
    """The report, and the ids of the entries often used, helpful, rarely used, and
    ending next quarter."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    await ledger.upsert_calls([
        # diverted: walked the self-service menu and hung up there
        call(1, self_service=True, outcome=Outcome.SELF_SERVICE),
        # self-service, then asked for a seat from the menu and got one: not diverted
        call(2, self_service=True, queue="center", answered_at=Q4 + timedelta(minutes=2),
             wait_seconds=5.0, talk_seconds=60.0, outcome=Outcome.ANSWERED, seat="8001"),
        # heard knowledge-base answers only (no self_service menu), pressed solved: diverted
        call(3),
        # heard an answer, pressed "transfer me", hung up before a queue: not diverted
        call(4),
        # self-service, then left a voicemail: not diverted
        call(5, self_service=True, voicemail_id=7, outcome=Outcome.VOICEMAIL),
        # never self-service
        call(6),
        # still in the self-service menu (not ended): self-service, not diverted yet
        call(7, self_service=True, state=CallState.IVR, ended_at=None, end_reason=None,
             outcome=None),
        # next quarter: not counted
        call(8, self_service=True, started_at=datetime(2027, 1, 2, tzinfo=UTC),
             outcome=Outcome.SELF_SERVICE),
    ], NOW)
    kb = KnowledgeBase(ledger)
    often = await publish(kb, draft("电子发票怎么开具"))
    helpful = await publish(kb, draft("发票怎么查验真伪"))
    rare = await publish(kb, draft("红字发票怎么开"))
    ends_q1 = await publish(kb, draft("小规模纳税人减免增值税", until=date(2027, 3, 31)))
    await publish(kb, draft("旧的优惠政策", until=date(2026, 12, 31)))  # this quarter
    await publish(kb, draft("下半年政策", until=date(2027, 4, 1)))  # the quarter after
    withdrawn = await publish(kb, draft("撤回的条目", until=date(2027, 2, 1)))
    await kb.withdraw(withdrawn, reason="作废", actor="zhao", at=NOW)
    # 6 answers of `often` (1 solved, 1 seat), 5 of `helpful` (4 solved), 4 of `rare`
    # (none solved: under LEAST_HELPFUL_MIN answers, so not judged), 1 next quarter
    await answers(kb, "L3", often, ["solved", None, None, None])
    await answers(kb, "L4", often, [None, "seat"])
    await answers(kb, "L1", helpful, ["solved", "solved", "solved", "solved", None])
    await answers(kb, "L2", rare, [None, None, None, "seat"])
    await answers(kb, "L8", often, ["solved"], at=datetime(2027, 1, 2, tzinfo=UTC))
    report = await quarterly(ledger, "2026Q4", NOW)
    await ledger.close()
    return report, (often, helpful, rare, ends_q1)


async def test_diverted_calls_and_the_diversion_rate(tmp_path: Path) -> None:
    """Self-service calls are those that walked a self-service menu or heard an answer;
    diverted are those of them that ended without a seat, a voicemail or a "transfer me"
    pressed; 话务分流率 is diverted over all the quarter's calls."""
    r, _ = await seeded(tmp_path)
    assert r.calls == 7
    assert r.self_service_calls == 6  # L1, L2, L3, L4, L5, L7

    assert r.diverted == 2  # L1 and L3
    assert r.diversion_rate == pytest.approx(2 / 7)


async def test_answers_and_the_solved_share(tmp_path: Path) -> None:
    """The answers of the quarter are counted with what the callers pressed after them;
    智能咨询解决率 is the share followed by "solved"; next quarter's answers are not in."""
    r, _ = await seeded(tmp_path)
    assert (r.kb_answers, r.kb_solved, r.kb_to_seat) == (15, 5, 2)
    assert r.kb_solved_rate == pytest.approx(5 / 15)


async def test_most_used_and_least_helpful_entries(tmp_path: Path) -> None:
    """The most used entries come by answers; the least helpful by the lowest solved
    share, only among entries with at least 5 answers (an entry answered 4 times with
    none solved is not judged yet)."""
    r, (often, helpful, rare, _) = await seeded(tmp_path)
    assert LEAST_HELPFUL_MIN == 5
    assert [(e["entry_id"], e["answers"], e["solved"], e["seat"]) for e in r.kb_top] == [
        (often, 6, 1, 1), (helpful, 5, 4, 0), (rare, 4, 0, 1)]
    assert r.kb_top[0]["question"] == "电子发票怎么开具"
    assert [e["entry_id"] for e in r.kb_least] == [often, helpful]
    assert r.kb_least[0]["solved_share"] == pytest.approx(1 / 6)


async def test_entries_expiring_next_quarter(tmp_path: Path) -> None:
    """Only live entries whose policy ends within the next quarter are listed (not this
    quarter's, not the quarter after's, not a withdrawn one)."""
    r, (*_, ends_q1) = await seeded(tmp_path)
    assert next_quarter("2026Q4") == "2027Q1"
    assert next_quarter("2027Q1") == "2027Q2"
    assert [(e["entry_id"], e["effective_until"]) for e in r.kb_expiring] == [
        (ends_q1, "2027-03-31")]


async def test_every_format_carries_the_kb_figures_in_chinese(tmp_path: Path) -> None:
    """The CSV and HTML show the figures with Chinese labels; the JSON has them with their
    codes; each knowledge-base list is a section of every format."""
    r, _ = await seeded(tmp_path)
    text = to_csv(r)
    for line in ("自助服务来电,6", "话务分流（自助服务办结，未转人工）,2", "话务分流率,28.6%",
                 "智能咨询答复次数,15", "智能咨询解决率,33.3%", "\n最常用的知识条目",
                 "\n帮助最少的知识条目（答复满5次）", "\n下季度到期的知识条目",
                 "小规模纳税人减免增值税", "2027-03-31"):
        assert line in text, line
    page = to_html(r, charts=False)
    for key in ("kb_top", "kb_least", "kb_expiring", "hot_topics"):
        assert f"<section id='{key}'>" in page
    least = page.split("<section id='kb_least'>")[1].split("</section>")[0]
    assert "16.7%" in least
    assert "红字发票怎么开" not in least
    data = json.loads(to_json(r))
    assert data["diversion_rate"] == pytest.approx(2 / 7)
    assert data["kb_solved_rate"] == pytest.approx(1 / 3)
    keys = {k for k, v in data.items() if isinstance(v, dict | list)}
    assert keys == {s.key for s in sections(r)}


async def test_a_ledger_without_knowledge_base_use(tmp_path: Path) -> None:
    """With calls but no self-service and no answers, 话务分流率 is 0 % and 智能咨询解决率
    unknown ('-', not 0 % or an error), and the lists are empty."""
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    await ledger.upsert_calls([call(1)], NOW)
    r = await quarterly(ledger, "2026Q4", NOW)
    await ledger.close()
    assert (r.self_service_calls, r.diverted, r.kb_answers) == (0, 0, 0)
    assert r.diversion_rate == 0.0
    assert r.kb_solved_rate is None
    assert "智能咨询解决率,-" in to_csv(r)
    assert "话务分流率,0.0%" in to_csv(r)
    assert r.kb_top == r.kb_least == r.kb_expiring == []
