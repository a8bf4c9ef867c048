"""`hotline recordings ...`: seat conversation recordings (录音) from the command line, as
the person bound to the OS account that runs it (hotline.features.accounts.identity), by
the same rules as the API (the desk, hotline.features.recordings.desk).

    hotline recordings list [--since DAY] [--until DAY] [--seat S] [--status S]
                            [--category C] [--limit N] [--json]
    hotline recordings play ID --reason TEXT [--json]   the file's path (audited)
    hotline recordings purge [--dry-run] [--json]       an admin or a team leader

`play` prints where the file is and what it is; it plays no sound (the server has no
sound card): copy the file, or use the workbench's player.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from hotline.features.cli_support import (
    Context,
    a_date,
    a_limit,
    a_text,
    existing_ledger,
    free_text,
    minutes,
    positive,
    print_table,
    width,
)

if TYPE_CHECKING:
    from hotline.core.accounts import Person
    from hotline.features.cli_support import Subparsers
    from hotline.features.recordings.desk import RecordingDesk

STATUS_CHOICES = ["recording", "saved", "failed", "purged"]
PERMISSION = {"list": "recordings.read", "play": "recordings.read",
              "purge": "recordings.purge"}


def register(sub: Subparsers) -> None:
    rec = sub.add_parser("recordings", help="seat conversation recordings (录音)")
    rsub = rec.add_subparsers(dest="recordings_action", metavar="ACTION", required=True)
    listing = rsub.add_parser("list", help="recordings, newest first (a seat: its own)")
    listing.add_argument("--since", type=a_date, metavar="YYYY-MM-DD",
                         help="recordings started on this day or later")
    listing.add_argument("--until", type=a_date, metavar="YYYY-MM-DD",
                         help="recordings started on this day or earlier")
    listing.add_argument("--seat", type=a_text, help="one seat's recordings")
    listing.add_argument("--status", choices=STATUS_CHOICES)
    listing.add_argument("--category", type=a_text,
                         help="a call category (consultation, tip_off, complaint, ...)")
    listing.add_argument("--limit", type=a_limit, default=100)
    listing.add_argument("--json", action="store_true")
    play = rsub.add_parser("play", help="where a recording's file is, for playing it "
                           "(audited with the reason)")
    play.add_argument("id", type=positive)
    play.add_argument("--reason", type=free_text, required=True,
                      help="why it is played (audited)")
    play.add_argument("--json", action="store_true")
    purge = rsub.add_parser("purge", help="delete the recordings whose retention is past "
                            "(each audited)")
    purge.add_argument("--dry-run", action="store_true",
                       help="only list what would be purged: nothing is deleted")
    purge.add_argument("--json", action="store_true")
    for cmd in rsub.choices.values():
        cmd.set_defaults(handler=cmd_recordings)


def _person(ctx: Context, action: str, target: str) -> Person:
    from hotline.features.accounts.identity import acting_person

    return acting_person(ctx, PERMISSION[action], target,
                         "recordings need staff accounts (roles decide who lists, plays "
                         "and purges them)")


def _desk_work(ctx: Context, work: Callable[[RecordingDesk], Awaitable[Any]]) -> Any:
    from hotline.common.clock import utc_now
    from hotline.features.recordings.desk import RecordingDesk
    from hotline.ledger.store import Ledger

    path = existing_ledger(ctx)
    spool, retention = ctx.recordings()

    async def go() -> Any:
        async with await Ledger.open(path) as ledger:
            return await work(RecordingDesk(ledger, spool, retention, utc_now))

    return asyncio.run(go())


def _start(day: date | None, *, after: bool = False) -> datetime | None:
    """The start of `day` in Beijing time (`after`: of the day after it)."""
    from hotline.common.clock import CHINA

    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1 if after else 0), time(), tzinfo=CHINA)


def cmd_recordings(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.features.recordings.desk import view

    action = args.recordings_action
    target = f"recording:{args.id}" if action == "play" else "recordings"
    person = _person(ctx, action, target)

    if action == "list":
        if args.since and args.until and args.until < args.since:
            from hotline.common.errors import BadDates

            raise BadDates(f"--until {args.until} is before --since {args.since}")

        async def listing(desk: RecordingDesk) -> list[dict[str, Any]]:
            rows = await desk.listing(person, since=_start(args.since),
                                      until=_start(args.until, after=True), seat=args.seat,
                                      status=args.status, category=args.category,
                                      limit=args.limit)
            return [view(r, desk.retention) for r in rows]

        shown = _desk_work(ctx, listing)
        if args.json:
            print(json.dumps(shown, ensure_ascii=False))
        else:
            _print_list(shown)
        return 0

    if action == "play":
        async def play(desk: RecordingDesk) -> dict[str, Any]:
            path = await desk.play(args.id, person, args.reason)
            row = await desk.book.require(args.id)
            return {**view(row, desk.retention), "path": str(path)}

        found = _desk_work(ctx, play)
        if args.json:
            print(json.dumps(found, ensure_ascii=False))
        else:
            _print_play(found)
        return 0

    async def purge(desk: RecordingDesk) -> dict[str, Any]:
        report = await desk.purge_report(dry_run=args.dry_run, actor=person.username)
        return {"dry_run": args.dry_run,
                "purged": [view(r, desk.retention) for r in report.purged],
                "missing": [r.id for r in report.missing],
                "failed": [{"id": r.id, "error": e} for r, e in report.failed]}

    done = _desk_work(ctx, purge)
    if args.json:
        print(json.dumps(done, ensure_ascii=False))
    else:
        _print_purge(done)
    return 1 if done["failed"] else 0


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f}"


def _print_list(rows: list[dict[str, Any]]) -> None:
    table: list[tuple[str, ...]] = [("编号", "开始时间", "座席", "类别", "状态", "时长(秒)",
                                     "到期清除")]
    for r in rows:
        category = r["category_label"] + ("(保密)" if r["confidential"] else "")
        table.append((str(r["id"]), minutes(r["started_at"]), r["seat"] or "-", category,
                      r["status_label"], _seconds(r["seconds"]),
                      minutes(r["purge_after"])[:10]))
    print_table(table)
    if not rows:
        print("(没有符合条件的录音)")


def _print_play(r: dict[str, Any]) -> None:
    rows = [("录音文件", r["path"]), ("编号", str(r["id"])), ("通话", r["linkedid"]),
            ("座席", r["seat"] or "-"), ("类别", r["category_label"]),
            ("开始时间", minutes(r["started_at"])), ("结束时间", minutes(r["ended_at"])),
            ("时长", f"{_seconds(r['seconds'])} 秒"),
            ("到期清除", minutes(r["purge_after"])[:10])]
    for label, text in rows:
        print(f"{label}:{' ' * (8 - width(label))} {text}")
    if r["confidential"]:
        print("保密录音：仅限班长和审计员播放，本次播放已记入审计。")
    else:
        print("本次播放已记入审计。")


def _print_purge(done: dict[str, Any]) -> None:
    purged = done["purged"]
    if done["dry_run"]:
        print(f"演练：到期应清除 {len(purged)} 条录音（未删除任何文件）")
    else:
        print(f"已清除 {len(purged)} 条到期录音")
    for r in purged:
        print(f"  {r['id']}  {minutes(r['started_at'])}  座席 {r['seat'] or '-'}  "
              f"{r['category_label']}")
    for row_id in done["missing"]:
        print(f"录音 {row_id} 的文件已不存在，仍标记为已清除（已记入审计）")
    for failed in done["failed"]:
        print(f"录音 {failed['id']} 未能清除：{failed['error']}（下次再试）")
