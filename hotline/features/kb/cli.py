"""`hotline kb ...`: the knowledge base (知识库) from the command line, as the person bound
to the OS account that runs it (hotline.features.accounts.identity), by the same rules
as the API and the page (the desk, hotline.features.kb.service).

    hotline kb add --question Q --answer A --spoken S --topic T [--scope CITY] ...
    hotline kb edit KB-00012 --base 3 [--answer A ...]   a new version from version 3
    hotline kb review KB-00012 [--version N]             an expert
    hotline kb publish KB-00012 [--version N]            a team leader
    hotline kb withdraw KB-00012 --reason R              a team leader
    hotline kb show KB-00012                             every version, who and when
    hotline kb list [--status S] [--topic T] [--scope S] [--expiring]
    hotline kb search TEXT [--city CITY]
    hotline kb import FILE [--format yaml|csv]           drafts, whole or nothing
    hotline kb export FILE [--format yaml|csv] [--live]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotline.features.cli_support import (
    Context,
    a_date,
    a_limit,
    a_path,
    a_text,
    existing_ledger,
    free_text,
    minutes,
    output_file,
    output_format,
    positive,
    print_table,
    width,
    write_text,
)

if TYPE_CHECKING:
    from hotline.core.accounts import Person
    from hotline.core.kb import Draft, Version
    from hotline.features.cli_support import Subparsers
    from hotline.features.kb.service import KbDesk, OnPublish

STATUS_CHOICES = ["draft", "reviewed", "published", "superseded", "withdrawn"]
PERMISSION = {"add": "kb.draft", "edit": "kb.draft", "review": "kb.review",
              "publish": "kb.publish", "withdraw": "kb.publish", "show": "kb.read",
              "list": "kb.read", "search": "kb.read", "import": "kb.draft",
              "export": "kb.read"}


def publish_hook(ctx: Context) -> OnPublish | None:
    """What `hotline kb publish` awaits before the ledger's publication: the line's spoken
    prompt built in the folder the service plays it from (features/kb/line.py's
    build_spoken), its duration measured: over 60 s refuses the publication."""
    import asyncio

    from hotline.features.kb.line import KB_FOLDER, build_spoken

    async def build(version: Version) -> None:
        folder = ctx.prompts().for_dialplan(KB_FOLDER).host_dir
        await asyncio.to_thread(build_spoken, version, folder)

    return build


def _fields(cmd: argparse.ArgumentParser, *, new: bool) -> None:
    cmd.add_argument("--question", required=new, type=a_text, metavar="TEXT",
                     help="the question as a caller asks it")
    cmd.add_argument("--phrasing", action="append", type=a_text, metavar="TEXT",
                     dest="phrasings", help="another way callers ask it (repeat)")
    cmd.add_argument("--answer", required=new, type=free_text, metavar="TEXT",
                     help="the answer for seats")
    cmd.add_argument("--spoken", required=new, type=free_text, metavar="TEXT",
                     help="the short answer the line reads (at most 170 characters)")
    cmd.add_argument("--topic", required=new, type=a_text,
                     help="a dialplan topic (invoice, individual_income_tax, ...)")
    cmd.add_argument("--scope", type=a_text,
                     help="province (default) or a city bureau: a local entry")
    cmd.add_argument("--source-number", type=a_text, metavar="TEXT",
                     help="the document, e.g. 国家税务总局公告2024年第1号")
    cmd.add_argument("--source-date", type=a_date, metavar="YYYY-MM-DD")
    cmd.add_argument("--effective-from", type=a_date, metavar="YYYY-MM-DD")
    cmd.add_argument("--effective-until", type=a_date, metavar="YYYY-MM-DD")
    cmd.add_argument("--note", type=free_text, metavar="TEXT", help="why this version")
    cmd.add_argument("--json", action="store_true")


def register(sub: Subparsers) -> None:
    kb = sub.add_parser("kb", help="the knowledge base (知识库)")
    ksub = kb.add_subparsers(dest="kb_action", metavar="ACTION", required=True)
    add = ksub.add_parser("add", help="a new entry (a draft)")
    _fields(add, new=True)
    edit = ksub.add_parser("edit", help="a new version of an entry (a draft); fields not "
                           "given are the base version's")
    edit.add_argument("id", type=a_text, metavar="KB-ID")
    edit.add_argument("--base", type=positive, required=True, metavar="N",
                      help="the version the change is made from (refused if newer exists)")
    _fields(edit, new=False)
    for name, text in (("review", "an expert reviews a draft"),
                       ("publish", "a team leader publishes a reviewed version")):
        cmd = ksub.add_parser(name, help=text)
        cmd.add_argument("id", type=a_text, metavar="KB-ID")
        cmd.add_argument("--version", type=positive, metavar="N", help="default: the newest")
        cmd.add_argument("--json", action="store_true")
    withdraw = ksub.add_parser("withdraw", help="a team leader withdraws the live version")
    withdraw.add_argument("id", type=a_text, metavar="KB-ID")
    withdraw.add_argument("--reason", type=free_text, required=True)
    withdraw.add_argument("--json", action="store_true")
    show = ksub.add_parser("show", help="an entry and all its versions")
    show.add_argument("id", type=a_text, metavar="KB-ID")
    show.add_argument("--json", action="store_true")
    listing = ksub.add_parser("list", help="entries by their newest version")
    listing.add_argument("--status", choices=STATUS_CHOICES)
    listing.add_argument("--topic", type=a_text)
    listing.add_argument("--scope", type=a_text)
    listing.add_argument("--expiring", action="store_true",
                         help="live entries whose policy ends by the end of next quarter")
    listing.add_argument("--json", action="store_true")
    search = ksub.add_parser("search", help="the published entries for a question")
    search.add_argument("text", type=a_text)
    search.add_argument("--city", type=a_text, help="a city bureau's local entries first "
                        "(default: the person's)")
    search.add_argument("--limit", type=a_limit, default=10)
    search.add_argument("--json", action="store_true")
    imp = ksub.add_parser("import", help="entries from a YAML or CSV file, as drafts")
    imp.add_argument("file", type=a_path)
    imp.add_argument("--format", choices=["yaml", "csv"])
    imp.add_argument("--json", action="store_true")
    exp = ksub.add_parser("export", help="entries to a YAML or CSV file")
    exp.add_argument("file", type=a_path)
    exp.add_argument("--format", choices=["yaml", "csv"])
    exp.add_argument("--live", action="store_true",
                     help="only the published versions (default: each entry's newest)")
    for cmd in ksub.choices.values():
        cmd.set_defaults(handler=cmd_kb)
    from hotline.features.kb import hot

    hot.register(ksub)


def _person(ctx: Context, action: str, target: str) -> Person:
    from hotline.features.accounts.identity import acting_person

    return acting_person(ctx, PERMISSION[action], target,
                         "the knowledge base needs staff accounts (roles decide who "
                         "drafts, reviews, publishes)")


def _desk_work(ctx: Context, work: Callable[[KbDesk], Awaitable[Any]]) -> Any:
    from hotline.common.clock import utc_now
    from hotline.features.ivr.registry import load_all
    from hotline.features.kb import words
    from hotline.features.kb.service import TOPIC_LABELS, KbDesk, topics_of
    from hotline.ledger.kb import KnowledgeBase
    from hotline.ledger.store import Ledger

    path = existing_ledger(ctx)
    words.configure(*ctx.kb_words_paths())  # the configured search words, not the shipped
    topics = topics_of(load_all(ctx.dialplan_paths).plans.values()) or dict(TOPIC_LABELS)
    routing = ctx.routing()
    scopes = {g for g, group in routing.groups.items() if group.remote} if routing else set()

    async def go() -> Any:
        async with await Ledger.open(path) as ledger:
            desk = KbDesk(KnowledgeBase(ledger), topics, scopes, utc_now,
                          on_publish=publish_hook(ctx))
            return await work(desk)

    return asyncio.run(go())


def _draft(args: argparse.Namespace, base: Draft | None = None) -> Draft:
    from hotline.core.kb import PROVINCE, Draft

    given = {name: getattr(args, name) for name in (
        "question", "answer", "spoken", "topic", "scope", "source_number", "source_date",
        "effective_from", "effective_until", "note") if getattr(args, name) is not None}
    if args.phrasings is not None:
        given["phrasings"] = tuple(args.phrasings)
    if base is None:
        return Draft(**{"scope": PROVINCE, **given})
    return replace(base, **{"note": None, **given})


def cmd_kb(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.features.kb import io as kbio
    from hotline.features.kb.service import entry_view, version_view

    action = args.kb_action
    target = f"kb:{args.id}" if hasattr(args, "id") else "kb"
    person = _person(ctx, action, target)

    if action == "export":
        out = output_file(args.file)
        fmt = output_format(out, args.format, {".yaml": "yaml", ".yml": "yaml",
                                               ".csv": "csv"})

        async def export(desk: KbDesk) -> list[Version]:
            return kbio.chosen(await desk.listing(person), "live" if args.live else "latest")

        versions = _desk_work(ctx, export)
        write_text(out, kbio.to_yaml(versions) if fmt == "yaml" else kbio.to_csv(versions))
        print(f"{len(versions)} entries written to {out}")
        return 0

    if action == "import":
        source = Path(args.file)
        data = _read_import(source)
        rows = kbio.read(data, source.name, args.format)

        async def load(desk: KbDesk) -> list[str]:
            return await desk.import_rows(person, rows, source.name)

        ids = _desk_work(ctx, load)
        if args.json:
            print(json.dumps({"imported": ids}, ensure_ascii=False))
        else:
            print(f"{len(ids)} entries imported as drafts: {', '.join(ids)}")
        return 0

    async def work(desk: KbDesk) -> Any:
        if action == "add":
            return entry_view(await desk.add(person, _draft(args)))
        if action == "edit":
            entry = await desk.show(person, args.id)
            base = desk.version_of(entry, args.base)
            return version_view(await desk.edit(person, entry.id, _draft(args, base.draft),
                                                base=args.base))
        if action == "review":
            return version_view(await desk.review(person, args.id, args.version))
        if action == "publish":
            return version_view(await desk.publish(person, args.id, args.version))
        if action == "withdraw":
            return version_view(await desk.withdraw(person, args.id, args.reason))
        if action == "show":
            return entry_view(await desk.show(person, args.id))
        if action == "list":
            return [entry_view(e, versions=False) for e in await desk.listing(
                person, status=args.status, topic=args.topic, scope=args.scope,
                expiring_soon=args.expiring)]
        found = await desk.search(person, args.text, city=args.city, limit=args.limit)
        return [{**version_view(f.version), "rank": round(f.rank, 3)} for f in found]

    result = _desk_work(ctx, work)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    elif action in ("add", "edit", "review", "publish", "withdraw"):
        v = result["latest"] if action == "add" else result
        print(f"{v['id']} version {v['version']}: {v['status_label']}")
    elif action == "show":
        _print_entry(result)
    elif action == "list":
        _print_list(result)
    else:
        _print_found(result)
    return 0


def _read_import(source: Path) -> bytes:
    from hotline.features.kb.io import MAX_FILE
    from hotline.ledger.errors import KbInvalid

    try:
        with source.open("rb") as handle:
            return handle.read(MAX_FILE + 1)  # a larger file is refused by its size
    except FileNotFoundError:
        raise KbInvalid(f"{source}: no such file") from None
    except IsADirectoryError:
        raise KbInvalid(f"{source} is a folder: name a YAML or CSV file") from None
    except OSError as exc:
        raise KbInvalid(f"{source}: cannot read it: {exc.strerror or exc}") from None


def _print_entry(entry: dict[str, Any]) -> None:
    live = entry["live"]
    print(f"{entry['id']}  现行版本 {live if live is not None else '无'}")
    for v in entry["versions"]:
        print(f"\n— 第 {v['version']} 版  {v['status_label']}")
        rows = [("问题", v["question"]), ("其他问法", "；".join(v["phrasings"]) or "-"),
                ("答复", v["answer"]), ("语音答复", v["spoken"]),
                ("主题", v["topic_label"]), ("范围", "全省" if v["scope"] == "province"
                                             else v["scope"]),
                ("文件依据", " ".join(x for x in (v["source_number"], v["source_date"]) if x)
                 or "-"),
                ("有效期", f"{v['effective_from'] or '-'} 至 {v['effective_until'] or '-'}"),
                ("说明", v["note"] or "-"),
                ("撰写", f"{v['written_by']} {minutes(v['written_at'])}")]
        for who, label in (("reviewed", "审核"), ("published", "发布"), ("withdrawn", "撤回")):
            if v[f"{who}_by"]:
                rows.append((label, f"{v[f'{who}_by']} {minutes(v[f'{who}_at'])}"))
        for label, text in rows:
            pad = " " * (8 - width(label))
            print(f"  {label}{pad} {str(text).replace(chr(10), chr(10) + ' ' * 11)}")


def _print_list(entries: list[dict[str, Any]]) -> None:
    table: list[tuple[str, ...]] = [("编号", "版本", "状态", "主题", "范围", "失效日期",
                                     "问题")]
    for e in entries:
        v = e["latest"]
        table.append((e["id"], str(v["version"]), v["status_label"], v["topic_label"],
                      "全省" if v["scope"] == "province" else v["scope"],
                      v["effective_until"] or "-", v["question"][:40]))
    print_table(table)
    if not entries:
        print("(没有符合条件的条目)")


def _print_found(found: list[dict[str, Any]]) -> None:
    if not found:
        print("(没有找到答案)")
        return
    for f in found:
        scope = "全省" if f["scope"] == "province" else f["scope"]
        print(f"{f['id']} 第{f['version']}版 [{scope}] {f['question']}")
        print(f"    {f['answer'][:200].replace(chr(10), ' ')}")
