"""The ledger in a real temporary SQLite file: one row per call, migrations, durability."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.ledger.schema import SCHEMA_VERSION
from hotline.ledger.store import Ledger, LedgerError
from hotline.pbx.tracking import Call, CallState, EndReason, Outcome

T0 = datetime(2026, 11, 27, 1, 0, 0, tzinfo=UTC)


def call(**kw: object) -> Call:
    base = Call("lid-1", "Local/s@caller-1;1", "lid-1", "13955112345", "纳税人张三",
                CallState.IVR, T0)
    return replace(base, **kw)  # type: ignore[arg-type]


async def test_repeated_writes_make_one_row_and_keep_the_first_start(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    try:
        await ledger.upsert_calls([call()], T0)
        await ledger.upsert_calls([call(digits="1", started_at=T0 + timedelta(hours=1))], T0)
        rows = await ledger.latest()
        assert len(rows) == 1
        assert rows[0].digits == "1"
        assert rows[0].started_at == "2026-11-27T09:00:00.000+08:00"  # Beijing time
        assert rows[0].caller_name == "纳税人张三"
    finally:
        await ledger.close()


async def test_an_ended_call_is_not_reopened_by_a_late_snapshot(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    try:
        ended = call(state=CallState.ENDED, ended_at=T0 + timedelta(seconds=9),
                     outcome=Outcome.ENDED_IN_IVR, end_reason=EndReason.HANGUP)
        await ledger.upsert_calls([ended], T0)
        await ledger.upsert_calls([call(digits="late")], T0)
        row = await ledger.get("lid-1")
        assert row is not None
        assert (row.state, row.outcome, row.digits) == ("ended", "ended_in_ivr", "")
    finally:
        await ledger.close()


async def test_close_vanished(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    try:
        await ledger.upsert_calls([call(), call(linkedid="lid-2", answered_at=T0)], T0)
        assert sorted(await ledger.open_calls()) == ["lid-1", "lid-2"]
        await ledger.close_vanished(["lid-1", "lid-2"], T0 + timedelta(minutes=1))
        one, two = await ledger.get("lid-1"), await ledger.get("lid-2")
        assert one is not None
        assert two is not None
        assert (one.outcome, one.end_reason) == ("interrupted", "vanished")
        assert two.outcome == "answered"
        assert await ledger.open_calls() == []
    finally:
        await ledger.close()


async def test_wal_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    ledger = await Ledger.open(path)
    await ledger.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    con.close()
    # Opening again migrates nothing and keeps the data.
    ledger = await Ledger.open(path)
    await ledger.close()


async def test_a_newer_ledger_is_refused_not_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL);"
                      "INSERT INTO schema_version VALUES (999);")
    con.close()
    with pytest.raises(LedgerError, match="newer than this hotline"):
        await Ledger.open(path)


async def test_a_version_1_ledger_is_upgraded_in_place(tmp_path: Path) -> None:
    from hotline.ledger.schema import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0])
    con.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL);"
                      "INSERT INTO schema_version VALUES (1);")
    con.execute("INSERT INTO calls (linkedid, caller_number, started_at, state, updated_at, "
                "outcome, ended_at) VALUES ('old-1', '13955112345', "
                "'2026-11-20T09:00:00.000+08:00', 'ended', '2026-11-20T09:01:00.000+08:00', "
                "'answered', '2026-11-20T09:01:00.000+08:00')")
    con.commit()
    con.close()
    ledger = await Ledger.open(path)
    try:
        row = await ledger.get("old-1")
        assert row is not None
        assert (row.caller_number, row.outcome) == ("13955112345", "answered")
        assert (row.ivr_path, row.category, row.topic) == ("", None, None)
        await ledger.upsert_calls([call(linkedid="new-1", category="tip_off")], T0)
        new = await ledger.get("new-1")
        assert new is not None
        assert new.category == "tip_off"
    finally:
        await ledger.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    con.close()
