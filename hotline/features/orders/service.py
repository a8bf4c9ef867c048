"""Work orders on the web (登记表): what the REST API, the liaison's page, the leader's
follow-up page and the seat's own orders are built on.

Every order is seen as the person may see it (hotline.core.orders: a liaison only the
orders passed on to their department or bureau, a city bureau's people only their
bureau's), reporters' numbers masked unless an auditor unmasks one with a reason
(audited), deadlines and time left counted on the calendar live now, in working time,
at the service's clock (pinned by service.calendar_time, as the deadlines were counted);
today's abandoned calls by the ledger's real times. Every change goes through the
ledger's order book (one transaction with its audit row and its history event) and
wakes the pages' streams (`changes`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from hotline.common.clock import CHINA, utc_now
from hotline.common.labels import CATEGORIES, TOPICS
from hotline.common.privacy import mask_row
from hotline.core.accounts import Person
from hotline.core.calendar.schedule import Calendar
from hotline.core.orders import (
    NEARLY_DUE,
    OPEN_STATUSES,
    after_working_time,
    is_liaison_only,
    order_scope,
    time_left_label,
    working_time,
)
from hotline.core.routing.config import RoutingConfig
from hotline.features.accounts.errors import ApiBadBody, StaffNotAllowed
from hotline.features.workbench.seat import Changes
from hotline.ledger.audit import record as audit_record
from hotline.ledger.entries import EntryBook
from hotline.ledger.errors import UnmaskRefused
from hotline.ledger.orders import (
    DAYS,
    EVENT_LABELS,
    KIND_LABELS,
    STATUS_LABELS,
    OrderBook,
)
from hotline.ledger.store import Ledger

log = structlog.get_logger("hotline.orders")

DIFFICULTY_LABELS = {"ordinary": "一般", "difficult": "疑难"}
# The changes of the API and who may make them (the route's permission is checked by the
# API; a liaison acts only on the orders passed on to them).
ANSWERING = ("answer", "delay", "extend", "return")  # orders.change: liaisons too
MANAGING = ("pass_on", "close", "difficult", "ordinary", "edit")  # orders.manage
# A listing is audited once per person and filters in this many seconds: an open page
# reads its list again on every change and every minute, and the audit trail should say
# who looked at what, not count a page's refreshes.
LIST_AUDIT_EVERY = 600.0
LIST_AUDIT_KEYS = 5000  # (person, filters) remembered at most


@dataclass
class OrderSources:
    """What the order pages read: the running service's parts."""

    ledger: Ledger
    calendar: Callable[[], Calendar]  # the live calendar (deadlines, working time)
    routing: Callable[[], RoutingConfig | None]
    # The time deadlines and overdue are decided at (the service's clock: pinned by
    # service.calendar_time, else the real time), and the real time (the ledger's calls).
    decided: Callable[[], datetime] = field(default=utc_now)
    clock: Callable[[], datetime] = field(default=utc_now)


class OrderDesk:
    def __init__(self, sources: OrderSources) -> None:
        self.sources = sources
        self.changes = Changes()
        self.version = 0  # one more on each change (the streams tell the pages)
        self.entries = EntryBook(sources.ledger)
        self._listed: OrderedDict[tuple[str, str, str | None], float] = OrderedDict()

    async def _audit_listing(self, actor: str, action: str, detail: str | None) -> None:
        """A listing's audit row, unless the same person listed the same just before."""
        key, tick = (actor, action, detail), time.monotonic()
        last = self._listed.get(key)
        if last is not None and tick - last < LIST_AUDIT_EVERY:
            return
        self._listed[key] = tick
        self._listed.move_to_end(key)
        while len(self._listed) > LIST_AUDIT_KEYS:
            self._listed.popitem(last=False)
        await self._audit(actor, action, "work_orders", detail)

    def changed(self) -> None:
        self.version += 1
        self.changes.notify()

    @property
    def book(self) -> OrderBook:
        return OrderBook(self.sources.ledger, self.sources.calendar())

    async def _audit(self, actor: str, action: str, target: str, detail: str | None) -> None:
        async with self.sources.ledger.transaction() as db:
            await audit_record(db, at=self.sources.clock(), actor=actor, action=action,
                               target=target, detail=detail)

    # -- what a person sees ----------------------------------------------------------------

    def _bureau_name(self, bureau: str | None) -> str | None:
        routing = self.sources.routing()
        if bureau is None or routing is None or bureau not in routing.groups:
            return bureau
        return routing.groups[bureau].name

    def view(self, order: Mapping[str, Any], now: datetime,
             history: list[dict[str, Any]] | None = None, *,
             unmask: bool = False) -> dict[str, Any]:
        """An order as the pages and the API show it: its reporter masked (unless
        unmasked), with its labels, whether it is overdue or nearly due, the working time
        left (negative: overdue by), and its history (reminders 催办 among it)."""
        shown = {k: v for k, v in order.items() if k != "source"}
        if not unmask:
            shown = mask_row(shown, number="callback_number")
        pending = order["status"] in OPEN_STATUSES
        due = datetime.fromisoformat(order["due_at"])
        overdue = pending and due < now
        left = working_time(self.sources.calendar(), now, due) if pending else None
        events = history or []
        reminders = [e for e in events if e["action"] == "remind"]
        shown.update({
            "kind_label": KIND_LABELS.get(order["kind"], order["kind"]),
            "category_label": CATEGORIES.get(order.get("category") or "", None),
            "status_label": STATUS_LABELS.get(order["status"], order["status"]),
            "difficulty_label": DIFFICULTY_LABELS.get(order["difficulty"],
                                                      order["difficulty"]),
            "bureau_name": self._bureau_name(order.get("order_bureau") or order.get("bureau")),
            "overdue": overdue,
            "nearly_due": pending and not overdue and left is not None and left <= NEARLY_DUE,
            "time_left_seconds": int(left.total_seconds()) if left is not None else None,
            "time_left_label": time_left_label(left, overdue) if left is not None else None,
            "history": events,
            "reminders": reminders,
        })
        shown.setdefault("masked", False)
        return shown

    async def _views(self, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        history = await self.book.history([r["id"] for r in rows])
        return [self.view(r, now, history[r["id"]]) for r in rows]

    async def _scoped(self, person: Person, order_id: int) -> dict[str, Any]:
        """The order, if `person` may see it (else refused, audited as api.refused)."""
        order = await self.book.scoped(order_id)
        if not order_scope(person).allows(order):
            await self._audit(person.username, "api.refused", f"work_order:{order_id}",
                              "orders.scope")
            raise StaffNotAllowed(f"{person.username} may not see work order {order_id}: "
                                  "a liaison sees the orders passed on to their department "
                                  "or bureau, a city bureau's people their bureau's")
        return order

    async def listing(self, person: Person, *, status: str | None = None,
                      kind: str | None = None, department: str | None = None,
                      bureau: str | None = None, overdue: bool = False,
                      nearly_due: bool = False, text: str | None = None,
                      mine: bool = False, limit: int = 50, offset: int = 0,
                      ) -> dict[str, Any]:
        """The orders `person` sees, by deadline, one page (audited as orders.list)."""
        now = self.sources.decided()
        due_by = after_working_time(self.sources.calendar(), now, NEARLY_DUE) \
            if nearly_due else None
        own = None
        if mine:
            own = (person.username, "expert" in person.roles)
        # A liaison's own orders are those passed on to them: the scope says so already.
        if mine and is_liaison_only(person):
            own = None
        rows, total = await self.book.search(
            order_scope(person), now=now, status=status, kind=kind, department=department,
            bureau=bureau, overdue=overdue, due_by=due_by, text=text, mine=own,
            limit=limit, offset=offset)
        filters = {k: v for k, v in (("status", status), ("kind", kind),
                                     ("department", department), ("bureau", bureau),
                                     ("overdue", overdue), ("nearly_due", nearly_due),
                                     ("q", text), ("mine", mine)) if v}
        await self._audit_listing(person.username, "orders.list",
                                  " ".join(f"{k}={v}" for k, v in filters.items()) or None)
        return {"orders": await self._views(rows, now), "total": total, "limit": limit,
                "offset": offset, "at": now.astimezone(CHINA).isoformat(timespec="seconds"),
                "labels": {"status": STATUS_LABELS, "kind": KIND_LABELS,
                           "event": EVENT_LABELS}}

    async def one(self, person: Person, order_id: int, *, unmask: bool = False,
                  reason: str | None = None) -> dict[str, Any]:
        """One order, audited as order.view, or order.unmask with the reason (an auditor
        only: anyone else is refused, audited as order.unmask_refused)."""
        target = f"work_order:{order_id}"
        if unmask:
            if not person.may("ledger.unmask"):
                await self._audit(person.username, "order.unmask_refused", target, None)
                raise UnmaskRefused(f"{person.username} may not unmask reporters' numbers "
                                    "(the role auditor may, with a reason)")
            if not reason or not reason.strip():
                raise ApiBadBody("an unmask needs a reason (reason=...)")
        order = await self._scoped(person, order_id)
        await self._audit(person.username, "order.unmask" if unmask else "order.view",
                          target, reason.strip() if unmask and reason else None)
        now = self.sources.decided()
        history = await self.book.history([order_id])
        return self.view(order, now, history[order_id], unmask=unmask)

    # -- changes ---------------------------------------------------------------------------

    async def act(self, person: Person, order_id: int, action: str,
                  data: Mapping[str, Any]) -> dict[str, Any]:
        """A change of one order by `person` (the route checked its permission; here,
        that the order is one they see). `data` is the route's checked body."""
        await self._scoped(person, order_id)
        book, actor, at = self.book, person.username, self.sources.decided()
        if action == "extend":
            await book.extend(order_id, days=data["days"], reason=data.get("reason") or "",
                              caller_told=data.get("caller_told") is True, actor=actor, at=at)
        elif action == "return":
            await book.send_back(order_id, reason=data.get("reason") or "", actor=actor,
                                 at=at)
        elif action == "remind":
            await book.remind(order_id, note=data.get("note"), actor=actor, at=at)
        elif action == "edit":
            await book.edit(order_id, actor=actor, at=at, content=data.get("content"),
                            callback=data.get("callback_number"),
                            department=data.get("department"))
        elif action == "pass_on":
            bureau = data.get("bureau")
            routing = self.sources.routing()
            if bureau is not None and (routing is None or bureau not in routing.groups):
                known = ", ".join(sorted(routing.groups)) if routing else "none"
                raise ApiBadBody(f"bureau {bureau!r} is not a group of routing.yaml "
                                 f"({known})")
            department = (data.get("department") or "").strip() or None
            await book.change(order_id, "pass_on", actor=actor, at=at, text=department,
                              bureau=bureau)
        else:
            text = {"answer": "result", "close": "note", "delay": "note"}.get(action)
            value = data.get(text) if text else None
            await book.change(order_id, action, actor=actor, at=at,
                              text=value.strip() if isinstance(value, str) and value.strip()
                              else None)
        log.info("orders.changed", order=order_id, action=action, actor=actor)
        self.changed()
        return await self.one_quietly(order_id)

    async def one_quietly(self, order_id: int) -> dict[str, Any]:
        """The order after a change (its reporter masked; the change is audited already)."""
        order = await self.book.scoped(order_id)
        history = await self.book.history([order_id])
        return self.view(order, self.sources.decided(), history[order_id])

    async def create(self, person: Person, data: Mapping[str, Any]) -> dict[str, Any]:
        """A seat opens an order for a call (as `hotline orders create`)."""
        order_id = await self.book.create(
            linkedid=data["linkedid"], kind=data["kind"], actor=person.username,
            at=self.sources.decided(), content=data.get("content"),
            callback=data.get("callback_number"), department=data.get("department"),
            difficult=data.get("difficult") is True, force=data.get("force") is True,
            bureau=person.bureau)
        self.changed()
        return await self.one_quietly(order_id)

    async def for_entry(self, linkedid: str, seat_id: str, fields: Mapping[str, Any],
                        actor: str) -> int:
        """The order a saved 台帐 entry asks for (转工单: ordinary or difficult, passed on
        to its department); the seat page's save calls it before the entry is saved."""
        routing = self.sources.routing()
        seat = routing.seats.get(seat_id) if routing is not None else None
        earlier = await self.entries.get(linkedid)
        order_id = await self.book.for_entry(
            linkedid, category=fields.get("category") or "consultation",
            question=fields["question"], difficulty=fields.get("difficulty"),
            department=fields["department"], callback=fields.get("callback_number"),
            order_id=earlier["work_order_id"] if earlier else None, actor=actor,
            at=self.sources.decided(), bureau=seat.group if seat is not None else None)
        log.info("orders.from_entry", linkedid=linkedid, order=order_id, actor=actor)
        self.changed()
        return order_id

    # -- the leader's follow-up ------------------------------------------------------------

    async def followup(self, person: Person) -> dict[str, Any]:
        """Today's abandoned calls (each with its call back order, if opened), and the
        orders overdue and nearly due, with their reminders."""
        now = self.sources.decided()
        today = self.sources.clock().astimezone(CHINA).date()
        start = datetime.combine(today, datetime.min.time(), CHINA)
        calls = await self.book.abandoned(start, start + timedelta(days=1))
        routing = self.sources.routing()
        shown = []
        for call in calls:
            row = mask_row(call)
            queue = call["queue"]
            row["queue_name"] = routing.queues[queue].name if (
                routing is not None and queue in routing.queues) else queue
            row["category_label"] = CATEGORIES.get(call["category"] or "", "未分类")
            row["topic_label"] = TOPICS.get(call["topic"] or "", call["topic"])
            row.setdefault("masked", False)
            shown.append(row)
        scope = order_scope(person)
        overdue, _ = await self.book.search(scope, now=now, overdue=True, limit=200)
        due_by = after_working_time(self.sources.calendar(), now, NEARLY_DUE)
        nearly, _ = await self.book.search(scope, now=now, due_by=due_by, limit=200)
        await self._audit_listing(person.username, "orders.followup", None)
        return {"at": now.astimezone(CHINA).isoformat(timespec="seconds"),
                "day": today.isoformat(), "abandoned": shown,
                "overdue": await self._views(overdue, now),
                "nearly_due": await self._views(nearly, now),
                "nearly_due_hours": NEARLY_DUE.total_seconds() / 3600}

    async def callback(self, person: Person, linkedid: str) -> dict[str, Any]:
        """A call back order (回拨) for an abandoned call, opened by a leader."""
        order_id = await self.book.callback(linkedid, actor=person.username,
                                            at=self.sources.decided())
        log.info("orders.callback", linkedid=linkedid, order=order_id,
                 actor=person.username, due_days=DAYS["ordinary"])
        self.changed()
        return await self.one_quietly(order_id)
