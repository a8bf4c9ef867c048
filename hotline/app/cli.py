"""`hotline ...`: the command line of the service, the sandbox and the staff tools.

A thin parser and dispatch: each feature registers its own commands (features/*/cli.py)
and gets the configured service as a `Context` built here from the settings; the service
itself (`run`, `reload`) and the embedded Asterisk (`sandbox`) are the application's."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from hotline import __version__
from hotline.app.files import private_files
from hotline.app.logs import configure_logging
from hotline.app.settings import Settings, default_config_path, load_settings
from hotline.app.wiring import REPO_ROOT, asterisk_files, instance_from, sandbox_from
from hotline.common.errors import ConfigError, HotlineError
from hotline.core.calendar.schedule import Calendar
from hotline.core.quality import Plan
from hotline.core.recordings import Retention
from hotline.core.routing.config import RoutingConfig
from hotline.features.accounts import cli as accounts_cli
from hotline.features.calendar import cli as calendar_cli
from hotline.features.calls import cli as calls_cli
from hotline.features.cli_support import a_path, a_text
from hotline.features.errors import ServiceNotRunning
from hotline.features.ivr import cli as ivr_cli
from hotline.features.ivr.prompts import PromptStore
from hotline.features.kb import cli as kb_cli
from hotline.features.orders import cli as orders_cli
from hotline.features.quality import cli as quality_cli
from hotline.features.recordings import cli as recordings_cli
from hotline.features.reports import cli as reports_cli
from hotline.features.seats import cli as seats_cli
from hotline.features.spool import Spool
from hotline.features.voicemail import cli as voicemail_cli
from hotline.pbx.gateway import AmiGateway, AmiLoginRefused

# The features' commands, in the order `hotline --help` lists them after run and sandbox.
FEATURES = (calls_cli, ivr_cli, calendar_cli, seats_cli, reports_cli, orders_cli,
            voicemail_cli, kb_cli, recordings_cli, quality_cli, accounts_cli)


class AppContext:
    """The `Context` the features' commands see: the settings, and the objects wired from
    them, each built when a command asks for it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def ledger_path(self) -> Path:
        from hotline.app.wiring import ledger_path

        return ledger_path(self.settings)

    @property
    def unmask_users(self) -> Collection[str]:
        return self.settings.ledger.unmask_users

    @property
    def ami_address(self) -> str:
        return f"{self.settings.ami.host}:{self.settings.ami.port}"

    @property
    def connect_timeout(self) -> float:
        return self.settings.ami.connect_timeout

    @property
    def dialplan_paths(self) -> list[Path]:
        return [self.settings.resolve(p) for p in self.settings.dialplans.paths]

    @property
    def routing_path(self) -> Path:
        return self.settings.resolve(self.settings.routing.path)

    @property
    def calendar_path(self) -> Path:
        return self.settings.resolve(self.settings.calendar.path)

    def routing(self) -> RoutingConfig | None:
        from hotline.app.wiring import routing_from

        return routing_from(self.settings)

    def known_queues(self) -> set[str] | None:
        from hotline.app.wiring import known_queues

        return known_queues(self.settings)

    def calendar(self, queues: Collection[str] | None = None) -> Calendar:
        from hotline.app.wiring import calendar_from

        return calendar_from(self.settings, queues)

    def kb_words_paths(self) -> tuple[Path, Path]:
        from hotline.app.wiring import kb_words_paths

        return kb_words_paths(self.settings)

    def gateway(self) -> AmiGateway:
        from hotline.app.wiring import gateway_from

        return gateway_from(self.settings)

    def prompts(self) -> PromptStore:
        from hotline.app.wiring import prompts_from

        return prompts_from(self.settings)

    def queue_sounds(self) -> tuple[PromptStore, PromptStore | None]:
        from hotline.app.wiring import queue_sounds_from

        return queue_sounds_from(self.settings)

    def build_queue_sounds(self) -> list[str]:
        from hotline.app.wiring import build_queue_sounds

        return build_queue_sounds(self.settings)

    def recordings(self) -> tuple[Spool, Retention]:
        from hotline.app.wiring import recordings_spool_from, retention_from

        return recordings_spool_from(self.settings), retention_from(self.settings)

    def quality_plan(self) -> Plan:
        from hotline.app.wiring import quality_plan_from

        return quality_plan_from(self.settings)


Handler = Callable[[argparse.Namespace, AppContext], int]


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _load(args: argparse.Namespace) -> Settings:
    path = Path(args.config) if args.config else default_config_path()
    if path is None and (REPO_ROOT / "config" / "hotline.yaml").is_file():
        path = REPO_ROOT / "config" / "hotline.yaml"
    return load_settings(path)


# -- run ---------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, ctx: AppContext) -> int:
    from hotline.app.service import refuse_if_running, serve

    settings = ctx.settings
    configure_logging(settings.log.format, settings.log.level)
    instance = None
    if args.with_sandbox:
        refuse_if_running(settings)  # else its exit would stop the running one's Asterisk
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


def cmd_reload(args: argparse.Namespace, ctx: AppContext) -> int:
    import os
    import signal

    settings = ctx.settings
    # Refuse to signal when a file is invalid: nothing changes.
    queues = ctx.known_queues()  # routing.yaml read once for both checks
    ivr_cli.plans_for(ctx, queues)
    ctx.calendar(queues)
    pid_file = settings.resolve(settings.service.pid_file)
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        raise ServiceNotRunning(f"no running service found by {pid_file}") from None
    os.kill(pid, signal.SIGHUP)
    print("routing, calendar and dialplans are valid; reload sent to the service "
          f"(pid {pid})")
    return 0


# -- sandbox -----------------------------------------------------------------------------


def cmd_sandbox_build(args: argparse.Namespace, ctx: AppContext) -> int:
    version = sandbox_from(ctx.settings).build(_progress, force=args.force)
    print(version)
    return 0


def cmd_sandbox_up(args: argparse.Namespace, ctx: AppContext) -> int:
    settings = ctx.settings
    inst = instance_from(settings)
    inst.up(_progress, username=settings.ami.username, generated=asterisk_files(settings))
    print(f"up: {inst.name} AMI 127.0.0.1:{inst.ami_port} (pid {inst.pid()})")
    return 0


def cmd_sandbox_down(args: argparse.Namespace, ctx: AppContext) -> int:
    inst = instance_from(ctx.settings)
    was_up = inst.down(_progress)
    print(f"down: {inst.name}" + ("" if was_up else " (was not running)"))
    return 0


def cmd_sandbox_status(args: argparse.Namespace, ctx: AppContext) -> int:
    sandbox = sandbox_from(ctx.settings)
    inst = instance_from(ctx.settings)
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


def cmd_sandbox_sip(args: argparse.Namespace, ctx: AppContext) -> int:
    """What a softphone needs to register as a seat. The password goes to this terminal
    only: never to a log, and not into a pipe or file unless --show-password says so."""
    import os

    from hotline.app.wiring import routing_from
    from hotline.pbx.errors import SandboxNeedsRoot
    from hotline.pbx.pjsip_conf import FILE_NAME, sip_seats

    if os.geteuid() != 0:
        raise SandboxNeedsRoot("root is needed to read the sandbox's SIP passwords")
    settings = ctx.settings
    inst = instance_from(settings)
    # The ports the instance runs with (its last start), else the configured ones.
    info = sandbox_from(settings).instance_info().get(inst.name, {})
    address = str(info.get("sip_bind", inst.sip_bind))
    port = int(str(info.get("sip_port", inst.sip_port)))
    trunk = str(info.get("sip_trunk", inst.sip_trunk))
    routing = routing_from(settings)
    seats = sip_seats(routing) if routing is not None else {}
    if args.seat is not None:
        if routing is None or args.seat not in routing.seats:
            print(f"hotline: routing.yaml has no seat {args.seat}", file=sys.stderr)
            return 2
        if args.seat not in seats:
            print(f"hotline: seat {args.seat}'s device is {routing.seats[args.seat].device}, "
                  "not a phone of its own (PJSIP/<name>)", file=sys.stderr)
            return 2
        seats = {args.seat: seats[args.seat]}
    show = args.show_password or sys.stdout.isatty()
    running = inst.pid() is not None
    try:
        loaded = (inst.dir / "etc" / FILE_NAME).read_text(encoding="utf-8")
    except OSError:
        loaded = ""
    print(f"sandbox {inst.name}: SIP on {address}:{port} (UDP), "
          f"{'up' if running else 'down'}")
    print(f"  carrier trunk: INVITEs from {trunk} to 12366 enter the line (no auth)")
    if not seats:
        print("  no seat has a phone of its own: give a seat `device: PJSIP/<name>` in "
              "routing.yaml, then restart the sandbox")
        return 0
    for seat_id, endpoint in seats.items():
        secret = inst.sip_secret(endpoint)
        print(f"  seat {seat_id} ({routing.seats[seat_id].name if routing else seat_id}):")
        if routing is not None and routing.seats[seat_id].webrtc:
            wss = int(str(info.get("wss_port", inst.wss_port)))
            web = settings.web
            print(f"    browser phone: http://{web.host}:{web.port}/phone/ on this machine "
                  "(`hotline run`); once, open")
            print(f"                   https://127.0.0.1:{wss}/ and trust its certificate")
            print(f"    server:   wss://127.0.0.1:{wss}/ws (SIP over secure WebSocket)")
        else:
            print(f"    server:   {address}:{port}, UDP (registrar and proxy)")
        print(f"    user:     {endpoint} (auth user {endpoint}, domain {address})")
        shown = secret if show else ("(not shown: the output is not a terminal; "
                                     "--show-password prints it)")
        print(f"    password: {shown}")
        if running and f"[{endpoint}]" not in loaded:
            print("    not in the running Asterisk yet: restart the sandbox "
                  "(`hotline sandbox down && hotline sandbox up`)")
    return 0


def cmd_sandbox_cli(args: argparse.Namespace, ctx: AppContext) -> int:
    out = instance_from(ctx.settings).cli(" ".join(args.command))
    sys.stdout.write(out if out.endswith("\n") or not out else out + "\n")
    return 0


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline",
        description="IVR and seat routing for the 12366 taxpayer-service hotline.")
    parser.add_argument("--version", action="version", version=f"hotline {__version__}")
    parser.add_argument("--config", type=a_path, metavar="PATH",
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
    sip = ssub.add_parser("sip", help="what a softphone needs to register as a seat "
                          "(address, port, user, password)")
    sip.add_argument("seat", nargs="?", type=a_text, help="one seat (default: every seat "
                     "whose device is PJSIP/<name>)")
    sip.add_argument("--show-password", action="store_true",
                     help="print passwords also when the output is not a terminal")
    sip.set_defaults(handler=cmd_sandbox_sip)
    cli = ssub.add_parser("cli", help="run an Asterisk CLI command, e.g. 'queue show'")
    cli.add_argument("command", nargs="+", type=a_text)
    cli.set_defaults(handler=cmd_sandbox_cli)

    for feature in FEATURES:
        feature.register(sub)
        if feature is ivr_cli:  # `reload` reads as the IVR's commands do, after them
            reload = sub.add_parser("reload", help="check routing.yaml, calendar.yaml and "
                                    "the dialplans, then reload them in the running service")
            reload.set_defaults(handler=cmd_reload)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    private_files()  # before any command writes a file (the ledger, an export, a copy)
    for stream in (sys.stdout, sys.stderr):
        # A name from a file or the command line that is not UTF-8 (a lone surrogate)
        # prints as an escape instead of ending the command with a traceback.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
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
        return handler(args, AppContext(settings))
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
