"""`hotline users ...` and the CLI staff commands acting as the person bound to the OS
account that runs them: the default admin of a first start, admin-only account commands
with clear refusals, roles checked for the staff commands (a seat changes only its own
seat), refusals audited, and the audit naming the person, never the OS account."""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import sqlite3
from pathlib import Path

from hotline.ledger.store import Ledger
from tests.cli import REPO, Result, hotline

SPOOFED = {"SUDO_USER": "chief", "LOGNAME": "chief", "USER": "chief", "USERNAME": "chief"}


def _me() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def run(ledger: Path, *args: str, user: str | None = "ops") -> Result:
    """`hotline ARGS` on this ledger as the OS account `user` (None: the real one)."""
    return hotline(*args, user=user, env={"HOTLINE_LEDGER_PATH": str(ledger)})


def audit(ledger: Path) -> list[tuple[str, str, str]]:
    con = sqlite3.connect(ledger)
    try:
        return con.execute("SELECT actor, action, target FROM audit ORDER BY id").fetchall()
    finally:
        con.close()


def one_time(out: str) -> str:
    found = re.search(r"([A-Za-z0-9]{4}-){3}[A-Za-z0-9]{4}", out)
    assert found is not None, out
    return found.group(0)


def init(ledger: Path, user: str | None = "ops") -> str:
    asyncio.run(_create(ledger))
    res = run(ledger, "users", "init", user=user)
    assert res.returncode == 0, res.stderr
    return one_time(res.stdout)


async def _create(path: Path) -> None:
    await (await Ledger.open(path)).close()


def test_init_makes_one_admin_with_a_one_time_password_once(tmp_path: Path) -> None:
    """On a ledger with no account, `users` commands say how to start; `users init`
    creates `admin` bound to the OS account that ran it, prints a random one-time
    password once (two ledgers get different ones, none is in the ledger file), and a
    second init creates nothing."""
    ledger = tmp_path / "ledger.sqlite3"
    asyncio.run(_create(ledger))
    res = run(ledger, "users", "list")
    assert res.returncode == 1
    assert "[no-accounts]" in res.stderr
    first = init(ledger)
    assert init(tmp_path / "other.sqlite3") != first
    assert first.encode() not in ledger.read_bytes()
    again = run(ledger, "users", "init")
    assert "nothing created" in again.stdout
    assert not re.search(r"([A-Za-z0-9]{4}-){3}", again.stdout)
    listed = run(ledger, "users", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"username": "admin"' in listed.stdout
    assert '"os_login": "ops"' in listed.stdout
    assert '"must_change": true' in listed.stdout


def test_admin_commands_are_audited_with_the_person_and_refuse_bad_input(
        tmp_path: Path) -> None:
    """The admin (bound to OS account `ops`) adds, re-roles, disables and resets accounts
    and makes and revokes a token: each audited as `admin`, never `ops`; bad names,
    roles, seats and missing fields are refused naming the problem."""
    ledger = tmp_path / "ledger.sqlite3"
    init(ledger)
    added = run(ledger, "users", "add", "zhang", "--roles", "座席,expert", "--name", "张敏",
                "--seat", "8101", "--os-login", "zhangmin")
    assert added.returncode == 0, added.stderr
    one_time(added.stdout)
    for args, problem in (
            (("add", "li", "--roles", "seat"), "needs its seat id"),
            (("add", "li", "--roles", "liaison"), "needs the department"),
            (("add", "li", "--roles", "seat", "--seat", "9999"), "no seat '9999'"),
            (("add", "li", "--roles", "leader", "--bureau", "mars"), "no group 'mars'"),
            (("add", "zhang", "--roles", "leader"), "[user-exists]"),
            (("add", "li", "--roles", "leader", "--os-login", "zhangmin"),
             "[os-login-taken]"),
            (("add", "Li Si", "--roles", "leader"), "is not a user name"),
            (("add", "li", "--roles", "boss"), "unknown role 'boss'"),
            (("roles", "nobody", "leader"), "[user-unknown]"),
            (("disable", "admin"), "cannot disable themselves"),
            (("roles", "admin", "leader"), "cannot take the admin role"),
            (("token", "revoke", "77"), "[token-unknown]")):
        res = run(ledger, "users", *args)
        assert res.returncode in (1, 2), args
        assert problem in res.stderr, (args, res.stderr)
    assert run(ledger, "users", "roles", "zhang", "seat").returncode == 0
    assert run(ledger, "users", "disable", "zhang").returncode == 0
    assert one_time(run(ledger, "users", "passwd", "zhang").stdout)
    token = run(ledger, "users", "token", "add", "zhang", "--name", "报表")
    assert token.returncode == 0, token.stderr
    value = re.search(r"hl_[A-Za-z0-9_-]+", token.stdout)
    assert value is not None
    assert value.group(0).encode() not in ledger.read_bytes()
    assert run(ledger, "users", "token", "revoke", "1").returncode == 0
    assert "已吊销" in run(ledger, "users", "token", "list").stdout
    rows = audit(ledger)
    assert [a for a in rows if a[1] != "user.add" or a[2] != "user:admin"] == [
        ("admin", "user.add", "user:zhang"), ("admin", "user.roles", "user:zhang"),
        ("admin", "user.disable", "user:zhang"), ("admin", "user.passwd", "user:zhang"),
        ("admin", "token.add", "token:1"), ("admin", "token.revoke", "token:1")]
    assert all(actor != "ops" for actor, _, _ in rows)


def test_staff_commands_act_as_the_bound_person_with_its_roles(tmp_path: Path) -> None:
    """An OS account bound to nobody is refused (staff-unbound); one bound to a seat may
    list work orders but not export the ledger nor manage accounts (role-required, the
    refusal audited under the person's name) and may change only its own seat."""
    ledger = tmp_path / "ledger.sqlite3"
    init(ledger)
    assert run(ledger, "users", "add", "zhang", "--roles", "seat", "--seat", "8001",
               "--os-login", "zhangmin").returncode == 0
    res = run(ledger, "orders", "list", user="stranger")
    assert res.returncode == 1
    assert "[staff-unbound]" in res.stderr
    assert "'stranger'" in res.stderr
    assert run(ledger, "orders", "list", "--json", user="zhangmin").returncode == 0
    export = run(ledger, "ledger", "export", "--from", "2026-11-01", "--to", "2026-11-30",
                 "--output", str(tmp_path / "x.csv"), user="zhangmin")
    assert export.returncode == 1
    assert "[role-required]" in export.stderr
    assert "auditor or leader" in export.stderr
    assert not (tmp_path / "x.csv").exists()
    res = run(ledger, "users", "list", user="zhangmin")
    assert "[role-required]" in res.stderr
    res = hotline("seats", "pause", "8002", "--reason", "meal", user="zhangmin",
                  env={"HOTLINE_LEDGER_PATH": str(ledger),
                       "HOTLINE_ROUTING_PATH": str(REPO / "config" / "routing.yaml")})
    assert res.returncode == 1
    assert "only their own seat (8001), not 8002" in res.stderr
    refused = [a for a in audit(ledger) if a[1] == "staff.refused"]
    assert refused == [("zhang", "staff.refused", "ledger.export"),
                       ("zhang", "staff.refused", "users.list")]


def test_the_environment_cannot_change_who_acts(tmp_path: Path) -> None:
    """The acting person comes from the real uid: with SUDO_USER, LOGNAME and USER
    naming someone else, the admin bound to this process's real OS account acts, and the
    audit names `admin`."""
    ledger = tmp_path / "ledger.sqlite3"
    asyncio.run(_create(ledger))
    assert run(ledger, "users", "init", user=None).returncode == 0
    res = hotline("users", "add", "chief", "--roles", "leader", user=None,
                  env={"HOTLINE_LEDGER_PATH": str(ledger), **SPOOFED})
    assert res.returncode == 0, res.stderr
    assert audit(ledger)[-1] == ("admin", "user.add", "user:chief")
    listed = run(ledger, "users", "list", "--json", user=None)
    assert f'"os_login": "{_me()}"' in listed.stdout


def test_an_auditor_unmasks_and_a_leader_does_not(tmp_path: Path) -> None:
    """With accounts, the auditor role is what allows an unmask (audited under the
    person's name); a leader's unmask is refused (unmask-not-allowed) and audited, and
    the number stays masked."""
    from tests.unit.test_actor import NUMBER, _tip_off

    ledger = tmp_path / "ledger.sqlite3"
    asyncio.run(_tip_off(ledger))
    init(ledger)
    assert run(ledger, "users", "add", "shen", "--roles", "auditor",
               "--os-login", "shenji").returncode == 0
    refused = run(ledger, "ledger", "show", "a", "--unmask", "--json")
    assert refused.returncode == 1
    assert "[unmask-not-allowed]" in refused.stderr
    assert NUMBER not in refused.stdout
    shown = run(ledger, "ledger", "show", "a", "--unmask", "--json", user="shenji")
    assert shown.returncode == 0, shown.stderr
    assert NUMBER in shown.stdout
    rows = [a for a in audit(ledger) if a[2] == "call:a"]
    assert rows == [("admin", "call.unmask_refused", "call:a"),
                    ("shen", "call.unmask", "call:a")]
