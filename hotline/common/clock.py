"""The time zone and the clock, where every part may import them.

The service has one Clock. Unpinned it is the real time. Pinned (settings
`service.calendar_time`, for trying the line after hours and for tests) it answers the
pinned moment to everything that asks the time of day for a decision: the menu's
calendar, work-order deadlines (voicemail, callback orders, tip-off orders), the routing
loop's open/closed, the wallboard's line state and what it counts overdue. What happened
when stays real: call and event times in the ledger are Asterisk's own (or the real time
of their arrival), so the ledger never holds a made-up moment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")

# Anything that tells the time (utc_now, a Clock, a test's fake).
Now = Callable[[], datetime]


def utc_now() -> datetime:
    """The real time now, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """The time decisions are taken at: the real time, or `pinned`."""

    pinned: datetime | None = None

    def __call__(self) -> datetime:
        return self.pinned if self.pinned is not None else utc_now()

    def at(self, real: datetime) -> datetime:
        """When a decision about something that happened at `real` is taken: `real`
        itself, or the pinned moment."""
        return self.pinned if self.pinned is not None else real
