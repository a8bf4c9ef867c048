"""The ledger writer on a disk that really fills up: a small tmpfs holds the ledger, a
filler file takes the rest of it, and SQLite's writes fail with "database or disk is
full" until the filler is deleted. Calls must go on meanwhile, and every call must land
once, as its newest snapshot, with nothing already committed lost.

Mounting needs root. Without it the tests skip, unless HOTLINE_REQUIRE_ASTERISK=1 or CI is
set (as in CI), where they fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome
from hotline.features.calls.handling import LedgerWriter
from hotline.ledger.store import Ledger, iso
from tests.fakeami import wait_until

pytestmark = pytest.mark.timeout(60)
T0 = datetime(2026, 11, 27, 1, 0, 0, tzinfo=UTC)
DISK_FULL = "database or disk is full"


def _required() -> bool:
    return os.environ.get("HOTLINE_REQUIRE_ASTERISK") == "1" or bool(os.environ.get("CI"))


class SmallDisk:
    """A 2 MiB tmpfs mounted for one test; `fill()` takes every free byte."""

    def __init__(self, mountpoint: Path) -> None:
        self.path = mountpoint
        self.filler = mountpoint / "filler"

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * chunk)
        finally:
            os.close(fd)
        # Really full: not one more page for anybody.
        with pytest.raises(OSError, match="No space left on device") as full:
            (self.path / "probe").write_bytes(b"\0" * 4096)
        assert full.value.errno == errno.ENOSPC

    def free(self) -> None:
        self.filler.unlink()
        (self.path / "probe").unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700",
                                  "tmpfs", str(mountpoint)], capture_output=True, text=True)
        problem = mounted.stderr.strip() or f"exit status {mounted.returncode}"
    except OSError as exc:  # no mount command at all
        mounted, problem = None, str(exc)
    if mounted is None or mounted.returncode != 0:
        reason = f"cannot mount a tmpfs to fill up (needs root): {problem}"
        if _required():
            pytest.fail(f"{reason} (required under CI / HOTLINE_REQUIRE_ASTERISK=1)")
        pytest.skip(reason)
    try:
        yield SmallDisk(mountpoint)
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode:
            # Still busy (a test failed with the ledger open): detach it anyway.
            subprocess.run(["umount", "--lazy", str(mountpoint)], check=True)


@contextlib.asynccontextmanager
async def writing(ledger: Ledger, **settings: float) -> AsyncIterator[LedgerWriter]:
    writer = LedgerWriter(ledger, lambda: T0 + timedelta(minutes=5))
    for name, value in settings.items():
        setattr(writer, name, value)
    task = asyncio.create_task(writer.run(), name="ledger-writer")
    try:
        yield writer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def call(n: int, **changes: Any) -> Call:
    base = Call(f"1764230400.{n}", f"PJSIP/trunk-{n:08d}", f"1764230400.{n}",
                f"139551{n:05d}", f"纳税人{n}", CallState.IVR, T0 + timedelta(seconds=n))
    return replace(base, **changes)


def queued(n: int) -> Call:
    return call(n, state=CallState.QUEUED, digits="1", queue="center",
                queued_at=T0 + timedelta(seconds=n + 5))


def answered(n: int) -> Call:
    return replace(queued(n), state=CallState.CONNECTED, seat="演示座席8001",
                   answered_at=T0 + timedelta(seconds=n + 11), wait_seconds=6.0)


def ended(n: int) -> Call:
    return replace(answered(n), state=CallState.ENDED, ended_at=T0 + timedelta(seconds=n + 41),
                   talk_seconds=30.0, outcome=Outcome.ANSWERED, end_reason=EndReason.HANGUP)


def failures(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == "ledger.write_failed"]


async def rows(ledger: Ledger) -> dict[str, tuple[Any, ...]]:
    """The calls as committed (`ledger.db` reads only what is committed, never the rows of
    the writer's open transaction, which a failed COMMIT would then drop)."""
    async with ledger.db.execute(
            "SELECT linkedid, state, digits, seat, wait_seconds, talk_seconds, outcome, "
            "ended_at FROM calls") as cur:
        found = list(await cur.fetchall())
    assert len({r[0] for r in found}) == len(found)
    return {r[0]: tuple(r[1:]) for r in found}


def row_of(c: Call) -> tuple[Any, ...]:
    """What `rows` should find for the snapshot `c`."""
    return (c.state.value, c.digits, c.seat, c.wait_seconds, c.talk_seconds,
            c.outcome.value if c.outcome else None, iso(c.ended_at))


def on_disk(path: Path) -> tuple[str, dict[str, tuple[Any, ...]]]:
    """What a connection of its own finds in the file: integrity_check, the calls."""
    con = sqlite3.connect(path)
    try:
        check = con.execute("PRAGMA integrity_check").fetchone()[0]
        found = con.execute(
            "SELECT linkedid, state, digits, seat, wait_seconds, talk_seconds, outcome, "
            "ended_at FROM calls").fetchall()
    finally:
        con.close()
    return check, {r[0]: tuple(r[1:]) for r in found}


async def test_a_full_disk_blocks_no_call_and_loses_none(disk: SmallDisk) -> None:
    """A full disk blocks no call and loses none: writes wait and land once space is
    back."""
    path = disk.path / "ledger.sqlite3"
    ledger = await Ledger.open(path)
    try:
        # dead_after=1: one failure blamed on a call would set it aside. A full disk is not
        # the calls' fault: many fail and none lands, so none is ever set aside.
        async with writing(ledger, dead_after=1) as writer:
            # Committed before the disk fills: two calls ended, one in progress.
            for c in (ended(1), ended(2), queued(3)):
                writer.put(c)
            await asyncio.wait_for(writer.idle.wait(), 3)
            committed = await rows(ledger)
            assert committed == {c.linkedid: row_of(c) for c in (ended(1), ended(2), queued(3))}

            disk.fill()
            loop = asyncio.get_running_loop()
            ticks: list[float] = []

            async def ticker() -> None:  # another task of the service, e.g. an IVR
                while True:
                    ticks.append(loop.time())
                    await asyncio.sleep(0.01)

            tick_task = asyncio.create_task(ticker())
            with capture_logs() as logs:
                slowest_put = 0.0
                # Calls go on: 40 new calls walk IVR -> queue -> seat, half of them end,
                # and call 3 (in progress when the disk filled) ends too.
                expected: dict[str, Call] = {}
                for step in (call, queued, answered):
                    for n in range(10, 50):
                        started = time.perf_counter()
                        writer.put(step(n))
                        slowest_put = max(slowest_put, time.perf_counter() - started)
                        expected[step(n).linkedid] = step(n)
                    await asyncio.sleep(0.05)
                for n in [3, *range(10, 30)]:
                    writer.put(ended(n))
                    expected[ended(n).linkedid] = ended(n)
                await wait_until(lambda: len(failures(logs)) >= 3, 3, "three failed writes")
                # Nothing landed meanwhile, and what was committed is still there, also
                # for another connection (as after a crash at this moment).
                assert await rows(ledger) == committed
                assert on_disk(path) == ("ok", committed)
                disk.free()
                await asyncio.wait_for(writer.idle.wait(), 3)
            tick_task.cancel()

            # (a) put() returned at once and the loop kept running while writes failed.
            assert slowest_put < 0.02
            gaps = [b - a for a, b in itertools.pairwise(ticks)]
            assert len(ticks) > 20
            assert max(gaps) < 0.15  # the retries wait 0.1, 0.2, 0.4 s: never on the loop
            # (b) each failure logged with SQLite's error, retried after a growing delay.
            failed = failures(logs)
            assert all(DISK_FULL in e["error"] for e in failed)
            assert [e["retry_in"] for e in failed[:3]] == [0.1, 0.2, 0.4]
            assert all(e["log_level"] == "error" for e in failed)
            assert not unwritable(logs)
            # (c) every call exactly once, as its newest snapshot.
            final = await rows(ledger)
            assert final == {**committed, **{lid: row_of(c) for lid, c in expected.items()}}
            assert len(final) == 2 + 41
            assert final[ended(3).linkedid][0] == "ended"
            assert writer.written >= 43
    finally:
        await ledger.close()
    # (d) the file itself: intact, and holds every call.
    check, found = on_disk(path)
    assert check == "ok"
    assert found == final


async def test_the_retry_delay_doubles_up_to_its_cap_and_starts_again_after_success(
        disk: SmallDisk) -> None:
    """The retry delay doubles up to its cap while writes fail, and starts over after a
    success."""
    assert (LedgerWriter.retry_first, LedgerWriter.retry_max) == (0.1, 5.0)
    ledger = await Ledger.open(disk.path / "ledger.sqlite3")
    try:
        # (dead_after: a lone call failing on a full disk after the ledger took a call could
        # be its own fault; it is set aside only after many failures, not the few here.)
        async with writing(ledger, retry_first=0.01, retry_max=0.04, dead_after=100) as writer:
            disk.fill()
            with capture_logs() as logs:
                writer.put(call(1))
                await wait_until(lambda: len(failures(logs)) >= 6, 3, "six failed writes")
                disk.free()
                await asyncio.wait_for(writer.idle.wait(), 3)
                assert [e["retry_in"] for e in failures(logs)[:6]] == [
                    0.01, 0.02, 0.04, 0.04, 0.04, 0.04]
                # A later failure starts from the first delay again.
                disk.fill()
                count = len(failures(logs))
                writer.put(call(2))
                await wait_until(lambda: len(failures(logs)) >= count + 2, 3, "new failures")
                assert [e["retry_in"] for e in failures(logs)[count:count + 2]] == [0.01, 0.02]
                disk.free()
                await asyncio.wait_for(writer.idle.wait(), 3)
                # Several calls failing and none landing: the ledger takes nothing, and all
                # wait for one common delay, growing the same way.
                disk.fill()
                count = len(failures(logs))
                writer.put(call(3))
                writer.put(call(4))
                await wait_until(lambda: len(failures(logs)) >= count + 4, 3, "new failures")
                common = failures(logs)[count:count + 4]
                assert [e["retry_in"] for e in common] == [0.01, 0.02, 0.04, 0.04]
                assert all(e["calls"] == 2 for e in common)
                disk.free()
                await asyncio.wait_for(writer.idle.wait(), 3)
            assert set(await rows(ledger)) == {call(n).linkedid for n in (1, 2, 3, 4)}
    finally:
        await ledger.close()


async def test_a_call_ended_while_the_disk_is_full_stays_ended(disk: SmallDisk) -> None:
    """Its open row (written before) is closed once the disk has room; a later snapshot
    in progress (a late event) does not reopen it, as the ledger itself refuses to."""
    ledger = await Ledger.open(disk.path / "ledger.sqlite3")
    try:
        async with writing(ledger) as writer:
            writer.put(answered(1))
            await asyncio.wait_for(writer.idle.wait(), 3)
            disk.fill()
            with capture_logs() as logs:
                writer.put(ended(1))
                writer.put(answered(1))  # late: after the end
                writer.put(ended(2))
                writer.put(queued(2))  # late as well
                await wait_until(lambda: len(failures(logs)) >= 1, 3, "a failed write")
                disk.free()
                await asyncio.wait_for(writer.idle.wait(), 3)
            assert await rows(ledger) == {
                ended(1).linkedid: row_of(ended(1)), ended(2).linkedid: row_of(ended(2))}
    finally:
        await ledger.close()


async def test_a_snapshot_that_can_never_be_written_holds_back_no_other_call(
        disk: SmallDisk) -> None:
    """One bad snapshot (here a caller name no SQLite text can hold: a lone surrogate, as
    undecodable bytes come out of surrogateescape) is retried and reported, not allowed
    to stop every call after it from reaching the ledger."""
    bad = call(1, caller_name="纳税人\udcff")
    ledger = await Ledger.open(disk.path / "ledger.sqlite3")
    try:
        async with writing(ledger, retry_max=0.2) as writer:
            with capture_logs() as logs:
                writer.put(bad)
                for n in (2, 3):
                    writer.put(ended(n))
                await wait_until(lambda: len(failures(logs)) >= 1, 3, "a failed write")
                await wait_until(lambda: writer.written >= 2, 3, "the good calls written")
                writer.put(ended(4))  # and a call after it
                await wait_until(lambda: writer.written >= 3, 3, "the next call written")
            found = await rows(ledger)
            assert set(found) == {ended(n).linkedid for n in (2, 3, 4)}
            assert failures(logs)[-1]["linkedids"] == [bad.linkedid]
            assert "surrogates not allowed" in failures(logs)[-1]["error"]
    finally:
        await ledger.close()


async def test_snapshots_unwritten_when_the_writer_stops_are_reported(
        disk: SmallDisk) -> None:
    """Stopped while the disk is full: what could not be written is named in the log
    (staff can complete the ledger by hand), never dropped without a word."""
    ledger = await Ledger.open(disk.path / "ledger.sqlite3")
    try:
        disk.fill()
        with capture_logs() as logs:
            async with writing(ledger) as writer:
                writer.put(ended(1))
                writer.put(queued(2))
                await wait_until(lambda: len(failures(logs)) >= 1, 3, "a failed write")
                writer.put(ended(2))
        stopped = [e for e in logs if e["event"] == "ledger.unwritten_at_stop"]
        assert len(stopped) == 1
        assert stopped[0]["log_level"] == "error"
        assert stopped[0]["linkedids"] == [ended(1).linkedid, ended(2).linkedid]
        disk.free()
    finally:
        await ledger.close()


# Calls that cannot be written (the disk has room): retried on their own, set aside.

def unwritable(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == "ledger.call_unwritable"]


async def test_an_unwritable_call_delays_no_later_call(tmp_path: Path) -> None:
    """However long the retry delay of a call that cannot be written has grown (here its
    5 s cap from the first failure), each call after it lands at once."""
    bad = call(1, caller_name="纳税人\udcff")
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        async with writing(ledger, retry_first=5.0) as writer:
            with capture_logs() as logs:
                writer.put(bad)
                await wait_until(lambda: len(failures(logs)) >= 1, 3, "its first failure")
                for n in (2, 3, 4):
                    writer.put(queued(n))
                    writer.put(ended(n))
                    await wait_until(lambda n=n: writer.written == n - 1, 0.5,  # type: ignore[misc]
                                     f"call {n} written")
                    await asyncio.sleep(0.1)
            assert await rows(ledger) == {ended(n).linkedid: row_of(ended(n)) for n in (2, 3, 4)}
            assert {tuple(e["linkedids"]) for e in failures(logs)} == {(bad.linkedid,)}
    finally:
        await ledger.close()


async def test_a_call_that_keeps_failing_is_set_aside_retried_seldom_and_not_drained(
        tmp_path: Path) -> None:
    """After `dead_after` failures while other calls are written, a call is set aside:
    named once (ledger.call_unwritable, with the reason), retried every `dead_retry`,
    and not waited for by drain() (a shutdown is not held up by it). Once it can be
    written (here a trigger refusing it is dropped), it lands on the next retry."""
    path = tmp_path / "ledger.sqlite3"
    ledger = await Ledger.open(path)
    con = sqlite3.connect(path)
    con.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON calls WHEN NEW.linkedid = "
                f"'{call(1).linkedid}' BEGIN SELECT RAISE(ABORT, 'refused for the test'); END")
    con.commit()
    loop = asyncio.get_running_loop()
    try:
        with capture_logs() as logs:
            async with writing(ledger, retry_first=0.01, retry_max=0.02, dead_after=3,
                               dead_retry=0.5) as writer:
                writer.put(ended(2))
                writer.put(queued(1))
                await wait_until(lambda: unwritable(logs), 3, "the call set aside")
                [aside] = unwritable(logs)
                assert aside["linkedid"] == call(1).linkedid
                assert "refused for the test" in aside["reason"]
                assert aside["log_level"] == "error"
                assert len(failures(logs)) == 3  # each failure before, none after
                writer.put(ended(1))  # a newer snapshot of it: still set aside
                writer.put(ended(3))
                started = loop.time()
                await writer.drain()
                assert loop.time() - started < 0.5
                assert set(await rows(ledger)) == {ended(2).linkedid, ended(3).linkedid}
                con.execute("DROP TRIGGER refuse")
                con.commit()
                await wait_until(lambda: writer.written == 3, 1.5, "the call set aside landed")
                assert await rows(ledger) == {
                    ended(n).linkedid: row_of(ended(n)) for n in (1, 2, 3)}
                late = [e for e in logs if e["event"] == "ledger.call_written_late"]
                assert [e["linkedid"] for e in late] == [call(1).linkedid]
                assert len(unwritable(logs)) == 1
                assert len(failures(logs)) == 3
        assert not [e for e in logs if e["event"] == "ledger.unwritten_at_stop"]
    finally:
        con.close()
        await ledger.close()


async def test_a_call_set_aside_is_named_when_the_writer_stops(tmp_path: Path) -> None:
    """A call set aside as unwritable is named in the log when the writer stops."""
    bad = call(1, caller_name="纳税人\udcff")
    ledger = await Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        with capture_logs() as logs:
            async with writing(ledger, retry_first=0.01, retry_max=0.01, dead_after=2) as writer:
                writer.put(bad)
                writer.put(ended(2))
                await wait_until(lambda: unwritable(logs), 3, "the call set aside")
                await asyncio.wait_for(writer.drain(), 0.5)
        stopped = [e for e in logs if e["event"] == "ledger.unwritten_at_stop"]
        assert [e["linkedids"] for e in stopped] == [[bad.linkedid]]
    finally:
        await ledger.close()
