"""Security of the embedded Asterisk and confidentiality on disk, against the real sandbox.

hotline's AMI account has only the classes hotline uses: it cannot load a module, run a
CLI command or originate a call into a shell; the modules that run shell commands are not
loadable at all, and Asterisk does not run as root. After real calls (a voicemail taken
while hotline was down, a tip-off answered by a seat, a voicemail hotline recorded) no
file is readable by anyone but its owner, and the reporter's number and name are in no
file but the ledger database.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asterisk.ami import SimpleAction

from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.features.ivr.prompts import synthesise
from hotline.pbx import testline
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiGateway, EventGap
from hotline.pbx.sandbox import Instance
from tests.conftest import ami_client, queue_members
from tests.real.test_resilience import SEAT_DEVICE, HotlineProcess, seat_logged_in

pytestmark = pytest.mark.asterisk
REPO = Path(__file__).resolve().parents[2]

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


# -- confidentiality on disk ------------------------------------------------------------


def _files(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        for dirpath, _, names in os.walk(folder):
            for name in names:
                yield Path(dirpath) / name


def _exposed(folder: Path, public: Path) -> list[str]:
    """Files and folders under `folder` that others than their owner may read (or, for
    folders, enter), outside `public` (menu audio, which holds no caller data). The
    top folder may be entered by its group (Asterisk's), not read."""
    found = []
    if folder.stat().st_mode & 0o067:
        found.append(f"{folder} {stat.filemode(folder.stat().st_mode)}")
    for dirpath, dirs, names in os.walk(folder):
        here = Path(dirpath)
        if here == public or public in here.parents:
            continue
        for name in [*dirs, *names]:
            path = here / name
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:  # a journal SQLite removed while the walk ran
                continue
            if stat.S_ISLNK(mode):
                continue
            if path != public and mode & 0o077:
                found.append(f"{path} {stat.filemode(mode)}")
    return found


def _holding(needles: list[bytes], folders: list[Path]) -> list[str]:
    found = []
    for path in _files(*folders):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        found += [f"{path}: {needle.decode()}" for needle in needles if needle in data]
    return found


async def _fallback_voicemail(inst: Instance, gateway: AmiGateway, call: TestCall) -> None:
    """The caller leaves a message in Asterisk's own fallback box (no hotline runs)."""
    for name, value in (("HOTLINE_FALLBACK_WAIT", "2"), ("SEAT_MODE_8001", "noanswer")):
        await gateway.set_global(name, value)
    spoke = asyncio.Event()

    async def speaks(message: AmiMessage | EventGap) -> None:
        if not isinstance(message, AmiMessage) or message.get("Linkedid") != call.linkedid:
            return
        ivr_half = message.get("Channel") or ""
        if message.event == "QueueCallerLeave":
            await testline.speak(gateway, ivr_half, call.speak)
        elif message.event == "UserEvent" and message.get("UserEvent") == "CallerSpoke":
            spoke.set()
            await testline.hang_up(gateway, ivr_half)

    watch = gateway.subscribe("fallback-speaks", ["QueueCallerLeave", "UserEvent"], speaks)
    try:
        await place_call(gateway, call, timeout=60)
    finally:
        watch.unsubscribe()
        for name in ("HOTLINE_FALLBACK_WAIT", "SEAT_MODE_8001"):
            await gateway.set_global(name, "")
    assert spoke.is_set()


async def test_no_file_but_the_ledger_holds_a_reporter_and_none_is_readable_by_others(
        own_asterisk: Instance, gateway: AmiGateway, tmp_path: Path) -> None:
    """After a fallback voicemail, a tip-off answered by a seat and a voicemail hotline
    recorded, all from one reporter: no file of the instance, the spool or the ledger's
    folder is readable by others, and only the ledger database holds the number or name."""
    number = "139" + "".join(secrets.choice("0123456789") for _ in range(8))
    name = "举报人" + secrets.choice("甲乙丙丁戊己庚辛")
    speech = own_asterisk.dir / "sounds" / "reporter-speech.wav"
    synthesise("我要举报一家企业虚开发票。", speech)
    said = f"{own_asterisk.chroot_dir}/sounds/reporter-speech"

    # 1. hotline is down: Asterisk's own VoiceMail takes the message.
    await _fallback_voicemail(own_asterisk, gateway, TestCall(number, name, [], speak=said))

    # 2. hotline is back (it imports that message); the seat answers a tip-off (2).
    ledger = tmp_path / "ledger" / "ledger.sqlite3"
    ledger.parent.mkdir(mode=0o700)
    service = HotlineProcess(own_asterisk, ledger, {
        "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'dialplans'}, {REPO / 'tests' / 'dialplans'}]"})
    # The test's own files there: the tests' routing and calendar, hotline's captured log.
    own = {"routing.yaml", "calendar.yaml", service.log.name}
    try:
        await service.wait_for("voicemail.imported_from_fallback", timeout=30)
        await seat_logged_in(own_asterisk, ledger)  # in the ledger the service made
        async with asyncio.timeout(20):
            # Asterisk says when the routing loop has added the seat: polled, no event.
            while SEAT_DEVICE not in await asyncio.to_thread(  # noqa: ASYNC110
                    queue_members, own_asterisk, "tipoff"):
                await asyncio.sleep(0.3)
        tip_off = TestCall(number, name, ["2"])
        await place_call(gateway, tip_off, timeout=60)
        row = await wait_for_ledger_row(ledger, tip_off.linkedid)
        assert (row.category, row.outcome) == ("tip_off", "answered")
        # 3. A voicemail hotline records itself (the tests' line 12399, option 4).
        message = TestCall(number, name, ["4", "s", "#", "#"], extension="12399", speak=said)
        await place_call(gateway, message, timeout=60)
        row = await wait_for_ledger_row(ledger, message.linkedid)
        assert row.outcome == "voicemail"
        await service.wait_for("voicemail.saved")
        # While the service runs: the ledger's -wal and -shm files exist too.
        exposed = _exposed(own_asterisk.dir, own_asterisk.dir / "sounds")
        exposed += [f for f in _exposed(ledger.parent, ledger.parent / "no-public-folder")
                    if Path(f.split()[0]).name not in own]
        assert {p.name for p in ledger.parent.iterdir()} >= {
            "ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"}
    finally:
        service.stop()
    database = {ledger, ledger.with_name("ledger.sqlite3-wal"),
                ledger.with_name("ledger.sqlite3-shm")}
    root = own_asterisk.sandbox.root
    searched = [own_asterisk.dir, tmp_path, root / "tmp", root / "var/spool",
                root / "var/log", root / "var/lib/asterisk"]
    holding = _holding([number.encode(), name.encode()], searched)
    stray = [h for h in holding if Path(h.split(": ")[0]) not in database]
    assert (exposed, stray) == ([], []), "\n".join([*exposed, *stray])
    assert any(Path(h.split(": ")[0]) in database for h in holding)  # the ledger has it
