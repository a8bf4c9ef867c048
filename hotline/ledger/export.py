"""The ledger as staff hand it on: CSV or XLSX, one row per call with its 台帐 entry,
Chinese headers and the Chinese names staff read (category, topic, outcome, queue, seat
group: never an internal code), reporters and complainants masked (also when the seat
corrected the category to a tip-off or a complaint). In XLSX the times are date cells
(Beijing time) and the waits and talk number cells, each with its format. Rows are
streamed from SQLite (XLSX in openpyxl's write-only mode), so memory stays flat for any
period."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from hotline.common.labels import Names
from hotline.common.privacy import is_confidential, mask_number, mask_row
from hotline.ledger.store import Ledger

# (column, header): what each export column is, in order.
COLUMNS: list[tuple[str, str]] = [
    ("linkedid", "来电编号"), ("caller_number", "来电号码"), ("caller_name", "来电姓名"),
    ("region", "来电地区"), ("started_at", "开始时间"), ("category", "业务类别"),
    ("topic", "咨询主题"), ("ivr_path", "语音导航路径"), ("digits", "按键输入"),
    ("queue", "队列"), ("queued_at", "排队时间"), ("answered_at", "接通时间"),
    ("ended_at", "结束时间"), ("seat_id", "座席工号"), ("seat", "座席"),
    ("seat_group", "座席所属"), ("wait_seconds", "等待秒"), ("talk_seconds", "通话秒"),
    ("outcome", "结果"), ("referred_to", "转接号码"), ("voicemail_id", "留言编号"),
    ("question", "问题"), ("answer", "答复"), ("resolution", "办理方式"),
    ("department", "承办部门"), ("callback_number", "回访号码"),
]
HEADERS = dict(COLUMNS)
TIMES = frozenset({"started_at", "queued_at", "answered_at", "ended_at"})
SECONDS = frozenset({"wait_seconds", "talk_seconds"})
RESOLUTIONS = {"on_the_spot": "当场解答", "work_order": "转工单"}
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
SECONDS_FORMAT = "0.0"

_CALL_FIELDS = ("linkedid", "started_at", "caller_number", "caller_name", "region",
                "category", "topic", "ivr_path", "digits", "queue", "queued_at",
                "answered_at", "ended_at", "seat", "seat_group", "wait_seconds",
                "talk_seconds", "outcome", "referred_to", "voicemail_id")
_ENTRY_FIELDS = ("category", "topic", "question", "answer", "resolution", "department",
                 "callback_number")


async def rows_between(ledger: Ledger, start: str, end: str, *,
                       group: str | None = None) -> AsyncIterator[dict[str, Any]]:
    """The calls started in [start, end) with their saved entries, masked, as codes (the
    entry's category and topic, where the seat saved one, over the menu's); `group`: only
    the calls its seats answered (a city bureau's people see only theirs)."""
    fields = ", ".join(f"c.{f}" for f in _CALL_FIELDS)
    entry = ", ".join(f"e.{f}" for f in _ENTRY_FIELDS)
    where = "c.started_at >= ? AND c.started_at < ?"
    params: list[Any] = [start, end]
    if group is not None:
        where += " AND c.seat_group = ?"
        params.append(group)
    async with ledger.db.execute(
            f"SELECT {fields}, {entry} FROM calls c LEFT JOIN call_entries e ON "
            f"e.linkedid = c.linkedid AND e.saved_at IS NOT NULL WHERE {where} "
            "ORDER BY c.started_at, c.linkedid", params) as cur:
        async for raw in cur:
            row = dict(zip(_CALL_FIELDS, raw[:len(_CALL_FIELDS)], strict=True))
            saved = dict(zip(_ENTRY_FIELDS, raw[len(_CALL_FIELDS):], strict=True))
            yield masked_with_entry(row, saved)


def masked_with_entry(row: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """A call row with its entry's fields, masked like every listing: the caller's number
    and name and the callback number of a reporter's or complainant's call, by the menu's
    category or the one the seat saved."""
    confidential = is_confidential(row.get("category")) or is_confidential(
        saved.get("category"))
    out = {**row, **{k: v for k, v in saved.items() if k not in ("category", "topic")}}
    out["category"] = saved.get("category") or row.get("category")
    out["topic"] = saved.get("topic") or row.get("topic")
    if confidential:
        out = mask_row({**out, "category": "tip_off"}) | {"category": out["category"]}
        out["callback_number"] = mask_number(out.get("callback_number"))
        out["masked"] = True
    return out


def labelled(row: dict[str, Any], names: Names) -> dict[str, Any]:
    """The row as staff read it: every code as its Chinese name, the seat's id beside
    its name."""
    return {
        **row,
        "category": names.category(row.get("category")),
        "topic": names.topic(row.get("topic")),
        "outcome": names.outcome(row.get("outcome")),
        "queue": names.queue(row.get("queue")),
        "seat_id": names.seat_id(row.get("seat")),
        "seat": names.seat(row.get("seat")),
        "seat_group": names.group(row.get("seat_group")),
        "resolution": RESOLUTIONS.get(row.get("resolution") or "", row.get("resolution")),
        "ivr_path": " > ".join(str(row.get("ivr_path") or "").split(">")).strip(),
    }


def beijing(text: str | None) -> datetime | None:
    """A ledger time (ISO with +08:00) as the naive Beijing date and time an XLSX cell
    holds (a spreadsheet has no time zone)."""
    if not text:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=None)


async def export(ledger: Ledger, start: str, end: str, target: Path | IO[bytes], fmt: str,
                 names: Names | None = None, *, group: str | None = None) -> int:
    """Write the calls started in [start, end) to `target` (a path or a binary file);
    returns how many."""
    names = names or Names()
    if isinstance(target, Path):
        with target.open("wb") as fh:
            return await export(ledger, start, end, fh, fmt, names, group=group)
    rows = rows_between(ledger, start, end, group=group)
    if fmt == "csv":
        return await _csv(rows, target, names)
    return await _xlsx(rows, target, names)


async def _csv(rows: AsyncIterator[dict[str, Any]], target: IO[bytes], names: Names) -> int:
    count = 0
    # BOM: Excel reads it as UTF-8
    text = io.TextIOWrapper(target, encoding="utf-8-sig", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow([h for _, h in COLUMNS])
        async for row in rows:
            shown = labelled(row, names)
            writer.writerow(["" if shown.get(f) is None else shown[f] for f, _ in COLUMNS])
            count += 1
        text.flush()
    finally:
        text.detach()  # the caller's file stays open
    return count


async def _xlsx(rows: AsyncIterator[dict[str, Any]], target: IO[bytes], names: Names) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("台帐")
    widths = {f: 20 if f in TIMES else 14 for f, _ in COLUMNS}
    for i, (field, _) in enumerate(COLUMNS):
        sheet.column_dimensions[_column_letter(i)].width = widths[field]
    sheet.append([h for _, h in COLUMNS])
    kinds: dict[str, Callable[[Any], Any]] = {f: beijing for f in TIMES}
    count = 0
    async for row in rows:
        shown = labelled(row, names)
        cells = []
        for field, _ in COLUMNS:
            value = shown.get(field)
            value = kinds[field](value) if field in kinds else value
            cell = WriteOnlyCell(sheet, value=None if value == "" else value)
            if field in TIMES:
                cell.number_format = DATE_FORMAT
            elif field in SECONDS:
                cell.number_format = SECONDS_FORMAT
            cells.append(cell)
        sheet.append(cells)
        count += 1
    # Writing the zip (compressing every sheet) takes a while for a long period: off the
    # event loop, which serves the calls (the rows before it came one await at a time).
    await asyncio.to_thread(book.save, target)
    return count


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index + 1))
