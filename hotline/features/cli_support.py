"""What the features' commands share: the application's wiring as they see it (`Context`,
provided by app/cli.py: features do not import the application), argument types, the
acting user, table printing and checks of files to write."""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import re
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
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
    from hotline.core.quality import Plan
    from hotline.core.recordings import Retention
    from hotline.core.routing.config import RoutingConfig
    from hotline.features.ivr.prompts import PromptStore
    from hotline.features.spool import Spool
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
    def kb_words_paths(self) -> tuple[Path, Path]:
        """The knowledge base's search words files (kb.dictionary, kb.synonyms)."""
    def gateway(self) -> AmiGateway:
        """A gateway to the configured Asterisk, not yet connected."""
    def prompts(self) -> PromptStore:
        """Where the dialplans' prompt audio goes."""
    def queue_sounds(self) -> tuple[PromptStore, PromptStore | None]:
        """Where the queue announcements go (phrases, numbers)."""
    def build_queue_sounds(self) -> list[str]:
        """Make the queue announcements playable; what was built."""
    def recordings(self) -> tuple[Spool, Retention]:
        """Seat conversation recordings: their folders and their retention periods."""
    def quality_plan(self) -> Plan:
        """config/quality.yaml, validated: the quality review's sampling plan and form."""


def actor() -> str:
    """Who runs the command, for the ledger's records, the audit trail and the unmask
    decision: the OS account of the process (its real uid, which the kernel keeps). Never
    an environment variable (SUDO_USER, LOGNAME, USER): whoever starts a command sets
    those to any name, and would unmask a reporter or sign the audit as someone else."""
    return os_account()


def os_account() -> str:
    """The login name of the process's real uid (`uid:N` if it has no passwd entry)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


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
# Every argument that takes a value has one of these types (tests/badinput checks it), so
# that no value reaches the ledger, Asterisk or a file unchecked: a refusal is argparse's
# one line `hotline ...: error: argument X: why`, exit status 2.

# SQLite's integers are 64-bit: a larger id is no row, and not a traceback.
MAX_ID = 2**63 - 1
MAX_LIMIT = 100_000  # rows a listing shows
MAX_TEXT = 200  # a name, a code, an id, a number
MAX_FREE_TEXT = 4000  # what a caller asked, a note
MAX_PATH = 4096
# The years a hotline date can be in: the calendar, deadlines and reports cannot reach
# outside them (Python's dates end at 9999, and local time is 8 hours ahead of UTC).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def whole(text: str, low: int, high: int, what: str = "") -> int:
    """A whole number written in ASCII digits (int() would also take ' 1', '1_0' and
    '１２') from `low` to `high`."""
    name = f"{what} " if what else ""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number")
    if len(text.lstrip("0")) > len(str(high)):  # int() of a huge text is slow, too
        raise argparse.ArgumentTypeError(f"{name}{_shown(text)} is too large (at most "
                                         f"{high})")
    value = int(text)
    if value < low:
        raise argparse.ArgumentTypeError(f"{name}{value} must be at least {low}")
    if value > high:
        raise argparse.ArgumentTypeError(f"{name}{value} is too large (at most {high})")
    return value


def positive(text: str) -> int:
    """An id (of a work order, a voicemail): 1 up to SQLite's largest integer."""
    return whole(text, 1, MAX_ID)


def a_limit(text: str) -> int:
    """How many rows a listing shows."""
    return whole(text, 1, MAX_LIMIT)


def seconds(text: str) -> int:
    """A wait, in whole seconds: up to an hour."""
    return whole(text, 1, 3600, "seconds")


def extension(text: str) -> str:
    if not (text.isascii() and text.isdigit()) or not 3 <= len(text) <= 10:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number to dial")
    return text


def a_text(text: str) -> str:
    """A short text (a name, an id, a code, a number): one line, no control character,
    no lone surrogate (bytes that are not UTF-8 in the command line), at most MAX_TEXT."""
    return _checked(text, MAX_TEXT, lines=False)


def free_text(text: str) -> str:
    """What staff write (content, a note): line breaks and tabs allowed."""
    return _checked(text, MAX_FREE_TEXT, lines=True)


def a_path(text: str) -> str:
    """A file or folder: any name the file system takes, so no NUL, and not empty."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file")
    if "\x00" in text:
        raise argparse.ArgumentTypeError(f"{_shown(text)} holds a NUL character, which no "
                                         "file name can")
    if len(text) > MAX_PATH:
        raise argparse.ArgumentTypeError(f"a path is at most {MAX_PATH} characters, not "
                                         f"{len(text)}")
    return text


def _checked(text: str, limit: int, *, lines: bool) -> str:
    if len(text) > limit:
        raise argparse.ArgumentTypeError(f"at most {limit} characters, not {len(text)}")
    for match in _CONTROL.finditer(text):
        char = match.group()
        if lines and char in "\t\n\r":
            continue
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not UTF-8 text (set the "
                                             "terminal to UTF-8)")
        raise argparse.ArgumentTypeError(f"{_shown(text)} holds the control character "
                                         f"U+{ord(char):04X}")
    if not lines and ("\t" in text or "\n" in text or "\r" in text):
        raise argparse.ArgumentTypeError(f"{_shown(text)} must be one line")
    return text


def _shown(text: str) -> str:
    """`text` quoted for a message: escaped, and cut when long."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _in_range(value: date, text: str) -> None:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is outside the years "
                                         f"{FIRST_DAY.year} to {LAST_DAY.year}")


def a_date(text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a date like 2026-10-01") from None
    _in_range(value, text)
    return value


def a_datetime(text: str) -> datetime:
    from hotline.common.clock import CHINA

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not an ISO date-time (e.g. 2026-10-01T10:00 or "
            "2026-10-01T10:00+08:00)") from None
    _in_range(value.date(), text)
    return value if value.tzinfo else value.replace(tzinfo=CHINA)


def a_quarter(text: str) -> str:
    """A quarter like 2026Q4 (or 2026q4), in the years a report can cover."""
    match = re.fullmatch(r"([0-9]{4})[Qq]([1-4])", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a quarter like 2026Q4")
    if not FIRST_DAY.year <= int(match.group(1)) <= LAST_DAY.year:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is outside the years "
                                         f"{FIRST_DAY.year} to {LAST_DAY.year}")
    return text.upper()


def value_arguments(parser: argparse.ArgumentParser,
                    ) -> Iterator[tuple[str, argparse.Action]]:
    """Every argument of `parser` and its subcommands that takes a value: (command, the
    argument)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from value_arguments(sub)
        elif action.nargs != 0 and not isinstance(action, (argparse._HelpAction,
                                                             argparse._VersionAction)):
            yield parser.prog, action


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


def write_bytes(target: Path, data: bytes) -> None:
    """Write a binary file a command produced (a PDF, a workbook); a refusal is one line."""
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise OutputUnwritable(f"{target}: cannot write it: {exc.strerror or exc}") from None


def write_text(target: Path, text: str) -> None:
    """Write a file a command produced; a file system refusal is one line, no traceback."""
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputUnwritable(f"{target}: cannot write it: {exc.strerror or exc}") from None
