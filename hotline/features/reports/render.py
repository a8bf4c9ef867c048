"""The quarterly report as staff hand it in: HTML with charts (matplotlib, Chinese
labels), CSV, or JSON. Confidential callers never appear: the report has figures only."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from hotline.common import labels
from hotline.core.routing.config import SERVICE_LEVEL_SECONDS
from hotline.ledger.report import Report, days_of

OUTCOMES = {**labels.OUTCOMES, "-": labels.IN_PROGRESS}
CATEGORIES = {**labels.CATEGORIES, "-": labels.UNCATEGORISED}
# Fonts with Chinese glyphs, in order of preference (Debian: fonts-wqy-microhei).
CJK_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei",
             "DejaVu Sans"]


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["指标", "数值"])
    for label, value in summary(report):
        writer.writerow([label, value])
    for title, mapping in (("按类别", report.by_category), ("按话题", report.by_topic),
                           ("按地区", report.by_region), ("按结果", report.by_outcome)):
        writer.writerow([])
        writer.writerow([title, "来电数"])
        for key, count in mapping.items():
            writer.writerow([CATEGORIES.get(key, OUTCOMES.get(key, key)), count])
    writer.writerow([])
    writer.writerow(["时段", "来电数"])
    for hour, count in sorted(report.by_hour.items()):
        writer.writerow([f"{hour:02d}:00", count])
    writer.writerow([])
    writer.writerow(["座席", "所属", "接通", "平均通话秒"])
    for row in report.by_seat:
        writer.writerow([row["seat"], row["group"], row["answered"], row["avg_talk"]])
    writer.writerow([])
    writer.writerow(["远程座席", "迁入", "迁出"])
    for row in report.seat_moves:
        writer.writerow([row["seat"], row["moved_in"], row["moved_out"]])
    return out.getvalue()


def summary(report: Report) -> list[tuple[str, Any]]:
    orders = report.orders
    return [
        ("季度", report.quarter),
        ("来电总数", report.calls),
        ("转人工", report.offered),
        ("人工接通", report.answered),
        ("接通率", pct(report.connection_rate)),
        (f"服务水平（{SERVICE_LEVEL_SECONDS}秒内接通）", pct(report.service_level)),
        ("放弃率", pct(report.abandon_rate)),
        ("平均等待秒", report.avg_wait if report.avg_wait is not None else "-"),
        ("平均通话秒", report.avg_talk if report.avg_talk is not None else "-"),
        ("留言", report.voicemails),
        ("工单总数", orders.get("total", 0)),
        ("按期办结", orders.get("on_time", 0)),
        ("逾期办结", orders.get("overdue_done", 0)),
        ("逾期未办", orders.get("overdue_open", 0)),
        ("办理中", orders.get("open", 0)),
        ("远程座席迁入次数", sum(r["moved_in"] for r in report.seat_moves)),
        ("远程座席迁出次数", sum(r["moved_out"] for r in report.seat_moves)),
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


def to_html(report: Report) -> str:
    e = html.escape

    def table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
        head = "".join(f"<th>{e(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>"
                       for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    parts = [
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>12366纳税服务热线运行情况 {e(report.quarter)}</title>",
        "<style>body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;"
        "margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;"
        "padding:4px 10px}th{background:#eef}</style></head><body>",
        f"<h1>12366纳税服务热线运行情况（{e(report.quarter)}）</h1>",
        f"<p>统计期间：{e(report.start[:10])} 至 {e(report.end[:10])}（不含）</p>",
        "<h2>考核指标</h2>", table(("指标", "数值"), summary(report)),
    ]
    for title, svg in _charts(report):
        parts += [f"<h2>{e(title)}</h2>", svg]
    parts += [
        "<h2>按类别</h2>", table(("类别", "来电数"), [
            (CATEGORIES.get(k, k), v) for k, v in report.by_category.items()]),
        "<h2>按地区</h2>", table(("地区", "来电数"), list(report.by_region.items())),
        "<h2>座席接通情况</h2>", table(("座席", "所属", "接通", "平均通话秒"), [
            (r["seat"], r["group"], r["answered"], r["avg_talk"]) for r in report.by_seat]),
        "<h2>中心与远程座席</h2>", table(("所属", "接通", "平均通话秒"), [
            (r["group"], r["answered"], r["avg_talk"]) for r in report.by_group]),
        "<h2>远程座席迁入迁出</h2>", table(("座席", "迁入", "迁出"), [
            (r["seat"], r["moved_in"], r["moved_out"]) for r in report.seat_moves]),
        "</body></html>",
    ]
    return "\n".join(parts)
