"""The acting user of a command is the OS account of its process: the environment
(SUDO_USER, LOGNAME, USER) names nobody, so it can neither unmask a reporter nor put
another person's name in the audit trail."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome
from hotline.features.cli_support import actor
from hotline.ledger.store import Ledger
from tests.cli import hotline

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
NUMBER = "13955125678"
# Every variable a shell, su or sudo sets that names a user.
SPOOFED = {"SUDO_USER": "chief", "LOGNAME": "chief", "USER": "chief", "USERNAME": "chief",
           "SUDO_UID": "4242", "SUDO_GID": "4242"}


def _me() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


async def _tip_off(path: Path) -> None:
    ledger = await Ledger.open(path)
    await ledger.upsert_calls([
        Call("a", "c", "a", NUMBER, "举报人", CallState.ENDED, T0, category="tip_off",
             ended_at=T0, outcome=Outcome.ANSWERED, end_reason=EndReason.HANGUP)], T0)
    await ledger.close()


def _audit(path: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT actor, action FROM audit ORDER BY id").fetchall()
    finally:
        con.close()


def test_actor_is_the_os_account_whatever_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """actor() names the process's OS account, also when SUDO_USER, LOGNAME and USER name
    someone else or are missing."""
    for key, value in SPOOFED.items():
        monkeypatch.setenv(key, value)
    assert actor() == _me()
    for key in SPOOFED:
        monkeypatch.delenv(key)
    assert actor() == _me()


def test_sudo_user_in_the_environment_cannot_unmask_or_sign_the_audit(tmp_path: Path) -> None:
    """`SUDO_USER=chief hotline ledger show ID --unmask`, with only chief allowed, is refused
    and audited under the real account, not chief."""
    path = tmp_path / "ledger.sqlite3"
    asyncio.run(_tip_off(path))
    refused = hotline("ledger", "show", "a", "--unmask", "--json",
                      env={"HOTLINE_LEDGER_PATH": str(path),
                           "HOTLINE_LEDGER_UNMASK_USERS": "[chief]", **SPOOFED})
    assert refused.returncode == 1
    assert "[unmask-not-allowed]" in refused.stderr
    assert NUMBER not in refused.stdout + refused.stderr
    assert _audit(path) == [(_me(), "call.unmask_refused")]


def test_the_allowed_os_account_unmasks_under_its_own_name(tmp_path: Path) -> None:
    """With the real account allowed, an unmask works and the audit names that account,
    whatever SUDO_USER, LOGNAME and USER say."""
    path = tmp_path / "ledger.sqlite3"
    asyncio.run(_tip_off(path))
    shown = hotline("ledger", "show", "a", "--unmask", "--json",
                    env={"HOTLINE_LEDGER_PATH": str(path),
                         "HOTLINE_LEDGER_UNMASK_USERS": f"[{_me()}]", **SPOOFED})
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["caller_number"] == NUMBER
    assert _audit(path) == [(_me(), "call.unmask")]
