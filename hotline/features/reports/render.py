"""The quarterly report as staff hand it in: HTML with charts (matplotlib, Chinese
labels), a print-ready PDF of it (WeasyPrint), CSV, XLSX or JSON, every format with the
same sections. Confidential callers never appear: the report has figures only."""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass
from typing import Any

from hotline.common import labels
from hotline.common.labels import Names
from hotline.core.kb import PROVINCE
from hotline.core.routing.config import SERVICE_LEVEL_SECONDS
from hotline.ledger.report import LEAST_HELPFUL_MIN, Report, days_of

OUTCOMES = {**labels.OUTCOMES, "-": labels.IN_PROGRESS}
CATEGORIES = {**labels.CATEGORIES, "-": labels.UNCATEGORISED}
# Fonts with Chinese glyphs, in order of preference (Debian: fonts-wqy-microhei).
CJK_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei",
             "DejaVu Sans"]


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


@dataclass(frozen=True)
class Section:
    """One table of the report: `key` is the JSON's (by_topic, by_queue ...), so every
    format carries the same sections."""

    key: str
    title: str
    header: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def sections(report: Report, names: Names | None = None) -> list[Section]:
    """Every breakdown of the report, with the Chinese names staff read (routing.yaml's
    for queues, seats and groups): the same for HTML, PDF, CSV and XLSX."""
    n = names or Names()
    orders = report.orders
    return [
        Section("by_category", "按业务类别", ("业务类别", "来电数"),
                [(n.category(k), v) for k, v in report.by_category.items()]),
        Section("by_topic", "按咨询主题", ("咨询主题", "来电数"),
                [(n.topic(k) or "未选择", v) for k, v in report.by_topic.items()]),
        Section("by_outcome", "按结果", ("结果", "来电数"),
                [(n.outcome(k), v) for k, v in report.by_outcome.items()]),
        Section("by_region", "按来电地区", ("地区", "来电数"),
                [("未知" if k == "-" else k, v) for k, v in report.by_region.items()]),
        Section("by_hour", "按时段", ("时段", "来电数"),
                [(f"{h:02d}:00", c) for h, c in sorted(report.by_hour.items())]),
        Section("by_day", "按日期", ("日期", "来电数", "转人工", "人工接通", "服务水平"),
                [(d, v["calls"], v["offered"], v["answered"],
                  pct(v["within"] / v["offered"] if v["offered"] else None))
                 for d, v in sorted(report.by_day.items())]),
        Section("by_queue", "各队列", ("队列", "转人工", "人工接通", "排队放弃", "接通率",
                                       "服务水平", "平均等待秒"),
                [(n.queue(r["queue"]), r["offered"], r["answered"], r["abandoned"],
                  pct(r["connection_rate"]),
                  pct(r["within"] / r["offered"] if r["offered"] else None),
                  dash(r["avg_wait"])) for r in report.by_queue]),
        Section("by_seat", "各座席", ("座席工号", "座席", "所属", "人工接通", "平均通话秒"),
                [(n.seat_id(r["seat"]), n.seat(r["seat"]), n.group(r["group"]) or "-",
                  r["answered"], dash(r["avg_talk"])) for r in report.by_seat]),
        Section("by_group", "中心与远程座席", ("所属", "人工接通", "平均通话秒"),
                [(n.group(r["group"]) or "-", r["answered"], dash(r["avg_talk"]))
                 for r in report.by_group]),
        Section("seat_moves", "远程座席迁入迁出", ("座席工号", "座席", "迁入", "迁出"),
                [(n.seat_id(r["seat"]), n.seat(r["seat"]), r["moved_in"], r["moved_out"])
                 for r in report.seat_moves]),
        Section("orders", "工单办理", ("工单", "件数"), [
            ("工单总数", orders.get("total", 0)), ("按期办结", orders.get("on_time", 0)),
            ("逾期办结", orders.get("overdue_done", 0)),
            ("逾期未办", orders.get("overdue_open", 0)), ("办理中", orders.get("open", 0))]),
        Section("kb_top", "最常用的知识条目", KB_HEADER,
                [_kb_row(r) for r in report.kb_top]),
        Section("kb_least", f"帮助最少的知识条目（答复满{LEAST_HELPFUL_MIN}次）", KB_HEADER,
                [_kb_row(r) for r in report.kb_least]),
        Section("kb_expiring", "下季度到期的知识条目",
                ("条目编号", "版本", "问题", "咨询主题", "适用范围", "有效期至"),
                [(r["entry_id"], r["version"], r["question"], n.topic(r["topic"]) or r["topic"],
                  "全省" if r["scope"] == PROVINCE else (n.group(r["scope"]) or r["scope"]),
                  dash(r["effective_until"])) for r in report.kb_expiring]),
        Section("quality", "答复质量（全热线）", QUALITY_HEADER,
                [_quality_row(report.quality["total"])] if report.quality.get("total")
                else []),
        Section("quality_by_seat", "答复质量（各座席）", ("座席工号", "座席", "所属",
                                                          *QUALITY_HEADER),
                [(n.seat_id(r["seat"]), n.seat(r["seat"]), n.group(r["group"]) or "-",
                  *_quality_row(r)) for r in report.quality.get("by_seat", [])]),
        Section("quality_by_group", "答复质量（中心与远程座席）", ("所属", *QUALITY_HEADER),
                [(n.group(r["group"]) or "-", *_quality_row(r))
                 for r in report.quality.get("by_group", [])]),
        Section("hot_topics", "集中咨询的热点难点问题",
                ("问题", "知识条目", "咨询次数", "座席台帐", "自助服务选择"),
                [(r["question"], r["entry_id"] or "无（待补充条目）", r["count"],
                  r["seat_entries"], r["self_service"]) for r in report.hot_topics]),
    ]


KB_HEADER = ("条目编号", "问题", "答复次数", "按已解决", "按转人工", "解决率")
QUALITY_HEADER = ("人工接通", "质检通话", "质检覆盖率", "平均得分率", "不足60分", "60-79分",
                  "80-89分", "90分以上", "不满意评价")


def score_pct(value: float | None) -> str:
    """A review percentage (0 to 100) as text: '85.0%'."""
    return "-" if value is None else f"{value:.1f}%"


def _quality_row(r: dict[str, Any]) -> tuple[Any, ...]:
    bands = r["bands"]
    return (r["answered"], r["reviewed"], pct(r["reviewed_share"]),
            score_pct(r["avg_percent"]), bands.get("<60", 0), bands.get("60-79", 0),
            bands.get("80-89", 0), bands.get(">=90", 0), r["unsatisfied"])


def _kb_row(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["entry_id"], r["question"] or "-", r["answers"], r["solved"], r["seat"],
            pct(r["solved_share"]))


def dash(value: Any) -> Any:
    return "-" if value is None else value


def to_json(report: Report, names: Names | None = None) -> str:
    """The figures with their codes (for scripts), and beside each queue, seat and group
    its Chinese name."""
    n = names or Names()
    data = report.as_dict()
    data["by_queue"] = [{**r, "queue_name": n.queue(r["queue"])} for r in report.by_queue]
    data["by_seat"] = [{**r, "seat_id": n.seat_id(r["seat"]), "seat_name": n.seat(r["seat"]),
                        "group_name": n.group(r["group"])} for r in report.by_seat]
    data["by_group"] = [{**r, "group_name": n.group(r["group"])} for r in report.by_group]
    # 答复质量: the line's figures, and per seat and per group (each a section)
    data["quality"] = report.quality.get("total", {})
    data["quality_by_seat"] = [
        {**r, "seat_id": n.seat_id(r["seat"]), "seat_name": n.seat(r["seat"]),
         "group_name": n.group(r["group"])} for r in report.quality.get("by_seat", [])]
    data["quality_by_group"] = [{**r, "group_name": n.group(r["group"])}
                                for r in report.quality.get("by_group", [])]
    data["seat_moves"] = [{**r, "seat_id": n.seat_id(r["seat"]),
                           "seat_name": n.seat(r["seat"])} for r in report.seat_moves]
    return json.dumps(data, ensure_ascii=False, indent=2)


def to_csv(report: Report, names: Names | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["指标", "数值"])
    for label, value in summary(report):
        writer.writerow([label, value])
    for section in sections(report, names):
        writer.writerow([])
        writer.writerow([section.title])
        writer.writerow(section.header)
        writer.writerows(section.rows)
    return out.getvalue()


def to_xlsx(report: Report, names: Names | None = None) -> bytes:
    """The report as a workbook: the summary and each section on a sheet of its own,
    counts and seconds as number cells, rates as percent cells."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "考核指标"
    sheet.append(["指标", "数值"])
    for label, value in summary(report, raw=True):
        sheet.append([label, value])
        if isinstance(value, float) and label in RATE_LABELS:
            sheet.cell(sheet.max_row, 2).number_format = "0.0%"
    sheet.column_dimensions["A"].width = 28
    for section in sections(report, names):
        page = book.create_sheet(section.title[:31])
        page.append(list(section.header))
        for row in section.rows:
            page.append([_number(v) for v in row])
            for column, value in enumerate(row, 1):
                if isinstance(value, str) and value.endswith("%"):
                    page.cell(page.max_row, column).number_format = "0.0%"
        page.column_dimensions["A"].width = 18
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _number(value: Any) -> Any:
    """'70.0%' -> 0.7 (a percent cell), '-' -> empty; other values as they are."""
    if isinstance(value, str):
        if value == "-":
            return None
        if value.endswith("%"):
            try:
                return float(value[:-1]) / 100
            except ValueError:
                return value
    return value


RATE_LABELS = frozenset({"接通率", f"服务水平（{SERVICE_LEVEL_SECONDS}秒内接通）", "放弃率",
                         "话务分流率", "智能咨询解决率", "质检覆盖率", "质检平均得分率"})


def summary(report: Report, *, raw: bool = False) -> list[tuple[str, Any]]:
    """The assessed figures (rates as text, '70.0%'; `raw`: as fractions, None unknown)."""
    orders = report.orders
    quality = report.quality.get("total", {})
    avg = quality.get("avg_percent")
    rate: Any = (lambda v: v) if raw else pct
    return [
        ("季度", report.quarter),
        ("来电总数", report.calls),
        ("转人工", report.offered),
        ("人工接通", report.answered),
        ("接通率", rate(report.connection_rate)),
        (f"服务水平（{SERVICE_LEVEL_SECONDS}秒内接通）", rate(report.service_level)),
        ("放弃率", rate(report.abandon_rate)),
        ("平均等待秒", report.avg_wait if raw or report.avg_wait is not None else "-"),
        ("平均通话秒", report.avg_talk if raw or report.avg_talk is not None else "-"),
        ("留言", report.voicemails),
        ("工单总数", orders.get("total", 0)),
        ("按期办结", orders.get("on_time", 0)),
        ("逾期办结", orders.get("overdue_done", 0)),
        ("逾期未办", orders.get("overdue_open", 0)),
        ("办理中", orders.get("open", 0)),
        ("远程座席迁入次数", sum(r["moved_in"] for r in report.seat_moves)),
        ("远程座席迁出次数", sum(r["moved_out"] for r in report.seat_moves)),
        ("自助服务来电", report.self_service_calls),
        ("话务分流（自助服务办结，未转人工）", report.diverted),
        ("话务分流率", rate(report.diversion_rate)),
        ("智能咨询答复次数", report.kb_answers),
        ("答复后按“已解决”", report.kb_solved),
        ("答复后按“转人工”", report.kb_to_seat),
        ("智能咨询解决率", rate(report.kb_solved_rate)),
        ("质检通话", quality.get("reviewed", 0)),
        ("质检覆盖率", rate(quality.get("reviewed_share"))),
        ("质检平均得分率", (None if avg is None else avg / 100) if raw else score_pct(avg)),
        ("不满意评价", quality.get("unsatisfied", 0)),
    ]


def _charts(report: Report) -> list[tuple[str, str]]:
    """(title, inline SVG) for each chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["font.sans-serif"] = CJK_FONTS
    matplotlib.rcParams["axes.unicode_minus"] = False
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text (searchable, small)
    charts = []

    def svg(fig: Any) -> str:
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight")
        plt.close(fig)
        text = buf.getvalue()
        return text[text.index("<svg"):]

    hours = list(range(24))
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(hours, [report.by_hour.get(h, 0) for h in hours], color="#3b6ea5")
    ax.set_xlabel("时段（点）")
    ax.set_ylabel("来电数")
    ax.set_xticks(hours)
    charts.append(("各时段来电量", svg(fig)))

    days = days_of(report)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(range(len(days)), [report.by_day.get(d, {}).get("calls", 0) for d in days],
            color="#3b6ea5", label="来电")
    ax.plot(range(len(days)), [report.by_day.get(d, {}).get("answered", 0) for d in days],
            color="#5a9e4b", label="人工接通")
    _day_ticks(ax, days)
    ax.set_ylabel("通数")
    ax.legend()
    charts.append(("每日来电与接通", svg(fig)))

    fig, ax = plt.subplots(figsize=(8, 3))
    levels = []
    for d in days:
        entry = report.by_day.get(d, {})
        offered = entry.get("offered", 0)
        levels.append(100 * entry.get("within", 0) / offered if offered else float("nan"))
    ax.plot(range(len(days)), levels, color="#c4632b", marker=".")
    ax.set_ylim(0, 100)
    ax.set_ylabel("服务水平（%）")
    _day_ticks(ax, days)
    charts.append(("服务水平趋势（20秒内接通）", svg(fig)))
    return charts


def _day_ticks(ax: Any, days: list[str]) -> None:
    step = max(1, len(days) // 8)
    ax.set_xticks(range(0, len(days), step))
    ax.set_xticklabels([d[5:] for d in days[::step]])
    ax.set_xlabel("日期")


PRINT_CSS = (
    "@page{size:A4;margin:18mm 15mm;@bottom-center{content:'第 ' counter(page) ' 页 / 共 '"
    " counter(pages) ' 页';font-size:9pt;color:#555}}"
    "body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;margin:2em}"
    "@media print{body{margin:0}}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;"
    "padding:4px 10px}th{background:#eef}h2{break-after:avoid}"
    "table,svg{break-inside:avoid}svg{max-width:100%;height:auto}"
)


def to_html(report: Report, names: Names | None = None, *, charts: bool = True) -> str:
    """The report as one HTML page (styles and SVG charts inside it), also the PDF's
    source: each section is a <section id=KEY> with the JSON's key."""
    e = html.escape

    def table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
        head = "".join(f"<th>{e(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>"
                       for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    parts = [
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>12366纳税服务热线运行情况 {e(report.quarter)}</title>",
        f"<style>{PRINT_CSS}</style></head><body>",
        f"<h1>12366纳税服务热线运行情况（{e(report.quarter)}）</h1>",
        f"<p>统计期间：{e(report.start[:10])} 至 {e(report.end[:10])}（不含）</p>",
        "<section id='summary'><h2>考核指标</h2>", table(("指标", "数值"), summary(report)),
        "</section>",
    ]
    if charts:
        for title, svg in _charts(report):
            parts += [f"<section class='chart'><h2>{e(title)}</h2>", svg, "</section>"]
    for section in sections(report, names):
        parts += [f"<section id='{section.key}'><h2>{e(section.title)}</h2>",
                  table(section.header, section.rows) if section.rows
                  else "<p>（无）</p>", "</section>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def to_pdf(report: Report, names: Names | None = None) -> bytes:
    """The HTML report as a print-ready A4 PDF (WeasyPrint: Pango lays out the Chinese
    text with the system's fonts, fonts-wqy-microhei; page numbers in the footer)."""
    return html_to_pdf(to_html(report, names))


def html_to_pdf(page: str) -> bytes:
    from weasyprint import HTML

    return bytes(HTML(string=page).write_pdf())


FORMATS = ("html", "pdf", "csv", "xlsx", "json")
MEDIA_TYPES = {"html": "text/html", "pdf": "application/pdf", "csv": "text/csv",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "json": "application/json"}


def render(report: Report, fmt: str, names: Names | None = None) -> str | bytes:
    """The report in `fmt` (one of FORMATS): text, or bytes for PDF and XLSX."""
    if fmt == "pdf":
        return to_pdf(report, names)
    if fmt == "xlsx":
        return to_xlsx(report, names)
    return {"json": to_json, "csv": to_csv, "html": to_html}[fmt](report, names)
