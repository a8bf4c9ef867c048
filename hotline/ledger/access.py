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

from hotline.common.privacy import mask_row
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
                    audit: Audit, at: datetime) -> dict[str, Any]:
    """One call as `reader` may see it, audited as call.view or call.unmask (a refused
    unmask as call.unmask_refused, before the call is even looked up)."""
    target = f"call:{linkedid}"
    if unmask:
        await check_unmask(reader, target, "call.unmask_refused", audit, at)
    row = await ledger.get(linkedid)
    if row is None:
        raise CallUnknown(f"no call {linkedid!r} in the ledger")
    await audit(reader.actor, "call.unmask" if unmask else "call.view", target, None, at)
    return row.as_dict() if unmask else masked_call(row.as_dict())


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
