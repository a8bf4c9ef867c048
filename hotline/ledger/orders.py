"""Work orders (登记表): what must be answered or passed on, by when, and what was done.

Deadlines are counted in working days (the calendar): an ordinary question 1 working day,
a difficult one 3; tip-offs, complaints and suggestions are passed on within 1 working
day. Every view and change is written to the append-only audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.common.errors import HotlineError
from hotline.ivr.calendar import Calendar
from hotline.ledger.privacy import is_confidential, mask_name, mask_number
from hotline.ledger.store import Ledger, iso

DAYS = {"ordinary": 1, "difficult": 3}
KIND_LABELS = {"voicemail": "留言", "consultation": "税务咨询", "tip_off": "涉税举报",
               "complaint": "涉税投诉", "suggestion": "意见和建议", "other": "其他"}
STATUS_LABELS = {"open": "待办", "passed_on": "已转办", "answered": "已答复", "closed": "已办结"}
OPEN_STATUSES = ("open", "passed_on")


class OrderError(HotlineError):
    code = "order-invalid"


@dataclass(frozen=True)
class Viewer:
    """Who is looking, and whether they may see reporters' numbers (the configured role)."""

    actor: str
    may_unmask: bool = False


class OrderBook:
    def __init__(self, ledger: Ledger, calendar: Calendar) -> None:
        self.ledger = ledger
        self.calendar = calendar

    async def audit(self, actor: str, action: str, target: str, detail: str | None = None,
                    at: datetime | None = None) -> None:
        async with self.ledger.transaction() as db:
            await db.execute("INSERT INTO audit (at, actor, action, target, detail) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (iso(at or datetime.now().astimezone()), actor, action, target,
                              detail))

    async def from_call(self, *, linkedid: str, kind: str, number: str | None,
                        name: str | None, at: datetime, content: str) -> int | None:
        """A work order for a call (a tip-off, complaint or suggestion): due to be passed
        on within 1 working day. None if the call has one already."""
        due = self.calendar.add_working_days(at, 1)
        async with self.ledger.transaction() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO work_orders (kind, source, linkedid, callback_number, "
                "caller_name, category, content, created_at, due_at, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')",
                (kind, f"call:{linkedid}", linkedid, number, name, kind, content, iso(at),
                 iso(due)))
            return cur.lastrowid if cur.rowcount else None

    async def get(self, order_id: int) -> dict[str, Any]:
        async with self.ledger.db.execute("SELECT * FROM work_orders WHERE id = ?",
                                          (order_id,)) as cur:
            row = await cur.fetchone()
            if row is None:
                raise OrderError(f"no work order {order_id}", code="order-unknown")
            names = [d[0] for d in cur.description]
        return dict(zip(names, row, strict=True))

    async def listing(self, *, status: str | None, overdue_at: datetime | None,
                      limit: int) -> list[dict[str, Any]]:
        where: list[str] = []
        params: list[str | None] = []
        if status:
            where.append("status = ?")
            params.append(status)
        if overdue_at is not None:
            where.append(f"status IN ({', '.join('?' for _ in OPEN_STATUSES)}) AND due_at < ?")
            params.extend([*OPEN_STATUSES, iso(overdue_at)])
        sql = "SELECT * FROM work_orders" + (" WHERE " + " AND ".join(where) if where else "")
        async with self.ledger.db.execute(sql + " ORDER BY due_at, id LIMIT ?",
                                          (*params, limit)) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]

    def view(self, order: dict[str, Any], viewer: Viewer, unmask: bool,
             now: datetime) -> dict[str, Any]:
        """What `viewer` sees: reporters masked unless unmasked by someone allowed; with
        whether it is overdue."""
        shown = dict(order)
        shown["overdue"] = (order["status"] in OPEN_STATUSES
                            and datetime.fromisoformat(order["due_at"]) < now)
        confidential = (is_confidential(order.get("kind"))
                        or is_confidential(order.get("category")))
        if confidential and not (unmask and viewer.may_unmask):
            shown["callback_number"] = mask_number(order.get("callback_number"))
            shown["caller_name"] = mask_name(order.get("caller_name"))
            shown["masked"] = True
        return shown

    async def change(self, order_id: int, action: str, *, actor: str, at: datetime,
                     text: str | None = None) -> dict[str, Any]:
        """pass_on (text: department), answer (text: result), close (text: note),
        delay (the caller was told the deadline cannot be met; text: note),
        difficult / ordinary (recounts the deadline from the order's creation)."""
        order = await self.get(order_id)
        status = order["status"]
        stamp = iso(at)
        if status == "closed" and action != "delay":
            raise OrderError(f"work order {order_id} is closed", code="order-closed")
        updates: dict[str, Any]
        if action == "pass_on":
            if not text:
                raise OrderError("--department is needed", code="order-no-department")
            updates = {"status": "passed_on", "department": text, "passed_on_at": stamp}
        elif action == "answer":
            if not text:
                raise OrderError("--result must say how it was answered",
                                 code="order-no-result")
            updates = {"status": "answered", "answered_at": stamp, "result": text}
        elif action == "close":
            updates = {"status": "closed", "closed_at": stamp, "note": text or order["note"]}
        elif action == "delay":
            updates = {"delay_notified_at": stamp, "note": text or order["note"]}
        elif action in DAYS:
            created = datetime.fromisoformat(order["created_at"])
            due = self.calendar.add_working_days(created, DAYS[action])
            updates = {"difficulty": action, "due_at": iso(due)}
        else:
            raise OrderError(f"unknown change {action!r}")
        async with self.ledger.transaction() as db:
            await db.execute(
                "UPDATE work_orders SET " + ", ".join(f"{k} = ?" for k in updates)
                + " WHERE id = ?", (*updates.values(), order_id))
            await db.execute("INSERT INTO audit (at, actor, action, target, detail) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (stamp, actor, f"order.{action}", f"work_order:{order_id}", text))
        return await self.get(order_id)
