"""The queues as centre staff watch them: for each queue its waiting callers, its seats
and today's figures, from Asterisk's QueueStatus and the ledger. One function serves
`hotline queues` and the service's wallboard (which adds overflow and coverage alerts,
known only to the running service). Pure: everything comes in as arguments.

No caller's number or name appears: waiting callers are a position and a wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hotline.core.calls.live import QueueStatus
from hotline.core.routing.config import RoutingConfig
from hotline.core.routing.policy import (
    IDLE_DEVICE,
    Alert,
    OverflowState,
    is_free,
    phone_reachable,
    wrapping_up,
    wrapup_of,
)
from hotline.ledger.report import DayFigures
from hotline.ledger.seats import SeatRecord


def board(routing: RoutingConfig, live: Mapping[str, QueueStatus], figures: DayFigures,
          overflow: Mapping[str, OverflowState] | None = None,
          alerts: Mapping[str, Alert] | None = None,
          at: datetime | None = None) -> list[dict[str, Any]]:
    """One entry per queue of routing.yaml that Asterisk has, its region queues (a city
    bureau's seats first) counted with it; the queue's seats are its members, `free` as
    the routing policy says (policy.is_free; in wrap-up as of `at`, when `live` was
    read). `remote_helping`: a remote seat is a member of the queue itself (overflow
    pulled it in), as Asterisk has it."""
    seat_of_device = {seat.device: seat for seat in routing.seats.values()}
    epoch = at.timestamp() if at is not None else 0.0
    regions: dict[str, list[str]] = {}
    for name, (queue_id, _) in routing.region_queues().items():
        regions.setdefault(queue_id, []).append(name)
    out = []
    for queue in routing.queues.values():
        parts = [live[q] for q in (queue.id, *regions.get(queue.id, ())) if q in live]
        if not parts:
            continue
        callers = sorted((c for part in parts for c in part.callers), key=lambda c: -c.wait)
        day = figures.queues.get(queue.id, {})
        offered = day.get("offered", 0)
        seats = []
        wrapup = wrapup_of(routing, queue.id)
        helping = False
        for member in parts[0].members:
            seat = seat_of_device.get(member.interface)
            done = figures.seats.get(seat.name if seat else member.name, {})
            in_wrapup = wrapping_up(member.last_call, wrapup, epoch)
            helping |= seat is not None and routing.groups[seat.group].remote
            seats.append({"seat": seat.id if seat else None, "name": member.name,
                          "group": seat.group if seat else None,
                          "interface": member.interface, "penalty": member.penalty,
                          "paused": member.paused, "paused_reason": member.paused_reason,
                          "status": member.status, "in_call": member.in_call,
                          "wrapping_up": in_wrapup,
                          "free": is_free(member.paused, member.status, member.in_call,
                                          in_wrapup),
                          "answered_today": done.get("answered", 0),
                          "avg_talk_today": done.get("avg_talk")})
        entry: dict[str, Any] = {
            "queue": queue.id, "name": queue.name,
            "waiting": sum(max(part.waiting, len(part.callers)) for part in parts),
            "longest_wait": callers[0].wait if callers else 0,
            "callers": [{"queue": c.queue, "position": c.position, "wait": c.wait}
                        for c in callers],
            "seats": seats,
            "remote_helping": helping,
            "today": {"date": figures.day, "offered": offered,
                      "answered": day.get("answered", 0),
                      "abandoned": day.get("abandoned", 0),
                      "service_level": (day.get("within", 0) / offered) if offered else None},
        }
        if overflow is not None:
            entry["overflow"] = overflow.get(queue.id, OverflowState()).active
        if alerts is not None:
            alert = alerts.get(queue.id)
            entry["alert"] = alert.message if alert is not None else None
        out.append(entry)
    return out


# Asterisk's device state of a member, as staff say it.
MEMBER_STATE = {"not_in_use": "空闲", "in_use": "通话中", "busy": "忙", "ringing": "振铃",
                "ringinuse": "振铃", "unavailable": "不可用", "invalid": "无效",
                "unknown": "未知", "onhold": "保持"}


# A seat's own SIP phone (PJSIP/<name>, hotline.pbx.pjsip_conf) whose device Asterisk
# reports unavailable has no registered contact, or stopped answering Asterisk's qualify
# pings: the seat is logged in but its phone is offline, and Asterisk offers it no call.
PHONE_OFFLINE = "话机不在线"


def phone_offline(device: str, state: str | None) -> bool:
    """A seat's SIP phone that is unregistered or unreachable, from the device state its
    queue memberships report (None: in no queue, so not known)."""
    return device.startswith("PJSIP/") and state is not None and not phone_reachable(state)


def member_label(device: str, state: str | None) -> str:
    """A member's device state as staff say it; a seat's SIP phone that is offline as
    such (not just 不可用)."""
    if phone_offline(device, state):
        return PHONE_OFFLINE
    return MEMBER_STATE.get(str(state), str(state))


def queue_label(routing: RoutingConfig, name: str) -> str:
    """A queue as staff read it: its name; a region queue's with its city bureau's
    (综合咨询（合肥市税务局）); a queue routing.yaml does not know, its id."""
    regions = routing.region_queues()
    if name in regions:
        queue, group = regions[name]
        return f"{routing.queues[queue].name}（{routing.groups[group].name}）"
    found = routing.queues.get(name)
    return found.name if found is not None else name


def seat_rows(routing: RoutingConfig, states: Mapping[str, SeatRecord],
              live: Mapping[str, QueueStatus],
              at: datetime | None = None) -> list[dict[str, Any]]:
    """Every seat of routing.yaml: its group, its state as recorded (logged in, paused
    and why, moved in) and in Asterisk (its queues by id and as staff read them, its
    device; in wrap-up as of `at`; `phone_offline`: its SIP phone is unregistered or
    unreachable), and `status` and `moved` as staff read them."""
    epoch = at.timestamp() if at is not None else 0.0
    rows = []
    for seat in sorted(routing.seats.values(), key=lambda s: s.id):
        state = states.get(seat.id)
        group = routing.groups[seat.group]
        memberships = [m for q in live.values() for m in q.members
                       if m.interface == seat.device]
        logged_in = bool(state and state.logged_in)
        paused = state.paused if state else None
        device = memberships[0].status if memberships else None
        if not logged_in:
            status = "未登录"
        elif paused:
            status = f"暂停（{routing.pause_reasons.get(paused, paused)}）"
        elif phone_offline(seat.device, device):
            status = PHONE_OFFLINE
        elif device == IDLE_DEVICE and any(
                wrapping_up(m.last_call, wrapup_of(routing, m.queue), epoch)
                for m in memberships):
            status = "话后整理"
        else:
            status = MEMBER_STATE.get(str(device), "已登录")
        moved_in = bool(state and state.moved_in)
        queues = sorted(m.queue for m in memberships)
        rows.append({
            "seat": seat.id, "name": seat.name, "group": seat.group,
            "group_name": group.name, "remote": group.remote,
            "logged_in": logged_in, "paused": paused, "moved_in": moved_in,
            "queues": queues,
            "queue_names": [queue_label(routing, q) for q in queues],
            "device_state": device, "status": status,
            "phone_offline": phone_offline(seat.device, device),
            "moved": ("已迁入" if moved_in else "未迁入") if group.remote else "-",
        })
    return rows

