"""`hotline quality ...`: quality review (质检) from the command line, as the person bound
to the OS account that runs it (hotline.features.accounts.identity: no option names who
acts, so nobody signs a review or a draw as someone else), by the same rules as the API
(the desk, hotline.features.quality.desk).

    hotline quality draw [--day YYYY-MM-DD] [--json]     a leader or an admin
    hotline quality pick LINKEDID [--json]               a leader (reason 领导指定)
    hotline quality list [--seat S] [--pending] [--limit N] [--json]
    hotline quality form [--json]                        the review form's items
    hotline quality review LINKEDID --score accuracy=38 --score ... [--comment TEXT]
    hotline quality show ID [--json]                     a review (a seat: its own)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import Awaitable, Callable
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
    from hotline.features.quality.desk import QualityDesk

PERMISSION = {"draw": "quality.draw", "pick": "quality.pick", "list": "quality.read",
              "form": "quality.read", "review": "quality.review", "show": "quality.read"}


def a_score(text: str) -> tuple[str, float]:
    """One item's score: KEY=POINTS (accuracy=38, attitude=17.5)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or len(text) > 60 or not key.isascii() or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text[:60]!r} is not ITEM=POINTS (e.g. "
                                         "accuracy=38)")
    try:
        points = float(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key}: {value[:20]!r} is not a number of "
                                         "points") from None
    if not math.isfinite(points):
        raise argparse.ArgumentTypeError(f"{key}: {value[:20]!r} is not a number of points")
    return key, points


def register(sub: Subparsers) -> None:
    q = sub.add_parser("quality", help="quality review of answered calls (质检)")
    qsub = q.add_subparsers(dest="quality_action", metavar="ACTION", required=True)
    d = qsub.add_parser("draw", help="draw a day's calls for review by the sampling plan "
                        "(the service does it daily; a rerun draws nothing twice)")
    d.add_argument("--day", type=a_date, metavar="YYYY-MM-DD",
                   help="the day to draw (default: today, Beijing time)")
    d.add_argument("--json", action="store_true")
    p = qsub.add_parser("pick", help="add an answered call to the review queue (a leader)")
    p.add_argument("linkedid", type=a_text)
    p.add_argument("--json", action="store_true")
    listing = qsub.add_parser("list", help="the review queue, newest first (a seat: its "
                              "own reviewed calls)")
    listing.add_argument("--seat", type=a_text, help="one seat's calls")
    listing.add_argument("--pending", action="store_true", help="only calls not reviewed "
                         "yet")
    listing.add_argument("--limit", type=a_limit, default=200)
    listing.add_argument("--json", action="store_true")
    form = qsub.add_parser("form", help="the review form: its items and their maximums")
    form.add_argument("--json", action="store_true")
    review = qsub.add_parser("review", help="review a drawn call: score each item of the "
                             "form (a leader or an expert)")
    review.add_argument("linkedid", type=a_text)
    review.add_argument("--score", type=a_score, action="append", required=True,
                        metavar="ITEM=POINTS", help="one item's points (repeat for each "
                        "item of `hotline quality form`)")
    review.add_argument("--comment", type=free_text, help="the reviewer's comment")
    review.add_argument("--json", action="store_true")
    show = qsub.add_parser("show", help="one review (a seat: its own seat's)")
    show.add_argument("id", type=positive)
    show.add_argument("--json", action="store_true")
    for cmd in qsub.choices.values():
        cmd.set_defaults(handler=cmd_quality)


def _person(ctx: Context, action: str, target: str) -> Person:
    from hotline.features.accounts.identity import acting_person

    return acting_person(ctx, PERMISSION[action], target,
                         "quality review needs staff accounts (roles decide who reviews "
                         "and who reads reviews)")


def _desk_work(ctx: Context, work: Callable[[QualityDesk], Awaitable[Any]]) -> Any:
    from hotline.common.clock import utc_now
    from hotline.features.quality.desk import QualityDesk
    from hotline.ledger.store import Ledger

    path = existing_ledger(ctx)
    plan = ctx.quality_plan()
    routing = ctx.routing()

    async def go() -> Any:
        async with await Ledger.open(path) as ledger:
            return await work(QualityDesk(ledger, lambda: plan, lambda: routing, utc_now))

    return asyncio.run(go())


def cmd_quality(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import CHINA, utc_now
    from hotline.features.quality.desk import draw_view, form_view, review_view

    action = args.quality_action
    target = {"pick": f"call:{getattr(args, 'linkedid', '')}",
              "review": f"call:{getattr(args, 'linkedid', '')}",
              "show": f"review:{getattr(args, 'id', '')}"}.get(action, "quality")
    if action == "form":
        _person(ctx, action, target)
        items = form_view(ctx.quality_plan())
        if args.json:
            print(json.dumps(items, ensure_ascii=False))
        else:
            _print_form(items)
        return 0
    person = _person(ctx, action, target)

    if action == "draw":
        day = args.day or utc_now().astimezone(CHINA).date()

        async def drawing(desk: QualityDesk) -> list[dict[str, Any]]:
            drawn = await desk.draw_day(day, person.username)
            return [{"linkedid": d.linkedid, "seat": d.seat, "day": d.day.isoformat(),
                     "reason": d.reason} for d in drawn]

        done = _desk_work(ctx, drawing)
        if args.json:
            print(json.dumps(done, ensure_ascii=False))
        else:
            _print_draw(day.isoformat(), done)
        return 0

    if action == "pick":
        async def picking(desk: QualityDesk) -> dict[str, Any]:
            return draw_view(await desk.pick(args.linkedid, person))

        row = _desk_work(ctx, picking)
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"已将通话 {row['linkedid']}（座席 {row['seat']}）加入质检队列（领导指定）")
        return 0

    if action == "list":
        async def listing(desk: QualityDesk) -> list[dict[str, Any]]:
            rows = await desk.listing(person, seat=args.seat, pending=args.pending,
                                      limit=args.limit)
            return [draw_view(r) for r in rows]

        shown = _desk_work(ctx, listing)
        if args.json:
            print(json.dumps(shown, ensure_ascii=False))
        else:
            _print_list(shown)
        return 0

    if action == "review":
        scores = dict(args.score)
        if len(scores) != len(args.score):
            from hotline.features.quality.errors import QualityBadScore

            keys = [k for k, _ in args.score]
            twice = sorted({k for k in keys if keys.count(k) > 1})
            raise QualityBadScore(f"--score {', '.join(twice)} given more than once "
                                  "(每项只评一次)")

        async def reviewing(desk: QualityDesk) -> dict[str, Any]:
            row = await desk.review(args.linkedid, person, scores, args.comment)
            return review_view(row, desk.plan())

        done = _desk_work(ctx, reviewing)
        if args.json:
            print(json.dumps(done, ensure_ascii=False))
        else:
            print(f"质检记录 {done['id']} 已保存：通话 {done['linkedid']}，座席 "
                  f"{done['seat']}，得分 {done['total']:g}/{done['maximum']}"
                  f"（{done['percent']:g}%）")
        return 0

    async def showing(desk: QualityDesk) -> dict[str, Any]:
        row, drawn = await desk.show(args.id, person)
        return {**review_view(row, desk.plan()),
                "draw": draw_view(drawn) if drawn is not None else None}

    found = _desk_work(ctx, showing)
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
    else:
        _print_review(found)
    return 0


def _print_form(items: list[dict[str, Any]]) -> None:
    table: list[tuple[str, ...]] = [("评分项", "名称", "满分")]
    table += [(i["key"], i["label"], str(i["max"])) for i in items]
    print_table(table)
    print(f"合计满分 {sum(i['max'] for i in items)}")


def _print_draw(day: str, drawn: list[dict[str, Any]]) -> None:
    from hotline.core.quality import REASONS

    print(f"{day} 抽取质检通话 {len(drawn)} 通")
    for d in drawn:
        print(f"  {d['linkedid']}  座席 {d['seat']}  {REASONS.get(d['reason'], d['reason'])}")


def _print_list(rows: list[dict[str, Any]]) -> None:
    table: list[tuple[str, ...]] = [("通话", "抽取日", "座席", "接听时间", "类别", "评价",
                                     "抽取原因", "状态", "得分%")]
    for r in rows:
        table.append((r["linkedid"], r["day"], r["seat"], minutes(r["answered_at"]),
                      r["category_label"], r["rating_label"], r["reason_label"],
                      r["status_label"],
                      "-" if r["percent"] is None else f"{r['percent']:g}"))
    print_table(table)
    if not rows:
        print("(没有符合条件的质检通话)")


def _print_review(r: dict[str, Any]) -> None:
    rows = [("编号", str(r["id"])), ("通话", r["linkedid"]), ("座席", r["seat"]),
            ("质检人", r["reviewer"]), ("质检时间", minutes(r["at"]))]
    for item in r["items"]:
        top = "-" if item["max"] is None else str(item["max"])
        rows.append((item["label"], f"{item['score']:g} / {top}"))
    rows.append(("合计", f"{r['total']:g} / {r['maximum']}（{r['percent']:g}%）"))
    rows.append(("评语", r["comment"] or "-"))
    for label, text in rows:
        print(f"{label}:{' ' * max(1, 16 - width(label))}{text}")
