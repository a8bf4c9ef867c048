"""The lease (hotline.pbx.fastagi.Lease): a refresh that lands late never re-arms the
timeout of a call that has left hotline's AGI."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from hotline.pbx.errors import AmiError
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


class Links:
    """AMI links one after another: on the current one a Setvar is answered at once,
    unless the link is `stall()`ed (written, never answered); `lose()` fails what is
    unanswered (AmiDisconnected), and until `relink()` every Setvar fails at once."""

    def __init__(self) -> None:
        self.link = 1
        self.up = True
        self.stalled = False
        self.written: list[tuple[int, str, str]] = []  # (link, channel, value)
        self.wrote = asyncio.Event()
        self._lost = asyncio.Event()

    async def setvar(self, channel: str, variable: str, value: str) -> None:
        from hotline.pbx.errors import AmiDisconnected

        assert variable == LEASE_VARIABLE
        if not self.up:
            raise AmiDisconnected("not connected")
        self.written.append((self.link, channel, value))
        self.wrote.set()
        if self.stalled:
            await self._lost.wait()
            raise AmiDisconnected("link lost before Setvar was answered")

    def stall(self) -> None:
        self.stalled = True

    def lose(self) -> None:
        self.up, self.stalled = False, False
        self._lost.set()

    def relink(self) -> None:
        self.link += 1
        self.up = True
        self._lost = asyncio.Event()

    def on(self, link: int) -> list[tuple[str, str]]:
        return [(c, v) for n, c, v in self.written if n == link]

    async def setvar_many(self, channels: list[str], variable: str,
                          value: str) -> list[AmiError | None]:
        """The service's batched refresh: each channel's Setvar on the current link,
        each one's error or None."""
        results = await asyncio.gather(*(self.setvar(c, variable, value) for c in channels),
                                       return_exceptions=True)
        return [r if isinstance(r, AmiError) else None for r in results]


# The guard tests run with the lease's one-by-one refreshes and with its batched ones
# (setvar_many: what the service uses).
BATCHED = pytest.mark.parametrize("batched", [False, True], ids=["single", "batched"])


def lease_on(links: Links, setvar: Callable[[str, str, str], Awaitable[None]],
             batched: bool, **kwargs: float) -> Lease:
    return Lease(setvar, setvar_many=links.setvar_many if batched else None, **kwargs)


@BATCHED
async def test_a_refresh_a_lost_link_held_is_voided_again_on_the_next_link(batched: bool) -> None:
    """The link goes silent with a refresh of the channel written; the lease runs out
    and the call leaves AGI (the fallback's queue); the void that follows the refresh on
    that link is never answered; the link is lost. A link that heals may run only the
    first of the two (the 30 s half-open cut: callers in the fallback's queue hung up
    1.75 s after it healed), so once the next link is logged in the channel is voided
    there before `relinked` returns, and again every round for the guard, never after."""
    links = Links()
    lease = lease_on(links, links.setvar, batched, seconds=1.75, interval=0.05, guard=0.5)
    lease.hold(CHANNEL)
    loop = asyncio.create_task(lease.run())
    try:
        await asyncio.wait_for(links.wrote.wait(), 2)
        links.stall()
        links.wrote.clear()
        await asyncio.wait_for(links.wrote.wait(), 2)  # a refresh on the stalled link
        lease.drop(CHANNEL)  # the lease ran out: the call left AGI
        await asyncio.sleep(0.05)
        links.lose()
        await asyncio.sleep(0.1)
        links.relink()
        await lease.relinked()
        assert links.on(2) == [(CHANNEL, "0")], "voided first thing on the new link"
        await asyncio.sleep(0.3)
        again = len(links.on(2))
        assert again >= 3, f"voided only {again} times within the guard"
        await asyncio.sleep(0.4)
        after = len(links.on(2))
        await asyncio.sleep(0.2)
    finally:
        loop.cancel()
    assert links.on(1)[-2:] == [(CHANNEL, "1.75"), (CHANNEL, "0")]
    assert set(links.on(2)) == {(CHANNEL, "0")}, "never refreshed once out of AGI"
    assert len(links.on(2)) == after, "no void past the guard"


@BATCHED
async def test_a_call_still_in_agi_at_the_relink_is_voided_when_it_leaves(batched: bool) -> None:
    """A short cut: the call is still in hotline's IVR when the next link comes, its new
    refreshes are answered; when it leaves AGI within the guard, it is voided though no
    refresh of its is unanswered now (the lost link's may still land)."""
    links = Links()
    lease = lease_on(links, links.setvar, batched, seconds=1.75, interval=0.05, guard=5.0)
    lease.hold(CHANNEL)
    loop = asyncio.create_task(lease.run())
    try:
        await asyncio.wait_for(links.wrote.wait(), 2)
        links.stall()
        links.wrote.clear()
        await asyncio.wait_for(links.wrote.wait(), 2)
        links.lose()
        await asyncio.sleep(0.1)
        links.relink()
        await lease.relinked()
        assert links.on(2) == [], "a call in AGI is not voided"
        await asyncio.sleep(0.2)  # refreshed on the new link, answered
        assert (CHANNEL, "1.75") in links.on(2)
        await lease.release(CHANNEL)  # on to a queue
        await asyncio.sleep(0.05)
    finally:
        loop.cancel()
    assert links.on(2)[-1] == (CHANNEL, "0")


@BATCHED
async def test_a_guarded_channel_that_is_gone_is_forgotten(batched: bool) -> None:
    """A void refused (the channel hung up: Asterisk has no such channel) ends the
    channel's guard: nothing more is sent for it."""
    from hotline.pbx.errors import AmiActionFailed

    links = Links()
    refused: list[str] = []

    async def setvar(channel: str, variable: str, value: str) -> None:
        if links.link == 2 and value == "0":
            refused.append(channel)
            raise AmiActionFailed("Setvar failed: Channel not found")
        await links.setvar(channel, variable, value)

    lease = lease_on(links, setvar, batched, seconds=1.75, interval=0.05, guard=5.0)
    lease.hold(CHANNEL)
    loop = asyncio.create_task(lease.run())
    try:
        await asyncio.wait_for(links.wrote.wait(), 2)
        links.stall()
        links.wrote.clear()
        await asyncio.wait_for(links.wrote.wait(), 2)
        lease.drop(CHANNEL)
        links.lose()
        await asyncio.sleep(0.1)
        links.relink()
        await lease.relinked()
        await asyncio.sleep(0.3)
    finally:
        loop.cancel()
    assert refused == [CHANNEL]


async def test_a_refresh_failing_while_the_call_is_released_is_voided() -> None:
    """Leaving AGI on purpose waits for the channel's refresh; one that times out in that
    wait (no longer in flight when the wait ends) is voided as well."""
    from hotline.pbx.errors import AmiTimeout

    written: list[str] = []
    started = asyncio.Event()

    async def setvar(channel: str, variable: str, value: str) -> None:
        written.append(value)
        if value != "0":
            started.set()
            await asyncio.sleep(0.2)
            raise AmiTimeout("Setvar got no answer")

    lease = Lease(setvar, seconds=2.0, interval=5.0)
    lease.hold(CHANNEL)
    loop = asyncio.create_task(lease.run())
    try:
        await asyncio.wait_for(started.wait(), 2)
        await lease.release(CHANNEL)
        await asyncio.sleep(0.05)
    finally:
        loop.cancel()
    assert written == ["2", "0"]


async def test_a_batched_round_refreshes_every_held_channel_at_once_and_voids_a_lost_one(
) -> None:
    """With setvar_many (the service's way) a round sends every held channel's refresh in
    one call; a channel whose refresh got no answer is voided when it leaves AGI, one
    whose refresh was answered is not."""
    from hotline.pbx.errors import AmiTimeout

    other = "PJSIP/trunk-00000002"
    rounds: list[list[str]] = []
    voids: list[tuple[str, str]] = []
    refreshed = asyncio.Event()

    async def setvar(channel: str, variable: str, value: str) -> None:
        voids.append((channel, value))

    async def setvar_many(channels: list[str], variable: str,
                          value: str) -> list[AmiError | None]:
        assert (variable, value) == (LEASE_VARIABLE, "2")
        rounds.append(sorted(channels))
        refreshed.set()
        return [AmiTimeout("no answer") if c == CHANNEL else None for c in channels]

    lease = Lease(setvar, seconds=2.0, interval=5.0, setvar_many=setvar_many)
    lease.hold(CHANNEL)
    lease.hold(other)
    loop = asyncio.create_task(lease.run())
    try:
        await asyncio.wait_for(refreshed.wait(), 2)
        await asyncio.sleep(0.01)
        lease.drop(other)
        lease.drop(CHANNEL)
        await asyncio.sleep(0.05)
    finally:
        loop.cancel()
    assert rounds == [sorted([CHANNEL, other])]
    assert (lease.refreshes, lease.failures) == (1, 1)
    assert voids == [(CHANNEL, "0")]


async def test_a_round_sends_every_batch_without_waiting_for_the_answers_of_another() -> None:
    """More channels than `parallel`: the round's batches all go out at once, so a batch
    Asterisk is slow to answer holds up no other channel's refresh."""

    channels = [f"PJSIP/trunk-0000000{n}" for n in range(3)]
    sent: list[list[str]] = []
    answer = asyncio.Event()

    async def setvar(channel: str, variable: str, value: str) -> None:
        return None

    async def setvar_many(batch: list[str], variable: str,
                          value: str) -> list[AmiError | None]:
        sent.append(batch)
        await answer.wait()  # none answered until every batch was sent
        return [None for _ in batch]

    lease = Lease(setvar, seconds=2.0, interval=5.0, parallel=1, setvar_many=setvar_many)
    for channel in channels:
        lease.hold(channel)
    loop = asyncio.create_task(lease.run())
    try:
        for _ in range(100):
            if len(sent) == 3:
                break
            await asyncio.sleep(0.01)
        assert sorted(c for batch in sent for c in batch) == sorted(channels)
        assert all(len(batch) == 1 for batch in sent)
        answer.set()
        await asyncio.sleep(0.02)
        assert lease.refreshes == 3
    finally:
        loop.cancel()
