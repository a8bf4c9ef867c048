"""What staff read for the ledger's codes (Simplified Chinese), in one place for every
listing, export and report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

OUTCOMES = {
    "answered": "已接通",
    "abandoned": "排队放弃",
    "unanswered": "无人接听",
    "voicemail": "留言",
    "self_service": "自助服务",
    "after_hours": "非工作时间",
    "referred": "转接外地",
    "ended_in_ivr": "语音结束",
    "interrupted": "中断",
}
IN_PROGRESS = "进行中"
CATEGORIES = {"consultation": "税务咨询", "tip_off": "涉税举报", "complaint": "涉税投诉",
              "suggestion": "意见和建议", "other": "其他"}
UNCATEGORISED = "未分类"
# The topics the 12366 menus set (dialplans/12366.yaml); a topic not listed reads as its code.
TOPICS = {"individual_income_tax": "个人所得税", "social_insurance": "社保费",
          "invoice": "发票", "property_and_land": "财产和行为税", "other": "其他"}
# A work order's kind: a voicemail, a call back (回拨) of an abandoned call, or the
# category of the call it came from.
ORDER_KINDS = {"voicemail": "留言", "callback": "回拨", **CATEGORIES}


@dataclass(frozen=True)
class Names:
    """The Chinese names staff read for what the ledger keeps as codes: the fixed ones
    above (category, topic, outcome) and routing.yaml's (queues, seat groups, seats), so
    that no export, report or page shows an internal code. A code nobody names reads as
    itself; a missing value as an empty string (None: a call without a category reads
    未分类, one without an outcome 进行中)."""

    queues: Mapping[str, str] = field(default_factory=dict)  # queue id -> name
    groups: Mapping[str, str] = field(default_factory=dict)  # group id -> name
    # what the ledger keeps for a seat (its name, its device or its id) -> (id, name)
    seats: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def category(self, code: str | None) -> str:
        if not code or code == "-":
            return UNCATEGORISED
        return CATEGORIES.get(code, code)

    def topic(self, code: str | None) -> str:
        return "" if not code or code == "-" else TOPICS.get(code, code)

    def outcome(self, code: str | None) -> str:
        if not code or code == "-":
            return IN_PROGRESS
        return OUTCOMES.get(code, code)

    def queue(self, code: str | None) -> str:
        if not code or code == "-":
            return ""
        base = code.split("-", 1)[0]  # a region queue (property-hefei) is its queue's
        return self.queues.get(code) or self.queues.get(base, code)

    def group(self, code: str | None) -> str:
        return "" if not code or code == "-" else self.groups.get(code, code)

    def seat_id(self, stored: str | None) -> str:
        if not stored:
            return ""
        found = self.seats.get(stored)
        return found[0] if found is not None else stored

    def seat(self, stored: str | None) -> str:
        """The seat's name (a seat routing.yaml no longer lists: as the ledger has it)."""
        if not stored:
            return ""
        found = self.seats.get(stored)
        return found[1] if found is not None else stored

    def stored_seats(self, seat_id: str) -> set[str]:
        """Every value the ledger may keep for the seat `seat_id` (for a search)."""
        return {seat_id} | {k for k, (sid, _) in self.seats.items() if sid == seat_id}
