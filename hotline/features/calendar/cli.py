"""`hotline calendar`: working days and hours, and why (weekend, holiday, 调休, override)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hotline.common.errors import BadDates
from hotline.features.cli_support import Context, a_date, a_text

if TYPE_CHECKING:
    from hotline.features.cli_support import Subparsers


def register(sub: Subparsers) -> None:
    calendar = sub.add_parser("calendar", help="working days and hours, and why")
    calendar.add_argument("--from", dest="start", type=a_date, metavar="DATE")
    calendar.add_argument("--to", dest="end", type=a_date, metavar="DATE")
    calendar.add_argument("--queue", type=a_text, help="the hours of this queue")
    calendar.add_argument("--json", action="store_true")
    calendar.set_defaults(handler=cmd_calendar)


def cmd_calendar(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import CHINA

    calendar = ctx.calendar()
    today = datetime.now(CHINA).date()
    start = args.start or today
    end = args.end or (start + timedelta(days=13))
    if end < start:
        raise BadDates([f"--to {end} is before --from {start}"])
    if (end - start).days > 3660:
        raise BadDates(["at most ten years at once"])
    days = list(calendar.days(start, end, args.queue))
    if args.json:
        print(json.dumps([{
            "date": d.day.isoformat(), "working": d.working, "reason": d.reason,
            "name": d.name, "label": d.label, "source": d.source,
            "hours": [f"{a:%H:%M}-{b:%H:%M}" for a, b in d.hours]} for d in days],
            ensure_ascii=False))
    else:
        weekdays = "一二三四五六日"
        for d in days:
            hours = " ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in d.hours) or "-"
            mark = "上班" if d.working else "休息"
            print(f"{d.day.isoformat()} 周{weekdays[d.day.weekday()]}  {mark}  {hours:23} "
                  f"{d.label}")
    # On stderr, with --json too: stdout stays clean JSON and the warning is not lost.
    missing = calendar.missing_years(range(start.year, end.year + 1))
    for year in missing:
        print(f"注意：{year}年尚无官方节假日安排，按周一至周五推定，请在 config/calendar.yaml "
              f"中补充 years.{year}", file=sys.stderr)
    return 0
