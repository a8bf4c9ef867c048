"""The embedded Asterisk: built once, started and stopped cleanly, several at once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotline.pbx import sandbox as sandbox_mod
from hotline.pbx.sandbox import Instance, Sandbox, SandboxError, find_free_port, find_free_udp_port

pytestmark = pytest.mark.asterisk


def asterisk_pids(conf: str) -> list[int]:
    """Every process on the machine running an Asterisk with this config file."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if conf.encode() in args and any(a.endswith(b"asterisk") for a in args):
            pids.append(int(proc.name))
    return pids


def test_build_is_reused(sandbox: Sandbox) -> None:
    """A built sandbox is reused, not rebuilt."""
    mark = sandbox.root / sandbox_mod.COMPLETE_MARK
    before = mark.stat().st_mtime_ns
    started = time.monotonic()
    version = sandbox.build()
    assert time.monotonic() - started < 5
    assert version.startswith("Asterisk 2")
    assert mark.stat().st_mtime_ns == before


def test_running_instance_answers_cli(asterisk: Instance) -> None:
    """A running instance answers CLI commands and has hotline's dialplan."""
    out = asterisk.cli("core show version")
    assert out.startswith("Asterisk 2")
    # The line's entry hands each call to hotline's FastAGI server on this instance's port.
    assert (f"AGI(agi://127.0.0.1:{asterisk.agi_port}/ivr"
            in asterisk.cli("dialplan show 12366@ivr"))


def test_two_instances_at_once_and_down_leaves_no_process(
        sandbox: Sandbox, asterisk: Instance) -> None:
    """Two instances run at once on their own ports, and down leaves no Asterisk process."""
    second = sandbox.instance(f"test2-{os.getpid()}", find_free_port(), find_free_port(),
                              find_free_udp_port(), wss_port=find_free_port())
    second.up()
    try:
        assert second.pid() is not None
        assert asterisk.pid() is not None
        assert second.pid() != asterisk.pid()
        assert f"127.0.0.1:{second.ami_port}" in second.cli("manager show settings")
        assert f"127.0.0.1:{asterisk.ami_port}" in asterisk.cli("manager show settings")
    finally:
        assert second.down() is True
        shutil.rmtree(second.dir, ignore_errors=True)
    assert asterisk_pids(second.conf) == []
    assert second.pid() is None
    # The other instance is untouched.
    assert asterisk.pid() is not None


def test_up_twice_is_harmless(asterisk: Instance) -> None:
    """Starting an instance that is up changes nothing."""
    pid = asterisk.pid()
    asterisk.up()
    assert asterisk.pid() == pid
    assert len(asterisk_pids(asterisk.conf)) == 1


def test_port_in_use_is_a_clear_error(sandbox: Sandbox, asterisk: Instance) -> None:
    """An AMI port already in use is a clear error and starts no Asterisk."""
    clash = sandbox.instance(f"test3-{os.getpid()}", asterisk.ami_port)
    with pytest.raises(SandboxError, match=f"127.0.0.1:{asterisk.ami_port} is already in use"):
        clash.up()
    assert asterisk_pids(clash.conf) == []


def test_cli_command_status_and_cli(asterisk: Instance) -> None:
    """`hotline sandbox status` and `hotline sandbox cli` report on and talk to the running
    instance."""
    env = {**os.environ, "HOTLINE_AMI_PORT": str(asterisk.ami_port),
           "HOTLINE_SANDBOX_INSTANCE": asterisk.name}
    status = subprocess.run([sys.executable, "-m", "hotline", "sandbox", "status"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert status.returncode == 0, status.stderr
    assert f"instance {asterisk.name}: up (pid {asterisk.pid()})" in status.stdout
    assert f"127.0.0.1:{asterisk.ami_port}" in status.stdout
    cli = subprocess.run([sys.executable, "-m", "hotline", "sandbox", "cli", "queue show center"],
                         env=env, capture_output=True, text=True, timeout=30)
    assert cli.returncode == 0, cli.stderr
    assert "center has 0 calls" in cli.stdout
