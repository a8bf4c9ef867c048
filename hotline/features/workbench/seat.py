"""The seat's page (座席工作台) behind the API: a seat's state and its actions, the screen
pop of the call ringing or connected there, and the 台帐 entry of its current or last call.

Everything shown comes from the service's own state: the seats as the ledger records
them, the call tracker's live calls (hotline.core.calls.tracking: which seat rings, which
answered), the ledger's rows. A page adds no AMI traffic: actions go through the seats
feature's desk (hotline.features.seats.desk, the same as `hotline seats`), and a change
of a call or a seat wakes the pages' streams (`Changes`). The view of a seat is computed
once per change (`shared_view`), whatever the number of pages open on it, and not at all
while nothing changes: a page counts its clocks (state since, wait) itself.

Confidentiality (保密): the number of a tip-off or a complaint is masked in the pop, and
so is the callback number of its 台帐 entry (a draft sent back with the masked number
keeps the number stored), what the caller typed (a taxpayer ID names the reporter), and
the question and content of a number's earlier tip-offs and complaints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from hotline.common.clock import CHINA
from hotline.common.labels import CATEGORIES, OUTCOMES, TOPICS
from hotline.common.privacy import is_confidential, mask_number
from hotline.core.calls.tracking import Call, CallState
from hotline.core.ivr.dialplan import Dialplan
from hotline.core.routing.config import RoutingConfig, Seat
from hotline.features.accounts.errors import ApiBadBody, ApiNotFound, StaffNotAllowed
from hotline.features.seats.desk import SeatDesk
from hotline.features.seats.errors import SeatUnknown
from hotline.features.seats.routing_loop import RoutingLoop
from hotline.features.workbench.figures import seat_day
from hotline.ledger.audit import record as audit_record
from hotline.ledger.entries import FIELDS, EntryBook
from hotline.ledger.errors import OrderBadCallback
from hotline.ledger.orders import callback_number
from hotline.ledger.region import region_of
from hotline.ledger.seats import SeatBook, SeatRecord
from hotline.ledger.store import Ledger, iso
from hotline.pbx.gateway import AmiGateway

log = structlog.get_logger("hotline.workbench")

ACTIONS = {"login": "login", "logout": "logout", "pause": "pause", "unpause": "unpause"}
WRAP_UP = "after_call_work"  # routing.yaml's pause reason of after-call work (话后处理)
WRAP_UP_ACTOR = "hotline"  # who starts and times out after-call work in seat_events
HISTORY_DAYS = 30
RESOLUTIONS = {"on_the_spot": "当场解答", "work_order": "转工单"}
DIFFICULTIES = {"ordinary": "一般", "difficult": "疑难"}
TEXT_LIMIT = 2000  # a question or an answer
LINE_LIMIT = 200  # every other field: one line
# What staff read for a `collect` variable whose step has no label of its own.
INPUT_LABELS = {"taxpayer_id": "纳税人识别号"}


def topic_label(plan: Dialplan | None, topic: str | None) -> str | None:
    """A topic as staff read it: the label of the dialplan's option that sets it, else
    the shared label, else its code."""
    if topic is None:
        return None
    return (plan.topic_label(topic) if plan is not None else None) or TOPICS.get(topic, topic)


class Changes:
    """Something a page shows changed (a call, a seat): every waiting stream wakes.
    `generation` counts the changes: a view computed at one generation holds until the
    next."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.generation = 0  # changes so far (a view computed at one holds until the next)

    def notify(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float, seen: int | None = None) -> bool:
        """Until the next change, at most `timeout` seconds (True: a change came). Given
        `seen`, a change since that generation returns at once (none is missed while a
        stream was writing)."""
        if seen is not None and seen != self.generation:
            return True
        event = self._event
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True


@dataclass
class SeatSources:
    """What the seat's page reads: the running service's parts."""

    gateway: AmiGateway
    ledger: Ledger
    routing: Callable[[], RoutingConfig | None]
    calls: Callable[[], Mapping[str, Call]]  # the tracker's calls in progress
    loop: Callable[[], RoutingLoop | None] = lambda: None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(CHINA))
    # After-call work's limit in seconds (0: none; web.after_call_work_seconds).
    wrap_up_seconds: float = 0.0
    # The live dialplans by name: the labels of the menus, options and inputs in the pop.
    dialplans: Callable[[], Mapping[str, Dialplan]] = field(default=lambda: {})


# (linkedid, seat id, the entry's fields, actor) -> the work order opened (转工单)
EntryOrder = Callable[[str, str, Mapping[str, Any], str], Awaitable[int]]


class SeatWork:
    def __init__(self, sources: SeatSources) -> None:
        self.sources = sources
        # Opens the work order an entry asks for (the orders feature's, set by the wiring).
        self.entry_order: EntryOrder | None = None
        self.changes = Changes()
        self.entries = EntryBook(sources.ledger)
        self.seats = SeatBook(sources.ledger)
        # seat name (Asterisk's MemberName) -> the last call it answered (this run)
        self.last_call: dict[str, str] = {}
        # linkedid -> the caller's earlier calls and open orders (read once per call)
        self._history: dict[str, dict[str, Any]] = {}
        # seat id -> pages open on it now (their streams): after-call work is for seats
        # that work from the page, not for a seat whose person has no page open
        self.watching: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wrap_up_timers: dict[str, asyncio.TimerHandle] = {}
        # seat id -> (the change generation, its view being computed or computed): every
        # stream of the seat shares it (see shared_view)
        self._views: dict[str, tuple[int, asyncio.Future[dict[str, Any]]]] = {}
        self.computed = 0  # views computed (the streams' cost, counted by a test)
        # While pages are open, one task looks for seat changes made by another process
        # (`hotline seats pause`) every `external_check` seconds: one small read for all
        # pages, and a change wakes them.
        self.external_check = 5.0
        self._watcher: asyncio.Task[None] | None = None

    # -- fed by the call handling ---------------------------------------------------------

    def on_call(self, call: Call) -> None:
        """A call snapshot was recorded (CallHandling.listeners)."""
        if call.seat is not None and call.answered_at is not None:
            self.last_call[call.seat] = call.linkedid
        if call.state == CallState.ENDED:
            self._history.pop(call.linkedid, None)
            if call.answered_at is not None and call.seat is not None:
                self._spawn(self._wrap_up(call.seat, call.linkedid))
        self.changes.notify()

    def watch(self, seat_id: str) -> None:
        """A page's stream on `seat_id` opened (`unwatch` when it closes)."""
        self.watching[seat_id] = self.watching.get(seat_id, 0) + 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch_ledger())

    def unwatch(self, seat_id: str) -> None:
        self.watching[seat_id] -= 1
        if not self.watching[seat_id]:
            del self.watching[seat_id]
        if not self.watching and self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    async def _watch_ledger(self) -> None:
        try:
            last = await self.seats.last_event_id()
            while self.watching:
                await asyncio.sleep(self.external_check)
                newest = await self.seats.last_event_id()
                if newest != last:
                    last = newest
                    self.changes.notify()
        except asyncio.CancelledError:
            raise
        except Exception:  # the pages still show the service's own changes
            log.exception("workbench.watch_failed")

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- after-call work -------------------------------------------------------------------

    async def _wrap_up(self, seat_name: str, linkedid: str) -> None:
        """The seat that answered the call pauses in after-call work (if its page is
        open, it is logged in and not paused, and routing.yaml has the reason), until
        the entry is saved or wrap_up_seconds pass."""
        limit = self.sources.wrap_up_seconds
        routing = self.sources.routing()
        if limit <= 0 or routing is None or WRAP_UP not in routing.pause_reasons:
            return
        seat = next((s for s in routing.seats.values()
                     if seat_name in (s.name, s.device)), None)
        if seat is None or not self.watching.get(seat.id):
            return
        try:
            state = await self.seats.state(seat.id)
            if not state.logged_in or state.paused:
                return
            saved = await self.entries.get(linkedid)
            if saved is not None and saved["saved_at"]:
                return  # written during the call: nothing left to do after it
            await self.act(seat.id, "pause", WRAP_UP, actor=WRAP_UP_ACTOR)
            log.info("workbench.wrap_up_started", seat=seat.id, linkedid=linkedid,
                     limit=limit)
        except Exception:  # the call is over and recorded; the seat just is not paused
            log.exception("workbench.wrap_up_failed", seat=seat.id)
            return
        old = self._wrap_up_timers.pop(seat.id, None)
        if old is not None:
            old.cancel()
        self._wrap_up_timers[seat.id] = asyncio.get_running_loop().call_later(
            limit, lambda: self._spawn(self._end_wrap_up(seat.id, WRAP_UP_ACTOR,
                                                         timed_out=True)))

    async def _end_wrap_up(self, seat_id: str, actor: str, *, timed_out: bool) -> None:
        """Unpause a seat still in after-call work (another pause stays as it is)."""
        timer = self._wrap_up_timers.pop(seat_id, None)
        if timer is not None:
            timer.cancel()
        try:
            if (await self.seats.state(seat_id)).paused == WRAP_UP:
                await self.act(seat_id, "unpause", None, actor=actor)
                log.info("workbench.wrap_up_ended", seat=seat_id, timed_out=timed_out)
        except Exception:
            log.exception("workbench.wrap_up_failed", seat=seat_id)

    # -- which seat -----------------------------------------------------------------------

    def routing(self) -> RoutingConfig:
        routing = self.sources.routing()
        if routing is None:
            raise ApiNotFound("there are no seats: config/routing.yaml is missing")
        return routing

    def seat(self, seat_id: str) -> Seat:
        routing = self.routing()
        found = routing.seats.get(seat_id)
        if found is None:
            raise SeatUnknown(f"unknown seat {seat_id!r} (config/routing.yaml has: "
                              f"{', '.join(sorted(routing.seats)) or 'none'})")
        return found

    @staticmethod
    def may_act(username: str, own_seat: str | None, any_seat: bool, seat_id: str) -> None:
        """A seat acts on its own seat only; a leader (seats.any) on any."""
        if not any_seat and own_seat != seat_id:
            raise StaffNotAllowed(f"{username} may act only on their own seat "
                                  f"({own_seat or 'none'}), not {seat_id}: a leader acts "
                                  "on other seats")

    # -- the view -------------------------------------------------------------------------

    async def shared_view(self, seat_id: str) -> tuple[int, dict[str, Any]]:
        """The seat's view as of the latest change, and that change's generation: computed
        once per change per seat, however many streams ask (those asking while it is
        being computed wait for the same computation)."""
        generation = self.changes.generation
        cached = self._views.get(seat_id)
        if cached is None or cached[0] != generation:
            future = asyncio.ensure_future(self.view(seat_id))
            self._views[seat_id] = cached = (generation, future)
        return cached[0], await asyncio.shield(cached[1])

    async def view(self, seat_id: str) -> dict[str, Any]:
        """The seat's state and since when, its pause reasons, the screen pop of its call
        (ringing or connected; None: no call), and its current or last call's id."""
        self.computed += 1
        routing = self.routing()
        seat = self.seat(seat_id)
        state = await self.seats.state(seat_id)
        now = self.sources.clock()
        pop = self._pop(seat, now)
        current = pop["linkedid"] if pop is not None else None
        if pop is not None and pop["linkedid"] not in self._history:
            self._history[pop["linkedid"]] = await self._earlier(pop["_number"],
                                                                 pop["linkedid"], now)
        if pop is not None:
            pop.update(self._history.get(pop["linkedid"], {}))
            pop.pop("_number")
        last = current if pop is not None and pop["state"] == "connected" else None
        if last is None:
            last = self.last_call.get(seat.name) or await self._last_answered(seat.name)
        return {
            "seat": seat.id, "name": seat.name, "group": seat.group,
            "group_name": routing.groups[seat.group].name,
            **self._state(routing, state),
            "pause_reasons": [{"code": c, "label": label}
                              for c, label in routing.pause_reasons.items()],
            "call": pop,
            "entry_call": last,
            "today": await self.today(seat, now),
            "at": now.astimezone(CHINA).isoformat(timespec="seconds"),
        }

    async def today(self, seat: Seat, now: datetime) -> dict[str, Any]:
        """The seat's figures of the (Beijing) day so far, from the ledger."""
        start = datetime.combine(now.astimezone(CHINA).date(), datetime.min.time(), CHINA)
        end = start + timedelta(days=1)
        answered, talk = await self.seats.answered_between(seat.name, start, end)
        events = await self.seats.events(seat.id, ("login", "logout", "pause", "unpause"),
                                         since=iso(start - timedelta(days=1)))
        return {"date": start.date().isoformat(),
                **seat_day(events, answered, talk, start, end, now)}

    @staticmethod
    def _state(routing: RoutingConfig, state: SeatRecord) -> dict[str, Any]:
        if not state.logged_in:
            label = "未登录"
        elif state.paused:
            label = f"暂停（{routing.pause_reasons.get(state.paused, state.paused)}）"
        else:
            label = "已登录"
        return {"logged_in": state.logged_in, "paused": state.paused,
                "paused_label": routing.pause_reasons.get(state.paused, state.paused)
                if state.paused else None,
                "state_label": label, "since": state.updated_at}

    def _pop(self, seat: Seat, now: datetime) -> dict[str, Any] | None:
        """The call ringing this seat, or connected to it, as the seat may see it."""
        names = {seat.name, seat.device}
        found: tuple[str, Call] | None = None
        for call in self.sources.calls().values():
            if call.state == CallState.CONNECTED and call.seat in names:
                found = ("connected", call)
                break
            if (call.state in (CallState.RINGING, CallState.QUEUED)
                    and names.intersection(call.ringing)):
                found = ("ringing", call)
        if found is None:
            return None
        kind, call = found
        number = call.caller_number
        confidential = is_confidential(call.category)
        plan = self.sources.dialplans().get(call.dialplan or "")
        if call.wait_seconds is not None and kind == "connected":
            wait: float | None = call.wait_seconds
        elif call.queued_at is not None:
            wait = max(0.0, (now - call.queued_at).total_seconds())
        else:
            wait = None
        return {
            "linkedid": call.linkedid, "state": kind,
            "state_label": "振铃" if kind == "ringing" else "通话中",
            "caller_number": mask_number(number) if confidential else number,
            "masked": confidential,
            "region": call.region or region_of(number),
            "ivr_path": list(call.ivr_path),
            "ivr_path_labels": [plan.menu_label(m) if plan is not None else m
                                for m in call.ivr_path],
            "category": call.category,
            "category_label": CATEGORIES.get(call.category or "", "未分类"),
            "topic": call.topic, "topic_label": topic_label(plan, call.topic),
            # A reporter's keys and typed digits (a taxpayer ID) would name them.
            "digits": mask_number(call.digits) if confidential and call.inputs
            else call.digits,
            "inputs": [{"name": name, "value": mask_number(value) if confidential
                        else value,
                        "label": (plan.input_label(name) if plan is not None else None)
                        or INPUT_LABELS.get(name, name)} for name, value in call.inputs],
            "queue": call.queue,
            "wait_seconds": round(wait, 1) if wait is not None else None,
            # While it waits the page counts on from here (no recomputation per second).
            "queued_at": call.queued_at.astimezone(CHINA).isoformat(timespec="seconds")
            if call.queued_at is not None and kind == "ringing" else None,
            "answered_at": call.answered_at.astimezone(CHINA).isoformat(timespec="seconds")
            if call.answered_at else None,
            "_number": number,
        }

    async def _earlier(self, number: str | None, linkedid: str, now: datetime,
                       ) -> dict[str, Any]:
        if not number:
            return {"earlier_calls": [], "open_orders": []}
        calls = await self.entries.earlier(number, now - timedelta(days=HISTORY_DAYS),
                                           linkedid)
        for c in calls:
            c["category_label"] = CATEGORIES.get(c["category"] or "", "未分类")
            c["topic_label"] = TOPICS.get(c["topic"] or "", c["topic"])
            c["outcome_label"] = OUTCOMES.get(c["outcome"] or "", "进行中")
            if is_confidential(c["category"]):
                c["question"] = None  # a report's content stays with those handling it
        orders = await self.entries.open_orders(number)
        for o in orders:
            if is_confidential(o["kind"]):
                o["content"] = "（保密）"
        return {"earlier_calls": calls, "open_orders": orders}

    async def _last_answered(self, seat_name: str) -> str | None:
        async with self.sources.ledger.db.execute(
                "SELECT linkedid FROM calls WHERE seat = ? AND answered_at IS NOT NULL "
                "ORDER BY answered_at DESC LIMIT 1", (seat_name,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row is not None else None

    # -- actions --------------------------------------------------------------------------

    async def act(self, seat_id: str, action: str, reason: str | None, *,
                  actor: str) -> dict[str, Any]:
        """Log in, pause (with a reason of routing.yaml: code or label), unpause, log
        out: recorded and applied by the seats feature's desk, as `hotline seats` does,
        and audited with the person's name."""
        event = ACTIONS.get(action)
        if event is None:
            raise ApiBadBody(f"action {action!r} is not one of {', '.join(ACTIONS)}")
        if event != "pause" and reason is not None:
            raise ApiBadBody("a reason goes with pause only")
        routing = self.routing()
        desk = SeatDesk(self.sources.gateway, self.sources.ledger, routing,
                        self.sources.clock)
        change = await desk.command(seat_id, event, actor=actor, reason=reason)
        if change.changed:
            async with self.sources.ledger.transaction() as db:
                await audit_record(db, at=self.sources.clock(), actor=actor,
                                   action=f"seat.{event}", target=f"seat:{seat_id}",
                                   detail=change.record.paused if event == "pause" else None)
            loop = self.sources.loop()
            if loop is not None:
                loop.poke()  # the wallboard's view of the seat, soon
        self.changes.notify()
        return {"changed": change.changed, **self._state(routing, change.record)}

    # -- the 台帐 entry -------------------------------------------------------------------

    async def _call_of_seat(self, linkedid: str, seat_id: str, any_seat: bool) -> str:
        """The seat whose call this is (the seat that answered it, or rings now)."""
        seat = self.seat(seat_id) if seat_id else None
        call = self.sources.calls().get(linkedid)
        if call is not None:
            owner = call.seat or (call.ringing[0] if call.ringing else None)
        else:
            row = await self.sources.ledger.get(linkedid)
            if row is None:
                raise ApiNotFound(f"no call {linkedid[:40]!r} in the ledger")
            owner = row.seat
        by_name = {s.name: s.id for s in self.routing().seats.values()}
        by_name.update({s.device: s.id for s in self.routing().seats.values()})
        owner_id = by_name.get(owner or "")
        if owner_id is None and not any_seat:
            raise StaffNotAllowed(f"call {linkedid} was not taken by a seat")
        if seat is not None and owner_id != seat.id and not any_seat:
            raise StaffNotAllowed(f"call {linkedid} was taken by seat {owner_id}, not "
                                  f"{seat.id}: a seat writes the entries of its own calls")
        return owner_id or (seat.id if seat else "")

    async def _confidential(self, linkedid: str, found: Mapping[str, Any] | None,
                            category: str | None = None) -> bool:
        """A reporter's call: by the live call's or the ledger's category, or the entry's
        (a seat may correct a consultation to a tip-off), or `category` being typed."""
        call = self.sources.calls().get(linkedid)
        row = await self.sources.ledger.get(linkedid) if call is None else None
        typed = [category, call.category if call else None, row.category if row else None]
        for part in ("saved", "draft"):
            if found is not None and found[part]:
                typed.append(found[part].get("category"))
        return any(is_confidential(c) for c in typed)

    async def entry(self, linkedid: str, seat_id: str, any_seat: bool) -> dict[str, Any]:
        await self._call_of_seat(linkedid, seat_id, any_seat)
        found = await self.entries.get(linkedid)
        row = await self.sources.ledger.get(linkedid)
        masked = await self._confidential(linkedid, found)
        if found is not None and masked:
            found = {**found, **{part: {**found[part], "callback_number": mask_number(
                found[part].get("callback_number"))} for part in ("saved", "draft")
                if found[part]}}
        return {"linkedid": linkedid, "entry": found, "callback_masked": masked,
                "call": {"category": row.category, "topic": row.topic} if row else None,
                "categories": CATEGORIES, "topics": TOPICS, "resolutions": RESOLUTIONS,
                "difficulties": DIFFICULTIES}

    async def _unmasked(self, linkedid: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """A form sent back with the masked callback number it was shown: the number
        stored stays (the page never had it)."""
        given = data.get("callback_number")
        if not isinstance(given, str) or "*" not in given:
            return dict(data)
        found = await self.entries.get(linkedid)
        for part in ("draft", "saved"):
            stored = (found or {}).get(part) or {}
            number = stored.get("callback_number")
            if number and mask_number(number) == given:
                return {**data, "callback_number": number}
        return dict(data)

    def _shown(self, fields: Mapping[str, Any], masked: bool) -> dict[str, Any]:
        if not masked:
            return dict(fields)
        return {**fields, "callback_number": mask_number(fields.get("callback_number"))}

    async def save_draft(self, linkedid: str, seat_id: str, any_seat: bool,
                         data: Mapping[str, Any]) -> dict[str, Any]:
        owner = await self._call_of_seat(linkedid, seat_id, any_seat)
        draft = entry_fields(await self._unmasked(linkedid, data), final=False)
        await self.entries.save_draft(linkedid, owner, draft, self.sources.clock())
        masked = await self._confidential(linkedid, None, draft.get("category"))
        return {"linkedid": linkedid, "draft": self._shown(draft, masked)}

    async def save(self, linkedid: str, seat_id: str, any_seat: bool,
                   data: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
        owner = await self._call_of_seat(linkedid, seat_id, any_seat)
        fields = entry_fields(await self._unmasked(linkedid, data), final=True)
        order = None  # 转工单: the order first (a second save finds it again)
        if fields["resolution"] == "work_order" and self.entry_order is not None:
            order = await self.entry_order(linkedid, owner, fields, actor)
        await self.entries.save(linkedid, owner, fields, actor=actor,
                                at=self.sources.clock(), work_order_id=order)
        log.info("workbench.entry_saved", linkedid=linkedid, seat=owner, actor=actor)
        await self._end_wrap_up(owner, actor, timed_out=False)
        self.changes.notify()
        masked = await self._confidential(linkedid, None, fields.get("category"))
        return {"linkedid": linkedid, "saved": self._shown(fields, masked), "work_order": order}


def entry_fields(data: Mapping[str, Any], *, final: bool) -> dict[str, Any]:
    """A 台帐 entry's fields from a request, each checked (a draft may be incomplete; a
    saved entry has a category, a question, a resolution and, for a work order, its
    difficulty and department). Every problem is named."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ApiBadBody(f"unknown field(s) {', '.join(unknown)} (fields: "
                         f"{', '.join(FIELDS)})")
    out: dict[str, Any] = {}
    for key in FIELDS:
        value = data.get(key)
        if value is None or value == "":
            out[key] = None if key not in ("question", "answer") else ""
            continue
        if not isinstance(value, str):
            raise ApiBadBody(f"{key} must be a string")
        limit = TEXT_LIMIT if key in ("question", "answer") else LINE_LIMIT
        if len(value) > limit:
            raise ApiBadBody(f"{key}: at most {limit} characters")
        if key not in ("question", "answer") and any(ord(c) < 32 for c in value):
            raise ApiBadBody(f"{key}: one line, no control characters")
        if key in ("question", "answer") and any(ord(c) < 32 and c not in "\n\t"
                                                 for c in value):
            raise ApiBadBody(f"{key}: no control characters")
        out[key] = value.strip() if key not in ("question", "answer") else value
    if not final:
        return out
    problems = []
    if out["category"] not in CATEGORIES:
        problems.append(f"category must be one of {', '.join(CATEGORIES)}")
    if not out["question"].strip():
        problems.append("question: say what the caller asked")
    if out["resolution"] not in RESOLUTIONS:
        problems.append(f"resolution must be one of {', '.join(RESOLUTIONS)}")
    if out["resolution"] == "work_order":
        if out["difficulty"] not in DIFFICULTIES:
            problems.append(f"difficulty must be one of {', '.join(DIFFICULTIES)} for a "
                            "work order")
        if not out["department"]:
            problems.append("department: the department the work order goes to")
    elif out["resolution"] == "on_the_spot":
        if not out["answer"].strip():
            problems.append("answer: what was answered on the spot")
        out["difficulty"] = out["department"] = None
    if out["callback_number"]:
        try:
            out["callback_number"] = callback_number(out["callback_number"])
        except OrderBadCallback as exc:
            problems.append(exc.message)
    if problems:
        raise ApiBadBody("; ".join(problems))
    return out
