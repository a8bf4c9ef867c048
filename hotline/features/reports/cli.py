"""`hotline report --quarter 2026Q4`: the quarterly figures as HTML, PDF, CSV, XLSX or
JSON."""

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
    write_bytes,
    write_out,
    write_text,
)
from hotline.features.errors import OutputBadExtension

if TYPE_CHECKING:
    from hotline.features.cli_support import Subparsers

REPORT_FORMATS = {".html": "html", ".htm": "html", ".csv": "csv", ".json": "json",
                  ".pdf": "pdf", ".xlsx": "xlsx"}
BINARY = frozenset({"pdf", "xlsx"})  # written to a file only, never to a terminal


def register(sub: Subparsers) -> None:
    report = sub.add_parser("report", help="the quarterly figures (接通率, work orders, ...)")
    report.add_argument("--quarter", required=True, type=a_quarter, help="e.g. 2026Q4")
    report.add_argument("--format", choices=["html", "pdf", "csv", "xlsx", "json"],
                        help="default: from the --output file's extension, else html")
    report.add_argument("--output", type=a_path, metavar="FILE",
                        help="write to FILE (default: stdout)")
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import utc_now
    from hotline.core.routing.config import staff_names
    from hotline.features.reports.render import render
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
    if target is None and fmt in BINARY:
        raise OutputBadExtension(f"--format {fmt} is a binary file: give --output "
                                 f"FILE.{fmt}")
    from hotline.features.accounts.identity import acting

    acting(ctx, "reports.read", "report")
    path = existing_ledger(ctx)

    from hotline.features.kb import words
    from hotline.features.kb.hot import fill_report

    words.configure(*ctx.kb_words_paths())  # the hot topics match with the configured words

    async def go() -> Any:
        async with await Ledger.open(path) as ledger:
            return await fill_report(ledger, await quarterly(ledger, args.quarter,
                                                             utc_now()))

    report = asyncio.run(go())
    data = render(report, fmt, staff_names(ctx.routing()))
    if target is not None:
        if isinstance(data, bytes):
            write_bytes(target, data)
        else:
            write_text(target, data)
        print(target)
    else:
        assert isinstance(data, str)
        write_out(data)
    return 0
