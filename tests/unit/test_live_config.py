"""The one live configuration: loaded whole, swapped whole, reloads one at a time, and a
call in progress keeps the snapshot it started with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hotline.app.live import LiveConfiguration
from hotline.app.settings import load_settings
from hotline.common.errors import ConfigError
from hotline.core.configuration import Configuration
from hotline.core.ivr.dialplan import ToQueue
from hotline.features.calls.handling import CallHandling
from hotline.features.ivr.prompts import PromptStore
from hotline.pbx.gateway import AmiGateway
from tests.unit.test_registry import plan_text, touch_later, write
from tests.unit.test_service_replay import (
    A_CHANNEL,
    AGI_START,
    B_CHANNEL,
    NEWCHANNEL,
    as_b,
    at,
    line,
)

pytestmark = pytest.mark.timeout(30)

ROUTING = """\
queues:
  center: {name: 咨询}
groups:
  centre: {name: 中心, kind: centre}
seats:
  "8001": {name: 座席8001, group: centre, device: Local/8001@seats/n, skills: {center: 5}}
"""
ROUTING_WITH_IIT = ROUTING.replace(
    "  center: {name: 咨询}\n", "  center: {name: 咨询}\n  iit: {name: 个税}\n").replace(
    "skills: {center: 5}", "skills: {center: 5, iit: 5}")
CALENDAR_IIT_HOURS = "queue_hours:\n  iit: ['18:00-21:00']\n"


def files(tmp_path: Path) -> LiveConfiguration:
    """A live configuration over a folder of its own: one dialplan (12366, option 1 to
    `center`), routing.yaml and calendar.yaml."""
    write(tmp_path / "dialplans" / "line.yaml", plan_text("12366"))
    write(tmp_path / "routing.yaml", ROUTING)
    write(tmp_path / "calendar.yaml", "")
    settings = load_settings(None, {
        "HOTLINE_DIALPLANS_PATHS": f"[{tmp_path / 'dialplans'}]",
        "HOTLINE_ROUTING_PATH": str(tmp_path / "routing.yaml"),
        "HOTLINE_CALENDAR_PATH": str(tmp_path / "calendar.yaml")})
    live = LiveConfiguration(settings)
    assert live.load() == []
    return live


def test_load_makes_the_first_snapshot(tmp_path: Path) -> None:
    """The cold start reads every file into snapshot generation 1."""
    config = files(tmp_path).current()
    assert config.generation == 1
    assert set(config.dialplans) == {"12366"}
    assert config.routing is not None
    assert set(config.routing.queues) == {"center"}
    assert config.seat_groups == {"座席8001": "centre"}


def test_a_bad_file_stops_the_cold_start(tmp_path: Path) -> None:
    """No snapshot from a bad file at start: ConfigError with the file's line."""
    live = files(tmp_path)
    write(tmp_path / "dialplans" / "line.yaml", plan_text("12366", queue="nowhere"))
    fresh = LiveConfiguration(live.settings)
    with pytest.raises(ConfigError) as error:
        fresh.load()
    assert error.value.code == "dialplan-invalid"
    assert "unknown queue 'nowhere'" in str(error.value)


async def test_a_reload_swaps_in_a_whole_new_snapshot(tmp_path: Path) -> None:
    """A valid change of all three files: one new snapshot, the old one untouched."""
    live = files(tmp_path)
    old = live.current()
    write(tmp_path / "routing.yaml", ROUTING_WITH_IIT)
    write(tmp_path / "calendar.yaml", CALENDAR_IIT_HOURS)
    write(tmp_path / "dialplans" / "line.yaml", plan_text("12366", queue="iit"))
    with capture_logs() as logs:
        assert await live.reload() is True
    new = live.current()
    assert new.generation == 2
    assert new.routing is not None
    assert set(new.routing.queues) == {"center", "iit"}
    assert set(new.calendar.queue_hours) == {"iit"}
    assert new.dialplans["12366"].version != old.dialplans["12366"].version
    # The old snapshot is as it was (a call holding it sees no change).
    assert old.routing is not None
    assert set(old.routing.queues) == {"center"}
    assert old.calendar.queue_hours == {}
    assert [e["event"] for e in logs] == ["routing.reloaded", "calendar.reloaded",
                                          "dialplan.reloaded"]
    assert logs[-1]["changed"] == ["12366"]


@pytest.mark.parametrize(("name", "text", "event"), [
    ("routing.yaml", ROUTING_WITH_IIT + "  colour: red\n", "routing.reload_rejected"),
    ("calendar.yaml", "queue_hours:\n  nowhere: ['18:00-21:00']\n",
     "calendar.reload_rejected"),
    ("dialplans/line.yaml", plan_text("12366", queue="nowhere"), "dialplan.reload_rejected"),
])
async def test_a_bad_file_leaves_the_old_snapshot_whole(
        tmp_path: Path, name: str, text: str, event: str) -> None:
    """One bad file among good changes: nothing is swapped, the old snapshot stays."""
    live = files(tmp_path)
    old = live.current()
    # Good changes to the other files, which must not be applied without the bad one.
    write(tmp_path / "routing.yaml", ROUTING_WITH_IIT)
    write(tmp_path / "calendar.yaml", CALENDAR_IIT_HOURS)
    write(tmp_path / "dialplans" / "line.yaml", plan_text("12366", queue="iit"))
    write(tmp_path / name, text)
    with capture_logs() as logs:
        assert await live.reload() is False
    assert live.current() is old
    assert [e["event"] for e in logs] == [event]


async def test_routing_appearing_or_disappearing_is_refused(tmp_path: Path) -> None:
    """routing.yaml gone since the start: a restart, not a reload; nothing changes."""
    live = files(tmp_path)
    old = live.current()
    (tmp_path / "routing.yaml").unlink()
    write(tmp_path / "dialplans" / "line.yaml", plan_text("12366", queue="iit"))
    with capture_logs() as logs:
        assert await live.reload() is False
    assert live.current() is old
    assert "routing.yaml disappeared since the start" in logs[0]["errors"][0]


async def test_two_reloads_at_once_run_one_after_the_other(tmp_path: Path) -> None:
    """While a reload applies its changes (awaiting Asterisk), a second one waits: it
    reads the files only after the first is done, and starts from the first's result."""
    live = files(tmp_path)
    reads = 0
    load = live.files.load

    def counting_load(queues: object = None) -> object:
        nonlocal reads
        reads += 1
        return load(queues)  # type: ignore[arg-type]

    live.files.load = counting_load  # type: ignore[assignment,method-assign]
    release = asyncio.Event()
    seen: list[tuple[int, int, int]] = []

    async def prepare(old: Configuration, new: Configuration) -> None:
        seen.append((old.generation, new.generation, live.current().generation))
        if len(seen) == 1:
            await release.wait()  # the first reload holds here (a slow QueueReload)

    live.prepare = prepare
    write(tmp_path / "routing.yaml", ROUTING_WITH_IIT)
    first = asyncio.create_task(live.reload())
    while not seen:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    write(tmp_path / "dialplans" / "line.yaml", plan_text("12366", queue="iit"))
    touch_later(tmp_path / "dialplans" / "line.yaml")
    second = asyncio.create_task(live.reload())
    await asyncio.sleep(0.2)
    assert reads == 1  # the first reload's only: the second waits for the lock
    assert live.current().generation == 1  # nothing half-applied meanwhile
    release.set()
    assert await first is True
    assert await second is True
    # Each saw the snapshot before it live during its prepare; the second began from
    # the first's result.
    assert seen == [(1, 2, 1), (2, 3, 2)]
    assert reads == 2
    config = live.current()
    assert config.generation == 3
    assert config.routing is not None
    assert "iit" in config.routing.queues
    assert config.dialplans["12366"].menus["main"].options["1"] == (ToQueue("iit"),)


async def test_a_call_in_progress_keeps_its_snapshot_the_next_call_gets_the_new(
        tmp_path: Path) -> None:
    """Call A is in the menu when the dialplan and routing are reloaded: its IVR goes on
    with the plan and routing it started with; call B, after the reload, gets the new."""
    live = files(tmp_path)
    old = live.current()
    async with line(tmp_path) as (ami, asterisk, ledger):
        # A long action timeout: the fake Asterisk never finishes an AGI command, so each
        # call stays in its menu for the test's length.
        gateway = AmiGateway("127.0.0.1", ami.port, ami.username, ami.secret,
                             action_timeout=20.0, connect_timeout=1.0, backoff_max=0.25)
        calls = CallHandling(gateway, ledger, live.current,
                             PromptStore(tmp_path / "prompts", "/prompts"))
        subscription = calls.attach()
        tasks = [asyncio.create_task(gateway.run()), asyncio.create_task(calls.writer.run())]
        try:
            await gateway.wait_connected(3)
            await asterisk.push(at(NEWCHANNEL, 0), at(AGI_START, 0))
            await wait_for(lambda: A_CHANNEL in calls.runners)

            write(tmp_path / "routing.yaml", ROUTING_WITH_IIT)
            write(tmp_path / "dialplans" / "line.yaml", plan_text("12366", queue="iit"))
            assert await live.reload() is True
            new = live.current()

            await asterisk.push(at(as_b(NEWCHANNEL), 2), at(as_b(AGI_START), 2))
            await wait_for(lambda: B_CHANNEL in calls.runners)
            a, b = calls.runners[A_CHANNEL], calls.runners[B_CHANNEL]
            assert (a.plan, a.routing) == (old.dialplans["12366"], old.routing)
            assert (b.plan, b.routing) == (new.dialplans["12366"], new.routing)
            assert a.plan.version != b.plan.version
        finally:
            subscription.unsubscribe()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
