"""The lease (hotline.pbx.fastagi.Lease): a refresh that lands late never re-arms the
timeout of a call that has left hotline's AGI."""

from __future__ import annotations

import asyncio

from hotline.pbx.fastagi import LEASE_VARIABLE, Lease

CHANNEL = "PJSIP/trunk-00000001"


class StalledAmi:
    """Setvars written in order, none answered until `heal()` (a stalled link)."""

    def __init__(self) -> None:
        self.written: list[tuple[str, str, str]] = []
        self.healed = asyncio.Event()
        self.wrote = asyncio.Event()

    async def setvar(self, channel: str, variable: str, value: str) -> None:
        self.written.append((channel, variable, value))
        self.wrote.set()
        await self.healed.wait()

    def heal(self) -> None:
        self.healed.set()


async def test_a_call_leaving_agi_with_a_refresh_unanswered_voids_it_after_it() -> None:
    """The link stalls with a refresh of the channel unanswered; the lease runs out and
    the call leaves AGI (for the fallback's queue): a Setvar of 0 follows the refresh on
    the same link, so when the link comes back the timeout is not re-armed there."""
    ami = StalledAmi()
    lease = Lease(ami.setvar, seconds=2.0, interval=0.05)
    lease.hold(CHANNEL)
    loop = asyncio.create_task(lease.run())
    try:
        await asyncio.wait_for(ami.wrote.wait(), 2)
        lease.drop(CHANNEL)  # the session ended: its channel left AGI
        await asyncio.sleep(0.1)
        ami.heal()
        await asyncio.sleep(0.1)
    finally:
        loop.cancel()
    assert ami.written == [(CHANNEL, LEASE_VARIABLE, "2"), (CHANNEL, LEASE_VARIABLE, "0")]
    assert lease.voided == 1


async def test_release_voids_a_refresh_still_unanswered_after_its_wait() -> None:
    """Leaving AGI on purpose (to a queue, a transfer) waits up to 1 s for the channel's
    refresh; one still unanswered then is voided as well."""
    ami = StalledAmi()
    lease = Lease(ami.setvar, seconds=2.0, interval=0.05)
    lease.hold(CHANNEL)
    loop = asyncio.create_task(lease.run())
    try:
        await asyncio.wait_for(ami.wrote.wait(), 2)
        await lease.release(CHANNEL)
        await asyncio.sleep(0.05)
    finally:
        ami.heal()
        loop.cancel()
    assert ami.written[-1] == (CHANNEL, LEASE_VARIABLE, "0")


async def test_no_void_when_no_refresh_is_in_flight() -> None:
    """The usual case: every refresh answered, nothing more is sent when the call leaves."""
    written: list[str] = []
    wrote = asyncio.Event()

    async def setvar(channel: str, variable: str, value: str) -> None:
        written.append(value)
        wrote.set()

    lease = Lease(setvar, seconds=2.0, interval=0.05)
    lease.hold(CHANNEL)
    loop = asyncio.create_task(lease.run())
    try:
        await asyncio.wait_for(wrote.wait(), 2)
        await asyncio.sleep(0.01)
        await lease.release(CHANNEL)
        lease.drop(CHANNEL)
        await asyncio.sleep(0.1)
    finally:
        loop.cancel()
    assert set(written) == {"2"}
    assert lease.voided == 0


async def test_a_refresh_that_timed_out_is_voided_too() -> None:
    """A refresh that timed out (no answer within its timeout: the link stalled) is no
    longer awaited, but its bytes may still land: when the call then leaves AGI, it is
    voided all the same (it re-armed the lease of callers in the fallback's queue, who
    were hung up 1.75 s after a half-open link healed)."""
    from hotline.pbx.errors import AmiTimeout

    written: list[str] = []
    timed_out = asyncio.Event()

    async def setvar(channel: str, variable: str, value: str) -> None:
        written.append(value)
        if value != "0":
            timed_out.set()
            raise AmiTimeout("Setvar got no answer")

    lease = Lease(setvar, seconds=2.0, interval=5.0)
    lease.hold(CHANNEL)
    loop = asyncio.create_task(lease.run())
    try:
        await asyncio.wait_for(timed_out.wait(), 2)
        await asyncio.sleep(0.01)  # the refresh's failure is handled: not in flight
        lease.drop(CHANNEL)
        await asyncio.sleep(0.05)
    finally:
        loop.cancel()
    assert written == ["2", "0"]
    assert lease.voided == 1
