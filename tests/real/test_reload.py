"""Hot reload on a running service: calls in progress keep their version, new calls get
the new one, an invalid file is rejected and the last good version stays live."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance
from tests.conftest import OPEN_TIME
from tests.real.test_resilience import HotlineProcess, in_menu, seat_in_centre, seat_logged_in

pytestmark = pytest.mark.asterisk
REPO = Path(__file__).resolve().parents[2]

VERSION = """\
dialplan: "12399"
prompts:
  hello: 您好，这里是热线测试，请在提示音结束之前按键选择您需要的服务。
  bye: 再见。
menus:
  main:
    greeting: hello
    options:
      "1": {action}
    timeout: 3
    max_attempts: 1
    on_exhausted: {{hangup: bye}}
"""
TO_QUEUE = VERSION.format(action="{queue: center}")
TO_GOODBYE = VERSION.format(action="{hangup: bye}")


async def hotline_cli(proc_env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", *args, env={**os.environ, **proc_env}, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_reload_keeps_calls_on_their_version(own_asterisk: Instance,
                                                   tmp_path: Path) -> None:
    """A reload changes the menu for the next call while a call in progress keeps the
    version it started with."""
    plans = tmp_path / "dialplans"
    plans.mkdir()
    line = plans / "line.yaml"
    line.write_text(TO_QUEUE, encoding="utf-8")
    ledger = tmp_path / "ledger.sqlite3"
    await seat_logged_in(own_asterisk, ledger)  # someone answers the centre's queue
    service = HotlineProcess(own_asterisk, ledger, {
        "HOTLINE_DIALPLANS_PATHS": f"[{plans}]", "HOTLINE_SERVICE_WATCH_INTERVAL": "0"})
    gateway = AmiGateway("127.0.0.1", own_asterisk.ami_port, "hotline", own_asterisk.secret())
    runner = asyncio.create_task(gateway.run())
    try:
        await gateway.wait_connected(5)
        await service.wait_for("calls.resynced")
        await seat_in_centre(own_asterisk)
        # A call enters the menu on the first version and holds there.
        gate = asyncio.Event()
        first = TestCall("13955112345", None, ["1"], extension="12399", gate=gate)
        ready = await in_menu(gateway, first)
        first_call = asyncio.create_task(place_call(gateway, first, timeout=60))
        async with asyncio.timeout(10):
            await ready.wait()

        # The administrator changes option 1 and reloads.
        line.write_text(TO_GOODBYE, encoding="utf-8")
        code, out = await hotline_cli(service.env, "reload")
        assert code == 0, out
        assert f"reload sent to the service (pid {service.proc.pid})" in out
        await service.wait_for("dialplan.reloaded")

        # The call in progress presses 1 and still goes to the queue (its version)...
        gate.set()
        await first_call
        row = await wait_for_ledger_row(ledger, first.linkedid)
        assert (row.digits, row.queue, row.outcome) == ("1", "center", "answered")
        # ...while a new call gets the new version.
        second = TestCall("13955112345", None, ["1"], extension="12399")
        await place_call(gateway, second, timeout=60)
        row = await wait_for_ledger_row(ledger, second.linkedid)
        assert (row.digits, row.queue, row.outcome) == ("1", None, "ended_in_ivr")

        # An invalid file is rejected with its line; the last good version stays live.
        line.write_text(TO_GOODBYE.replace("{hangup: bye}\n    timeout",
                                           "{hangup: bye}\n    timeuot"), encoding="utf-8")
        code, out = await hotline_cli(service.env, "reload")
        assert code == 2
        assert "line.yaml:10: menus.main.timeuot: unknown key" in out
        service.proc.send_signal(signal.SIGHUP)  # even if signalled anyway
        await service.wait_for("dialplan.reload_rejected")
        third = TestCall("13955112345", None, ["1"], extension="12399")
        await place_call(gateway, third, timeout=60)
        row = await wait_for_ledger_row(ledger, third.linkedid)
        assert (row.digits, row.outcome) == ("1", "ended_in_ivr")
    finally:
        runner.cancel()
        service.stop()


async def test_reload_applies_a_changed_routing_or_refuses_a_bad_one(
        own_asterisk: Instance, tmp_path: Path) -> None:
    """The administrator adds a queue and a seat to routing.yaml and reloads: Asterisk has
    the queue and the logged-in seat joins it, without a restart. A broken routing.yaml
    is refused with its line, and nothing changes."""
    from datetime import UTC, datetime

    import yaml

    from hotline.ledger.seats import SeatBook
    from hotline.ledger.store import Ledger
    from tests.conftest import queue_members, routing_for_tests

    routing_file = routing_for_tests(tmp_path)
    ledger = tmp_path / "ledger.sqlite3"
    book = await Ledger.open(ledger)
    try:
        await SeatBook(book).record("8003", "login", at=datetime.now(UTC), actor="test")
    finally:
        await book.close()
    service = HotlineProcess(own_asterisk, ledger, {
        "HOTLINE_ROUTING_PATH": str(routing_file), "HOTLINE_ROUTING_INTERVAL": "0.3",
        "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'tests' / 'dialplans'}]"})
    try:
        await service.wait_for("calls.resynced")
        routing = yaml.safe_load(routing_file.read_text(encoding="utf-8"))
        routing["queues"]["extra"] = {"name": "新增队列", "strategy": "linear"}
        routing["seats"]["8003"]["skills"]["extra"] = 9
        routing_file.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
        code, out = await hotline_cli(service.env, "reload")
        assert code == 0, out
        assert "routing, calendar and dialplans are valid; reload sent" in out
        await service.wait_for("routing.reloaded")
        async with asyncio.timeout(15):
            while "Local/8003@seats/n" not in await asyncio.to_thread(  # noqa: ASYNC110
                    queue_members, own_asterisk, "extra"):
                await asyncio.sleep(0.3)
        member = queue_members(own_asterisk, "extra")["Local/8003@seats/n"]
        assert member["Penalty"] == "1"  # level 9: an expert
        assert "[extra]" in (own_asterisk.dir / "etc" / "queues.conf").read_text()

        # A seat with a skill for a queue that does not exist: refused, line named.
        routing["seats"]["8003"]["skills"]["nowhere"] = 5
        routing_file.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
        code, out = await hotline_cli(service.env, "reload")
        assert code != 0
        assert "routing.yaml:" in out
        assert 'seats."8003".skills.nowhere: unknown queue \'nowhere\'' in out
        assert service.proc.pid is not None
        service.proc.send_signal(signal.SIGHUP)  # even if signalled anyway
        await service.wait_for("routing.reload_rejected")
        assert "Local/8003@seats/n" in queue_members(own_asterisk, "extra")

        # Seat 8003 leaves routing.yaml (with the queue only it served): it leaves the
        # queues it was a member of.
        assert "Local/8003@seats/n" in queue_members(own_asterisk, "quick")
        del routing["seats"]["8003"]
        del routing["queues"]["extra"]
        routing_file.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
        code, out = await hotline_cli(service.env, "reload")
        assert code == 0, out
        async with asyncio.timeout(15):
            while "Local/8003@seats/n" in await asyncio.to_thread(  # noqa: ASYNC110
                    queue_members, own_asterisk, "quick"):
                await asyncio.sleep(0.3)

        # routing.yaml gone: that takes a restart; the reload is refused, nothing changes.
        routing_file.rename(tmp_path / "routing.yaml.away")
        service.proc.send_signal(signal.SIGHUP)
        await service.wait_for("routing.yaml disappeared since the start; restart the "
                               "service to run without it (nothing was reloaded)")
        await asyncio.sleep(0.5)  # what a half-applied reload would log next
        assert "dialplan.reloaded" not in service.log.read_text().rsplit(
            "routing.yaml disappeared", 1)[1]
    finally:
        service.stop()


async def test_reload_applies_a_changed_calendar_or_refuses_a_bad_one(
        own_asterisk: Instance, gateway: AmiGateway, tmp_path: Path) -> None:
    """A typhoon: the administrator closes today in calendar.yaml and reloads; the next
    caller hears the closed line, without a restart. A broken calendar.yaml is refused
    with its line, and the last good one stays."""
    import yaml

    ledger = tmp_path / "ledger.sqlite3"
    service = HotlineProcess(own_asterisk, ledger, {
        "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'dialplans'}, {REPO / 'tests' / 'dialplans'}]",
        "HOTLINE_SERVICE_WATCH_INTERVAL": "0"})
    calendar_file = Path(service.env["HOTLINE_CALENDAR_PATH"])

    async def path_of_a_call() -> str:
        # 12366: 1 in the open menu is consultation, in the closed one self-service.
        call = TestCall("13955112345", None, ["1", "h"])
        await place_call(gateway, call, timeout=60)
        return (await wait_for_ledger_row(ledger, call.linkedid)).ivr_path

    try:
        await service.wait_for("calls.resynced")
        assert await path_of_a_call() == "main>consult"  # OPEN_TIME: a working morning

        calendar = yaml.safe_load(calendar_file.read_text(encoding="utf-8"))
        calendar["overrides"] = [{"date": OPEN_TIME[:10], "closed": True,
                                  "reason": "台风停止服务"}]
        calendar_file.write_text(yaml.safe_dump(calendar, allow_unicode=True),
                                 encoding="utf-8")
        code, out = await hotline_cli(service.env, "reload")
        assert code == 0, out
        await service.wait_for("calendar.reloaded")
        assert await path_of_a_call() == "closed>self_service"

        # A closure without its reason: refused, line named; the closure stays.
        calendar["overrides"].append({"date": "2026-11-26", "closed": True})
        calendar_file.write_text(yaml.safe_dump(calendar, allow_unicode=True),
                                 encoding="utf-8")
        code, out = await hotline_cli(service.env, "reload")
        assert code != 0
        assert "calendar.yaml:" in out
        assert "overrides[1]: required key 'reason' is missing" in out
        service.proc.send_signal(signal.SIGHUP)  # even if signalled anyway
        await service.wait_for("calendar.reload_rejected")
        assert await path_of_a_call() == "closed>self_service"
    finally:
        service.stop()
