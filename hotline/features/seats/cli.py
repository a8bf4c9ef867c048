"""`hotline seats` (list them, log in, pause, move in ...) and `hotline queues` (live queues
and today's figures)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING, Any

from hotline.common.errors import RoutingMissing
from hotline.features.cli_support import (
    Context,
    a_datetime,
    a_text,
    print_table,
    with_gateway,
)

if TYPE_CHECKING:
    from hotline.core.routing.config import RoutingConfig
    from hotline.features.cli_support import Subparsers

SEAT_EVENTS = {"login": "login", "logout": "logout", "pause": "pause", "unpause": "unpause",
               "move-in": "move_in", "move-out": "move_out"}


def register(sub: Subparsers) -> None:
    seats = sub.add_parser("seats", help="seats: list them, or log in, pause, move in ...")
    seats.add_argument("--json", action="store_true")
    seats.set_defaults(handler=cmd_seats)
    actions = seats.add_subparsers(dest="seat_action", metavar="ACTION")
    for name, text in (("login", "log a seat in (it joins its queues)"),
                       ("logout", "log a seat out"),
                       ("pause", "pause a seat with a reason"),
                       ("unpause", "end a pause"),
                       ("move-in", "a remote seat enters provincial service (迁入)"),
                       ("move-out", "a remote seat leaves provincial service (迁出)")):
        cmd = actions.add_parser(name, help=text)
        cmd.add_argument("seat", type=a_text)
        if name == "pause":
            cmd.add_argument("--reason", required=True, type=a_text,
                             help="meal, training, ... or its label 用餐, 培训, ... "
                                  "(config/routing.yaml pause_reasons)")
        if name == "move-in":
            cmd.add_argument("--until", type=a_datetime, metavar="TIME",
                             help="planned end of the move-in")
        cmd.set_defaults(handler=cmd_seats)
    for name, text in (("skill-add", "give a seat a skill (queue) for today (a leader's)"),
                       ("skill-remove", "take a skill (queue) from a seat for today")):
        cmd = actions.add_parser(name, help=text)
        cmd.add_argument("seat", type=a_text)
        cmd.add_argument("queue", type=a_text, help="a queue of config/routing.yaml")
        if name == "skill-add":
            cmd.add_argument("--level", type=int, choices=range(1, 10), metavar="1-9",
                             help="1 (can answer) .. 9 (expert); default routing.yaml's, "
                                  "else 5")
        cmd.set_defaults(handler=cmd_seats)

    queues = sub.add_parser("queues", help="live status of the queues, today's figures")
    queues.add_argument("--json", action="store_true")
    queues.add_argument("--asterisk-conf", action="store_true",
                        help="print the queues.conf hotline writes from routing.yaml (for "
                             "an Asterisk of your own)")
    queues.set_defaults(handler=cmd_queues)


def routing_of(ctx: Context) -> RoutingConfig:
    """routing.yaml, which these commands cannot do without."""
    routing = ctx.routing()
    if routing is None:
        raise RoutingMissing([f"{ctx.routing_path}: no routing file: seats and queues are "
                           "defined there"])
    return routing


def cmd_seats(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import utc_now
    from hotline.features.accounts.errors import StaffNotAllowed
    from hotline.features.accounts.identity import acting
    from hotline.features.board.board import seat_rows
    from hotline.features.seats.desk import SeatDesk, held
    from hotline.ledger.seats import SeatBook
    from hotline.ledger.store import Ledger

    routing = routing_of(ctx)
    action = getattr(args, "seat_action", None)
    if action is None:
        acting(ctx, "seats.read", "seats")
        who = ""
    else:
        anyone = action in ("move-in", "move-out", "skill-add", "skill-remove")
        person = acting(ctx, "seats.any" if anyone else "seats.own", f"seat:{args.seat}")
        who = person.name
        if (not anyone and person.person is not None and not person.may("seats.any")
                and person.person.seat != args.seat):
            raise StaffNotAllowed(f"{who} may change only their own seat "
                                  f"({person.person.seat or 'none'}), not {args.seat}: a "
                                  "leader changes other seats")

    async def go(gateway: Any) -> Any:
        async with await Ledger.open(ctx.ledger_path) as ledger:
            if action in ("skill-add", "skill-remove"):
                desk = SeatDesk(gateway, ledger, routing, utc_now)
                return await desk.day_skill(args.seat, args.queue, action == "skill-add",
                                            actor=who, level=getattr(args, "level", None))
            if action is not None:
                desk = SeatDesk(gateway, ledger, routing, utc_now)
                return await desk.command(args.seat, SEAT_EVENTS[action], actor=who,
                                          reason=getattr(args, "reason", None),
                                          until=getattr(args, "until", None))
            states = await SeatBook(ledger).states()
            live = await gateway.queue_status()
            return states, live

    result = asyncio.run(with_gateway(ctx, go))
    if action in ("skill-add", "skill-remove"):
        queue = routing.queues[result.queue].name
        if not result.changed:
            print(f"seat {args.seat}: {queue} already as asked today; nothing recorded")
        elif result.level is None:
            print(f"seat {args.seat}: {queue} taken away for {result.day}")
        else:
            print(f"seat {args.seat}: {queue} at level {result.level} for {result.day} "
                  "(the running service applies it within a round)")
        return 0
    if action is not None:
        if not result.changed:
            print(f"seat {args.seat}: already {held(routing, result.record)}; nothing "
                  "recorded")
            return 0
        paused = result.record.paused
        print(f"seat {args.seat}: {action} recorded and applied"
              + (f" ({routing.pause_reasons.get(paused, paused)})" if paused and
                 action == "pause" else ""))
        return 0
    states, live = result
    rows = seat_rows(routing, states, live, utc_now())
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    table: list[tuple[str, ...]] = [("座席", "姓名", "所属", "状态", "迁入", "所在队列")]
    for r in rows:
        table.append((str(r["seat"]), str(r["name"]), str(r["group_name"]), r["status"],
                      r["moved"], "、".join(r["queue_names"]) or "-"))
    print_table(table)
    return 0


def cmd_queues(args: argparse.Namespace, ctx: Context) -> int:
    from datetime import datetime

    from hotline.common.clock import CHINA
    from hotline.features.accounts.identity import acting
    from hotline.features.board.board import board, member_label
    from hotline.ledger.report import SERVICE_LEVEL_SECONDS, DayFigures, day_figures
    from hotline.ledger.store import Ledger
    from hotline.pbx.queues_conf import render_queues

    routing = routing_of(ctx)
    if not args.asterisk_conf:
        acting(ctx, "seats.read", "queues")
    if args.asterisk_conf:
        print(render_queues(routing), end="")
        return 0
    today = datetime.now(CHINA).date()

    async def go(gateway: Any) -> Any:
        live = await gateway.queue_status()
        path = ctx.ledger_path
        if not path.exists():
            return live, DayFigures(today.isoformat())
        async with await Ledger.open(path) as ledger:
            return live, await day_figures(ledger, today)

    live, figures = asyncio.run(with_gateway(ctx, go))
    out = board(routing, live, figures, at=datetime.now(CHINA))
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
    print_table(table)
    rows: dict[str, tuple[str, ...]] = {}
    for q in out:
        for m in q["seats"]:
            if m["paused"]:
                state = f"暂停（{m['paused_reason'] or '-'}）"
            else:
                state = member_label(m["interface"], m["status"])
            talk = m["avg_talk_today"]
            rows.setdefault(m["interface"], (
                str(m["seat"] or "-"), str(m["name"]), state, str(m["answered_today"]),
                "-" if talk is None else f"{talk:.0f}"))
    if rows:
        print()
        print_table([("座席", "姓名", "状态", "今日接通", "平均通话秒"), *rows.values()])
    return 0
