"""The quarterly report on a generated data set whose answers are known in advance."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.common.labels import Names
from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome
from hotline.features.reports.render import to_csv, to_html
from hotline.ledger.region import region_of
from hotline.ledger.report import Report, quarter_bounds, quarterly
from hotline.ledger.store import Ledger, iso

Q4 = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)  # 09:00 Beijing, inside 2026Q4
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def call(i: int, **kw: object) -> Call:
    base = Call(f"L{i}", "c", f"L{i}", "13955112345", None, CallState.ENDED,
                Q4 + timedelta(minutes=i), ended_at=Q4 + timedelta(minutes=i, seconds=30),
                end_reason=EndReason.HANGUP, outcome=Outcome.ENDED_IN_IVR,
                region="安徽省合肥市")
    return replace(base, **kw)  # type: ignore[arg-type]


def answered(i: int, wait: float, seat: str, group: str, talk: float = 60.0) -> Call:
    return call(i, queue="center", answered_at=Q4 + timedelta(minutes=i, seconds=wait),
                wait_seconds=wait, talk_seconds=talk, seat=seat, seat_group=group,
                outcome=Outcome.ANSWERED, category="consultation")


async def seeded(tmp_path: Path) -> Report:
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    calls = [
        # 10 offered to seats: 7 answered (5 within 20 s), 2 abandoned, 1 unanswered.
        answered(1, 5, "座席A", "centre"), answered(2, 10, "座席A", "centre"),
        answered(3, 15, "座席B", "centre"), answered(4, 19, "座席B", "centre"),
        answered(5, 20, "远程C", "hefei", talk=120.0),
        answered(6, 45, "远程C", "hefei", talk=120.0), answered(7, 90, "座席A", "centre"),
        call(8, queue="center", wait_seconds=30.0, outcome=Outcome.ABANDONED,
             category="tip_off"),
        call(9, queue="center", wait_seconds=40.0, outcome=Outcome.ABANDONED,
             category="complaint"),
        call(10, queue="center", wait_seconds=300.0, outcome=Outcome.UNANSWERED),
        # 3 never left the IVR, one from Shanghai; 1 in the next quarter (not counted).
        call(11), call(12), call(13, region="上海市"),
        call(14, started_at=datetime(2027, 1, 2, tzinfo=UTC)),
    ]
    await ledger.upsert_calls(calls, NOW)
    async with ledger.transaction() as db:
        for seat, event in (("远程C", "move_in"), ("远程C", "move_out"), ("远程D", "move_in")):
            await db.execute("INSERT INTO seat_events (seat, at, event, actor) VALUES "
                             "(?, ?, ?, 'test')", (seat, iso(Q4), event))
        due = iso(Q4 + timedelta(days=1))
        for source, done in (("a", Q4 + timedelta(hours=2)), ("b", Q4 + timedelta(days=3)),
                             ("c", None)):
            await db.execute(
                "INSERT INTO work_orders (kind, source, created_at, due_at, status, "
                "answered_at) VALUES ('voicemail', ?, ?, ?, ?, ?)",
                (source, iso(Q4), due, "answered" if done else "open", iso(done)))
    report = await quarterly(ledger, "2026Q4", NOW)
    await ledger.close()
    return report


async def test_the_figures_the_bureau_is_assessed_on(tmp_path: Path) -> None:
    """The quarterly report computes 接通率, service level, abandon rate, waits, talk and the
    breakdowns from the ledger."""
    r = await seeded(tmp_path)
    assert (r.calls, r.offered, r.answered, r.abandoned) == (13, 10, 7, 2)
    assert r.connection_rate == pytest.approx(0.7)
    assert r.service_level == pytest.approx(0.5)  # waits 5, 10, 15, 19, 20 of 10 offered
    assert r.abandon_rate == pytest.approx(0.2)
    assert r.avg_wait == pytest.approx(round((5 + 10 + 15 + 19 + 20 + 45 + 90 + 30 + 40
                                              + 300) / 10, 1))
    assert r.avg_talk == pytest.approx(round((60 * 5 + 120 * 2) / 7, 1))
    assert r.by_category == {"consultation": 7, "-": 4, "complaint": 1, "tip_off": 1}
    assert r.by_region == {"安徽省合肥市": 12, "上海市": 1}
    assert r.by_hour == {9: 13}
    assert r.by_group == [{"group": "centre", "answered": 5, "avg_talk": 60.0},
                          {"group": "hefei", "answered": 2, "avg_talk": 120.0}]
    assert r.seat_moves == [{"seat": "远程C", "moved_in": 1, "moved_out": 1},
                            {"seat": "远程D", "moved_in": 1, "moved_out": 0}]
    assert r.orders == {"total": 3, "on_time": 1, "overdue_done": 1, "overdue_open": 1,
                        "open": 0}


async def test_csv_and_html_carry_the_figures_with_chinese_labels(tmp_path: Path) -> None:
    """The CSV and HTML reports carry the figures with Chinese labels and charts, and no
    caller's number."""
    r = await seeded(tmp_path)
    text = to_csv(r)
    assert "接通率,70.0%" in text
    assert "服务水平（20秒内接通）,50.0%" in text
    assert "远程座席迁入次数,2" in text
    page = to_html(r)
    assert "12366纳税服务热线运行情况（2026Q4）" in page
    assert page.count("<svg") == 3  # calls per hour and day, service level trend
    assert "各时段来电量" in page
    assert "13955112345" not in page  # figures only: no caller appears


def test_quarter_bounds_and_bad_quarters() -> None:
    """A quarter spans Beijing-time days from its first to the next quarter's; a bad quarter
    is refused."""
    start, end = quarter_bounds("2026q4")
    assert (start.isoformat(), end.isoformat()) == ("2026-10-01T00:00:00+08:00",
                                                    "2027-01-01T00:00:00+08:00")
    with pytest.raises(ValueError, match="not a quarter"):
        quarter_bounds("2026Q5")


def test_region_from_the_number() -> None:
    """The region is found from a mobile or fixed-line number, none from anything else."""
    assert region_of("13955112345") == "安徽省合肥市"
    assert region_of("02112345678") == "上海市"
    assert region_of("abc") is None
    assert region_of(None) is None


def test_asterisk_and_the_report_count_the_same_service_level() -> None:
    """queues.conf's servicelevel and the report's threshold are the same number of
    seconds."""
    from hotline.core.routing.config import QueueDef, RoutingConfig
    from hotline.ledger.report import SERVICE_LEVEL_SECONDS
    from hotline.pbx.queues_conf import render_queues

    text = render_queues(RoutingConfig({"q": QueueDef("q", "队列")}, {}, {}))
    assert f"servicelevel = {SERVICE_LEVEL_SECONDS}" in text


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF, by poppler-utils' pdftotext (a Debian package of the tests)."""
    import shutil
    import subprocess

    tool = shutil.which("pdftotext")
    assert tool is not None, "poppler-utils is missing: make system-deps"
    return subprocess.run([tool, "-layout", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def _names() -> Names:
    """The sandbox's routing.yaml's names, and the seeded seats' groups."""
    from hotline.common.yamlsrc import load_file
    from hotline.core.routing.config import parse_routing, staff_names

    return staff_names(parse_routing(load_file(Path(__file__).parents[2] / "config"
                                               / "routing.yaml")))


async def test_every_section_of_the_json_is_in_the_html_csv_and_xlsx(tmp_path: Path) -> None:
    """Each breakdown the JSON has (by topic, outcome, queue, seat, group, ...) is a
    section of the HTML (with the JSON's key as its id), of the CSV (its title) and a
    sheet of the XLSX; in them queues and groups read as routing.yaml's Chinese names,
    never as their codes."""
    import io
    import json
    import re

    from openpyxl import load_workbook

    from hotline.features.reports.render import sections, to_json, to_xlsx

    r = await seeded(tmp_path)
    names = _names()
    data = json.loads(to_json(r, names))
    keys = {k for k, v in data.items() if isinstance(v, dict | list)}
    assert keys == {s.key for s in sections(r, names)}
    page = to_html(r, names, charts=False)
    text = to_csv(r, names)
    book = load_workbook(io.BytesIO(to_xlsx(r, names)))
    for section in sections(r, names):
        assert f"<section id='{section.key}'>" in page
        assert f"\n{section.title}" in text
        assert section.title in book.sheetnames
    queue_html = page.split("<section id='by_queue'>")[1].split("</section>")[0]
    assert "综合咨询" in queue_html
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert {"centre", "hefei", "center", "consultation", "answered"}.isdisjoint(cells)
    assert {"省局12366中心", "合肥市税务局", "税务咨询", "已接通"} <= set(cells)
    assert data["by_queue"][0] == {"queue": "center", "offered": 10, "answered": 7,
                                   "abandoned": 2, "within": 5, "connection_rate": 0.7,
                                   "avg_wait": 57.4, "queue_name": "综合咨询"}
    rates = book["各队列"]
    assert rates.cell(2, 5).value == pytest.approx(0.7)
    assert rates.cell(2, 5).number_format == "0.0%"


async def test_the_pdf_is_the_html_report_printed(tmp_path: Path) -> None:
    """to_pdf makes an A4 PDF (WeasyPrint) whose text has the report's Chinese title,
    the assessed figures and the section titles (read back by pdftotext)."""
    from hotline.features.reports.render import to_pdf

    r = await seeded(tmp_path)
    pdf = to_pdf(r, _names())
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for words in ("12366纳税服务热线运行情况（2026Q4）", "接通率", "70.0%", "各队列",
                  "综合咨询", "远程座席迁入迁出", "答复质量（各座席）", "第1页/共6页"):
        assert words in text, words
    assert "13955112345" not in text


def test_the_report_command_writes_a_pdf_and_refuses_one_to_the_terminal(
        tmp_path: Path) -> None:
    """`hotline report --output FILE.pdf` writes the PDF; `--format pdf` without
    --output is refused in one line (a PDF is no terminal's text)."""
    import asyncio

    from tests.cli import hotline

    path = tmp_path / "ledger.sqlite3"

    asyncio.run(seeded(tmp_path))
    env = {"HOTLINE_LEDGER_PATH": str(path)}
    out = tmp_path / "q4.pdf"
    res = hotline("report", "--quarter", "2026Q4", "--output", str(out), env=env)
    assert res.returncode == 0, res.stderr
    assert out.read_bytes().startswith(b"%PDF")
    res = hotline("report", "--quarter", "2026Q4", "--format", "pdf", env=env)
    assert res.returncode != 0
    assert "give --output" in res.stderr
