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
    try:
        return handler(args, settings)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"hotline: {problem}", file=sys.stderr)
        return 2
    except HotlineError as exc:
        print(f"hotline: [{exc.code}] {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
