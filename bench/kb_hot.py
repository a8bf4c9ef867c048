"""Hot topics (`hotline kb hot`, the quarterly report's 集中咨询的热点难点问题) over a
quarter: 20,000 台帐 questions against a knowledge base of 10,000 published entries.

The entries are generated (who, tax, what is asked: 小规模纳税人的增值税怎么申报 ...), the
questions seats write are drawn from them (the subject dropped, 请问 added, punctuation,
another way of asking) and a third from outside the knowledge base; they are saved as
台帐 entries of calls of 2026Q4, with 20,000 self-service answers. Timed: `hot_topics()`
for the quarter (its jieba segmentation, one bm25 search per distinct text, the entry's
own score once per entry found), in this process after a warm-up of jieba's dictionary.
Baseline: the same texts grouped by normalised text only (no search). Target: the whole
quarter within 60 s (an operator waits for a report, not a dashboard).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import Outcome, ratio
from hotline.core.calls.tracking import Call, CallState, EndReason
from hotline.core.calls.tracking import Outcome as CallOutcome
from hotline.core.kb import Draft
from hotline.features.kb import words
from hotline.features.kb.hot import MATCH_SHARE, entries_of, hot_topics, normalised
from hotline.ledger.kb import KnowledgeBase
from hotline.ledger.report import kb_index, quarter_bounds
from hotline.ledger.store import Ledger, iso

TITLE = "Hot topics over a quarter: 20,000 台帐 questions against 10,000 entries"
MEASURES = __doc__.split("\n\n", 1)[1] if __doc__ else ""
MAKE_BENCH = False  # about a minute: `python -m bench kb_hot`

ENTRIES = 10_000
TEXTS = 20_000
TARGET_SECONDS = 60.0
T0 = datetime(2026, 10, 8, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
WHO = ["小规模纳税人", "一般纳税人", "个体工商户", "自然人", "外籍个人", "小微企业",
       "高新技术企业", "农户", "退休人员", "灵活就业人员", "房地产企业", "建筑企业"]
TAXES = ["个人所得税", "增值税", "企业所得税", "印花税", "房产税", "城镇土地使用税", "契税",
         "车船税", "土地增值税", "消费税", "资源税", "环境保护税", "耕地占用税",
         "城市维护建设税", "教育费附加", "社会保险费", "电子发票", "数电发票", "红字发票",
         "出口退税", "残疾人就业保障金", "文化事业建设费"]
ASKED = ["怎么申报", "如何缴纳", "在哪里办理", "逾期了怎么办", "可以退吗", "税率是多少",
         "有什么优惠", "怎么更正申报", "需要什么资料", "网上能办吗", "什么时候截止",
         "怎么计算", "可以分期吗", "申报错了怎么改", "怎么开具", "怎么查询", "是否免征",
         "怎么备案", "怎么注销", "扣缴怎么处理", "减免怎么享受", "汇算清缴怎么办理",
         "滞纳金怎么算", "完税证明怎么打印", "手机上怎么操作", "需要本人到场吗",
         "代理人能办吗", "申报期限是几号", "发票能作废吗", "税款能退回吗", "起征点是多少",
         "怎么核定", "要交多少", "怎么预缴", "有哪些注意事项", "系统登录不了怎么办",
         "怎么补缴", "怎么申请延期", "是否需要申报"]
OTHER = ["停车罚款怎么交", "公积金怎么提取", "医保报销比例", "营业执照怎么办", "驾照怎么换",
         "户口怎么迁", "社保卡丢了", "银行卡被冻结", "快递丢了找谁", "房贷利率多少",
         "车辆年检在哪里", "护照怎么办理", "水电费怎么交", "物业费纠纷", "工资被拖欠"]


def entry_questions() -> list[str]:
    found = [f"{w}的{t}{a}" for w in WHO for t in TAXES for a in ASKED]
    random.Random(15).shuffle(found)
    return found[:ENTRIES]


def labelled_texts(questions: list[str],
                   rng: random.Random) -> list[tuple[str, int | None]]:
    """The texts, each with the index of the question it was drawn from (None: none)."""
    out: list[tuple[str, int | None]] = []
    for _ in range(TEXTS):
        if rng.random() < 1 / 3:
            out.append((rng.choice(OTHER) + rng.choice(["", "？", "，请问在哪里问", "怎么办"]),
                        None))
            continue
        index = rng.randrange(len(questions))
        q = questions[index]
        who, rest = q.split("的", 1)
        form = rng.randrange(4)
        if form == 0:
            out.append((q, index))
        elif form == 1:
            out.append((f"请问，{q}？", index))
        elif form == 2:
            out.append((f"{who}{rest}", index))
        else:
            out.append((f"咨询{rest}（{who}）", index))
    return out


async def build(path: Path) -> tuple[Ledger, list[tuple[str, int | None]], list[str]]:
    ledger = await Ledger.open(path)
    kb = KnowledgeBase(ledger)
    questions = entry_questions()
    drafts = [Draft(question=q, answer=f"{q}：请登录电子税务局，按提示办理。",
                    spoken="请登录电子税务局办理。", topic="other") for q in questions]
    ids = await kb.add_many(drafts, actor="bench", at=NOW, source="bench")
    async with ledger.transaction() as db:
        await db.execute("UPDATE kb_versions SET status = 'published'")
        await db.execute("UPDATE kb_entries SET live = 1")
    await kb.reindex({i: words.indexed(d) for i, d in zip(ids, drafts, strict=True)})
    rng = random.Random(12366)
    labelled = labelled_texts(questions, rng)
    texts = [t for t, _ in labelled]
    calls = [Call(f"H{i}", "c", f"H{i}", None, None, CallState.ENDED,
                  T0 + timedelta(seconds=i * 300), ended_at=T0 + timedelta(seconds=i * 300
                                                                              + 120),
                  end_reason=EndReason.HANGUP, outcome=CallOutcome.ANSWERED, queue="center",
                  answered_at=T0 + timedelta(seconds=i * 300 + 10), seat="8001")
             for i in range(TEXTS)]
    for start in range(0, len(calls), 1000):
        await ledger.upsert_calls(calls[start:start + 1000], NOW)
    async with ledger.transaction() as db:
        await db.executemany(
            "INSERT INTO call_entries (linkedid, seat, question, saved_by, saved_at) "
            "VALUES (?, '8001', ?, 'bench', ?)",
            [(f"H{i}", t, iso(T0 + timedelta(seconds=i * 300))) for i, t in
             enumerate(texts)])
        await db.executemany(
            "INSERT INTO call_kb (linkedid, entry_id, version, at) VALUES (?, ?, 1, ?)",
            [(f"H{i}", rng.choice(ids), iso(T0 + timedelta(seconds=i * 300)))
             for i in range(TEXTS)])
    return ledger, labelled, ids


async def measure() -> Outcome:
    with tempfile.TemporaryDirectory() as folder:
        ledger, labelled, ids = await build(Path(folder) / "ledger.sqlite3")
        texts = [t for t, _ in labelled]
        try:
            words.words("预热")  # jieba's dictionary, loaded once per process
            start = time.perf_counter()
            baseline_groups = len({normalised(t) for t in texts})
            baseline = time.perf_counter() - start
            start = time.perf_counter()
            found = await hot_topics(ledger, *quarter_bounds("2026Q4"))
            took = time.perf_counter() - start
            # how right the grouping is (not timed): each text's entry against its label
            entries = entries_of(await kb_index(ledger), texts, MATCH_SHARE)
        finally:
            await ledger.close()
    matched = sum(t.seat_entries for t in found.topics if t.entry_id is not None)
    met = took <= TARGET_SECONDS
    drawn = [(e, ids[i]) for e, (_, i) in zip(entries, labelled, strict=True) if i is not None]
    right = sum(e == want for e, want in drawn)
    none_drawn = sum(e is None for e, _ in drawn)
    outside = [e for e, (_, i) in zip(entries, labelled, strict=True) if i is None]
    rows = [
        [f"hot_topics(), {TEXTS:,} texts, {ENTRIES:,} entries", f"{took:.1f} s",
         f"{baseline * 1000:.0f} ms", ratio(took, baseline), f"≤ {TARGET_SECONDS:g} s",
         "yes" if met else "NO"],
        ["per text", f"{took / TEXTS * 1000:.2f} ms", "", "", "", ""],
    ]
    notes = [f"{baseline_groups:,} distinct normalised texts; {len(found.topics):,} topics; "
             f"{matched:,} of {found.texts:,} texts matched to an entry "
             f"(about {TEXTS * 2 // 3:,} were drawn from entries); "
             f"{found.choices:,} self-service answers.",
             f"Grouping (MATCH_SHARE {MATCH_SHARE}): of {len(drawn):,} texts drawn from an "
             f"entry, {right:,} counted for it ({right / len(drawn):.1%}), {none_drawn:,} "
             f"for none, {len(drawn) - right - none_drawn:,} for another entry; of "
             f"{len(outside):,} texts from outside the knowledge base, "
             f"{sum(e is not None for e in outside):,} counted for an entry."]
    return Outcome(["measure", "hotline", "baseline (normalised text only)",
                    "hotline / baseline", "target", "met"], rows, notes, targets_met=met)


def run() -> Outcome:
    return asyncio.run(measure())


if __name__ == "__main__":
    result = run()
    for row in result.rows:
        print(" | ".join(row))
    for note in result.notes:
        print(note)
