"""`hotline orders ...`: work orders (登记表) by deadline, one order (audited), its changes,
and the orders a seat opens and fills in."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hotline.features.cli_support import (
    Context,
    a_limit,
    a_text,
    existing_ledger,
    free_text,
    positive,
    print_table,
)

if TYPE_CHECKING:
    from hotline.features.cli_support import Subparsers
    from hotline.ledger.orders import OrderBook

ORDER_CHANGES = {"pass-on": "pass_on", "answer": "answer", "close": "close",
                 "delay": "delay", "difficult": "difficult", "ordinary": "ordinary"}
STATUSES = ["open", "passed_on", "returned", "answered", "closed"]
# What a change needs (core.accounts.PERMISSIONS, as the API): a liaison answers and
# records a delay; opening, editing, passing on and closing are the centre's.
ANSWERING = ("answer", "delay")


def register(sub: Subparsers) -> None:
    orders = sub.add_parser("orders", help="work orders (登记表)")
    orders.add_argument("--json", action="store_true")
    orders.add_argument("--status", choices=STATUSES)
    orders.add_argument("--overdue", action="store_true", help="only those past their deadline")
    orders.add_argument("--limit", type=a_limit, default=100)
    orders.set_defaults(handler=cmd_orders, order_action=None)
    osub = orders.add_subparsers(dest="order_action", metavar="ACTION")
    olist = osub.add_parser("list", help="work orders by deadline")
    olist.add_argument("--json", action="store_true")
    olist.add_argument("--status", choices=STATUSES)
    olist.add_argument("--overdue", action="store_true")
    olist.add_argument("--limit", type=a_limit, default=100)
    olist.set_defaults(handler=cmd_orders)
    oshow = osub.add_parser("show", help="one work order (audited)")
    oshow.add_argument("id", type=positive)
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
        cmd.add_argument("id", type=positive)
        if flag:
            cmd.add_argument(flag, dest="text", required=name in ("pass-on", "answer"),
                             type=a_text if flag == "--department" else free_text)
        cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(handler=cmd_orders)
    ocreate = osub.add_parser("create", help="open a work order for a call in the ledger")
    ocreate.add_argument("--call", required=True, type=a_text, metavar="LINKEDID",
                         help="the call (its linkedid, see `hotline ledger list`)")
    ocreate.add_argument("--kind", required=True, type=a_text,
                         metavar="consultation|tip_off|complaint|suggestion")
    ocreate.add_argument("--content", type=free_text, metavar="TEXT",
                         help="what the caller asked or reported")
    ocreate.add_argument("--callback", type=a_text, metavar="NUMBER",
                         help="number to call back (default: the caller's)")
    ocreate.add_argument("--department", type=a_text, metavar="D",
                         help="the department that must answer")
    ocreate.add_argument("--difficult", action="store_true",
                         help="a difficult question: 3 working days instead of 1")
    ocreate.add_argument("--force", action="store_true",
                         help="a second order of the same kind for the call")
    ocreate.add_argument("--json", action="store_true")
    ocreate.set_defaults(handler=cmd_orders_create)
    oedit = osub.add_parser("edit", help="fill in or correct an order that is not closed")
    oedit.add_argument("id", type=positive)
    oedit.add_argument("--content", type=free_text, metavar="TEXT")
    oedit.add_argument("--callback", type=a_text, metavar="NUMBER")
    oedit.add_argument("--department", type=a_text, metavar="D")
    oedit.add_argument("--json", action="store_true")
    oedit.set_defaults(handler=cmd_orders_edit)


def _with_orders(ctx: Context, work: Callable[[OrderBook], Awaitable[Any]]) -> Any:
    """Run `work(book)` on the ledger's order book (deadlines by the configured calendar)."""
    from hotline.ledger.orders import OrderBook
    from hotline.ledger.store import Ledger

    path = existing_ledger(ctx)

    async def go() -> Any:
        async with await Ledger.open(path) as ledger:
            return await work(OrderBook(ledger, ctx.calendar()))

    return asyncio.run(go())


def cmd_orders(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import utc_now
    from hotline.core.orders import order_scope
    from hotline.features.accounts.errors import StaffNotAllowed
    from hotline.features.accounts.identity import acting
    from hotline.ledger.access import Reader, order_opened
    from hotline.ledger.orders import KIND_LABELS, STATUS_LABELS, Viewer

    action = args.order_action or "list"
    permission = ("orders.read" if action in ("list", "show") else
                  "orders.change" if action in ANSWERING else "orders.manage")
    who = acting(ctx, permission,
                 f"work_order:{getattr(args, 'id', '')}" if action != "list" else
                 "work_orders")
    reader = Reader(who.name, who.unmask_users(ctx.unmask_users))
    viewer = Viewer(reader.actor, reader.may_unmask)
    now = utc_now()

    # The orders the person sees (as the API: a liaison those passed on to them, a city
    # bureau's people their bureau's); a ledger without accounts: every order.
    scope = order_scope(who.person) if who.person is not None else None

    async def work(book: OrderBook) -> Any:
        if action == "list":
            if scope is None:
                rows = await book.listing(status=args.status,
                                          overdue_at=now if args.overdue else None,
                                          limit=args.limit)
            else:
                rows, _ = await book.search(scope, now=now, status=args.status,
                                            overdue=args.overdue, limit=args.limit)
                for row in rows:
                    row.pop("order_bureau")
            await book.audit(reader.actor, "orders.list", "work_orders",
                             f"status={args.status} overdue={args.overdue}", now)
            return [book.view(r, viewer, False, now) for r in rows]

        async def fetch() -> dict[str, Any]:
            """The order, if the person sees it (else refused, audited)."""
            if scope is not None and not scope.allows(await book.scoped(args.id)):
                await book.audit(reader.actor, "staff.refused", f"work_order:{args.id}",
                                 "orders.scope", now)
                raise StaffNotAllowed(
                    f"{reader.actor} may not see work order {args.id}: a liaison sees the "
                    "orders passed on to their department or bureau, a city bureau's "
                    "people their bureau's")
            return await book.get(args.id)

        if action == "show":
            order = await order_opened(reader, args.id, unmask=args.unmask,
                                       audit=book.audit, at=now, fetch=fetch)
            return book.view(order, viewer, args.unmask, now)
        await fetch()
        text = getattr(args, "text", None)
        return book.view(await book.change(args.id, ORDER_CHANGES[action], actor=reader.actor,
                                           at=now, text=text), viewer, False, now)

    result = _with_orders(ctx, work)
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
    print_table(table)
    if not result:
        print("(没有符合条件的工单)")
    return 0


def cmd_orders_create(args: argparse.Namespace, ctx: Context) -> int:
    """`hotline orders create --call LINKEDID --kind K`: a seat opens a work order."""
    from hotline.common.clock import utc_now

    async def work(book: OrderBook, who: str, now: datetime
                   ) -> tuple[dict[str, Any], list[str]]:
        oid = await book.create(linkedid=args.call, kind=args.kind, actor=who, at=now,
                                content=args.content, callback=args.callback,
                                department=args.department, difficult=args.difficult,
                                force=args.force)
        return await book.get(oid), []

    order = _order_command(ctx, work, utc_now())
    order.pop("changed")
    if args.json:
        print(json.dumps(order, ensure_ascii=False))
        return 0
    _print_order_summary(order, "created")
    return 0


def cmd_orders_edit(args: argparse.Namespace, ctx: Context) -> int:
    """`hotline orders edit ID`: fill in or correct an open order's fields (audited)."""
    from hotline.common.clock import utc_now

    async def work(book: OrderBook, who: str, now: datetime
                   ) -> tuple[dict[str, Any], list[str]]:
        result: tuple[dict[str, Any], list[str]] = await book.edit(
            args.id, actor=who, at=now, content=args.content, callback=args.callback,
            department=args.department)
        return result

    order = _order_command(ctx, work, utc_now())
    if args.json:
        print(json.dumps(order, ensure_ascii=False))
        return 0
    changed = order.pop("changed")
    _print_order_summary(order, "edited: " + ", ".join(changed) if changed else "unchanged")
    return 0


def _order_command(ctx: Context, work: Callable[..., Any], now: datetime) -> dict[str, Any]:
    """Run `work(book, actor, now)` on the ledger's order book; the order it returns as
    the acting user sees it (reporters masked), with the fields it changed."""
    from hotline.features.accounts.identity import acting
    from hotline.ledger.orders import Viewer

    who = acting(ctx, "orders.manage", "work_orders").name

    async def go(book: OrderBook) -> dict[str, Any]:
        order, changed = await work(book, who, now)
        shown: dict[str, Any] = book.view(order, Viewer(who), False, now)
        return {**shown, "changed": changed}

    result: dict[str, Any] = _with_orders(ctx, go)
    return result


def _print_order_summary(order: dict[str, Any], what: str) -> None:
    from hotline.ledger.orders import KIND_LABELS, STATUS_LABELS

    print(f"work order {order['id']} {what}: {KIND_LABELS.get(order['kind'], order['kind'])}"
          f", call {order['linkedid']}, {STATUS_LABELS.get(order['status'], order['status'])}"
          f", due {str(order['due_at'])[:16].replace('T', ' ')}")
    print(f"  callback   {order['callback_number'] or '-'}")
    print(f"  department {order['department'] or '-'}")
    print(f"  content    {order['content']}")
