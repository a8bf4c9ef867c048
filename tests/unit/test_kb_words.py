"""The knowledge base's Chinese search words (hotline.features.kb.words): segmentation
with the tax terms' dictionary, synonyms, the query's precision, quoting, and the
kb-words-invalid error of a broken dictionary or synonyms file; and, on a real ledger
file, that callers' phrasings find the entry that answers them."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from hotline.app.settings import load_settings
from hotline.app.wiring import configure_kb_words, kb_words_paths
from hotline.common.errors import KbWordsInvalid
from hotline.core.kb import Draft
from hotline.features.kb import words as kb_words
from hotline.features.kb.words import (
    SHIPPED_DICTIONARY,
    SHIPPED_SYNONYMS,
    Words,
    load,
    parse_dictionary,
    read_dictionary,
    read_synonyms,
)
from hotline.ledger.kb import KnowledgeBase
from hotline.ledger.store import BEIJING, Ledger

AT = datetime(2026, 12, 3, 10, 0, tzinfo=BEIJING)


@pytest.fixture(scope="module")
def shipped() -> Words:
    return load()


def _terms(match: str) -> list[str]:
    """The words of an FTS5 query built by match()."""
    return [t.strip('"') for t in match.split(" OR ")] if match else []


# -- the shipped files ------------------------------------------------------------------


def test_the_shipped_files_load_and_are_big_enough(shipped: Words) -> None:
    """config/kb/tax_terms.txt has at least 300 terms and synonyms.yaml at least 50
    groups, and both load without a problem."""
    assert len(read_dictionary(SHIPPED_DICTIONARY)) >= 300
    assert len(read_synonyms(SHIPPED_SYNONYMS)) >= 50
    for term in ("个人所得税", "年度汇算清缴", "增值税专用发票", "数电发票", "全电发票",
                 "电子税务局", "社会保险费", "城乡居民医保", "契税", "房产税", "印花税",
                 "小规模纳税人", "一般纳税人", "留抵退税", "专项附加扣除", "红字发票"):
        assert term in shipped.terms, term
    for word, other in (("个税", "个人所得税"), ("社保费", "社会保险费"),
                        ("汇算", "年度汇算清缴"), ("专票", "增值税专用发票"),
                        ("普票", "增值税普通发票"), ("电子税务局", "网上税务局"),
                        ("个体户", "个体工商户")):
        assert other in shipped.synonyms[word], (word, other)


# -- segmentation and synonyms ----------------------------------------------------------


def test_tax_terms_are_kept_whole() -> None:
    """With the dictionary, 个税, 汇算, 专票 and 数电发票 are words (jieba alone cuts 个税
    into 个 and 税), and a long term also gives its shorter words and the terms inside it
    (增值税专用发票: 增值税, 专用发票)."""
    plain, terms = Words(), Words(read_dictionary(SHIPPED_DICTIONARY))
    assert "个税" not in plain.tokens("个税汇算怎么退税")
    assert terms.tokens("个税汇算怎么退税") == ["个税", "汇算", "怎么", "退税"]
    assert "数电发票" in terms.tokens("数电发票怎么红冲")
    assert "专票" in terms.tokens("专票丢了")
    long = terms.tokens("我要开增值税专用发票")
    for word in ("增值税专用发票", "增值税", "专用发票", "发票"):
        assert word in long
    assert terms.tokens("个人所得税")[-1] == "个人所得税"
    assert {"个人", "所得税"} <= set(terms.tokens("个人所得税"))


def test_the_dictionary_is_not_jiebas_global_one(shipped: Words) -> None:
    """Our terms go into our own Tokenizer: jieba's global dictionary does not learn 专票
    (other code using jieba cuts as before)."""
    import jieba

    jieba.dt.initialize()
    assert shipped.tokens("专票")[-1] == "专票"
    assert not jieba.dt.FREQ.get("专票")
    assert list(jieba.cut("专票", HMM=False)) == ["专", "票"]


def _found(words: Words, texts: list[str], query: str) -> list[int]:
    """Which of `texts` (indexed as entries' questions) the query matches, on a real
    FTS5 table like the ledger's."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(entry_id UNINDEXED, question, phrasings, "
               "answer, tokenize = 'unicode61')")
    for i, text in enumerate(texts):
        ix = words.indexed(Draft(text, "答", "答", "other"))
        db.execute("INSERT INTO f VALUES (?, ?, ?, ?)", (i, ix.question, ix.phrasings,
                                                         ix.answer))
    match = words.match(query)
    if not match:
        return []
    return sorted(int(i) for (i,) in db.execute("SELECT entry_id FROM f WHERE f MATCH ?",
                                               (match,)))


def test_a_synonym_finds_the_entries_that_say_another(shipped: Words) -> None:
    """个税汇算怎么退税 finds an entry that says 个人所得税年度汇算清缴; 专票 one that says
    增值税专用发票; 社保费 社会保险费; 个体户 个体工商户; 网上税务局 电子税务局 (each group is
    one word in the index and in the query)."""
    texts = ["个人所得税年度汇算清缴", "增值税专用发票", "社会保险费", "个体工商户", "电子税务局",
             "契税"]
    assert _found(shipped, texts, "个税汇算怎么退税") == [0]
    assert _found(shipped, texts, "专票") == [1]
    assert _found(shipped, texts, "灵活就业社保费") == [2]
    assert _found(shipped, texts, "个体户") == [3]
    assert _found(shipped, texts, "网上税务局登不上") == [4]
    spelled_out = _terms(shipped.match("个人所得税"))
    assert "个税" in spelled_out
    assert "个人所得税" not in spelled_out
    assert _found(Words(), texts, "专票") == []  # the plain segmentation does not


def test_query_expansion_is_the_other_way(shipped: Words) -> None:
    """With synonyms_at="query" the index keeps each spelling and a query looks for
    every word of its group (个税 OR 个人所得税)."""
    groups = [("个税", "个人所得税"), ("专票", "增值税专用发票", "专用发票")]
    query = Words(synonyms=groups, synonyms_at="query")
    assert {"个税", "个人所得税"} <= set(_terms(query.match("个税汇算")))
    assert "个人所得税" in query.tokens("个人所得税")
    index = Words(synonyms=groups)
    assert "个人所得税" not in index.tokens("个人所得税")
    assert _found(query, ["增值税专用发票", "契税"], "专票") == [0]
    with pytest.raises(ValueError, match="synonyms_at"):
        Words(synonyms_at="both")


def test_full_width_and_capitals_match_as_typed_otherwise() -> None:
    """Ｕｋｅｙ and UKEY are the same word as ukey; 税务UKEY is its synonym; １２３６６ is
    12366."""
    words = Words(synonyms=[("ukey", "税务ukey")])
    assert words.tokens("Ｕｋｅｙ") == words.tokens("UKEY") == ["ukey"]
    assert "ukey" in words.tokens("税务UKEY")
    assert words.tokens("１２３６６") == ["12366"]


# -- the query's precision --------------------------------------------------------------


def test_words_that_say_nothing_are_dropped_but_a_query_is_never_emptied(
        shipped: Words) -> None:
    """Stop words (请问, 我, 的, 怎么) leave the query; single Chinese characters that carry
    the question (丢, 补) and question words that tell the kind of answer (怎么办, 多少)
    stay; a query of stop words only still looks for them (the index keeps every word)."""
    terms = _terms(shipped.match("请问我的个税怎么交"))
    assert terms == ["个税", "缴纳"]  # 交: the callers' word for 缴纳
    assert "丢" in _terms(shipped.match("专票丢了怎么办"))
    assert "怎么办" in _terms(shipped.match("专票丢了怎么办"))
    assert "多少" in _terms(shipped.match("契税税率是多少"))
    assert "x" not in _terms(shipped.match("x 契税"))
    assert _terms(shipped.match("请问怎么")) == ["请问", "怎么"]
    assert _found(shipped, ["请问怎么", "契税"], "请问怎么") == [0]
    assert shipped.match("？！。") == ""
    assert shipped.match("") == ""
    assert "的" in shipped.indexed(Draft("个税的问题", "答", "答", "other")).question.split()


def test_a_pasted_essay_makes_a_bounded_query(shipped: Words) -> None:
    """Whatever is pasted, a query looks for at most MAX_QUERY_WORDS words (each with its
    synonyms) from its first MAX_QUERY_CHARS characters."""
    essay = "个人所得税年度汇算清缴的专项附加扣除子女教育赡养老人住房租金" * 200
    assert len(shipped.query_words(essay)) <= kb_words.MAX_QUERY_WORDS
    assert len(_terms(shipped.match(essay))) < 120


# -- nothing typed is FTS5 syntax -------------------------------------------------------


@pytest.mark.parametrize("typed", [
    '"', '""', '个税"', '"个税" OR "契税"', "个税 AND 契税", "个税 OR", "NOT 契税",
    "NEAR(个税 契税)", "NEAR", "个*", "*", "^个税", "^", "question:个税", "个税 -契税",
    "(个税", "个税)", "{question answer}: 个税", "个税 + 契税", "a'b", "\\", "\x00个税",
    "🙂发票", "AND OR NOT NEAR", "and", "個稅"])
def test_nothing_typed_is_fts5_syntax(shipped: Words, typed: str) -> None:
    """Quotes, AND/OR/NOT/NEAR, *, ^, columns and brackets in a query are words or
    nothing: the FTS5 query runs and finds only entries holding the words."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(entry_id UNINDEXED, question, phrasings, "
               "answer, tokenize = 'unicode61')")
    for i, (question, answer) in enumerate([("个税怎么交", "个人所得税"),
                                            ("契税怎么交", "买房的契税"),
                                            ("and or not near", "英文")]):
        ix = shipped.indexed(Draft(question, answer, answer, "other"))
        db.execute("INSERT INTO f VALUES (?, ?, ?, ?)", (str(i), ix.question, ix.phrasings,
                                                         ix.answer))
    match = shipped.match(typed)
    if not match:
        return
    found = db.execute("SELECT entry_id FROM f WHERE f MATCH ?", (match,)).fetchall()
    for (entry_id,) in found:
        row = db.execute("SELECT question || ' ' || answer FROM f WHERE entry_id = ?",
                         (entry_id,)).fetchone()[0]
        assert set(_terms(match)) & set(row.split()), (typed, match, row)


# -- bad files --------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_bad_synonyms_file_names_its_line(tmp_path: Path) -> None:
    """A word in two groups, an empty group, a group of one, a control character and a
    word with punctuation are each reported at their own line, all at once."""
    bad = _write(tmp_path / "synonyms.yaml", (
        "synonyms:\n"           # 1
        "  - [个税, 个人所得税]\n"  # 2
        "  - [社保费, 社会保险费]\n"  # 3
        "  - []\n"               # 4
        "  - [汇算]\n"            # 5
        "  - [专票, 个税]\n"        # 6
        '  - [普票, "普\\x07通发票"]\n'  # 7
        "  - [电子税务局, 电子-税务局]\n"  # 8
        "  - [契税, 契税]\n"))     # 9
    with pytest.raises(KbWordsInvalid) as caught:
        read_synonyms(bad)
    problems = [str(p) for p in caught.value.problems]
    assert caught.value.code == "kb-words-invalid"
    name = str(bad)
    assert any(p.startswith(f"{name}:4:") and "empty group" in p for p in problems)
    assert any(p.startswith(f"{name}:5:") and "one word" in p for p in problems)
    assert any(p.startswith(f"{name}:6:") and "'个税' is already in group 1 at line 2" in p
               for p in problems)
    assert any(p.startswith(f"{name}:7:") and "U+0007" in p for p in problems)
    assert any(p.startswith(f"{name}:8:") and "'-'" in p for p in problems)
    assert any(p.startswith(f"{name}:9:") and "twice in this group" in p for p in problems)
    assert len(problems) == 6


def test_a_synonyms_file_that_is_not_one_names_why(tmp_path: Path) -> None:
    """Broken YAML, a missing `synonyms` key, a group that is not a list, and a missing
    file are kb-words-invalid with the file and line."""
    cases = {"synonyms: [[个税, 个人所得税]\n": ":1:",
             "groups: []\n": "unknown key",
             "synonyms:\n  - 个税\n": ":2: synonyms[0]: a group must be a list"}
    for i, (text, expected) in enumerate(cases.items()):
        with pytest.raises(KbWordsInvalid) as caught:
            read_synonyms(_write(tmp_path / f"s{i}.yaml", text))
        assert expected in str(caught.value), (text, str(caught.value))
    with pytest.raises(KbWordsInvalid, match="cannot read the synonyms"):
        read_synonyms(tmp_path / "nope.yaml")


def test_a_bad_dictionary_names_its_line() -> None:
    """A repeated term, a term with punctuation, a bad frequency or tag and a control
    character are reported at their lines; comments and blank lines are fine."""
    text = ("# 注释\n\n个税\n专票 100 n\n个税\n增值税,专票\n汇算 0\n留抵退税 12 名词\n"
            "契\x1b税\n红字发票 3 n x\n")
    with pytest.raises(KbWordsInvalid) as caught:
        parse_dictionary(text, "tax_terms.txt")
    problems = [str(p) for p in caught.value.problems]
    assert problems[0].startswith("tax_terms.txt:5:")
    assert "already at line 3" in problems[0]
    assert [p.split(":")[1] for p in problems] == ["5", "6", "7", "8", "9", "10"]
    assert "','" in problems[1]
    assert "U+001B" in problems[4]
    good = parse_dictionary("# c\n个税\n专票 100 n\nUKey 5\n", "t.txt")
    assert [(t.word, t.freq, t.tag, t.line) for t in good] == [
        ("个税", None, None, 2), ("专票", 100, "n", 3), ("ukey", 5, None, 4)]


def test_a_dictionary_that_is_not_text_names_its_line(tmp_path: Path) -> None:
    """A dictionary that is not UTF-8 is refused at the line of the bad byte."""
    path = tmp_path / "terms.txt"
    path.write_bytes("个税\n专票\n".encode() + b"\xff\xfe\n")
    with pytest.raises(KbWordsInvalid, match=r"terms.txt:3: not UTF-8"):
        read_dictionary(path)


def test_configure_from_the_settings(tmp_path: Path) -> None:
    """configure_kb_words loads the files the settings name (relative to the config
    file); a broken one raises kb-words-invalid and the words in use stay as they were;
    without a config/kb/ folder beside the config file the shipped files are used."""
    config = tmp_path / "hotline.yaml"
    config.write_text("kb:\n  dictionary: terms.txt\n  synonyms: syn.yaml\n",
                      encoding="utf-8")
    _write(tmp_path / "terms.txt", "红冲发票\n")
    _write(tmp_path / "syn.yaml", "synonyms:\n  - [冲红, 红冲发票]\n")
    settings = load_settings(config, env={})
    words = configure_kb_words(settings)
    assert kb_words.ready()
    assert kb_words.current() is words
    assert "冲红" in _terms(kb_words.match("红冲发票"))
    assert kb_words.match("冲红") == '"冲红"'
    _write(tmp_path / "syn.yaml", "synonyms:\n  - [冲红, 红冲发票]\n  - [冲红, 红字]\n")
    with pytest.raises(KbWordsInvalid, match=r"syn\.yaml:3:"):
        configure_kb_words(settings)
    assert kb_words.current() is words
    bare = tmp_path / "elsewhere" / "hotline.yaml"
    bare.parent.mkdir()
    bare.write_text("log:\n  level: info\n", encoding="utf-8")
    assert kb_words_paths(load_settings(bare, env={})) == (SHIPPED_DICTIONARY,
                                                           SHIPPED_SYNONYMS)
    kb_words.configure()  # the shipped words again, for the tests after this one


def test_the_index_fingerprint_changes_with_what_the_index_depends_on() -> None:
    """The fingerprint (when it changes, the index must be rebuilt) changes with the
    dictionary's terms and with the synonym groups, not otherwise."""
    one = Words(parse_dictionary("个税\n", "t"), [("a1", "b1"), ("c1", "d1")])
    same = Words(parse_dictionary("# 注释\n个税\n", "t"), [("a1", "b1"), ("c1", "d1")])
    regrouped = Words(parse_dictionary("个税\n", "t"), [("a1", "c1"), ("b1", "d1")])
    more = Words(parse_dictionary("个税\n专票\n", "t"), [("a1", "b1"), ("c1", "d1")])
    assert one.fingerprint == same.fingerprint
    assert len({one.fingerprint, regrouped.fingerprint, more.fingerprint}) == 3


# -- on a real ledger -------------------------------------------------------------------


ENTRIES = [
    Draft("个人所得税年度汇算清缴怎么申请退税？",
          "登录个人所得税App，在“综合所得年度汇算”中填报，确认应退税额后提交退税申请。",
          "您可以在个人所得税App办理年度汇算并申请退税。", "individual_income_tax"),
    Draft("增值税专用发票丢失了怎么办？",
          "丢失已开具的增值税专用发票，可凭相应记账联复印件作为增值税进项税额的抵扣凭证。",
          "专用发票丢失可用记账联复印件抵扣。", "invoice"),
    Draft("灵活就业人员如何缴纳社会保险费？",
          "灵活就业人员可通过电子税务局或手机缴费渠道按年或按月缴纳基本养老保险费。",
          "可在电子税务局缴纳。", "social_insurance"),
    Draft("购买首套住房的契税税率是多少？",
          "个人购买家庭唯一住房，面积为90平方米及以下的，减按1%的税率征收契税。",
          "首套房契税按面积确定税率。", "property_and_land"),
    Draft("个体工商户可以自己开发票吗？",
          "个体工商户可以在电子税务局申领并开具发票，也可以到办税服务厅代开。",
          "个体工商户可以自行开具发票。", "invoice"),
    Draft("网上办税登录不了怎么办？",
          "请检查实名信息，或在电子税务局网站重置密码后再登录。",
          "请重置密码后再登录。", "other"),
]


@pytest.fixture
async def kb(tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        store = KnowledgeBase(ledger)
        kb_words.configure()
        for draft in ENTRIES:
            entry = await store.add(draft, actor="li", at=AT)
            await store.review(entry.id, 1, actor="wang", at=AT)
            await store.publish(entry.id, 1, kb_words.indexed(draft), actor="zhao", at=AT)
        yield store
    finally:
        await ledger.close()


@pytest.mark.parametrize(("asked", "answer"), [
    ("个税汇算怎么退税", 0),
    ("专票丢了", 1),
    ("社保费灵活就业怎么交", 2),
    ("首套房契税多少", 3),
    ("个体户能开票吗", 4),
    ("电子税务局登不上去", 5),
    ("请问个人所得税年度汇算清缴在哪里办", 0),
])
async def test_callers_words_find_the_entry_that_answers(kb: KnowledgeBase, asked: str,
                                                         answer: int) -> None:
    """On a real ledger with six published entries, the way a caller says it (个税,
    专票, 社保费, 个体户, 电子税务局 for 网上办税) ranks the entry that answers first."""
    hits = await kb.search(kb_words.match(asked))
    assert hits, asked
    assert hits[0].entry_id == f"KB-{answer + 1:05d}", (asked, kb_words.match(asked))


async def test_a_query_of_fts5_operators_finds_nothing_and_fails_nothing(
        kb: KnowledgeBase) -> None:
    """Typed FTS5 syntax neither errors nor matches everything on the real index."""
    for typed in ('" OR "', "* OR *", "NEAR(a b)", "-", "^*"):
        assert await kb.search(kb_words.match(typed)) == []
    hits = await kb.search(kb_words.match('"专票" AND "契税"'))
    assert {h.entry_id for h in hits} >= {"KB-00002", "KB-00004"}


def test_an_entry_is_indexed_under_every_field(shipped: Words) -> None:
    """indexed() cuts the question, each phrasing and the answer into words, a synonym
    as its group's first word, once where its spellings overlap (增值税专用发票 holds
    专用发票: one 专票)."""
    draft = replace(ENTRIES[1], phrasings=("专票找不到了",))
    ix = shipped.indexed(draft)
    assert ix.question.split().count("专票") == 1
    assert "增值税专用发票" not in ix.question.split()
    assert "专票" in ix.phrasings.split()
    assert "记账联" in ix.answer.split()
    assert ix.answer.split().count("进项税额") == 1


async def test_a_changed_dictionary_rebuilds_the_index_once(kb: KnowledgeBase,
                                                            tmp_path: Path) -> None:
    """reindex_if_changed rebuilds the index when the words' fingerprint differs from the
    marker's (a new synonym then finds the entry) and not again while it is the same."""
    marker = tmp_path / "ledger.kb-words"
    assert await kb_words.reindex_if_changed(kb, marker) == len(ENTRIES)
    assert await kb_words.reindex_if_changed(kb, marker) is None
    assert await kb.search(kb_words.match("jzl")) == []
    more = Words(read_dictionary(SHIPPED_DICTIONARY),
                 [*read_synonyms(SHIPPED_SYNONYMS), ("记账联", "jzl")])
    assert await kb_words.reindex_if_changed(kb, marker, more) == len(ENTRIES)
    hits = await kb.search(more.match("jzl"))
    assert [h.entry_id for h in hits] == ["KB-00002"]
    assert marker.read_text(encoding="utf-8").strip() == more.fingerprint


async def test_a_bad_synonyms_file_stops_the_service_start(tmp_path: Path) -> None:
    """The service refuses to start on a broken synonyms file (kb-words-invalid at its
    line) before it opens the ledger."""
    from hotline.app.service import Service
    from hotline.pbx.gateway import AmiGateway

    bad = _write(tmp_path / "synonyms.yaml", "synonyms:\n  - [个税]\n")
    ledger = tmp_path / "ledger.sqlite3"
    settings = load_settings(Path(__file__).resolve().parents[2] / "config" / "hotline.yaml",
                             {"HOTLINE_LEDGER_PATH": str(ledger),
                              "HOTLINE_KB_SYNONYMS": str(bad)})
    service = Service(settings, AmiGateway("127.0.0.1", 1, "nobody", "x"))
    with pytest.raises(KbWordsInvalid, match=r"synonyms\.yaml:2: .*a group of one word"):
        await service.run()
    assert not ledger.exists()
    kb_words.configure()  # the shipped words again, for the tests after this one
