"""Confidentiality (保密): reporters' and complainants' numbers and names are masked in
every listing, export and report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONFIDENTIAL_CATEGORIES = frozenset({"tip_off", "complaint"})


def mask_number(number: str | None) -> str | None:
    """13955112345 -> 139****2345 (first 3 and last 4 kept); 7 digits or fewer keep only
    the last 2."""
    if not number:
        return number
    if len(number) >= 8:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    return "*" * max(0, len(number) - 2) + number[-2:]


def mask_name(name: str | None) -> str | None:
    """纳税人张三 -> 纳*** (the first character only)."""
    if not name:
        return name
    return name[0] + "*" * min(3, max(1, len(name) - 1))


def is_confidential(category: str | None) -> bool:
    return category in CONFIDENTIAL_CATEGORIES


def is_confidential_row(row: Mapping[str, Any]) -> bool:
    """A call, voicemail or work order of a reporter or complainant (by its category, or a
    work order's kind)."""
    return is_confidential(row.get("category")) or is_confidential(row.get("kind"))


def mask_row(row: Mapping[str, Any], number: str = "caller_number",
             name: str = "caller_name") -> dict[str, Any]:
    """A row as every listing, export and report shows it: a reporter's or complainant's
    number and name masked and `masked` set; any other row unchanged. `number` and `name`
    are the row's keys for them (a work order's number is its `callback_number`)."""
    if not is_confidential_row(row):
        return dict(row)
    return {**row, number: mask_number(row.get(number)), name: mask_name(row.get(name)),
            "masked": True}
