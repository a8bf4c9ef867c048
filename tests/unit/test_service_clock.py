"""The service's one clock: service.calendar_time pins the time of its decisions (work
order deadlines, the menu's calendar), wired through the running service against the
fake AMI server; the ledger's call times stay real."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.app.service import Service
from hotline.app.settings import load_settings
from hotline.common.clock import CHINA, Clock
from hotline.core.calls.tracking import CallState
from hotline.pbx.gateway import AmiGateway
from tests.fakeami import FakeAmi
from tests.unit.test_service_process import ami, service_env  # noqa: F401 (a fixture)
from tests.unit.test_service_replay import A_CHANNEL, AGI_START, NEWCHANNEL, T0, at

pytestmark = pytest.mark.timeout(60)
PINNED = "2026-09-30T20:00:00+08:00"  # the eve of National Day (10-01..10-07)


@pytest.fixture
async def service(ami: FakeAmi, tmp_path: Path) -> AsyncIterator[Service]:  # noqa: F811
    """A service of the test's own, its clock pinned at PINNED, running and connected."""
    env = service_env(ami, tmp_path, tmp_path / "hotline.pid")
    env["HOTLINE_SERVICE_CALENDAR_TIME"] = PINNED
    settings = load_settings(None, {k: v for k, v in env.items() if k.startswith("HOTLINE_")})
    gateway = AmiGateway("127.0.0.1", ami.port, ami.username, ami.secret,
                         action_timeout=20.0, connect_timeout=1.0)
    service = Service(settings, gateway)
    run = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(10):
            await gateway.wait_connected()
        yield service
    finally:
        service.stop()
        async with asyncio.timeout(5):
            await run


def write_wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x10\x20" * int(8000 * seconds))


async def work_orders(service: Service) -> list[tuple[str, str, str]]:
    assert service.calls is not None
    async with service.calls.ledger.db.execute(
            "SELECT kind, created_at, due_at FROM work_orders ORDER BY id") as rows:
        return [tuple(row) for row in await rows.fetchall()]  # type: ignore[misc]


def day(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(CHINA).date().isoformat()


async def test_a_pinned_clock_counts_a_voicemails_deadline_from_the_pinned_time(
        service: Service) -> None:
    """With service.calendar_time at 2026-09-30 20:00 (+08:00), a voicemail saved now is
    due on 2026-10-08 (after National Day), not a day after the real date; its own times
    stay real."""
    assert service.clock == Clock(datetime.fromisoformat(PINNED))
    voicemail = service.voicemail
    recording = await voicemail.begin(linkedid="L1", caller_number="13955112345",
                                      caller_name=None, box="12366", category="tip_off",
                                      topic=None)
    write_wav(recording.wav, 3.0)
    await voicemail.save(recording)
    row = await voicemail.book.get(recording.voicemail_id)
    assert row is not None
    assert row.due_at is not None
    assert day(row.due_at) == "2026-10-08"
    assert row.ended_at is not None
    ended = datetime.fromisoformat(row.ended_at)
    assert abs(ended - datetime.now(UTC)) < timedelta(minutes=1)  # real, not pinned
    [(kind, _created, due)] = await work_orders(service)
    assert (kind, day(due)) == ("voicemail", "2026-10-08")


async def test_a_pinned_clock_counts_a_tip_off_orders_deadline_from_the_pinned_time(
        service: Service, ami: FakeAmi) -> None:  # noqa: F811
    """With service.calendar_time at 2026-09-30 20:00 (+08:00), a tip-off call that ends
    now gets a work order due on 2026-10-08, while the call's ledger times stay
    Asterisk's."""
    calls = service.calls
    assert calls is not None
    await ami.connection.push(at(NEWCHANNEL, 0) + at(AGI_START, 0))
    async with asyncio.timeout(5):
        while A_CHANNEL not in calls.sessions:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    [call] = calls.tracker.calls.values()
    assert call.started_at == T0  # Asterisk's time of the event, not the pinned one
    ended = replace(call, category="tip_off", state=CallState.ENDED,
                    ended_at=T0 + timedelta(seconds=30))
    await calls._work_order(ended)
    [(kind, created, due)] = await work_orders(service)
    assert kind == "tip_off"
    assert day(due) == "2026-10-08"
    assert datetime.fromisoformat(created) == datetime.fromisoformat(PINNED)
