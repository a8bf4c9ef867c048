"""What the features' commands share: the application's wiring as they see it (`Context`,
provided by app/cli.py: features do not import the application), argument types, the
acting user, table printing and checks of files to write."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from hotline.common.errors import HotlineError
from hotline.features.errors import AmiUnreachable as AmiUnreachable  # importable here
from hotline.features.errors import (
    LedgerMissing,
    OutputBadExtension,
    OutputFolderMissing,
    OutputIsFolder,
    OutputUnwritable,
)

if TYPE_CHECKING:
    from hotline.core.calendar.schedule import Calendar
    from hotline.core.routing.config import RoutingConfig
    from hotline.features.ivr.prompts import PromptStore
    from hotline.pbx.gateway import AmiGateway

T = TypeVar("T")

# A command: parsed arguments and the context in, the exit status out.
Handler = Callable[[argparse.Namespace, "Context"], int]
if TYPE_CHECKING:
    # What `parser.add_subparsers()` returns: each feature adds its commands to it.
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


class Context(Protocol):
    """The configured service as a command needs it (app/cli.py builds it from the
    settings; a file is read when a command asks for it, not before)."""

    @property
    def ledger_path(self) -> Path: ...
    @property
    def unmask_users(self) -> Collection[str]: ...
    @property
    def ami_address(self) -> str: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def dialplan_paths(self) -> list[Path]: ...
    @property
    def routing_path(self) -> Path: ...
    @property
    def calendar_path(self) -> Path: ...

    def routing(self) -> RoutingConfig | None:
        """routing.yaml, validated (None: there is no routing file)."""
    def known_queues(self) -> set[str] | None:
        """routing.yaml's queue names (None: there is no routing file)."""
    def calendar(self, queues: Collection[str] | None = None) -> Calendar:
        """calendar.yaml, validated (its queue_hours against `queues` when given)."""
    def gateway(self) -> AmiGateway:
        """A gateway to the configured Asterisk, not yet connected."""
    def prompts(self) -> PromptStore:
        """Where the dialplans' prompt audio goes."""
    def queue_sounds(self) -> tuple[PromptStore, PromptStore | None]:
        """Where the queue announcements go (phrases, numbers)."""
    def build_queue_sounds(self) -> list[str]:
        """Make the queue announcements playable; what was built."""


def actor() -> str:
    """Who runs the command, for the ledger's records and audit trail."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def existing_ledger(ctx: Context) -> Path:
    """The ledger file; an error if the service has not created it yet."""
    path = ctx.ledger_path
    if not path.exists():
        raise LedgerMissing(f"no ledger at {path} yet (the service creates it)")
    return path


async def with_gateway(ctx: Context, work: Callable[[AmiGateway], Awaitable[T]]) -> T:
    """Connect to Asterisk, run `work(gateway)`, disconnect. Not reaching AMI within the
    connect timeout is an AmiUnreachable, whatever `work` then does with its time."""
    gateway = ctx.gateway()
    runner = asyncio.create_task(gateway.run())
    try:
        try:
            async with asyncio.timeout(ctx.connect_timeout + 1):
                waiter = asyncio.create_task(gateway.wait_connected())
                await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
                if runner.done():
                    runner.result()
        except TimeoutError:
            raise AmiUnreachable(f"could not reach AMI at {ctx.ami_address}") from None
        return await work(gateway)
    finally:
        runner.cancel()


def output_file(text: str, *, exists: type[HotlineError] | None = None) -> Path:
    """A file a command is to write: refused in one line when it names a folder, when
    its folder does not exist or is not a folder, or (with `exists`, the error to raise: a file that
    must not be replaced) when it exists."""
    target = Path(text)
    if target.is_dir():
        raise OutputIsFolder(f"{target} is a folder: name a file to write")
    if exists is not None and (target.exists() or target.is_symlink()):
        raise exists(f"{target} exists already: choose another file")
    folder = target.parent
    if not folder.exists():
        raise OutputFolderMissing(f"{target}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputFolderMissing(f"{target}: {folder} is not a folder")
    return target


def print_table(table: Sequence[Sequence[str]]) -> None:
    """Columns aligned as a terminal shows them (CJK characters take two columns)."""
    widths = [max(width(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell + " " * (w - width(cell)) for cell, w in zip(r, widths,
                                                                          strict=True)))


def width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def num(value: object) -> str:
    return "-" if value is None else f"{float(str(value)):.0f}"


def minutes(value: object) -> str:
    """An ISO time as staff read it: 2026-10-09 16:30 (none: -)."""
    return str(value or "-")[:16].replace("T", " ")


def write_out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


# -- argument types -----------------------------------------------------------------------


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def extension(text: str) -> str:
    if not text.isdigit() or not 3 <= len(text) <= 10:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number to dial")
    return text


def a_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-01") from None


def a_datetime(text: str) -> datetime:
    from hotline.core.calendar.schedule import CHINA

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date-time (e.g. 2026-10-01T10:00 or "
            "2026-10-01T10:00+08:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=CHINA)


def relative(path: Path) -> str:
    """A path as the user typed it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def output_format(target: Path, given: str | None, formats: dict[str, str]) -> str:
    """The format to write `target` in: `given` (--format), else the one its extension
    names (`formats`: extension -> format). An extension that names no format is refused
    unless --format says what to write; one that names another format than --format is
    refused too (a .pdf or .xlsx silently holding CSV helps nobody)."""
    suffix = target.suffix.lower()
    named = formats.get(suffix)
    known = ", ".join(sorted(formats))
    if given is None:
        if named is None:
            raise OutputBadExtension(f"{target}: the extension {suffix or '(none)'} names no "
                                     f"format this command writes ({known}): name the file "
                                     "so, or give --format")
        return named
    if suffix in formats and named != given:
        raise OutputBadExtension(f"{target}: --format {given} but the file's extension says "
                                 f"{named}")
    return given


def write_text(target: Path, text: str) -> None:
    """Write a file a command produced; a file system refusal is one line, no traceback."""
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputUnwritable(f"{target}: cannot write it: {exc.strerror or exc}") from None
