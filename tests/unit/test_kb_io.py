"""Importing and exporting the knowledge base (hotline.features.kb.io and the desk's
import): every bad row named by its line, nothing half-imported, YAML and CSV round
trips (with or without a BOM), an id means a new version of that entry, and hostile
files (alias bombs, NUL, deep nesting, too big, too many rows) refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from hotline.features.kb import io as kbio
from hotline.features.kb.service import KbDesk
from hotline.ledger.errors import KbInvalid
from hotline.ledger.kb import KnowledgeBase
from hotline.ledger.store import Ledger
from tests.unit.test_kb_desk import EXPERT, HEFEI, LEADER, NOW, SEAT, TOPICS

GOOD = """\
entries:
  - question: 电子发票怎么开具？
    phrasings: [怎么开电子发票, 数电票如何开]
    answer: 登录电子税务局，进入“开票业务”。
    spoken: 您可以登录电子税务局开具电子发票。
    topic: invoice
    source_number: 国家税务总局公告2024年第1号
    source_date: 2024-01-05
    effective_from: 2024-02-01
    effective_until: 2027-12-31
  - question: 个税汇算什么时候办？
    answer: 每年3月1日至6月30日。
    spoken: 每年三月一日至六月三十日办理个税汇算。
    topic: individual_income_tax
    scope: hefei
    note: 合肥本地
"""


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[KbDesk]:
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        yield KbDesk(KnowledgeBase(ledger), TOPICS, {"hefei", "wuhu"}, lambda: NOW)
    finally:
        await ledger.close()


def refused(data: str | bytes, name: str = "faq.yaml") -> str:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(KbInvalid) as err:
        kbio.read(raw, name)
    return str(err.value)


async def test_yaml_import_round_trips(desk: KbDesk) -> None:
    """A YAML file imports as drafts with every field; its export imports again into the
    same texts, and the export names each entry's id, version and status."""
    ids = await desk.import_rows(SEAT, kbio.read(GOOD.encode(), "faq.yaml"), "faq.yaml")
    assert ids == ["KB-00001", "KB-00002"]
    first = (await desk.show(SEAT, "KB-00001")).latest
    assert (first.status, first.draft.phrasings, first.draft.source_date,
            first.draft.effective_until) == ("draft", ("怎么开电子发票", "数电票如何开"),
                                             date(2024, 1, 5), date(2027, 12, 31))
    out = kbio.to_yaml(kbio.chosen(await desk.listing(SEAT)))
    for written in ("id: KB-00001", "status: draft", "version: 1"):
        assert written in out
    rows = kbio.read(out.encode(), "export.yaml")
    assert [r.draft for r in rows] == [v.draft for v in kbio.chosen(await desk.listing(SEAT))]


async def test_csv_round_trips_with_or_without_a_bom(desk: KbDesk) -> None:
    """The CSV export (BOM, header, phrasings joined by |, a multi-line answer) reads
    back into the same drafts, also without its BOM."""
    answer = "第一步：登录电子税务局。\n第二步：进入“开票业务”，选择“蓝字发票开具”。"
    rows = kbio.read(GOOD.encode(), "faq.yaml")
    rows[0] = kbio.Row(rows[0].line, None, rows[0].draft.__class__(
        **{**rows[0].draft.__dict__, "answer": answer}))
    await desk.import_rows(SEAT, rows, "faq.yaml")
    versions = kbio.chosen(await desk.listing(SEAT))
    text = kbio.to_csv(versions)
    assert text.startswith("\ufeffquestion,phrasings,answer")
    assert "怎么开电子发票|数电票如何开" in text
    for data in (text.encode("utf-8"), text.lstrip("\ufeff").encode("utf-8")):
        back = kbio.read(data, "faq.csv")
        assert [r.draft for r in back] == [v.draft for v in versions]
        assert [r.entry_id for r in back] == ["KB-00001", "KB-00002"]


async def test_bad_rows_are_named_by_line_and_nothing_is_imported(desk: KbDesk) -> None:
    """A file with good rows and bad ones: every bad row is reported with its line and
    problem (a missing answer, a date that is no date, an unknown topic, another city's scope, an
    unknown id) and no row is stored."""
    text = GOOD + """\
  - question: 发票丢了怎么办
    spoken: 请登报声明。
    topic: invoice
  - question: 社保费怎么交
    answer: 通过电子税务局缴纳。
    spoken: 可通过电子税务局缴纳。
    topic: invoice
    effective_from: 明年春天
  - question: 关税
    answer: 不属本省受理。
    spoken: 请拨打海关热线。
    topic: tariff
  - question: 芜湖的发票
    answer: 芜湖本地。
    spoken: 芜湖本地。
    topic: invoice
    scope: wuhu
    id: KB-00077
"""
    rows = None
    with pytest.raises(KbInvalid) as err:
        rows = kbio.read(text.encode(), "faq.yaml")
    message = str(err.value)
    assert "faq.yaml:17: answer: missing" in message
    assert "faq.yaml:20: effective_from: '明年春天' is not a date" in message
    assert rows is None
    fixed = text.replace("    effective_from: 明年春天\n", "").replace(
        "    spoken: 请登报声明。\n", "    answer: 登报声明作废。\n    spoken: 请登报声明。\n")
    rows = kbio.read(fixed.encode(), "faq.yaml")
    with pytest.raises(KbInvalid) as err:
        await desk.import_rows(HEFEI, rows, "faq.yaml")
    message = str(err.value)
    assert message.startswith("nothing was imported: 5 bad row(s)")
    for line, what in ((2, "own city"), (25, "topic: 'tariff'"), (29, "no entry KB-00077"),
                       (17, "own city"), (21, "own city")):
        assert any(p.startswith(f"faq.yaml:{line}:") and what in p
                   for p in err.value.details["problems"]), (line, what, message)
    assert await desk.listing(SEAT) == []


async def test_an_id_imports_a_new_version_of_that_entry(desk: KbDesk) -> None:
    """A row with an entry's id is a new draft version of it; the published version stays
    live and its text readable."""
    await desk.import_rows(SEAT, kbio.read(GOOD.encode(), "faq.yaml"), "faq.yaml")
    await desk.review(EXPERT, "KB-00001")
    await desk.publish(LEADER, "KB-00001")
    again = GOOD.split("  - question: 个税")[0].replace(
        "topic: invoice", "topic: invoice\n    id: KB-00001").replace("进入“开票业务”",
                                                                   "进入“我要办税”")
    await desk.import_rows(SEAT, kbio.read(again.encode(), "v2.yaml"), "v2.yaml")
    entry = await desk.show(SEAT, "KB-00001")
    assert [(v.version, v.status) for v in entry.versions] == [(1, "published"), (2, "draft")]
    assert "开票业务" in entry.version(1).draft.answer
    assert "我要办税" in entry.version(2).draft.answer


def test_hostile_and_malformed_files_are_refused() -> None:
    """An alias bomb, a NUL, deep nesting, a file over 1 MiB, more than 5,000 rows, a CSV
    header without the required columns, a short CSV row and text that is not UTF-8 are
    each refused with the reason, before anything is stored."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)) + "entries: []\n"
    assert "alias" in refused(bomb).lower() or "expan" in refused(bomb).lower()
    assert "NUL" in refused("entries:\n  - question: a\x00b\n")
    assert "deep" in refused("entries: " + "[" * 200 + "]" * 200 + "\n")
    assert "at most 1 MiB" in refused(b"entries: []\n" + b"#" * (1024 * 1024 + 10))
    many = "entries:\n" + "  - {question: q, answer: a, spoken: s, topic: invoice}\n" * 5001
    assert "at most 5000" in refused(many)
    assert "missing column(s) answer" in refused("question,spoken,topic\nq,s,invoice\n",
                                                 "faq.csv")
    assert "faq.csv:3: 2 cells" in refused(
        "question,answer,spoken,topic\nq,a,s,invoice\nq,a\n", "faq.csv")
    assert "not UTF-8" in refused(b"question,answer\n\xff\xfe\n", "faq.csv")
    assert "NUL" in refused("question,answer,spoken,topic\nq\x00,a,s,invoice\n", "faq.csv")
    assert ".yaml, .yml or .csv" in refused("x", "faq.xlsx")
    assert "one key, entries" in refused("- question: q\n")
