"""Chinese words for the knowledge base's full-text index (FTS5) and its queries:
jieba's segmentation, done in Python on write (`indexed`) and on query (`match`).

A first version: jieba's search-mode segmentation, every word of the query optional
(OR), FTS5 ranking by bm25. The tax terms' user dictionary and the synonyms come next.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from hotline.core.kb import Draft
from hotline.ledger.kb import Indexed

_lock = threading.Lock()
_ready = False
# Kept out of the index and the query: punctuation and space (FTS5 would read some as
# syntax), and words that say nothing about the question.
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_STOP = frozenset([
    "的", "了", "吗", "呢", "啊", "吧", "我", "我们", "你", "您", "是", "在", "有", "要",
    "怎么", "如何", "什么", "请问", "一下", "哪些", "可以", "能", "能否", "需要", "和",
    "与", "及", "或", "么"])


def _jieba() -> Any:
    global _ready
    import jieba

    if not _ready:
        with _lock:
            if not _ready:
                jieba.setLogLevel(60)  # its "Building prefix dict" lines go to stderr
                jieba.initialize()
                _ready = True
    return jieba


def words(text: str) -> list[str]:
    """The words of `text` (search mode: 个人所得税 gives 个人, 所得, 所得税, 个人所得税),
    without punctuation and stop words, in order, repeats kept."""
    out = []
    for word in _jieba().cut_for_search(text):
        w = _PUNCT.sub("", word).lower()
        if w and w not in _STOP:
            out.append(w)
    return out


def indexed(draft: Draft) -> Indexed:
    """A version's words for the index."""
    return Indexed(question=" ".join(words(draft.question)),
                   phrasings=" ".join(w for p in draft.phrasings for w in words(p)),
                   answer=" ".join(words(draft.answer)))


def match(query: str) -> str:
    """The FTS5 query for what a person or a caller typed: any of its words (quoted, so
    nothing typed is read as FTS5 syntax); empty when nothing is left to look for."""
    found = list(dict.fromkeys(words(query)))
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in found)
