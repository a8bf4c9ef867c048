"""Chinese words for the knowledge base's full-text index (FTS5) and its queries:
jieba's segmentation, done in Python on write (`indexed`) and on query (`match`).

- The segmentation is a jieba `Tokenizer` of our own (never jieba's global one, which
  other code could change) with the tax terms' user dictionary (kb.dictionary,
  config/kb/tax_terms.txt) and every word of the synonym groups added, so that 个税,
  汇算, 专票, 数电发票 are kept whole. Search mode also gives each long word's shorter
  words (个人所得税: 个人, 所得, 所得税), and a word of five characters or more also gives
  the dictionary's terms inside it (增值税专用发票: 专用发票), on write and on query alike.
- Synonyms (kb.synonyms, config/kb/synonyms.yaml) are applied at index time and at
  query time alike: every word of a group is written as the group's first word (个人所得税
  and 个税 are both 个税 in the index and in a query). Why not expand the query instead
  (个税 OR 个人所得税 OR ...): with bm25 the rarest spelling of a group then outweighs the
  others (an entry that says 个税app won every 个税 question), and an entry is scored
  by how many spellings it holds; one word per group is one weight. Measured on the
  benchmark's dev questions (2,000 entries): top-1 130/162 one word per group, 122 with
  query expansion. (`Words(..., synonyms_at="query")` keeps the other way, to compare.)
  A changed dictionary or synonym table needs the index rebuilt (the published entries
  cut again, KnowledgeBase.reindex): `fingerprint()` changes with them.
- The index keeps every word (stop words too); the query drops the words that say
  nothing about which question is asked (STOP_WORDS: function words, pronouns, the ways
  of asking, greetings; a lone Latin letter) unless nothing else is left, so a query is
  never empty for want of meaningful words. Single Chinese characters stay in the
  query: 补, 退, 开, 丢, 断 carry the question (社保中间断了能补吗), and dropping those
  that are not terms cost top-3 148 -> 142 of 162 dev questions at 10,000 entries.
  Question words that tell the kind of answer (多少, 多久, 什么时候, 怎么办) stay too.
- Nothing typed is FTS5 syntax: punctuation is dropped and every word is quoted.

`configure(dictionary, synonyms)` loads the two files (the service, at start);
`problems()` only checks them (`hotline check`); a broken file raises KbWordsInvalid
naming the file and line, never ignored. Used before `configure`, the module loads the
shipped files.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline.common.errors import KbWordsInvalid, YamlSyntaxError
from hotline.common.validate import Checker, syntax_problems
from hotline.common.yamlsrc import MAX_BYTES, Problem, Sourced, load_file
from hotline.core.kb import Draft
from hotline.ledger.kb import Indexed, KnowledgeBase

SHIPPED_DIR = Path(__file__).resolve().parents[3] / "config" / "kb"
SHIPPED_DICTIONARY = SHIPPED_DIR / "tax_terms.txt"
SHIPPED_SYNONYMS = SHIPPED_DIR / "synonyms.yaml"

# A query is what a person types or a caller's words: the first MAX_QUERY_CHARS
# characters and MAX_QUERY_WORDS distinct words of it are looked for (each with its
# synonyms), which bounds the FTS5 query whatever is pasted into the search box.
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 24
MAX_TERM_CHARS = 30
# Terms inside a longer word are looked for from this length up (search mode already
# gives the two- and three-character words jieba knows).
_INNER_FROM = 4

# Punctuation and space: kept out of the index and the query (FTS5 would read some as
# syntax); what is left of a word is letters and digits.
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_TERM = re.compile(r"^[^\W_]+$", re.UNICODE)
# In a file an administrator wrote: no control character but tab, no lone surrogate.
_BAD_TEXT = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
_TAG = re.compile(r"^[a-z]{1,4}$")

# Words that say nothing about which question is asked: function words, pronouns, the
# ways of asking (怎么, 如何, 请问), greetings; the FTS5 operators' English words too.
# Not the question words that tell the kind of answer (多少, 多久, 什么时候, 怎么办, 哪些):
# entries' questions hold them too.
_STOP_TEXT = """
的 地 得 了 着 过 吗 呢 啊 吧 呀 哦 嗯 么 嘛 呗 哈 啦 哪 呐
我 我们 你 您 你们 他 她 它 他们 她们 咱 咱们 自己 大家
这 那 这个 那个 这些 那些 这样 那样 这种 那种 这边 那边 此
是 在 要 想 想要 想问 问 问问 问一下 请问 请 一下 下 麻烦 谢谢 你好 您好
怎么 怎么样 怎样 咋 啥 如何 什么 什么样 哪里 哪儿 哪个
是否 是不是 能否 能不能 可否 可不可以 行不行 对不对 能够 需 得到
和 与 及 以及 或 或者 还是 还 也 都 就 又 再 才 而 但 但是 并 并且 如果 若 因为 所以
对 把 被 给 让 从 到 向 于 为 以 等 等等 之 其 该 则 即 已 已经 一个 个 些 一些 的话
and or not near the a an of to is are how what
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True)
class Term:
    """One line of the tax terms' dictionary: the term (normalised: NFKC, lower case),
    its frequency and part-of-speech tag if the line gives them, and its line."""

    word: str
    freq: int | None
    tag: str | None
    line: int


def normalised(text: str) -> str:
    """`text` as the search compares it: NFKC (full-width letters and digits become
    ASCII), lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def _term_problem(word: str) -> str | None:
    if len(word) > MAX_TERM_CHARS:
        return f"'{word[:MAX_TERM_CHARS]}…' is longer than {MAX_TERM_CHARS} characters"
    if not _TERM.match(word):
        bad = next(c for c in word if not (c.isalnum() and c != "_"))
        return (f"'{word}' holds '{bad}': a term is letters and digits only (the search "
                "drops punctuation and spaces)")
    return None


def parse_dictionary(text: str, filename: str) -> list[Term]:
    """The terms of a user dictionary (`term [frequency] [tag]` a line, `#` comments);
    raises KbWordsInvalid listing every bad line (`file:line: message`)."""
    problems: list[Problem] = []
    terms: list[Term] = []
    seen: dict[str, int] = {}

    def bad(line: int, message: str) -> None:
        problems.append(Problem(filename, line, (), message))

    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        control = _BAD_TEXT.search(line)
        if control is not None:
            bad(number, f"holds U+{ord(control.group()):04X}, a control character or a "
                "lone surrogate: a line is a term, optionally its frequency and tag")
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split()
        if len(parts) > 3:
            bad(number, f"'{stripped}' has {len(parts)} parts: a line is a term, "
                "optionally its frequency and tag (个税 100 n)")
            continue
        word = normalised(parts[0])
        problem = _term_problem(word)
        if problem is not None:
            bad(number, problem)
            continue
        freq: int | None = None
        tag: str | None = None
        rest = parts[1:]
        if rest and rest[0].isdigit() and rest[0].isascii():
            freq = int(rest[0])
            if not 1 <= freq <= 1_000_000_000:
                bad(number, f"frequency {rest[0]} of '{word}' is not from 1 to 1000000000")
                continue
            rest = rest[1:]
        if rest:
            if not _TAG.match(rest[0]) or len(rest) > 1:
                bad(number, f"'{' '.join(rest)}' after '{word}' is neither a frequency "
                    "(a whole number) nor a part-of-speech tag (1 to 4 letters a-z)")
                continue
            tag = rest[0]
        if word in seen:
            bad(number, f"'{word}' is already at line {seen[word]}: a term appears once")
            continue
        seen[word] = number
        terms.append(Term(word, freq, tag, number))
    if problems:
        raise KbWordsInvalid(problems, file=filename)
    return terms


def parse_synonyms(source: Sourced) -> list[tuple[str, ...]]:
    """The synonym groups of a loaded synonyms.yaml (`synonyms: [[个税, 个人所得税], ...]`),
    each word normalised; raises KbWordsInvalid listing every problem at its line."""
    check = Checker(source)
    groups: list[tuple[str, ...]] = []
    top = check.mapping(source.data, (), "the file")
    if top is not None:
        check.unknown_keys(top, ["synonyms"], ())
        items = top.get("synonyms", [])
        if "synonyms" not in top:
            check.error((), "required key 'synonyms' is missing (a list of groups, "
                        "each a list of words: - [个税, 个人所得税])")
        elif not isinstance(items, list):
            check.error(("synonyms",), "must be a list of groups, each a list of words")
            items = []
        seen: dict[str, tuple[int, int]] = {}  # word -> (group index, its line)
        for g, item in enumerate(items):
            path = ("synonyms", g)
            if not isinstance(item, list):
                check.error(path, "a group must be a list of words ([个税, 个人所得税]), "
                            f"not {type(item).__name__ if item is not None else 'nothing'}")
                continue
            if not item:
                check.error(path, "an empty group: a group lists at least two words")
                continue
            if len(item) == 1:
                check.error(path, "a group of one word: a group lists at least two words")
                continue
            group: list[str] = []
            for w, value in enumerate(item):
                text = check.text(value, (*path, w), "a word")
                if text is None:
                    continue
                word = normalised(text.strip())
                if not word:
                    check.error((*path, w), "an empty word")
                    continue
                problem = _term_problem(word)
                if problem is not None:
                    check.error((*path, w), problem)
                    continue
                if word in seen:
                    other, line = seen[word]
                    where = ("twice in this group" if other == g
                             else f"already in group {other + 1} at line {line}")
                    check.error((*path, w), f"'{word}' is {where}: a word is in one "
                                "group only")
                    continue
                seen[word] = (g, source.line_of((*path, w)))
                group.append(word)
            groups.append(tuple(group))
    check.raise_if_errors(KbWordsInvalid)
    return [g for g in groups if len(g) > 1]


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_dictionary(path: Path) -> list[Term]:
    """The tax terms' dictionary file, parsed (KbWordsInvalid if missing or broken)."""
    name = _display(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise KbWordsInvalid([Problem(name, 1, (), "cannot read the tax terms' dictionary: "
                                      f"{exc.strerror or exc}")], file=name) from None
    if len(raw) > MAX_BYTES:
        raise KbWordsInvalid([Problem(name, 1, (), "the file is over "
                                      f"{MAX_BYTES // 1024 // 1024} MiB")], file=name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KbWordsInvalid([Problem(name, raw.count(b"\n", 0, exc.start) + 1, (),
                                      f"not UTF-8 text: {exc.reason}")], file=name) from None
    return parse_dictionary(text.removeprefix("\ufeff"), name)


def read_synonyms(path: Path) -> list[tuple[str, ...]]:
    """The synonyms file, parsed (KbWordsInvalid if missing or broken)."""
    name = _display(path)
    try:
        source = load_file(path, name)
    except YamlSyntaxError as exc:
        raise KbWordsInvalid(syntax_problems(exc), file=name) from None
    except OSError as exc:
        raise KbWordsInvalid([Problem(name, 1, (), "cannot read the synonyms: "
                                      f"{exc.strerror or exc}")], file=name) from None
    return parse_synonyms(source)


_base_lock = threading.Lock()
_base: Any = None


def _jieba_dictionary() -> Any:
    """jieba's own dictionary, loaded once (from its cache: most of a second), never
    changed: each Words starts from a copy."""
    global _base
    import jieba

    with _base_lock:
        if _base is None:
            jieba.setLogLevel(60)  # its "Building prefix dict" lines go to stderr
            base = jieba.Tokenizer()
            base.initialize()
            _base = base
    return _base


def _tokenizer(terms: Iterable[Term], synonyms: Iterable[Sequence[str]]) -> Any:
    import jieba

    base = _jieba_dictionary()
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total = dict(base.FREQ), base.total
    tokenizer.initialized = True
    known = set()
    for term in terms:
        tokenizer.add_word(term.word, term.freq, term.tag)
        known.add(term.word)
    for group in synonyms:
        for word in group:
            if word not in known:
                tokenizer.add_word(word)
                known.add(word)
    return tokenizer


class Words:
    """A segmentation with its tax terms and synonyms (immutable once built: `configure`
    swaps in a new one)."""

    def __init__(self, terms: Sequence[Term] = (),
                 synonyms: Sequence[Sequence[str]] = (), *,
                 synonyms_at: str = "index") -> None:
        if synonyms_at not in ("index", "query"):
            raise ValueError(f"synonyms_at {synonyms_at!r} is not 'index' or 'query'")
        self.synonyms_at = synonyms_at
        self.terms = frozenset([t.word for t in terms] + [w for g in synonyms for w in g])
        group_of: dict[str, tuple[str, ...]] = {}
        canonical: dict[str, str] = {}
        for group in synonyms:
            for word in group:
                group_of[word] = tuple(w for w in group if w != word)
                canonical[word] = group[0]
        self.synonyms: Mapping[str, tuple[str, ...]] = group_of
        self.groups = tuple(tuple(g) for g in synonyms)
        self._canonical: Mapping[str, str] = canonical if synonyms_at == "index" else {}
        digest = hashlib.sha256(synonyms_at.encode())
        for t in sorted(terms, key=lambda t: t.word):
            digest.update(f"{t.word}\t{t.freq}\t{t.tag}\n".encode())
        for word in sorted(w for g in synonyms for w in g):  # they are in the tokenizer
            digest.update(f"{word}\t{self._canonical.get(word, '')}\n".encode())
        # What the index's words depend on (the dictionary, the synonyms): when it
        # changes, the published entries must be cut again (KnowledgeBase.reindex).
        self.fingerprint = digest.hexdigest()[:16]
        self._tokenizer = _tokenizer(terms, synonyms)
        self._longest = max((len(t) for t in self.terms), default=0)

    def tokens(self, text: str) -> list[str]:
        """Every word of `text` (search mode, plus the terms inside a long word), in
        order, repeats kept, without punctuation, a synonym as its group's first word
        (synonyms_at="index"): what the index holds. A group's word is counted once
        where its spellings overlap (增值税专用发票 and the 专用发票 in it are one 专票)."""
        out: list[str] = []
        canonical = self._canonical
        spans: dict[str, list[tuple[int, int]]] = {}

        def emit(word: str, start: int, end: int) -> None:
            word = canonical.get(word, word)
            seen = spans.setdefault(word, [])
            if canonical and any(s < end and start < e for s, e in seen):
                return
            seen.append((start, end))
            out.append(word)

        for token, start, end in self._tokenizer.tokenize(normalised(text), mode="search"):
            word = _PUNCT.sub("", token)
            if not word:
                continue
            emit(word, start, end)
            if len(word) > _INNER_FROM:
                for part, offset in self._inner_terms(word):
                    emit(part, start + offset, start + offset + len(part))
        return out

    def _inner_terms(self, word: str) -> list[tuple[str, int]]:
        found = []
        for size in range(min(len(word) - 1, self._longest), _INNER_FROM - 1, -1):
            for start in range(len(word) - size + 1):
                part = word[start:start + size]
                if part in self.terms:
                    found.append((part, start))
        return found

    def meaningful(self, word: str) -> bool:
        """Whether a word says something about the question: not a stop word, not a lone
        Latin letter (see the module's docstring for why single Chinese characters
        stay)."""
        return word not in STOP_WORDS and not (len(word) == 1 and word.isascii()
                                               and word.isalpha())

    def words(self, text: str) -> list[str]:
        """The meaningful words of `text`, in order, repeats kept."""
        return [w for w in self.tokens(text) if self.meaningful(w)]

    def query_words(self, query: str) -> list[str]:
        """The distinct words a query looks for: its meaningful words, else (a query of
        stop words only) all of its words; at most MAX_QUERY_WORDS."""
        every = list(dict.fromkeys(self.tokens(query[:MAX_QUERY_CHARS])))
        kept = [w for w in every if self.meaningful(w)] or every
        return kept[:MAX_QUERY_WORDS]

    def expanded(self, query: str) -> list[str]:
        """The words the query looks for: its words (a synonym already its group's first
        word), or with synonyms_at="query" each followed by its synonyms; distinct."""
        if self.synonyms_at == "index":
            return self.query_words(query)
        return list(dict.fromkeys(
            x for w in self.query_words(query) for x in (w, *self.synonyms.get(w, ()))))

    def match(self, query: str) -> str:
        return " OR ".join(quoted(w) for w in self.expanded(query))

    def indexed(self, draft: Draft) -> Indexed:
        return Indexed(question=" ".join(self.tokens(draft.question)),
                       phrasings=" ".join(w for p in draft.phrasings
                                          for w in self.tokens(p)),
                       answer=" ".join(self.tokens(draft.answer)))


def quoted(word: str) -> str:
    """`word` as an FTS5 string (a phrase): nothing in it is read as syntax."""
    return '"' + word.replace('"', '""') + '"'


_lock = threading.Lock()
_current: Words | None = None
_configured = False


def problems(dictionary: Path = SHIPPED_DICTIONARY,
             synonyms: Path = SHIPPED_SYNONYMS) -> list[str]:
    """Every problem of the two files, one a line (`file:line: message`), without
    building the segmentation (for `hotline check`)."""
    try:
        load(dictionary, synonyms, build=False)
    except KbWordsInvalid as exc:
        return [str(p) for p in exc.problems]
    return []


def load(dictionary: Path = SHIPPED_DICTIONARY, synonyms: Path = SHIPPED_SYNONYMS, *,
         build: bool = True) -> Words:
    """A Words from the two files (KbWordsInvalid listing every problem of both);
    `build=False` only checks them (and returns a Words without their words)."""
    problems: list[str] = []
    terms: list[Term] = []
    groups: list[tuple[str, ...]] = []
    try:
        terms = read_dictionary(dictionary)
    except KbWordsInvalid as exc:
        problems += exc.problems
    try:
        groups = read_synonyms(synonyms)
    except KbWordsInvalid as exc:
        problems += exc.problems
    if problems:
        raise KbWordsInvalid(problems, dictionary=str(dictionary), synonyms=str(synonyms))
    return Words(terms, groups) if build else Words()


def configure(dictionary: Path = SHIPPED_DICTIONARY,
              synonyms: Path = SHIPPED_SYNONYMS) -> Words:
    """Load the tax terms' dictionary and the synonyms and use them from now on (about a
    second: jieba's dictionary is built). A broken file raises KbWordsInvalid and the
    words in use stay as they were."""
    global _current, _configured
    built = load(dictionary, synonyms)
    with _lock:
        _current, _configured = built, True
    return built


def ready() -> bool:
    """Whether `configure` has loaded the words (else the first use loads the shipped
    files)."""
    return _configured


def current() -> Words:
    """The words in use (the shipped files' if `configure` was not called)."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = load()
    return _current


def fingerprint() -> str:
    """What the index's words depend on; the index is stale when it changed."""
    return current().fingerprint


def words(text: str) -> list[str]:
    """The words of `text` that say something (search mode: 个人所得税 gives 个人, 所得,
    所得税, 个人所得税), without punctuation and stop words, a synonym as its group's
    first word (个人所得税 is 个税), in order, repeats kept."""
    return current().words(text)


def indexed(draft: Draft) -> Indexed:
    """A version's words for the index (every word: see the module's docstring)."""
    return current().indexed(draft)


def match(query: str) -> str:
    """The FTS5 query for what a person or a caller typed: any of its words, a synonym as
    its group's first word like the index (each quoted, so nothing typed is read as FTS5
    syntax); empty when nothing is left to look for."""
    return current().match(query)


async def reindex(store: KnowledgeBase, words: Words | None = None) -> int:
    """The whole index rebuilt from the live versions with `words` (default: the words in
    use), in one transaction; how many entries it holds. The segmentation runs in a
    thread (10,000 entries take seconds), so the loop keeps answering."""
    import asyncio

    use = words or current()
    live = [(e.id, v.draft) for e in await store.live() if (v := e.live_version) is not None]
    index = await asyncio.to_thread(lambda: {i: use.indexed(d) for i, d in live})
    await store.reindex(index)
    return len(index)


def _built_with(marker: Path) -> str:
    try:
        return marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


async def reindex_if_changed(store: KnowledgeBase, marker: Path,
                             words: Words | None = None) -> int | None:
    """At start: rebuild the index if the words changed since it was built (`marker`, a
    small file beside the ledger, holds the fingerprint of the words it was built with;
    no marker counts as changed); how many entries were indexed, or None if the index
    was current."""
    import asyncio

    use = words or current()
    if await asyncio.to_thread(_built_with, marker) == use.fingerprint:
        return None
    count = await reindex(store, use)
    await asyncio.to_thread(marker.write_text, use.fingerprint + "\n", encoding="utf-8")
    return count
