"""`hotline ...`: the command line of the service, the sandbox and the staff tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hotline import __version__
from hotline.app.logs import configure_logging
from hotline.app.settings import Settings, default_config_path, load_settings
from hotline.app.wiring import REPO_ROOT, asterisk_files, instance_from, sandbox_from
from hotline.common.errors import ConfigError, HotlineError
from hotline.common.labels import CATEGORIES, IN_PROGRESS, OUTCOMES
from hotline.core.ivr.dialplan import Dialplan
from hotline.pbx.gateway import AmiLoginRefused

Handler = Callable[[argparse.Namespace, Settings], int]


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _load(args: argparse.Namespace) -> Settings:
    path = Path(args.config) if args.config else default_config_path()
    if path is None and (REPO_ROOT / "config" / "hotline.yaml").is_file():
        path = REPO_ROOT / "config" / "hotline.yaml"
    return load_settings(path)


# -- run ---------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.app.service import serve

    configure_logging(settings.log.format, settings.log.level)
    instance = None
    if args.with_sandbox:
        instance = instance_from(settings)
        instance.up(_progress, username=settings.ami.username,
                    generated=asterisk_files(settings))
    try:
        asyncio.run(serve(settings, settings.sandbox.demo_seats if args.with_sandbox else ()))
    except AmiLoginRefused as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        if instance is not None:
            instance.down(_progress)
    return 0


# -- sandbox -----------------------------------------------------------------------------


def cmd_sandbox_build(args: argparse.Namespace, settings: Settings) -> int:
    version = sandbox_from(settings).build(_progress, force=args.force)
    print(version)
    return 0


def cmd_sandbox_up(args: argparse.Namespace, settings: Settings) -> int:
    inst = instance_from(settings)
    inst.up(_progress, username=settings.ami.username, generated=asterisk_files(settings))
    print(f"up: {inst.name} AMI 127.0.0.1:{inst.ami_port} (pid {inst.pid()})")
    return 0


def cmd_sandbox_down(args: argparse.Namespace, settings: Settings) -> int:
    inst = instance_from(settings)
    was_up = inst.down(_progress)
    print(f"down: {inst.name}" + ("" if was_up else " (was not running)"))
    return 0


def cmd_sandbox_status(args: argparse.Namespace, settings: Settings) -> int:
    sandbox = sandbox_from(settings)
    inst = instance_from(settings)
    pid = inst.pid()
    status = {
        "instance": inst.name,
        "built": sandbox.is_built(),
        "root": str(sandbox.root),
        "version": sandbox.built_version(),
        "up": pid is not None,
        "pid": pid,
        "ami": f"127.0.0.1:{inst.ami_port}",
        "running_instances": [i.name for i in sandbox.running_instances()]
        if sandbox.is_built() else [],
    }
    if args.json:
        print(json.dumps(status, ensure_ascii=False))
    else:
        state = f"up (pid {pid})" if pid else "down"
        print(f"instance {inst.name}: {state}")
        print(f"  Asterisk: {status['version'] or 'not built'}")
        print(f"  root:     {status['root']}")
        print(f"  AMI:      {status['ami']}")
    return 0 if pid is not None else 3


def cmd_sandbox_cli(args: argparse.Namespace, settings: Settings) -> int:
    out = instance_from(settings).cli(" ".join(args.command))
    sys.stdout.write(out if out.endswith("\n") or not out else out + "\n")
    return 0


# -- test calls and the ledger ----------------------------------------------------------


def cmd_call(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.app.wiring import ledger_path
    from hotline.features.calls.testcall import (
        TestCall,
        check_number,
        parse_keys,
        place_call,
        wait_for_ledger_row,
    )

    call = TestCall(check_number(args.number), args.name, parse_keys(args.keys or ""),
                    hangup_when_queued=args.hangup_when_queued, extension=args.to,
                    rush=args.rush)

    async def go(gateway: Any) -> Any:
        await place_call(gateway, call, timeout=args.timeout)
        return await wait_for_ledger_row(ledger_path(settings), call.linkedid)

    try:
        row = asyncio.run(_with_gateway(settings, go))
    except TimeoutError:
        print(f"hotline: [test-call-timeout] could not reach AMI at {settings.ami.host}:"
              f"{settings.ami.port}, or the call did not end in time", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"linkedid": call.linkedid, "pressed": "".join(call.pressed),
                          "ledger": row.as_dict()}, ensure_ascii=False))
    else:
        label = OUTCOMES.get(row.outcome or "", row.outcome)
        print(f"{call.linkedid}: {row.outcome} ({label}), keys pressed: "
              f"{''.join(call.pressed) or '-'}")
        for key, value in row.as_dict().items():
            print(f"  {key:16} {'' if value is None else value}")
    return 0


def cmd_ledger_list(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.ledger.store import Ledger

    path = _existing_ledger(settings)

    async def fetch() -> list[dict[str, object]]:
        ledger = await Ledger.open(path)
        try:
            return [row.as_dict() for row in await ledger.latest(args.limit)]
        finally:
            await ledger.close()

    rows = [_masked(row) for row in asyncio.run(fetch())]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    header = ("开始时间", "来电号码", "来电姓名", "按键", "队列", "座席", "等待秒", "通话秒",
              "结果")
    table = [header]
    for row in rows:
        table.append((
            str(row["started_at"])[:19].replace("T", " "),
            str(row["caller_number"] or "-"), str(row["caller_name"] or "-"),
            str(row["digits"] or "-"), str(row["queue"] or "-"), str(row["seat"] or "-"),
            _num(row["wait_seconds"]), _num(row["talk_seconds"]),
            OUTCOMES.get(str(row["outcome"]), IN_PROGRESS if row["outcome"] is None
                               else str(row["outcome"])),
        ))
    widths = [max(_width(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(r, widths,
                                                                           strict=True)))
    if not rows:
        print("(台帐中还没有来电记录)")
    return 0


VOICEMAIL_STATUS = {"recording": "录音中", "new": "待处理", "done": "已处理",
                    "discarded": "已重录", "failed": "失败"}
VOICEMAIL_FLAGS = {"short": "过短", "silent": "无声", "hangup": "挂机结束",
                   "interrupted": "中断", "no_audio": "无录音"}


async def _with_book(settings: Settings, work: Callable[[Any], Any]) -> Any:
    from hotline.ledger.store import Ledger
    from hotline.ledger.voicemail import VoicemailBook

    path = _existing_ledger(settings)
    ledger = await Ledger.open(path)
    try:
        return await work(VoicemailBook(ledger))
    finally:
        await ledger.close()


def _voicemail_view(row: Any) -> dict[str, Any]:
    from hotline.common.privacy import is_confidential, mask_name, mask_number

    data: dict[str, Any] = row.as_dict()
    if is_confidential(row.category):
        data["caller_number"] = mask_number(row.caller_number)
        data["caller_name"] = mask_name(row.caller_name)
        data["masked"] = True
    return data


def cmd_voicemail_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(book: Any) -> list[Any]:
        rows: list[Any] = await book.listing(args.status, args.limit)
        return rows

    rows = [_voicemail_view(r) for r in asyncio.run(_with_book(settings, work))]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    header = ("编号", "留言时间", "来电号码", "时长秒", "类别", "状态", "标记", "处理期限")
    table = [header]
    for r in rows:
        flags = "、".join(VOICEMAIL_FLAGS.get(f, f) for f in r["flags"].split(",") if f)
        table.append((str(r["id"]), str(r["started_at"])[:19].replace("T", " "),
                      str(r["caller_number"] or "-"), _num(r["duration_seconds"]),
                      CATEGORIES.get(r["category"] or "", "-"),
                      VOICEMAIL_STATUS.get(r["status"], r["status"]), flags or "-",
                      str(r["due_at"] or "-")[:16].replace("T", " ")))
    _print_table(table)
    if not rows:
        print("(没有符合条件的留言)")
    return 0


def cmd_voicemail_play(args: argparse.Namespace, settings: Settings) -> int:
    import shutil
    import subprocess

    async def work(book: Any) -> Any:
        return await book.get(args.id)

    row = asyncio.run(_with_book(settings, work))
    if row is None:
        raise HotlineError(f"no voicemail {args.id}", code="voicemail-unknown")
    source = Path(row.file)
    if not source.exists():
        raise HotlineError(f"voicemail {args.id}: its file {source} is missing",
                           code="voicemail-file-missing")
    if args.to:
        target = Path(args.to)
        if target.exists():
            raise HotlineError(f"{target} exists already: choose another file",
                               code="voicemail-target-exists")
        if shutil.which("sox"):
            res = subprocess.run(["sox", str(source), str(target)], capture_output=True,
                                 text=True, check=False)
            if res.returncode != 0:
                raise HotlineError(f"sox could not convert: {res.stderr.strip()}")
        else:
            shutil.copyfile(source, target)
        print(target)
        return 0
    player = shutil.which("play") or shutil.which("aplay")
    if player and sys.stdout.isatty():
        subprocess.run([player, str(source)], check=False)
    print(source)
    return 0


def cmd_voicemail_done(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.features.calls.handling import utc_now

    note = args.note.strip()
    if not note:
        raise HotlineError("--note must say what was done", code="voicemail-note-missing")

    async def work(book: Any) -> Any:
        return await book.handle(args.id, at=utc_now(), note=note,
                                 department=args.department)

    row = asyncio.run(_with_book(settings, work))
    action = f"已转办 {args.department}" if args.department else "已处理"
    print(f"voicemail {row.id}: done ({action}); work order {row.work_order_id}")
    return 0


def _print_table(table: Sequence[tuple[str, ...]]) -> None:
    widths = [max(_width(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(r, widths,
                                                                           strict=True)))



SEAT_EVENTS = {"login": "login", "logout": "logout", "pause": "pause", "unpause": "unpause",
               "move-in": "move_in", "move-out": "move_out"}


async def _with_gateway(settings: Settings, work: Callable[[Any], Any]) -> Any:
    from hotline.app.wiring import gateway_from

    gateway = gateway_from(settings)
    runner = asyncio.create_task(gateway.run())
    try:
        async with asyncio.timeout(settings.ami.connect_timeout + 1):
            waiter = asyncio.create_task(gateway.wait_connected())
            await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
            if runner.done():
                runner.result()
        return await work(gateway)
    finally:
        runner.cancel()


def _routing(settings: Settings) -> Any:
    from hotline.app.wiring import routing_from

    routing = routing_from(settings)
    if routing is None:
        raise ConfigError([f"{settings.resolve(settings.routing.path)}: no routing file: "
                           "seats and queues are defined there"], code="routing-missing")
    return routing


def cmd_seats(args: argparse.Namespace, settings: Settings) -> int:

    from hotline.app.wiring import ledger_path
    from hotline.features.board.board import seat_rows
    from hotline.features.calls.handling import utc_now
    from hotline.features.seats.desk import SeatDesk, queue_status
    from hotline.ledger.seats import SeatBook
    from hotline.ledger.store import Ledger

    routing = _routing(settings)
    action = getattr(args, "seat_action", None)
    actor = _actor()

    async def go(gateway: Any) -> Any:
        ledger = await Ledger.open(ledger_path(settings))
        try:
            if action is not None:
                desk = SeatDesk(gateway, ledger, routing, utc_now)
                return await desk.command(args.seat, SEAT_EVENTS[action], actor=actor,
                                          reason=getattr(args, "reason", None),
                                          until=getattr(args, "until", None))
            states = await SeatBook(ledger).states()
            live = await queue_status(gateway)
            return states, live
        finally:
            await ledger.close()

    result = asyncio.run(_with_gateway(settings, go))
    if action is not None:
        print(f"seat {args.seat}: {action} recorded and applied"
              + (f" ({routing.pause_reasons[args.reason]})" if action == "pause" else ""))
        return 0
    states, live = result
    rows = seat_rows(routing, states, live)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    table: list[tuple[str, ...]] = [("座席", "姓名", "所属", "状态", "迁入", "所在队列")]
    for r in rows:
        table.append((str(r["seat"]), str(r["name"]), str(r["group_name"]), r["status"],
                      r["moved"], ",".join(r["queues"]) or "-"))
    _print_table(table)
    return 0


def cmd_queues(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime

    from hotline.app.wiring import ledger_path
    from hotline.core.calendar.schedule import CHINA
    from hotline.features.board.board import MEMBER_STATE, board
    from hotline.features.seats.desk import queue_status
    from hotline.ledger.report import SERVICE_LEVEL_SECONDS, DayFigures, day_figures
    from hotline.ledger.store import Ledger
    from hotline.pbx.queues_conf import render_queues

    routing = _routing(settings)
    if args.asterisk_conf:
        print(render_queues(routing), end="")
        return 0
    today = datetime.now(CHINA).date()

    async def go(gateway: Any) -> Any:
        live = await queue_status(gateway)
        path = ledger_path(settings)
        if not path.exists():
            return live, DayFigures(today.isoformat())
        ledger = await Ledger.open(path)
        try:
            return live, await day_figures(ledger, today)
        finally:
            await ledger.close()

    live, figures = asyncio.run(_with_gateway(settings, go))
    out = board(routing, live, figures)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    totals = figures.totals()

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    print(f"今日（{figures.day}）来电 {totals['calls']}，转人工 {totals['offered']}，"
          f"接通 {totals['answered']}（接通率 {rate(totals['connection_rate'])}），"
          f"放弃 {totals['abandoned']}，服务水平 {rate(totals['service_level'])}")
    print(f"各队列：服务水平 = {SERVICE_LEVEL_SECONDS} 秒内接通 / 转人工")
    table: list[tuple[str, ...]] = [("队列", "名称", "排队", "最长等待秒", "座席(空闲/总数)",
                                     "今日转人工", "今日接通", "今日放弃", "服务水平")]
    for q in out:
        free = sum(1 for m in q["seats"] if m["free"])
        level = q["today"]["service_level"]
        table.append((q["queue"], q["name"], str(q["waiting"]), str(q["longest_wait"]),
                      f"{free}/{len(q['seats'])}", str(q["today"]["offered"]),
                      str(q["today"]["answered"]), str(q["today"]["abandoned"]),
                      "-" if level is None else f"{level:.0%}"))
    _print_table(table)
    rows: dict[str, tuple[str, ...]] = {}
    for q in out:
        for m in q["seats"]:
            if m["paused"]:
                state = f"暂停（{m['paused_reason'] or '-'}）"
            else:
                state = MEMBER_STATE.get(str(m["status"]), str(m["status"]))
            talk = m["avg_talk_today"]
            rows.setdefault(m["interface"], (
                str(m["seat"] or "-"), str(m["name"]), state, str(m["answered_today"]),
                "-" if talk is None else f"{talk:.0f}"))
    if rows:
        print()
        _print_table([("座席", "姓名", "状态", "今日接通", "平均通话秒"), *rows.values()])
    return 0


ORDER_CHANGES = {"pass-on": "pass_on", "answer": "answer", "close": "close",
                 "delay": "delay", "difficult": "difficult", "ordinary": "ordinary"}


def cmd_orders(args: argparse.Namespace, settings: Settings) -> int:

    from hotline.app.wiring import calendar_from
    from hotline.features.calls.handling import utc_now
    from hotline.ledger.orders import KIND_LABELS, STATUS_LABELS, OrderBook, Viewer
    from hotline.ledger.store import Ledger

    path = _existing_ledger(settings)
    actor = _actor()
    viewer = Viewer(actor, actor in settings.ledger.unmask_users)
    action = args.order_action or "list"
    now = utc_now()

    async def go() -> Any:
        ledger = await Ledger.open(path)
        book = OrderBook(ledger, calendar_from(settings))
        try:
            if action == "list":
                rows = await book.listing(status=args.status,
                                          overdue_at=now if args.overdue else None,
                                          limit=args.limit)
                await book.audit(actor, "orders.list", "work_orders",
                                 f"status={args.status} overdue={args.overdue}", now)
                return [book.view(r, viewer, False, now) for r in rows]
            if action == "show":
                if args.unmask and not viewer.may_unmask:
                    await book.audit(actor, "order.unmask_refused",
                                     f"work_order:{args.id}", None, now)
                    raise HotlineError(
                        f"{actor} may not unmask reporters' numbers (ledger.unmask_users)",
                        code="unmask-not-allowed")
                order = await book.get(args.id)
                await book.audit(actor, "order.unmask" if args.unmask else "order.view",
                                 f"work_order:{args.id}", None, now)
                return book.view(order, viewer, args.unmask, now)
            text = getattr(args, "text", None)
            return book.view(await book.change(args.id, ORDER_CHANGES[action], actor=actor,
                                               at=now, text=text), viewer, False, now)
        finally:
            await ledger.close()

    result = asyncio.run(go())
    if args.json or action not in ("list", "show"):
        if not args.json:
            print(f"work order {result['id']}: {STATUS_LABELS.get(result['status'])}, due "
                  f"{str(result['due_at'])[:16].replace('T', ' ')}")
            return 0
        print(json.dumps(result, ensure_ascii=False))
        return 0
    if action == "show":
        for key, value in result.items():
            print(f"  {key:18} {'' if value is None else value}")
        return 0
    table: list[tuple[str, ...]] = [("编号", "类别", "来电号码", "创建", "期限", "状态",
                                     "承办部门", "逾期")]
    for r in result:
        table.append((str(r["id"]), KIND_LABELS.get(r["kind"], r["kind"]),
                      str(r["callback_number"] or "-"),
                      str(r["created_at"])[:16].replace("T", " "),
                      str(r["due_at"])[:16].replace("T", " "),
                      STATUS_LABELS.get(r["status"], r["status"]),
                      str(r["department"] or "-"), "逾期" if r["overdue"] else "-"))
    _print_table(table)
    if not result:
        print("(没有符合条件的工单)")
    return 0


def cmd_orders_create(args: argparse.Namespace, settings: Settings) -> int:
    """`hotline orders create --call LINKEDID --kind K`: a seat opens a work order."""
    from hotline.features.calls.handling import utc_now

    async def work(book: Any, actor: str, now: datetime) -> tuple[dict[str, Any], list[str]]:
        oid = await book.create(linkedid=args.call, kind=args.kind, actor=actor, at=now,
                                content=args.content, callback=args.callback,
                                department=args.department, difficult=args.difficult,
                                force=args.force)
        return await book.get(oid), []

    order = _order_command(settings, work, utc_now())
    order.pop("changed")
    if args.json:
        print(json.dumps(order, ensure_ascii=False))
        return 0
    _print_order_summary(order, "created")
    return 0


def cmd_orders_edit(args: argparse.Namespace, settings: Settings) -> int:
    """`hotline orders edit ID`: fill in or correct an open order's fields (audited)."""
    from hotline.features.calls.handling import utc_now

    async def work(book: Any, actor: str, now: datetime) -> tuple[dict[str, Any], list[str]]:
        result: tuple[dict[str, Any], list[str]] = await book.edit(
            args.id, actor=actor, at=now, content=args.content, callback=args.callback,
            department=args.department)
        return result

    order = _order_command(settings, work, utc_now())
    if args.json:
        print(json.dumps(order, ensure_ascii=False))
        return 0
    changed = order.pop("changed")
    _print_order_summary(order, "edited: " + ", ".join(changed) if changed else "unchanged")
    return 0


def _order_command(settings: Settings, work: Callable[..., Any], now: datetime
                   ) -> dict[str, Any]:
    """Run `work(book, actor, now)` on the ledger's order book; the order it returns as
    the acting user sees it (reporters masked), with the fields it changed."""
    from hotline.app.wiring import calendar_from
    from hotline.ledger.orders import OrderBook, Viewer
    from hotline.ledger.store import Ledger

    path = _existing_ledger(settings)
    actor = _actor()

    async def go() -> dict[str, Any]:
        ledger = await Ledger.open(path)
        try:
            book = OrderBook(ledger, calendar_from(settings))
            order, changed = await work(book, actor, now)
            shown: dict[str, Any] = book.view(order, Viewer(actor), False, now)
            return {**shown, "changed": changed}
        finally:
            await ledger.close()

    return asyncio.run(go())


def _print_order_summary(order: dict[str, Any], what: str) -> None:
    from hotline.ledger.orders import KIND_LABELS, STATUS_LABELS

    print(f"work order {order['id']} {what}: {KIND_LABELS.get(order['kind'], order['kind'])}"
          f", call {order['linkedid']}, {STATUS_LABELS.get(order['status'], order['status'])}"
          f", due {str(order['due_at'])[:16].replace('T', ' ')}")
    print(f"  callback   {order['callback_number'] or '-'}")
    print(f"  department {order['department'] or '-'}")
    print(f"  content    {order['content']}")


def cmd_ledger_show(args: argparse.Namespace, settings: Settings) -> int:

    from hotline.app.wiring import calendar_from
    from hotline.features.calls.handling import utc_now
    from hotline.ledger.orders import OrderBook
    from hotline.ledger.store import Ledger

    actor = _actor()
    path = _existing_ledger(settings)

    async def go() -> Any:
        ledger = await Ledger.open(path)
        book = OrderBook(ledger, calendar_from(settings))
        try:
            target = f"call:{args.linkedid}"
            if args.unmask and actor not in settings.ledger.unmask_users:
                await book.audit(actor, "call.unmask_refused", target, None, utc_now())
                raise HotlineError(
                    f"{actor} may not unmask reporters' numbers (ledger.unmask_users)",
                    code="unmask-not-allowed")
            row = await ledger.get(args.linkedid)
            if row is None:
                raise HotlineError(f"no call {args.linkedid!r} in the ledger",
                                   code="call-unknown")
            await book.audit(actor, "call.unmask" if args.unmask else "call.view", target,
                             None, utc_now())
            return row.as_dict() if args.unmask else _masked(row.as_dict())
        finally:
            await ledger.close()

    data = asyncio.run(go())
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        for key, value in data.items():
            print(f"  {key:16} {'' if value is None else value}")
    return 0


def cmd_ledger_export(args: argparse.Namespace, settings: Settings) -> int:

    from hotline.app.wiring import calendar_from
    from hotline.core.calendar.schedule import CHINA
    from hotline.features.calls.handling import utc_now
    from hotline.ledger.export import export
    from hotline.ledger.orders import OrderBook
    from hotline.ledger.store import Ledger, iso

    if args.end < args.start:
        raise ConfigError([f"--to {args.end} is before --from {args.start}"],
                          code="bad-dates")
    target = Path(args.output)
    if target.exists():
        raise HotlineError(f"{target} exists already: choose another file",
                           code="export-target-exists")
    fmt = args.format or ("xlsx" if target.suffix.lower() == ".xlsx" else "csv")
    start = iso(datetime.combine(args.start, datetime.min.time(), CHINA)) or ""
    end = iso(datetime.combine(args.end + timedelta(days=1), datetime.min.time(), CHINA)) or ""
    path = _existing_ledger(settings)
    actor = _actor()

    async def go() -> int:
        ledger = await Ledger.open(path)
        try:
            count = await export(ledger, start, end, target, fmt)
            await OrderBook(ledger, calendar_from(settings)).audit(
                actor, "ledger.export", str(target), f"{args.start}..{args.end} {fmt} "
                f"{count} calls", utc_now())
            return count
        finally:
            await ledger.close()

    count = asyncio.run(go())
    print(f"{target}: {count} calls ({fmt}, reporters masked)")
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.features.calls.handling import utc_now
    from hotline.features.reports.render import to_csv, to_html, to_json
    from hotline.ledger.report import quarter_bounds, quarterly
    from hotline.ledger.store import Ledger

    try:
        quarter_bounds(args.quarter)
    except ValueError as exc:
        raise ConfigError([f"--quarter: {exc}"], code="bad-quarter") from None
    path = _existing_ledger(settings)

    async def go() -> Any:
        ledger = await Ledger.open(path)
        try:
            return await quarterly(ledger, args.quarter, utc_now())
        finally:
            await ledger.close()

    report = asyncio.run(go())
    text = {"json": to_json, "csv": to_csv, "html": to_html}[args.format](report)
    if args.output:
        target = Path(args.output)
        target.write_text(text, encoding="utf-8")
        print(target)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _existing_ledger(settings: Settings) -> Path:
    """The ledger file; an error if the service has not created it yet."""
    from hotline.app.wiring import ledger_path

    path = ledger_path(settings)
    if not path.exists():
        raise HotlineError(f"no ledger at {path} yet (the service creates it)",
                           code="ledger-missing")
    return path


def _actor() -> str:
    """Who runs the command, for the ledger's records and audit trail."""
    import getpass
    import os

    return os.environ.get("SUDO_USER") or getpass.getuser()


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    """Reporters and complainants are confidential (保密): their number and name are masked
    in every listing."""
    from hotline.common.privacy import is_confidential, mask_name, mask_number

    if not is_confidential(row.get("category")):
        return row
    return {**row, "caller_number": mask_number(row.get("caller_number")),
            "caller_name": mask_name(row.get("caller_name")), "masked": True}


def _num(value: object) -> str:
    return "-" if value is None else f"{float(str(value)):.0f}"


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _extension(text: str) -> str:
    if not text.isdigit() or not 3 <= len(text) <= 10:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number to dial")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


# -- dialplans ------------------------------------------------------------------------------


def _dialplan_paths(args: argparse.Namespace, settings: Settings) -> list[Path]:
    given = getattr(args, "paths", None) or []
    return [Path(p) for p in given] or [settings.resolve(p) for p in settings.dialplans.paths]


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.app.wiring import known_queues
    from hotline.features.ivr.registry import dialplan_files, load_all

    paths = _dialplan_paths(args, settings)
    routing_errors = 0
    try:
        queues = known_queues(settings)
    except ConfigError as exc:  # the routing file is broken: report it, check the rest
        for routing_problem in exc.problems:
            print(routing_problem)
        routing_errors, queues = len(exc.problems), None
    result = load_all(paths, queues, display_root=Path.cwd())
    for problem in result.problems:
        print(problem)
    errors = len(result.errors)
    warnings = len(result.problems) - errors
    files = len(dialplan_files(paths))
    calendar_errors, calendar_warnings = _check_calendar(settings, queues)
    errors += calendar_errors + routing_errors
    warnings += calendar_warnings
    print(f"{files} file(s), {len(result.plans)} dialplan(s): {errors} error(s), "
          f"{warnings} warning(s)" + ("" if queues is not None else
                                      " (queues not checked: no routing file)"))
    return 1 if errors else 0


def _check_calendar(settings: Settings, queues: set[str] | None) -> tuple[int, int]:
    """Validate config/calendar.yaml (queue_hours against routing's `queues`) and warn
    about years without an official schedule."""
    from hotline.app.wiring import calendar_from
    from hotline.core.calendar.schedule import CHINA

    path = settings.resolve(settings.calendar.path)
    try:
        calendar = calendar_from(settings, queues)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return len(exc.problems), 0
    year = datetime.now(CHINA).year
    missing = calendar.missing_years([year, year + 1])
    for item in missing:
        print(f"{_relative(path)}:1: years: warning: no official schedule for {item}: "
              "Monday to Friday are taken as working days and only 1 Jan, 1-2 May and "
              f"1-3 Oct as holidays; add years.{item} when the State Council publishes it")
    return 0, len(missing)


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cmd_calendar(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.app.wiring import calendar_from
    from hotline.core.calendar.schedule import CHINA

    calendar = calendar_from(settings)
    today = datetime.now(CHINA).date()
    start = args.start or today
    end = args.end or (start + timedelta(days=13))
    if end < start:
        raise ConfigError([f"--to {end} is before --from {start}"], code="bad-dates")
    if (end - start).days > 3660:
        raise ConfigError(["at most ten years at once"], code="bad-dates")
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


def _load_plan(args: argparse.Namespace, settings: Settings) -> Dialplan:
    from hotline.app.wiring import known_queues
    from hotline.features.ivr.registry import load_all

    paths = [Path(args.dialplan)] if args.dialplan else _dialplan_paths(args, settings)
    result = load_all(paths, known_queues(settings), display_root=Path.cwd())
    if result.errors:
        raise ConfigError([str(p) for p in result.errors], code="dialplan-invalid")
    if args.dialplan or (args.line is None and len(result.plans) == 1):
        return next(iter(result.plans.values()))
    plan = result.plans.get(args.line or "12366")
    if plan is None:
        raise ConfigError([f"no dialplan named {args.line or '12366'!r} (found: "
                           f"{', '.join(sorted(result.plans))})"], code="dialplan-missing")
    return plan


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.app.wiring import calendar_from
    from hotline.core.ivr.engine import CallContext, simulate
    from hotline.features.calls.testcall import check_number

    plan = _load_plan(args, settings)
    keys = [c for c in (args.keys or "") if not c.isspace()]
    bad = sorted({k for k in keys if k not in "0123456789*#"})
    if bad:
        raise ConfigError([f"--keys: {''.join(bad)!r} is not a key (use 0-9, * and #)"],
                          code="bad-keys")
    caller = check_number(args.caller) if args.caller else None
    at = args.at or datetime.now(UTC)
    calendar = calendar_from(settings)
    state = calendar.state(at)
    queues = {queue: calendar.state(at, queue) for queue in calendar.queue_hours}
    _, trace = simulate(plan, CallContext(caller, state, queues), keys)
    if args.json:
        print(json.dumps({"dialplan": plan.name, "version": plan.version,
                          "at": at.isoformat(), "calendar": state,
                          "queue_calendar": queues, "caller": caller,
                          "steps": trace.steps, "final": trace.final}, ensure_ascii=False))
        return 0
    print(f"dialplan {plan.name} ({plan.source}), {at.isoformat()}: {state}"
          + "".join(f", {queue} {queue_state}" for queue, queue_state in queues.items())
          + (f", caller {caller}" if caller else ""))
    for i, entry in enumerate(trace.steps, 1):
        print(f"{i:3}. [{entry['menu'] or '-'}] {entry['command']}")
        for text in entry.get("prompts", []) or []:  # type: ignore[attr-defined]
            print(f"       “{text}”")
        if "event" in entry:
            print(f"       -> {entry['event']}")
    final = trace.final
    print(f"final: {final['action']}")
    print(f"  path: {' > '.join(final['path']) or '-'}; keys: {final['pressed'] or '-'}")  # type: ignore[arg-type]
    for key in ("category", "topic"):
        if final.get(key):
            print(f"  {key}: {final[key]}")
    if final.get("variables"):
        print(f"  collected: {final['variables']}")
    if final.get("unused_keys"):
        print(f"  keys never used: {final['unused_keys']}")
    return 0


def cmd_prompts_build(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.app.service import prompts_of
    from hotline.app.wiring import prompts_from

    plan_args = argparse.Namespace(dialplan=args.dialplan, line=None, paths=None)
    plans = [_load_plan(plan_args, settings)] if args.dialplan else _all_plans(settings)
    store = prompts_from(settings)
    for plan in plans:
        target = store.for_dialplan(plan.name)
        built = target.build(prompts_of(plan), plan.language)
        print(f"{plan.name}: {len(built)} built, {len(plan.prompts) - len(built)} "
              f"up to date, in {target.host_dir}")
    if not args.dialplan:
        from hotline.app.wiring import build_queue_sounds, queue_sounds_from

        phrases, numbers = queue_sounds_from(settings)
        built = build_queue_sounds(settings)
        print(f"queue announcements: {len(built)} built, in {phrases.host_dir}"
              + (f" and {numbers.host_dir}" if numbers is not None else
                 " (numbers: set prompts.asterisk_sounds_dir to Asterisk's sounds folder)"))
    return 0


def _all_plans(settings: Settings) -> list[Dialplan]:
    from hotline.app.wiring import known_queues

    return _plans_for(settings, known_queues(settings))


def _plans_for(settings: Settings, queues: set[str] | None) -> list[Dialplan]:
    """The configured dialplans, checked against `queues` (None: no routing file)."""
    from hotline.features.ivr.registry import load_all

    paths = [settings.resolve(p) for p in settings.dialplans.paths]
    result = load_all(paths, queues, display_root=Path.cwd())
    if result.errors:
        raise ConfigError([str(p) for p in result.errors], code="dialplan-invalid")
    return list(result.plans.values())


def cmd_reload(args: argparse.Namespace, settings: Settings) -> int:
    import os
    import signal

    # Refuse to signal when a file is invalid: nothing changes.
    from hotline.app.wiring import calendar_from, known_queues

    queues = known_queues(settings)  # routing.yaml read once for both checks
    _plans_for(settings, queues)
    calendar_from(settings, queues)
    pid_file = settings.resolve(settings.service.pid_file)
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        print(f"hotline: [service-not-running] no running service found by {pid_file}",
              file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGHUP)
    print("routing, calendar and dialplans are valid; reload sent to the service "
          f"(pid {pid})")
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-01") from None


def _datetime(text: str) -> datetime:
    from hotline.core.calendar.schedule import CHINA

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date-time (e.g. 2026-10-01T10:00 or "
            "2026-10-01T10:00+08:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=CHINA)


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline",
        description="IVR and seat routing for the 12366 taxpayer-service hotline.")
    parser.add_argument("--version", action="version", version=f"hotline {__version__}")
    parser.add_argument("--config", metavar="PATH",
                        help="service config (default: $HOTLINE_CONFIG or config/hotline.yaml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run the service")
    run.add_argument("--with-sandbox", action="store_true",
                     help="start the embedded Asterisk first and stop it on exit")
    run.set_defaults(handler=cmd_run)

    sandbox = sub.add_parser("sandbox", help="the embedded Asterisk")
    ssub = sandbox.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    build = ssub.add_parser("build", help="build the Debian sid root with Asterisk (once)")
    build.add_argument("--force", action="store_true", help="rebuild even if built")
    build.set_defaults(handler=cmd_sandbox_build)
    ssub.add_parser("up", help="start Asterisk; returns once FullyBooted").set_defaults(
        handler=cmd_sandbox_up)
    ssub.add_parser("down", help="stop Asterisk").set_defaults(handler=cmd_sandbox_down)
    status = ssub.add_parser("status", help="is it up, its version, its AMI address")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_sandbox_status)
    cli = ssub.add_parser("cli", help="run an Asterisk CLI command, e.g. 'queue show'")
    cli.add_argument("command", nargs="+")
    cli.set_defaults(handler=cmd_sandbox_cli)

    call = sub.add_parser("call", help="place a real test call to 12366 and press keys")
    call.add_argument("number", help="the caller's number, e.g. 13955112345")
    call.add_argument("--name", help="the caller's name (CallerID name)")
    call.add_argument("--keys", default="",
                      help='keys to press as the IVR asks, e.g. "1 2 #"; h hangs up')
    call.add_argument("--to", default="12366", type=_extension,
                      help="the number dialed (default 12366)")
    call.add_argument("--rush", action="store_true",
                      help="press each key at once, without waiting for the IVR to listen")
    call.add_argument("--hangup-when-queued", action="store_true",
                      help="hang up as soon as the call is queued (an abandoned call)")
    call.add_argument("--timeout", type=_positive, default=120,
                      help="seconds to wait for the call to end (default 120)")
    call.add_argument("--json", action="store_true")
    call.set_defaults(handler=cmd_call)

    check = sub.add_parser("check", help="validate dialplans and what they refer to")
    check.add_argument("paths", nargs="*", metavar="PATH",
                       help="dialplan files or folders (default: the configured ones)")
    check.set_defaults(handler=cmd_check)

    simulate = sub.add_parser("simulate", help="walk a dialplan offline, as a caller")
    simulate.add_argument("--dialplan", metavar="FILE", help="a dialplan file")
    simulate.add_argument("--line", help="the dialplan to use among the configured ones "
                          "(default 12366)")
    simulate.add_argument("--at", type=_datetime, metavar="ISO-DATETIME",
                          help="the moment of the call (default now; no offset: Beijing)")
    simulate.add_argument("--caller", metavar="NUMBER")
    simulate.add_argument("--keys", default="", help='keys pressed, e.g. "1 2 #"')
    simulate.add_argument("--json", action="store_true")
    simulate.set_defaults(handler=cmd_simulate, paths=None)

    calendar = sub.add_parser("calendar", help="working days and hours, and why")
    calendar.add_argument("--from", dest="start", type=_date, metavar="DATE")
    calendar.add_argument("--to", dest="end", type=_date, metavar="DATE")
    calendar.add_argument("--queue", help="the hours of this queue")
    calendar.add_argument("--json", action="store_true")
    calendar.set_defaults(handler=cmd_calendar)

    prompts = sub.add_parser("prompts", help="prompt audio")
    psub = prompts.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)
    pbuild = psub.add_parser("build", help="make each prompt playable (recording or speech)")
    pbuild.add_argument("--dialplan", metavar="FILE")
    pbuild.set_defaults(handler=cmd_prompts_build)

    reload = sub.add_parser("reload", help="check routing.yaml, calendar.yaml and the "
                            "dialplans, then reload them in the running service")
    reload.set_defaults(handler=cmd_reload)

    seats = sub.add_parser("seats", help="seats: list them, or log in, pause, move in ...")
    seats.add_argument("--json", action="store_true")
    seats.set_defaults(handler=cmd_seats)
    ssub2 = seats.add_subparsers(dest="seat_action", metavar="ACTION")
    for name, text in (("login", "log a seat in (it joins its queues)"),
                       ("logout", "log a seat out"),
                       ("pause", "pause a seat with a reason"),
                       ("unpause", "end a pause"),
                       ("move-in", "a remote seat enters provincial service (迁入)"),
                       ("move-out", "a remote seat leaves provincial service (迁出)")):
        cmd = ssub2.add_parser(name, help=text)
        cmd.add_argument("seat")
        if name == "pause":
            cmd.add_argument("--reason", required=True,
                             help="meal, training, after_call_work, ... (config/routing.yaml)")
        if name == "move-in":
            cmd.add_argument("--until", type=_datetime, metavar="TIME",
                             help="planned end of the move-in")
        cmd.set_defaults(handler=cmd_seats)

    queues = sub.add_parser("queues", help="live status of the queues, today's figures")
    queues.add_argument("--json", action="store_true")
    queues.add_argument("--asterisk-conf", action="store_true",
                        help="print the queues.conf hotline writes from routing.yaml (for "
                             "an Asterisk of your own)")
    queues.set_defaults(handler=cmd_queues)

    report = sub.add_parser("report", help="the quarterly figures (接通率, work orders, ...)")
    report.add_argument("--quarter", required=True, help="e.g. 2026Q4")
    report.add_argument("--format", choices=["html", "csv", "json"], default="html")
    report.add_argument("--output", metavar="FILE", help="write to FILE (default: stdout)")
    report.set_defaults(handler=cmd_report)

    orders = sub.add_parser("orders", help="work orders (登记表)")
    orders.add_argument("--json", action="store_true")
    orders.add_argument("--status", choices=["open", "passed_on", "answered", "closed"])
    orders.add_argument("--overdue", action="store_true", help="only those past their deadline")
    orders.add_argument("--limit", type=_positive, default=100)
    orders.set_defaults(handler=cmd_orders, order_action=None)
    osub = orders.add_subparsers(dest="order_action", metavar="ACTION")
    olist = osub.add_parser("list", help="work orders by deadline")
    olist.add_argument("--json", action="store_true")
    olist.add_argument("--status", choices=["open", "passed_on", "answered", "closed"])
    olist.add_argument("--overdue", action="store_true")
    olist.add_argument("--limit", type=_positive, default=100)
    olist.set_defaults(handler=cmd_orders)
    oshow = osub.add_parser("show", help="one work order (audited)")
    oshow.add_argument("id", type=_positive)
    oshow.add_argument("--unmask", action="store_true",
                       help="show a reporter's number (allowed staff only; audited)")
    oshow.add_argument("--json", action="store_true")
    oshow.set_defaults(handler=cmd_orders)
    for name, flag, text in (("pass-on", "--department", "pass on to a department"),
                             ("answer", "--result", "record how it was answered"),
                             ("close", "--note", "close it"),
                             ("delay", "--note", "the caller was told of a delay"),
                             ("difficult", None, "a difficult question: 3 working days"),
                             ("ordinary", None, "an ordinary question: 1 working day")):
        cmd = osub.add_parser(name, help=text)
        cmd.add_argument("id", type=_positive)
        if flag:
            cmd.add_argument(flag, dest="text", required=name in ("pass-on", "answer"))
        cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(handler=cmd_orders)
    ocreate = osub.add_parser("create", help="open a work order for a call in the ledger")
    ocreate.add_argument("--call", required=True, metavar="LINKEDID",
                         help="the call (its linkedid, see `hotline ledger list`)")
    ocreate.add_argument("--kind", required=True,
                         metavar="consultation|tip_off|complaint|suggestion")
    ocreate.add_argument("--content", metavar="TEXT", help="what the caller asked or reported")
    ocreate.add_argument("--callback", metavar="NUMBER",
                         help="number to call back (default: the caller's)")
    ocreate.add_argument("--department", metavar="D", help="the department that must answer")
    ocreate.add_argument("--difficult", action="store_true",
                         help="a difficult question: 3 working days instead of 1")
    ocreate.add_argument("--force", action="store_true",
                         help="a second order of the same kind for the call")
    ocreate.add_argument("--json", action="store_true")
    ocreate.set_defaults(handler=cmd_orders_create)
    oedit = osub.add_parser("edit", help="fill in or correct an order that is not closed")
    oedit.add_argument("id", type=_positive)
    oedit.add_argument("--content", metavar="TEXT")
    oedit.add_argument("--callback", metavar="NUMBER")
    oedit.add_argument("--department", metavar="D")
    oedit.add_argument("--json", action="store_true")
    oedit.set_defaults(handler=cmd_orders_edit)

    voicemail = sub.add_parser("voicemail", help="voicemail left after hours (留言)")
    vsub = voicemail.add_subparsers(dest="voicemail_command", metavar="ACTION", required=True)
    vlist = vsub.add_parser("list", help="voicemails, newest first")
    vlist.add_argument("--status", choices=["new", "done", "failed", "discarded",
                                            "recording", "all"], default="all")
    vlist.add_argument("--limit", type=_positive, default=50)
    vlist.add_argument("--json", action="store_true")
    vlist.set_defaults(handler=cmd_voicemail_list)
    vplay = vsub.add_parser("play", help="play a voicemail, or convert it to a WAV file")
    vplay.add_argument("id", type=_positive)
    vplay.add_argument("--to", metavar="FILE", help="write it to this WAV file")
    vplay.set_defaults(handler=cmd_voicemail_play)
    vdone = vsub.add_parser("done", help="mark a voicemail handled (closes its work order)")
    vdone.add_argument("id", type=_positive)
    vdone.add_argument("--note", required=True, help="what was done")
    vdone.add_argument("--department", help="pass the work order on to this department")
    vdone.set_defaults(handler=cmd_voicemail_done)

    ledger = sub.add_parser("ledger", help="the call ledger (台帐)")
    lsub = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    llist = lsub.add_parser("list", help="the latest calls")
    llist.add_argument("--limit", type=_positive, default=20)
    llist.add_argument("--json", action="store_true")
    llist.set_defaults(handler=cmd_ledger_list)
    lshow = lsub.add_parser("show", help="one call (audited)")
    lshow.add_argument("linkedid")
    lshow.add_argument("--unmask", action="store_true",
                       help="a reporter's number (ledger.unmask_users only; audited)")
    lshow.add_argument("--json", action="store_true")
    lshow.set_defaults(handler=cmd_ledger_show)
    lexport = lsub.add_parser("export", help="calls of a period as CSV or XLSX (masked)")
    lexport.add_argument("--from", dest="start", type=_date, required=True, metavar="DATE")
    lexport.add_argument("--to", dest="end", type=_date, required=True, metavar="DATE")
    lexport.add_argument("--output", required=True, metavar="FILE", help="FILE.csv or .xlsx")
    lexport.add_argument("--format", choices=["csv", "xlsx"],
                         help="default: from the file's extension")
    lexport.set_defaults(handler=cmd_ledger_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _load(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"hotline: {problem}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    if handler is not cmd_run:
        # Tools print their results; only problems are logged.
        configure_logging(settings.log.format, "warning")
    try:
        return handler(args, settings)
    except BrokenPipeError:
        # `hotline ledger list | head`: the reader went away; that is not an error.
        sys.stderr.close()
        return 0
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"hotline: {problem}", file=sys.stderr)
        return 2
    except HotlineError as exc:
        print(f"hotline: [{exc.code}] {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
