"""Who may see a reporter's or complainant's number (保密), and the audit rows of who
looked at one record.

The decision is the ledger's, not the command line's: `ledger.unmask_users` lists who
may unmask, one record at a time; a view, an unmask and a refused unmask are each audited.
The audit row itself is written by the caller's `audit` function (the audit table's one
writer), so this module holds only the rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.common.privacy import is_confidential, mask_number, mask_row
from hotline.ledger.entries import EntryBook
from hotline.ledger.errors import CallUnknown as CallUnknown  # importable from here
from hotline.ledger.errors import UnmaskRefused as UnmaskRefused
from hotline.ledger.store import Ledger

# audit(actor, action, target, detail, at): one row of the append-only audit trail.
Audit = Callable[[str, str, str, str | None, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Reader:
    """Who is reading the ledger, and whom the configuration allows to unmask."""

    actor: str
    unmask_users: Collection[str] = ()

    @property
    def may_unmask(self) -> bool:
        return self.actor in self.unmask_users


def masked_call(row: dict[str, Any]) -> dict[str, Any]:
    """A call row as every listing shows it: a reporter's number and name masked."""
    return mask_row(row)


async def check_unmask(reader: Reader, target: str, refused_action: str, audit: Audit,
                       at: datetime) -> None:
    """Refuse an unmask by someone not in ledger.unmask_users; the refusal is audited."""
    if reader.may_unmask:
        return
    await audit(reader.actor, refused_action, target, None, at)
    raise UnmaskRefused(f"{reader.actor} may not unmask reporters' numbers "
                        "(ledger.unmask_users)")


async def show_call(ledger: Ledger, reader: Reader, linkedid: str, *, unmask: bool,
                    audit: Audit, at: datetime, reason: str | None = None,
                    ) -> dict[str, Any]:
    """One call as `reader` may see it, audited as call.view or call.unmask (a refused
    unmask as call.unmask_refused, before the call is even looked up); `reason`, why it
    was unmasked (the web's auditors give one), is the audit row's detail."""
    target = f"call:{linkedid}"
    if unmask:
        await check_unmask(reader, target, "call.unmask_refused", audit, at)
    row = await ledger.get(linkedid)
    if row is None:
        raise CallUnknown(f"no call {linkedid!r} in the ledger")
    await audit(reader.actor, "call.unmask" if unmask else "call.view", target,
                reason if unmask else None, at)
    shown = row.as_dict() if unmask else masked_call(row.as_dict())
    # The seat's 台帐 entry is part of the call's record (its callback number masked
    # like the caller's).
    found = await EntryBook(ledger).get(linkedid)
    entry = None
    if found is not None and found["saved"] is not None:
        entry = {**found["saved"], "saved_by": found["saved_by"],
                 "saved_at": found["saved_at"]}
        if not unmask and (is_confidential(row.category)
                           or is_confidential(entry["category"])):
            # a reporter's, also when the seat corrected the category to a tip-off
            entry["callback_number"] = mask_number(entry["callback_number"])
            shown = {**mask_row({**shown, "category": "tip_off"}),
                     "category": row.category}
    shown["entry"] = entry
    return shown


async def order_opened(reader: Reader, order_id: int, *, unmask: bool, audit: Audit,
                       at: datetime, fetch: Callable[[], Awaitable[dict[str, Any]]]
                       ) -> dict[str, Any]:
    """One work order fetched for `reader`, audited as order.view or order.unmask (a
    refused unmask as order.unmask_refused, before the order is fetched)."""
    target = f"work_order:{order_id}"
    if unmask:
        await check_unmask(reader, target, "order.unmask_refused", audit, at)
    order = await fetch()
    await audit(reader.actor, "order.unmask" if unmask else "order.view", target, None, at)
    return order
