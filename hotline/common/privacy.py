"""Confidentiality (保密): reporters' and complainants' numbers and names are masked in
every listing, export and report."""

from __future__ import annotations

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
