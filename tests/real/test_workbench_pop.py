"""The seat's screen pop of a real call (the shared test Asterisk, the shipped 12366
dialplan): a caller who walks 1 (税务咨询) and 9 (办理进度查询) and types a taxpayer ID
rings seat 8001 (a Local seat that answers), and the seat's view has the menus by their
labels and the ID under the collect step's label, as the IVR read it."""

from __future__ import annotations

import asyncio

import pytest

from hotline.app.service import Service
from hotline.features.calls.testcall import TestCall, place_call
from hotline.pbx.gateway import AmiGateway

pytestmark = pytest.mark.asterisk
TAXPAYER_ID = "913401001234567897"


async def test_the_pop_has_the_menus_labels_and_the_typed_taxpayer_id(
        hotline_service: Service, caller: AmiGateway) -> None:
    """While the call is connected to seat 8001, its pop reads 主菜单 → 税务咨询, the
    keys pressed, and 纳税人识别号 with the ID typed (a consultation: in full)."""
    work = hotline_service.seat_work
    await caller.set_global("SEAT_TALK_8001", "6")
    call = TestCall("13955100001", None, ["1", "9", *TAXPAYER_ID, "#"])
    placed = asyncio.create_task(place_call(caller, call, timeout=90))
    pop = None
    try:
        async with asyncio.timeout(60):
            while pop is None or pop["state"] != "connected":
                assert not placed.done(), "the call ended before it reached seat 8001"
                pop = (await work.view("8001"))["call"]
                await asyncio.sleep(0.2)
        await asyncio.wait_for(placed, 60)
    finally:
        if not placed.done():
            placed.cancel()
        await caller.set_global("SEAT_TALK_8001", "")
    assert pop["ivr_path_labels"] == ["主菜单", "税务咨询"], pop
    assert pop["inputs"] == [{"name": "taxpayer_id", "label": "纳税人识别号",
                              "value": TAXPAYER_ID}], pop
    assert pop["digits"].startswith("19" + TAXPAYER_ID), pop
    assert (pop["category_label"], pop["masked"]) == ("税务咨询", False)
