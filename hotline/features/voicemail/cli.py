"""`hotline voicemail list|play|done`: voicemail left after hours (留言)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hotline.common.labels import CATEGORIES
from hotline.features.cli_support import (
    Context,
    a_limit,
    a_path,
    a_text,
    existing_ledger,
    free_text,
    num,
    positive,
    print_table,
)
from hotline.features.voicemail.errors import (
    VoicemailConvertFailed,
    VoicemailFileMissing,
    VoicemailNoteMissing,
    VoicemailTargetExists,
)
from hotline.ledger.errors import VoicemailUnknown

if TYPE_CHECKING:
    from hotline.features.cli_support import Subparsers
    from hotline.ledger.voicemail import VoicemailBook

T = TypeVar("T")

VOICEMAIL_STATUS = {"recording": "录音中", "new": "待处理", "done": "已处理",
                    "discarded": "已重录", "failed": "失败"}
VOICEMAIL_FLAGS = {"short": "过短", "silent": "无声", "hangup": "挂机结束",
                   "interrupted": "中断", "no_audio": "无录音"}


def register(sub: Subparsers) -> None:
    voicemail = sub.add_parser("voicemail", help="voicemail left after hours (留言)")
    vsub = voicemail.add_subparsers(dest="voicemail_command", metavar="ACTION", required=True)
    vlist = vsub.add_parser("list", help="voicemails, newest first")
    vlist.add_argument("--status", choices=["new", "done", "failed", "discarded",
                                            "recording", "all"], default="all")
    vlist.add_argument("--limit", type=a_limit, default=50)
    vlist.add_argument("--json", action="store_true")
    vlist.set_defaults(handler=cmd_voicemail_list)
    vplay = vsub.add_parser("play", help="play a voicemail, or convert it to a WAV file")
    vplay.add_argument("id", type=positive)
    vplay.add_argument("--to", type=a_path, metavar="FILE", help="write it to this WAV file")
    vplay.set_defaults(handler=cmd_voicemail_play)
    vdone = vsub.add_parser("done", help="mark a voicemail handled (closes its work order)")
    vdone.add_argument("id", type=positive)
    vdone.add_argument("--note", required=True, type=free_text, help="what was done")
    vdone.add_argument("--department", type=a_text,
                       help="pass the work order on to this department")
    vdone.set_defaults(handler=cmd_voicemail_done)


def _with_book(ctx: Context, work: Callable[[VoicemailBook], Awaitable[T]]) -> T:
    from hotline.ledger.store import Ledger
    from hotline.ledger.voicemail import VoicemailBook

    path = existing_ledger(ctx)

    async def go() -> T:
        async with await Ledger.open(path) as ledger:
            return await work(VoicemailBook(ledger))

    return asyncio.run(go())


def _voicemail_view(row: Any) -> dict[str, Any]:
    from hotline.common.privacy import mask_row

    return mask_row(row.as_dict())


def cmd_voicemail_list(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.features.accounts.identity import acting

    acting(ctx, "voicemail.handle", "voicemail")
    async def work(book: VoicemailBook) -> list[Any]:
        rows: list[Any] = await book.listing(args.status, args.limit)
        return rows

    rows = [_voicemail_view(r) for r in _with_book(ctx, work)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    header = ("编号", "留言时间", "来电号码", "时长秒", "类别", "状态", "标记", "处理期限")
    table = [header]
    for r in rows:
        flags = "、".join(VOICEMAIL_FLAGS.get(f, f) for f in r["flags"].split(",") if f)
        table.append((str(r["id"]), str(r["started_at"])[:19].replace("T", " "),
                      str(r["caller_number"] or "-"), num(r["duration_seconds"]),
                      CATEGORIES.get(r["category"] or "", "-"),
                      VOICEMAIL_STATUS.get(r["status"], r["status"]), flags or "-",
                      str(r["due_at"] or "-")[:16].replace("T", " ")))
    print_table(table)
    if not rows:
        print("(没有符合条件的留言)")
    return 0


def cmd_voicemail_play(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.features.accounts.identity import acting

    acting(ctx, "voicemail.handle", "voicemail")
    import shutil
    import subprocess

    async def work(book: VoicemailBook) -> Any:
        return await book.get(args.id)

    row = _with_book(ctx, work)
    if row is None:
        raise VoicemailUnknown(f"no voicemail {args.id}")
    source = Path(row.file)
    if not source.exists():
        raise VoicemailFileMissing(f"voicemail {args.id}: its file {source} is missing")
    if args.to:
        target = Path(args.to)
        if target.exists():
            raise VoicemailTargetExists(f"{target} exists already: choose another file")
        if shutil.which("sox"):
            res = subprocess.run(["sox", str(source), str(target)], capture_output=True,
                                 text=True, check=False)
            if res.returncode != 0:
                raise VoicemailConvertFailed(f"sox could not convert: {res.stderr.strip()}")
        else:
            shutil.copyfile(source, target)
        print(target)
        return 0
    player = shutil.which("play") or shutil.which("aplay")
    if player and sys.stdout.isatty():
        subprocess.run([player, str(source)], check=False)
    print(source)
    return 0


def cmd_voicemail_done(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import utc_now

    note = args.note.strip()
    if not note:
        raise VoicemailNoteMissing("--note must say what was done")

    from hotline.features.accounts.identity import acting

    who = acting(ctx, "voicemail.handle", f"voicemail:{args.id}").name

    async def work(book: VoicemailBook) -> Any:
        return await book.handle(args.id, at=utc_now(), note=note,
                                 department=args.department, actor=who)

    row = _with_book(ctx, work)
    action = f"已转办 {args.department}" if args.department else "已处理"
    print(f"voicemail {row.id}: done ({action}); work order {row.work_order_id}")
    return 0
