"""The ledger as staff hand it on: CSV or XLSX, one row per call, Chinese headers,
reporters and complainants masked. Rows are streamed from SQLite (XLSX in openpyxl's
write-only mode), so memory stays flat for any period."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hotline.common.privacy import mask_row
from hotline.ledger.store import COLUMNS, Ledger

HEADERS = {
    "linkedid": "来电编号", "caller_number": "来电号码", "caller_name": "来电姓名",
    "region": "来电地区", "started_at": "开始时间", "queued_at": "排队时间",
    "answered_at": "接通时间", "ended_at": "结束时间", "ivr_path": "语音路径",
    "digits": "按键", "category": "类别", "topic": "话题", "queue": "队列", "seat": "座席",
    "seat_group": "座席所属", "wait_seconds": "等待秒", "talk_seconds": "通话秒",
    "outcome": "结果", "referred_to": "转接号码", "voicemail_id": "留言编号",
}
FIELDS = [c for c in HEADERS if c in COLUMNS]


async def rows_between(ledger: Ledger, start: str, end: str) -> AsyncIterator[dict[str, Any]]:
    async with ledger.db.execute(
            f"SELECT {', '.join(FIELDS)} FROM calls WHERE started_at >= ? AND started_at < ? "
            "ORDER BY started_at, linkedid", (start, end)) as cur:
        async for row in cur:
            yield mask_row(dict(zip(FIELDS, row, strict=True)))


async def export(ledger: Ledger, start: str, end: str, target: Path, fmt: str) -> int:
    """Write the calls started in [start, end) to `target`; returns how many."""
    count = 0
    if fmt == "csv":
        with target.open("w", encoding="utf-8-sig", newline="") as fh:  # BOM: Excel reads it
            writer = csv.writer(fh)
            writer.writerow([HEADERS[f] for f in FIELDS])
            async for row in rows_between(ledger, start, end):
                writer.writerow(["" if row[f] is None else row[f] for f in FIELDS])
                count += 1
        return count
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("台帐")
    sheet.append([HEADERS[f] for f in FIELDS])
    async for row in rows_between(ledger, start, end):
        sheet.append([row[f] for f in FIELDS])
        count += 1
    book.save(target)
    return count
