"""The live configuration: one immutable snapshot of what the files say.

A reload builds a whole new Configuration (dialplans, routing, calendar, validated
together) and swaps it in at once; nothing is ever changed in place. Whoever needs the
configuration reads the current snapshot through an accessor (`ConfigAccessor`) when it
needs it, and a piece of work that must stay consistent (a call in the IVR, one round of
the routing loop) takes one snapshot at its start and keeps it to the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

from hotline.core.calendar.schedule import Calendar
from hotline.core.ivr.dialplan import Dialplan
from hotline.core.routing.config import RoutingConfig


@dataclass(frozen=True, eq=False)
class Configuration:
    """Dialplans by name, routing.yaml (None: the service runs without one), the
    calendar, and the generation: 1 for the first load, +1 for each reload swapped in."""

    dialplans: Mapping[str, Dialplan] = field(default_factory=dict)
    routing: RoutingConfig | None = None
    calendar: Calendar = field(default_factory=Calendar)
    generation: int = 0

    def __post_init__(self) -> None:
        # A read-only copy: a snapshot shared by calls must not be changed by one of them.
        object.__setattr__(self, "dialplans", MappingProxyType(dict(self.dialplans)))

    @property
    def versions(self) -> dict[str, str]:
        return {name: plan.version for name, plan in self.dialplans.items()}

    def dialplan_for(self, extension: str | None) -> Dialplan | None:
        """The dialplan named like the dialed number, else the only one, else '12366'."""
        if extension and extension in self.dialplans:
            return self.dialplans[extension]
        if len(self.dialplans) == 1:
            return next(iter(self.dialplans.values()))
        return self.dialplans.get("12366")

    @cached_property
    def seat_groups(self) -> Mapping[str, str]:
        """Seat name (as Asterisk reports it, MemberName) -> group id of routing.yaml."""
        if self.routing is None:
            return {}
        return {seat.name: seat.group for seat in self.routing.seats.values()}

    @property
    def queues(self) -> set[str] | None:
        """The queue names of routing.yaml (None without one)."""
        return set(self.routing.queues) if self.routing is not None else None


# What components hold instead of copies: `live.current` (or a lambda over a fixed
# snapshot in a test).
ConfigAccessor = Callable[[], Configuration]
