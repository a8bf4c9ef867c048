"""`hotline call` (a real test call) and `hotline ledger list|show|export` (the 台帐)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from hotline.common.errors import BadDates
from hotline.common.labels import IN_PROGRESS, OUTCOMES
from hotline.features.calls.errors import ExportTargetExists
from hotline.features.cli_support import (
    Context,
    a_date,
    a_limit,
    a_path,
    a_text,
    existing_ledger,
    extension,
    num,
    output_file,
    output_format,
    print_table,
    seconds,
    with_gateway,
)
from hotline.features.errors import OutputUnwritable

if TYPE_CHECKING:
    from hotline.features.cli_support import Subparsers
    from hotline.ledger.store import CallRow


def register(sub: Subparsers) -> None:
    call = sub.add_parser("call", help="place a real test call to 12366 and press keys")
    call.add_argument("number", type=a_text, help="the caller's number, e.g. 13955112345")
    call.add_argument("--name", type=a_text, help="the caller's name (CallerID name)")
    call.add_argument("--keys", default="", type=a_text,
                      help='keys to press as the IVR asks, e.g. "1 2 #"; h hangs up')
    call.add_argument("--to", default="12366", type=extension,
                      help="the number dialed (default 12366)")
    call.add_argument("--rush", action="store_true",
                      help="press each key at once, without waiting for the IVR to listen")
    call.add_argument("--hangup-when-queued", action="store_true",
                      help="hang up as soon as the call is queued (an abandoned call)")
    call.add_argument("--timeout", type=seconds, default=120,
                      help="seconds to wait for the call to end (default 120)")
    call.add_argument("--json", action="store_true")
    call.set_defaults(handler=cmd_call)

    ledger = sub.add_parser("ledger", help="the call ledger (台帐)")
    lsub = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    llist = lsub.add_parser("list", help="the latest calls")
    llist.add_argument("--limit", type=a_limit, default=20)
    llist.add_argument("--json", action="store_true")
    llist.set_defaults(handler=cmd_ledger_list)
    lshow = lsub.add_parser("show", help="one call (audited)")
    lshow.add_argument("linkedid", type=a_text)
    lshow.add_argument("--unmask", action="store_true",
                       help="a reporter's number (ledger.unmask_users only; audited)")
    lshow.add_argument("--reason", type=a_text,
                       help="why the record is unmasked (kept in the audit trail)")
    lshow.add_argument("--json", action="store_true")
    lshow.set_defaults(handler=cmd_ledger_show)
    lexport = lsub.add_parser("export", help="calls of a period as CSV or XLSX (masked)")
    lexport.add_argument("--from", dest="start", type=a_date, required=True, metavar="DATE")
    lexport.add_argument("--to", dest="end", type=a_date, required=True, metavar="DATE")
    lexport.add_argument("--output", required=True, type=a_path, metavar="FILE",
                         help="FILE.csv or .xlsx")
    lexport.add_argument("--format", choices=["csv", "xlsx"],
                         help="default: from the file's extension")
    lexport.set_defaults(handler=cmd_ledger_export)


# -- hotline call ---------------------------------------------------------------------------


def cmd_call(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.features.calls.testcall import (
        TestCall,
        check_number,
        describe_unfinished,
        parse_keys,
        place_call,
        wait_for_ledger_row,
    )
    from hotline.ledger.access import masked_call

    call = TestCall(check_number(args.number), args.name, parse_keys(args.keys or ""),
                    hangup_when_queued=args.hangup_when_queued, extension=args.to,
                    rush=args.rush)

    async def go(gateway: Any) -> CallRow | None:
        try:
            await place_call(gateway, call, timeout=args.timeout)
        except TimeoutError:
            return None
        return await wait_for_ledger_row(ctx.ledger_path, call.linkedid)

    row = asyncio.run(with_gateway(ctx, go))
    if row is None:
        # AMI was reached (with_gateway says so otherwise): the call itself went on.
        print(f"hotline: [test-call-timeout] {describe_unfinished(call, args.timeout)}",
              file=sys.stderr)
        return 1
    # Whoever runs a test call sees the ledger as every listing shows it: a reporter's
    # number and name masked.
    shown = masked_call(row.as_dict())
    if args.json:
        print(json.dumps({"linkedid": call.linkedid, "pressed": "".join(call.pressed),
                          "ledger": shown}, ensure_ascii=False))
    else:
        label = OUTCOMES.get(row.outcome or "", row.outcome)
        print(f"{call.linkedid}: {row.outcome} ({label}), keys pressed: "
              f"{''.join(call.pressed) or '-'}")
        for key, value in shown.items():
            print(f"  {key:16} {'' if value is None else value}")
    return 0


# -- hotline ledger -----------------------------------------------------------------------


def cmd_ledger_list(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.features.accounts.identity import acting
    from hotline.ledger.access import masked_call
    from hotline.ledger.store import Ledger

    acting(ctx, "ledger.read", "ledger.list")
    path = existing_ledger(ctx)

    async def fetch() -> list[dict[str, object]]:
        async with await Ledger.open(path) as ledger:
            return [row.as_dict() for row in await ledger.latest(args.limit)]

    rows = [masked_call(row) for row in asyncio.run(fetch())]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    from hotline.core.routing.config import staff_names

    names = staff_names(ctx.routing())
    header = ("开始时间", "来电号码", "来电姓名", "按键", "队列", "座席", "等待秒", "通话秒",
              "结果")
    table = [header]
    for row in rows:
        table.append((
            str(row["started_at"])[:19].replace("T", " "),
            str(row["caller_number"] or "-"), str(row["caller_name"] or "-"),
            str(row["digits"] or "-"), names.queue(row["queue"]) or "-",
            names.seat(row["seat"]) or "-",
            num(row["wait_seconds"]), num(row["talk_seconds"]),
            OUTCOMES.get(str(row["outcome"]), IN_PROGRESS if row["outcome"] is None
                         else str(row["outcome"])),
        ))
    print_table(table)
    if not rows:
        print("(台帐中还没有来电记录)")
    return 0


def cmd_ledger_show(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import utc_now
    from hotline.features.accounts.identity import acting
    from hotline.ledger.access import Reader, show_call
    from hotline.ledger.orders import OrderBook
    from hotline.ledger.store import Ledger

    who = acting(ctx, "ledger.read", f"call:{args.linkedid}")
    reader = Reader(who.name, who.unmask_users(ctx.unmask_users))
    path = existing_ledger(ctx)

    async def go() -> dict[str, Any]:
        async with await Ledger.open(path) as ledger:
            book = OrderBook(ledger, ctx.calendar())
            reason = (json.dumps({"reason": args.reason}, ensure_ascii=False)
                      if args.reason else None)
            return await show_call(ledger, reader, args.linkedid, unmask=args.unmask,
                                   audit=book.audit, at=utc_now(), reason=reason)

    data = asyncio.run(go())
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        for key, value in data.items():
            if isinstance(value, dict):  # the 台帐 entry
                print(f"  {key}")
                for sub, text in value.items():
                    print(f"    {sub:14} {'' if text is None else text}")
                continue
            print(f"  {key:16} {'' if value is None else value}")
    return 0


EXPORT_FORMATS = {".csv": "csv", ".xlsx": "xlsx"}


def cmd_ledger_export(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import CHINA, utc_now
    from hotline.core.accounts import visible_bureau
    from hotline.core.routing.config import staff_names
    from hotline.ledger.export import export
    from hotline.ledger.orders import OrderBook
    from hotline.ledger.store import Ledger, iso

    if args.end < args.start:
        raise BadDates([f"--to {args.end} is before --from {args.start}"])
    target = output_file(args.output, exists=ExportTargetExists)
    fmt = output_format(target, args.format, EXPORT_FORMATS)
    start = iso(datetime.combine(args.start, datetime.min.time(), CHINA)) or ""
    end = iso(datetime.combine(args.end + timedelta(days=1), datetime.min.time(), CHINA)) or ""
    from hotline.features.accounts.identity import acting

    path = existing_ledger(ctx)
    acting_as = acting(ctx, "ledger.export", "ledger.export")
    who = acting_as.name
    # a city bureau's people export only the calls their bureau's seats answered
    group = visible_bureau(acting_as.person) if acting_as.person is not None else None

    async def go() -> int:
        async with await Ledger.open(path) as ledger:
            try:
                count = await export(ledger, start, end, target, fmt,
                                     staff_names(ctx.routing()), group=group)
            except OSError as exc:
                raise OutputUnwritable(
                    f"{target}: cannot write it: {exc.strerror or exc}") from None
            await OrderBook(ledger, ctx.calendar()).audit(
                who, "ledger.export", str(target), f"{args.start}..{args.end} {fmt} "
                f"{count} calls", utc_now())
            return count

    count = asyncio.run(go())
    print(f"{target}: {count} calls ({fmt}, reporters masked)")
    return 0

