"""The service against the real Asterisk: login, FullyBooted, FastAGI, clean shutdown."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import structlog
from asterisk.ami import AMIClient, SimpleAction

from hotline.app.service import Service
from hotline.app.settings import load_settings
from hotline.pbx.sandbox import Instance, Sandbox, find_free_port, find_free_udp_port
from tests.real.test_sandbox import asterisk_pids

pytestmark = pytest.mark.asterisk
REPO = Path(__file__).resolve().parents[2]


def env_for(inst: Instance, folder: Path) -> dict[str, str]:
    """A test service on `inst`, with a ledger and pid file of its own in `folder`: never
    those of a service running from this clone (`make run`)."""
    return {**os.environ, "HOTLINE_AMI_PORT": str(inst.ami_port),
            "HOTLINE_AGI_PORT": str(inst.agi_port),
            "HOTLINE_SANDBOX_INSTANCE": inst.name, "HOTLINE_LOG_FORMAT": "json",
            "HOTLINE_LEDGER_PATH": str(folder / "ledger.sqlite3"),
            "HOTLINE_SERVICE_PID_FILE": str(folder / "hotline.pid"), "HOTLINE_WEB_PORT": "0"}


def own_ports() -> dict[str, str]:
    """Free FastAGI, SIP and WebSocket ports for a sandbox the service starts itself: the
    defaults (the AMI port + 1, + 2, + 3) may be any program's ephemeral ports here."""
    return {"HOTLINE_AGI_PORT": str(find_free_port()),
            "HOTLINE_SANDBOX_SIP_PORT": str(find_free_udp_port()),
            "HOTLINE_SANDBOX_WSS_PORT": str(find_free_port())}


def getvar(inst: Instance, name: str) -> str | None:
    """Read a global variable with the independent (threaded) AMI client."""
    client = AMIClient(address="127.0.0.1", port=inst.ami_port, timeout=5)
    login = client.login(username="hotline", secret=inst.secret()).response
    assert login is not None, "test AMI client could not log in"
    try:
        reply = client.send_action(SimpleAction("Getvar", Variable=name)).response
        value = reply.keys.get("Value") if reply is not None else None
        return value or None
    finally:
        client.logoff()


async def test_service_logs_in_sees_fully_booted_and_serves_fastagi(own_asterisk: Instance,
                                                                   tmp_path: Path) -> None:
    """The service logs in to AMI, sees FullyBooted and listens for FastAGI on the port
    the sandbox's dialplan connects to. (An Asterisk of the module's own: the session's
    has the session's hotline on its FastAGI port; each Asterisk has one hotline.)"""
    settings = load_settings(None, {"HOTLINE_AMI_PORT": str(own_asterisk.ami_port),
                                    "HOTLINE_AGI_PORT": str(own_asterisk.agi_port),
                                    "HOTLINE_SANDBOX_INSTANCE": own_asterisk.name,
                                    "HOTLINE_LEDGER_PATH": str(tmp_path / "ledger.db"),
                                    "HOTLINE_WEB_PORT": "0"})
    service = Service(settings)
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(service.run())
        async with asyncio.timeout(10):
            await service.fully_booted.wait()
            await service.gateway.connected.wait()
            await service.agi_server.listening.wait()
        _, writer = await asyncio.open_connection("127.0.0.1", own_asterisk.agi_port)
        writer.close()
        service.stop()
        async with asyncio.timeout(5):
            await task
    events = [entry["event"] for entry in logs]
    assert "ami.connected" in events
    assert "asterisk.fully_booted" in events
    assert "agi.listening" in events


def test_wrong_secret_is_a_clear_error_not_a_loop(
        own_asterisk: Instance, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`hotline run` with a wrong AMI secret exits 1 with a clear error, without printing
    the secret or retrying."""
    # (Not tmp_path: its name, from the test's, holds the secret's text.)
    env = {**env_for(own_asterisk, tmp_path_factory.mktemp("service")),
           "HOTLINE_AMI_SECRET": "wrong"}
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "hotline", "run"], env=env,
                         capture_output=True, text=True, timeout=30, cwd=REPO)
    assert res.returncode == 1
    assert (f"AMI login refused for user hotline at 127.0.0.1:{own_asterisk.ami_port}"
            in res.stderr)
    assert "wrong" not in res.stderr  # the secret is never printed
    assert time.monotonic() - started < 15


def test_sigterm_stops_the_service_within_5_seconds(own_asterisk: Instance,
                                                    tmp_path: Path) -> None:
    """SIGTERM stops `hotline run` within 5 s with exit status 0."""
    proc = subprocess.Popen([sys.executable, "-m", "hotline", "run"],
                            env=env_for(own_asterisk, tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        _wait_for_line(proc, "asterisk.fully_booted")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
        assert time.monotonic() - started < 5
        assert proc.returncode == 0
    finally:
        proc.kill()
        proc.wait()


def test_run_with_sandbox_ctrl_c_leaves_no_asterisk(sandbox: Sandbox, tmp_path: Path) -> None:
    """Ctrl-C on `hotline run --with-sandbox` stops the service and its Asterisk, leaving no
    process."""
    name, port = f"test-run-{os.getpid()}", find_free_port()
    env = {**os.environ, "HOTLINE_AMI_PORT": str(port), "HOTLINE_SANDBOX_INSTANCE": name,
           **own_ports(), "HOTLINE_LOG_FORMAT": "json",
           "HOTLINE_LEDGER_PATH": str(tmp_path / "ledger.db"),
           "HOTLINE_SERVICE_PID_FILE": str(tmp_path / "hotline.pid"), "HOTLINE_WEB_PORT": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "hotline", "run", "--with-sandbox"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)
    conf = f"/srv/hotline/{name}/etc/asterisk.conf"
    try:
        _wait_for_line(proc, "asterisk.fully_booted", timeout=90)
        assert len(asterisk_pids(conf)) == 1
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    assert asterisk_pids(conf) == []
    # The demo seat logged in, recorded like a seat's own login.
    con = sqlite3.connect(tmp_path / "ledger.db")
    events = con.execute("SELECT seat, event, actor FROM seat_events").fetchall()
    con.close()
    assert events == [("8001", "login", "demo")]
    shutil.rmtree(sandbox.instance(name, port).dir)


def test_run_with_sandbox_after_tee_died_still_stops_and_takes_asterisk_down(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """`make run 2>&1 | tee run.log`, Ctrl-C: tee dies first; the service still stops
    within 5 s of the signal and its Asterisk is down once it has exited."""
    name, port = f"test-tee-{os.getpid()}", find_free_port()
    env = {**os.environ, "HOTLINE_AMI_PORT": str(port), "HOTLINE_SANDBOX_INSTANCE": name,
           **own_ports(), "HOTLINE_LOG_FORMAT": "json",
           "HOTLINE_LEDGER_PATH": str(tmp_path / "ledger.db"),
           "HOTLINE_SERVICE_PID_FILE": str(tmp_path / "hotline.pid"), "HOTLINE_WEB_PORT": "0"}
    # A real pipeline: the service's stdout and stderr into tee, as `2>&1 | tee` does.
    tee = subprocess.Popen(["tee", str(tmp_path / "run.log")], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL)
    assert tee.stdin is not None
    proc = subprocess.Popen([sys.executable, "-m", "hotline", "run", "--with-sandbox"],
                            env=env, stdout=tee.stdin, stderr=tee.stdin, cwd=REPO)
    tee.stdin.close()
    conf = f"/srv/hotline/{name}/etc/asterisk.conf"
    try:
        deadline = time.monotonic() + 90
        while "asterisk.fully_booted" not in _text(tmp_path / "run.log"):
            assert time.monotonic() < deadline, _text(tmp_path / "run.log")
            assert proc.poll() is None, _text(tmp_path / "run.log")
            time.sleep(0.2)
        assert len(asterisk_pids(conf)) == 1
        tee.kill()  # Ctrl-C reaches tee too, and it goes first
        tee.wait()
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        print(f"stopped with its Asterisk in {time.monotonic() - started:.1f} s")
        assert time.monotonic() - started < 5
        assert proc.returncode == 0
        assert asterisk_pids(conf) == []
    finally:
        proc.kill()
        proc.wait()
        tee.kill()
        tee.wait()
        if asterisk_pids(conf):
            sandbox.instance(name, port).down()
    shutil.rmtree(sandbox.instance(name, port).dir)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 20) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    os.set_blocking(proc.stderr.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line:
            seen.append(line)
            if needle in line:
                os.set_blocking(proc.stderr.fileno(), True)
                return
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.05)
    raise AssertionError(f"{needle!r} not seen; stderr was:\n{''.join(seen)}")
