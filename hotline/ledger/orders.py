"""Work orders (登记表): what must be answered or passed on, by when, and what was done.

Deadlines are counted in working days (the calendar): an ordinary question 1 working day,
a difficult one 3; tip-offs, complaints and suggestions are passed on within 1 working
day. Every view and change is written to the append-only audit trail.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from hotline.common.labels import ORDER_KINDS
from hotline.common.phone import is_phone_number
from hotline.common.privacy import is_confidential, is_confidential_row, mask_number, mask_row
from hotline.core.calendar.schedule import Calendar
from hotline.ledger import audit
from hotline.ledger.errors import (
    CallUnknown,
    OrderBadCallback,
    OrderBadKind,
    OrderClosed,
    OrderDuplicate,
    OrderEmptyContent,
    OrderEmptyDepartment,
    OrderNoDepartment,
    OrderNoResult,
    OrderNotAQuestion,
    OrderNothingToEdit,
    OrderUnknown,
)
from hotline.ledger.errors import OrderError as OrderError  # importable from here
from hotline.ledger.store import Ledger, iso

DAYS = {"ordinary": 1, "difficult": 3}
KIND_LABELS = ORDER_KINDS  # (the name the CLI imports)
STATUS_LABELS = {"open": "待办", "passed_on": "已转办", "answered": "已答复", "closed": "已办结"}
OPEN_STATUSES = ("open", "passed_on")
# The kinds a seat may create a work order of (the call categories that need one).
CREATE_KINDS = ("consultation", "tip_off", "complaint", "suggestion")
_SEPARATORS = re.compile(r"[\s\-()]")


# An empty option, by option: one error id each.
EMPTY: dict[str, type[OrderError]] = {"--content": OrderEmptyContent,
                                      "--department": OrderEmptyDepartment}


def callback_number(text: str) -> str:
    """A number to call back, normalised: digits with an optional leading +, 5 to 20
    digits. Spaces, hyphens and brackets (0551-6512 3456) are dropped and full-width
    digits (１３９...) read as ASCII."""
    number = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    if not is_phone_number(number, min_digits=5):
        raise OrderBadCallback(f"callback number {text!r} is not a phone number (5 to 20 digits, "
                               "an optional leading +)")
    return number


def _text(value: str, option: str) -> str:
    text = value.strip()
    if not text:
        raise EMPTY[option](f"{option} must not be empty")
    return text


def _audited(value: Any, field: str, confidential: bool) -> Any:
    """A value as the audit trail keeps it: a reporter's number stays masked there too."""
    return mask_number(value) if field == "callback_number" and confidential else value


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
            await audit.record(db, at=at or datetime.now().astimezone(), actor=actor,
                               action=action, target=target, detail=detail)

    async def from_call(self, *, linkedid: str, kind: str, number: str | None,
                        name: str | None, at: datetime,
                        content: str | None = None) -> int | None:
        """A work order for a call (a tip-off, complaint or suggestion): due to be passed
        on within 1 working day. None if the call has one already (this one, or one of
        the same kind a seat opened with `create`)."""
        due = self.calendar.add_working_days(at, 1)
        async with self.ledger.transaction() as db:
            async with db.execute("SELECT 1 FROM work_orders WHERE linkedid = ? AND kind = ?",
                                  (linkedid, kind)) as found:
                if await found.fetchone() is not None:
                    return None
            return await insert_order(
                db, kind=kind, source=f"call:{linkedid}", linkedid=linkedid,
                callback_number=number, caller_name=name, category=kind,
                content=content or default_content(kind, linkedid), created_at=at,
                due_at=due, or_ignore=True)

    async def create(self, *, linkedid: str, kind: str, actor: str, at: datetime,
                     content: str | None = None, callback: str | None = None,
                     department: str | None = None, difficult: bool = False,
                     force: bool = False) -> int:
        """A work order a seat opens for a call in the ledger (a question it could not
        answer on the spot, or a tip-off, complaint or suggestion to pass on). Due like
        the automatic ones: counted in working days from the end of the call (from `at`
        while the call goes on), 1 working day, or 3 for a difficult question. The
        callback number defaults to the caller's. Refused while the call has an order of
        the same kind that is not closed, unless `force` (a second question in one call).
        Audited as order.create by `actor`."""
        if kind not in CREATE_KINDS:
            raise OrderBadKind(f"unknown kind {kind!r}: one of " + ", ".join(
                f"{k} ({KIND_LABELS[k]})" for k in CREATE_KINDS))
        if difficult and kind != "consultation":
            raise OrderNotAQuestion(f"--difficult is for questions (consultation): a {kind} is "
                                    "passed on within 1 working day")
        text = None if content is None else _text(content, "--content")
        dept = None if department is None else _text(department, "--department")
        number = None if callback is None else callback_number(callback)
        call = await self.ledger.get(linkedid)
        if call is None:
            raise CallUnknown(f"no call {linkedid!r} in the ledger", linkedid=linkedid)
        if number is None and call.caller_number:
            try:
                number = callback_number(call.caller_number)
            except OrderError:
                number = None  # anonymous or garbled: the seat fills it in with edit
        # A reporter stays confidential in every order of a tip-off or complaint call.
        category = call.category if is_confidential(call.category) else kind
        received = datetime.fromisoformat(call.ended_at) if call.ended_at else at
        difficulty = "difficult" if difficult else "ordinary"
        due = self.calendar.add_working_days(received, DAYS[difficulty])
        async with self.ledger.transaction() as db:
            async with db.execute("SELECT id, status FROM work_orders WHERE linkedid = ? "
                                  "AND kind = ? ORDER BY id", (linkedid, kind)) as cur:
                existing = list(await cur.fetchall())
            pending = [(oid, status) for oid, status in existing if status != "closed"]
            if pending and not force:
                oid, status = pending[0]
                raise OrderDuplicate(
                    f"call {linkedid} has work order {oid} ({KIND_LABELS[kind]}, "
                    f"{STATUS_LABELS.get(status, status)}) already: fill it in with "
                    f"`hotline orders edit {oid}`, or add --force for a second one",
                    order_id=oid)
            order_id = await insert_order(
                db, kind=kind, source=f"seat:{linkedid}:{kind}:{len(existing) + 1}",
                linkedid=linkedid, callback_number=number, caller_name=call.caller_name,
                category=category, content=text or default_content(kind, linkedid),
                department=dept, difficulty=difficulty, created_at=received, due_at=due)
            assert order_id is not None
            detail = {"call": linkedid, "kind": kind, "difficulty": difficulty,
                      "callback_number": _audited(number, "callback_number",
                                                  is_confidential(category)),
                      "department": dept, "content": text, "forced": bool(pending)}
            await audit.record(db, at=at, actor=actor, action="order.create",
                               target=f"work_order:{order_id}",
                               detail=json.dumps(detail, ensure_ascii=False))
        return order_id

    async def edit(self, order_id: int, *, actor: str, at: datetime,
                   content: str | None = None, callback: str | None = None,
                   department: str | None = None) -> tuple[dict[str, Any], list[str]]:
        """Fill in or correct the content, callback number or department of an order
        that is not closed. Returns the order and the fields that changed; a change is
        audited as order.edit with the old and new values (a reporter's number masked)."""
        wanted: dict[str, str] = {}
        if content is not None:
            wanted["content"] = _text(content, "--content")
        if callback is not None:
            wanted["callback_number"] = callback_number(callback)
        if department is not None:
            wanted["department"] = _text(department, "--department")
        if not wanted:
            raise OrderNothingToEdit("nothing to change: give --content, --callback or "
                                     "--department")
        async with self.ledger.transaction() as db:
            order = await _fetch(db, order_id)
            if order["status"] == "closed":
                raise OrderClosed(f"work order {order_id} is closed: it can no longer be "
                                  "edited")
            changed = {k: v for k, v in wanted.items() if order[k] != v}
            if changed:
                confidential = is_confidential_row(order)
                await db.execute(
                    "UPDATE work_orders SET " + ", ".join(f"{k} = ?" for k in changed)
                    + " WHERE id = ?", (*changed.values(), order_id))
                detail = {k: {"old": _audited(order[k], k, confidential),
                              "new": _audited(v, k, confidential)}
                          for k, v in changed.items()}
                await audit.record(db, at=at, actor=actor, action="order.edit",
                                   target=f"work_order:{order_id}",
                                   detail=json.dumps(detail, ensure_ascii=False))
        return await self.get(order_id), list(changed)

    async def get(self, order_id: int) -> dict[str, Any]:
        return await _fetch(self.ledger.db, order_id)

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

    async def counts(self, now: datetime, day_end: datetime) -> dict[str, int]:
        """Work orders not yet done (open or passed on): all of them, those overdue at
        `now`, and those due later today (before `day_end`)."""
        async with self.ledger.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(due_at < ?), 0), "
                "COALESCE(SUM(due_at >= ? AND due_at < ?), 0) FROM work_orders "
                f"WHERE status IN ({', '.join('?' for _ in OPEN_STATUSES)})",
                (iso(now), iso(now), iso(day_end), *OPEN_STATUSES)) as cur:
            row = await cur.fetchone()
        assert row is not None
        return {"open": int(row[0]), "overdue": int(row[1]), "due_today": int(row[2])}

    def view(self, order: dict[str, Any], viewer: Viewer, unmask: bool,
             now: datetime) -> dict[str, Any]:
        """What `viewer` sees: reporters masked unless unmasked by someone allowed; with
        whether it is overdue."""
        shown = dict(order)
        shown["overdue"] = (order["status"] in OPEN_STATUSES
                            and datetime.fromisoformat(order["due_at"]) < now)
        if unmask and viewer.may_unmask:
            return shown
        return mask_row(shown, number="callback_number")

    async def change(self, order_id: int, action: str, *, actor: str, at: datetime,
                     text: str | None = None) -> dict[str, Any]:
        """pass_on (text: department), answer (text: result), close (text: note),
        delay (the caller was told the deadline cannot be met; text: note),
        difficult / ordinary (recounts the deadline from the order's creation; only a
        question may be difficult). Refused on a closed order. The order is read, checked,
        updated and audited in one transaction, so a concurrent change cannot slip in
        between the check and the update."""
        if action not in ("pass_on", "answer", "close", "delay", *DAYS):
            raise OrderError(f"unknown change {action!r}")
        if action == "pass_on" and not text:
            raise OrderNoDepartment("--department is needed")
        if action == "answer" and not text:
            raise OrderNoResult("--result must say how it was answered")
        stamp = iso(at)
        async with self.ledger.transaction() as db:
            order = await _fetch(db, order_id)
            if order["status"] == "closed":
                raise OrderClosed(f"work order {order_id} is closed: it can no longer be "
                                  "changed", order_id=order_id)
            updates: dict[str, Any]
            if action == "pass_on":
                updates = {"status": "passed_on", "department": text, "passed_on_at": stamp}
            elif action == "answer":
                updates = {"status": "answered", "answered_at": stamp, "result": text}
            elif action == "close":
                updates = {"status": "closed", "closed_at": stamp,
                           "note": text or order["note"]}
            elif action == "delay":
                updates = {"delay_notified_at": stamp, "note": text or order["note"]}
            else:
                if action == "difficult" and not _is_question(order):
                    kind = order["kind"]
                    what = KIND_LABELS.get(kind, kind)
                    if kind == "voicemail" and order.get("category"):
                        category = order["category"]
                        what += f", {category} {KIND_LABELS.get(category, category)}"
                    raise OrderNotAQuestion(
                        f"work order {order_id} is a {kind} ({what}), not a question: only a "
                        "question (consultation, or a voicemail that is one) can be difficult"
                        " (3 working days); it is passed on within 1 working day",
                        order_id=order_id, kind=kind)
                created = datetime.fromisoformat(order["created_at"])
                due = self.calendar.add_working_days(created, DAYS[action])
                updates = {"difficulty": action, "due_at": iso(due)}
            await db.execute(
                "UPDATE work_orders SET " + ", ".join(f"{k} = ?" for k in updates)
                + " WHERE id = ?", (*updates.values(), order_id))
            await audit.record(db, at=at, actor=actor, action=f"order.{action}",
                               target=f"work_order:{order_id}", detail=text)
        return await self.get(order_id)


def default_content(kind: str, linkedid: str) -> str:
    """What an order made for a call says until the seat fills it in."""
    return f"{KIND_LABELS.get(kind, kind)}来电（{linkedid}），请补充受理内容"


async def insert_order(db: aiosqlite.Connection, *, kind: str, source: str, content: str,
                       created_at: datetime, due_at: datetime, linkedid: str | None = None,
                       callback_number: str | None = None, caller_name: str | None = None,
                       category: str | None = None, department: str | None = None,
                       difficulty: str = "ordinary", or_ignore: bool = False) -> int | None:
    """Every new work order goes in here (open), inside the caller's transaction. `source`
    is unique (call:LINKEDID, voicemail:ID, seat:..., a fallback recording's path): with
    `or_ignore` a second order from the same source is not made and None is returned."""
    cur = await db.execute(
        f"INSERT {'OR IGNORE ' if or_ignore else ''}INTO work_orders (kind, source, linkedid,"
        " callback_number, caller_name, category, content, department, difficulty, "
        "created_at, due_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')",
        (kind, source, linkedid, callback_number, caller_name, category, content, department,
         difficulty, iso(created_at), iso(due_at)))
    return cur.lastrowid if cur.rowcount else None


def _is_question(order: dict[str, Any]) -> bool:
    """Whether an order is a question (the only kind that may become difficult): a
    consultation, or a voicemail not sorted as a tip-off, complaint, suggestion or other."""
    if order["kind"] == "consultation":
        return True
    return order["kind"] == "voicemail" and order.get("category") in (None, "consultation")


async def _fetch(db: aiosqlite.Connection, order_id: int) -> dict[str, Any]:
    async with db.execute("SELECT * FROM work_orders WHERE id = ?", (order_id,)) as cur:
        row = await cur.fetchone()
        if row is None:
            raise OrderUnknown(f"no work order {order_id}")
        names = [d[0] for d in cur.description]
    return dict(zip(names, row, strict=True))
