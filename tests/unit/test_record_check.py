"""A caller who hangs up before hotline's IVR connection came is a call hotline never
knew: its row comes from Asterisk's record, which a loaded Asterisk may write late."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hotline.core.calls.tracking import CallTracker
from hotline.features.calls import handling
from hotline.features.calls.handling import CallHandling
from hotline.features.calls.reconcile import Checked
from hotline.features.ivr.prompts import PromptStore
from hotline.pbx.gateway import AmiGateway


class LateRecord:
    """A reconciler whose record shows the call's end only at its `shows_at`-th look;
    then the call has its row (in `rows`)."""

    def __init__(self, shows_at: int, rows: set[str], linkedid: str) -> None:
        self.looks = 0
        self.shows_at = shows_at
        self.rows = rows
        self.linkedid = linkedid

    async def check(self, tracker: CallTracker, now: Any, pending: Any = ()) -> Checked:
        self.looks += 1
        if self.looks >= self.shows_at:
            self.rows.add(self.linkedid)
        return Checked()


class Rows:
    def __init__(self, rows: set[str]) -> None:
        self.rows = rows

    async def get(self, linkedid: str) -> object | None:
        return object() if linkedid in self.rows else None


@pytest.mark.parametrize("shows_at", [1, 3])
async def test_the_record_is_read_again_until_the_early_hang_up_has_its_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shows_at: int) -> None:
    """The record shows the call only at the third look (Asterisk wrote it late): hotline
    looks again, and stops looking once the call has its row."""
    monkeypatch.setattr(handling, "RECORD_CHECK_DELAY", 0.01)
    rows: set[str] = set()
    record = LateRecord(shows_at, rows, "early-1")
    calls = CallHandling(AmiGateway("127.0.0.1", 1, "hotline", "x"), Rows(rows),  # type: ignore[arg-type]
                         lambda: None, PromptStore(tmp_path, "/prompts"),  # type: ignore[arg-type,return-value]
                         reconciler=record)  # type: ignore[arg-type]
    calls.check_record_soon("early-1")
    calls.check_record_soon("early-1")  # a second hang-up meanwhile: still one looker
    async with asyncio.timeout(2):
        while calls._record_check_due:  # noqa: ASYNC110 (the looker's own flag)
            await asyncio.sleep(0.01)
    assert "early-1" in rows
    assert record.looks == shows_at


async def test_a_call_the_record_never_shows_is_looked_for_a_bounded_number_of_times(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hang-up of a channel that never ran the line's dialplan gets no row: hotline
    gives up after RECORD_CHECK_TRIES looks."""
    monkeypatch.setattr(handling, "RECORD_CHECK_DELAY", 0.01)
    record = LateRecord(10_000, set(), "other")
    calls = CallHandling(AmiGateway("127.0.0.1", 1, "hotline", "x"), Rows(set()),  # type: ignore[arg-type]
                         lambda: None, PromptStore(tmp_path, "/prompts"),  # type: ignore[arg-type,return-value]
                         reconciler=record)  # type: ignore[arg-type]
    calls.check_record_soon("never")
    async with asyncio.timeout(2):
        while calls._record_check_due:  # noqa: ASYNC110 (the looker's own flag)
            await asyncio.sleep(0.01)
    assert record.looks == handling.RECORD_CHECK_TRIES
