"""`hotline report --quarter 2026Q4`: the quarterly figures as HTML, CSV or JSON."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from hotline.common.errors import BadQuarter
from hotline.features.cli_support import (
    Context,
    a_path,
    a_quarter,
    existing_ledger,
    output_file,
    output_format,
    write_out,
    write_text,
)

if TYPE_CHECKING:
    from hotline.features.cli_support import Subparsers

REPORT_FORMATS = {".html": "html", ".htm": "html", ".csv": "csv", ".json": "json"}


def register(sub: Subparsers) -> None:
    report = sub.add_parser("report", help="the quarterly figures (接通率, work orders, ...)")
    report.add_argument("--quarter", required=True, type=a_quarter, help="e.g. 2026Q4")
    report.add_argument("--format", choices=["html", "csv", "json"],
                        help="default: from the --output file's extension, else html")
    report.add_argument("--output", type=a_path, metavar="FILE",
                        help="write to FILE (default: stdout)")
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import utc_now
    from hotline.features.reports.render import to_csv, to_html, to_json
    from hotline.ledger.report import quarter_bounds, quarterly
    from hotline.ledger.store import Ledger

    try:
        quarter_bounds(args.quarter)
    except ValueError as exc:
        raise BadQuarter([f"--quarter: {exc}"]) from None
    # A bad --output is refused before the report is computed.
    target = None if args.output is None else output_file(args.output)
    fmt = (args.format or "html") if target is None else output_format(
        target, args.format, REPORT_FORMATS)
    from hotline.features.accounts.identity import acting

    acting(ctx, "reports.read", "report")
    path = existing_ledger(ctx)

    async def go() -> Any:
        async with await Ledger.open(path) as ledger:
            return await quarterly(ledger, args.quarter, utc_now())

    report = asyncio.run(go())
    text = {"json": to_json, "csv": to_csv, "html": to_html}[fmt](report)
    if target is not None:
        write_text(target, text)
        print(target)
    else:
        write_out(text)
    return 0
