"""The wallboard of the running service on the real sandbox: a caller waiting in a queue
shows up with their wait (and without their number), the logged-in seats are there, and
health says hotline can take calls."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from hotline.app.service import Service
from hotline.features.calls.testcall import TestCall, place_call
from hotline.pbx.gateway import AmiGateway
from tests.conftest import TEST_SEATS

pytestmark = pytest.mark.asterisk
TEST_LINE = "12399"


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def test_the_wallboard_shows_a_waiting_caller_and_the_seats(
        hotline_service: Service, caller: AmiGateway) -> None:
    """The page and health answer; the seats logged in show under their queue names; a
    waiting caller appears without number or name and is counted once the call ends."""
    assert hotline_service.web is not None
    base = hotline_service.web.url
    assert base is not None
    async with aiohttp.ClientSession() as http:
        status, page = await get(http, base)
        assert status == 200
        assert "实时监控" in page
        assert await get(http, base + "healthz") == (200, {"status": "ok", "problems": []})

        # The seats the session logged in (their QueueAdd may be the last round's).
        async with asyncio.timeout(5):
            while True:
                status, data = await get(http, base + "api/status?queue=quick")
                assert status == 200
                [quick] = data["queues"]
                if {s["seat"] for s in quick["seats"]} >= set(TEST_SEATS):
                    break
                await asyncio.sleep(0.2)
        assert data["ami_connected"] is True
        assert quick["name"] == "测试队列"
        # The seat panel names the queues; no remote seat is in any queue, so none shows
        # remote help; seats merely logged in cover their queue (no alert).
        [seat] = [s for s in data["seats"] if s["seat"] == "8003"]
        assert seat["queue_names"] == ["测试队列"]
        assert quick["remote_helping"] is False
        assert quick["alert"] is None

        # `brief_cb` (9): nobody answers it for 10 s, then a callback order.
        call = TestCall("13955112348", "纳税人王五", ["9"], extension=TEST_LINE)
        placed = asyncio.create_task(place_call(caller, call, timeout=60))
        try:
            async with asyncio.timeout(9):
                while True:
                    status, data = await get(http, base + "api/status?queue=brief_cb")
                    [brief] = data["queues"]
                    if brief["waiting"] >= 1:
                        break
                    await asyncio.sleep(0.2)
            assert brief["name"] == "测试回电"
            assert brief["callers"][0]["position"] == 1
            assert "13955112348" not in str(data)
            assert "王五" not in str(data)
        finally:
            await placed
        # Gone from the queue once it ended there (the next routing round says so).
        async with asyncio.timeout(10):
            while True:
                _, data = await get(http, base + "api/status?queue=brief_cb")
                if not data["queues"][0]["waiting"]:
                    break
                await asyncio.sleep(0.2)
        # It counts today as offered and unanswered, and left a callback order to do
        # (the ledger is read again every few seconds).
        async with asyncio.timeout(10):
            while True:
                _, data = await get(http, base + "api/status?queue=brief_cb")
                if data["queues"][0]["today"]["offered"] >= 1 and data["orders"]["open"]:
                    break
                await asyncio.sleep(0.5)
        assert data["queues"][0]["today"]["answered"] == 0
        assert data["today"]["offered"] >= data["today"]["answered"]
