"""`hotline ...` run in this process: `main(argv)` with its output captured, as a person
would see it, without starting a Python process per command."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import structlog

from hotline.app.cli import main
from hotline.features import cli_support

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Result:
    """What the command did: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _environment(env: Mapping[str, str | None]) -> Iterator[None]:
    """Set (a value) or remove (None) these variables for the block, then put them back."""
    saved = {key: os.environ.get(key) for key in env}
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _acting_as(user: str | None) -> Iterator[None]:
    """Commands in the block act as `user` (None: the process's own OS account). The
    acting user is the OS account of the process, which no environment variable changes,
    so a test that plays several staff members stands in for the account lookup."""
    if user is None:
        yield
        return
    with mock.patch.object(cli_support, "os_account", return_value=user):
        yield


def hotline(*argv: str, env: Mapping[str, str | None] | None = None,
            cwd: Path = REPO, user: str | None = None) -> Result:
    """`hotline ARGV...` with these environment overrides, in folder `cwd`, as `user`
    (the acting user the ledger records); argparse's exits are an exit status too."""
    overrides: dict[str, str | None] = dict(env or {})
    out, err = io.StringIO(), io.StringIO()
    # main() configures structlog for a command; the tests' own logging stays as it was.
    logging_config = structlog.get_config()
    previous = Path.cwd()
    try:
        with _environment(overrides), _acting_as(user), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            os.chdir(cwd)
            try:
                code = main(list(argv))
            except SystemExit as exc:  # argparse: --help, or a bad argument
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(previous)
        structlog.configure(**logging_config)
    return Result(code, out.getvalue(), err.getvalue())
