"""A seat's figures of the day (今日统计) for its page, from the ledger: calls answered,
talk time, average handling (talk and after-call work per call), after-call work time,
and its pauses (how many, how long; after-call work not counted among them).

Pure: the ledger's rows in, the figures out (every time is an argument)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

WRAP_UP = "after_call_work"  # routing.yaml's pause reason of after-call work (话后处理)


def _clipped(start: datetime, end: datetime, lo: datetime, hi: datetime) -> float:
    return max(0.0, (min(end, hi) - max(start, lo)).total_seconds())


def seat_day(events: Iterable[Mapping[str, Any]], answered: int, talk_seconds: float,
             day_start: datetime, day_end: datetime, now: datetime) -> dict[str, Any]:
    """The day [day_start, day_end) of a seat, as of `now`: `events` its seat_events
    (oldest first, from before the day so that a pause going on at its start counts from
    the start), `answered` and `talk_seconds` its answered calls of the day."""
    horizon = min(now, day_end)
    paused: str | None = None
    since: datetime | None = None
    wrap_up = pause_time = 0.0
    pauses = 0

    def close(at: datetime) -> None:
        nonlocal wrap_up, pause_time
        if paused is None or since is None:
            return
        spent = _clipped(since, at, day_start, horizon)
        if paused == WRAP_UP:
            wrap_up += spent
        else:
            pause_time += spent

    for event in events:
        at = datetime.fromisoformat(str(event["at"]))
        kind = event["event"]
        if kind not in ("pause", "unpause", "logout"):
            continue
        close(at)
        if kind == "pause":
            paused, since = event["reason"] or "other", at
            if paused != WRAP_UP and day_start <= at < day_end:
                pauses += 1
        else:
            paused, since = None, None
    close(horizon)
    return {
        "answered": answered,
        "talk_seconds": round(talk_seconds),
        "average_handling_seconds": round((talk_seconds + wrap_up) / answered)
        if answered else None,
        "after_call_work_seconds": round(wrap_up),
        "pauses": pauses,
        "pause_seconds": round(pause_time),
    }
