"""Security of the embedded Asterisk, against the real sandbox.

hotline's AMI account has only the classes hotline uses: it cannot load a module, run a
CLI command or originate a call into a shell; the modules that run shell commands are not
loadable at all, and Asterisk does not run as root.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
from asterisk.ami import SimpleAction

from hotline.pbx.sandbox import Instance
from tests.conftest import ami_client

pytestmark = pytest.mark.asterisk

# Modules whose applications or functions run a shell command or a program.
SHELL_MODULES = ("app_system.so", "func_shell.so")


def _refusal(inst: Instance, name: str, **fields: str) -> str | None:
    """Asterisk's message if it refuses the action to hotline's account (None: done)."""
    client = ami_client(inst)
    try:
        reply = client.send_action(SimpleAction(name, **fields)).response
        assert reply is not None, f"no reply to {name}"
        return (reply.keys.get("Message") or "?") if reply.is_error() else None
    finally:
        client.logoff()


def _loaded(inst: Instance, module: str) -> bool:
    out = inst.cli(f"module show like {module.removesuffix('.so')}")
    return f"{module} " in out or f"{module}\t" in out


def test_hotline_account_is_refused_module_load(own_asterisk: Instance) -> None:
    """hotline's AMI account is refused ModuleLoad (of a shell module or any other)."""
    for module in (*SHELL_MODULES, "app_exec.so", "app_echo.so"):
        refused = _refusal(own_asterisk, "ModuleLoad", Module=module, LoadType="load")
        assert refused == "Permission denied", module
    for module in SHELL_MODULES:
        assert not _loaded(own_asterisk, module)


def test_hotline_account_is_refused_cli_commands(own_asterisk: Instance) -> None:
    """hotline's AMI account is refused the Command action (the Asterisk CLI)."""
    assert _refusal(own_asterisk, "Command", Command="core show version") == "Permission denied"


def test_hotline_account_cannot_originate_into_a_shell(own_asterisk: Instance) -> None:
    """Originate of an application that reaches a shell or a program (System, TrySystem,
    Exec, AGI, SHELL() in the data) is refused to hotline's account, and runs nothing."""
    marker = f"pwned-{secrets.token_hex(4)}"
    inside = f"{own_asterisk.chroot_dir}/spool/{marker}"
    attempts = [("System", f"touch {inside}"), ("TrySystem", f"touch {inside}"),
                ("Exec", f"System(touch {inside})"), ("AGI", f"/bin/sh,-c,touch {inside}"),
                ("Verbose", f"${{SHELL(touch {inside})}}")]
    for application, data in attempts:
        refused = _refusal(own_asterisk, "Originate", Channel="Local/s@caller/n",
                           Application=application, Data=data, Async="true")
        assert refused == "Originate Access Forbidden: app or data blacklisted", application
    time.sleep(1)  # an accepted async Originate would have run by now
    assert not own_asterisk.host_path(inside).exists()


def test_shell_modules_cannot_be_loaded_even_from_the_console(own_asterisk: Instance) -> None:
    """The modules that run shell commands are not in the instance's module folder: not
    even root's console (`module load`) can load them."""
    for module in SHELL_MODULES:
        own_asterisk.cli(f"module load {module}")
        assert not _loaded(own_asterisk, module), module


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def test_asterisk_does_not_run_as_root(own_asterisk: Instance) -> None:
    """Asterisk runs under an account of its own: no uid or gid 0, no supplementary group
    0, no capabilities, and it can gain none (no_new_privs: setuid programs in the root do
    not raise it)."""
    pid = own_asterisk.pid()
    assert pid is not None
    status = _status(pid)
    uids, gids = status["Uid"].split(), status["Gid"].split()
    assert "0" not in uids, status
    assert "0" not in gids, status
    assert len(set(uids)) == 1, status  # real, effective, saved, file system: all one
    assert len(set(gids)) == 1, status
    assert "0" not in status.get("Groups", "").split(), status
    assert int(status["CapEff"], 16) == 0, status
    assert int(status["CapPrm"], 16) == 0, status
    assert status["NoNewPrivs"] == "1", status
    assert own_asterisk.dir.stat().st_uid == 0  # hotline's own files stay root's
