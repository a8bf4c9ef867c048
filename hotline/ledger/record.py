"""The ledger's side of reconciling Asterisk's record of calls: which calls it knows, the
rows written from the record (added once: a row already there is never touched), and the
fallback voicemails waiting to be linked to their calls."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from hotline.core.calls.record import FallbackVoicemail
from hotline.core.calls.tracking import Call
from hotline.ledger.store import COLUMNS, CallRow, Ledger, call_from_row, iso, row_of

# An imported fallback voicemail stands for a call the ledger did not know: its linkedid
# (and its work order's) is this prefix and the message id until it is linked.
UNLINKED_PREFIX = "asterisk-voicemail:"

_INSERT_NEW = (f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES "
               f"({', '.join('?' for _ in COLUMNS)}) ON CONFLICT(linkedid) DO NOTHING")


async def known(ledger: Ledger, linkedids: Collection[str]) -> set[str]:
    """Those of `linkedids` that have a row."""
    found: set[str] = set()
    wanted = list(linkedids)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        async with ledger.db.execute(
                f"SELECT linkedid FROM calls WHERE linkedid IN ({', '.join('?' for _ in chunk)})",
                chunk) as cur:
            found.update(row[0] for row in await cur.fetchall())
    return found


async def ended(ledger: Ledger, linkedids: Collection[str]) -> set[str]:
    """Those of `linkedids` whose row is final (ended): a row still open may yet need
    Asterisk's record (its call ended while hotline was cut off)."""
    found: set[str] = set()
    wanted = list(linkedids)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        async with ledger.db.execute(
                f"SELECT linkedid FROM calls WHERE ended_at IS NOT NULL AND linkedid IN "
                f"({', '.join('?' for _ in chunk)})", chunk) as cur:
            found.update(row[0] for row in await cur.fetchall())
    return found


async def unlinked_voicemails(ledger: Ledger) -> list[FallbackVoicemail]:
    async with ledger.db.execute(
            "SELECT id, caller_number, started_at FROM voicemails WHERE linkedid LIKE ? "
            "ORDER BY id", (UNLINKED_PREFIX + "%",)) as cur:
        return [FallbackVoicemail(row[0], row[1], datetime.fromisoformat(row[2]))
                for row in await cur.fetchall()]


async def add_recorded(ledger: Ledger, calls: Sequence[Call], now: datetime) -> list[str]:
    """Write calls from Asterisk's record, each only if the ledger has no row of it (one
    transaction); a voicemail one of them left takes its call's Linkedid, and so does its
    work order. Returns the Linkedids written."""
    stamp = iso(now) or ""
    written: list[str] = []
    async with ledger.transaction() as db:
        for call in calls:
            cur = await db.execute(_INSERT_NEW, row_of(call, stamp))
            if cur.rowcount != 1:
                continue
            written.append(call.linkedid)
            if call.voicemail_id is not None:
                await db.execute(
                    "UPDATE work_orders SET linkedid = ? WHERE linkedid = (SELECT linkedid "
                    "FROM voicemails WHERE id = ? AND linkedid LIKE ?)",
                    (call.linkedid, call.voicemail_id, UNLINKED_PREFIX + "%"))
                await db.execute(
                    "UPDATE voicemails SET linkedid = ? WHERE id = ? AND linkedid LIKE ?",
                    (call.linkedid, call.voicemail_id, UNLINKED_PREFIX + "%"))
    return written


async def voicemail_candidates(ledger: Ledger, numbers: Collection[str]) -> list[Call]:
    """The rows of calls from these numbers that a fallback message may belong to: no
    seat answered them and they have no voicemail."""
    wanted = [n for n in numbers if n]
    if not wanted:
        return []
    async with ledger.db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM calls WHERE answered_at IS NULL AND "
            f"voicemail_id IS NULL AND caller_number IN ({', '.join('?' for _ in wanted)}) "
            "ORDER BY started_at DESC LIMIT 200", wanted) as cur:
        return [call_from_row(CallRow(*row)) for row in await cur.fetchall()]


async def link_voicemail(ledger: Ledger, voicemail_id: int, linkedid: str,
                         row_too: bool) -> bool:
    """The fallback message `voicemail_id` (still unlinked) is the call `linkedid`'s: the
    message and its work order take the call's Linkedid and, when `row_too` (the call is
    not tracked: nobody else writes its row), the call's row the message (outcome
    voicemail unless a seat answered). One transaction; False if it was linked already."""
    async with ledger.transaction() as db:
        cur = await db.execute(
            "UPDATE voicemails SET linkedid = ? WHERE id = ? AND linkedid LIKE ?",
            (linkedid, voicemail_id, UNLINKED_PREFIX + "%"))
        if cur.rowcount != 1:
            return False
        await db.execute(
            "UPDATE work_orders SET linkedid = ? WHERE id = (SELECT work_order_id FROM "
            "voicemails WHERE id = ?) AND linkedid LIKE ?",
            (linkedid, voicemail_id, UNLINKED_PREFIX + "%"))
        if row_too:
            await db.execute(
                "UPDATE calls SET voicemail_id = ?, outcome = CASE WHEN answered_at IS NULL "
                "AND ended_at IS NOT NULL THEN 'voicemail' ELSE outcome END "
                "WHERE linkedid = ? AND voicemail_id IS NULL", (voicemail_id, linkedid))
    return True
