"""`hotline ...` run in this process: `main(argv)` with its output captured, as a person
would see it, without starting a Python process per command."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from hotline.app.cli import main

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


def hotline(*argv: str, env: Mapping[str, str | None] | None = None,
            cwd: Path = REPO, user: str | None = None) -> Result:
    """`hotline ARGV...` with these environment overrides, in folder `cwd`, as `user`
    (the acting user the ledger records); argparse's exits are an exit status too."""
    overrides: dict[str, str | None] = dict(env or {})
    if user is not None:
        # getpass.getuser() reads LOGNAME first, then USER; SUDO_USER wins over both.
        overrides.update(LOGNAME=user, USER=user, SUDO_USER=None)
    out, err = io.StringIO(), io.StringIO()
    # main() configures structlog for a command; the tests' own logging stays as it was.
    logging_config = structlog.get_config()
    previous = Path.cwd()
    try:
        with _environment(overrides), contextlib.redirect_stdout(out), \
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
