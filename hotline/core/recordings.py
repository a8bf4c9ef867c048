"""Seat conversation recordings as rules: how long each call category's recordings are
kept, when one is due for purge, the file name hotline gives a recording, and who may
play which recording.

Pure: no I/O, no clock (every time is an argument). The ledger stores the recordings'
rows (hotline.ledger.recordings); the recordings feature deletes the files these rules
say are due and checks every play with `may_play`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from hotline.common.privacy import is_confidential
from hotline.core.accounts import Person

STATUSES: Final = ("recording", "saved", "failed", "purged")
DEFAULT_DAYS: Final = 180  # an ordinary call's recording
CONFIDENTIAL_DAYS: Final = 730  # a tip-off's or a complaint's (保密: kept longer)
MAX_DAYS: Final = 3650
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MIN_REASON = 2


class RecordingRuleError(ValueError):
    """A retention period, a reason or a play that breaks the rules (the message says
    which)."""


@dataclass(frozen=True)
class Retention:
    """Days a recording is kept, by its call's category at the time of the call; a
    category not in `days` (or none) keeps `default` days, a confidential one
    (tip_off, complaint) `confidential` days unless `days` names it."""

    default: int = DEFAULT_DAYS
    confidential: int = CONFIDENTIAL_DAYS
    days: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in [("default", self.default), ("confidential", self.confidential),
                            *sorted(self.days.items())]:
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not 1 <= value <= MAX_DAYS:
                raise RecordingRuleError(
                    f"recordings retention {name}: {value!r} is not a number of days "
                    f"from 1 to {MAX_DAYS} (保留天数应为 1 至 {MAX_DAYS} 的整数)")

    def days_for(self, category: str | None) -> int:
        if category is not None and category in self.days:
            return self.days[category]
        return self.confidential if is_confidential(category) else self.default

    def purge_after(self, category: str | None, ended_at: datetime) -> datetime:
        """When a recording of a call of `category` that ended at `ended_at` is due."""
        return ended_at + timedelta(days=self.days_for(category))

    def due(self, category: str | None, ended_at: datetime, now: datetime) -> bool:
        """Is the recording due for purge at `now` (its whole retention period past)?"""
        return now >= self.purge_after(category, ended_at)


def safe_part(text: str) -> str:
    """`text` as one safe path component: anything but letters, digits, '.', '_' and '-'
    becomes '_', and a leading '.' too (no '..', no hidden files); empty becomes '_'."""
    part = _UNSAFE.sub("_", text)
    if part.startswith("."):
        part = "_" + part[1:]
    return part or "_"


def file_name(linkedid: str, row_id: int, started_at: datetime) -> str:
    """<yyyy>/<mm>/<dd>/<linkedid>-<row id>.wav (relative to the recordings folder): the
    ledger row's id makes it unique and never reused, even for the same call twice."""
    if row_id < 1:
        raise RecordingRuleError(f"recording row id {row_id} is not a ledger row id")
    return f"{started_at:%Y/%m/%d}/{safe_part(linkedid)}-{row_id}.wav"


def reason_text(reason: str | None) -> str:
    """A play's reason, stripped; a missing or too short one is refused."""
    text = (reason or "").strip()
    if len(text) < MIN_REASON:
        raise RecordingRuleError(
            "playing a recording needs a reason (--reason) of at least "
            f"{MIN_REASON} characters (播放录音须注明理由)")
    return text


def may_play(person: Person, *, category: str | None, seat: str | None) -> bool:
    """Who may play a recording:

    - a confidential one (tip_off, complaint): leaders and auditors only, always with a
      reason (see `reason_text`), always audited;
    - an ordinary one: leaders and auditors; experts (they take the difficult calls
      passed on to them and review answers); a seat only the calls their own seat
      answered (`seat` is the recording's call's seat).
    Admins and liaisons play none."""
    roles = person.roles
    if roles & {"leader", "auditor"}:
        return True
    if is_confidential(category):
        return False
    if "expert" in roles:
        return True
    return "seat" in roles and person.seat is not None and person.seat == seat
