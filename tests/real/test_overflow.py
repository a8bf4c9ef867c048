"""Overflow on the real sandbox: with no centre seat free, a moved-in remote seat is
pulled into the queue and answers; once the centre is back and calm, it leaves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from hotline.features.calls.testcall import TestCall, place_call, wait_for_ledger_row
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance
from tests.conftest import queue_members, routing_for_tests
from tests.real.test_resilience import HotlineProcess
from tests.real.test_seats import hotline

pytestmark = pytest.mark.asterisk
REPO = Path(__file__).resolve().parents[2]


async def eventually(check: object, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        # Polls Asterisk through the independent client: there is no event to wait on.
        while not await asyncio.to_thread(check):  # type: ignore[arg-type]  # noqa: ASYNC110
            await asyncio.sleep(0.2)


async def test_overflow_pulls_in_a_remote_seat_and_lets_it_go(own_asterisk: Instance,
                                                              tmp_path: Path) -> None:
    """Overflow pulls a moved-in remote seat into the centre's queue while callers wait, and
    lets it go after the calm."""
    routing = yaml.safe_load(routing_for_tests(tmp_path).read_text(encoding="utf-8"))
    routing["overflow"]["leave"]["after"] = 1  # leave after 1 s of calm, for the test
    routing_file = tmp_path / "routing-overflow.yaml"
    routing_file.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
    ledger = tmp_path / "ledger.sqlite3"
    # The Hefei remote seat is at work and moved into provincial service; no centre seat
    # is logged in.
    for args in (["login", "8101"], ["move-in", "8101"]):
        code, _, err = await hotline(own_asterisk, ledger, "seats", *args)
        assert code == 0, err
    gateway = AmiGateway("127.0.0.1", own_asterisk.ami_port, "hotline", own_asterisk.secret())
    runner = asyncio.create_task(gateway.run())
    service = HotlineProcess(own_asterisk, ledger, {
        "HOTLINE_ROUTING_PATH": str(routing_file), "HOTLINE_ROUTING_INTERVAL": "0.3",
        "HOTLINE_DIALPLANS_PATHS": f"[{REPO / 'tests' / 'dialplans'}]"})
    try:
        await gateway.wait_connected(5)
        await service.wait_for("calls.resynced")
        assert "Local/8101@seats/n" not in queue_members(own_asterisk, "center")

        call = TestCall("055112345678", None, ["1"], extension="12399")
        await place_call(gateway, call, timeout=60)
        row = await wait_for_ledger_row(ledger, call.linkedid)
        assert (row.queue, row.seat, row.outcome) == ("center", "合肥远程座席8101", "answered")
        assert row.seat_group == "hefei"  # a remote seat of the Hefei bureau answered
        await service.wait_for("routing.overflow_on")

        # The centre is back (8002 logs in): calm for a second, the remote seat leaves.
        code, _, err = await hotline(own_asterisk, ledger, "seats", "login", "8002")
        assert code == 0, err
        await eventually(lambda: "Local/8101@seats/n" not in queue_members(own_asterisk, "center"))
        await service.wait_for("routing.overflow_off")
        assert "Local/8002@seats/n" in queue_members(own_asterisk, "center")
    finally:
        service.stop()
        for args in (["logout", "8002"], ["logout", "8101"]):
            await hotline(own_asterisk, ledger, "seats", *args)
        runner.cancel()
