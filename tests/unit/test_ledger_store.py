"""The ledger in a real temporary SQLite file: one row per call, migrations, durability."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome, RecordedBy
from hotline.ledger import store
from hotline.ledger.schema import SCHEMA_VERSION
from hotline.ledger.store import BEIJING, COLUMNS, CallRow, Ledger, LedgerError, iso, row_of

T0 = datetime(2026, 11, 27, 1, 0, 0, tzinfo=UTC)


def call(**kw: object) -> Call:
    base = Call("lid-1", "Local/s@caller-1;1", "lid-1", "13955112345", "纳税人张三",
                CallState.IVR, T0)
    return replace(base, **kw)  # type: ignore[arg-type]


async def test_repeated_writes_make_one_row_and_keep_the_first_start(tmp_path: Path) -> None:
    """Writing a call again updates its one row and keeps its first start time, in Beijing
    time."""
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
    """A snapshot arriving after the call's end does not reopen or change it."""
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
    """close_vanished ends calls left open as interrupted/vanished, keeping an answered
    call's outcome."""
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


@pytest.mark.parametrize(("answered", "voicemail"), [(False, False), (True, False),
                                                    (False, True), (True, True)])
async def test_a_vanished_call_ends_the_same_in_the_tracker_and_the_ledger(
        tmp_path: Path, answered: bool, voicemail: bool) -> None:
    """The tracker (hotline watching) and close_vanished (after a restart) give a
    vanished call the same outcome: answered, else voicemail if one was saved, else
    interrupted."""
    from hotline.core.calls.tracking import CallTracker

    live = call(linkedid="lid-v", answered_at=T0 if answered else None,
                voicemail_id=7 if voicemail else None,
                state=CallState.CONNECTED if answered else CallState.IVR)
    tracker = CallTracker()
    tracker.calls[live.linkedid] = live
    [ended] = tracker.vanished(set(), T0 + timedelta(minutes=1))
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    try:
        await ledger.upsert_calls([live], T0)
        await ledger.close_vanished([live.linkedid], T0 + timedelta(minutes=1))
        row = await ledger.get(live.linkedid)
        assert row is not None
        assert ended.outcome is not None
        assert row.outcome == ended.outcome.value
        expected = ("answered" if answered else "voicemail" if voicemail else "interrupted")
        assert row.outcome == expected
    finally:
        await ledger.close()


async def test_wal_and_schema_version(tmp_path: Path) -> None:
    """A new ledger is in WAL mode at the current schema version, and opening it again keeps
    it."""
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
    """A ledger of a newer schema version is refused, not rebuilt."""
    path = tmp_path / "l.sqlite3"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL);"
                      "INSERT INTO schema_version VALUES (999);")
    con.close()
    with pytest.raises(LedgerError, match="newer than this hotline"):
        await Ledger.open(path)


async def test_a_version_1_ledger_is_upgraded_in_place(tmp_path: Path) -> None:
    """A version 1 ledger is migrated in place, keeping its calls."""
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
        assert (row.referred_to, row.self_service, row.after_hours) == (None, 0, 0)
        await ledger.upsert_calls([call(linkedid="new-1", category="tip_off")], T0)
        new = await ledger.get("new-1")
        assert new is not None
        assert new.category == "tip_off"
    finally:
        await ledger.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    con.close()


# Timestamps: iso() formats by arithmetic for speed; the text must stay exactly what
# astimezone(Beijing).isoformat(timespec="milliseconds") gives, which rows, reports and
# exports already hold.


def reference_iso(at: datetime) -> str:
    return at.astimezone(BEIJING).isoformat(timespec="milliseconds")


@pytest.mark.parametrize(("at", "text"), [
    (datetime(2026, 11, 27, 1, 0, 0, tzinfo=UTC), "2026-11-27T09:00:00.000+08:00"),
    # milliseconds are truncated, never rounded up into the next second or day
    (datetime(2026, 12, 31, 15, 59, 59, 999999, tzinfo=UTC), "2026-12-31T23:59:59.999+08:00"),
    (datetime(2026, 12, 31, 16, 0, 0, 999, tzinfo=UTC), "2027-01-01T00:00:00.000+08:00"),
    (datetime(2026, 12, 31, 16, 0, 0, 1000, tzinfo=UTC), "2027-01-01T00:00:00.001+08:00"),
    (datetime(2028, 2, 28, 16, 0, 0, 123456, tzinfo=UTC), "2028-02-29T00:00:00.123+08:00"),
    (datetime(2026, 11, 27, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai")),
     "2026-11-27T09:30:00.000+08:00"),
    (datetime(2026, 11, 27, 9, 30, 5, 42000, tzinfo=BEIJING), "2026-11-27T09:30:05.042+08:00"),
    (datetime(2026, 3, 8, 1, 59, 59, tzinfo=ZoneInfo("America/New_York")),
     "2026-03-08T14:59:59.000+08:00"),  # the night New York moves its clocks
    (datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
     "2026-11-01T14:30:00.000+08:00"),  # the second 01:30 of that night
    (datetime(2026, 6, 1, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
     "2026-06-01T17:30:00.000+08:00"),
    (datetime(1969, 12, 31, 15, 59, 59, 999999, tzinfo=UTC), "1969-12-31T23:59:59.999+08:00"),
    (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T08:00:00.000+08:00"),
    (datetime(999, 7, 1, 23, tzinfo=UTC), "0999-07-02T07:00:00.000+08:00"),
])
def test_iso_is_beijing_time_with_milliseconds(at: datetime, text: str) -> None:
    """iso() writes Beijing time with milliseconds, as the reference does, and reads back as
    the same instant."""
    assert iso(at) == text == reference_iso(at)
    # and it reads back as the same instant, to the millisecond
    back = datetime.fromisoformat(text)
    assert back.utcoffset() == timedelta(hours=8)
    # (in UTC: Python never finds a time of a repeated hour equal to one of another zone)
    truncated = at.replace(microsecond=at.microsecond // 1000 * 1000)  # keeps the fold
    assert back.astimezone(UTC) == truncated.astimezone(UTC)


def test_iso_of_none_naive_and_out_of_range() -> None:
    """iso() keeps None, takes a naive time as local time, and fails on an out-of-range one
    as the reference does."""
    assert iso(None) is None
    naive = datetime(2026, 11, 27, 9, 30, 0, 123456)  # taken as the machine's local time
    assert iso(naive) == reference_iso(naive)
    with pytest.raises(OverflowError):
        reference_iso(datetime.max.replace(tzinfo=UTC))
    with pytest.raises(OverflowError):
        iso(datetime.max.replace(tzinfo=UTC))


def test_iso_stays_right_when_its_cache_of_days_starts_over() -> None:
    """iso() stays right past the size of its cache of days, and the cache stays bounded."""
    start = datetime(2020, 1, 1, 15, 59, 59, 999000, tzinfo=UTC)
    for n in range(store._DAYS_KEPT + 10):
        at = start + timedelta(days=n, hours=n % 24)
        assert iso(at) == reference_iso(at)
    assert len(store._DAYS) <= store._DAYS_KEPT


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.timezones() | st.builds(
                        timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59),
                                                max_value=timedelta(hours=23, minutes=59)))))
def test_iso_matches_astimezone_isoformat_for_any_zone(at: datetime) -> None:
    """iso() matches astimezone().isoformat() for any instant in any zone."""
    assert iso(at) == reference_iso(at)


def test_row_of_gives_every_column_as_stored() -> None:
    """row_of gives every column of a full call as stored, times in Beijing milliseconds."""
    snapshot = call(
        state=CallState.ENDED, digits="12", ivr_path=("main", "consult"), category="consultation",
        topic="individual_income_tax", dialplan="main", queue="center",
        queued_at=T0 + timedelta(seconds=8, microseconds=250999), seat="座席7",
        seat_group="centre", region="安徽省合肥市", seats_no_answer=("座席3", "座席5"),
        answered_at=T0 + timedelta(seconds=20), ended_at=T0 + timedelta(seconds=200),
        wait_seconds=12.0, talk_seconds=180.0, voicemail_id=None, outcome=Outcome.ANSWERED,
        end_reason=EndReason.HANGUP, referred_to="055387654321", after_hours=True,
        recorded_by=RecordedBy.ASTERISK_RECORD, end_by=RecordedBy.ASTERISK_RECORD)
    row = row_of(snapshot, T0 + timedelta(minutes=5))
    assert dict(zip(COLUMNS, row, strict=True)) == {
        "linkedid": "lid-1", "caller_number": "13955112345", "caller_name": "纳税人张三",
        "started_at": "2026-11-27T09:00:00.000+08:00",
        "queued_at": "2026-11-27T09:00:08.250+08:00",
        "answered_at": "2026-11-27T09:00:20.000+08:00",
        "ended_at": "2026-11-27T09:03:20.000+08:00", "state": "ended", "digits": "12",
        "queue": "center", "seat": "座席7", "seats_no_answer": "座席3,座席5",
        "wait_seconds": 12.0, "talk_seconds": 180.0, "outcome": "answered",
        "end_reason": "hangup", "updated_at": "2026-11-27T09:05:00.000+08:00",
        "ivr_path": "main>consult", "category": "consultation",
        "topic": "individual_income_tax", "dialplan": "main", "voicemail_id": None,
        "seat_group": "centre", "region": "安徽省合肥市", "referred_to": "055387654321",
        "self_service": 0, "after_hours": 1, "recorded_by": "asterisk_record",
        "end_by": "asterisk_record"}
    # `now` formatted once for a batch gives the same row
    assert row_of(snapshot, "2026-11-27T09:05:00.000+08:00") == row


def test_row_of_a_call_just_started() -> None:
    """row_of of a call just started leaves its later columns empty."""
    row = dict(zip(COLUMNS, row_of(call(), T0), strict=True))
    assert row["started_at"] == row["updated_at"] == "2026-11-27T09:00:00.000+08:00"
    for name in ("queued_at", "answered_at", "ended_at", "queue", "seat", "wait_seconds",
                 "talk_seconds", "outcome", "end_reason", "category", "voicemail_id"):
        assert row[name] is None, name
    assert (row["state"], row["digits"], row["seats_no_answer"], row["ivr_path"]) == (
        "ivr", "", "", "")


async def test_upserted_rows_read_back_as_row_of_gave_them(tmp_path: Path) -> None:
    """Rows of a large batch read back exactly as row_of gave them, and the caller may reuse
    its list."""
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    try:
        snapshots = [
            call(linkedid=f"lid-{i}", started_at=T0 + timedelta(seconds=i, microseconds=i * 1001),
                 answered_at=T0 + timedelta(seconds=i + 20) if i % 2 else None,
                 outcome=Outcome.ANSWERED if i % 2 else None, voicemail_id=i if i % 3 else None)
            for i in range(450)]
        batch = list(snapshots)
        await ledger.upsert_calls(batch, T0)
        batch.clear()  # the caller may reuse its list once the write is done
        for snapshot in (snapshots[0], snapshots[1], snapshots[449]):
            assert await ledger.get(snapshot.linkedid) == CallRow(*row_of(snapshot, T0))
        assert len(await ledger.latest(1000)) == 450
    finally:
        await ledger.close()


async def test_a_batch_that_cannot_be_written_writes_nothing(tmp_path: Path) -> None:
    """A batch with one unwritable call writes none of it, and the ledger stays usable."""
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    try:
        good = call(linkedid="good")
        bad = call(linkedid="bad", started_at=datetime.max.replace(tzinfo=UTC))  # no text
        with pytest.raises(OverflowError):
            await ledger.upsert_calls([good, bad], T0)
        assert await ledger.latest() == []
        await ledger.upsert_calls([good], T0)  # the lock and the connection are free again
        assert [r.linkedid for r in await ledger.latest()] == ["good"]
    finally:
        await ledger.close()


# A failed COMMIT, and what readers see while a transaction is open.

_VOICEMAIL_OF_NO_ORDER = (
    "INSERT INTO voicemails (linkedid, box, file, started_at, status, work_order_id) "
    "VALUES ('lid-1', 'center', 'lid-1.wav', '2026-11-27T09:00:00.000+08:00', 'recording', 999)")


async def test_a_commit_that_fails_is_rolled_back_and_the_ledger_writes_on(
        tmp_path: Path) -> None:
    """COMMIT itself can fail with SQLite still inside the transaction: here a deferred
    foreign key, checked only at COMMIT (SQLITE_BUSY or an I/O error on COMMIT do the same).
    The transaction is rolled back and the error raised: the connection is not left in a
    transaction that makes every later write fail ("cannot start a transaction within a
    transaction"), and nothing of the failed transaction is kept."""
    path = tmp_path / "l.sqlite3"
    ledger = await Ledger.open(path)
    try:
        await ledger._db.execute("PRAGMA foreign_keys = ON")  # the writing connection

        async def commit_fails() -> None:
            async with ledger.transaction() as db:
                await db.execute("PRAGMA defer_foreign_keys = ON")
                await db.executemany(store._UPSERT, [row_of(call(), T0)])
                await db.execute(_VOICEMAIL_OF_NO_ORDER)  # no work order 999: fails at COMMIT

        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
            await commit_fails()
        assert not ledger._db.in_transaction
        await ledger.upsert_calls([call(linkedid="lid-2")], T0)
        assert [r.linkedid for r in await ledger.latest()] == ["lid-2"]
    finally:
        await ledger.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT linkedid FROM calls").fetchall() == [("lid-2",)]
    assert con.execute("SELECT COUNT(*) FROM voicemails").fetchone()[0] == 0
    con.close()


async def test_readers_see_only_committed_rows_and_do_not_wait_for_a_writer(
        tmp_path: Path) -> None:
    """While another task's transaction is open, every reader (the ledger's own and the
    books' reads through `ledger.db`: orders, seats, reports, exports) sees the ledger as
    last committed: never rows that a failed COMMIT then drops. Readers do not wait for
    the writer, and see a commit as soon as it is done."""
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    try:
        await ledger.upsert_calls([call()], T0)
        inside, release = asyncio.Event(), asyncio.Event()

        async def failing_write() -> None:
            async with ledger.transaction() as db:
                await db.executemany(store._UPSERT, [
                    row_of(call(linkedid="lid-2"), T0),
                    row_of(call(state=CallState.ENDED, ended_at=T0 + timedelta(minutes=1)), T0)])
                inside.set()
                await release.wait()
                raise RuntimeError("the COMMIT failed")

        async def committed() -> tuple[object, ...]:
            one = await ledger.get("lid-1")
            async with ledger.db.execute("SELECT COUNT(*) FROM calls") as cur:
                count = await cur.fetchone()
            return (await ledger.open_calls(), [r.linkedid for r in await ledger.latest()],
                    one and one.state, await ledger.get("lid-2"), count)

        writer = asyncio.create_task(failing_write())
        await asyncio.wait_for(inside.wait(), 5)
        before = (["lid-1"], ["lid-1"], "ivr", None, (1,))
        assert await asyncio.wait_for(committed(), 2) == before  # not after the writer
        release.set()
        with pytest.raises(RuntimeError, match="the COMMIT failed"):
            await writer
        assert await committed() == before
        await ledger.upsert_calls([call(linkedid="lid-2")], T0)
        assert (await committed())[0] == ["lid-1", "lid-2"]  # committed: seen at once
        with pytest.raises(sqlite3.OperationalError, match="readonly"):  # reads only
            await ledger.db.execute("DELETE FROM calls")
    finally:
        await ledger.close()


async def test_the_ledger_closes_when_its_block_ends_even_by_an_error(tmp_path: Path) -> None:
    """`async with await Ledger.open(path)` closes both connections when the block ends,
    normally or by an exception, so the WAL is checkpointed and removed."""
    path = tmp_path / "l.sqlite3"
    opened: list[Ledger] = []

    async def write_then_fail() -> None:
        async with await Ledger.open(path) as ledger:
            opened.append(ledger)
            await ledger.upsert_calls([call()], T0)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await write_then_fail()
    ledger, = opened
    assert not path.with_name(path.name + "-wal").exists()
    with pytest.raises(ValueError, match="no active connection"):
        await ledger.latest()
    async with await Ledger.open(path) as again:
        assert [row.linkedid for row in await again.latest()] == ["lid-1"]


def test_a_row_reads_back_as_the_call_it_was_written_from() -> None:
    """call_from_row is the reverse of row_of: the call's fields come back from its row
    (times in Beijing time, the channel given apart), with the history its times tell."""
    t0 = datetime(2025, 11, 27, 8, 0, 0, tzinfo=UTC)
    call = Call("L1", "PJSIP/t-1", "u1", "055112345678", "纳税人张三", CallState.CONNECTED,
                t0, digits="12", ivr_path=("main", "sub"), category="tip_off", topic="个税",
                dialplan="main", queue="center", queued_at=t0 + timedelta(seconds=10),
                seat="座席1001", seat_group="centre", region="安徽合肥",
                seats_no_answer=("座席1002", "座席1003"),
                answered_at=t0 + timedelta(seconds=16), wait_seconds=6.0, voicemail_id=None,
                referred_to=None, self_service=True, after_hours=False)
    back = store.call_from_row(CallRow(*row_of(call, t0)), "PJSIP/t-1", "u1")
    assert back == replace(call, history=(
        (CallState.IVR, t0), (CallState.QUEUED, t0 + timedelta(seconds=10)),
        (CallState.CONNECTED, t0 + timedelta(seconds=16))))
    assert back.started_at.utcoffset() == timedelta(hours=8)
