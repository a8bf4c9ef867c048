"""Command-line extremes (in process, `main(argv)`): every argument that takes a value is
range-checked, and a bad one is refused in one line naming it, exit status 2, before
anything reads the ledger or calls Asterisk; no traceback."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from hotline.app.cli import build_parser
from hotline.features.cli_support import value_arguments
from hotline.ledger.store import Ledger
from tests.cli import hotline

BIG_ID = "9223372036854775808"  # SQLite's largest integer + 1
HUGE = "99999999999999999999999"
SURROGATE = "\udcff"  # a byte that is not UTF-8 in the command line, as Python reads it
NUL = "a\x00b"
LONG = "x" * 100_000

# argv -> the argument the error must name and words of its message
EXTREMES: list[tuple[list[str], str, str]] = [
    (["orders", "show", BIG_ID], "id", "too large"),
    (["orders", "list", "--limit", HUGE], "--limit", "too large"),
    (["orders", "--limit", "0"], "--limit", "at least 1"),
    (["orders", "show", "１２"], "id", "not a whole number"),  # full-width digits
    (["orders", "show", "1_0"], "id", "not a whole number"),
    (["orders", "show", " 1"], "id", "not a whole number"),
    (["orders", "close", BIG_ID, "--note", "x"], "id", "too large"),
    (["orders", "edit", "1", "--content", SURROGATE], "--content", "not UTF-8"),
    (["orders", "create", "--call", NUL, "--kind", "tip_off"], "--call", "U+0000"),
    (["orders", "create", "--call", "x", "--kind", "tip_off", "--content", "y" * 5000],
     "--content", "at most 4000 characters"),
    (["orders", "pass-on", "1", "--department", "a\nb"], "--department", "one line"),
    (["ledger", "export", "--from", "0001-01-01", "--to", "2026-01-01", "--output", "x.csv"],
     "--from", "outside the years 2000 to 2099"),
    (["ledger", "export", "--from", "2026-01-01", "--to", "9999-12-31", "--output", "x.csv"],
     "--to", "outside the years"),
    (["ledger", "export", "--from", "2026-01-01", "--to", "2026-01-02", "--output", NUL],
     "--output", "NUL"),
    (["ledger", "list", "--limit", HUGE], "--limit", "too large"),
    (["ledger", "show", LONG], "linkedid", "at most 200 characters"),
    (["ledger", "show", SURROGATE], "linkedid", "not UTF-8"),
    (["voicemail", "play", BIG_ID], "id", "too large"),
    (["voicemail", "list", "--limit", "-1"], "--limit", "not a whole number"),
    (["voicemail", "done", "1", "--note", "\x1b[2J"], "--note", "U+001B"),
    (["voicemail", "play", "1", "--to", NUL], "--to", "NUL"),
    (["calendar", "--from", "9999-12-31"], "--from", "outside the years"),
    (["calendar", "--queue", SURROGATE], "--queue", "not UTF-8"),
    (["report", "--quarter", "0001Q1"], "--quarter", "outside the years"),
    (["report", "--quarter", "2026Q5"], "--quarter", "not a quarter"),
    (["simulate", "--at", "9999-12-31T23:59"], "--at", "outside the years"),
    (["simulate", "--at", "0001-01-01T00:00"], "--at", "outside the years"),
    (["simulate", "--dialplan", NUL], "--dialplan", "NUL"),
    (["check", NUL], "PATH", "NUL"),
    (["seats", "login", SURROGATE], "seat", "not UTF-8"),
    (["seats", "pause", "8001", "--reason", "meal\x00"], "--reason", "U+0000"),
    (["seats", "move-in", "8001", "--until", "10000-01-01T00:00"], "--until",
     "not an ISO date-time"),
    (["call", "13955112345", "--name", "x\r\nAction: Originate"], "--name", "U+000D"),
    (["call", "13955112345", "--timeout", HUGE], "--timeout", "too large"),
    (["call", "13955112345", "--timeout", "3601"], "--timeout", "at most 3600"),
    (["call", "13955112345", "--to", "１２３６６"], "--to", "not a number to dial"),
    (["--config", NUL, "check"], "--config", "NUL"),
    (["sandbox", "cli", NUL], "command", "U+0000"),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """A ledger that exists (so a command would get as far as reading it) and an AMI
    address where nothing answers."""
    ledger = tmp_path_factory.mktemp("ledger") / "ledger.sqlite3"

    async def make() -> None:
        async with await Ledger.open(ledger):
            pass

    asyncio.run(make())
    return {"HOTLINE_LEDGER_PATH": str(ledger), "HOTLINE_AMI_PORT": "1",
            "HOTLINE_AMI_SECRET": "x", "HOTLINE_AMI_CONNECT_TIMEOUT": "0.2"}


@pytest.mark.parametrize(("argv", "argument", "words"), EXTREMES,
                         ids=[" ".join(a)[:50].encode("unicode_escape").decode()
                              for a, _, _ in EXTREMES])
def test_an_extreme_argument_is_refused_in_one_line(argv: list[str], argument: str,
                                                    words: str,
                                                    env: dict[str, str | None],
                                                    tmp_path: Path) -> None:
    """The extreme value is refused by argparse: exit status 2, the last line of stderr
    `... error: argument NAME: ...` naming it and why, nothing on stdout, no
    traceback."""
    res = hotline(*argv, env=env, cwd=tmp_path)
    assert "Traceback" not in res.stderr + res.stdout
    assert res.returncode == 2, res.stderr
    last = res.stderr.splitlines()[-1]
    assert re.search(rf"error: argument {re.escape(argument)}(/\S+)?: ", last), last
    assert words in last, last
    assert len(last) < 300
    assert res.stdout == ""
    assert not (tmp_path / "x.csv").exists()


def test_every_argument_that_takes_a_value_has_a_checking_type() -> None:
    """Each argument of every command that takes a value has a type that checks it (or a
    fixed set of choices): no text reaches a command unchecked."""
    unchecked = [f"{prog} {action.option_strings or action.dest}"
                 for prog, action in value_arguments(build_parser())
                 if action.type is None and action.choices is None]
    assert unchecked == []
    assert len(list(value_arguments(build_parser()))) > 40


@pytest.mark.parametrize("argv", [["orders", "show", "9223372036854775807"],
                                  ["ledger", "list", "--limit", "100000"],
                                  ["ledger", "export", "--from", "2000-01-01", "--to",
                                   "2099-12-31", "--output", "all.csv"]])
def test_the_largest_accepted_values_run_without_a_traceback(
        argv: list[str], env: dict[str, str | None], tmp_path: Path) -> None:
    """The extremes that are accepted (the largest id, limit and period) run to a normal
    end: an answer, or one line saying what is not there; no traceback."""
    res = hotline(*argv, env=env, cwd=tmp_path)
    assert "Traceback" not in res.stderr + res.stdout
    assert res.returncode in (0, 1), res.stderr
    if res.returncode == 1:
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
