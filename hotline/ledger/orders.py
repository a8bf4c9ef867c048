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
from hotline.core.orders import OPEN_STATUSES as OPEN_STATUSES  # importable from here
from hotline.core.orders import OrderScope
from hotline.ledger import audit
from hotline.ledger.errors import (
    CallNotAbandoned,
    CallUnknown,
    OrderBadCallback,
    OrderBadExtension,
    OrderBadKind,
    OrderCallerNotTold,
    OrderClosed,
    OrderDone,
    OrderDuplicate,
    OrderEmptyContent,
    OrderEmptyDepartment,
    OrderNoDepartment,
    OrderNoReason,
    OrderNoResult,
    OrderNotAQuestion,
    OrderNothingToEdit,
    OrderNotPassedOn,
    OrderUnknown,
)
from hotline.ledger.errors import OrderError as OrderError  # importable from here
from hotline.ledger.store import Ledger, iso

DAYS = {"ordinary": 1, "difficult": 3}
KIND_LABELS = ORDER_KINDS  # (the name the CLI imports)
STATUS_LABELS = {"open": "待办", "passed_on": "已转办", "returned": "已退回中心",
                 "answered": "已答复", "closed": "已办结"}
MAX_EXTENSION_DAYS = 5  # more time asked for at once, in working days
# What each event of an order's history is, for the pages.
EVENT_LABELS = {"create": "登记", "edit": "修改", "pass_on": "转办", "answer": "答复",
                "close": "办结", "delay": "告知延期", "difficult": "改为疑难",
                "ordinary": "改为一般", "extend": "延期", "return": "退回中心",
                "remind": "催办", "callback": "安排回拨"}
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
                     force: bool = False, bureau: str | None = None) -> int:
        """A work order a seat opens for a call in the ledger (a question it could not
        answer on the spot, or a tip-off, complaint or suggestion to pass on). Due like
        the automatic ones: counted in working days from the end of the call (from `at`
        while the call goes on), 1 working day, or 3 for a difficult question. The
        callback number defaults to the caller's. Refused while the call has an order of
        the same kind that is not closed, unless `force` (a second question in one call).
        `actor` is the order's opener (a seat's own orders); `bureau` the group it belongs
        to. Audited as order.create by `actor`."""
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
                department=dept, difficulty=difficulty, created_at=received, due_at=due,
                opened_by=actor, bureau=bureau)
            assert order_id is not None
            detail = {"call": linkedid, "kind": kind, "difficulty": difficulty,
                      "callback_number": _audited(number, "callback_number",
                                                  is_confidential(category)),
                      "department": dept, "content": text, "forced": bool(pending)}
            await audit.record(db, at=at, actor=actor, action="order.create",
                               target=f"work_order:{order_id}",
                               detail=json.dumps(detail, ensure_ascii=False))
            await _event(db, order_id, at, actor, "create")
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
                await _event(db, order_id, at, actor, "edit", None, ", ".join(changed))
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
                     text: str | None = None, bureau: str | None = None) -> dict[str, Any]:
        """pass_on (text: department; or `bureau`, a city bureau, with or without a
        department), answer (text: result), close (text: note),
        delay (the caller was told the deadline cannot be met; text: note),
        difficult / ordinary (recounts the deadline from the order's creation; only a
        question may be difficult). Refused on a closed order. The order is read, checked,
        updated and audited in one transaction, so a concurrent change cannot slip in
        between the check and the update."""
        if action not in ("pass_on", "answer", "close", "delay", *DAYS):
            raise OrderError(f"unknown change {action!r}")
        if action == "pass_on" and not text and not bureau:
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
                if bureau is not None:
                    updates["bureau"] = bureau
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
                               target=f"work_order:{order_id}", detail=text if bureau is None
                               else json.dumps({"department": text, "bureau": bureau},
                                               ensure_ascii=False))
            await _event(db, order_id, at, actor, action, text,
                         None if bureau is None else f"bureau={bureau}")
        return await self.get(order_id)

    # -- the web's work: liaisons, leaders, the seat's entry --------------------------------

    async def extend(self, order_id: int, *, days: int, reason: str, caller_told: bool,
                     actor: str, at: datetime) -> dict[str, Any]:
        """More time (延期): the deadline moves `days` working days (1 to 5) later. Only
        once the caller was told of the delay by phone (the rules: 'the caller is told in
        advance'): `caller_told` must be true, and is recorded (delay_notified_at) with
        the reason. Audited as order.extend with the old and new deadlines."""
        if not caller_told:
            raise OrderCallerNotTold("the caller must be told of the delay first (by phone)"
                                     ": caller_told must be true", order_id=order_id)
        if not 1 <= days <= MAX_EXTENSION_DAYS:
            raise OrderBadExtension(f"days must be 1 to {MAX_EXTENSION_DAYS} working days, "
                                    f"not {days}")
        note = _reason(reason)
        async with self.ledger.transaction() as db:
            order = _open_order(await _fetch(db, order_id))
            old = order["due_at"]
            due = iso(self.calendar.add_working_days(datetime.fromisoformat(old), days))
            await db.execute("UPDATE work_orders SET due_at = ?, delay_notified_at = ? "
                             "WHERE id = ?", (due, iso(at), order_id))
            detail = json.dumps({"old_due": old, "new_due": due, "days": days,
                                 "caller_told": True, "reason": note}, ensure_ascii=False)
            await audit.record(db, at=at, actor=actor, action="order.extend",
                               target=f"work_order:{order_id}", detail=detail)
            await _event(db, order_id, at, actor, "extend", note, detail)
        return await self.get(order_id)

    async def send_back(self, order_id: int, *, reason: str, actor: str,
                        at: datetime) -> dict[str, Any]:
        """Send an order passed on to a department or bureau back to the centre (退回: not
        theirs to answer, or it needs more from the caller): it is the centre's again
        (returned), to be passed on anew. Audited as order.return with the reason."""
        note = _reason(reason)
        async with self.ledger.transaction() as db:
            order = await _fetch(db, order_id)
            if order["status"] != "passed_on":
                raise OrderNotPassedOn(
                    f"work order {order_id} is {STATUS_LABELS.get(order['status'])}, not "
                    "passed on: only an order passed on can be sent back", order_id=order_id)
            await db.execute("UPDATE work_orders SET status = 'returned', returned_at = ? "
                             "WHERE id = ?", (iso(at), order_id))
            await audit.record(db, at=at, actor=actor, action="order.return",
                               target=f"work_order:{order_id}", detail=note)
            await _event(db, order_id, at, actor, "return", note)
        return await self.get(order_id)

    async def remind(self, order_id: int, *, note: str | None, actor: str,
                     at: datetime) -> dict[str, Any]:
        """A reminder (催办) by a leader of an order not yet answered: recorded on the order
        (its history, shown to whoever must answer it) and audited as order.remind."""
        text = note.strip() if note and note.strip() else None
        async with self.ledger.transaction() as db:
            _open_order(await _fetch(db, order_id))
            await audit.record(db, at=at, actor=actor, action="order.remind",
                               target=f"work_order:{order_id}", detail=text)
            await _event(db, order_id, at, actor, "remind", text)
        return await self.get(order_id)

    async def callback(self, linkedid: str, *, actor: str, at: datetime) -> int:
        """A call back (回拨) order for a call whose caller hung up waiting (abandoned),
        from the call's ledger row: its number, name and category (a reporter stays
        confidential), due like an ordinary question (1 working day from `at`). One per
        call (order-duplicate names the one there is). Audited as order.create."""
        call = await self.ledger.get(linkedid)
        if call is None:
            raise CallUnknown(f"no call {linkedid!r} in the ledger", linkedid=linkedid)
        if call.outcome != "abandoned":
            raise CallNotAbandoned(f"call {linkedid} was not abandoned (its outcome is "
                                   f"{call.outcome or 'not known yet'})", linkedid=linkedid)
        number = None
        if call.caller_number:
            try:
                number = callback_number(call.caller_number)
            except OrderError:
                number = None  # anonymous: the seat calls back nobody, but sees why
        due = self.calendar.add_working_days(at, DAYS["ordinary"])
        content = f"来电排队时放弃（{call.queue or '-'}），请回拨（{linkedid}）"
        async with self.ledger.transaction() as db:
            order_id = await insert_order(
                db, kind="callback", source=f"callback:{linkedid}", linkedid=linkedid,
                callback_number=number, caller_name=call.caller_name,
                category=call.category, content=content, created_at=at, due_at=due,
                opened_by=actor, bureau=call.seat_group, or_ignore=True)
            if order_id is None:
                async with db.execute("SELECT id FROM work_orders WHERE source = ?",
                                      (f"callback:{linkedid}",)) as cur:
                    row = await cur.fetchone()
                existing = int(row[0]) if row else 0
                raise OrderDuplicate(f"call {linkedid} has a call back order already: "
                                     f"work order {existing}", order_id=existing)
            detail = {"call": linkedid, "kind": "callback",
                      "callback_number": _audited(number, "callback_number",
                                                  is_confidential(call.category))}
            await audit.record(db, at=at, actor=actor, action="order.create",
                               target=f"work_order:{order_id}",
                               detail=json.dumps(detail, ensure_ascii=False))
            await _event(db, order_id, at, actor, "callback")
        return order_id

    async def for_entry(self, linkedid: str, *, category: str, question: str,
                        difficulty: str | None, department: str, callback: str | None,
                        order_id: int | None, actor: str, at: datetime,
                        bureau: str | None = None) -> int:
        """The work order a saved 台帐 entry asks for (转工单), passed on to `department`:
        the entry's order of an earlier save, else the call's order of that kind not
        closed (the automatic one of a tip-off), completed with the entry's question,
        callback number and department, else a new one (create). A question is ordinary
        or difficult (1 or 3 working days); a tip-off, complaint or suggestion is passed
        on within 1 working day whatever the entry says. The order's id."""
        kind = category if category in CREATE_KINDS else "consultation"
        wanted = "difficult" if difficulty == "difficult" and kind == "consultation" \
            else "ordinary"
        target = None
        async with self.ledger.db.execute(
                "SELECT id FROM work_orders WHERE status != 'closed' AND (id = ? OR "
                "(linkedid = ? AND kind = ?)) ORDER BY id = ? DESC, id LIMIT 1",
                (order_id or 0, linkedid, kind, order_id or 0)) as cur:
            row = await cur.fetchone()
        if row is not None:
            target = int(row[0])
            order, _ = await self.edit(target, actor=actor, at=at, content=question,
                                       callback=callback)
            if order["difficulty"] != wanted and _is_question(order):
                await self.change(target, wanted, actor=actor, at=at)
            if order["opened_by"] is None:
                async with self.ledger.transaction() as db:
                    await db.execute("UPDATE work_orders SET opened_by = ?, "
                                     "bureau = COALESCE(bureau, ?) WHERE id = ?",
                                     (actor, bureau, target))
        else:
            target = await self.create(linkedid=linkedid, kind=kind, actor=actor, at=at,
                                       content=question, callback=callback,
                                       difficult=wanted == "difficult", bureau=bureau)
        current = await self.get(target)
        if current["status"] != "passed_on" or current["department"] != department:
            await self.change(target, "pass_on", actor=actor, at=at, text=department)
        return target

    async def scoped(self, order_id: int) -> dict[str, Any]:
        """One order with `order_bureau` (its own bureau, else its call's seat group),
        what a scope is decided on."""
        async with self.ledger.db.execute(
                f"SELECT {_SCOPED} FROM work_orders o LEFT JOIN calls c ON c.linkedid = "
                "o.linkedid WHERE o.id = ?", (order_id,)) as cur:
            row = await cur.fetchone()
            if row is None:
                raise OrderUnknown(f"no work order {order_id}")
            names = [d[0] for d in cur.description]
        return dict(zip(names, row, strict=True))

    async def search(self, scope: OrderScope, *, now: datetime, status: str | None = None,
                     kind: str | None = None, department: str | None = None,
                     bureau: str | None = None, overdue: bool = False,
                     due_by: datetime | None = None, text: str | None = None,
                     mine: tuple[str, bool] | None = None, limit: int = 50,
                     offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Orders in `scope` by deadline, a page of them and how many there are in all.
        overdue: not done and past the deadline at `now`; due_by: not done, not overdue,
        due by then (nearly due); text: in the content, or the order's id or call;
        mine: (user, expert): the orders the user opened (an expert's: also every
        difficult question not yet done)."""
        where: list[str] = []
        params: list[Any] = []
        marks = ", ".join("?" for _ in OPEN_STATUSES)
        if scope.nothing:
            where.append("0")
        if scope.bureau is not None:
            where.append("COALESCE(o.bureau, c.seat_group) = ?")
            params.append(scope.bureau)
        if scope.liaison:
            where.append("o.passed_on_at IS NOT NULL")
        if scope.department is not None:
            where.append("o.department = ?")
            params.append(scope.department)
        if scope.passed_to_bureau is not None:
            where.append("o.bureau = ?")
            params.append(scope.passed_to_bureau)
        for column, value in (("o.status", status), ("o.kind", kind),
                              ("o.department", department)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if bureau is not None:
            where.append("COALESCE(o.bureau, c.seat_group) = ?")
            params.append(bureau)
        if overdue or due_by is not None:
            where.append(f"o.status IN ({marks})")
            params.extend(OPEN_STATUSES)
        if overdue:
            where.append("o.due_at < ?")
            params.append(iso(now))
        if due_by is not None:
            where.append("o.due_at >= ? AND o.due_at <= ?")
            params.extend([iso(now), iso(due_by)])
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("(o.content LIKE ? ESCAPE '\\' OR o.linkedid = ? OR "
                         "CAST(o.id AS TEXT) = ?)")
            params.extend([f"%{escaped}%", text, text])
        if mine is not None:
            user, expert = mine
            where.append("(o.opened_by = ?" + (f" OR (o.difficulty = 'difficult' AND "
                                               f"o.status IN ({marks}))" if expert else "")
                         + ")")
            params.append(user)
            if expert:
                params.extend(OPEN_STATUSES)
        sql = (" FROM work_orders o LEFT JOIN calls c ON c.linkedid = o.linkedid"
               + (" WHERE " + " AND ".join(where) if where else ""))
        async with self.ledger.db.execute("SELECT COUNT(*)" + sql, params) as cur:
            total_row = await cur.fetchone()
        async with self.ledger.db.execute(
                f"SELECT {_SCOPED}" + sql + " ORDER BY o.due_at, o.id LIMIT ? OFFSET ?",
                (*params, limit, offset)) as cur:
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]
        return rows, int(total_row[0]) if total_row else 0

    async def history(self, order_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """Each order's events (oldest first), with the name of who did each."""
        out: dict[int, list[dict[str, Any]]] = {i: [] for i in order_ids}
        if not order_ids:
            return out
        async with self.ledger.db.execute(
                "SELECT e.order_id, e.at, e.actor, COALESCE(u.display_name, e.actor), "
                "e.action, e.note FROM work_order_events e LEFT JOIN users u ON "
                "u.username = e.actor WHERE e.order_id IN "
                f"({', '.join('?' for _ in order_ids)}) ORDER BY e.at, e.id",
                order_ids) as cur:
            for order_id, at, actor, name, action, note in await cur.fetchall():
                out[order_id].append({"at": at, "by": actor, "by_name": name,
                                      "action": action,
                                      "label": EVENT_LABELS.get(action, action),
                                      "note": note})
        return out

    async def abandoned(self, start: datetime, end: datetime,
                        limit: int = 200) -> list[dict[str, Any]]:
        """Calls whose caller hung up waiting (abandoned), started in [start, end), newest
        first, each with its call back order if one was opened (callback_order)."""
        async with self.ledger.db.execute(
                "SELECT c.linkedid, c.caller_number, c.caller_name, c.started_at, "
                "c.ended_at, c.queue, c.category, c.topic, c.wait_seconds, c.region, "
                "c.seat_group, o.id AS callback_order, o.status AS callback_status "
                "FROM calls c LEFT JOIN work_orders o ON o.source = 'callback:' || "
                "c.linkedid WHERE c.outcome = 'abandoned' AND c.started_at >= ? AND "
                "c.started_at < ? ORDER BY c.started_at DESC LIMIT ?",
                (iso(start), iso(end), limit)) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]



def default_content(kind: str, linkedid: str) -> str:
    """What an order made for a call says until the seat fills it in."""
    return f"{KIND_LABELS.get(kind, kind)}来电（{linkedid}），请补充受理内容"


async def insert_order(db: aiosqlite.Connection, *, kind: str, source: str, content: str,
                       created_at: datetime, due_at: datetime, linkedid: str | None = None,
                       callback_number: str | None = None, caller_name: str | None = None,
                       category: str | None = None, department: str | None = None,
                       difficulty: str = "ordinary", or_ignore: bool = False,
                       opened_by: str | None = None, bureau: str | None = None,
                       ) -> int | None:
    """Every new work order goes in here (open), inside the caller's transaction. `source`
    is unique (call:LINKEDID, voicemail:ID, seat:..., a fallback recording's path): with
    `or_ignore` a second order from the same source is not made and None is returned."""
    cur = await db.execute(
        f"INSERT {'OR IGNORE ' if or_ignore else ''}INTO work_orders (kind, source, linkedid,"
        " callback_number, caller_name, category, content, department, difficulty, "
        "created_at, due_at, status, opened_by, bureau) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, 'open', ?, ?)",
        (kind, source, linkedid, callback_number, caller_name, category, content, department,
         difficulty, iso(created_at), iso(due_at), opened_by, bureau))
    return cur.lastrowid if cur.rowcount else None


def _is_question(order: dict[str, Any]) -> bool:
    """Whether an order is a question (the only kind that may become difficult): a
    consultation, or a voicemail not sorted as a tip-off, complaint, suggestion or other."""
    if order["kind"] == "consultation":
        return True
    return order["kind"] == "voicemail" and order.get("category") in (None, "consultation")


# An order's columns and the bureau it belongs to (its own, else its call's seat group).
_SCOPED = "o.*, COALESCE(o.bureau, c.seat_group) AS order_bureau"


def _reason(text: str | None) -> str:
    reason = (text or "").strip()
    if not reason:
        raise OrderNoReason("say why (reason)")
    return reason


def _open_order(order: dict[str, Any]) -> dict[str, Any]:
    """`order` if it is still to be done, else order-done."""
    if order["status"] not in OPEN_STATUSES:
        raise OrderDone(f"work order {order['id']} is {STATUS_LABELS.get(order['status'])}"
                        ": nothing is left to do on it", order_id=order["id"])
    return order


async def _event(db: aiosqlite.Connection, order_id: int, at: datetime, actor: str,
                 action: str, note: str | None = None, detail: str | None = None) -> None:
    """One step of an order's history (the pages show it with who and when; the audit
    trail has it too)."""
    await db.execute("INSERT INTO work_order_events (order_id, at, actor, action, note, "
                     "detail) VALUES (?, ?, ?, ?, ?, ?)",
                     (order_id, iso(at), actor, action, note, detail))


async def _fetch(db: aiosqlite.Connection, order_id: int) -> dict[str, Any]:
    async with db.execute("SELECT * FROM work_orders WHERE id = ?", (order_id,)) as cur:
        row = await cur.fetchone()
        if row is None:
            raise OrderUnknown(f"no work order {order_id}")
        names = [d[0] for d in cur.description]
    return dict(zip(names, row, strict=True))
