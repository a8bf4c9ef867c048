"""`hotline run` as a process, against the fake AMI server: it stops on its signal
whatever became of its output, and it never takes over another running service's pid
file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.pbx.sandbox import find_free_port
from tests.fakeami import Action, FakeAmi, response
from tests.unit.test_service_replay import Asterisk

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def ami() -> AsyncIterator[FakeAmi]:
    """A fake Asterisk that answers the service's start (resync lists)."""
    async with FakeAmi() as fake:
        asterisk = Asterisk(fake)

        async def answer(action: Action) -> str | None:
            return await asterisk.answer(action) or response("Success")

        fake.handler = answer
        fake.agi_port = find_free_port()  # not the AMI port + 1, which may be taken
        yield fake


def service_env(ami: FakeAmi, folder: Path, pid_file: Path) -> dict[str, str]:
    """A service of the test's own: its folder for ledger, prompts and voicemail, the
    tests' small dialplan, no routing file."""
    folder.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "HOTLINE_AMI_PORT": str(ami.port),
            "HOTLINE_AGI_PORT": str(ami.agi_port),
            "HOTLINE_AMI_SECRET": ami.secret, "HOTLINE_LOG_FORMAT": "json",
            "HOTLINE_LEDGER_PATH": str(folder / "ledger.sqlite3"),
            "HOTLINE_SERVICE_PID_FILE": str(pid_file),
            "HOTLINE_ROUTING_PATH": str(folder / "no-routing.yaml"),
            "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'tests' / 'dialplans'}]",
            "HOTLINE_PROMPTS_HOST_DIR": str(folder / "prompts"),
            "HOTLINE_PROMPTS_ASTERISK_DIR": "/prompts",
            "HOTLINE_VOICEMAIL_HOST_DIR": str(folder / "voicemail"),
            "HOTLINE_VOICEMAIL_ASTERISK_DIR": "/voicemail",
            "HOTLINE_WEB_PORT": "0"}


def start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hotline", "run"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


async def wait_for_line(proc: subprocess.Popen[str], needle: str,
                        timeout: float = 30) -> str:
    """Read the process's output until a line holds `needle` (or it ends: all of it)."""
    assert proc.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(timeout):
        while True:
            line = await asyncio.to_thread(proc.stdout.readline)
            seen.append(line)
            if needle in line or not line:
                return "".join(seen)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_the_service_after_its_output_pipe_broke(
        ami: FakeAmi, tmp_path: Path, sig: signal.Signals) -> None:
    """`hotline run 2>&1 | tee run.log`, tee killed: SIGTERM or SIGINT still stops the
    service within 5 s, cleanly (exit 0), though every log line now fails to write."""
    proc = start(service_env(ami, tmp_path / "svc", tmp_path / "svc.pid"))
    try:
        assert "calls.resynced" in await wait_for_line(proc, "calls.resynced")
        assert proc.stdout is not None
        proc.stdout.close()  # the reader of the pipe is gone
        await asyncio.sleep(0.2)
        started = time.monotonic()
        proc.send_signal(sig)
        code = await asyncio.to_thread(proc.wait, 5)
        assert time.monotonic() - started < 5
        assert code == 0
    finally:
        stop(proc)


async def test_a_second_service_leaves_the_running_ones_pid_file_alone(
        ami: FakeAmi, tmp_path: Path) -> None:
    """A service started beside a running one with the same pid file (`make test` beside
    `make run`) refuses to start, and the pid file still names the running service."""
    pid_file = tmp_path / "hotline.pid"
    first = start(service_env(ami, tmp_path / "first", pid_file))
    second: subprocess.Popen[str] | None = None
    try:
        await wait_for_line(first, "calls.resynced")
        second = start(service_env(ami, tmp_path / "second", pid_file))
        out = await wait_for_line(second, "calls.resynced")
        if second.poll() is None:  # it ran (and took the file): stop it as a test ends
            second.send_signal(signal.SIGTERM)
        await asyncio.to_thread(second.wait, 10)
        assert pid_file.read_text().strip() == str(first.pid)
        assert first.poll() is None
        assert second.returncode == 1
        assert (f"hotline: [service-running] another hotline service is running with the "
                f"pid file {pid_file} (pid {first.pid})") in out
        first.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait, 10) == 0
        assert not pid_file.exists()  # the first removed its own file as it stopped
    finally:
        stop(first)
        if second is not None:
            stop(second)


async def test_a_second_service_on_a_taken_fastagi_port_says_so_and_does_not_start(
        ami: FakeAmi, tmp_path: Path) -> None:
    """A service whose FastAGI port another program holds (here a first service with
    another pid file) exits 1 with one `[agi-port-busy]` line naming the port, no
    traceback, and the first goes on."""
    first = start(service_env(ami, tmp_path / "first", tmp_path / "first.pid"))
    second: subprocess.Popen[str] | None = None
    try:
        await wait_for_line(first, "calls.resynced")
        second = start(service_env(ami, tmp_path / "second", tmp_path / "second.pid"))
        out = await wait_for_line(second, "agi-port-busy")
        assert await asyncio.to_thread(second.wait, 10) == 1
        assert "Traceback" not in out
        assert ("hotline: [agi-port-busy] cannot listen for FastAGI on "
                f"127.0.0.1:{ami.agi_port}") in out
        assert first.poll() is None
    finally:
        stop(first)
        if second is not None:
            stop(second)


async def test_stop_ends_every_task_and_subscription_of_the_service(
        ami: FakeAmi, tmp_path: Path) -> None:
    """After a stop, the service leaves no consumer subscribed, no task of its own
    running (event consumers, IVR sessions) and the reload signal handled in its group."""
    from hotline.app.service import Service
    from hotline.app.settings import load_settings
    from hotline.pbx.gateway import AmiGateway

    env = service_env(ami, tmp_path, tmp_path / "hotline.pid")
    settings = load_settings(None, {k: v for k, v in env.items() if k.startswith("HOTLINE_")})
    gateway = AmiGateway("127.0.0.1", ami.port, ami.username, ami.secret,
                         action_timeout=20.0, connect_timeout=1.0)
    service = Service(settings, gateway)
    before = asyncio.all_tasks()
    run = asyncio.create_task(service.run())
    async with asyncio.timeout(10):
        await gateway.wait_connected()
    # A caller in the menu (the fake Asterisk never ends the IVR's commands).
    from tests.unit.test_service_replay import A_CHANNEL, AGI_START, NEWCHANNEL, at

    await ami.connection.push(at(NEWCHANNEL, 0) + at(AGI_START, 0))
    assert service.calls is not None
    async with asyncio.timeout(5):
        while A_CHANNEL not in service.calls.sessions:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    session = service.calls.sessions[A_CHANNEL]
    service.request_reload()  # SIGHUP's handler: done by the group's reloading task
    service.stop()
    async with asyncio.timeout(5):
        await run
    assert session.done()
    assert gateway._consumers == []
    left = [t for t in asyncio.all_tasks() - before
            if not t.done() and t is not asyncio.current_task()]
    assert [t.get_name() for t in left if t.get_name().startswith(("ami-", "ivr-"))] == []
