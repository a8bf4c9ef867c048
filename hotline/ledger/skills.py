"""A seat's skills for one day (a team leader's change on top of routing.yaml): a queue
added at a level, or one of routing.yaml's taken away, for the Beijing day it was made
on. The routing loop reads the day's changes every round; the next day routing.yaml
holds again by itself (nothing to undo)."""

from __future__ import annotations

import json
from datetime import date, datetime

from hotline.ledger import audit
from hotline.ledger.store import Ledger, iso

# seat -> queue -> level (1..9), or None: the skill is taken away for the day
DaySkills = dict[str, dict[str, int | None]]


class SkillBook:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def of_day(self, day: date) -> DaySkills:
        async with self.ledger.db.execute(
                "SELECT seat, queue, level FROM seat_skill_days WHERE day = ? "
                "ORDER BY seat, queue", (day.isoformat(),)) as cur:
            rows = await cur.fetchall()
        out: DaySkills = {}
        for seat, queue, level in rows:
            out.setdefault(str(seat), {})[str(queue)] = None if level is None else int(level)
        return out

    async def change(self, seat: str, day: date, queue: str, level: int | None, *,
                     keep: bool, actor: str, at: datetime) -> None:
        """The day's skill of `seat` for `queue`: `level` (None: none that day), or, with
        `keep` false, back to routing.yaml's (the day's change removed). Audited with the
        person's name (seat.skill_add, seat.skill_remove) in the same transaction."""
        async with self.ledger.transaction() as db:
            if keep:
                await db.execute(
                    "INSERT INTO seat_skill_days (seat, day, queue, level, actor, at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day, seat, queue) DO UPDATE "
                    "SET level = excluded.level, actor = excluded.actor, at = excluded.at",
                    (seat, day.isoformat(), queue, level, actor, iso(at)))
            else:
                await db.execute("DELETE FROM seat_skill_days WHERE day = ? AND seat = ? "
                                 "AND queue = ?", (day.isoformat(), seat, queue))
            await audit.record(db, at=at, actor=actor,
                               action="seat.skill_add" if level is not None
                               else "seat.skill_remove", target=f"seat:{seat}",
                               detail=json.dumps({"queue": queue, "level": level,
                                                  "day": day.isoformat()}))
