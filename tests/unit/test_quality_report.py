"""答复质量 in the quarterly report, on a ledger whose reviews and ratings are known in
advance: the average review percentage and its distribution per seat and group, the
share of answered calls reviewed, and the calls rated unsatisfied; in the HTML, CSV and
JSON with routing.yaml's names."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from hotline.common.clock import CHINA
from hotline.core.quality import Plan
from hotline.features.quality.desk import QualityDesk
from hotline.features.reports.render import summary, to_csv, to_html, to_json
from hotline.ledger.report import quarterly
from hotline.ledger.store import Ledger
from tests.unit.test_quality_desk import LEADER, ROUTING, answered
from tests.unit.test_report import _names

A, B, C = "演示座席8001", "演示座席8002", "合肥远程座席8101"
DAY = datetime.combine(datetime(2026, 10, 13).date(), time(9), CHINA)  # 2026Q4
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def scores(percent: int) -> dict[str, float]:
    """Item scores adding up to `percent` of the 100-point form."""
    accuracy = min(40, percent)
    rest = percent - accuracy
    completeness = min(30, rest)
    rest -= completeness
    attitude = min(20, rest)
    return {"accuracy": accuracy, "completeness": completeness, "attitude": attitude,
            "language": rest - attitude}


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


async def seeded(ledger: Ledger) -> None:
    """A answers 10 calls (4 reviewed: 55, 70, 85, 95 %; 2 rated unsatisfied), B 5 (1
    reviewed: 90 %), C of Hefei 4 (none reviewed, 1 unsatisfied); one call of next
    quarter (reviewed, not counted)."""
    calls = [answered(f"A{n}", A, "centre", DAY + timedelta(minutes=n)) for n in range(10)]
    calls += [answered(f"B{n}", B, "centre", DAY + timedelta(minutes=n)) for n in range(5)]
    calls += [answered(f"C{n}", C, "hefei", DAY + timedelta(minutes=n)) for n in range(4)]
    calls.append(answered("later", A, "centre", datetime(2027, 1, 5, 1, tzinfo=UTC)))
    await ledger.upsert_calls(calls, NOW)
    async with ledger.transaction() as db:
        for linkedid in ("A1", "A2", "C3"):
            await db.execute("UPDATE calls SET rating = 'unsatisfied' WHERE linkedid = ?",
                             (linkedid,))
    desk = QualityDesk(ledger, Plan, lambda: ROUTING, lambda: NOW)
    for linkedid, percent in (("A0", 55), ("A1", 70), ("A2", 85), ("A3", 95), ("B0", 90),
                              ("later", 20)):
        await desk.pick(linkedid, LEADER)
        await desk.review(linkedid, LEADER, scores(percent), None)


async def test_answer_quality_per_seat_and_group(ledger: Ledger) -> None:
    """Per seat: A 4 of 10 reviewed (40 %), average 76.2 %, one review in each band, 2
    unsatisfied; B 1 of 5, 90 %; C none reviewed, average unknown, 1 unsatisfied. The
    centre adds A and B (5 of 15, 79 %); the line 5 of 19 reviewed and 3 unsatisfied;
    next quarter's review is not counted."""
    await seeded(ledger)
    report = await quarterly(ledger, "2026Q4", NOW)
    seats = {r["seat"]: r for r in report.quality["by_seat"]}
    assert (seats[A]["answered"], seats[A]["reviewed"], seats[A]["reviewed_share"]) == (
        10, 4, 0.4)
    assert seats[A]["avg_percent"] == 76.2
    assert seats[A]["bands"] == {"<60": 1, "60-79": 1, "80-89": 1, ">=90": 1}
    assert seats[A]["unsatisfied"] == 2
    assert (seats[B]["reviewed"], seats[B]["avg_percent"]) == (1, 90.0)
    assert (seats[C]["reviewed"], seats[C]["avg_percent"], seats[C]["unsatisfied"]) == (
        0, None, 1)
    groups = {r["group"]: r for r in report.quality["by_group"]}
    assert (groups["centre"]["answered"], groups["centre"]["reviewed"],
            groups["centre"]["avg_percent"]) == (15, 5, 79.0)
    assert groups["hefei"]["reviewed_share"] == 0.0
    total = report.quality["total"]
    assert (total["answered"], total["reviewed"], total["unsatisfied"]) == (19, 5, 3)
    shown = dict(summary(report))
    assert (shown["质检通话"], shown["质检覆盖率"], shown["质检平均得分率"],
            shown["不满意评价"]) == (5, "26.3%", "79.0%", 3)


async def test_answer_quality_in_the_report_formats(ledger: Ledger) -> None:
    """The HTML has the sections 答复质量（各座席） and （中心与远程座席） with the seats'
    and groups' Chinese names; the CSV has the seat's row; the JSON keeps the figures
    with each seat's id and name."""
    await seeded(ledger)
    report = await quarterly(ledger, "2026Q4", NOW)
    names = _names()
    page = to_html(report, names, charts=False)
    part = page.split("<section id='quality_by_seat'>")[1].split("</section>")[0]
    assert "答复质量（各座席）" in part
    assert "<td>8001</td>" in part
    assert "<td>76.2%</td>" in part
    groups = page.split("<section id='quality_by_group'>")[1].split("</section>")[0]
    assert "合肥市税务局" in groups
    assert "8001,演示座席8001,省局12366中心,10,4,40.0%,76.2%,1,1,1,1,2" in to_csv(report, names)
    data = json.loads(to_json(report, names))
    assert data["quality"]["reviewed"] == 5
    assert {r["seat_id"] for r in data["quality_by_seat"]} == {"8001", "8002", "8101"}
