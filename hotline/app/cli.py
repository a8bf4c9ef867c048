"""`hotline ...`: the command line of the service, the sandbox and the staff tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hotline import __version__
from hotline.app.logs import configure_logging
from hotline.app.settings import Settings, default_config_path, load_settings
from hotline.app.wiring import REPO_ROOT, instance_from, sandbox_from
from hotline.common.errors import ConfigError, HotlineError
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
        instance.up(_progress, username=settings.ami.username)
    try:
        asyncio.run(serve(settings))
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
    inst.up(_progress, username=settings.ami.username)
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

OUTCOME_LABELS = {
    "answered": "已接通",
    "abandoned": "排队放弃",
    "ended_in_ivr": "语音结束",
    "unanswered": "无人接听",
    "interrupted": "中断",
}


def cmd_call(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.app.testcall import (
        TestCall,
        check_number,
        parse_keys,
        place_call,
        wait_for_ledger_row,
    )
    from hotline.app.wiring import gateway_from, ledger_path

    call = TestCall(check_number(args.number), args.name, parse_keys(args.keys or ""),
                    hangup_when_queued=args.hangup_when_queued)

    async def go() -> int:
        gateway = gateway_from(settings)
        runner = asyncio.create_task(gateway.run())
        try:
            async with asyncio.timeout(settings.ami.connect_timeout + 1):
                waiter = asyncio.create_task(gateway.wait_connected())
                await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
                if runner.done():
                    runner.result()
            await place_call(gateway, call, timeout=args.timeout)
            row = await wait_for_ledger_row(ledger_path(settings), call.linkedid)
        finally:
            runner.cancel()
        if args.json:
            print(json.dumps({"linkedid": call.linkedid, "pressed": "".join(call.pressed),
                              "ledger": row.as_dict()}, ensure_ascii=False))
        else:
            label = OUTCOME_LABELS.get(row.outcome or "", row.outcome)
            print(f"{call.linkedid}: {row.outcome} ({label}), keys pressed: "
                  f"{''.join(call.pressed) or '-'}")
            for key, value in row.as_dict().items():
                print(f"  {key:16} {'' if value is None else value}")
        return 0

    try:
        return asyncio.run(go())
    except TimeoutError:
        print(f"hotline: [test-call-timeout] could not reach AMI at {settings.ami.host}:"
              f"{settings.ami.port}, or the call did not end in time", file=sys.stderr)
        return 1


def cmd_ledger_list(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.app.wiring import ledger_path
    from hotline.ledger.store import Ledger

    path = ledger_path(settings)
    if not path.exists():
        print(f"hotline: [ledger-missing] no ledger at {path} yet (the service creates it)",
              file=sys.stderr)
        return 1

    async def fetch() -> list[dict[str, object]]:
        ledger = await Ledger.open(path)
        try:
            return [row.as_dict() for row in await ledger.latest(args.limit)]
        finally:
            await ledger.close()

    rows = asyncio.run(fetch())
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
            OUTCOME_LABELS.get(str(row["outcome"]), "进行中" if row["outcome"] is None
                               else str(row["outcome"])),
        ))
    widths = [max(_width(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(r, widths,
                                                                           strict=True)))
    if not rows:
        print("(台帐中还没有来电记录)")
    return 0


def _num(value: object) -> str:
    return "-" if value is None else f"{float(str(value)):.0f}"


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


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
    call.add_argument("--hangup-when-queued", action="store_true",
                      help="hang up as soon as the call is queued (an abandoned call)")
    call.add_argument("--timeout", type=_positive, default=120,
                      help="seconds to wait for the call to end (default 120)")
    call.add_argument("--json", action="store_true")
    call.set_defaults(handler=cmd_call)

    ledger = sub.add_parser("ledger", help="the call ledger (台帐)")
    lsub = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    llist = lsub.add_parser("list", help="the latest calls")
    llist.add_argument("--limit", type=_positive, default=20)
    llist.add_argument("--json", action="store_true")
    llist.set_defaults(handler=cmd_ledger_list)
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
