"""Hot topics (集中咨询的热点难点问题): the questions callers asked most in a period, from
the seats' 台帐 entries (the question a seat wrote for each call) and the self-service
choices (the knowledge-base answers the line played), grouped by the entry that answers
them, and which of them have no entry yet.

A 台帐 question belongs to an entry when the search (words.match's words, bm25 over the
index of live entries as FTS5 scores it, with the store's field weights: `Scorer`) finds
the entry and its score is at least MATCH_SHARE of the score the entry gets for its own
question: bm25 has no absolute scale (it grows with the words
of the query and shrinks with how common they are), so the threshold is relative to what
the entry itself would score. The other questions are grouped by their normalised text
(width folded, punctuation, spaces and a leading 请问 dropped).

The work is one read of the index, then one segmentation and one in-memory bm25 sum per
distinct text, in a thread (CPU work: the event loop keeps serving); bench/kb_hot.py
times a quarter of 20,000 texts against 10,000 entries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from hotline.features.kb import words as kb_words
from hotline.ledger.report import (
    Report,
    consultation_texts,
    kb_choices,
    kb_index,
    kb_questions,
    quarter_bounds,
)
from hotline.ledger.store import Ledger

if TYPE_CHECKING:
    from hotline.features.cli_support import Context, Subparsers

# A text belongs to an entry at this share of the entry's own question's bm25 score
# (0.5 took 发票丢了怎么办 for 电子发票如何开具 on a small set).
MATCH_SHARE = 0.6
HOT_LIMIT = 20  # topics listed by default
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_COURTESY = ("请问", "你好", "您好", "咨询一下", "问一下")


def normalised(text: str) -> str:
    """The text two callers' questions are compared by: width folded (NFKC), lower case,
    without punctuation and spaces, without a leading 请问/您好."""
    out = _PUNCT.sub("", unicodedata.normalize("NFKC", text)).lower()
    changed = True
    while changed:
        changed = False
        for word in _COURTESY:
            if out.startswith(word) and len(out) > len(word):
                out, changed = out[len(word):], True
    return out


@dataclass
class HotTopic:
    """One question callers asked: an entry's (entry_id) or a text with no entry."""

    question: str
    entry_id: str | None
    seat_entries: int = 0  # 台帐 entries that asked it
    self_service: int = 0  # the line's answers with the entry
    examples: list[str] = field(default_factory=list)  # up to 3 texts as the seats typed

    @property
    def count(self) -> int:
        return self.seat_entries + self.self_service

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "count": self.count, "has_entry": self.entry_id is not None}


@dataclass(frozen=True)
class HotTopics:
    start: datetime
    end: datetime
    texts: int  # 台帐 questions read
    choices: int  # self-service answers read
    topics: list[HotTopic]  # most asked first (all of them; callers cut)

    def top(self, limit: int = HOT_LIMIT) -> list[HotTopic]:
        return self.topics[:limit]

    def without_entry(self, limit: int = HOT_LIMIT) -> list[HotTopic]:
        return [t for t in self.topics if t.entry_id is None][:limit]


class Scorer:
    """bm25 as FTS5 computes it for the knowledge base's index (k1 1.2, b 0.75, the
    store's field weights: question 10, phrasings 6, answer 1), over the index's words
    held in memory: the contribution of each word to each entry's score does not depend
    on the query, so it is computed once, and a query's score is a sum. (One FTS5 query a
    text costs 5-30 ms at 10,000 entries, most of it bm25 called for every row that has
    a common word; a quarter's 10,000 distinct texts took minutes.) Scores here are
    positive: higher is better."""

    K1 = 1.2
    B = 0.75
    WEIGHTS = (10.0, 6.0, 1.0)

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        count = len(rows)
        freq: dict[str, dict[str, float]] = {}  # word -> entry -> weighted frequency
        sizes: dict[str, int] = {}
        self.questions: dict[str, tuple[str, ...]] = {}
        for entry_id, *fields in rows:
            size = 0
            for weight, text in zip(self.WEIGHTS, fields, strict=True):
                tokens = text.split()
                size += len(tokens)
                for token in tokens:
                    found = freq.setdefault(token, {})
                    found[entry_id] = found.get(entry_id, 0.0) + weight
            sizes[entry_id] = size
            self.questions[entry_id] = tuple(dict.fromkeys(fields[0].split()))
        average = sum(sizes.values()) / count if count else 1.0
        self.part: dict[str, dict[str, float]] = {}
        for token, entries in freq.items():
            idf = math.log((count - len(entries) + 0.5) / (len(entries) + 0.5))
            idf = idf if idf > 0 else 1e-6
            self.part[token] = {
                e: idf * f * (self.K1 + 1) / (f + self.K1 * (1 - self.B + self.B * sizes[e]
                                                             / average))
                for e, f in entries.items()}

    def best(self, terms: list[str]) -> tuple[str, float] | None:
        """The entry scoring highest for `terms` (each counted once), and its score."""
        scores: dict[str, float] = {}
        for term in dict.fromkeys(terms):
            for entry_id, part in self.part.get(term, {}).items():
                scores[entry_id] = scores.get(entry_id, 0.0) + part
        if not scores:
            return None
        entry_id = min(scores, key=lambda e: (-scores[e], e))
        return entry_id, scores[entry_id]

    def own(self, entry_id: str) -> float:
        """The entry's score for its own question."""
        return sum(self.part[t][entry_id] for t in self.questions.get(entry_id, ()))

    def entry_of(self, terms: list[str], share: float) -> str | None:
        found = self.best(terms)
        if found is None:
            return None
        own = self.own(found[0])
        return found[0] if own > 0 and found[1] / own >= share else None


_PHRASE = re.compile(r'"((?:[^"]|"")*)"')


def terms_of(query: str) -> list[str]:
    """The words of an FTS5 query built by words.match (its quoted phrases, synonyms
    included, whatever the operators between them)."""
    return [w for phrase in _PHRASE.findall(query) for w in phrase.replace('""', '"').split()]


def entries_of(rows: list[tuple[str, str, str, str]], texts: list[str],
                share: float) -> list[str | None]:
    scorer = Scorer(rows)
    return [scorer.entry_of(terms_of(kb_words.match(t)), share) for t in texts]


async def hot_topics(ledger: Ledger, start: datetime, end: datetime, *,
                     share: float = MATCH_SHARE) -> HotTopics:
    """The questions asked in [start, end), most asked first (at a tie, those without an
    entry first, then by question)."""
    texts = await consultation_texts(ledger, start, end)
    choices = await kb_choices(ledger, start, end)
    counted: Counter[str] = Counter()
    typed: dict[str, list[str]] = {}
    for text, _topic in texts:
        key = normalised(text)
        if not key:
            continue
        counted[key] += 1
        seen = typed.setdefault(key, [])
        if len(seen) < 3 and text.strip() not in seen:
            seen.append(text.strip())
    distinct = list(counted)
    rows = await kb_index(ledger)
    # jieba and the scoring are CPU work: in a thread, the event loop keeps serving
    found = await asyncio.to_thread(entries_of, rows, [typed[k][0] for k in distinct],
                                    share)
    questions = await kb_questions(ledger, sorted({e for e in found if e is not None}
                                                  | set(choices)))
    topics: dict[str, HotTopic] = {}  # "kb:ID" or "text:NORMALISED"
    for key, entry_id in zip(distinct, found, strict=True):
        if entry_id is None:
            topic = topics.setdefault(f"text:{key}", HotTopic(typed[key][0], None))
        else:
            topic = topics.setdefault(f"kb:{entry_id}", HotTopic(
                questions.get(entry_id, entry_id), entry_id))
        topic.seat_entries += counted[key]
        for example in typed[key]:
            if len(topic.examples) < 3 and example not in topic.examples:
                topic.examples.append(example)
    # the entries answered by the line (a withdrawn one too: it was asked)
    for entry_id, answers in choices.items():
        topic = topics.setdefault(f"kb:{entry_id}", HotTopic(questions.get(entry_id, entry_id),
                                                              entry_id))
        topic.self_service += answers
    ordered = sorted(topics.values(), key=lambda t: (-t.count, t.entry_id is not None,
                                                      t.question))
    return HotTopics(start, end, len(texts), sum(choices.values()), ordered)


async def fill_report(ledger: Ledger, report: Report, limit: int = HOT_LIMIT) -> Report:
    """`report` with its hot-topics section (the quarter's most asked questions)."""
    start, end = quarter_bounds(report.quarter)
    found = await hot_topics(ledger, start, end)
    report.hot_topics = [t.as_dict() for t in found.top(limit)]
    return report


# -- `hotline kb hot` ----------------------------------------------------------------

def register(sub: Subparsers) -> None:
    """`hot` under `hotline kb` (the integrator hangs it there)."""
    from hotline.features.cli_support import a_date, a_limit, a_quarter

    hot = sub.add_parser("hot", help="集中咨询的热点难点问题: the questions asked most in a "
                                     "period, and which have no entry yet")
    when = hot.add_mutually_exclusive_group(required=True)
    when.add_argument("--quarter", type=a_quarter, help="e.g. 2026Q4")
    when.add_argument("--from", dest="start", type=a_date, metavar="DATE",
                      help="first day (Beijing time), with --to")
    hot.add_argument("--to", dest="end", type=a_date, metavar="DATE",
                     help="last day, included (with --from)")
    hot.add_argument("--limit", type=a_limit, default=HOT_LIMIT,
                     help=f"topics listed (default {HOT_LIMIT})")
    hot.add_argument("--missing", action="store_true",
                     help="only the questions no entry answers yet")
    hot.add_argument("--json", action="store_true", help="JSON instead of a table")
    hot.set_defaults(handler=cmd_hot)


def period(args: argparse.Namespace) -> tuple[datetime, datetime]:
    from hotline.common.clock import CHINA
    from hotline.common.errors import BadDates

    if args.quarter is not None:
        if args.end is not None:
            raise BadDates(["--to goes with --from, not with --quarter"])
        return quarter_bounds(args.quarter)
    if args.end is None:
        raise BadDates(["--from needs --to (the last day, included)"])
    if args.end < args.start:
        raise BadDates([f"--to {args.end} is before --from {args.start}"])
    start = datetime.combine(args.start, datetime.min.time(), CHINA)
    end = datetime.combine(args.end, datetime.min.time(), CHINA) + timedelta(days=1)
    return start, end


def cmd_hot(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.features.accounts.identity import acting
    from hotline.features.cli_support import existing_ledger, print_table, write_out
    from hotline.features.kb import words

    start, end = period(args)
    acting(ctx, "kb.read", "kb hot")
    path = existing_ledger(ctx)
    words.configure(*ctx.kb_words_paths())  # the configured search words, not the shipped

    async def go() -> HotTopics:
        async with await Ledger.open(path) as ledger:
            return await hot_topics(ledger, start, end)

    found = asyncio.run(go())
    shown = found.without_entry(args.limit) if args.missing else found.top(args.limit)
    if args.json:
        write_out(json.dumps({"from": start.date().isoformat(),
                              "to": (end - timedelta(days=1)).date().isoformat(),
                              "texts": found.texts, "choices": found.choices,
                              "topics": [t.as_dict() for t in shown]},
                             ensure_ascii=False, indent=2) + "\n")
        return 0
    last = (end - timedelta(days=1)).date()
    print(f"{start.date()} 至 {last}：台帐问题 {found.texts} 条，自助服务选择 "
          f"{found.choices} 次")
    if not shown:
        print("（无）")
        return 0
    print_table([("次数", "台帐", "自助", "知识条目", "问题"),
                 *[(str(t.count), str(t.seat_entries), str(t.self_service),
                    t.entry_id or "无（待补充）", t.question) for t in shown]])
    missing = len([t for t in found.topics if t.entry_id is None])
    print(f"尚无知识条目的问题：{missing} 个")
    return 0
