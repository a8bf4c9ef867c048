"""Shared fixtures. Real-Asterisk tests share one sandbox instance per test session, on a
free AMI port so they run beside a developer's `make run`.

HOTLINE_REQUIRE_ASTERISK=1 (set by CI) turns "cannot start Asterisk here" into a failure
instead of a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from asterisk.ami import AMIClient, SimpleAction

from hotline.app.service import Service
from hotline.app.settings import load_settings
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import (
    Instance,
    Sandbox,
    SandboxError,
    default_cache_dir,
    find_free_port,
    find_free_udp_port,
)

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "config" / "asterisk"


def _require() -> bool:
    return os.environ.get("HOTLINE_REQUIRE_ASTERISK") == "1"


def _unavailable(reason: str) -> None:
    if _require():
        pytest.fail(f"real Asterisk required (HOTLINE_REQUIRE_ASTERISK=1): {reason}")
    pytest.skip(f"real Asterisk not available: {reason}")


def _missing(what: str) -> None:
    """A tool a real-Asterisk test needs is not installed: fail in CI, else skip."""
    if _require():
        pytest.fail(f"{what} (HOTLINE_REQUIRE_ASTERISK=1)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def sipp() -> str:
    """SIPp (Debian's sip-tester): the carrier calling the line over the SIP trunk."""
    path = shutil.which("sipp")
    if path is None:
        _missing("sipp is not installed (Debian package sip-tester; .ci/run installs it)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    if os.geteuid() != 0:
        _unavailable("the sandbox needs root")
    sb = Sandbox(default_cache_dir(), TEMPLATES)
    try:
        sb.build(lambda line: print(line, flush=True))
    except SandboxError as exc:
        _unavailable(str(exc))
    return sb


def queues_conf(inst: Instance, folder: Path) -> dict[str, str]:
    """The queues.conf hotline writes for `inst` from the tests' routing (see
    routing_for_tests), as `hotline sandbox up` does."""
    from hotline.app.wiring import asterisk_files

    folder.mkdir(parents=True, exist_ok=True)
    settings = load_settings(REPO / "config" / "hotline.yaml",
                             service_env(inst, folder / "ledger.sqlite3"))
    return asterisk_files(settings)


def _running(sandbox: Sandbox, name: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """An instance on a free port with the tests' queues, up for the fixture's life."""
    # The FastAGI port too: AMI port + 1 may be any program's ephemeral port here.
    # SIP too (UDP), the port the tests' carrier (SIPp) sends from, and the WSS port.
    inst = sandbox.instance(name, find_free_port(), find_free_port(), find_free_udp_port(),
                            f"127.0.0.1:{find_free_udp_port()}", wss_port=find_free_port())
    try:
        inst.up(generated=queues_conf(inst, tmp_path_factory.mktemp("asterisk")))
    except SandboxError as exc:
        _unavailable(str(exc))
    yield inst
    inst.down()
    _remove_instance_dir(inst)


@pytest.fixture(scope="session")
def asterisk(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """One Asterisk for the whole session, on a free port."""
    yield from _running(sandbox, f"test-{os.getpid()}", tmp_path_factory)


@pytest.fixture(scope="module")
def own_asterisk(sandbox: Sandbox, request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """An Asterisk of the test module's own, for tests that run hotline as a separate
    process (so no other hotline answers their calls)."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:12]
    yield from _running(sandbox, f"test-{module.replace('_', '-')}-{os.getpid()}",
                        tmp_path_factory)


def _remove_instance_dir(inst: Instance) -> None:
    if inst.pid() is None and inst.dir.name.startswith("test-"):
        shutil.rmtree(inst.dir, ignore_errors=True)


def ami_client(inst: Instance) -> AMIClient:
    """The independent AMI client (asterisk-ami, threaded): a second opinion on what
    hotline did, sharing none of hotline's gateway code."""
    client = AMIClient(address="127.0.0.1", port=inst.ami_port, timeout=5)
    future = client.login(username="hotline", secret=inst.secret())
    if future.response is None or future.response.is_error():
        raise AssertionError(f"independent AMI client could not log in: {future.response}")
    return client


def ami_action(inst: Instance, name: str, **fields: str) -> dict[str, str]:
    client = ami_client(inst)
    try:
        reply = client.send_action(SimpleAction(name, **fields)).response
        assert reply is not None, f"no reply to {name}"
        return dict(reply.keys)
    finally:
        client.logoff()


def live_channels(inst: Instance) -> list[dict[str, str]]:
    """CoreShowChannels through the independent client."""
    client = ami_client(inst)
    found: list[dict[str, str]] = []
    done = threading.Event()

    def on_event(event: object, **_: object) -> None:
        name = getattr(event, "name", "")
        keys = dict(getattr(event, "keys", {}))
        if name == "CoreShowChannel":
            found.append(keys)
        elif name == "CoreShowChannelsComplete":
            done.set()

    client.add_event_listener(on_event)
    try:
        _ = client.send_action(SimpleAction("CoreShowChannels")).response
        done.wait(5)
        return found
    finally:
        client.logoff()


@pytest.fixture(scope="session")
async def hotline_service(asterisk: Instance, tmp_path_factory: pytest.TempPathFactory,
                          ) -> AsyncIterator[Service]:
    """The hotline service, in this process, on the shared Asterisk and a fresh ledger."""
    ledger = tmp_path_factory.mktemp("ledger") / "ledger.sqlite3"
    settings = load_settings(REPO / "config" / "hotline.yaml", service_env(asterisk, ledger))
    # The seats that answer the tests' calls log in (the sandbox's Local-channel seats).
    service = Service(settings, login_seats=TEST_SEATS)
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(30):  # a bound, not a measure (a loaded machine)
            await service.fully_booted.wait()
            assert service.calls is not None
            await service.gateway.wait_connected()
            # The routing loop adds them; Asterisk says when (polled: no event to wait on).
            while not all(f"Local/{seat}@seats/n" in queue_members(asterisk, "quick")  # noqa: ASYNC110
                          for seat in TEST_SEATS):
                await asyncio.sleep(0.2)
        yield service
    finally:  # also when it did not start in time: it holds the AGI port
        service.stop()
        async with asyncio.timeout(10):
            await task


# A working day at 10:00 Beijing time: the line is open whatever the real clock says.
OPEN_TIME = "2026-11-25T10:00:00+08:00"


TEST_SEATS = ("8001", "8003")


def queue_members(inst: Instance, queue: str) -> dict[str, dict[str, str]]:
    """The members of a queue as Asterisk has them, by interface (QueueStatus through the
    independent AMI client)."""
    client = ami_client(inst)
    found: dict[str, dict[str, str]] = {}
    done = threading.Event()

    def on_event(event: object, **_: object) -> None:
        keys = dict(getattr(event, "keys", {}))
        name = getattr(event, "name", "")
        if name == "QueueMember" and keys.get("Queue") == queue:
            found[keys["Location"]] = keys
        elif name == "QueueStatusComplete":
            done.set()

    client.add_event_listener(on_event)
    try:
        _ = client.send_action(SimpleAction("QueueStatus", Queue=queue)).response
        done.wait(5)
        return found
    finally:
        client.logoff()


def routing_for_tests(folder: Path) -> Path:
    """The shipped routing plus the tests' queues: `quick` (linear, 2 s per seat) with
    its seat 8003, and `brief` and `brief_cb` that nobody answers; no wrap-up time, so
    one test's call does not hold a seat for the next."""
    import yaml

    routing = yaml.safe_load((REPO / "config" / "routing.yaml").read_text(encoding="utf-8"))
    for queue in routing["queues"].values():
        queue["wrapup"] = 0
    routing["queues"]["quick"] = {"name": "测试队列", "strategy": "linear", "ring_timeout": 5}
    # Nobody answers these (their seat 8004 never logs in): after 10 s, voicemail or a
    # callback work order.
    routing["queues"]["brief"] = {"name": "测试无人接听", "max_wait": 10,
                                  "on_no_answer": "voicemail"}
    routing["queues"]["brief_cb"] = {"name": "测试回电", "max_wait": 10,
                                     "on_no_answer": "callback"}
    # Open in the evening only (calendar_for_tests): closed at OPEN_TIME.
    routing["queues"]["late"] = {"name": "测试晚间专线", "max_wait": 60,
                                 "on_no_answer": "callback"}
    routing["seats"]["8004"] = {"name": "演示座席8004", "group": "centre",
                                "device": "Local/8004@seats/n",
                                "skills": {"brief": 5, "brief_cb": 5, "late": 5}}
    routing["seats"]["8001"]["skills"]["quick"] = 5
    routing["seats"]["8003"] = {"name": "演示座席8003", "group": "centre",
                                "device": "Local/8003@seats/n", "skills": {"quick": 5}}
    path = folder / "routing.yaml"
    path.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
    return path


def calendar_for_tests(folder: Path) -> Path:
    """The shipped calendar, plus hours of its own for the tests' queue `late`."""
    import yaml

    calendar = yaml.safe_load((REPO / "config" / "calendar.yaml").read_text(encoding="utf-8"))
    calendar["queue_hours"] = {"late": ["18:00-21:00"]}
    path = folder / "calendar.yaml"
    path.write_text(yaml.safe_dump(calendar, allow_unicode=True), encoding="utf-8")
    return path


def service_env(inst: Instance, ledger: Path) -> dict[str, str]:
    """Settings of a test service: the repository's config, this instance and ledger, the
    shipped dialplans plus the tests' own (12399), the tests' routing and calendar, and a
    time when the line is open."""
    return {"HOTLINE_AMI_PORT": str(inst.ami_port), "HOTLINE_AGI_PORT": str(inst.agi_port),
            "HOTLINE_SANDBOX_INSTANCE": inst.name,
            "HOTLINE_SANDBOX_SIP_PORT": str(inst.sip_port),
            "HOTLINE_SANDBOX_SIP_TRUNK": inst.sip_trunk,
            "HOTLINE_SANDBOX_WSS_PORT": str(inst.wss_port),
            "HOTLINE_LEDGER_PATH": str(ledger),
            "HOTLINE_ROUTING_PATH": str(routing_for_tests(ledger.parent)),
            "HOTLINE_CALENDAR_PATH": str(calendar_for_tests(ledger.parent)),
            "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'dialplans'}, {REPO / 'tests' / 'dialplans'}]",
            "HOTLINE_SERVICE_CALENDAR_TIME": OPEN_TIME,
            "HOTLINE_SERVICE_PID_FILE": str(ledger.with_suffix(".pid")),
            "HOTLINE_WEB_PORT": "0"}  # the wallboard on a free port: services run side by side


async def _connected(inst: Instance) -> AsyncIterator[AmiGateway]:
    """A gateway of the test's own on `inst`, connected, closed afterwards."""
    gateway = AmiGateway("127.0.0.1", inst.ami_port, "hotline", inst.secret())
    task = asyncio.create_task(gateway.run())
    await gateway.wait_connected(5)
    yield gateway
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
async def caller(asterisk: Instance, hotline_service: Service) -> AsyncIterator[AmiGateway]:
    """A gateway of the test's own for placing calls (what `hotline call` uses)."""
    async for gateway in _connected(asterisk):
        yield gateway


@pytest.fixture
async def gateway(own_asterisk: Instance) -> AsyncIterator[AmiGateway]:
    """A gateway of the test's own on the module's own Asterisk."""
    async for gw in _connected(own_asterisk):
        yield gw
